"""stdin/stdout test cases: run a program as a ``__main__`` script once per (stdin, expected stdout)
case inside ONE sandbox (:func:`run_stdio`), the driver being ``programs/stdio_driver.py``.

Like :func:`preftree.sandbox.run_tests`, a pass needs proof that the cases ran to the end: the
driver's report lines carry a fresh nonce, which reaches the driver on its stdin and appears in no file,
argument or environment variable of the sandbox (docs/sandbox.md).
"""

from __future__ import annotations

import ast
import functools
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from preftree import sandbox
from preftree.config.sandbox import SandboxParams
from preftree.sandbox_exec import ExecResult

PACKAGE_DATA: tuple[str, ...] = ("programs/stdio_driver.py",)  # the driver, read as text


@dataclass(frozen=True)
class CaseOutcome:
    """What one stdin/stdout test case did inside :func:`run_stdio`."""

    index: int  # 0-based position in the `cases` given
    verdict: Literal["ok", "wrong", "error"]  # error: the solution raised (or exited non-zero)
    got: str  # the solution's stdout for this case, at most `got_limit` characters
    error: str  # "error": the traceback (frames of the solution only) or "SystemExit: <code>"


@dataclass(frozen=True)
class StdioRun:
    """The result of :func:`run_stdio`.

    ``passed`` is True only when the process exited cleanly (status ``ok``), the driver reported its
    end, and every case reported ``ok``. ``outcomes`` holds the cases that reported, in order; the
    driver stops after the first case that is not ``ok``. ``running`` is the case that had started but
    not reported when the process ended (a timeout, memory / CPU limit or ``os._exit`` in that case);
    None when every started case reported. ``result.stdout`` is what reached the real stdout other than
    the driver's report lines (normally nothing: each case's stdout is captured).
    """

    passed: bool
    outcomes: tuple[CaseOutcome, ...]
    running: int | None
    finished: bool
    result: ExecResult


@functools.cache
def _driver() -> str:
    return (Path(__file__).parent / PACKAGE_DATA[0]).read_text(encoding="utf-8")


def stdio_stdin(program: str, cases: Sequence[tuple[str, str]], nonce: str, got_limit: int = 4000) -> str:
    """What :func:`run_stdio` writes to the driver's stdin (exposed for tests): the nonce, a newline, then
    the JSON ``[program, [[stdin, expected], ...], got_limit]``."""
    return nonce + "\n" + json.dumps([program, [[i, o] for i, o in cases], int(got_limit)])


def parse_event(line: str, prefix: str) -> tuple[object, ...] | None:
    """A driver report line (``<nonce> ('case', 0, 'ok', got, error)``) as a tuple; None for any other line."""
    if not line.startswith(prefix):
        return None
    try:
        event = ast.literal_eval(line[len(prefix) :].strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return event if isinstance(event, tuple) and event else None


def run_stdio(
    program: str,
    cases: Sequence[tuple[str, str]],
    *,
    limits: SandboxParams,
    got_limit: int = 4000,
) -> StdioRun:
    """Run `program` as a ``__main__`` script once per (stdin, expected stdout) case, in ONE sandbox.

    A driver compiles `program` once (as ``<solution>``) and, per case in order: puts the case's input
    on file descriptor 0 and a fresh in-memory file on descriptor 1 (``memfd``; so ``input()``,
    ``sys.stdin.buffer``, ``open(0)``, ``print``, ``sys.stdout.buffer`` and ``os.write(1, ...)`` all
    behave as in a real run), rebinds ``sys.stdin`` / ``sys.stdout``, execs the program in a fresh
    ``__main__`` module (``__name__ == "__main__"``), joins the non-daemon threads it started, and
    compares what it printed with the expected output token by token (whitespace-split; two tokens
    are equal when identical, when both are integers of equal value, or when both are decimal
    numbers within 1e-6 relative or absolute of each other). ``SystemExit`` with code None / 0
    (``exit()``, ``sys.exit(0)``) ends a case normally; another code is a runtime error of that case,
    as on a contest judge. The first case that fails ends the run. All cases share the time, CPU and
    memory limits of `limits`.

    The driver (a fixed program, ``programs/stdio_driver.py``) gets a fresh nonce, the solution and the
    cases on its stdin, reads it to the end before the solution runs, and reports through a duplicate of
    the real stdout, one line per event, each prefixed with the nonce, and a final end line; a pass
    needs the end line, so ``os._exit`` in the solution cannot pass, and reading files, arguments, the
    environment or ``/proc`` finds no nonce. Threat model (docs/sandbox.md): the nonce and the expected
    outputs are in the driver's memory, so a solution that inspects its caller's frames (or memory)
    could still forge a pass; judging outputs outside the process would close that at the price of
    shipping every output back through the output cap.
    """
    nonce = secrets.token_hex(16)
    res = sandbox.run(_driver(), stdin=stdio_stdin(program, cases, nonce, got_limit), limits=limits, fixed_program=True)
    outcomes: list[CaseOutcome] = []
    started: int | None = None
    finished = False
    rest: list[str] = []
    prefix = nonce + " "
    for line in res.stdout.splitlines(keepends=True):
        event = parse_event(line, prefix)
        if event is None:
            if not line.startswith(prefix):
                rest.append(line)
            continue
        kind, *args = event
        if kind == "end":
            finished = True
        elif kind == "start" and len(args) == 1 and isinstance(args[0], int):
            started = args[0]
        elif kind == "case" and len(args) == 4 and isinstance(args[0], int) and args[1] in ("ok", "wrong", "error"):
            outcomes.append(CaseOutcome(args[0], args[1], str(args[2]), str(args[3])))
    running = started if started is not None and not any(o.index == started for o in outcomes) else None
    passed = (
        res.status == "ok"
        and finished
        and len(outcomes) == len(cases)
        and all(o.verdict == "ok" and o.index == i for i, o in enumerate(outcomes))
    )
    return StdioRun(passed, tuple(outcomes), running, finished, replace(res, stdout="".join(rest)))
