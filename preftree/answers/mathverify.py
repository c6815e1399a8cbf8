"""math-verify behind guards: symbolic equality of two LaTeX answers, and an answer's numeric values.

``latex_equal(gold, pred)`` is ``math_verify.verify(parse(gold), parse(pred))`` (math-verify 0.9.0,
imported on first use), False where math-verify fails or where it is not asked at all:

* either side longer than :data:`MAX_CHARS` or with stacked powers (``2^{3^{4}}``), the factorial
  of a number of four or more digits or an exponent of five or more digits: sympy could take
  minutes on them, and off the main thread math-verify has no timeout (its timeouts use
  ``signal.alarm``, which only the main thread can use; interact judges actions on worker threads);
* either side with a word (two or more letters in a row outside a LaTeX command, ``\\text{}`` or
  ``\\begin{}`` / ``\\end{}``): math-verify reads ``listen`` as the product l*i*s*t*e*n, so
  ``listen`` = ``silent`` and ``no`` = ``on`` would match. Words are compared as text by the
  hand-written checker instead (a product of variables written without spaces, ``2xy`` vs ``2yx``,
  is rejected with them).

``latex_values(text, pis)``: the real value of an answer with no free variable, once per value of
pi in ``pis`` (Eurus reads ``\\pi`` both as ``math.pi`` and as 3.14); ``[]`` when it has none.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import warnings
from collections.abc import Sequence
from typing import Any

MAX_CHARS = 300
_RISKY = re.compile(r"\^\s*\{[^{}]*\^|\^\s*[\w.]+\s*\^|\d{4,}\s*!|\^\s*\{?\s*[-+]?\d{5,}")
_TEXT_GROUP = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname|begin|end)\s*\{[^{}]*\}")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_WORD = re.compile(r"[A-Za-z]{2,}")
PI_VALUES = (math.pi, 3.14)


def has_word(text: str) -> bool:
    """True when ``text`` has two letters in a row outside LaTeX commands and ``\\text{}`` groups."""
    return _WORD.search(_COMMAND.sub(" ", _TEXT_GROUP.sub(" ", text))) is not None


def _askable(text: str) -> bool:
    return 0 < len(text) <= MAX_CHARS and _RISKY.search(text) is None and not has_word(text)


def _timeout() -> int | None:
    return 5 if threading.current_thread() is threading.main_thread() else None


def _parse(text: str) -> list[Any]:
    from math_verify import parse

    return list(parse(f"${text.strip().strip('$')}$", parsing_timeout=_timeout()))  # type: ignore[arg-type]


@functools.lru_cache(maxsize=4096)
def latex_equal(gold: str, pred: str) -> bool:
    """math-verify's verdict that ``pred`` equals ``gold`` (False where it is not asked; module docstring).
    Cached: a tree's actions often state the same answer in different words, and a verdict can take
    tens of milliseconds (``7\\sqrt{2}`` vs ``7``: about 50 ms on one core)."""
    if not (_askable(gold) and _askable(pred)):
        return False
    from math_verify import verify

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            g, p = _parse(gold), _parse(pred)
            if not g or not p:
                return False
            return bool(verify(g, p, timeout_seconds=_timeout()))
        except Exception:  # math-verify raises on pathological input; a non-parse is a non-match
            return False


def latex_values(text: str, pis: Sequence[float] = (math.pi,)) -> list[float]:
    """The real value of ``text`` once per value of pi in ``pis`` ([] when it is not a closed number)."""
    if not _askable(text):
        return []
    import sympy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = _parse(text)
            expr = parsed[0] if parsed else None
            if not isinstance(expr, sympy.Expr) or expr.free_symbols:
                return []
            out = []
            for pi in pis:
                value = complex(expr.subs(sympy.pi, pi).evalf())
                if abs(value.imag) < 1e-12 and math.isfinite(value.real):
                    out.append(value.real)
            return out
        except Exception:  # unparsable / not a number
            return []
