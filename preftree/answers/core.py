"""The answer primitives every reader shares: a number's canonical string, the last ``\\boxed{}`` and
GSM8K's ``####`` final answer.

The sources use them on gold answers (``select``), the benchmark loaders on eval references and
:mod:`preftree.answers.extract` on model outputs; keeping them in this small module keeps the readers
of model outputs out of ``select``'s imports.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

GSM8K_MARK = "####"  # GSM8K's final-answer mark: "... #### 72"
_GSM8K_LINE = re.compile(r"####\s*([^\n]+)")  # a mark and the rest of the first non-blank line after it


def canonical_number(value: Any) -> str | None:
    """Canonical string of a number ("1,234" -> "1234", "5.0" -> "5", "0.50" -> "0.5"); None if not one."""
    if isinstance(value, bool):
        return None
    text = repr(value) if isinstance(value, float) else str(value)
    text = text.strip().replace(",", "").replace(" ", "")
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        return None
    try:
        num = Decimal(text)
    except InvalidOperation:
        return None
    if num == num.to_integral_value():
        return str(int(num))
    return format(num.normalize(), "f")


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces handled), or ``\\boxed x``."""
    starts = [m for m in re.finditer(r"\\(?:boxed|fbox)\s*(\{)?", text)]
    for m in reversed(starts):
        if m.group(1) is None:  # "\boxed 5"
            tail = re.match(r"\s*([^\s$]+)", text[m.end() :])
            if tail:
                return tail.group(1)
            continue
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            return text[m.end() : i - 1].strip()
    return None


def gsm8k_final(text: str, *, to_end: bool = False) -> str | None:
    """The final answer written after GSM8K's ``####`` mark, stripped; None when there is none or it is blank.

    By default (a model's response) the last ``#### x`` in the text and the rest of that line (blank
    lines after a mark are skipped). ``to_end=True`` (a GSM8K reference solution, whose answer ends
    it): everything after the last ``####``. On a GSM8K solution (one ``#### n`` line at its end)
    both read the same.
    """
    if to_end:
        _, mark, final = text.rpartition(GSM8K_MARK)
        return (final.strip() or None) if mark else None
    hits = _GSM8K_LINE.findall(text)
    return (hits[-1].strip() or None) if hits else None
