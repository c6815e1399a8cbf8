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
  - **stdin/stdout cases** (every test is a ``stdio_test`` string, see there): the code runs as a
    ``__main__`` script once per case inside one sandboxed process (``sandbox.run_stdio``), its
    output compared with the expected one token by token (numbers within 1e-6). A list mixing
    snippets and stdio cases is a malformed record: ``ValueError``.
  - **answer-judged** (no tests and a non-empty ``record["answer"]``; WikiTableQuestions): executed like
    ``Math_PoT`` (``prior_code`` replayed), after the reference's ``setup`` program when the reference
    is a table (``{"kind": "table", "setup": ...}``, which builds the SQLite table ``data_table`` in the
    variable ``conn``; the setup is replayed silently as the first prior cell). The answer is the
    final answer stated after the last code block (``<solution>...</solution>``, ``\\boxed{}``,
    "Answer:"), else the last non-empty stdout line (a printed ``fetchall()`` list of tuples reads as
    its values joined by ", "); no answer when the run failed. It must match (``answers_match``) the
    gold answers joined with ", " (the reference's ``answers`` list, else ``record["answer"]`` as it
    stands); several gold answers may also come in any order. An action without code is judged on
    its stated answer alone (mode ``cot``, status ``not_run``, like ``Math_PoT``).

  A Coding record with neither tests nor an answer is always wrong.
* ``Logic``: the option letter after "Answer:" against ``record["answer"]`` (mode ``cot``); when the
  ground truth is not an option letter (HotpotQA, StrategyQA), the text after the last "Answer:"
  against it, both normalised as HotpotQA's exact match does (``normalize_text_answer``).

Observation text (UltraInteract's format, reference/eurus.md §1.1)::

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
"""

from __future__ import annotations

import ast
import json
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
    "STDIO_HEADER",
    "Observation",
    "answers_match",
    "build_program",
    "carry_over",
    "evaluate_actions",
    "extract_answer",
    "extract_code",
    "parse_stdio_test",
    "stdio_test",
    "syntax_ok",
]

OUT_LIMIT = 2000  # characters of the Out: part, then "[Output Truncated]"
TRACEBACK_LINES = 20  # at most this many last lines of a traceback are shown
NO_OUTPUT = "[Executed Successfully with No Output]"
TRUNCATED = "[Output Truncated]"
CORRECT = "Your answer is correct."
WRONG = "Your answer is wrong."
CASE_SHOW = 300  # characters of a stdio case's input / expected / actual output shown in the Out: text
STDIO_HEADER = "%%stdio"  # first line of a stdin/stdout test case (see ``stdio_test``)


# ----------------------------------------------------------------------------- stdio test cases


def stdio_test(stdin: str, stdout: str) -> str:
    """Encode one stdin/stdout test case as a ``record["tests"]`` string.

    Contract: the line ``%%stdio``, a newline, then one JSON object ``{"input": <stdin>, "output":
    <expected stdout>}`` (both strings, ``ensure_ascii=False``, no other keys). The header is a
    Python syntax error, so a stdio case handed to a snippet runner by mistake fails loudly instead
    of passing as a no-op expression. ``parse_stdio_test`` is the inverse.
    """
    if not isinstance(stdin, str) or not isinstance(stdout, str):
        raise TypeError("stdio_test: input and output must be str")
    return STDIO_HEADER + "\n" + json.dumps({"input": stdin, "output": stdout}, ensure_ascii=False)


def parse_stdio_test(test: str) -> tuple[str, str] | None:
    """``(stdin, expected stdout)`` of a ``stdio_test`` string; None for anything else (a snippet).

    A string that starts with the header but whose body is not the JSON object of the contract
    raises ``ValueError`` (a malformed record, never silently read as a snippet).
    """
    if not test.startswith(STDIO_HEADER + "\n"):
        return None
    try:
        data = json.loads(test[len(STDIO_HEADER) + 1 :])
    except ValueError as err:
        raise ValueError(f"malformed stdio test case: invalid JSON ({err})") from None
    if (
        not isinstance(data, dict)
        or set(data) != {"input", "output"}
        or not all(isinstance(v, str) for v in data.values())
    ):
        raise ValueError('malformed stdio test case: expected {"input": str, "output": str}')
    return data["input"], data["output"]


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
    """The option letter; when the action names an option by its text instead, that option's letter
    (an answer repeating an option that starts like a letter, "A scientist ...", is read as that option)."""
    line = _after_last_mark(action)
    if line is not None:
        said = _norm_str(line.strip().strip("*"))
        hits = {m.group(1) for m in _OPTION.finditer(problem) if _norm_str(m.group(2)) == said}
        if len(hits) == 1:
            return hits.pop()
    return extract_answer(action, "Logic")


def _letter(truth: str) -> str:
    return truth.strip().strip("()").strip().rstrip(".").upper()


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_YES_NO = {"true": "yes", "false": "no"}


def normalize_text_answer(text: str) -> str:
    """HotpotQA's answer normalisation: lower case, punctuation and articles removed, spaces collapsed;
    "true" / "false" read as "yes" / "no" (StrategyQA's boolean answers)."""
    s = text.casefold()
    s = "".join(ch for ch in s if ch.isalnum() or ch.isspace())
    s = " ".join(_ARTICLES.sub(" ", s).split())
    return _YES_NO.get(s, s)


def is_option_letter(truth: str) -> bool:
    """True when a Logic ground truth is an option letter ("B", "(B)", "b."): judged by letter."""
    return re.fullmatch(r"\(?[A-Ha-h]\)?\.?", truth.strip()) is not None


def _logic_text_answer(action: str) -> str | None:
    line = _after_last_mark(action)
    if line is None:
        return None
    line = line.strip().strip("*").strip()
    return line or None


def _cot(record: Mapping[str, Any], action: str, task: str) -> Observation:
    if task == "Logic" and not is_option_letter(str(record["answer"])):
        # free-text answers (HotpotQA spans, StrategyQA yes/no): exact match after normalisation
        answer = _logic_text_answer(action)
        truth = normalize_text_answer(str(record["answer"]))
        correct = answer is not None and bool(truth) and normalize_text_answer(answer) == truth
    elif task == "Logic":
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

    ``prior_code``: Math_PoT and answer-judged Coding only, the code of the trajectory's earlier
    actions that ran without error (see ``carry_over``); replayed silently before each new action's
    code (after a table reference's setup). Sandbox jobs run through ``sandbox.run_many`` /
    ``sandbox.run_tests`` / ``sandbox.run_stdio`` on up to ``workers`` processes at once. Raises
    ``ValueError`` for an unknown task or a Coding record whose tests mix snippets and stdio cases.
    """
    task = str(record["task"])
    if task not in ("Math_CoT", "Math_PoT", "Coding", "Logic"):
        raise ValueError(f"unknown task {task!r}")
    mode = _coding_mode(record) if task == "Coding" else None
    replay = list(prior_code)
    if mode == "answer":
        setup = _table_setup(record)
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
                answer = _stated_answer(action)
                correct = answer is not None and _matches_gold(answer, _gold_answers(record))
                results[i] = Observation(_text(None, correct), correct, "cot", "", answer, "not_run", True)
            else:
                results[i] = Observation(_text(None, False), False, "pot", "", None, "no_code", True)
        elif not syntax_ok(code):
            results[i] = _syntax_error(code, cell if task == "Math_PoT" or mode == "answer" else "<solution>")
        elif task == "Math_PoT" or mode == "answer":
            pot_jobs.append((i, code))
        else:
            coding_jobs.append((i, code))

    if pot_jobs:
        jobs = [sandbox.Job(code=build_program(code, replay), limits=limits) for _, code in pot_jobs]
        for (i, code), result in zip(pot_jobs, sandbox.run_many(jobs, workers), strict=True):
            if mode == "answer":
                results[i] = _answer_observation(record, actions[i], code, result, limits)
            else:
                results[i] = _pot_observation(record, actions[i], code, result, limits)

    if coding_jobs and mode == "stdio":
        cases = [c for c in (parse_stdio_test(str(t)) for t in record["tests"]) if c is not None]
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(coding_jobs)))) as pool:
            runs = list(pool.map(lambda c: sandbox.run_stdio(c, cases, limits=limits), [c for _, c in coding_jobs]))
        for (i, code), run in zip(coding_jobs, runs, strict=True):
            results[i] = _stdio_observation(code, cases, run, limits)
    elif coding_jobs:
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


# ----------------------------------------------------------------------------- Coding: the three judges


def _coding_mode(record: Mapping[str, Any]) -> Literal["snippets", "stdio", "answer"]:
    """How a Coding record is judged (see the module docstring); ValueError for mixed tests."""
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


def _table_setup(record: Mapping[str, Any]) -> str:
    """The setup program of a ``{"kind": "table"}`` reference ("" for any other reference)."""
    ref = _reference(record)
    setup = ref.get("setup") if ref.get("kind") == "table" else None
    return setup if isinstance(setup, str) else ""


def _gold_answers(record: Mapping[str, Any]) -> list[str]:
    """The reference's ``answers`` list when it has one, else ``[record["answer"]]``."""
    golds = _reference(record).get("answers")
    if isinstance(golds, list) and golds and all(isinstance(g, str) and g.strip() for g in golds):
        return [g.strip() for g in golds]
    return [str(record.get("answer") or "").strip()]


def _matches_gold(pred: str, golds: Sequence[str]) -> bool:
    """``answers_match`` against the gold answers joined with ", "; several golds in any order."""
    if answers_match(pred, ", ".join(golds)):
        return True
    if len(golds) < 2:
        return False
    text = _clean(pred)
    if _bracketed(text):
        text = text[1:-1]
    unused = [part.strip() for part in _split_top(text)]
    if len(unused) != len(golds):
        return False
    for gold in golds:
        hit = next((k for k, part in enumerate(unused) if answers_match(part, gold)), None)
        if hit is None:
            return False
        unused.pop(hit)
    return True


_SOLUTION_TAG = re.compile(r"<solution>(.*?)</solution>", re.IGNORECASE | re.DOTALL)


def _stated_answer(text: str) -> str | None:
    """The final answer stated in ``text``: the last ``<solution>...</solution>`` (whitespace
    collapsed), else the last ``\\boxed{}`` / "Answer:" as for Math_PoT; None when none is stated."""
    tags = _SOLUTION_TAG.findall(text)
    if tags:
        value = " ".join(tags[-1].split())
        return value or None
    return extract_answer(text, "Math_PoT")


def _output_answer(stdout: str) -> str | None:
    """The last non-empty stdout line; a Python literal list / tuple on it (a printed ``fetchall()``,
    e.g. ``[('Bob',), ('Ann',)]``) reads as its values joined by ", " (``Bob, Ann``)."""
    line = _last_line(stdout)
    if line is None or len(line) > 10_000 or line[:1] not in "[(":
        return line
    try:
        value = ast.literal_eval(line)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return line
    if not isinstance(value, (list, tuple)):
        return line
    flat: list[Any] = []
    for item in value:
        flat.extend(item if isinstance(item, (list, tuple)) else [item])
    if not flat or any(isinstance(v, (list, tuple, dict, set)) for v in flat):
        return line
    return ", ".join(str(v) for v in flat)


def _answer_observation(
    record: Mapping[str, Any], action: str, code: str, result: ExecResult, limits: SandboxParams
) -> Observation:
    answer: str | None = None
    if result.status == "ok":
        answer = _stated_answer(_text_after_code(action)) or _output_answer(result.stdout)
    correct = answer is not None and _matches_gold(answer, _gold_answers(record))
    return Observation(_text(_out(result, limits), correct), correct, "pot", code, answer, result.status, True)


def _show(text: str, empty: str = "(empty)") -> str:
    """One block of a stdio case for the Out: text: trailing newlines dropped, capped at CASE_SHOW."""
    text = text.rstrip("\n")
    if not text.strip():
        return empty
    return text if len(text) <= CASE_SHOW else text[:CASE_SHOW] + " ... [truncated]"


def _stdio_observation(
    code: str, cases: Sequence[tuple[str, str]], run: sandbox.StdioRun, limits: SandboxParams
) -> Observation:
    """The Observation of a stdio-judged run: the first failing case, with its input, expected and
    actual output (or traceback), or the limit that ended the run and the case it ended in."""
    n = len(cases)
    if run.passed and n:
        return Observation(_text(f"Passed all {n} test case{'s' if n != 1 else ''}.", True), True, "pot", code,
                           None, "ok", True)  # fmt: skip
    res = run.result
    failed = next((o for o in run.outcomes if o.verdict != "ok"), None)
    limit = _limit_message(res, limits)
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
            body, status = f"Runtime error on {where}{shown}{_traceback_tail(failed.error)}", "error"
    else:  # exited without the driver's end line: os._exit, or a crash outside the solution
        during = f" (during test case {run.running + 1} of {n})" if run.running is not None else ""
        tail = _traceback_tail(res.stderr) if res.stderr.strip() else ""
        body = f"Error: the program stopped before all test cases ran{during}" + (f"\n{tail}" if tail else "")
        status = "failed" if res.status == "ok" else res.status
    return Observation(_text(body, False), False, "pot", code, None, status, True)


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
