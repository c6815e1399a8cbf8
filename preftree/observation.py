"""What the environment says about an action: the ``Observation`` record and its text.

The text follows UltraInteract's format (as in the released data; the whole contract is in
``preftree.env``'s docstring)::

    executed code:   "Out: <stdout, or stdout + the traceback's last lines>\\nYour answer is wrong."
    CoT / Logic:     "Your answer is correct."

The ``Out:`` part is capped at ``OUT_LIMIT`` characters followed by ``"\\n[Output Truncated]"``; a run
that printed nothing shows ``NO_OUTPUT``; a limit that ended a run is named. The benchmark scorers
(``preftree.evaluate.scoring``) write their feedback with the same functions.
"""

from __future__ import annotations

import traceback
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from preftree.config.sandbox import SandboxParams
    from preftree.sandbox_exec import ExecResult

OUT_LIMIT = 2000  # characters of the Out: part, then "[Output Truncated]"
TRACEBACK_LINES = 20  # at most this many last lines of a traceback are shown
NO_OUTPUT = "[Executed Successfully with No Output]"
TRUNCATED = "[Output Truncated]"
CORRECT = "Your answer is correct."
WRONG = "Your answer is wrong."


@dataclass(frozen=True)
class Observation:
    text: str  # what the environment says (UltraInteract format, see the module docstring)
    correct: bool
    mode: Literal["cot", "pot"]
    code: str  # the code that was (or would have been) executed; "" for cot
    answer: str | None  # the extracted final answer (None: none found / not applicable)
    status: str  # sandbox status, or syntax_error | failed | no_code | not_run
    syntax_ok: bool


def cap(text: str) -> str:
    """``text`` cut at OUT_LIMIT characters, then a newline and TRUNCATED."""
    return text if len(text) <= OUT_LIMIT else text[:OUT_LIMIT] + "\n" + TRUNCATED


def traceback_tail(stderr: str) -> str:
    """The last traceback in stderr (its last TRACEBACK_LINES lines); the stderr tail if there is none."""
    start = stderr.rfind("Traceback (most recent call last):")
    text = stderr[start:] if start >= 0 else stderr
    lines = text.rstrip().splitlines()
    if len(lines) > TRACEBACK_LINES:
        lines = lines[-TRACEBACK_LINES:]
    return "\n".join(lines)


def limit_message(result: ExecResult, limits: SandboxParams) -> str | None:
    """The message naming the limit that ended a run (timeout, memory, output, kill); None otherwise."""
    if result.status == "timeout":
        return f"TimeoutError: execution exceeded {float(limits.timeout_s)} s"
    if result.status == "memory":
        return f"MemoryError: execution exceeded the {limits.memory_mb} MB memory limit"
    if result.status == "output_limit":
        return f"OutputLimitError: output exceeded {limits.max_output_bytes} bytes"
    if result.status == "killed":
        return f"KilledError: the process was killed (return code {result.returncode})"
    return None


def out_text(result: ExecResult, limits: SandboxParams, stdout: str | None = None) -> str:
    """The Out: body for an executed program (before capping)."""
    stdout = result.stdout if stdout is None else stdout
    limit = limit_message(result, limits)
    if limit is not None:
        return limit
    if result.status == "ok":
        return stdout.rstrip() if stdout.strip() else NO_OUTPUT
    shown = stdout.rstrip() + "\n" if stdout.strip() else ""
    tail = traceback_tail(result.stderr)
    return shown + (tail if tail.strip() else f"Error: exited with return code {result.returncode}")


def verdict_text(out: str | None, correct: bool) -> str:
    """The observation text: the verdict alone (``out`` None), else ``Out: <capped out>`` and the verdict."""
    verdict = CORRECT if correct else WRONG
    return verdict if out is None else f"Out: {cap(out)}\n{verdict}"


def tests_outcome(passed: bool, has_tests: bool, result: ExecResult, limits: SandboxParams) -> tuple[bool, str, str]:
    """(correct, status, text) of a program run with snippet tests (``sandbox.run_tests``): status
    ``failed`` when it exited cleanly but the tests did not pass; the Out: part is then its stdout and
    the end of the traceback (which names the first failing assert line)."""
    correct = bool(passed) and has_tests
    status = result.status if (result.status != "ok" or correct) else "failed"
    stdout = result.stdout  # run_tests already removed its nonce line
    if status == "failed":
        body = (stdout.rstrip() + "\n" if stdout.strip() else "") + (
            traceback_tail(result.stderr) if result.stderr.strip() else "Error: the tests did not run to the end"
        )
    else:
        body = out_text(result, limits, stdout)
    return correct, status, verdict_text(body, correct)


def compile_error(code: str, name: str = "<cell>") -> str | None:
    """The compiler's message (format_exception_only) when ``code`` does not compile, else None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(code, name, "exec", dont_inherit=True)
    except SyntaxError as exc:  # includes IndentationError / TabError
        return "".join(traceback.format_exception_only(type(exc), exc)).strip()
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:  # e.g. null bytes, deep nesting
        return f"SyntaxError: {type(exc).__name__}: {exc}"
    return None


def syntax_ok(code: str) -> bool:
    """True when ``code`` compiles (the paper's Python syntax check)."""
    return compile_error(code) is None


def syntax_error_observation(code: str, name: str) -> Observation:
    """The observation for code that does not compile (never executed): wrong, ``syntax_ok`` False, the
    Out: part the compiler's message for ``code`` compiled as ``name`` (e.g. ``<cell-2>``, ``<solution>``)."""
    message = compile_error(code, name) or "SyntaxError"
    return Observation(verdict_text(message, False), False, "pot", code, None, "syntax_error", False)
