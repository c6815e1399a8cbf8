"""MINT benchmark loaders (``<task>_test_prompts.json``): code, reasoning, TheoremQA and MMLU subsets.

Formats: see :mod:`preftree.evaluate.loaders`. Every item also keeps its row's raw ``prompt``,
``reference`` and ``answer_type`` in ``meta["mint"]``: MINT's own protocol (``preftree.evaluate.mint``)
builds its prompts and checks from those, the single-turn items from the fields parsed here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from preftree.evaluate import prompts
from preftree.evaluate.items import BenchmarkFormatError, Item
from preftree.evaluate.loaders import Row, field_value, nonempty_field
from preftree.evaluate.loaders_code import parse_humaneval, parse_mbpp
from preftree.evaluate.loaders_math import math_item, parse_theoremqa


def with_raw_rows(items: list[Item], rows: Sequence[Row], source: str) -> list[Item]:
    """``items`` (one per row, in order) with ``meta["mint"]``: the row's raw id, prompt, reference, answer_type."""
    if len(items) != len(rows):
        raise BenchmarkFormatError(source, None, None, f"{len(items)} items from {len(rows)} rows")
    out = []
    for i, (item, row) in enumerate(zip(items, rows, strict=True)):
        raw = {
            "id": row.get("id"),
            "prompt": nonempty_field(row, "prompt", source, i),
            "reference": field_value(row, "reference", source, i),
            "answer_type": row.get("answer_type"),
        }
        out.append(replace(item, meta={**item.meta, "mint": raw}))
    return out


def parse_mint_code(rows: Sequence[Row], source: str, *, benchmark: str) -> list[Item]:
    """MINT humaneval / mbpp: HumanEval or full-MBPP fields; ``reference`` holds the test code."""
    if rows and "entry_point" in rows[0]:
        items = parse_humaneval(rows, source, benchmark=benchmark)
    else:
        items = parse_mbpp(rows, source, benchmark=benchmark)
    return with_raw_rows(items, rows, source)


def parse_mint_reasoning(rows: Sequence[Row], source: str, *, benchmark: str) -> list[Item]:
    """MINT gsm8k / math (numeric reference; within 5% relative, else substring) and hotpotqa (text)."""
    text_task = benchmark.endswith("hotpotqa")
    items = []
    for i, row in enumerate(rows):
        prompt = nonempty_field(row, "prompt", source, i)
        ref = field_value(row, "reference", source, i)
        id_ = str(field_value(row, "id", source, i, default=i))
        if text_task:
            items.append(
                Item(id_, benchmark, "text", "Reasoning", prompts.text_prompt(prompt), answer=str(ref).strip(),
                     meta={"row": i})
            )  # fmt: skip
        else:
            item = math_item(benchmark, id_, prompt, str(ref).strip(), "numeric", row=i, rel_tol=0.05, substring=True)
            items.append(item)
    return with_raw_rows(items, rows, source)


def parse_mint_theoremqa(rows: Sequence[Row], source: str, *, benchmark: str = "mint_theoremqa") -> list[Item]:
    keys = {"id": "id", "Question": "prompt", "Answer": "reference", "Answer_type": "answer_type"}
    mapped = [{new: r.get(old, i if new == "id" else None) for new, old in keys.items()} for i, r in enumerate(rows)]
    return with_raw_rows(parse_theoremqa(mapped, source, benchmark=benchmark), rows, source)


_OPTIONS = re.compile(r"Options:\s*(.*)$", re.DOTALL)


def parse_options(prompt: str) -> dict[str, str]:
    """``{"A": text, ...}`` from MINT's ``Options: A ) x , B ) y`` line ({} when there is none)."""
    m = _OPTIONS.search(prompt)
    if m is None:
        return {}
    parts = re.split(r"(?:^|\s,\s|\s*,\s*)(?=[A-J]\s\)\s)", m.group(1).strip())
    out: dict[str, str] = {}
    for part in parts:
        pm = re.match(r"([A-J])\s\)\s(.*)$", part.strip(), re.DOTALL)
        if pm:
            out[pm.group(1)] = pm.group(2).strip().rstrip(",").strip()
    return out


def parse_mint_mmlu(rows: Sequence[Row], source: str, *, benchmark: str = "mint_mmlu") -> list[Item]:
    items = []
    for i, row in enumerate(rows):
        prompt = nonempty_field(row, "prompt", source, i)
        ref = nonempty_field(row, "reference", source, i).strip().strip("()").upper()
        options = parse_options(prompt)
        if not options:
            raise BenchmarkFormatError(source, i, "prompt", "no 'Options: A ) ...' line")
        if ref not in options:
            raise BenchmarkFormatError(source, i, "reference", f"{ref!r} is not one of the options {sorted(options)}")
        items.append(
            Item(
                id=str(field_value(row, "id", source, i, default=i)),
                benchmark=benchmark,
                kind="multiple-choice",
                family="Math",
                prompt=prompts.multiple_choice_prompt(prompt),
                answer=ref,
                meta={"options": options, "row": i},
            )
        )
    return with_raw_rows(items, rows, source)
