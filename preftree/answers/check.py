"""The one answer checker: ``same_answer(pred, truth, rule=...)`` for ``interact``, ``eval`` and ``rerank``.

Every rule starts from the same base, math-verify for math with the hand-written checker as its fast
path; a benchmark's rule adds what its official grader accepts on top. ``pred`` is an extracted final
answer (``preftree.answers.extract``), ``truth`` the reference.

* ``env`` (``interact``: the tiny world and UltraInteract-style records; also the base of every rule
  below): ``preftree.answers.match.answers_match`` (numbers within ``rel_tol``, 1e-4 by default:
  thousands separators, fractions, percentages, currency, unit words, ``x =``, tuples; else
  normalised text), else ``math_verify`` (``preftree.answers.mathverify.latex_equal``: symbolic
  equality ``2\\sqrt{3}`` = ``\\sqrt{12}``, ``(x+1)^2`` = ``x^2+2x+1``, sets in any order, ``10^{3}`` =
  ``1000``, a float printed by a program = the exact fraction or radical; a program's sympy output,
  ``11*sqrt(2)``, ``2*pi/3``, ``Interval.open(-2, 1)``, read as LaTeX by
  ``preftree.answers.sympy_text.sympy_as_latex``, never evaluated). Two plain numbers never
  reach math-verify: on them it is stricter than ``answers_match`` (it rejects ``5.00001`` = ``5``),
  so ``answers_match`` decides alone; that keeps integer answers (the tiny world's) judged exactly as
  before, at 0.1-0.2 ms a check, where math-verify takes 1-60 ms (2 shared cores: ``7\\sqrt{2}`` vs
  ``7`` about 55 ms, ``2\\sqrt{3}`` vs ``\\sqrt{12}`` about 7 ms; verdicts are cached).
* ``math`` (MATH, MATH-500: Eurus ``evaluate_math``): ``env``, or equal after LaTeX normalisation,
  or Eurus's leniencies (``preftree.answers.bench.eurus_lenient_equal``: the reference / 100 or
  * 100; pi read as ``math.pi`` and as 3.14).
* ``gsm`` (GSM8K, SVAMP, ASDiv, GSM-Plus: Eurus ``evaluate_math`` too): ``math``, else the last number
  of ``pred`` (a model that writes "18 dollars a day") by the same rule. A ``None`` reference (GSM-Plus
  critical thinking) is matched only by the stated answer "None" (``bench.states_none``), as Eurus's
  grader compares with the string "None".
* ``mint`` (MINT GSM8K / MATH, ``ReasoningTask``): numbers within ``rel_tol`` (5%), the last number of
  ``pred``, or the reference as a substring of an answer that has no number.
* ``theoremqa`` (TheoremQA): ``bench.theoremqa_match`` by ``answer_type`` (4%, ``round`` for integers,
  sorted lists, bool, option) with pi read as ``math.pi`` or 3.14 and the reference / 100 or * 100
  accepted; ``mint_theoremqa`` (MINT TheoremQA): the same rules without those leniencies, as MINT's
  ``TheoremqaTask``.

``rule_for(kind, benchmark)`` names the rule an evaluation item is judged by. ``same_gold`` is ``env``
over several gold answers in any order (WikiTableQuestions, ``preftree.answers.match.matches_gold``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from preftree.answers import bench
from preftree.answers.extract import last_number
from preftree.answers.match import answers_match, matches_gold, number_values
from preftree.answers.mathverify import latex_equal
from preftree.answers.sympy_text import sympy_as_latex

Rule = Literal["env", "math", "gsm", "mint", "theoremqa", "mint_theoremqa"]
RULES: tuple[str, ...] = ("env", "math", "gsm", "mint", "theoremqa", "mint_theoremqa")
DEFAULT_REL_TOL = {"env": 1e-4, "math": 1e-4, "gsm": 1e-4, "mint": 0.05}


def _env(pred: str, truth: str, rel_tol: float) -> bool:
    if answers_match(pred, truth, rel_tol=rel_tol):
        return True
    if number_values(pred) is not None and number_values(truth) is not None:
        return False  # two plain numbers: answers_match decides (module docstring)
    gold = truth.strip().strip("$")
    if latex_equal(gold, pred.strip().strip("$")):
        return True
    printed = sympy_as_latex(pred)  # a program's sympy output (11*sqrt(2)) against a LaTeX reference
    return printed is not None and latex_equal(gold, printed)


def _math(pred: str, truth: str, rel_tol: float) -> bool:
    if _env(pred, truth, rel_tol) or bench.norm_latex(pred) == bench.norm_latex(truth):
        return True
    return bench.eurus_lenient_equal(pred, truth, rel_tol=rel_tol)


def same_answer(
    pred: str | None,
    truth: str | None,
    *,
    rule: Rule = "env",
    rel_tol: float | None = None,
    answer_type: str | None = None,
) -> bool:
    """True when the answer ``pred`` states ``truth`` under ``rule`` (module docstring). ``rel_tol``
    overrides the rule's numeric tolerance (``env`` / ``math`` / ``gsm`` 1e-4, ``mint`` 5%);
    ``answer_type`` is required by the TheoremQA rules. ``truth=None`` is GSM-Plus's "no answer" for
    ``gsm`` and never matched under the other rules."""
    if rule not in RULES:
        raise ValueError(f"unknown answer rule {rule!r}; known: {', '.join(RULES)}")
    if pred is None or not str(pred).strip():
        return False
    pred = str(pred)
    if truth is None:
        return rule == "gsm" and bench.states_none(pred)
    truth = str(truth)
    if rule in ("theoremqa", "mint_theoremqa"):
        if answer_type is None:
            raise ValueError(f"rule {rule!r} needs the item's answer_type")
        return bench.theoremqa_match(pred, truth, answer_type, lenient=rule == "theoremqa")
    tol = DEFAULT_REL_TOL[rule] if rel_tol is None else rel_tol
    if rule == "mint":
        return bench.numeric_match(pred, truth, rel_tol=tol, substring=True)
    if rule == "env":
        return _env(pred, truth, tol)
    if _math(pred, truth, tol):
        return True
    if rule == "gsm":
        tail = last_number(pred)
        return tail is not None and tail.strip() != pred.strip() and _math(tail, truth, tol)
    return False


def rule_for(kind: str, benchmark: str) -> Rule:
    """The rule an evaluation item of ``kind`` from ``benchmark`` is judged by (module docstring)."""
    mint = benchmark.startswith("mint_")
    if kind == "math":
        return "math"
    if kind == "numeric":
        return "mint" if mint else "gsm"
    if kind == "theoremqa":
        return "mint_theoremqa" if mint else "theoremqa"
    if kind == "tiny":
        return "env"
    raise ValueError(f"{benchmark}: items of kind {kind!r} have no answer rule")


def same_gold(pred: str | None, golds: Sequence[str]) -> bool:
    """``env`` against several gold answers: all of them in any order (``matches_gold``), or the one."""
    if pred is None:
        return False
    if matches_gold(pred, golds):
        return True
    return len(golds) == 1 and same_answer(pred, golds[0])
