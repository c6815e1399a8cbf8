"""Pieces shared by the synthetic families: the problem record, response layout, a guarded executor.

Every family module exposes ``make(rng, steps) -> Problem`` and
``render(ref, task, mistake, rng, tests) -> str | None``; ``Problem.reference`` is the JSON-ready
structured reference solution documented in each family module.
"""

from __future__ import annotations

import builtins
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

MISTAKES: Final[tuple[str, ...]] = ("wrong_operator", "off_by_one", "dropped_step", "wrong_variable", "wrong_formula")

# Given names with their pronoun (subject, object, possessive): the math narratives and logic puzzles.
PEOPLE: Final[tuple[tuple[str, str], ...]] = (
    ("Maria", "f"),
    ("James", "m"),
    ("Aisha", "f"),
    ("Kenji", "m"),
    ("Lena", "f"),
    ("Omar", "m"),
    ("Sofia", "f"),
    ("Diego", "m"),
    ("Priya", "f"),
    ("Lucas", "m"),
    ("Hana", "f"),
    ("Noah", "m"),
    ("Chloe", "f"),
    ("Ivan", "m"),
    ("Zara", "f"),
    ("Felix", "m"),
    ("Mei", "f"),
    ("Tariq", "m"),
    ("Elena", "f"),
    ("Samuel", "m"),
    ("Nadia", "f"),
    ("Owen", "m"),
    ("Ruth", "f"),
    ("Pablo", "m"),
)
PRONOUNS: Final[dict[str, tuple[str, str, str]]] = {"f": ("she", "her", "her"), "m": ("he", "him", "his")}


@dataclass(frozen=True)
class Problem:
    """One generated problem, before it becomes an INSTRUCTION_SCHEMA row."""

    family: str  # "math" | "coding" | "logic"
    template: str  # pattern key within the family
    problem: str  # text without the task prefix
    answer: str  # canonical answer ("" for coding)
    steps: int  # difficulty: reasoning steps
    reference: dict[str, Any]  # structured reference solution (JSON-serialisable)
    tests: list[str] = field(default_factory=list)  # coding: assert lines


def step_lines(texts: Sequence[str]) -> str:
    """'Step 1: ...' lines, one per text."""
    return "\n".join(f"Step {i}: {t}" for i, t in enumerate(texts, start=1))


def python_fence(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def shuffled(items: Sequence[Any], rng: random.Random) -> list[Any]:
    out = list(items)
    rng.shuffle(out)
    return out


class _BudgetExceeded(Exception):
    """Raised inside traced code that ran too many lines (a mutated loop that never ends)."""


def passes(code: str, tests: Sequence[str], *, max_events: int = 200_000) -> bool:
    """True when ``code`` defines what ``tests`` (assert lines) need and every assert holds.

    Runs in-process under a line-count budget; any exception (syntax, runtime, budget) counts as a
    failure. Only ever used on code this package generated itself.
    """
    count = 0

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        count += 1
        if count > max_events:
            raise _BudgetExceeded
        return tracer

    env: dict[str, Any] = {"__builtins__": builtins, "__name__": "__solution__"}
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        exec(compile(code, "<solution>", "exec"), env)  # noqa: S102 - generated code only
        for test in tests:
            exec(compile(test, "<test>", "exec"), env)  # noqa: S102
    except Exception:  # any failure means "not passing"
        return False
    finally:
        sys.settrace(previous)
    return True
