"""The environment of the actor/critic loop: parse an action, execute it, judge it, say what happened.

One call, ``evaluate_actions(record, actions, prior_code=..., limits=...)``, judges many candidate
actions for one instruction record (``preftree.schema.INSTRUCTION_SCHEMA`` as a dict) and returns one
``Observation`` per action. Per task:

* ``Math_PoT``: an action with code (```python / ```py / bare ``` fences) is *executed* (mode ``pot``):
  the answer is the last non-empty stdout line (or, when the code printed nothing, a ``\\boxed{}`` /
  "Answer:" in the text after the last fence). Without code it is judged like ``Math_CoT``.
* ``Math_CoT``: never executed (mode ``cot``); the answer is the last ``\\boxed{...}`` or the text after
  a final "Answer:" / "The answer is".
* ``Coding``: the code must pass every test of ``record["tests"]`` (``sandbox.run_tests``, which only
  reports a pass when the tests really ran to the end); mode ``pot``. No code = wrong.
* ``Logic``: the option letter after "Answer:" against ``record["answer"]`` (mode ``cot``).

Observation text (UltraInteract's format, reference/eurus.md §1.1)::

    executed code:   "Out: <stdout, or stdout + the traceback's last lines>\\nYour answer is wrong."
    CoT / Logic:     "Your answer is correct."

The ``Out:`` part is capped at ``OUT_LIMIT`` (2,000) characters followed by ``"\\n[Output Truncated]"``;
a run that printed nothing shows ``[Executed Successfully with No Output]``; a timeout / memory /
output limit / kill is named (``Out: TimeoutError: execution exceeded 5.0 s``). Code that does not
compile is never executed: ``syntax_ok=False``, status ``syntax_error``, wrong, and the Out line shows
the compiler's message. For Coding the Out line is the solution's own stdout, or the end of the
traceback, which names the first failing assert line and nothing else of the hidden tests.

Statuses: the sandbox's (``ok``, ``error``, ``timeout``, ``memory``, ``output_limit``, ``killed``), plus
``syntax_error``, ``failed`` (Coding: exited cleanly but the tests did not run to the end), ``no_code``
(Coding action without code) and ``not_run`` (CoT / Logic / PoT-without-code).

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
"""

from __future__ import annotations

import re
import textwrap
import traceback
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from preftree import sandbox
from preftree.config import SandboxParams
from preftree.sandbox import ExecResult
from preftree.sources.adapters import canonical_number, last_boxed

__all__ = [
    "OUT_LIMIT",
    "Observation",
    "answers_match",
    "build_program",
    "carry_over",
    "evaluate_actions",
    "extract_answer",
    "extract_code",
    "syntax_ok",
]

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


# ----------------------------------------------------------------------------- extraction

_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n", re.MULTILINE)
_CLOSE = re.compile(r"^[ \t]*```[ \t]*$", re.MULTILINE)
_CODE_LANGS = {"", "python", "py", "python3", "py3"}


def _blocks(action: str) -> list[tuple[str, str, int]]:
    """Every fenced block as (language, body, end offset); an unclosed last fence runs to the end."""
    out: list[tuple[str, str, int]] = []
    pos = 0
    while True:
        m = _FENCE.search(action, pos)
        if m is None:
            return out
        close = _CLOSE.search(action, m.end())
        body_end = close.start() if close else len(action)
        end = close.end() if close else len(action)
        out.append((m.group(1).lower(), action[m.end() : body_end], end))
        pos = end


def extract_code(action: str) -> str:
    """All ```python / ```py / bare ``` fenced blocks, dedented, in order, joined by newlines ("" if none)."""
    parts = [textwrap.dedent(body).strip("\n") for lang, body, _ in _blocks(action) if lang in _CODE_LANGS]
    return "\n".join(p for p in parts if p.strip())


def _text_after_code(action: str) -> str:
    ends = [end for lang, _, end in _blocks(action) if lang in _CODE_LANGS]
    return action[ends[-1] :] if ends else action


_ANSWER_MARK = re.compile(r"(?:\banswer\s*(?:is)?\s*:|\bthe\s+(?:final\s+)?answer\s+is\b:?)", re.IGNORECASE)
_LETTER = re.compile(r"\(?([A-H])\)?(?=$|[\s.),:;])")


def _after_last_mark(text: str) -> str | None:
    marks = list(_ANSWER_MARK.finditer(text))
    if not marks:
        return None
    rest = text[marks[-1].end() :].strip()
    if not rest:
        return None
    line = rest.splitlines()[0].strip()
    return line or None


def extract_answer(action: str, task: str) -> str | None:
    """The final answer an action states (None when it states none).

    Math_CoT / Math_PoT: the last ``\\boxed{...}`` (nested braces), else the rest of the line after a
    final "Answer:" / "The answer is" (the next non-empty line when that one is empty), trailing period
    dropped. Logic: the option letter (upper case) after the last "Answer:" ("B", "(B)", "B)", "B.",
    "(B) Ana"). Coding: None (a program has no single answer).
    """
    if task in ("Math_CoT", "Math_PoT"):
        boxed = last_boxed(action)
        if boxed is not None and boxed.strip():
            return boxed.strip()
        line = _after_last_mark(action)
        if line is None:
            return None
        line = re.sub(r"[.\s]+$", "", line.strip().strip("*").strip())
        return line or None
    if task == "Logic":
        line = _after_last_mark(action)
        if line is None:
            return None
        line = line.strip().strip("*").strip()
        m = _LETTER.match(line) or re.fullmatch(r"\(?([a-h])\)?\.?", line)
        return m.group(1).upper() if m else None
    if task == "Coding":
        return None
    raise ValueError(f"unknown task {task!r}")


def syntax_ok(code: str) -> bool:
    """True when ``code`` compiles (the paper's Python syntax check)."""
    return _compile_error(code) is None


def _compile_error(code: str, name: str = "<cell>") -> str | None:
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


# ----------------------------------------------------------------------------- answer matching

_TEXT_CMDS = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_NUMPY_WRAP = re.compile(r"^(?:np|numpy)\.\w+\((.*)\)$")
_LEAD = re.compile(r"^(?:(?:the\s+)?(?:final\s+)?answer\b\s*(?:is)?\s*:?\s*)", re.IGNORECASE)
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*\s*=(?!=)\s*")
_PLAIN = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_THOUSANDS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?"
_UNIT = r"(?:[A-Za-z]+(?:[ ./-][A-Za-z]+)*(?:\^\{?\d\}?|[²³])?\.?)"
_NOT_UNITS = {"pi", "sqrt", "i", "e", "x", "y", "z", "n", "k", "log", "ln", "sin", "cos", "tan", "times", "cdot"}
_FRAC = re.compile(r"\\frac\s*(?:\{([^{}]*)\}|(\d))\s*(?:\{([^{}]*)\}|(\d))")


def _clean(text: str) -> str:
    """Strip the presentation around an answer: boxes, $...$, \\left/\\right, \\text{}, labels, periods."""
    s = text.strip()
    if "\\boxed" in s or "\\fbox" in s:
        boxed = last_boxed(s)
        if boxed is not None:
            s = boxed
    for _ in range(3):
        s = s.strip()
        for lo, hi in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
            if len(s) > len(lo) + len(hi) and s.startswith(lo) and s.endswith(hi):
                s = s[len(lo) : -len(hi)].strip()
        s = re.sub(r"\\[dt]frac", r"\\frac", s)
        s = re.sub(r"\\left\b|\\right\b|\\!|\\,|\\;|\\:|\\ ", "", s)
        s = s.replace("{,}", ",").replace("\\%", "%").replace("\\$", "$")
        s = re.sub(r"\^\s*\{?\\circ\}?|°", "", s)
        prev = None
        while prev != s:
            prev, s = s, _TEXT_CMDS.sub(r"\1", s)
        s = s.strip().rstrip(".").strip()
        m = _NUMPY_WRAP.match(s)
        if m:
            s = m.group(1)
        if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
            s = s[1:-1]
        s = _LEAD.sub("", s)
        s = _ASSIGN.sub("", s)
    return s.strip()


def _plain_number(text: str) -> Fraction | None:
    text = text.strip()
    sign = ""
    if text[:1] in "+-":
        sign, text = text[0], text[1:].strip()
    if re.fullmatch(_THOUSANDS, text) or re.fullmatch(_PLAIN, text):
        canon = canonical_number(sign + text)
        if canon is not None:
            return Fraction(canon)
    return None


def _number_core(text: str) -> Fraction | None:
    """A plain number, a/b, \\frac{a}{b} (also \\frac34), or a mixed number 2\\frac{1}{2}."""
    s = text.strip()
    value = _plain_number(s)
    if value is not None:
        return value
    m = re.fullmatch(rf"([+-]?)\s*({_PLAIN})\s*/\s*([+-]?{_PLAIN})", s)
    if m:
        num, den = _plain_number(m.group(2)), _plain_number(m.group(3))
        if num is not None and den:
            return (-1 if m.group(1) == "-" else 1) * num / den
        return None
    m = re.fullmatch(r"([+-]?)\s*(\d+)?\s*(\\frac.*)", s)
    if m:
        fm = _FRAC.fullmatch(m.group(3).strip())
        if fm is None:
            return None
        num = _plain_number(fm.group(1) if fm.group(1) is not None else fm.group(2))
        den = _plain_number(fm.group(3) if fm.group(3) is not None else fm.group(4))
        if num is None or not den:
            return None
        value = num / den
        if m.group(2):  # mixed number: 2\frac{1}{2} = 2.5
            if value < 0:
                return None
            value = int(m.group(2)) + value
        return -value if m.group(1) == "-" else value
    return None


def _numbers(text: str) -> list[Fraction] | None:
    """The values a cleaned answer may mean ("50%" -> [50, 0.5]); None when it is not one number."""
    s = text.strip()
    s = re.sub(r"^([+-]?)\s*\$\s*", r"\1", s)  # currency: "$5", "-$5"
    percent = False
    m = re.fullmatch(rf"(.*?)\s*%\s*{_UNIT}?", s) or re.fullmatch(r"(.*?)\s*(?:percent|per cent)\b\.?", s)
    if m:
        s, percent = m.group(1), True
    value = _number_core(s)
    if value is None:  # unit words after the number: "5 apples", "12.5 km/h", "3cm", "\frac{1}{2} cup"
        m = re.fullmatch(rf"(.*?[\d}}])(\s*)({_UNIT})", s)
        if m and (m.group(2) or len(re.match(r"[A-Za-z]*", m.group(3)).group()) >= 2):
            first = re.match(r"[A-Za-z]+", m.group(3)).group().lower()
            if first not in _NOT_UNITS:
                value = _number_core(m.group(1))
    if value is None:
        return None
    return [value, value / 100] if percent else [value]


def _close(a: Fraction, b: Fraction, rel_tol: float) -> bool:
    if a == b:
        return True
    try:
        fa, fb = float(a), float(b)
    except OverflowError:
        return False
    return abs(fa - fb) <= max(rel_tol * max(abs(fa), abs(fb)), 1e-9)


def _split_top(text: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _bracketed(text: str) -> bool:
    return len(text) > 1 and text[0] in "([{" and text[-1] in ")]}"


def _norm_str(text: str) -> str:
    s = re.sub(r"\s+", "", text).casefold()
    s = re.sub(r"\\sqrt(\w)", r"\\sqrt{\1}", s)
    return s.rstrip(".")


def answers_match(pred: str, truth: str, *, rel_tol: float = 1e-4) -> bool:
    """True when ``pred`` states ``truth``: numerically within ``rel_tol`` (thousands separators,
    fractions, ``\\frac`` / ``\\dfrac``, percentages, currency, a leading ``x =``, unit words after
    the number), element-wise for tuples / lists, else as normalised strings (spaces, ``\\left`` /
    ``\\right``, ``\\!``, ``\\text{}``, a trailing period and case ignored)."""
    if pred is None or truth is None:
        return False
    p, t = _clean(str(pred)), _clean(str(truth))
    if not p or not t:
        return False
    pn, tn = _numbers(p), _numbers(t)
    if pn is not None and tn is not None:
        if any(_close(a, b, rel_tol) for a in pn for b in tn):
            return True
    if _norm_str(p) == _norm_str(t):
        return True
    # tuples / lists / intervals: same brackets, same number of parts, each part matches
    p_wrapped, t_wrapped = _bracketed(p), _bracketed(t)
    if p_wrapped and t_wrapped and (p[0], p[-1]) == (t[0], t[-1]):
        p, t = p[1:-1], t[1:-1]
    elif p_wrapped or t_wrapped:
        return False
    pp, tp = _split_top(p), _split_top(t)
    if len(pp) > 1 and len(pp) == len(tp):
        return all(answers_match(a, b, rel_tol=rel_tol) for a, b in zip(pp, tp, strict=True))
    return False


# ----------------------------------------------------------------------------- execution

_DRIVER = """\
import ast as _ast, linecache as _linecache, os as _os, sys as _sys, traceback as _traceback, types as _types
_PRIOR = {prior!r}
_NEW = {new!r}
_main = _types.ModuleType("__main__")
_main.__dict__["__builtins__"] = __builtins__
_sys.modules["__main__"] = _main
_ns = _main.__dict__

def _compile(src, name, display):
    _linecache.cache[name] = (len(src), None, src.splitlines(True), name)
    tree = _ast.parse(src, name)
    last = None
    if display and tree.body and isinstance(tree.body[-1], _ast.Expr):
        last = compile(_ast.Expression(tree.body.pop().value), name, "eval", dont_inherit=True)
    return compile(tree, name, "exec", dont_inherit=True), last

for _i, _src in enumerate(_PRIOR, start=1):
    _saved = _sys.stdout
    _sys.stdout = open(_os.devnull, "w")
    try:
        exec(_compile(_src, "<cell-%d>" % _i, False)[0], _ns)
    except BaseException:
        pass
    finally:
        _sys.stdout.close()
        _sys.stdout = _saved

_code, _last = _compile(_NEW, "<cell-%d>" % (len(_PRIOR) + 1), True)
try:
    exec(_code, _ns)
    if _last is not None:
        _value = eval(_last, _ns)
        if _value is not None:
            print(repr(_value))
except MemoryError:
    raise
except Exception as _exc:
    _tb = _exc.__traceback__
    while _tb is not None and not _tb.tb_frame.f_code.co_filename.startswith("<cell-"):
        _tb = _tb.tb_next
    _sys.stdout.flush()
    _traceback.print_exception(type(_exc), _exc, _tb)
    _sys.exit(1)
"""


def build_program(code: str, prior_code: Sequence[str] = ()) -> str:
    """The program the sandbox runs for a PoT action: replay ``prior_code`` silently, then ``code``.

    Cells run in one fresh ``__main__`` namespace; tracebacks name them ``<cell-k>`` and show their
    source lines; a trailing bare expression of the new cell prints its repr (notebook display).
    """
    prior = [c for c in prior_code if c.strip() and syntax_ok(c)]
    return _DRIVER.format(prior=prior, new=code)


def carry_over(prior_code: Sequence[str], observation: Observation) -> tuple[str, ...]:
    """``prior_code`` for the next turn: the executed code of ``observation`` is appended when it ran
    without error (mode ``pot``, status ``ok``); otherwise the notebook state is unchanged."""
    if observation.mode == "pot" and observation.status == "ok" and observation.code.strip():
        return (*prior_code, observation.code)
    return tuple(prior_code)


def _cap(text: str) -> str:
    return text if len(text) <= OUT_LIMIT else text[:OUT_LIMIT] + "\n" + TRUNCATED


def _traceback_tail(stderr: str) -> str:
    """The last traceback in stderr (its last TRACEBACK_LINES lines); the stderr tail if there is none."""
    start = stderr.rfind("Traceback (most recent call last):")
    text = stderr[start:] if start >= 0 else stderr
    lines = text.rstrip().splitlines()
    if len(lines) > TRACEBACK_LINES:
        lines = lines[-TRACEBACK_LINES:]
    return "\n".join(lines)


def _limit_message(result: ExecResult, limits: SandboxParams) -> str | None:
    if result.status == "timeout":
        return f"TimeoutError: execution exceeded {float(limits.timeout_s)} s"
    if result.status == "memory":
        return f"MemoryError: execution exceeded the {limits.memory_mb} MB memory limit"
    if result.status == "output_limit":
        return f"OutputLimitError: output exceeded {limits.max_output_bytes} bytes"
    if result.status == "killed":
        return f"KilledError: the process was killed (return code {result.returncode})"
    return None


def _out(result: ExecResult, limits: SandboxParams, stdout: str | None = None) -> str:
    """The Out: body for an executed program (before capping)."""
    stdout = result.stdout if stdout is None else stdout
    limit = _limit_message(result, limits)
    if limit is not None:
        return limit
    if result.status == "ok":
        return stdout.rstrip() if stdout.strip() else NO_OUTPUT
    shown = stdout.rstrip() + "\n" if stdout.strip() else ""
    tail = _traceback_tail(result.stderr)
    return shown + (tail if tail.strip() else f"Error: exited with return code {result.returncode}")


def _text(out: str | None, correct: bool) -> str:
    verdict = CORRECT if correct else WRONG
    return verdict if out is None else f"Out: {_cap(out)}\n{verdict}"


def _last_line(stdout: str) -> str | None:
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    return lines[-1] if lines else None


_OPTION = re.compile(r"^\s*\(?([A-Z])[.)]\s+(.+?)\s*$", re.MULTILINE)


def _logic_answer(action: str, problem: str) -> str | None:
    """The option letter; when the action names an option by its text instead, that option's letter."""
    letter = extract_answer(action, "Logic")
    if letter is not None:
        return letter
    line = _after_last_mark(action)
    if line is None:
        return None
    said = _norm_str(line.strip().strip("*"))
    hits = {m.group(1) for m in _OPTION.finditer(problem) if _norm_str(m.group(2)) == said}
    return hits.pop() if len(hits) == 1 else None


def _letter(truth: str) -> str:
    return truth.strip().strip("()").strip().rstrip(".").upper()


def _cot(record: Mapping[str, Any], action: str, task: str) -> Observation:
    if task == "Logic":
        answer = _logic_answer(action, str(record.get("problem") or ""))
        correct = answer is not None and answer == _letter(str(record["answer"]))
    else:
        answer = extract_answer(action, task)
        correct = answer is not None and answers_match(answer, str(record["answer"]))
    return Observation(_text(None, correct), correct, "cot", "", answer, "not_run", True)


def _syntax_error(code: str, name: str) -> Observation:
    message = _compile_error(code, name) or "SyntaxError"
    return Observation(_text(message, False), False, "pot", code, None, "syntax_error", False)


def evaluate_actions(
    record: Mapping[str, Any],
    actions: Sequence[str],
    *,
    prior_code: Sequence[str] = (),
    limits: SandboxParams,
    workers: int = 1,
) -> list[Observation]:
    """Judge candidate ``actions`` for one instruction ``record``; one Observation per action, in order.

    ``prior_code``: Math_PoT only, the code of the trajectory's earlier actions that ran without error
    (see ``carry_over``); replayed silently before each new action's code. Sandbox jobs run through
    ``sandbox.run_many`` / ``sandbox.run_tests`` on up to ``workers`` processes at once.
    """
    task = str(record["task"])
    if task not in ("Math_CoT", "Math_PoT", "Coding", "Logic"):
        raise ValueError(f"unknown task {task!r}")
    results: list[Observation | None] = [None] * len(actions)
    cell = f"<cell-{len([c for c in prior_code if c.strip() and syntax_ok(c)]) + 1}>"
    pot_jobs: list[tuple[int, str]] = []
    coding_jobs: list[tuple[int, str]] = []
    for i, action in enumerate(actions):
        code = extract_code(action) if task in ("Math_PoT", "Coding") else ""
        if task in ("Math_CoT", "Logic") or (task == "Math_PoT" and not code.strip()):
            results[i] = _cot(record, action, task)
        elif task == "Coding" and not code.strip():
            results[i] = Observation(_text(None, False), False, "pot", "", None, "no_code", True)
        elif not syntax_ok(code):
            results[i] = _syntax_error(code, cell if task == "Math_PoT" else "<solution>")
        elif task == "Math_PoT":
            pot_jobs.append((i, code))
        else:
            coding_jobs.append((i, code))

    if pot_jobs:
        jobs = [sandbox.Job(code=build_program(code, prior_code), limits=limits) for _, code in pot_jobs]
        for (i, code), result in zip(pot_jobs, sandbox.run_many(jobs, workers), strict=True):
            results[i] = _pot_observation(record, actions[i], code, result, limits)

    if coding_jobs:
        tests = [str(t) for t in (record.get("tests") or [])]

        def one(code: str) -> tuple[bool, ExecResult]:
            return sandbox.run_tests(code, tests, limits=limits)

        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(coding_jobs)))) as pool:
            outcomes = list(pool.map(one, [code for _, code in coding_jobs]))
        for (i, code), (passed, result) in zip(coding_jobs, outcomes, strict=True):
            correct = bool(passed) and bool(tests)
            status = result.status if (result.status != "ok" or correct) else "failed"
            stdout = result.stdout  # run_tests already removed its nonce line
            if status == "failed":
                body = (stdout.rstrip() + "\n" if stdout.strip() else "") + (
                    _traceback_tail(result.stderr)
                    if result.stderr.strip()
                    else "Error: the tests did not run to the end"
                )
            else:
                body = _out(result, limits, stdout)
            results[i] = Observation(_text(body, correct), correct, "pot", code, None, status, True)
    return [r for r in results if r is not None]


def _pot_observation(
    record: Mapping[str, Any], action: str, code: str, result: ExecResult, limits: SandboxParams
) -> Observation:
    answer: str | None = None
    if result.status == "ok":
        answer = _last_line(result.stdout)
        if answer is None:
            answer = extract_answer(_text_after_code(action), "Math_PoT")
    correct = answer is not None and answers_match(answer, str(record["answer"]))
    return Observation(_text(_out(result, limits), correct), correct, "pot", code, answer, result.status, True)
