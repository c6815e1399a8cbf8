"""Pulling code and stated answers out of text: a model's action or response, or a program's stdout.

Code: the ```python / ```py / bare ``` fenced blocks (an unclosed last fence runs to the end); the
benchmarks' first-block reading (:func:`first_fenced_code`).
Answers: the last ``\\boxed{...}``, the line after a final "Answer:" / "The answer is", a
``<solution>`` tag, GSM8K's ``#### x``, an option letter, the last number, the last stdout line.
Which of them a judge uses is the judge's choice (``preftree.env``, ``preftree.answers.bench``).
"""

from __future__ import annotations

import ast
import re
import textwrap
from typing import Any

from preftree.answers.core import gsm8k_final, last_boxed

CODE_LANGS = frozenset({"", "python", "py", "python3", "py3"})  # fence languages read as Python

_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n", re.MULTILINE)
_CLOSE = re.compile(r"^[ \t]*```[ \t]*$", re.MULTILINE)
_ANSWER_MARK = re.compile(r"(?:\banswer\s*(?:is)?\s*:|\bthe\s+(?:final\s+)?answer\s+is\b:?)", re.IGNORECASE)
_LETTER = re.compile(r"\(?([A-H])\)?(?=$|[\s.),:;])")
_SOLUTION_TAG = re.compile(r"<solution>(.*?)</solution>", re.IGNORECASE | re.DOTALL)
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|(?<![\w.])[-+]?\.\d+")


# ----------------------------------------------------------------------------- code


def _blocks(text: str) -> list[tuple[str, str, int]]:
    """Every fenced block as (language, body, end offset); an unclosed last fence runs to the end."""
    out: list[tuple[str, str, int]] = []
    pos = 0
    while True:
        m = _FENCE.search(text, pos)
        if m is None:
            return out
        close = _CLOSE.search(text, m.end())
        body_end = close.start() if close else len(text)
        end = close.end() if close else len(text)
        out.append((m.group(1).lower(), text[m.end() : body_end], end))
        pos = end


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced block as (language, body); an unclosed last fence runs to the end of the text."""
    return [(lang, body) for lang, body, _ in _blocks(text)]


def first_fenced_code(text: str) -> str | None:
    """The code of the first Python (or bare) fenced block, read as the Eurus evaluation code reads a
    completion: from the line after the opening fence up to the next ``` anywhere, even mid-line (an
    unclosed fence runs to the end). None when ``text`` opens no such block. Blocks in other languages
    before it are skipped."""
    for lang, body, _ in _blocks(text):
        if lang in CODE_LANGS:
            cut = body.find("```")
            return body if cut < 0 else body[:cut]
    return None


def extract_code(action: str) -> str:
    """All ```python / ```py / bare ``` fenced blocks, dedented, in order, joined by newlines ("" if none)."""
    parts = [textwrap.dedent(body).strip("\n") for lang, body, _ in _blocks(action) if lang in CODE_LANGS]
    return "\n".join(p for p in parts if p.strip())


def text_after_code(action: str) -> str:
    """The text after the last Python block (the whole action when it has none)."""
    ends = [end for lang, _, end in _blocks(action) if lang in CODE_LANGS]
    return action[ends[-1] :] if ends else action


def text_after_last_fence(response: str) -> str:
    """The text after the last line that is a bare fence (```), opening or closing, of any block
    (the whole response when there is none): the benchmark PoT scorer's reading."""
    ends = [m.end() for m in _CLOSE.finditer(response)]
    return response[ends[-1] :] if ends else response


# ----------------------------------------------------------------------------- stated answers


def answer_line(text: str) -> str | None:
    """The rest of the line after the last "Answer:" / "The answer is" (the next non-empty line when
    that one is empty); None when there is no such mark or nothing follows it."""
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
        line = answer_line(action)
        if line is None:
            return None
        line = re.sub(r"[.\s]+$", "", line.strip().strip("*").strip())
        return line or None
    if task == "Logic":
        line = answer_line(action)
        if line is None:
            return None
        line = line.strip().strip("*").strip()
        m = _LETTER.match(line) or re.fullmatch(r"\(?([a-h])\)?\.?", line)
        return m.group(1).upper() if m else None
    if task == "Coding":
        return None
    raise ValueError(f"unknown task {task!r}")


def logic_text_answer(action: str) -> str | None:
    """A free-text Logic answer (HotpotQA, StrategyQA): the line after the last "Answer:", ``*`` stripped."""
    line = answer_line(action)
    if line is None:
        return None
    line = line.strip().strip("*").strip()
    return line or None


def stated_answer(text: str) -> str | None:
    """The final answer stated in ``text``: the last ``<solution>...</solution>`` (whitespace
    collapsed), else the last ``\\boxed{}`` / "Answer:" as for Math_PoT; None when none is stated."""
    tags = _SOLUTION_TAG.findall(text)
    if tags:
        value = " ".join(tags[-1].split())
        return value or None
    return extract_answer(text, "Math_PoT")


def final_answer(text: str) -> str | None:
    """The stated final answer: last ``\\boxed{}``, else after a final "Answer:" / "The answer is", else ``#### x``."""
    answer = extract_answer(text, "Math_CoT")
    if answer is not None:
        return answer
    return gsm8k_final(text)


def last_number(text: str) -> str | None:
    """The last number written in ``text`` (thousands separators kept), or None."""
    found = _NUMBER.findall(text.replace("{,}", ","))
    return found[-1] if found else None


def numeric_answer(text: str) -> str | None:
    """gsm-style extraction: the stated final answer, else the last number of the text."""
    return final_answer(text) or last_number(text)


def text_answer(text: str) -> str | None:
    """A free-text final answer: ``\\boxed{}`` / "Answer:", else the last non-empty line."""
    stated = final_answer(text)
    if stated is not None:
        return stated
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


# ----------------------------------------------------------------------------- program output


def last_line(stdout: str) -> str | None:
    """The last non-empty line, stripped; None when there is none."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    return lines[-1] if lines else None


def output_answer(stdout: str) -> str | None:
    """The last non-empty stdout line; a Python literal list / tuple on it (a printed ``fetchall()``,
    e.g. ``[('Bob',), ('Ann',)]``) reads as its values joined by ", " (``Bob, Ann``)."""
    line = last_line(stdout)
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
