"""MINT's tasks (Wang et al. 2023, github.com/xingyaoww/mint-bench ``mint/tasks/``): the task prompt each
task class builds and the check each one applies to a proposed ``<solution>``.

A :class:`MintTask` is made from an :class:`~preftree.evaluate.items.Item` of a ``mint_*`` benchmark
(``preftree.evaluate.loaders_mint`` keeps the file's raw row in ``item.meta["mint"]``). The checks
reproduce MINT's behaviour, quirks included, because the paper's MINT columns were scored by them:

* ``reasoning`` (gsm8k, math, hotpotqa; MINT ``ReasoningTask``): reference and answer lower-cased; when
  both parse as floats, correct within 5 % of the reference; otherwise correct when the reference is a
  substring of the answer.
* ``multiple_choice`` (mmlu; ``MultipleChoiceTask``): the answer is the letter ``a`` when it contains
  ``a)`` / ``a )``, else the whole lower-cased answer (MINT's loop returns on its first letter); correct
  when the reference letter is a substring of that, else judged by the options' texts: wrong when any
  other option's text occurs in it, correct when the right option's text does. (MINT drops options whose
  text is contained in the right one while iterating over the same list, so some are skipped: kept.)
* ``theoremqa`` (``TheoremqaTask``): TheoremQA's answer normalisation (``=``/``≈`` tails, units,
  ``approximately``, option letters, booleans), then the text is evaluated as a Python literal with
  arithmetic; floats within 4 %, integers ``round(p) == gt``, lists sorted element-wise, bool / option
  exact. One departure: MINT ``eval``s the text with its module's globals, so an answer written as a
  call (``np.sqrt(2)``, ``Rational(1, 3)``) counts there; here only literals and arithmetic are
  evaluated (no model text is ``eval``-ed in this process) and anything else reads as no answer.
* ``code`` (humaneval, mbpp; ``HumanEvalTask`` / ``MBPPTask``): the solution, then the task's reference
  test code, run in the project's sandbox (``preftree.sandbox.run_tests``) with the benchmark's timeout
  (10 s in the registry, as MINT's ``check_correctness``).
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from preftree.evaluate.items import Item

# The prompt prefixes MINT's task classes add (protocol text: the model sees exactly these).
THEOREMQA_PREFIX = "Answer the following question with a number, a list of numbers or True or False. "
HUMANEVAL_PREFIX = "Complete the following code:\n\n"

CHECKS = ("reasoning", "multiple_choice", "theoremqa", "code")
_CHECK_OF = {
    "mint_gsm8k": "reasoning",
    "mint_math": "reasoning",
    "mint_hotpotqa": "reasoning",
    "mint_mmlu": "multiple_choice",
    "mint_theoremqa": "theoremqa",
    "mint_humaneval": "code",
    "mint_mbpp": "code",
}
_EXAMPLE_OF = {"mint_humaneval": "humaneval", "mint_mbpp": "mbpp"}  # the others: "reasoning"


@dataclass(frozen=True)
class MintTask:
    id: str
    benchmark: str  # mint_<task>
    family: str
    check: str  # one of CHECKS
    prompt: str  # the task prompt as MINT's task class builds it (the text after "Task:\n")
    reference: Any  # the file's reference, as MINT holds it
    example: str  # which in-context example: reasoning | humaneval | mbpp
    answer_type: str | None = None  # theoremqa
    options: tuple[tuple[str, str], ...] = ()  # multiple choice: (letter, text) as MINT parses them
    item: Item | None = None  # the item it was made from (code checks take their limits from it)


def task_prompt(benchmark: str, raw_prompt: str) -> str:
    """The prompt MINT's task class shows for ``raw_prompt`` (the file's ``prompt`` field)."""
    if benchmark == "mint_humaneval":
        return HUMANEVAL_PREFIX + raw_prompt
    if benchmark == "mint_mbpp":
        return raw_prompt.replace('"""', "").strip()
    if benchmark == "mint_theoremqa":
        return THEOREMQA_PREFIX + raw_prompt.strip()
    if benchmark == "mint_mmlu":
        return raw_prompt
    return raw_prompt.strip()


def mint_options(prompt: str) -> tuple[tuple[str, str], ...]:
    """The options as MINT's ``MultipleChoiceTask`` reads them: the text after the last ``"Options: "``,
    split at ``" , "``; each part's letter before its first ``)``, its text between the first and second
    ``)`` (lower-cased, dots and the "Which ... correct?" tails removed)."""
    out: list[tuple[str, str]] = []
    for part in prompt.split("Options: ")[-1].split(" , "):
        pieces = part.strip("[]' ").split(")")
        if len(pieces) < 2:
            raise ValueError(f"option {part!r} has no ')' (MINT's option format is 'A ) text')")
        text = pieces[1].lower().strip(".")
        text = text.replace(". Which option is correct?", "").replace(". Which one is correct?", "").strip()
        out.append((pieces[0].lower().strip(), text))
    return tuple(out)


def mint_task(item: Item) -> MintTask:
    """The MINT task of a ``mint_*`` item (ValueError for any other item)."""
    raw = item.meta.get("mint")
    if item.benchmark not in _CHECK_OF or not isinstance(raw, dict):
        raise ValueError(
            f"{item.benchmark}/{item.id}: eval.multiturn.protocol=mint runs MINT's own files only "
            f"(benchmarks {', '.join(sorted(_CHECK_OF))})"
        )
    check = _CHECK_OF[item.benchmark]
    prompt = str(raw["prompt"])
    reference: Any = raw["reference"]
    if check in ("reasoning", "multiple_choice"):
        reference = str(reference).strip().lower()
    options = mint_options(prompt) if check == "multiple_choice" else ()
    return MintTask(
        id=item.id,
        benchmark=item.benchmark,
        family=item.family,
        check=check,
        prompt=task_prompt(item.benchmark, prompt),
        reference=reference,
        example=_EXAMPLE_OF.get(item.benchmark, "reasoning"),
        answer_type=raw.get("answer_type"),
        options=options,
        item=item,
    )


# ----------------------------------------------------------------------------- reasoning


def _floats(a: str, b: str) -> tuple[float, float] | None:
    try:
        return float(a), float(b)
    except ValueError:
        return None


def reasoning_success(reference: str, solution: str) -> bool:
    """MINT ``ReasoningTask.success``: within 5 % when both are numbers, else reference in answer."""
    answer = solution.lower().strip()
    pair = _floats(reference, answer)
    if pair is None:
        return reference in answer
    return abs(pair[0] - pair[1]) <= 0.05 * abs(pair[0])


# ----------------------------------------------------------------------------- multiple choice


def _choice_digits(reference: str, answer: str) -> bool:
    if reference.isdigit() and answer.isdigit():
        return abs(float(reference) - float(answer)) <= 0.05 * float(reference)
    return reference in answer


def multiple_choice_success(reference: str, options: tuple[tuple[str, str], ...], solution: str) -> bool:
    """MINT ``MultipleChoiceTask.success`` (see the module docstring for its quirks)."""
    answer = solution.lower().strip()
    if "a)" in answer or "a )" in answer:
        answer = "a"
    if _choice_digits(reference, answer):
        return True
    texts = dict(options)
    if reference not in texts:
        raise KeyError(f"reference {reference!r} is not one of the options {sorted(texts)}")
    correct = texts[reference]
    wrong = [text for _, text in options]
    index = 0  # MINT removes from the list it iterates over: the element after each removal is skipped
    while index < len(wrong):
        if wrong[index] in correct:
            wrong.remove(wrong[index])
        index += 1
    if any(_choice_digits(text, answer) or text in answer for text in wrong):
        return False
    return _choice_digits(correct, answer) or correct in answer


# ----------------------------------------------------------------------------- TheoremQA

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


class _NotLiteral(ValueError):
    pass


def _value(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | complex | str | bool):
        return node.value
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        items = [_value(e) for e in node.elts]
        return items if isinstance(node, ast.List) else (tuple(items) if isinstance(node, ast.Tuple) else set(items))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_value(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and isinstance(right, int | float) and abs(right) > 10_000:
            raise _NotLiteral("exponent too large")
        return _BINOPS[type(node.op)](left, right)
    raise _NotLiteral(type(node).__name__)


def literal_eval_arith(text: str) -> Any:
    """``text`` as a Python literal with + - * / // % ** (None when it is anything else or fails)."""
    try:
        return _value(ast.parse(text.strip(), mode="eval").body)
    except (SyntaxError, ValueError, TypeError, ArithmeticError, RecursionError, MemoryError):
        return None


_NUM = r"[-+]?(?:[\d,]*\.*\d+)"


def _is_number(text: str) -> bool:
    return re.match(r"^[-+]?(\d{1,3}(,\d{3})*|(\d+))(\.\d+)?$", text) is not None


def theoremqa_normalise(prediction: str) -> str:
    """TheoremQA's answer preprocessing as MINT's ``TheoremqaTask.extract_answer`` applies it."""
    p = prediction
    for mark in ("=", "≈"):
        if mark in p:
            p = p.split(mark)[-1].strip()
    for junk in ("`", "$", "°"):
        p = p.replace(junk, "")
    if p in ("true", "yes", "false", "no"):
        p = "True" if p in ("true", "yes") else "False"
    if "True" in p or "False" in p:
        p = "True" if "True" in p else "False"
    if "approximately" in p:
        p = p.replace("approximately", "").strip()
    if " or " in p:
        p = p.split(" or ")[0]
    for pattern in (rf"({_NUM}) [^0-9 ]+$", rf"[^0-9 ]+ ({_NUM})$", rf"({_NUM})[^\d]{{1,2}}$"):
        m = re.match(pattern, p)
        if m:
            p = m.group(1)
    m = re.match(r"[^-+\d]{1,2}((?:[\d,]*\.*\d+))$", p)
    if m:
        p = m.group(1)
    if "10^" in p:
        p = re.sub(r"10\^(-?\d+)", r"math.pow(10, \1)", p)  # a call: MINT's eval then fails (no `math` there)
    p = p.replace(" x ", "*").replace(" × ", "*")
    if _is_number(p):
        p = p.replace(",", "")
    for letter in "abcd":
        if f"{letter})" in p or f"{letter} )" in p or p.lower().strip() == letter:
            p = f"({letter})"
    m = re.search(r"\([a-d]\)", p)
    if m:
        p = '"' + m.group(0) + '"'
    return p or "0"


def theoremqa_answer(solution: str) -> Any:
    """The normalised, evaluated answer (a number, list, bool or option string; None when none)."""
    value = literal_eval_arith(theoremqa_normalise(solution))
    if isinstance(value, set | tuple):
        value = list(value)
        if value and isinstance(value[0], complex):
            value = [v.real for v in value]
    elif isinstance(value, complex):
        value = value.real
    return value


def _within_eps(pred: float, gt: float) -> bool:
    eps = abs(gt) * 0.04
    return gt - eps <= pred <= gt + eps


def _numbers_match(pred: Any, gt: Any) -> bool:
    if not isinstance(pred, int | float):
        return False
    if isinstance(gt, float):
        return _within_eps(pred, gt)
    return bool(round(pred) == gt)


def _lists_match(pred: Any, gt: Any) -> bool:
    if not isinstance(pred, list) or len(pred) != len(gt):
        return False
    if any(not isinstance(x, int | float) for x in pred):
        return False
    return all(_numbers_match(p, g) for p, g in zip(sorted(pred), sorted(gt), strict=True))


def theoremqa_success(reference: Any, answer_type: str | None, solution: str) -> bool:
    """MINT ``TheoremqaTask.success``."""
    pred = theoremqa_answer(solution)
    if not isinstance(pred, str | int | float | list):
        return False
    try:
        if answer_type in ("bool", "option", "Option"):
            return pred == f"({reference})" or pred == reference
        if answer_type in ("integer", "float"):
            return _numbers_match(pred, reference)
        if answer_type in ("list of integer", "list of float"):
            return _lists_match(pred, reference)
    except (ValueError, OverflowError, TypeError):  # round(nan), round(inf), unorderable lists
        return False
    return False


def text_success(task: MintTask, solution: str) -> bool:
    """The check of a non-code task on a proposed solution (code tasks run in the sandbox)."""
    if task.check == "reasoning":
        return reasoning_success(str(task.reference), solution)
    if task.check == "multiple_choice":
        return multiple_choice_success(str(task.reference), task.options, solution)
    if task.check == "theoremqa":
        return theoremqa_success(task.reference, task.answer_type, solution)
    raise ValueError(f"{task.benchmark}/{task.id}: check {task.check!r} is not a text check")


__all__ = [
    "CHECKS",
    "HUMANEVAL_PREFIX",
    "THEOREMQA_PREFIX",
    "MintTask",
    "literal_eval_arith",
    "mint_options",
    "mint_task",
    "multiple_choice_success",
    "reasoning_success",
    "task_prompt",
    "text_success",
    "theoremqa_answer",
    "theoremqa_normalise",
    "theoremqa_success",
]
