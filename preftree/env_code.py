"""Coding records for the environment (``preftree.env``): which of the three judges applies, and the
observations the judges give (the contract is in ``preftree.env``'s docstring).

* snippet tests: ``sandbox.run_tests``; wrong unless the tests really ran to the end.
* stdin/stdout cases: ``sandbox_stdio.run_stdio``; the first failing case is shown, each block capped
  at ``CASE_SHOW`` characters.
* answer-judged (WikiTableQuestions): the program runs like Math_PoT (``env`` runs it); its stated or
  printed answer must match the gold answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from preftree import sandbox, sandbox_stdio
from preftree.answers.check import same_gold
from preftree.answers.extract import output_answer, stated_answer, text_after_code
from preftree.config.sandbox import SandboxParams
from preftree.observation import (
    Observation,
    limit_message,
    out_text,
    tests_outcome,
    traceback_tail,
    verdict_text,
)
from preftree.sandbox_exec import ExecResult
from preftree.schema import parse_stdio_test

CASE_SHOW = 300  # characters of a stdio case's input / expected / actual output shown in the Out: text

CodingMode = Literal["snippets", "stdio", "answer"]


def coding_mode(record: Mapping[str, Any]) -> CodingMode:
    """How a Coding record is judged (see ``preftree.env``); ValueError for mixed tests."""
    tests = [str(t) for t in (record.get("tests") or [])]
    n_stdio = sum(parse_stdio_test(t) is not None for t in tests)
    if n_stdio and n_stdio != len(tests):
        raise ValueError(
            f"Coding record {record.get('id')!r}: its tests mix {n_stdio} stdio case(s) with "
            f"{len(tests) - n_stdio} Python snippet(s); a record must use one kind"
        )
    if n_stdio:
        return "stdio"
    if not tests and str(record.get("answer") or "").strip():
        return "answer"
    return "snippets"


def _reference(record: Mapping[str, Any]) -> dict[str, Any]:
    try:
        ref = json.loads(str(record.get("reference") or "{}"))
    except ValueError:
        return {}
    return ref if isinstance(ref, dict) else {}


def table_setup(record: Mapping[str, Any]) -> str:
    """The setup program of a ``{"kind": "table"}`` reference ("" for any other reference)."""
    ref = _reference(record)
    setup = ref.get("setup") if ref.get("kind") == "table" else None
    return setup if isinstance(setup, str) else ""


def gold_answers(record: Mapping[str, Any]) -> list[str]:
    """The reference's ``answers`` list when it has one, else ``[record["answer"]]``."""
    golds = _reference(record).get("answers")
    if isinstance(golds, list) and golds and all(isinstance(g, str) and g.strip() for g in golds):
        return [g.strip() for g in golds]
    return [str(record.get("answer") or "").strip()]


# ----------------------------------------------------------------------------- answer-judged


def stated_observation(record: Mapping[str, Any], action: str) -> Observation:
    """An answer-judged action without code: a final-answer turn, judged on the stated answer alone."""
    answer = stated_answer(action)
    correct = answer is not None and same_gold(answer, gold_answers(record))
    return Observation(verdict_text(None, correct), correct, "cot", "", answer, "not_run", True)


def answer_observation(
    record: Mapping[str, Any], action: str, code: str, result: ExecResult, limits: SandboxParams
) -> Observation:
    """An answer-judged action's run: the answer stated after its last code block, else the last
    stdout line; none when the run failed."""
    answer: str | None = None
    if result.status == "ok":
        answer = stated_answer(text_after_code(action)) or output_answer(result.stdout)
    correct = answer is not None and same_gold(answer, gold_answers(record))
    return Observation(verdict_text(out_text(result, limits), correct), correct, "pot", code, answer, result.status,
                       True)  # fmt: skip


# ----------------------------------------------------------------------------- tests and stdio cases


def judge_with_tests(
    record: Mapping[str, Any],
    mode: CodingMode,
    jobs: Sequence[tuple[int, str]],
    limits: SandboxParams,
    workers: int,
) -> list[tuple[int, Observation]]:
    """Run every (index, code) job against the record's stdio cases (``mode == "stdio"``) or snippet
    tests, on up to ``workers`` sandboxes at once; (index, Observation) per job, in order."""
    pool_size = max(1, min(workers, len(jobs)))
    if mode == "stdio":
        cases = [c for c in (parse_stdio_test(str(t)) for t in record["tests"]) if c is not None]
        with ThreadPoolExecutor(max_workers=pool_size) as pool:
            runs = list(pool.map(lambda c: sandbox_stdio.run_stdio(c, cases, limits=limits), [c for _, c in jobs]))
        return [(i, stdio_observation(code, cases, run, limits)) for (i, code), run in zip(jobs, runs, strict=True)]
    tests = [str(t) for t in (record.get("tests") or [])]

    def one(code: str) -> tuple[bool, ExecResult]:
        return sandbox.run_tests(code, tests, limits=limits)

    with ThreadPoolExecutor(max_workers=pool_size) as pool:
        outcomes = list(pool.map(one, [code for _, code in jobs]))
    out: list[tuple[int, Observation]] = []
    for (i, code), (passed, result) in zip(jobs, outcomes, strict=True):
        correct, status, text = tests_outcome(passed, bool(tests), result, limits)
        out.append((i, Observation(text, correct, "pot", code, None, status, True)))
    return out


def _show(text: str, empty: str = "(empty)") -> str:
    """One block of a stdio case for the Out: text: trailing newlines dropped, capped at CASE_SHOW."""
    text = text.rstrip("\n")
    if not text.strip():
        return empty
    return text if len(text) <= CASE_SHOW else text[:CASE_SHOW] + " ... [truncated]"


def stdio_observation(
    code: str, cases: Sequence[tuple[str, str]], run: sandbox_stdio.StdioRun, limits: SandboxParams
) -> Observation:
    """The Observation of a stdio-judged run: the first failing case, with its input, expected and
    actual output (or traceback), or the limit that ended the run and the case it ended in."""
    n = len(cases)
    if run.passed and n:
        return Observation(verdict_text(f"Passed all {n} test case{'s' if n != 1 else ''}.", True), True, "pot",
                           code, None, "ok", True)  # fmt: skip
    res = run.result
    failed = next((o for o in run.outcomes if o.verdict != "ok"), None)
    limit = limit_message(res, limits)
    if not n:
        body, status = "Error: the record has no test cases", "failed"
    elif limit is not None:
        body, status = limit, res.status
        if run.running is not None:
            body += f" on test case {run.running + 1} of {n}\nInput:\n{_show(cases[run.running][0])}"
    elif failed is not None and 0 <= failed.index < n:
        stdin, want = cases[failed.index]
        where = f"test case {failed.index + 1} of {n}.\nInput:\n{_show(stdin)}\n"
        if failed.verdict == "wrong":
            got = _show(failed.got, "(no output)")
            body, status = f"Wrong answer on {where}Expected output:\n{_show(want)}\nYour output:\n{got}", "failed"
        else:
            shown = f"Your output:\n{_show(failed.got)}\n" if failed.got.strip() else ""
            body, status = f"Runtime error on {where}{shown}{traceback_tail(failed.error)}", "error"
    else:  # exited without the driver's end line: os._exit, or a crash outside the solution
        during = f" (during test case {run.running + 1} of {n})" if run.running is not None else ""
        tail = traceback_tail(res.stderr) if res.stderr.strip() else ""
        body = f"Error: the program stopped before all test cases ran{during}" + (f"\n{tail}" if tail else "")
        status = "failed" if res.status == "ok" else res.status
    return Observation(verdict_text(body, False), False, "pot", code, None, status, True)
