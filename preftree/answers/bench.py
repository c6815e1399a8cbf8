"""The benchmark answer checkers: math-verify, TheoremQA, multiple choice, free text, GSM-Plus.

Extraction (``preftree.answers.extract.final_answer``): the last ``\\boxed{...}`` (nested braces), else
the line after a final "Answer:" / "The answer is" (``extract.extract_answer``, the same rule the tiny
world uses), else the number after a final ``#### ``. gsm-style (``numeric``) items then fall back to
the last number in the text (``extract.last_number``); free-text items to the last non-empty line
(``extract.text_answer``).

Equivalence by item kind:

* ``math`` (MATH, MATH-500): equal after whitespace / ``\\left`` / ``\\right`` / ``\\dfrac`` normalisation,
  else ``math_verify.verify(parse(gold), parse(pred))``. What math-verify 0.9.0 decides, as checked in
  ``tests/test_evaluate_answers.py`` (``MATH_VERIFY_CASES``):

  - accepts: ``\\frac{1}{2}`` = ``0.5`` = ``1/2``; ``\\dfrac{3}{4}`` = ``\\frac34``; ``-\\frac{1}{2}`` = ``-0.5``;
    ``1\\frac{1}{2}`` = ``\\frac{3}{2}``; ``12`` = ``12.0``; ``10^{3}`` = ``1000``; ``1{,}000`` = ``1,000`` = ``1000``;
    intervals written with different spacing ``(1,3]``; unions of intervals; sets in any order
    ``\\{1,2,3\\}`` = ``\\{3,2,1\\}`` (a bare ``1,2,3`` is read as a set too, so ``3,2,1`` matches);
    ``\\pm 2`` = ``2, -2``; tuples / points ``\\left( 3, \\frac{\\pi}{2} \\right)`` = ``(3, \\pi/2)``;
    symbolic equality ``\\sqrt{12}`` = ``2\\sqrt{3}``, ``(x+1)^2`` = ``x^2+2x+1``, ``\\frac{\\sqrt2}{2}`` =
    ``\\sqrt{2}/2``; complex numbers in any order ``3+2i`` = ``2i+3``; matrices ``pmatrix`` up to spacing;
    units and text stripped ``5\\text{ cm}`` = ``5``, ``5 \\mbox{ inches}`` = ``5``, ``90^\\circ`` = ``90``,
    ``10\\%`` = ``10``, ``\\$5`` = ``5``; ``\\text{Monday}`` = ``Monday``; ``\\text{(C)}`` = ``C``; an equation's
    right-hand side ``x=5`` = ``5``.
  - rejects: rounded decimals ``0.333`` vs ``\\frac{1}{3}``, ``1.67`` vs ``\\frac{5}{3}``; ``\\pi`` vs ``3.14159``;
    ``10\\%`` vs ``0.1``; an interval with other brackets ``(1,3]`` vs ``[1,3]``; ``2`` vs ``3``.

  math-verify's own timeouts use ``signal.alarm``, which only works in the main thread; off the main
  thread they are switched off (the scorers call it from the main thread only).
* ``numeric`` (gsm8k, SVAMP, ASDiv, GSM-Plus, MINT gsm8k/math): ``preftree.answers.match.answers_match`` (thousands
  separators, ``$``, ``%``, fractions, unit words) within ``rel_tol`` (1e-4, Eurus's ``math_equal``;
  MINT: 5%), else the last number of the extracted answer compared the same way. MINT items also accept
  the reference as a substring of a non-numeric answer (MINT ``ReasoningTask``).
* ``theoremqa``: by ``answer_type`` as MINT's ``TheoremqaTask`` does: ``integer`` ``round(pred) == gold``;
  ``float`` within 4% relative; ``list of integer`` / ``list of float`` sorted, then element-wise with those
  rules; ``bool`` True/False (yes/no accepted); ``option`` the letter of ``(c)``.
* ``multiple-choice``: the option letter, else the option's text (MINT ``MultipleChoiceTask``).
* ``text``: the lower-cased reference is a substring of the lower-cased answer (MINT ``ReasoningTask``).

GSM-Plus critical-thinking items (reference ``None``: the question lacks information) are scored as
correct exactly when the response *says* so: its final answer (or, when it states none, its last
300 characters) matches :data:`NO_ANSWER_PATTERN` ("none", "not enough information", "cannot be
determined", "insufficient", "missing", "unanswerable", ...), and the final answer is not a number.
Any numeric final answer is wrong. (GSM-Plus's own evaluation is not described in the reference;
this is our decision.)
"""

from __future__ import annotations

import json
import math
import re
import threading
import warnings
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from preftree.answers.extract import final_answer, last_number
from preftree.answers.match import answers_match

NO_ANSWER_PATTERN = re.compile(
    r"\bnone\b|\bno (?:definite |unique |single |numerical )?(?:answer|solution)\b|not enough information|"
    r"\b(?:insufficient|incomplete|missing) (?:information|data|details)\b|"
    r"\binformation is (?:missing|insufficient)\b|"
    r"cannot be (?:determined|answered|calculated|computed|found|solved)|"
    r"can ?not (?:determine|answer|calculate|compute)|"
    r"\bunanswerable\b|\bundetermin(?:ed|able)\b|\bnot (?:possible|able) to (?:determine|answer|calculate)\b|"
    r"lacks? (?:the )?(?:necessary |needed |required )?(?:information|data)|does not (?:provide|give|specify|say)|"
    r"doesn't (?:provide|give|specify|say)|not (?:provided|given|specified|stated)",
    re.IGNORECASE,
)


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


# ----------------------------------------------------------------------------- LaTeX (math-verify)


def _norm_latex(text: str) -> str:
    s = text.strip().strip("$").strip()
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = re.sub(r"\\left\b|\\right\b|\\!|\\,|\\;|\\:|\\ |\s+", "", s)
    return s.rstrip(".")


def _verify(gold: str, pred: str) -> bool:
    from math_verify import parse, verify

    on_main = threading.current_thread() is threading.main_thread()
    timeout = 5 if on_main else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            g = parse(f"${gold}$", parsing_timeout=timeout)
            p = parse(f"${pred}$", parsing_timeout=timeout)
            if not g or not p:
                return False
            return bool(verify(g, p, timeout_seconds=timeout))
        except Exception:  # math-verify raises on pathological input; a non-parse is a non-match
            return False


def math_match(pred: str | None, truth: str) -> bool:
    """MATH-style equivalence: normalised string equality, else math-verify."""
    if pred is None or not pred.strip():
        return False
    p, t = _norm_latex(pred), _norm_latex(truth)
    if p == t:
        return True
    return _verify(truth.strip().strip("$"), pred.strip().strip("$"))


# ----------------------------------------------------------------------------- TheoremQA


def _within(pred: float, gold: float, rel: float = 0.04) -> bool:
    return abs(pred - gold) <= rel * abs(gold) + (1e-9 if gold == 0 else 0.0)


def _list_values(text: str) -> list[float] | None:
    s = _norm_latex(text).replace("\\[", "[").replace("\\]", "]")
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
    from math_verify import parse

    on_main = threading.current_thread() is threading.main_thread()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = parse(f"${text.strip().strip('$')}$", parsing_timeout=5 if on_main else None)
            if parsed:
                value = complex(parsed[0].evalf())
                return value.real if abs(value.imag) < 1e-12 and math.isfinite(value.real) else None
        except Exception:  # unparsable / not a number
            return None
    return None


def theoremqa_match(pred: str | None, truth: str, answer_type: str) -> bool:
    """MINT ``TheoremqaTask`` rules (see the module docstring)."""
    if pred is None or not pred.strip():
        return False
    if answer_type == "bool":
        value = _bool_value(pred)
        return value is not None and value == (truth.strip().lower() == "true")
    if answer_type == "option":
        got = re.search(r"\(?\b([a-zA-Z])\b\)?", _norm_latex(pred).replace("\\text{", "").replace("}", ""))
        want = re.search(r"([a-zA-Z])", truth)
        return bool(got and want) and got.group(1).lower() == want.group(1).lower()
    if answer_type.startswith("list"):
        gold = [float(v) for v in json.loads(truth)]
        got = _list_values(pred)
        if got is None or len(got) != len(gold):
            return False
        if answer_type == "list of integer":
            return sorted(round(v) for v in got) == sorted(round(v) for v in gold)
        return all(_within(p, g) for p, g in zip(sorted(got), sorted(gold), strict=True))
    value = _number_or_latex(pred)
    if value is None:
        tail = last_number(pred)
        value = to_number(tail) if tail is not None else None
    if value is None:
        return False
    gold_value = float(truth)
    if answer_type == "integer":
        return round(value) == round(gold_value)
    return _within(value, gold_value)


# ----------------------------------------------------------------------------- choices, GSM-Plus


def _norm_option(text: str) -> str:
    return re.sub(r"\s+", "", _norm_latex(text).replace("$", "")).lower()


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


def states_no_answer(text: str) -> bool:
    """GSM-Plus critical thinking: the response says the question cannot be answered (see module docstring)."""
    stated = final_answer(text)
    if stated is not None:
        if to_number(stated) is not None or re.fullmatch(r"[-+$\d.,\s/]+", stated.strip()):
            return False
        return bool(NO_ANSWER_PATTERN.search(stated))
    return bool(NO_ANSWER_PATTERN.search(text[-300:]))
