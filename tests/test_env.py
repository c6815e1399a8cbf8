"""The actor/critic environment: extraction, answer matching, and real sandboxed verdicts."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from preftree import env
from preftree.answers.check import same_answer
from preftree.answers.extract import extract_answer, extract_code
from preftree.answers.match import answers_match
from preftree.compose import from_conf
from preftree.config.sandbox import SandboxParams
from preftree.env import build_program, carry_over, evaluate_actions
from preftree.observation import OUT_LIMIT, Observation, syntax_ok
from preftree.sources.synthetic.problems import MISTAKES, generate, render_solution

from .conftest import file_source

HUMANEVAL = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "humaneval" / "HumanEval.jsonl.gz"
LIMITS = from_conf(SandboxParams, "sandbox", timeout_s=3.0)
WORKERS = 8


def fence(code: str) -> str:
    return f"Step 1: Do it.\n```python\n{code}\n```"


def record(task: str, answer: str = "", tests: list[str] | None = None, problem: str = "") -> dict[str, Any]:
    return {"task": task, "answer": answer, "tests": tests or [], "problem": problem, "reference": "{}"}


# ----------------------------------------------------------------------------- extraction


def test_extract_code_joins_python_py_and_bare_fences_in_order() -> None:
    action = (
        "Step 1: first\n```python\nx = 1\n```\nStep 2: then\n```py\ny = x + 1\n```\n"
        "```bash\nls -la\n```\n```text\nnot code\n```\n```\nprint(y)\n```\n"
        "- indented:\n  ```python\n  z = 3\n  ```\n"
    )
    assert extract_code(action) == "x = 1\ny = x + 1\nprint(y)\nz = 3"


def test_extract_code_without_fence_and_unclosed_fence() -> None:
    assert extract_code("Step 1: think.\nAnswer: 5") == ""
    assert extract_code("inline `x = 1` is not a block") == ""
    assert extract_code("```python\nx = 1\nprint(x)") == "x = 1\nprint(x)"  # cut-off generation


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("Step 1: ...\n\nAnswer:\n\\boxed{16}", "16"),
        ("first \\boxed{3} then \\boxed{\\frac{1}{\\sqrt{2}}}", "\\frac{1}{\\sqrt{2}}"),
        ("\\boxed{\\left(2, \\frac{\\pi}{4}\\right)}", "\\left(2, \\frac{\\pi}{4}\\right)"),
        ("So the result follows.\nAnswer: 42.", "42"),
        ("The answer is 7 apples.", "7 apples"),
        ("Answer:\n12", "12"),
        ("Answer: 3\nmore text\nThe final answer is $5$.", "$5$"),
        ("no final answer here", None),
    ],
)
def test_extract_answer_math(action: str, expected: str | None) -> None:
    assert extract_answer(action, "Math_CoT") == expected
    assert extract_answer(action, "Math_PoT") == expected


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("Step 1: ...\n\nAnswer:\nE", "E"),
        ("Answer: B", "B"),
        ("Answer: (B)", "B"),
        ("Answer: B)", "B"),
        ("Answer: (B) Ana", "B"),
        ("Answer: B. Ana", "B"),
        ("Answer: **C**", "C"),
        ("Answer: b", "B"),
        ("Answer: Ana", None),  # a name starting with a letter is not an option letter
        ("I think it is B", None),
    ],
)
def test_extract_answer_logic(action: str, expected: str | None) -> None:
    assert extract_answer(action, "Logic") == expected


def test_extract_answer_coding_and_unknown_task() -> None:
    assert extract_answer(fence("print(1)"), "Coding") is None
    with pytest.raises(ValueError, match="unknown task"):
        extract_answer("x", "Poetry")


def test_syntax_ok() -> None:
    assert syntax_ok("x = 1\nprint(x)")
    assert syntax_ok("")
    assert not syntax_ok("x = (1")
    assert not syntax_ok("def f():\nreturn 1")
    assert not syntax_ok("a = 1\x00")


# ----------------------------------------------------------------------------- answers_match / same_answer


@pytest.mark.parametrize(
    ("pred", "truth", "expected"),
    [
        ("1,234", "1234", True),
        ("5.0", "5", True),
        ("0.50", "0.5", True),
        ("3/4", "0.75", True),
        ("\\frac{3}{4}", "0.75", True),
        ("\\dfrac{3}{4}", "\\frac34", True),
        ("-\\frac{3}{4}", "-0.75", True),
        ("2\\frac{1}{2}", "2.5", True),
        ("50%", "50", True),
        ("50\\%", "0.5", True),
        ("$5", "5", True),
        ("\\$1,000.50", "1000.5", True),
        ("x = 5", "5", True),
        ("5 apples", "5", True),
        ("12 km/h", "12", True),
        ("\\boxed{\\frac{1}{2}}", "0.5", True),
        ("0.33333", "1/3", True),
        ("1e3", "1000", True),
        ("90^{\\circ}", "90", True),
        ("np.float64(3.5)", "3.5", True),
        ("(1, 2)", "(1,2.0)", True),
        ("\\left( 1, 2 \\right)", "(1,2)", True),
        ("\\text{Monday}.", "monday", True),
        ("\\sqrt2", "\\sqrt{2}", True),
        ("y = 2x + 3", "y=2x+3", True),
        ("The answer is 42", "42", True),
        # negatives
        ("6", "5", False),
        ("-5", "5", False),
        ("1001", "1000", False),
        ("0.3", "1/3", False),
        ("1,2", "12", False),  # not a thousands separator
        ("3 pi", "3", False),
        ("5x", "5", False),
        ("(1,2)", "[1,2]", False),
        ("(1,2)", "(1,3)", False),
        ("\\sqrt{3}", "\\sqrt{2}", False),
        ("", "0", False),
        ("12", "", False),
        ("Tuesday", "Monday", False),
    ],
)
def test_answers_match(pred: str, truth: str, expected: bool) -> None:
    assert answers_match(pred, truth) is expected
    assert same_answer(pred, truth) is expected  # the checker the environment judges with agrees


def test_answers_match_tolerance_is_relative() -> None:
    assert answers_match("100000", "100001")  # 1e-5 relative
    assert not answers_match("100000", "100001", rel_tol=1e-6)
    assert answers_match("0", "0.0")


# ----------------------------------------------------------------------------- the real thing


def _synthetic(task: str, n: int = 20, seed: int = 7) -> list[dict[str, Any]]:
    return list(generate(n, seed=seed, tasks={task: 1.0}).iter_rows(named=True))


def _mistaken(row: dict[str, Any], rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for mistake in MISTAKES:
        action = render_solution(row, mistake=mistake, rng=rng)
        if action is not None:
            out.append((mistake, action))
    return out


def _check_synthetic(task: str) -> list[tuple[dict[str, Any], list[Observation], int]]:
    """For 20 problems: [correct, *mistakes] evaluated in one batch; returns (row, observations, n_wrong)."""
    rng = random.Random(f"test_env|{task}")
    out = []
    n_mistakes = 0
    for row in _synthetic(task):
        correct = render_solution(row, mistake=None, rng=rng)
        wrong = _mistaken(row, rng)
        n_mistakes += len(wrong)
        obs = evaluate_actions(row, [correct, *(a for _, a in wrong)], limits=LIMITS, workers=WORKERS)
        assert len(obs) == 1 + len(wrong)
        assert obs[0].correct, (row["problem"], correct, obs[0])
        for (mistake, action), o in zip(wrong, obs[1:], strict=True):
            assert not o.correct, (mistake, row["problem"], action, o)
            assert o.text.endswith("Your answer is wrong.")
        out.append((row, obs, len(wrong)))
    assert n_mistakes >= 20  # the mistakes really were exercised
    return out


def test_math_pot_synthetic_correct_and_mistakes() -> None:
    for row, obs, _ in _check_synthetic("Math_PoT"):
        good = obs[0]
        assert (good.mode, good.status, good.syntax_ok) == ("pot", "ok", True)
        assert good.answer == row["answer"]
        assert good.text == f"Out: {row['answer']}\nYour answer is correct."
        for o in obs[1:]:
            assert o.mode == "pot"
            assert o.text.startswith("Out: ") and o.text.endswith("\nYour answer is wrong.")


def test_math_cot_synthetic_correct_and_mistakes() -> None:
    for row, obs, _ in _check_synthetic("Math_CoT"):
        assert obs[0].text == "Your answer is correct."
        assert (obs[0].mode, obs[0].status, obs[0].code, obs[0].answer) == ("cot", "not_run", "", row["answer"])
        assert all(o.text == "Your answer is wrong." and o.mode == "cot" for o in obs[1:])


def test_logic_synthetic_correct_and_mistakes() -> None:
    for row, obs, _ in _check_synthetic("Logic"):
        assert obs[0].text == "Your answer is correct."
        assert obs[0].answer == row["answer"]
        assert all(o.text == "Your answer is wrong." and o.mode == "cot" for o in obs[1:])
        assert all(o.answer is not None and o.answer != row["answer"] for o in obs[1:])


def test_coding_synthetic_correct_and_mistakes() -> None:
    for row, obs, _ in _check_synthetic("Coding"):
        assert obs[0].text == "Out: [Executed Successfully with No Output]\nYour answer is correct."
        assert (obs[0].mode, obs[0].status) == ("pot", "ok")
        for o in obs[1:]:
            assert o.mode == "pot" and o.text.startswith("Out: ")
            shown = [t for t in row["tests"] if t.strip() in o.text]
            assert len(shown) <= 1, o.text  # at most the failing assert line of the hidden tests
            if "AssertionError" in o.text:
                assert len(shown) == 1, o.text


def test_coding_shows_first_failing_assert_only() -> None:
    tests = ["assert f(1) == 1", "assert f(2) == 5", "assert f(3) == 99"]
    (obs,) = evaluate_actions(record("Coding", tests=tests), [fence("def f(x):\n    return x")], limits=LIMITS)
    assert not obs.correct and obs.status == "error"
    assert "assert f(2) == 5" in obs.text and "AssertionError" in obs.text
    assert "f(3)" not in obs.text
    assert obs.text.startswith("Out: ") and obs.text.endswith("\nYour answer is wrong.")


def test_coding_without_code_or_tests_is_wrong() -> None:
    rec = record("Coding", tests=["assert f() == 1"])
    (obs,) = evaluate_actions(rec, ["def f(): return 1  (no fence)"], limits=LIMITS)
    assert (obs.correct, obs.status, obs.text) == (False, "no_code", "Your answer is wrong.")
    (obs,) = evaluate_actions(record("Coding", tests=[]), [fence("def f():\n    return 1")], limits=LIMITS)
    assert not obs.correct


def test_coding_that_exits_before_the_tests_is_wrong() -> None:
    rec = record("Coding", tests=["assert f() == 1"])
    (obs,) = evaluate_actions(rec, [fence("import sys\ndef f():\n    return 2\nsys.exit(0)")], limits=LIMITS)
    assert not obs.correct
    assert obs.text.startswith("Out: ") and obs.text.endswith("\nYour answer is wrong.")


def test_timeout_is_reported_and_wrong() -> None:
    limits = from_conf(SandboxParams, "sandbox", timeout_s=1.0)
    (obs,) = evaluate_actions(record("Math_PoT", "5"), [fence("while True:\n    pass")], limits=limits)
    assert obs.status == "timeout" and not obs.correct
    assert obs.text == "Out: TimeoutError: execution exceeded 1.0 s\nYour answer is wrong."
    rec = record("Coding", tests=["assert f() == 1"])
    (obs,) = evaluate_actions(rec, [fence("def f():\n    while True:\n        pass")], limits=limits)
    assert obs.status == "timeout" and not obs.correct
    assert obs.text == "Out: TimeoutError: execution exceeded 1.0 s\nYour answer is wrong."


def test_prior_code_replay_makes_earlier_state_visible() -> None:
    rec = record("Math_PoT", "42")
    first = fence("x = 41\nprint('from step one')")
    (obs1,) = evaluate_actions(rec, [first], limits=LIMITS)
    assert obs1.text == "Out: from step one\nYour answer is wrong."
    prior = carry_over((), obs1)
    assert prior == ("x = 41\nprint('from step one')",)
    action = fence("def g(v):\n    return v + 1\nprint(g(x))")
    (alone,) = evaluate_actions(rec, [action], limits=LIMITS)
    assert not alone.correct and "NameError" in alone.text and alone.status == "error"
    assert carry_over(prior, alone) == prior  # a failed cell does not change the notebook state
    (obs2,) = evaluate_actions(rec, [action], prior_code=prior, limits=LIMITS)
    assert obs2.correct and obs2.text == "Out: 42\nYour answer is correct."  # earlier stdout suppressed
    prior = carry_over(prior, obs2)
    (obs3,) = evaluate_actions(rec, [fence("print(g(x) - 1 + 1)")], prior_code=prior, limits=LIMITS)
    assert obs3.correct  # functions defined earlier exist too


def test_syntax_error_is_never_executed(monkeypatch: pytest.MonkeyPatch) -> None:
    from preftree import sandbox

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the sandbox must not be called")

    monkeypatch.setattr(sandbox, "run_many", boom)
    monkeypatch.setattr(sandbox, "run_tests", boom)
    monkeypatch.setattr(sandbox, "run", boom)
    bad = fence("print('ran')\nx = (1 +")
    for rec in (record("Math_PoT", "1"), record("Coding", tests=["assert x == 1"])):
        (obs,) = evaluate_actions(rec, [bad], limits=LIMITS)
        assert (obs.correct, obs.syntax_ok, obs.status, obs.mode) == (False, False, "syntax_error", "pot")
        assert obs.text.startswith("Out: ") and "SyntaxError" in obs.text
        assert obs.text.endswith("\nYour answer is wrong.")
        assert "ran\n" not in obs.text


def test_pot_error_shows_traceback_tail() -> None:
    (obs,) = evaluate_actions(record("Math_PoT", "1"), [fence("print('partial')\ny = 1 / 0")], limits=LIMITS)
    assert obs.status == "error" and not obs.correct and obs.answer is None
    assert obs.text.startswith("Out: partial\nTraceback (most recent call last):\n")
    assert 'File "<cell-1>", line 2' in obs.text and "y = 1 / 0" in obs.text
    assert obs.text.endswith("ZeroDivisionError: division by zero\nYour answer is wrong.")


def test_pot_output_is_capped() -> None:
    (obs,) = evaluate_actions(record("Math_PoT", "1"), [fence("print('a' * 5000)")], limits=LIMITS)
    assert obs.text == "Out: " + "a" * OUT_LIMIT + "\n[Output Truncated]\nYour answer is wrong."


def test_pot_answer_forms() -> None:
    rec = record("Math_PoT", "5")
    actions = [
        fence("x = 5"),  # no output, nothing stated -> wrong
        fence("x = 5") + "\nAnswer: \\boxed{5}",  # no output -> the answer after the fence
        fence("x = 2 + 3\nx"),  # notebook display of a trailing expression
        fence("print('total:')\nprint(5.0)\nprint()"),  # last non-empty line
        "Step 1: 2 + 3 = 5.\nAnswer: \\boxed{5}",  # no code -> judged like CoT
    ]
    obs = evaluate_actions(rec, actions, limits=LIMITS, workers=4)
    assert [o.correct for o in obs] == [False, True, True, True, True]
    assert obs[0].text == "Out: [Executed Successfully with No Output]\nYour answer is wrong."
    assert obs[2].text == "Out: 5\nYour answer is correct."
    assert [o.mode for o in obs] == ["pot", "pot", "pot", "pot", "cot"]
    assert obs[4].text == "Your answer is correct."


def test_logic_option_text_and_formats() -> None:
    problem = "Question:\nWho?\n\nOptions:\nA. Ana\nB. Bob\nC. Cid"
    rec = record("Logic", "B", problem=problem)
    obs = evaluate_actions(
        rec, ["Answer: (B) Bob", "Answer: B)", "Answer: Bob", "Answer: Ana", "Answer: C"], limits=LIMITS
    )
    assert [o.correct for o in obs] == [True, True, True, False, False]
    assert [o.answer for o in obs] == ["B", "B", "B", "A", "C"]
    # an option whose text starts like a letter ("A scientist ...") is read as that option, not as "A"
    problem = "Which is the flaw?\nA. It ignores costs.\nB. A scientist is cited as an authority.\nC. None."
    rec = record("Logic", "B", problem=problem)
    obs = evaluate_actions(rec, ["Answer: A scientist is cited as an authority.", "Answer: A"], limits=LIMITS)
    assert [(o.answer, o.correct) for o in obs] == [("B", True), ("A", False)]


def test_build_program_is_a_plain_python_program() -> None:
    program = build_program("print(x)", ["x = 1", "x = (", ""])  # a non-compiling prior cell is skipped
    compile(program, "<driver>", "exec")
    assert "x = (" not in program


def _run_plain(program: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``program`` as ``main.py`` under the host's python3, outside the sandbox (a unit test of the text)."""
    path = tmp_path / "main.py"
    path.write_text(program, encoding="utf-8")
    return subprocess.run([sys.executable, "-s", "-P", str(path)], capture_output=True, text=True, timeout=60)


def test_cell_driver_replays_prior_cells_and_displays_the_last_expression(tmp_path: Path) -> None:
    assert env.PACKAGE_DATA == ("programs/cell_driver.py",)
    program = build_program("y = x + 1\ny * 10", ["x = 1", "print('hidden')", "raise ValueError('skipped')"])
    assert (
        program.splitlines()[0]
        == "_PRIOR, _NEW = ['x = 1', \"print('hidden')\", \"raise ValueError('skipped')\"], 'y = x + 1\\ny * 10'"
    )
    done = _run_plain(program, tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "20\n", "")


def test_cell_driver_keeps_its_line_numbers(tmp_path: Path) -> None:
    """Tracebacks shown to the model name the driver's own lines when a BaseException escapes a cell:
    they are pinned (the line numbers of the program text before it became a file)."""
    done = _run_plain(build_program("class E(BaseException):\n    pass\nraise E('x')"), tmp_path)
    assert 'main.py", line 30, in <module>\n    exec(_code, _ns)\n  File "<cell-1>", line 3' in done.stderr
    done = _run_plain(build_program("import sys\nprint(sys._getframe().f_back.f_lineno)\n1 / 0"), tmp_path)
    assert done.returncode == 1 and done.stdout == "30\n"
    assert done.stderr.startswith('Traceback (most recent call last):\n  File "<cell-1>", line 3, in <module>')


def test_humaneval_canonical_solutions_pass() -> None:
    if not HUMANEVAL.exists():
        pytest.skip(f"missing {HUMANEVAL}")
    from preftree.sources.load import load_source

    frame, rejected = load_source("humaneval", file_source(adapter="humaneval", path=str(HUMANEVAL), limit=20))
    assert rejected.height == 0 and frame.height == 20
    rows = list(frame.iter_rows(named=True))
    for row in rows:
        code = json.loads(row["reference"])["code"]
        (obs,) = evaluate_actions(row, [f"```python\n{code}\n```"], limits=LIMITS)
        assert obs.correct, (row["source_row"], obs.text)
        assert obs.text.endswith("\nYour answer is correct.")
    stub = rows[0]["problem"] + "    return None\n"  # the prompt with a trivial body fails the tests
    (obs,) = evaluate_actions(rows[0], [f"```python\n{stub}\n```"], limits=LIMITS)
    assert not obs.correct and "AssertionError" in obs.text
