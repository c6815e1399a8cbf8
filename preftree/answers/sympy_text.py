"""A final answer printed by a program in sympy's syntax, rewritten as LaTeX for the LaTeX checker.

A program-of-thought that computes with sympy prints ``11*sqrt(2)``, ``2*pi/3``, ``x**2 + 1``,
``Interval.open(-2, 1)`` or ``{1 - sqrt(19), 1 + sqrt(19)}``; references are LaTeX (``11\\sqrt{2}``,
``\\frac{2\\pi}{3}``, ``(-2,1)``). :func:`sympy_as_latex` rewrites the printed text, as text: it never
evaluates it (model output is not run in the checking process), and returns None for text with
nothing of sympy's syntax in it, so every other answer is judged as before.
"""

from __future__ import annotations

import re

_FUNCTIONS = {"sqrt": ("\\sqrt{", "}"), "exp": ("e^{", "}"), "Abs": ("\\left|", "\\right|")}
_NAMED = ("log", "sin", "cos", "tan", "asin", "acos", "atan")
_INTERVALS = {"Interval.open": ("(", ")"), "Interval.Lopen": ("(", "]"), "Interval.Ropen": ("[", ")"),
              "Interval": ("[", "]")}  # fmt: skip
_WORDS = {"pi": "\\pi", "oo": "\\infty", "I": "i", "E": "e"}
_MARKERS = re.compile(r"\*\*|\bsqrt\(|\bpi\b|\boo\b|\bInterval\b|\bexp\(|\bAbs\(|\bRational\(|\bI\b|\d\*[A-Za-z(]")


def _closing(text: str, start: int) -> int:
    """Index of the parenthesis closing the one at ``start`` (-1 when unbalanced)."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return -1


def _calls(text: str) -> str | None:
    """Function calls rewritten innermost-last (None: unbalanced parentheses)."""
    pattern = re.compile(r"\b(Interval\.open|Interval\.Lopen|Interval\.Ropen|Interval|Rational|sqrt|exp|Abs|"
                         + "|".join(_NAMED) + r")\(")  # fmt: skip
    while (m := pattern.search(text)) is not None:
        end = _closing(text, m.end() - 1)
        if end < 0:
            return None
        inner, name = text[m.end() : end], m.group(1)
        if name in _INTERVALS:
            left, right = _INTERVALS[name]
            new = f"{left}{inner}{right}"
        elif name == "Rational":
            parts = inner.split(",")
            if len(parts) != 2:
                return None
            new = f"\\frac{{{parts[0].strip()}}}{{{parts[1].strip()}}}"
        elif name in _FUNCTIONS:
            left, right = _FUNCTIONS[name]
            new = f"{left}{inner}{right}"
        else:
            new = f"\\{name}\\left({inner}\\right)"
        text = text[: m.start()] + new + text[end + 1 :]
    return text


def _powers(text: str) -> str:
    """``a**b`` -> ``a^{b}``: the exponent is a parenthesised group, a number or a name."""
    out, i = [], 0
    while (j := text.find("**", i)) >= 0:
        out.append(text[i:j])
        k = j + 2
        if k < len(text) and text[k] == "(":
            end = _closing(text, k)
            end = len(text) - 1 if end < 0 else end
            out.append("^{" + text[k + 1 : end] + "}")
            i = end + 1
        else:
            m = re.match(r"-?[\w.]+", text[k:])
            length = m.end() if m else 0
            out.append("^{" + text[k : k + length] + "}")
            i = k + length
    out.append(text[i:])
    return "".join(out)


def sympy_as_latex(text: str) -> str | None:
    """``text`` (sympy's printed form) as LaTeX, or None when it shows none of sympy's syntax."""
    text = text.strip()
    if "\\" in text or not _MARKERS.search(text):
        return None
    rewritten = _calls(text)
    if rewritten is None:
        return None
    rewritten = _powers(rewritten)
    for word, latex in _WORDS.items():
        rewritten = re.sub(rf"(?<![\\\w]){word}(?!\w)", lambda _m, latex=latex: latex, rewritten)
    rewritten = rewritten.replace("*", " \\cdot ")
    if rewritten.startswith("{") and rewritten.endswith("}"):
        rewritten = "\\{" + rewritten[1:-1] + "\\}"
    return rewritten
