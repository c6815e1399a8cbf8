"""Polars schemas of every artifact, and the unified instruction record.

Every source (synthetic or a real dataset) is adapted to ``INSTRUCTION_SCHEMA``; ``select`` writes
it back out (``data/selected/{train,heldout}.parquet``) so ``interact`` and the evaluators read one
shape. Rows that cannot be adapted become ``REJECTED_SCHEMA`` rows, never silent drops.
"""

from __future__ import annotations

import hashlib
from typing import Final

import polars as pl

from preftree.text import canonical

TASKS: Final = ("Coding", "Math_CoT", "Math_PoT", "Logic")

# UltraInteract's instruction prefixes (reference/eurus.md §1.1). The Logic prefix is the no-tool
# variant (ReClor-style deduction); the Wikipedia-tool variant needs a search tool we do not ship.
INSTRUCTION_PREFIXES: Final[dict[str, str]] = {
    "Coding": "Write Python code to solve the task.\n",
    "Math_CoT": (
        "Solve the following math problem step-by-step.\n"
        "Simplify your answer as much as possible. Present your final answer as \\boxed{Your Answer}.\n"
    ),
    "Math_PoT": (
        "Tool available:\n[1] Python interpreter\n"
        "When you send a message containing Python code to python, it will be executed in a stateful "
        "Jupyter notebook environment.\n"
        "Solve the following math problem step-by-step.\nSimplify your answer as much as possible.\n"
    ),
    "Logic": "Solve the following problem step-by-step:\n",
}

INSTRUCTION_SCHEMA: Final = pl.Schema(
    {
        "id": pl.String,  # sha256 hex of (task, dataset, canonical problem): stable across runs
        "problem_id": pl.String,  # sha256 hex of (dataset, canonical problem): shared by CoT/PoT variants
        "task": pl.String,  # one of TASKS
        "dataset": pl.String,  # source name, e.g. "synthetic", "gsm8k"
        "problem": pl.String,  # the problem text without the task prefix
        "instruction": pl.String,  # INSTRUCTION_PREFIXES[task] + problem: what the actor sees
        "answer": pl.String,  # ground-truth final answer ("" for Coding)
        "tests": pl.List(pl.String),  # Coding: test snippets run after the solution, in order
        "reference": pl.String,  # JSON: structured reference solution (see sources.synthetic)
        "pattern": pl.String,  # template / formula key for stratified caps ("" when unknown)
        "difficulty": pl.Int32,  # number of reasoning steps where known, else null
        "source_row": pl.Int64,  # 0-based row index in the source file / split
        "split": pl.String,  # split of the source dataset ("train", "test", ...)
    }
)

REJECTED_SCHEMA: Final = pl.Schema(
    {
        "dataset": pl.String,
        "file": pl.String,  # path or HF id the row came from
        "source_row": pl.Int64,
        "field": pl.String,  # the offending field ("" when the whole row is bad)
        "reason": pl.String,  # e.g. "missing", "empty", "wrong type: expected str, got int"
        "raw": pl.String,  # the row as JSON, truncated to 2,000 characters
    }
)

# Rows removed on purpose (dedup, decontamination, caps, difficulty) with the reason: nothing is
# dropped silently, so a user can always see why an instruction is absent.
REMOVED_SCHEMA: Final = pl.Schema(
    {
        "id": pl.String,
        "dataset": pl.String,
        "task": pl.String,
        "source_row": pl.Int64,
        "reason": pl.String,  # exact_duplicate | near_duplicate | contaminated | cap | difficulty | solved
        "detail": pl.String,  # e.g. the kept duplicate's id, or the eval set and the shared 8-gram
    }
)


def content_id(*parts: str) -> str:
    """64-hex sha256 over canonicalised parts (the shape of UltraInteract's parent_id)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(canonical(part).encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()


def make_instruction(task: str, problem: str) -> str:
    """The prompt the actor sees: UltraInteract's task prefix followed by the problem."""
    if task not in INSTRUCTION_PREFIXES:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return INSTRUCTION_PREFIXES[task] + problem


def record_ids(task: str, dataset: str, problem: str) -> tuple[str, str]:
    """(id, problem_id) for one instruction record."""
    return content_id(task, dataset, problem), content_id(dataset, problem)


def empty_frame(schema: pl.Schema) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def conform(df: pl.DataFrame, schema: pl.Schema, *, what: str) -> pl.DataFrame:
    """Select and order the schema's columns, casting strictly; a missing column is a clear error."""
    missing = [c for c in schema.names() if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}")
    return df.select([pl.col(name).cast(dtype, strict=True) for name, dtype in schema.items()])
