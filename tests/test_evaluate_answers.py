"""Answer extraction and equivalence (preftree.answers: extract, match, bench); no sandbox needed."""

from __future__ import annotations

import pytest

from preftree.answers import bench, extract
from preftree.compose import from_conf
from preftree.config.sandbox import SandboxParams
from preftree.evaluate.items import Item
from preftree.evaluate.scoring import score

# (gold, prediction, math-verify's verdict): the cases the bench module docstring lists.
LIMITS = from_conf(SandboxParams, "sandbox")
MATH_VERIFY_CASES = [
    ("\\frac{1}{2}", "0.5", True),
    ("\\frac{1}{2}", "1/2", True),
    ("\\dfrac{3}{4}", "\\frac34", True),
    ("-\\frac{1}{2}", "-0.5", True),
    ("\\frac{3}{2}", "1\\frac{1}{2}", True),
    ("12", "12.0", True),
    ("1000", "10^{3}", True),
    ("1000", "1{,}000", True),
    ("1000", "1,000", True),
    ("(1,3]", "(1, 3]", True),
    ("(-\\infty, 0) \\cup (0, \\infty)", "(-\\infty,0)\\cup(0,\\infty)", True),
    ("\\{1,2,3\\}", "\\{3,2,1\\}", True),
    ("1,2,3", "3,2,1", True),
    ("2, -2", "\\pm 2", True),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi/2)", True),
    ("\\sqrt{12}", "2\\sqrt{3}", True),
    ("x^2+2x+1", "(x+1)^2", True),
    ("\\frac{\\sqrt{2}}{2}", "\\sqrt{2}/2", True),
    ("3 + 2i", "2i + 3", True),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", True),
    ("5", "5\\text{ cm}", True),
    ("5", "5 \\mbox{ inches}", True),
    ("90", "90^\\circ", True),
    ("10", "10\\%", True),
    ("5", "\\$5", True),
    ("\\text{(C)}", "C", True),
    ("5", "x=5", True),
    ("\\frac{1}{3}", "0.333", False),
    ("\\frac{5}{3}", "1.67", False),
    ("\\pi", "3.14159", False),
    ("0.1", "10\\%", False),
    ("(1,3]", "[1,3]", False),
    ("2", "3", False),
]


@pytest.mark.parametrize(("gold", "pred", "expected"), MATH_VERIFY_CASES)
def test_math_match_cases(gold, pred, expected):
    assert bench.math_match(pred, gold) is expected


def test_math_match_malformed():
    assert not bench.math_match(None, "5")
    assert not bench.math_match("", "5")
    assert not bench.math_match("\\frac{{{", "5")
    assert not bench.math_match("}}\\sqrt[", "\\frac{1}{2}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so the total is \\boxed{\\frac{1}{2}} and \\boxed{42}", "42"),
        ("Step 1: 3+4=7\nThe answer is 7.", "7"),
        ("Answer:\n\\boxed{x^2}", "x^2"),
        ("She makes 9 * 2 = <<9*2=18>>18 dollars.\n#### 18", "18"),
        ("no final answer here", None),
    ],
)
def test_final_answer(text, expected):
    assert extract.final_answer(text) == expected


def test_numeric_answer_falls_back_to_last_number():
    assert extract.numeric_answer("First 3 apples, then 1,250 more") == "1,250"
    assert extract.numeric_answer("nothing numeric") is None


@pytest.mark.parametrize(
    ("pred", "truth", "ok"),
    [
        ("18", "18", True),
        ("$18.00", "18", True),
        ("1,250", "1250", True),
        ("18 dollars", "18", True),
        ("She makes 18 dollars a day", "18", True),
        ("\\frac{5}{8}", "0.625", True),
        ("17", "18", False),
        ("18.01", "18", False),
        (None, "18", False),
    ],
)
def test_numeric_match(pred, truth, ok):
    assert bench.numeric_match(pred, truth) is ok


def test_numeric_match_mint_tolerance_and_substring():
    assert bench.numeric_match("10.4", "10.0", rel_tol=0.05)
    assert not bench.numeric_match("10.6", "10.0", rel_tol=0.05)
    assert bench.numeric_match("ten point zero, i.e. 10.0", "10.0", rel_tol=0.05, substring=True)


@pytest.mark.parametrize(
    ("pred", "truth", "kind", "ok"),
    [
        ("10", "10", "integer", True),
        ("10.3", "10", "integer", True),  # round(p) == gt
        ("10.6", "10", "integer", False),
        ("1.16", "1.12", "float", True),  # within 4%
        ("1.17", "1.12", "float", False),
        ("\\frac{9}{8}", "1.12", "float", True),
        ("1.12 \\times 10^{0}", "1.12", "float", True),
        ("False", "False", "bool", True),
        ("no", "False", "bool", True),
        ("True", "False", "bool", False),
        ("(c)", "(c)", "option", True),
        ("\\text{(C)}", "(c)", "option", True),
        ("(b)", "(c)", "option", False),
        ("[0, 5]", "[0, 5]", "list of integer", True),
        ("[5, 0]", "[0, 5]", "list of integer", True),  # sorted, as MINT does
        ("[0, 4]", "[0, 5]", "list of integer", False),
        ("[0, 5, 6]", "[0, 5]", "list of integer", False),
        ("[2.05, 0.5]", "[0.5, 2.0]", "list of float", True),
        ("[2.2, 0.5]", "[0.5, 2.0]", "list of float", False),
        ("garbage", "10", "integer", False),
        ("", "[0, 5]", "list of integer", False),
    ],
)
def test_theoremqa_match(pred, truth, kind, ok):
    assert bench.theoremqa_match(pred, truth, kind) is ok


def test_choice_and_text_answers():
    options = {"A": "6", "B": "121", "C": "18107", "D": "54,320"}
    assert bench.choice_answer("The answer is (C).", options) == "C"
    assert bench.choice_answer("so \\boxed{B}", options) == "B"
    assert bench.choice_answer("The answer is 18107", options) == "C"
    assert bench.choice_answer("I am not sure", options) is None
    assert extract.text_answer("thinking...\nAnswer: Robert Erskine Childers") == "Robert Erskine Childers"


def _gsm_plus(answer):
    return Item("1", "gsm_plus", "numeric", "Math", "q", answer=answer)


@pytest.mark.parametrize(
    ("response", "ok"),
    [
        ("\\boxed{None}", True),
        ("The muffins' count is not given.\nThe answer is None.", True),
        ("Answer: none", True),
        ("The number of muffins is not given, so\nNone", True),  # no stated answer: the last line
        # Eurus's grader compares the answer with "None": saying so in words is not enough
        ("The number of muffins is not given, so the question cannot be answered.", False),
        ("The answer is: not enough information", False),
        ("The answer is 18.", False),
        ("\\boxed{18}", False),
        ("16 - 3 = 13 eggs, 13 * 2 = 26", False),
    ],
)
def test_gsm_plus_none_answers(response, ok):
    assert score(_gsm_plus(None), response, limits=LIMITS).correct is ok


def test_gsm_plus_numeric_answer_is_scored_normally():
    assert score(_gsm_plus("18"), "so \\boxed{18}", limits=LIMITS).correct
    assert not score(_gsm_plus("18"), "The question cannot be answered.", limits=LIMITS).correct


def test_to_number():
    assert bench.to_number("1,234") == 1234
    assert bench.to_number("-3/4") == -0.75
    assert bench.to_number("\\frac{1}{2}") == 0.5
    assert bench.to_number("50\\%") == 50
    assert bench.to_number("2 \\times 10^{3}") == 2000
    assert bench.to_number("abc") is None
    assert bench.to_number(True) is None


def test_scoring_judges_with_each_benchmarks_rule():
    """score() goes through preftree.answers.check with the rule of the item's benchmark."""

    def item(benchmark, kind, answer, **meta):
        return Item("1", benchmark, kind, "Math", "q", answer=answer, meta=meta)

    assert score(item("math500", "math", "\\sqrt{12}"), "so \\boxed{2\\sqrt{3}}", limits=LIMITS).correct
    assert score(item("gsm8k", "numeric", "25"), "The answer is 0.25", limits=LIMITS).correct  # Eurus x100
    assert not score(item("mint_gsm8k", "numeric", "25", rel_tol=0.05), "The answer is 0.25", limits=LIMITS).correct
    tq = "The answer is 112"
    assert score(item("theoremqa", "theoremqa", "1.12", answer_type="float"), tq, limits=LIMITS).correct
    assert not score(item("mint_theoremqa", "theoremqa", "1.12", answer_type="float"), tq, limits=LIMITS).correct
