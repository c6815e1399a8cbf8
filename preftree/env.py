"""The environment of the actor/critic loop: parse an action, execute it, judge it, say what happened.

One call, ``evaluate_actions(record, actions, prior_code=..., limits=...)``, judges many candidate
actions for one instruction record (``preftree.schema.INSTRUCTION_SCHEMA`` as a dict) and returns one
``Observation`` per action. Per task:

* ``Math_PoT``: an action with code (```python / ```py / bare ``` fences) is *executed* (mode ``pot``):
  the answer is the last non-empty stdout line (or, when the code printed nothing, a ``\\boxed{}`` /
  "Answer:" in the text after the last fence). Without code it is judged like ``Math_CoT``.
* ``Math_CoT``: never executed (mode ``cot``); the answer is the last ``\\boxed{...}`` or the text after
  a final "Answer:" / "The answer is".
* ``Coding`` (mode ``pot``; an action without code is wrong, status ``no_code``), judged one of three
  ways, by what the record holds:

  - **snippet tests** (``record["tests"]`` are Python statements): the code must pass every test
    (``sandbox.run_tests``, which only reports a pass when the tests really ran to the end).
  - **stdin/stdout cases** (every test is a ``schema.stdio_test`` string, see there): the code runs
    as a ``__main__`` script once per case inside one sandboxed process (``sandbox_stdio.run_stdio``), its
    output compared with the expected one token by token (numbers within 1e-6). A list mixing
    snippets and stdio cases is a malformed record: ``ValueError``.
  - **answer-judged** (no tests and a non-empty ``record["answer"]``; WikiTableQuestions): executed like
    ``Math_PoT`` (``prior_code`` replayed), after the reference's ``setup`` program when the reference
    is a table (``{"kind": "table", "setup": ...}``, which builds the SQLite table ``data_table`` in the
    variable ``conn``; the setup is replayed silently as the first prior cell). The answer is the
    final answer stated after the last code block (``<solution>...</solution>``, ``\\boxed{}``,
    "Answer:"), else the last non-empty stdout line (a printed ``fetchall()`` list of tuples reads as
    its values joined by ", "); no answer when the run failed. It must match (``answers.match``) the
    gold answers joined with ", " (the reference's ``answers`` list, else ``record["answer"]`` as it
    stands); several gold answers may also come in any order. An action without code is judged on
    its stated answer alone (mode ``cot``, status ``not_run``, like ``Math_PoT``).

  A Coding record with neither tests nor an answer is always wrong.
* ``Logic``: the option letter after "Answer:" against ``record["answer"]`` (mode ``cot``); when the
  ground truth is not an option letter (HotpotQA, StrategyQA), the text after the last "Answer:"
  against it, both normalised as HotpotQA's exact match does (``answers.match.normalize_text_answer``).

Observation text (UltraInteract's format, as in the released data)::

    executed code:   "Out: <stdout, or stdout + the traceback's last lines>\\nYour answer is wrong."
    CoT / Logic:     "Your answer is correct."

The ``Out:`` part is capped at ``OUT_LIMIT`` (2,000) characters followed by ``"\\n[Output Truncated]"``;
a run that printed nothing shows ``[Executed Successfully with No Output]``; a timeout / memory /
output limit / kill is named (``Out: TimeoutError: execution exceeded 5.0 s``). Code that does not
compile is never executed: ``syntax_ok=False``, status ``syntax_error``, wrong, and the Out line shows
the compiler's message. For Coding with snippet tests the Out line is the solution's own stdout, or
the end of the traceback, which names the first failing assert line and nothing else of the hidden
tests. With stdio cases it is ``Passed all N test cases.``, or it names the first failing case and
shows that case only::

    Wrong answer on test case 2 of 5.       (or "Runtime error on ...", then the traceback; or the
    Input:                                   limit message, e.g. "TimeoutError: execution exceeded
    <stdin>                                  5.0 s on test case 2 of 5", when a limit ended the run)
    Expected output:
    <expected stdout>
    Your output:
    <what the solution printed>

each block capped at ``CASE_SHOW`` (300) characters (then `` ... [truncated]``).

Statuses: the sandbox's (``ok``, ``error``, ``timeout``, ``memory``, ``output_limit``, ``killed``), plus
``syntax_error``, ``failed`` (Coding: exited cleanly but the tests did not run to the end, or a stdio
case printed a wrong answer), ``no_code`` (Coding action without code) and ``not_run`` (CoT / Logic /
PoT-without-code / answer-judged Coding without code).

State across the turns of one trajectory (the "stateful Jupyter notebook" the PoT prompt promises)
is implemented by **replay**: ``prior_code`` holds the code of the trajectory's earlier actions that
executed without error (``carry_over`` keeps that list); each is re-run first, in order, in the same
namespace with ``sys.stdout`` pointed at a null stream (restored before the new code runs), so names
defined earlier exist. Why replay rather than a live kernel: every execution stays one fresh,
sandboxed, resource-limited process (no long-lived interpreter to isolate, leak or crash, and the
candidate actions of one turn cannot see each other's side effects); a verdict depends only on
(prior_code, code), so it is reproducible. The cost: earlier code re-runs every turn (it shares the
new code's time/memory limits) and a replayed cell that is not deterministic (randomness, clock) may
not reproduce the exact earlier state. A replayed cell that raises is skipped silently, as are
prior cells that do not compile. Like a notebook, a cell whose last statement is a bare expression
shows its ``repr`` (when not None) on stdout; replayed cells show nothing.

Where the parts live: answers are read and compared by ``preftree.answers``; the observation text by
``preftree.observation``; the Coding judges by ``preftree.env_code``; the replay program is
``preftree/programs/cell_driver.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from preftree import sandbox
from preftree.answers.check import same_answer
from preftree.answers.extract import extract_answer, extract_code, last_line, logic_text_answer, text_after_code
from preftree.answers.match import is_option_letter, logic_answer, normalize_text_answer, option_letter
from preftree.config.sandbox import SandboxParams
from preftree.env_code import answer_observation, coding_mode, judge_with_tests, stated_observation, table_setup
from preftree.observation import Observation, out_text, syntax_error_observation, syntax_ok, verdict_text
from preftree.sandbox_exec import ExecResult

__all__ = ["build_program", "carry_over", "evaluate_actions"]

PACKAGE_DATA: tuple[str, ...] = ("programs/cell_driver.py",)  # the notebook replay program, read as text


def _cot(record: Mapping[str, Any], action: str, task: str) -> Observation:
    if task == "Logic" and not is_option_letter(str(record["answer"])):
        # free-text answers (HotpotQA spans, StrategyQA yes/no): exact match after normalisation
        answer = logic_text_answer(action)
        truth = normalize_text_answer(str(record["answer"]))
        correct = answer is not None and bool(truth) and normalize_text_answer(answer) == truth
    elif task == "Logic":
        answer = logic_answer(action, str(record.get("problem") or ""))
        correct = answer is not None and answer == option_letter(str(record["answer"]))
    else:
        answer = extract_answer(action, task)
        correct = answer is not None and same_answer(answer, str(record["answer"]))
    return Observation(verdict_text(None, correct), correct, "cot", "", answer, "not_run", True)


def evaluate_actions(
    record: Mapping[str, Any],
    actions: Sequence[str],
    *,
    prior_code: Sequence[str] = (),
    limits: SandboxParams,
    workers: int = 1,
) -> list[Observation]:
    """Judge candidate ``actions`` for one instruction ``record``; one Observation per action, in order.

    ``prior_code``: Math_PoT and answer-judged Coding only, the code of the trajectory's earlier
    actions that ran without error (see ``carry_over``); replayed silently before each new action's
    code (after a table reference's setup). Sandbox jobs run through ``sandbox.run_many`` /
    ``sandbox.run_tests`` / ``sandbox_stdio.run_stdio`` on up to ``workers`` processes at once. Raises
    ``ValueError`` for an unknown task or a Coding record whose tests mix snippets and stdio cases.
    """
    task = str(record["task"])
    if task not in ("Math_CoT", "Math_PoT", "Coding", "Logic"):
        raise ValueError(f"unknown task {task!r}")
    mode = coding_mode(record) if task == "Coding" else None
    replay = list(prior_code)
    if mode == "answer":
        setup = table_setup(record)
        replay = [setup, *prior_code] if setup.strip() else replay
    results: list[Observation | None] = [None] * len(actions)
    cell = f"<cell-{len([c for c in replay if c.strip() and syntax_ok(c)]) + 1}>"
    pot_jobs: list[tuple[int, str]] = []
    coding_jobs: list[tuple[int, str]] = []
    for i, action in enumerate(actions):
        code = extract_code(action) if task in ("Math_PoT", "Coding") else ""
        if task in ("Math_CoT", "Logic") or (task == "Math_PoT" and not code.strip()):
            results[i] = _cot(record, action, task)
        elif task == "Coding" and not code.strip():
            if mode == "answer":  # a final-answer turn: judged on the stated answer, like Math_PoT
                results[i] = stated_observation(record, action)
            else:
                results[i] = Observation(verdict_text(None, False), False, "pot", "", None, "no_code", True)
        elif not syntax_ok(code):
            name = cell if task == "Math_PoT" or mode == "answer" else "<solution>"
            results[i] = syntax_error_observation(code, name)
        elif task == "Math_PoT" or mode == "answer":
            pot_jobs.append((i, code))
        else:
            coding_jobs.append((i, code))

    if pot_jobs:
        jobs = [sandbox.Job(code=build_program(code, replay), limits=limits) for _, code in pot_jobs]
        for (i, code), result in zip(pot_jobs, sandbox.run_many(jobs, workers), strict=True):
            if mode == "answer":
                results[i] = answer_observation(record, actions[i], code, result, limits)
            else:
                results[i] = _pot_observation(record, actions[i], code, result, limits)

    if coding_jobs:
        assert mode is not None
        for i, observation in judge_with_tests(record, mode, coding_jobs, limits, workers):
            results[i] = observation
    return [r for r in results if r is not None]


def _pot_observation(
    record: Mapping[str, Any], action: str, code: str, result: ExecResult, limits: SandboxParams
) -> Observation:
    answer: str | None = None
    if result.status == "ok":
        answer = last_line(result.stdout)
        if answer is None:
            answer = extract_answer(text_after_code(action), "Math_PoT")
    correct = answer is not None and same_answer(answer, str(record["answer"]))
    return Observation(verdict_text(out_text(result, limits), correct), correct, "pot", code, answer, result.status,
                       True)  # fmt: skip


# ----------------------------------------------------------------------------- the notebook replay


@functools.cache
def _cell_driver() -> str:
    return (Path(__file__).parent / PACKAGE_DATA[0]).read_text(encoding="utf-8")


def build_program(code: str, prior_code: Sequence[str] = ()) -> str:
    """The program the sandbox runs for a PoT action: replay ``prior_code`` silently, then ``code``.

    Cells run in one fresh ``__main__`` namespace; tracebacks name them ``<cell-k>`` and show their
    source lines; a trailing bare expression of the new cell prints its repr (notebook display).
    The program is the line ``_PRIOR, _NEW = [<prior cells>], '<code>'`` followed by
    ``programs/cell_driver.py``.
    """
    prior = [c for c in prior_code if c.strip() and syntax_ok(c)]
    return f"_PRIOR, _NEW = {prior!r}, {code!r}\n{_cell_driver()}"


def carry_over(prior_code: Sequence[str], observation: Observation) -> tuple[str, ...]:
    """``prior_code`` for the next turn: the executed code of ``observation`` is appended when it ran
    without error (mode ``pot``, status ``ok``); otherwise the notebook state is unchanged."""
    if observation.mode == "pot" and observation.status == "ok" and observation.code.strip():
        return (*prior_code, observation.code)
    return tuple(prior_code)
