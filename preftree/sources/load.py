"""Load one configured real dataset into unified instruction records plus rejections.

``load_source(name, spec)`` reads ``spec.path`` (a file, or a folder read through ``datasets``) or
``spec.hf_id`` (offline), adapts every row with ``ADAPTERS[spec.adapter]`` and expands it into one
record per task. Rows that cannot be read or adapted, or (for training data) whose record misses what
its task needs (``sources.contract``), become ``REJECTED_SCHEMA`` rows naming the file, the row, the
field and the reason: nothing is dropped silently.

``source_row`` locates the row in its file: the 1-based line number for JSONL (blank lines counted,
also for JSONL misnamed ``.json`` and gzipped files), the 0-based record index for a JSON document,
a parquet file or a Hugging Face dataset (see ``sources.files``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import polars as pl
from tqdm import tqdm

from preftree.config.sources import FileSourceParams
from preftree.schema import INSTRUCTION_SCHEMA, REJECTED_SCHEMA, TASKS, conform, make_instruction, record_ids
from preftree.sources.adapters import GENERIC_FIELDS, Adapter, Item, Rejection
from preftree.sources.contract import check_item
from preftree.sources.files import RowError, read_hf, read_rows
from preftree.sources.registry import ADAPTERS

RAW_LIMIT = 2000


def _raw(row: Any) -> str:
    """The row as JSON, truncated, with any lone surrogate escaped so it can be stored as UTF-8."""
    text = json.dumps(row, ensure_ascii=False, default=str)[:RAW_LIMIT]
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def resolve(name: str, spec: FileSourceParams) -> tuple[Adapter, tuple[str, ...], str]:
    """Validate a source spec: (adapter, tasks, file-or-id). Raises ValueError naming the problem."""
    if spec.adapter not in ADAPTERS:
        raise ValueError(f"source {name!r}: unknown adapter {spec.adapter!r}; valid adapters: {', '.join(ADAPTERS)}")
    adapter = ADAPTERS[spec.adapter]
    tasks = tuple(spec.tasks) or adapter.default_tasks
    if not tasks:
        raise ValueError(f"source {name!r}: adapter {adapter.name!r} needs `tasks` (any of {', '.join(TASKS)})")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        listed = ", ".join(map(repr, unknown))
        raise ValueError(f"source {name!r}: unknown task(s) {listed}; valid tasks: {', '.join(TASKS)}")
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"source {name!r}: duplicate task in {list(tasks)}")
    if adapter.name == "generic":
        bad = [f for f in spec.fields if f not in GENERIC_FIELDS]
        if "problem" not in spec.fields or bad:
            raise ValueError(
                f"source {name!r}: generic adapter `fields` must map `problem` (and optionally "
                f"{', '.join(GENERIC_FIELDS[1:])}) to source columns; got {dict(spec.fields)}"
            )
    if (spec.path is None) == (spec.hf_id is None):
        raise ValueError(f"source {name!r}: set exactly one of `path` (a local file or folder) or `hf_id`")
    if spec.limit is not None and spec.limit < 0:
        raise ValueError(f"source {name!r}: `limit` must be >= 0, got {spec.limit}")
    return adapter, tasks, str(spec.path if spec.path is not None else spec.hf_id)


def _named(name: str, rows: Iterator[tuple[int, dict[str, Any]]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``rows``, with the config name of the source in front of an unavailable-dataset error."""
    try:
        yield from rows
    except FileNotFoundError as err:
        raise type(err)(f"source {name!r}: {err}") from None  # keeps SourceUnavailableError


def _rows(name: str, spec: FileSourceParams) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    if spec.hf_id is not None:
        return _named(name, read_hf(spec.hf_id, spec.hf_config, spec.split))
    path = Path(str(spec.path)).expanduser()
    if path.is_dir():
        return _named(name, read_hf(str(path), spec.hf_config, spec.split))
    if not path.exists():
        raise FileNotFoundError(f"source {name!r}: data file not found: {path}")
    return read_rows(path, source=name, line_numbers=True)


def load_source(name: str, spec: FileSourceParams, *, training: bool = True) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(records conforming to INSTRUCTION_SCHEMA, rejections conforming to REJECTED_SCHEMA).

    ``training``: check every record against its tasks' contract (``sources.contract``); an eval set
    read for decontamination needs only its problem text."""
    adapter, tasks, origin = resolve(name, spec)
    records: dict[str, list[Any]] = {col: [] for col in INSTRUCTION_SCHEMA.names()}
    rejected: dict[str, list[Any]] = {col: [] for col in REJECTED_SCHEMA.names()}

    def reject(index: int, field: str, reason: str, raw: str) -> None:
        for col, value in zip(REJECTED_SCHEMA.names(), (name, origin, index, field, reason, raw), strict=True):
            rejected[col].append(value)

    rows = _rows(name, spec)
    if spec.limit is not None:
        rows = islice(rows, spec.limit)
    for index, row in tqdm(rows, desc=f"load {name}", unit="row", total=spec.limit, disable=None):
        if isinstance(row, RowError):
            reject(index, "", row.reason, row.raw)
            continue
        result = adapter.adapt(row, spec.fields)
        if training and isinstance(result, Item):
            result = check_item(result, tasks) or result
        if isinstance(result, Rejection):
            reject(index, result.field, result.reason, _raw(row))
            continue
        _append(records, result, tasks, name, index, spec.split)
    frame = conform(pl.DataFrame(records, schema=INSTRUCTION_SCHEMA), INSTRUCTION_SCHEMA, what=f"source {name}")
    rejects = conform(pl.DataFrame(rejected, schema=REJECTED_SCHEMA), REJECTED_SCHEMA, what=f"rejections {name}")
    return frame, rejects


def _append(
    records: dict[str, list[Any]], item: Item, tasks: tuple[str, ...], name: str, index: int, split: str
) -> None:
    for task in tasks:
        rid, pid = record_ids(task, name, item.problem)
        values = {
            "id": rid, "problem_id": pid, "task": task, "dataset": name, "problem": item.problem,
            "instruction": make_instruction(task, item.problem), "answer": item.answer, "tests": list(item.tests),
            "reference": item.reference, "pattern": item.pattern, "difficulty": item.difficulty,
            "source_row": index, "split": split,
        }  # fmt: skip
        for col, value in values.items():
            records[col].append(value)


def eval_texts(name: str, spec: FileSourceParams) -> list[str]:
    """Problem texts of an evaluation set (one per problem, source order), for n-gram decontamination."""
    records, _ = load_source(name, spec, training=False)
    return records.unique(subset="problem_id", keep="first", maintain_order=True)["problem"].to_list()
