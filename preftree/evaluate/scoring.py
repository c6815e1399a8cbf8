"""Score a model's response to an :class:`Item`: ``score(item, response, mode)`` / ``score_many(...)``.

* **code** items: the program is read as the benchmark's registry entry says (``extraction``): the
  paper's code benchmarks take the *first* python (or bare) fence, cut at the next ``` as the official
  code cuts (:func:`first_fence_program`); others the last fence (:func:`extract_program`); the whole
  text when there is no fence (an unclosed fence runs to the end). ``harness="mbpp"`` runs it as the
  official MBPP harness does (:func:`mbpp_program`): every unindented line that does not start with
  ``def`` is dropped and the harness's own module namespace stands in for the dropped imports; the
  dataset's ``test_imports`` run before the asserts (:func:`harness_tests`). HumanEval-style items accept
  a completion that restates the entry-point function (the stub, with the prompt's imports and helpers,
  runs first and the restatement replaces it) or gives only the body (re-indented and appended to the
  stub). Other items run their ``meta["preamble"]`` (LeetCode's import prelude) first. The program and
  the item's tests run through ``preftree.sandbox.run_tests`` with the benchmark's timeout.
* **math** items in ``mode="cot"``: the answer stated in the text (``preftree.answers.bench``).
  ``mode="pot"``: the response's python code (all fences, ``preftree.env.build_program``: notebook
  display of a trailing expression) runs in the sandbox (5 s); the answer is the last non-empty stdout
  line, or, if it printed nothing or has no code, the answer stated in the text. ``mode="auto"``: pot when
  the response has code, else cot. Eurus evaluates math with *both* prompt styles (CoT and PoT) and
  reports the better; ``preftree.evaluate.runner.evaluate(mode="both")`` does the same.
* **tiny** items: ``preftree.env.evaluate_actions`` on the record, i.e. exactly the tiny world's own
  verdict (its task decides execution; ``mode`` is ignored).

Every sandbox run happens in a thread pool of ``workers``; answer comparison (math-verify uses
``signal.alarm``) stays in the calling thread.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal

from preftree import env, sandbox
from preftree.answers import bench
from preftree.answers.check import rule_for, same_answer
from preftree.answers.extract import (
    CODE_LANGS,
    extract_code,
    fenced_blocks,
    final_answer,
    first_fenced_code,
    last_line,
    numeric_answer,
    text_after_last_fence,
    text_answer,
)
from preftree.config.sandbox import SandboxParams
from preftree.evaluate import ifeval
from preftree.evaluate.bbh import bbh_match
from preftree.evaluate.items import Item
from preftree.observation import Observation, compile_error, out_text, syntax_ok, tests_outcome, verdict_text
from preftree.sandbox_exec import ExecResult

Mode = Literal["cot", "pot", "auto"]
DEFAULT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Verdict:
    correct: bool
    mode: str  # cot | pot | code | tiny (the mode actually used)
    answer: str | None  # the extracted answer (None for code / when none was found)
    status: str  # sandbox status, or not_run | no_code | failed | syntax_error
    feedback: str  # the environment's observation (preftree.env format), for multi-turn evaluation
    code: str = ""  # the program that ran (code / pot)


# ----------------------------------------------------------------------------- program extraction


def extract_program(response: str) -> str:
    """The last python (or bare) fenced block; the whole response when it has none."""
    blocks = [body for lang, body in fenced_blocks(response) if lang in CODE_LANGS and body.strip()]
    if blocks:
        return blocks[-1].rstrip() + "\n"
    return response.strip("\n") + "\n"


def first_fence_program(response: str) -> str:
    """The first python (or bare) fenced block up to the next ``` (the official code's cut); the whole
    response when it has no fence. A prefilled response starts with its fence, so this is the prefilled
    block."""
    code = first_fenced_code(response)
    if code is None:
        code = response.split("```")[0]
    return code.strip("\n") + "\n" if code.strip() else ""


# The module-level names the official MBPP harness (eval/Coding/mbpp/evaluate_mbpp.py) runs the program
# in (``exec(..., globals())``): its standard-library imports. The generated program's own top-level
# imports are stripped, so only these are bound (pandas, torch and vllm, also there, are not installed
# in the sandbox).
MBPP_HARNESS_NAMESPACE = "import argparse, contextlib, json, os, re, signal, sys, time\n"


def mbpp_strip(code: str) -> str:
    """The official MBPP post-processing: keep the indented lines and those starting with ``def`` (blank
    lines, imports, decorators, classes and top-level statements go)."""
    kept = [line for line in code.split("\n") if line != line.lstrip() or line.startswith("def")]
    return "\n".join(kept)


def mbpp_program(code: str) -> str:
    """What the official MBPP harness runs before the asserts: its namespace, then the stripped code."""
    return MBPP_HARNESS_NAMESPACE + mbpp_strip(code) + "\n"


def harness_tests(item: Item) -> tuple[str, ...]:
    """The statements run after the program: the item's tests; under the ``mbpp`` harness the dataset's
    test imports (``meta["preamble"]``, e.g. ``import math`` for ``math.isclose`` asserts) come first.
    The official harness does not run them, so its asserts that need them fail whatever the answer (a
    defect: the correct behaviour is kept, and the registry says so)."""
    preamble = str(item.meta.get("preamble") or "")
    if _harness(item) == "mbpp" and preamble.strip():
        return (preamble, *item.tests)
    return item.tests


def program_for(item: Item, response: str) -> str:
    """The program read from a code response, as the item's benchmark reads it ("" = no code)."""
    from preftree.evaluate.registry import BENCHMARKS

    spec = BENCHMARKS.get(item.benchmark)
    if spec is not None and spec.extraction == "first_fence":
        return first_fence_program(response)
    return extract_program(response)


def _harness(item: Item) -> str:
    from preftree.evaluate.registry import BENCHMARKS

    spec = BENCHMARKS.get(item.benchmark)
    return spec.harness if spec is not None else "plain"


def _defines_top_level(code: str, name: str) -> bool:
    return re.search(rf"^(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None


def build_code_program(item: Item, code: str) -> str:
    """The program to run before the item's tests (see the module docstring)."""
    style = item.meta.get("style")
    if style == "humaneval" and item.entry_point:
        stub = str(item.meta.get("code_prompt", ""))
        stub = stub if not stub or stub.endswith("\n") else stub + "\n"  # MINT's stubs end at the docstring
        if _defines_top_level(code, item.entry_point):
            return stub.rstrip("\n") + "\n    pass\n\n\n" + code if stub else code
        body = textwrap.indent(textwrap.dedent(code.strip("\n")), "    ")
        return stub + body + "\n"
    if _harness(item) == "mbpp":
        return mbpp_program(code)
    preamble = str(item.meta.get("preamble") or "")
    return f"{preamble}\n{code}" if preamble.strip() else code


# ----------------------------------------------------------------------------- limits


def limits_for(item: Item, limits: SandboxParams) -> SandboxParams:
    """``limits`` with the item's benchmark timeout (and a matching CPU limit);
    ``item.meta["timeout_s"]``, when set, overrides the benchmark's."""
    from preftree.evaluate.registry import BENCHMARKS

    base = limits
    spec = BENCHMARKS.get(item.benchmark)
    timeout = float(item.meta.get("timeout_s") or (spec.timeout_s if spec else base.timeout_s))
    return replace(base, timeout_s=timeout, cpu_s=max(1, math.ceil(timeout)))


# ----------------------------------------------------------------------------- judging


def _judge_text(item: Item, text: str) -> tuple[bool, str | None]:
    """(correct, extracted answer) for an answer stated in ``text``; math answers are judged by the one
    answer checker under the item's rule (``preftree.answers.check``)."""
    kind = item.kind
    if kind in ("numeric", "math", "theoremqa"):
        if kind == "numeric":  # GSM-Plus "None" items: the stated answer, else the last line
            pred = numeric_answer(text) if item.answer is not None else text_answer(text)
        else:
            pred = final_answer(text) if kind == "math" else text_answer(text)
        rule = rule_for(kind, item.benchmark)
        rel_tol = item.meta.get("rel_tol")
        answer_type = item.meta.get("answer_type")
        correct = same_answer(pred, item.answer, rule=rule, rel_tol=None if rel_tol is None else float(rel_tol),
                              answer_type=None if answer_type is None else str(answer_type))  # fmt: skip
        return correct, pred
    if kind == "multiple-choice":
        pred = bench.choice_answer(text, item.meta.get("options", {}))
        return pred is not None and pred == item.answer, pred
    if kind == "text":
        pred = text_answer(text)
        return pred is not None and str(item.answer).lower() in pred.lower(), pred
    if kind == "bbh":
        return bbh_match(text, str(item.answer), str(item.meta.get("rule", "exact")))
    if kind == "ifeval":
        v = ifeval.judge(text, item.meta["instruction_ids"], item.meta["kwargs"])
        return v.prompt_loose, f"loose {sum(v.loose)}/{len(v.loose)}, strict {sum(v.strict)}/{len(v.strict)}"
    raise ValueError(f"{item.benchmark}/{item.id}: kind {kind!r} has no text scorer")


@dataclass
class _Pending:
    index: int
    item: Item
    response: str
    mode: str
    code: str = ""
    program: str = ""
    limits: SandboxParams | None = None
    prior: tuple[str, ...] = ()


def _plan(item: Item, response: str, mode: str) -> str:
    """The mode actually used: code / tiny / cot / pot."""
    if item.kind == "code":
        return "code"
    if item.kind == "tiny":
        return "tiny"
    if mode == "auto":
        return "pot" if extract_code(response).strip() else "cot"
    if mode not in ("cot", "pot"):
        raise ValueError(f"mode must be 'cot', 'pot' or 'auto', got {mode!r}")
    return mode


def _run_code(p: _Pending) -> tuple[bool, ExecResult]:
    return sandbox.run_tests(p.program, list(harness_tests(p.item)), limits=p.limits)


def _run_pot(p: _Pending) -> ExecResult:
    assert p.limits is not None
    return sandbox.run(p.program, limits=p.limits)


def _run_tiny(p: _Pending) -> Observation:
    record = p.item.meta["record"]
    assert p.limits is not None
    return env.evaluate_actions(record, [p.response], prior_code=p.prior, limits=p.limits)[0]


def _code_verdict(p: _Pending, passed: bool, result: ExecResult) -> Verdict:
    assert p.limits is not None
    correct, status, text = tests_outcome(passed, bool(p.item.tests), result, p.limits)
    return Verdict(correct, "code", None, status, text, p.program)


def _pot_verdict(p: _Pending, result: ExecResult) -> Verdict:
    answer = last_line(result.stdout) if result.status == "ok" else None
    if answer is not None:
        correct, _ = _judge_text(p.item, f"The answer is {answer}")
    else:
        correct, answer = (
            _judge_text(p.item, text_after_last_fence(p.response)) if result.status == "ok" else (False, None)
        )
    assert p.limits is not None
    return Verdict(correct, "pot", answer, result.status, verdict_text(out_text(result, p.limits), correct), p.code)


def score_many(
    items: Sequence[Item],
    responses: Sequence[str],
    mode: Mode | Sequence[Mode] = "cot",
    *,
    workers: int = 1,
    limits: SandboxParams,
    prior_code: Sequence[Sequence[str]] | None = None,
) -> list[Verdict]:
    """One :class:`Verdict` per (item, response), in order. ``mode`` is one mode or one per item.
    ``prior_code`` (tiny Math_PoT items, multi-turn): each trajectory's earlier successful code."""
    if len(items) != len(responses):
        raise ValueError(f"{len(items)} items but {len(responses)} responses")
    modes = [mode] * len(items) if isinstance(mode, str) else list(mode)
    results: list[Verdict | None] = [None] * len(items)
    code_jobs: list[_Pending] = []
    pot_jobs: list[_Pending] = []
    tiny_jobs: list[_Pending] = []
    for i, (item, response) in enumerate(zip(items, responses, strict=True)):
        used = _plan(item, response, modes[i])
        p = _Pending(i, item, response, used, limits=limits_for(item, limits))
        if used == "tiny":
            p.prior = tuple(prior_code[i]) if prior_code is not None else ()
            tiny_jobs.append(p)
        elif used == "code":
            p.code = program_for(item, response)
            if not p.code.strip():
                results[i] = Verdict(False, "code", None, "no_code", verdict_text(None, False))
                continue
            p.program = build_code_program(item, p.code)
            code_jobs.append(p)
        elif used == "pot":
            p.code = extract_code(response)
            if not p.code.strip():  # no code: judged like cot
                correct, answer = _judge_text(item, response)
                results[i] = Verdict(correct, "pot", answer, "not_run", verdict_text(None, correct))
            elif not syntax_ok(p.code):
                message = compile_error(p.code) or "SyntaxError"
                results[i] = Verdict(False, "pot", None, "syntax_error", verdict_text(message, False), p.code)
            else:
                p.program = env.build_program(p.code)
                pot_jobs.append(p)
        else:
            correct, answer = _judge_text(item, response)
            results[i] = Verdict(correct, "cot", answer, "not_run", verdict_text(None, correct))

    jobs: list[tuple[str, _Pending]] = [("code", p) for p in code_jobs] + [("pot", p) for p in pot_jobs]
    jobs += [("tiny", p) for p in tiny_jobs]

    def run_one(job: tuple[str, _Pending]) -> object:
        kind, p = job
        return _run_code(p) if kind == "code" else _run_pot(p) if kind == "pot" else _run_tiny(p)

    if jobs:
        if workers <= 1 or len(jobs) == 1:
            outcomes = [run_one(j) for j in jobs]
        else:
            with (
                sandbox.pooled(sandbox.pool_depth(workers)),  # sandboxes started ahead (preftree.sandbox_pool)
                ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix="evaluate") as pool,
            ):
                outcomes = list(pool.map(run_one, jobs))
        for (kind, p), outcome in zip(jobs, outcomes, strict=True):
            if kind == "code":
                passed, result = outcome  # type: ignore[misc]
                results[p.index] = _code_verdict(p, passed, result)
            elif kind == "pot":
                results[p.index] = _pot_verdict(p, outcome)  # type: ignore[arg-type]
            else:
                obs: Observation = outcome  # type: ignore[assignment]
                results[p.index] = Verdict(obs.correct, obs.mode, obs.answer, obs.status, obs.text, obs.code)
    return [r for r in results if r is not None]


def score(item: Item, response: str, mode: Mode = "cot", *, limits: SandboxParams) -> Verdict:
    """Score one response (see the module docstring); ``mode`` matters for math items only."""
    return score_many([item], [response], mode, limits=limits)[0]
