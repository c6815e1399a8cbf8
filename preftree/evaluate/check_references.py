"""Score every item's own reference, written the way a model would write it, through the real scorer.

    python -m preftree.evaluate.check_references BENCH --path FILE [--limit N] [--shuffle] [--workers N]

The reference response (:func:`reference_response`): code in a ```python fence (HumanEval: the
canonical *body* only, so the body-completion path is exercised; ``--humaneval-style restated`` puts
the whole function there instead; under the official MBPP harness, which keeps only indented and ``def``
lines, a reference's top-level imports, assignments and classes are moved into its functions' bodies
first, as a model prefilled with ``def`` writes them: :func:`module_level_into_functions`); math answers
alternately as ``\\boxed{X}`` and "The answer is X."
(``--style boxed|answer-is|solution``; ``solution`` uses the item's worked solution when it has one);
gsm8k the full rationale with its ``#### n`` line. ``--shuffle`` pairs every item with another item's
reference (a seeded derangement): the accepted share should then be near 0. ``--mode pot`` writes math
answers as a fenced program that prints them, run in the sandbox (the PoT path); ``--mode pot-sympy``
builds each answer with sympy inside the sandbox and prints sympy's own form (``3*sqrt(13)``). Prints
``accepted/total`` and up to ``--show`` failing ids. Items without a reference are counted and skipped.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from preftree.config.sandbox import SandboxParams
from preftree.evaluate.items import Item
from preftree.evaluate.registry import BENCHMARKS, load_benchmark
from preftree.evaluate.scoring import score_many

# GSM-Plus critical thinking: Eurus's grader accepts exactly the stated answer "None"
NO_INFO = "The question does not give enough information to determine the answer.\nThe answer is None."


def _math_text(answer: str, style: str, index: int) -> str:
    if style == "boxed" or (style == "alternate" and index % 2 == 0):
        return f"Working through the problem step by step gives the result.\n\nAnswer:\n\\boxed{{{answer}}}"
    return f"Working through the problem step by step gives the result.\nThe answer is {answer}."


def reference_response(
    item: Item, *, style: str = "alternate", index: int = 0, humaneval: str = "body", mode: str = "cot"
) -> str | None:
    """A response that states ``item``'s reference the way a model would (None: the item has none).
    ``mode="pot"``: math answers as a fenced program that prints the reference answer; ``"pot-sympy"``:
    a program that builds it with sympy in the sandbox and prints sympy's form (:func:`sympy_program`)."""
    if mode == "pot-sympy" and item.kind in ("math", "numeric", "theoremqa"):
        value = NO_INFO if item.answer is None else item.answer
        return f"Let me compute it with sympy.\n```python\n{sympy_program(value)}```\n"
    if mode == "pot" and item.kind in ("math", "numeric", "theoremqa"):
        value = NO_INFO if item.answer is None else item.answer
        return f"Let me compute it.\n```python\nanswer = {value!r}\nprint(answer)\n```\n"
    if item.kind == "code":
        if not item.reference:
            return None
        code = item.reference
        if humaneval == "restated" and item.meta.get("style") == "humaneval":
            code = str(item.meta.get("code_prompt", "")) + code
        spec = BENCHMARKS.get(item.benchmark)
        if spec is not None and spec.harness == "mbpp":
            code = module_level_into_functions(code)
        return f"Here is the solution.\n```python\n{code.rstrip()}\n```\n"
    if item.kind == "tiny":
        task = item.family
        if task == "Coding":
            return None if not item.reference else f"```python\n{item.reference.rstrip()}\n```"
        if task == "Logic":
            return f"Step 1: check each option.\nAnswer: {item.answer}"
        if task == "Math_PoT":
            return f"```python\nprint({json.dumps(item.answer)})\n```"
        return _math_text(str(item.answer), style, index)
    if item.kind == "bbh":  # BBH's CoT form, the answer last
        return f"Reading the question step by step settles it. So the answer is {item.answer}."
    if item.kind == "ifeval":  # no reference response: instructions, not answers
        return None
    if item.kind == "numeric" and item.answer is None:
        return NO_INFO
    if style == "solution" and item.reference:
        return item.reference
    if item.kind == "numeric" and item.benchmark == "gsm8k" and item.reference and style != "boxed":
        return item.reference  # the full rationale, "#### n" last
    if item.kind == "multiple-choice":
        return f"The answer is ({item.answer})."
    if item.answer is None:
        return None
    return _math_text(item.answer, style, index)


# top-level statements a function can carry in its own body: what the official MBPP harness drops
_MOVABLE = (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.ClassDef)


def module_level_into_functions(code: str) -> str:
    """``code`` with its top-level imports, assignments and classes moved, in order, to the top of every
    top-level function's body: the way a program must be written to survive the official MBPP harness,
    which runs only the indented lines and the ``def`` lines of a response (``scoring.mbpp_strip``), and the
    way a model prefilled with ``def`` writes it. Other top-level statements stay (and are dropped by the
    harness); a reference whose tests need a module-level name (a class the test setup builds) still fails.
    Unparsable code, and code with a function whose body shares its ``def`` line, is returned as is."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    moved = [n for n in tree.body if isinstance(n, _MOVABLE)]
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if not moved or not functions or any(f.body[0].lineno == f.lineno for f in functions):
        return code
    lines = code.split("\n")
    first = {n: (n.decorator_list[0].lineno if isinstance(n, ast.ClassDef) and n.decorator_list else n.lineno)
             for n in moved}  # fmt: skip
    blocks = [lines[first[n] - 1 : n.end_lineno or n.lineno] for n in moved]
    dropped = {i for n in moved for i in range(first[n] - 1, n.end_lineno or n.lineno)}
    inserts = {}
    for f in functions:
        body = f.body[0]
        start = body.lineno - 1 if not isinstance(body, ast.ClassDef | ast.FunctionDef) or not body.decorator_list \
            else body.decorator_list[0].lineno - 1  # fmt: skip
        inserts[start] = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    out: list[str] = []
    for i, line in enumerate(lines):
        if i in inserts:
            out.extend(inserts[i] + text for block in blocks for text in block)
        if i not in dropped:
            out.append(line)
    return "\n".join(out)


def sympy_form(answer: str) -> str | None:
    """`answer` (LaTeX) as a sympy expression string that sympy parses back to the same object (``3*sqrt(13)``
    for ``3\\sqrt{13}``), via math-verify's LaTeX parser; None when it has none (text, a lone symbol) or
    sympy reads it back as something else."""
    import sympy
    from math_verify import parse

    for parsed in parse(f"${answer}$"):
        if isinstance(parsed, sympy.Basic) and not isinstance(parsed, sympy.Symbol):
            text = str(parsed)
            try:
                if sympy.sympify(text) == parsed:
                    return text
            except (sympy.SympifyError, TypeError, SyntaxError, ValueError):
                return None
    return None


def sympy_program(answer: str) -> str:
    """A program-of-thought that imports sympy in the sandbox, builds `answer` there and prints it as sympy
    prints it (``sympy.sympify("3*sqrt(13)")`` prints ``3*sqrt(13)``); answers without a sympy form
    (:func:`sympy_form`) are printed as given, after the same import."""
    form = sympy_form(answer)
    if form is None:
        return f"import sympy\nanswer = {answer!r}\nprint(answer)\n"
    return f"import sympy\nanswer = sympy.sympify({form!r})\nprint(answer)\n"


def derangement(n: int, seed: int) -> list[int]:
    """A permutation of range(n) with no fixed point (identity for n < 2), seeded."""
    if n < 2:
        return list(range(n))
    rng = random.Random(seed)
    while True:
        perm = list(range(n))
        rng.shuffle(perm)
        if all(i != p for i, p in enumerate(perm)):
            return perm


@dataclass(frozen=True)
class CheckResult:
    accepted: int
    total: int
    skipped: int
    failures: list[str]
    seconds: float

    @property
    def rate(self) -> float:
        return self.accepted / self.total if self.total else 0.0


def check(
    items: Sequence[Item],
    *,
    shuffle: bool = False,
    seed: int = 0,
    workers: int = 1,
    style: str = "alternate",
    humaneval: str = "body",
    mode: str = "cot",
    limits: SandboxParams,
) -> CheckResult:
    """Score each item's own reference (or, with ``shuffle``, another item's) and count the accepted."""
    t0 = time.monotonic()
    responses = [
        reference_response(it, style=style, index=i, humaneval=humaneval, mode=mode) for i, it in enumerate(items)
    ]
    kept = [i for i, r in enumerate(responses) if r is not None]
    chosen = [items[i] for i in kept]
    texts = [responses[i] for i in kept]
    if shuffle:
        perm = derangement(len(texts), seed)
        texts = [texts[p] for p in perm]
    modes = ["pot" if mode == "pot-sympy" else mode] * len(chosen)
    verdicts = score_many(chosen, [t or "" for t in texts], modes, workers=workers, limits=limits)
    failures = [it.id for it, v in zip(chosen, verdicts, strict=True) if not v.correct]
    accepted = sum(v.correct for v in verdicts)
    if shuffle:  # for shuffled runs the interesting ids are the (wrongly) accepted ones
        failures = [it.id for it, v in zip(chosen, verdicts, strict=True) if v.correct]
    return CheckResult(accepted, len(chosen), len(items) - len(chosen), failures, time.monotonic() - t0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m preftree.evaluate.check_references", description=__doc__)
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS))
    parser.add_argument("--path", required=True, help="local benchmark file (or a Hugging Face dataset id)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--shuffle", action="store_true", help="pair each item with another item's reference")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--style", choices=("alternate", "boxed", "answer-is", "solution"), default="alternate")
    parser.add_argument(
        "--mode",
        choices=("cot", "pot", "pot-sympy"),
        default="cot",
        help="pot: math answers printed by code; pot-sympy: built and printed by sympy in the sandbox",
    )
    parser.add_argument("--humaneval-style", choices=("body", "restated"), default="body")
    parser.add_argument("--isolation", choices=("bwrap", "process"), default="bwrap")
    parser.add_argument("--show", type=int, default=20, help="list at most this many ids")
    args = parser.parse_args(argv)
    from preftree.compose import from_conf  # conf/'s sandbox limits (a dev tool: no params.yaml needed)

    items = load_benchmark(args.benchmark, args.path, args.limit)
    res = check(
        items,
        shuffle=args.shuffle,
        seed=args.seed,
        workers=args.workers,
        style=args.style,
        humaneval=args.humaneval_style,
        mode=args.mode,
        limits=from_conf(SandboxParams, "sandbox", isolation=args.isolation),
    )
    label = "shuffled " if args.shuffle else ""
    print(
        f"{args.benchmark}: {label}accepted {res.accepted}/{res.total} ({100 * res.rate:.1f}%) in {res.seconds:.1f} s"
    )
    if res.skipped:
        print(f"skipped {res.skipped} item(s) without a reference")
    if res.failures:
        what = "accepted" if args.shuffle else "rejected"
        shown = ", ".join(res.failures[: args.show])
        more = f" (+{len(res.failures) - args.show} more)" if len(res.failures) > args.show else ""
        print(f"{what}: {shown}{more}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
