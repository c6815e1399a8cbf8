"""The one answer checker (preftree.answers.check): equivalent and non-equivalent pairs per rule, the
GSM-Plus "None" rule, the TheoremQA / Eurus leniencies, and the tiny world judged as before."""

from __future__ import annotations

import random
import threading
import time

import pytest

from preftree.answers import bench
from preftree.answers.check import RULES, rule_for, same_answer, same_gold
from preftree.answers.extract import extract_answer
from preftree.answers.match import answers_match
from preftree.answers.mathverify import has_word, latex_equal, latex_values
from preftree.sources.synthetic.problems import MISTAKES, generate, render_solution

# (prediction, reference): the same answer written two ways. The first ones are issue #15's pairs
# that the hand-written answers_match rejects (checked below), a PoT program's float among them.
EQUIVALENT = [
    ("2\\sqrt{3}", "\\sqrt{12}"),
    ("(x+1)^2", "x^2+2x+1"),
    ("\\{2,1\\}", "\\{1,2\\}"),
    ("10^{3}", "1000"),
    ("1.4142135623730951", "\\sqrt{2}"),  # print(math.sqrt(2))
    ("6.283185307179586", "2\\pi"),  # print(2 * math.pi)
    ("3+2i", "2i+3"),
    ("\\frac{\\sqrt{2}}{2}", "\\sqrt{2}/2"),
    ("\\pm 2", "2,-2"),
    ("(3, \\pi/2)", "\\left(3,\\frac{\\pi}{2}\\right)"),
    ("\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt{2}}{2}"),
    ("2^{10}", "1024"),
    ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"),
    # accepted by both checkers
    ("0.3333333333333333", "\\frac{1}{3}"),  # print(1/3)
    ("2.5", "\\frac{5}{2}"),
    ("0.5", "\\frac{1}{2}"),
    ("x = 5", "5"),
    ("1,000", "1000"),
    ("\\dfrac{3}{4}", "0.75"),
    ("\\text{Monday}", "Monday"),
    ("18 dollars", "18"),
]
HAND_WRITTEN_MISSES = 13  # the first 13 pairs above

NOT_EQUIVALENT = [
    ("2", "3"),
    ("x+1", "x-1"),
    ("\\{1,2\\}", "\\{1,3\\}"),
    ("\\sqrt{3}", "\\sqrt{2}"),
    ("(1,3]", "[1,3]"),
    ("0.333", "\\frac{1}{3}"),
    ("-5", "5"),
    ("1001", "1000"),
    ("x^2", "2x"),
    ("\\frac{1}{2}", "\\frac{1}{3}"),
    ("6.28", "2\\pi"),  # math.pi only (Eurus's 3.14 is for the benchmark rules)
    ("50", "0.5"),  # x100 is a benchmark leniency too
    ("listen", "silent"),  # math-verify alone reads both as l*i*s*t*e*n
    ("no", "on"),
    ("Tuesday", "Monday"),
    ("5.001", "5"),  # 2e-4 relative: outside the 1e-4 tolerance
]


@pytest.mark.parametrize(("pred", "truth"), EQUIVALENT)
def test_equivalent_pairs(pred: str, truth: str) -> None:
    for rule in ("env", "math", "gsm"):
        assert same_answer(pred, truth, rule=rule), rule


def test_the_hand_written_checker_missed_the_first_pairs() -> None:
    missed = [(p, t) for p, t in EQUIVALENT if not answers_match(p, t)]
    assert missed == EQUIVALENT[:HAND_WRITTEN_MISSES]


@pytest.mark.parametrize(("pred", "truth"), NOT_EQUIVALENT)
def test_not_equivalent_pairs(pred: str, truth: str) -> None:
    assert not same_answer(pred, truth)
    assert not same_answer(truth, pred)


def test_math_verify_alone_would_match_anagrams() -> None:
    """Why words never reach math-verify: its own verdict on two words is a product of letters."""
    from math_verify import parse, verify

    assert verify(parse("$listen$"), parse("$silent$"))
    assert has_word("listen") and has_word("5 inches") and not has_word("\\frac{\\pi}{2} + x")
    assert not has_word("\\text{Monday} + \\begin{pmatrix}1\\end{pmatrix}")
    assert not latex_equal("listen", "silent")


def test_math_verify_guards_refuse_explosive_input() -> None:
    assert not latex_equal("10^{10^{10}}", "10^{10^{10}}")
    assert not latex_equal("100000!", "100000!")
    assert not latex_equal("2^{123456}", "2^{123456}")
    assert not latex_equal("1" * 400, "1" * 400)
    assert latex_equal("5!", "120")


def test_math_verify_runs_off_the_main_thread() -> None:
    """interact judges on worker threads, where math-verify has no signal-based timeout."""
    out: list[bool] = []
    worker = threading.Thread(target=lambda: out.append(same_answer("2\\sqrt{3}", "\\sqrt{12}")))
    worker.start()
    worker.join(30)
    assert out == [True]


def test_none_and_blank() -> None:
    for rule in ("env", "math", "gsm", "mint"):
        assert not same_answer(None, "5", rule=rule)
        assert not same_answer("  ", "5", rule=rule)
        assert not same_answer("5", "", rule=rule)
    with pytest.raises(ValueError, match="unknown answer rule"):
        same_answer("5", "5", rule="nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="answer_type"):
        same_answer("5", "5", rule="theoremqa")


# ----------------------------------------------------------------------------- benchmark rules


def test_rule_for_each_kind() -> None:
    assert rule_for("math", "math500") == "math"
    assert rule_for("numeric", "gsm8k") == rule_for("numeric", "gsm_plus") == "gsm"
    assert rule_for("numeric", "mint_gsm8k") == "mint"
    assert rule_for("theoremqa", "theoremqa") == "theoremqa"
    assert rule_for("theoremqa", "mint_theoremqa") == "mint_theoremqa"
    assert rule_for("tiny", "tiny") == "env"
    assert set(RULES) >= {"env", "math", "gsm", "mint", "theoremqa", "mint_theoremqa"}
    with pytest.raises(ValueError, match="code"):
        rule_for("code", "humaneval")


@pytest.mark.parametrize(
    ("pred", "truth", "ok"),
    [
        ("0.25", "25", True),  # the reference / 100 (Eurus include_percentage)
        ("2500", "25", True),  # the reference * 100
        ("25\\%", "25", True),
        ("250", "25", False),
        ("0.2503", "25", False),  # 1.2e-3 from 0.25: outside 1e-4
    ],
)
def test_eurus_percentage_leniency(pred: str, truth: str, ok: bool) -> None:
    assert same_answer(pred, truth, rule="gsm") is ok
    assert same_answer(pred, truth, rule="math") is ok
    assert not same_answer("0.25", "25", rule="env") and not same_answer("2500", "25", rule="env")


def test_eurus_pi_leniency() -> None:
    # pi read as 3.14 (900 * 3.14 = 2826) or as math.pi (2827.433...), within 1e-4 relative
    assert same_answer("2826", "900\\pi", rule="math")
    assert same_answer("2827.43", "900\\pi", rule="math")
    assert same_answer("28.26", "9\\pi", rule="math") and same_answer("9\\pi", "28.26", rule="math")
    assert same_answer("6.28", "2\\pi", rule="gsm")
    assert not same_answer("2830", "900\\pi", rule="math")
    assert not same_answer("2826", "900\\pi", rule="env")
    assert latex_values("\\frac{\\pi}{2}", (3.14,)) == [pytest.approx(1.57)]
    assert latex_values("x + \\pi") == []


def test_gsm_takes_the_last_number_of_a_sentence() -> None:
    assert same_answer("She makes 18 dollars a day", "18", rule="gsm")
    assert not same_answer("She makes 18 dollars a day", "18", rule="math")


def test_mint_rule_is_mints_reasoning_task() -> None:
    assert same_answer("10.4", "10.0", rule="mint")  # within 5%
    assert not same_answer("10.6", "10.0", rule="mint")
    assert same_answer("ten point zero, i.e. 10.0", "10.0", rule="mint")
    assert not same_answer("0.1", "10.0", rule="mint")  # no x100 leniency in MINT
    assert not same_answer("10.4", "10.0", rule="mint", rel_tol=0.01)


@pytest.mark.parametrize(
    ("pred", "ok"),
    [
        ("None", True),
        ("none", True),
        ("NONE.", True),
        ("\\text{None}", True),
        ("**None**", True),
        ("$None$", True),
        ("not enough information", False),
        ("The question cannot be answered", False),
        ("None of the above", False),
        ("0", False),
        ("18", False),
    ],
)
def test_gsm_plus_none_is_strict(pred: str, ok: bool) -> None:
    """Eurus's grader compares the extracted answer with the string "None" (evaluate_math(output, "None"))."""
    assert same_answer(pred, None, rule="gsm") is ok
    assert bench.states_none(pred) is ok
    assert not same_answer(pred, None, rule="math") and not same_answer(pred, None, rule="env")


THEOREMQA = [
    # (prediction, reference, answer_type, strict verdict (MINT TheoremqaTask), lenient verdict)
    ("1.16", "1.12", "float", True, True),  # 4%: both
    ("112", "1.12", "float", False, True),  # the reference * 100 (a percentage written as a number)
    ("0.0112", "1.12", "float", False, True),  # the reference / 100
    ("112\\%", "1.12", "float", False, True),
    ("50", "0.5", "float", False, True),
    ("3\\pi", "9.42", "float", True, True),  # 3 * 3.14 = 9.42; 3 * math.pi within 4% too
    ("1000\\pi", "3140", "integer", False, True),  # round(3141.59...) = 3142; 3140 with pi = 3.14
    ("\\pi", "3", "integer", True, True),
    ("150", "1.12", "float", False, False),
    ("5", "0.5", "float", False, False),
    ("3", "10", "integer", False, False),
    ("1000", "10", "integer", False, True),
    ("[0, 5]", "[0, 5]", "list of integer", True, True),
    ("[0, 500]", "[0, 5]", "list of integer", False, False),  # no leniency inside lists
    ("True", "True", "bool", True, True),
    ("(c)", "(c)", "option", True, True),
]


@pytest.mark.parametrize(("pred", "truth", "kind", "strict", "lenient"), THEOREMQA)
def test_theoremqa_leniencies(pred: str, truth: str, kind: str, strict: bool, lenient: bool) -> None:
    assert same_answer(pred, truth, rule="mint_theoremqa", answer_type=kind) is strict
    assert same_answer(pred, truth, rule="theoremqa", answer_type=kind) is lenient


def test_theoremqa_truth_that_is_not_of_its_type_matches_nothing() -> None:
    """Comparing two model answers (majority vote) must not raise on a non-number."""
    assert not same_answer("5", "x + 1", rule="theoremqa", answer_type="float")
    assert not same_answer("[1, 2]", "maybe", rule="theoremqa", answer_type="list of integer")


def test_same_gold() -> None:
    assert same_gold("Bob, Ann", ["Ann", "Bob"])
    assert same_gold("2\\sqrt{3}", ["\\sqrt{12}"])
    assert not same_gold("Bob", ["Ann", "Bob"])
    assert not same_gold(None, ["1"])


# ----------------------------------------------------------------------------- the tiny world


@pytest.mark.parametrize("task", ["Math_CoT"])
def test_tiny_world_labels_unchanged(task: str) -> None:
    """Every correct and mistaken scripted action of 200 tiny-world problems gets the label the
    hand-written checker gave it (their answers are integers, fractions and short text)."""
    rng = random.Random(f"checker|{task}")
    pairs = []
    for row in generate(200, seed=11, tasks={task: 1.0}).iter_rows(named=True):
        actions = [render_solution(row, mistake=m, rng=rng) for m in (None, *MISTAKES)]
        for action in actions:
            if action is None:
                continue
            stated = extract_answer(action, "Math_CoT")
            if stated is not None:
                pairs.append((stated, str(row["answer"])))
    assert len(pairs) >= 200
    changed = [(p, t) for p, t in pairs if same_answer(p, t) != answers_match(p, t)]
    assert changed == []
    assert any(answers_match(p, t) for p, t in pairs) and not all(answers_match(p, t) for p, t in pairs)


def test_plain_numbers_take_the_fast_path() -> None:
    """Two numbers never reach math-verify: 2000 integer checks take well under a second."""
    same_answer("2\\sqrt{3}", "\\sqrt{12}")  # math-verify imported and warm
    start = time.perf_counter()
    for i in range(2000):
        same_answer(str(i), str(i + 1))
    assert time.perf_counter() - start < 1.0


# a PoT program that computes with sympy prints sympy's syntax; the reference is LaTeX
SYMPY_PRINTED = [
    ("sqrt(51)", "\\sqrt{51}", True),
    ("11*sqrt(2)", "11\\sqrt{2}", True),
    ("11*sqrt(2)", "12\\sqrt{2}", False),
    ("2*pi/3", "\\frac{2\\pi}{3}", True),
    ("2*pi/3", "\\frac{\\pi}{3}", False),
    ("x**2 + 2*x + 1", "(x+1)^2", True),
    ("x**2 + 2*x + 1", "(x-1)^2", False),
    ("2**(1/3)", "\\sqrt[3]{2}", True),
    ("Interval.open(-2, 1)", "(-2,1)", True),
    ("Interval.Ropen(0, oo)", "[0,\\infty)", True),
    ("{1 - sqrt(19), 1 + sqrt(19)}", "1\\pm\\sqrt{19}", True),
    ("{1 - sqrt(19), 1 + sqrt(19)}", "1\\pm\\sqrt{17}", False),
    ("Rational(1, 3)", "\\frac13", True),
]


@pytest.mark.parametrize(("pred", "truth", "ok"), SYMPY_PRINTED)
def test_sympy_printed_answers_read_as_latex(pred: str, truth: str, ok: bool) -> None:
    assert same_answer(pred, truth, rule="math") is ok
    assert same_answer(pred, truth, rule="env") is ok


def test_sympy_text_is_rewritten_never_evaluated(tmp_path) -> None:
    from preftree.answers.sympy_text import sympy_as_latex

    assert sympy_as_latex("42") is None and sympy_as_latex("\\sqrt{2}") is None and sympy_as_latex("Omar") is None
    assert sympy_as_latex("sqrt(2") is None  # unbalanced: left to the other checks
    marker = tmp_path / "ran"
    hostile = f"sqrt(__import__('os').system('touch {marker}'))"
    assert sympy_as_latex(hostile) is not None  # rewritten as text...
    assert not same_answer(hostile, "\\sqrt{2}", rule="math")
    assert not marker.exists()  # ...and never run
