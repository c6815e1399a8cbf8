"""The one record every benchmark loader returns, and the error for malformed benchmark files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["code", "math", "numeric", "theoremqa", "multiple-choice", "text", "tiny", "bbh", "ifeval"]
KINDS: tuple[str, ...] = ("code", "math", "numeric", "theoremqa", "multiple-choice", "text", "tiny", "bbh", "ifeval")


@dataclass(frozen=True)
class Item:
    """One evaluation problem, whatever the benchmark's file format.

    ``kind`` picks the scorer: ``code`` (program + tests in the sandbox), ``math`` (LaTeX answer,
    math-verify), ``numeric`` (a number, gsm8k-style), ``theoremqa`` (typed answer, 4% tolerance),
    ``multiple-choice`` (option letter), ``text`` (reference is a substring of the answer, MINT
    HotpotQA), ``tiny`` (a tiny-world record judged by ``preftree.env``), ``bbh`` (the answer after "So the
    answer is", ``preftree.evaluate.bbh``) or ``ifeval`` (instructions checked, ``preftree.evaluate.ifeval``).
    ``family`` is the task family summaries group by: ``Coding`` / ``Math`` / ``Reasoning`` (``Instruction``
    for IFEval) for public benchmarks, the record's own task (``Coding``, ``Math_CoT``, ``Math_PoT``,
    ``Logic``) for the tiny world.
    """

    id: str
    benchmark: str
    kind: Kind
    family: str
    prompt: str  # the 0-shot user message (CoT style for math)
    answer: str | None = None  # reference final answer (None: none, e.g. code or a GSM-Plus critical item)
    tests: tuple[str, ...] = ()  # code: test statements run after the program, in order
    entry_point: str | None = None
    reference: str | None = None  # canonical solution / reference code (HumanEval: the body only)
    pot_prompt: str | None = None  # math: the program-of-thought variant of the prompt
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def prompt_for(self, mode: str) -> str:
        """The user message for ``mode`` (``pot`` falls back to the CoT prompt when there is none)."""
        if mode == "pot" and self.pot_prompt is not None:
            return self.pot_prompt
        return self.prompt


class BenchmarkFormatError(ValueError):
    """A benchmark file (or row) does not have the expected shape; the message names file, row, field."""

    def __init__(self, source: str, row: int | None, field_name: str | None, reason: str) -> None:
        where = source
        if row is not None:
            where += f": row {row}"
        if field_name:
            where += f": field {field_name!r}"
        super().__init__(f"{where}: {reason}")
        self.source = source
        self.row = row
        self.field = field_name
        self.reason = reason
