"""The benchmark answer primitives under the one checker (``preftree.answers.check.same_answer``):
LaTeX normalisation and math-verify, Eurus's leniencies, TheoremQA, MINT's numbers, multiple choice,
GSM-Plus's "None".

* ``math_match`` (MATH-style): equal after whitespace / ``\\left`` / ``\\right`` / ``\\dfrac``
  normalisation, else math-verify (``preftree.answers.mathverify.latex_equal``). What math-verify 0.9.0
  decides, as checked in ``tests/test_evaluate_answers.py`` (``MATH_VERIFY_CASES``):

  - accepts: ``\\frac{1}{2}`` = ``0.5`` = ``1/2``; ``\\dfrac{3}{4}`` = ``\\frac34``; ``-\\frac{1}{2}`` = ``-0.5``;
    ``1\\frac{1}{2}`` = ``\\frac{3}{2}``; ``12`` = ``12.0``; ``10^{3}`` = ``1000``; ``1{,}000`` = ``1,000`` = ``1000``;
    intervals written with different spacing ``(1,3]``; unions of intervals; sets in any order
    ``\\{1,2,3\\}`` = ``\\{3,2,1\\}`` (a bare ``1,2,3`` is read as a set too, so ``3,2,1`` matches);
    ``\\pm 2`` = ``2, -2``; tuples / points ``\\left( 3, \\frac{\\pi}{2} \\right)`` = ``(3, \\pi/2)``;
    symbolic equality ``\\sqrt{12}`` = ``2\\sqrt{3}``, ``(x+1)^2`` = ``x^2+2x+1``, ``\\frac{\\sqrt2}{2}`` =
    ``\\sqrt{2}/2``; complex numbers in any order ``3+2i`` = ``2i+3``; matrices ``pmatrix`` up to spacing;
    units and text stripped ``5\\text{ cm}`` = ``5``, ``5 \\mbox{ inches}`` = ``5``, ``90^\\circ`` = ``90``,
    ``10\\%`` = ``10``, ``\\$5`` = ``5``; ``\\text{(C)}`` = ``C``; an equation's right-hand side
    ``x=5`` = ``5``. Bare words never reach math-verify (``preftree.answers.mathverify``), so
    ``Monday`` = ``\\text{Monday}`` is left to ``answers_match`` (``check.same_answer`` asks both).
  - rejects: rounded decimals ``0.333`` vs ``\\frac{1}{3}``, ``1.67`` vs ``\\frac{5}{3}``; ``\\pi`` vs ``3.14159``;
    ``10\\%`` vs ``0.1``; an interval with other brackets ``(1,3]`` vs ``[1,3]``; ``2`` vs ``3``.
* ``numeric_match`` (gsm-style, MINT ``ReasoningTask``): ``preftree.answers.match.answers_match`` (thousands
  separators, ``$``, ``%``, fractions, unit words) within ``rel_tol``, else the last number of the
  answer compared the same way; with ``substring``, the reference as a substring of an answer that has
  no number.
* ``theoremqa_match``: by ``answer_type`` as MINT's ``TheoremqaTask`` does: ``integer`` ``round(pred) == gold``;
  ``float`` within 4% relative; ``list of integer`` / ``list of float`` sorted, then element-wise with those
  rules; ``bool`` True/False (yes/no accepted); ``option`` the letter of ``(c)``.
* ``choice_answer``: the option letter, else the option's text (MINT ``MultipleChoiceTask``).

GSM-Plus critical-thinking items (reference ``None``: the question lacks the information to answer
it) are judged as Eurus's official grader judges them (``eval/Math/subset``: ``evaluate_math(output,
"None")``, i.e. the extracted answer compared with the string ``None``): correct exactly when the
stated final answer *is* "None" (``states_none``: case, surrounding ``$`` / ``\\text{}`` / ``**`` and a
trailing period ignored). A sentence saying the question cannot be answered, without "None" as the
final answer, is wrong, as it is for the official grader.

Eurus's leniencies (``eurus_lenient_equal``; Eurus ``eval/utils/grader.py`` ``math_equal``, which
its MATH and GSM8K / SVAMP / ASDiv / GSM-Plus scripts call through ``evaluate_math``): a number is
also right when it equals the reference divided or multiplied by 100 (``include_percentage``), and
``\\pi`` in either answer is read both as ``math.pi`` and as 3.14, within the same relative tolerance
1e-4. TheoremQA's own grader (TIGER-AI-Lab ``number_utils``) reads ``\\pi`` as 3.14 and ``%`` as
``/100``; ``theoremqa_match(lenient=True)`` applies both leniencies on top of the 4% rule (issue #15;
Eurus's TheoremQA script, MINT's ``TheoremqaTask``, has neither, and MINT TheoremQA keeps it strict).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from preftree.answers.extract import final_answer, last_number
from preftree.answers.match import answers_match
from preftree.answers.mathverify import PI_VALUES, latex_equal, latex_values

# ----------------------------------------------------------------------------- numbers


def to_number(text: Any) -> float | None:
    """A float for a plain / fractional / LaTeX number (``1,234``, ``-3/4``, ``\\frac{1}{2}``, ``50\\%`` = 50,
    ``1.2 \\times 10^{3}``); None otherwise."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        return float(text)
    s = str(text).strip().strip("$").strip()
    s = re.sub(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", s)
    s = re.sub(r"\\(?:left|right|!|,|;)", "", s).replace("{,}", "").replace("\\%", "").replace("%", "")
    s = re.sub(r"\\text\{[^{}]*\}|\\mathrm\{[^{}]*\}", "", s).strip().rstrip(".")
    m = re.fullmatch(r"([-+]?[\d.]+)\s*(?:\\times|\*|x)\s*10\s*\^\s*\{?\s*([-+]?\d+)\s*\}?", s)
    if m:
        try:
            return float(m.group(1)) * 10 ** int(m.group(2))
        except ValueError:
            return None
    s = s.replace(",", "") if re.fullmatch(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s) else s
    m = re.fullmatch(r"\(?\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*\)?\s*(?:/\s*\(?\s*([-+]?[\d.]+)\s*\)?)?", s)
    if not m:
        return None
    try:
        value = float(Fraction(m.group(1)))
        if m.group(2):
            den = float(Fraction(m.group(2)))
            return value / den if den else None
        return value
    except (ValueError, ZeroDivisionError):
        return None


def numeric_match(pred: str | None, truth: str, *, rel_tol: float = 1e-4, substring: bool = False) -> bool:
    """gsm-style equivalence (see the module docstring)."""
    if pred is None:
        return False
    if answers_match(pred, truth, rel_tol=rel_tol):
        return True
    tail = last_number(pred)
    if tail is not None and tail.strip() != pred.strip() and answers_match(tail, truth, rel_tol=rel_tol):
        return True
    if substring and to_number(truth) is not None and last_number(pred) is None:
        return truth.strip().lower() in pred.lower()
    return False


# ----------------------------------------------------------------------------- LaTeX (math-verify), Eurus's leniencies


def norm_latex(text: str) -> str:
    """An answer without ``$``, spaces, ``\\left`` / ``\\right``, thin spaces or a final period;
    ``\\dfrac`` / ``\\tfrac`` as ``\\frac``."""
    s = text.strip().strip("$").strip()
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = re.sub(r"\\left\b|\\right\b|\\!|\\,|\\;|\\:|\\ |\s+", "", s)
    return s.rstrip(".")


def math_match(pred: str | None, truth: str) -> bool:
    """MATH-style equivalence: normalised string equality, else math-verify."""
    if pred is None or not pred.strip():
        return False
    if norm_latex(pred) == norm_latex(truth):
        return True
    return latex_equal(truth.strip().strip("$"), pred.strip().strip("$"))


def _values(text: str) -> list[float]:
    """A plain number's value; an answer with pi: its value with pi = math.pi and with pi = 3.14."""
    value = to_number(text)
    if value is not None:
        return [value]
    if "\\pi" in text or "π" in text:
        return latex_values(text.replace("π", "\\pi"), PI_VALUES)
    return []


def eurus_lenient_equal(pred: str | None, truth: str, *, rel_tol: float = 1e-4) -> bool:
    """Eurus ``math_equal``'s leniencies (module docstring): ``pred`` is within ``rel_tol`` of the reference,
    of the reference / 100 or of the reference * 100, with pi read as ``math.pi`` or 3.14 on either side."""
    if pred is None or not pred.strip():
        return False
    golds = _values(truth)
    if not golds:
        return False
    preds = _values(pred)
    return any(
        math.isclose(p, g * scale, rel_tol=rel_tol) for p in preds for g in golds for scale in (1.0, 0.01, 100.0)
    )


# ----------------------------------------------------------------------------- TheoremQA


def _within(pred: float, gold: float, rel: float = 0.04) -> bool:
    return abs(pred - gold) <= rel * abs(gold) + (1e-9 if gold == 0 else 0.0)


def _list_values(text: str) -> list[float] | None:
    s = norm_latex(text).replace("\\[", "[").replace("\\]", "]")
    m = re.search(r"[\[(](.*)[\])]", s)
    body = m.group(1) if m else s
    parts = [p for p in re.split(r",", body) if p.strip()]
    values = [to_number(p) for p in parts]
    if not parts or any(v is None for v in values):
        return None
    return [float(v) for v in values if v is not None]


def _bool_value(text: str) -> bool | None:
    s = re.sub(r"[^a-z]", " ", text.lower()).split()
    if not s:
        return None
    words = set(s)
    yes, no = words & {"true", "yes", "correct"}, words & {"false", "no", "incorrect"}
    if yes and not no:
        return True
    if no and not yes:
        return False
    return None


def _number_or_latex(text: str) -> float | None:
    value = to_number(text)
    if value is not None:
        return value
    values = latex_values(text)
    return values[0] if values else None


def _scalar_ok(value: float, gold: float, answer_type: str) -> bool:
    if answer_type == "integer" and float(gold).is_integer():
        return round(value) == round(gold)
    return _within(value, gold)


def theoremqa_match(pred: str | None, truth: str, answer_type: str, *, lenient: bool = False) -> bool:
    """MINT ``TheoremqaTask`` rules; ``lenient``: with pi read as ``math.pi`` or 3.14 and the reference
    / 100 or * 100 accepted too, for ``integer`` and ``float`` answers (see the module docstring). A
    ``truth`` that is no answer of ``answer_type`` (another model answer, when voting) matches nothing."""
    if pred is None or not pred.strip():
        return False
    if answer_type == "bool":
        value = _bool_value(pred)
        return value is not None and value == (truth.strip().lower() == "true")
    if answer_type == "option":
        got = re.search(r"\(?\b([a-zA-Z])\b\)?", norm_latex(pred).replace("\\text{", "").replace("}", ""))
        want = re.search(r"([a-zA-Z])", truth)
        return bool(got and want) and got.group(1).lower() == want.group(1).lower()
    if answer_type.startswith("list"):
        gold = _list_values(truth)
        got = _list_values(pred)
        if gold is None:
            return False
        if got is None or len(got) != len(gold):
            return False
        if answer_type == "list of integer":
            return sorted(round(v) for v in got) == sorted(round(v) for v in gold)
        return all(_within(p, g) for p, g in zip(sorted(got), sorted(gold), strict=True))
    values = _values(pred) if lenient else []
    value = values[0] if values else _number_or_latex(pred)
    if value is None:
        tail = last_number(pred)
        value = to_number(tail) if tail is not None else None
    if value is None:
        return False
    gold_value = _number_or_latex(truth)
    if gold_value is None:
        return False
    if not lenient:
        return _scalar_ok(value, gold_value, answer_type)
    values = values or [value]
    scales = (1.0, 0.01, 100.0)
    return any(_scalar_ok(v, gold_value * k, answer_type) for v in values for k in scales)


# ----------------------------------------------------------------------------- choices, GSM-Plus


def _norm_option(text: str) -> str:
    return re.sub(r"\s+", "", norm_latex(text).replace("$", "")).lower()


def choice_answer(text: str, options: Mapping[str, str]) -> str | None:
    """The option letter a response picks: a letter in its final answer, else an option's text."""
    stated = final_answer(text)
    if stated is None:
        tail = [line for line in text.strip().splitlines() if line.strip()]
        stated = tail[-1] if tail else None
    if stated is None:
        return None
    s = stated.strip().strip("*").replace("\\text{", "").replace("}", "").strip()
    m = re.fullmatch(r"\(?([A-Ja-j])\)?(?:[.):]\s*.*)?", s, re.DOTALL) or re.match(r"\(?([A-J])\)?(?=$|[\s.),:;])", s)
    if m and m.group(1).upper() in options:
        return m.group(1).upper()
    said = _norm_option(s)
    hits = [letter for letter, option in options.items() if _norm_option(option) == said]
    return hits[0] if len(hits) == 1 else None


def states_none(pred: str | None) -> bool:
    """GSM-Plus critical thinking, as Eurus's grader judges it: the stated answer is "None" (module docstring)."""
    if pred is None:
        return False
    s = pred.strip().strip("*").strip().strip("$").strip()
    m = re.fullmatch(r"\\(?:text|textbf|mathrm)\s*\{(.*)\}", s)
    s = (m.group(1) if m else s).strip().rstrip(".").strip()
    return s.lower() == "none"
