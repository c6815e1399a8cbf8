"""Loaders: one per benchmark file format, each turning rows into :class:`Item` records.

Every loader is ``parse_<format>(rows, source) -> list[Item]``: ``rows`` are dicts (from
:func:`read_records` for a local file, or from a Hugging Face dataset), ``source`` names where they
came from for error messages. A malformed row raises :class:`BenchmarkFormatError` naming the file,

The parsers live by family: ``loaders_code`` (humaneval, mbpp, mbpp_eurus, leetcode),
``loaders_math`` (gsm8k, svamp, math, theoremqa, asdiv, gsm_plus), ``loaders_mint`` (the MINT
subsets) and ``loaders_tiny`` (the tiny world's held-out rows); this module reads the files and
holds the field accessors they share.
the 0-based row and the field.

Formats (field names exactly as the public files spell them):

* **humaneval**: ``task_id, prompt, entry_point, canonical_solution, test`` (.jsonl / .jsonl.gz).
  Tests: ``test`` then ``check(<entry_point>)``. MINT's HumanEval subset uses the same fields.
* **mbpp** (full): ``task_id, text, code, test_list, test_setup_code, challenge_test_list``. Tests:
  ``test_setup_code`` (after the program: in task 367 / 927 it uses a class the program defines), then
  ``test_list``; ``challenge_test_list`` is kept in ``meta`` and not scored.
* **mbpp_eurus** (Eurus's 399 sanitized rows): ``task_id, prompt, code, test_imports, test_list,
  instruction``. ``test_imports`` run before the program (``meta["preamble"]``), then ``test_list``.
* **leetcode** (Eurus / DeepSeek-Coder jsonl): ``task_id, prompt`` (problem + ``class Solution`` stub),
  ``test`` (asserts on ``my_solution = Solution()``); optional ``canonical_solution`` / ``solution``.
  A prelude of the usual imports (``typing``, ``collections``, ``math``, ``heapq``, ...) runs first.
* **gsm8k**: ``question, answer``; the reference is the number after ``####``.
* **svamp**: ``ID, Body, Question, Answer``; the question is ``Body + ". " + Question`` as Eurus builds it
  (``" "`` instead when the body already ends with punctuation).
* **math** (MATH / MATH-500): ``problem, solution`` and ``answer`` where present (else the solution's
  last ``\\boxed{}``); the PRIME/Eurus-2 layout ``problem, expected_answer, level, type, id`` too, as
  rows or column-oriented JSON (``pandas.to_json``).
* **theoremqa**: ``Question, Answer, Answer_type`` (integer, float, bool, option, list of integer,
  list of float); MINT's variant ``prompt, reference, answer_type``.
* **asdiv** (Lila layout as Eurus ships it): ``{"Instances": [{"Input", "Output Answer": [...], "split"}]}``;
  only rows whose ``split`` is ``test`` are kept.
* **gsm_plus**: ``question, answer, perturbation_type``; ``answer`` ``None`` / ``"None"`` marks a
  critical-thinking item whose question lacks information (see ``preftree.answers.bench``).
* **mint_<task>** (MINT ``<task>_test_prompts.json``, JSONL): ``id, prompt, reference`` plus per-task
  fields (see the ``parse_mint_*`` functions).
* **tiny**: rows of ``data/selected/heldout.parquet`` (``preftree.schema.INSTRUCTION_SCHEMA``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from preftree.answers.core import canonical_number
from preftree.evaluate.items import BenchmarkFormatError, Item

Row = Mapping[str, Any]
Parser = Callable[[Sequence[Row], str], list[Item]]


# ----------------------------------------------------------------------------- reading files


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a local benchmark file: .jsonl, .json (array, JSONL with a .json suffix, column-oriented
    ``{column: {row: value}}``, or a Lila ``{"Instances": [...]}`` object), .parquet, each optionally .gz."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"benchmark file not found: {p}")
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] == ".parquet":
        import polars as pl

        return pl.read_parquet(p).to_dicts()
    opener = gzip.open if suffixes and suffixes[-1] == ".gz" else open
    try:
        with opener(p, "rt", encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchmarkFormatError(str(p), None, None, f"cannot read: {exc}") from exc
    inner = suffixes[-2] if len(suffixes) > 1 and suffixes[-1] == ".gz" else (suffixes[-1] if suffixes else "")
    if inner == ".jsonl":
        return _jsonl(text, str(p))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # JSONL despite the .json suffix (MINT)
            return _jsonl(text, str(p))
        raise BenchmarkFormatError(str(p), None, None, f"invalid JSON: {exc}") from exc
    return _json_rows(data, str(p))


def _jsonl(text: str, source: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BenchmarkFormatError(source, len(rows), None, f"line {line_no} is not valid JSON: {exc}") from exc
        if not isinstance(row, dict):
            raise BenchmarkFormatError(source, len(rows), None, f"line {line_no}: expected an object")
        rows.append(row)
    return rows


def _json_rows(data: Any, source: str) -> list[dict[str, Any]]:
    if isinstance(data, list):
        for i, row in enumerate(data):
            if not isinstance(row, dict):
                raise BenchmarkFormatError(source, i, None, f"expected an object, got {type(row).__name__}")
        return data
    if isinstance(data, dict):
        if isinstance(data.get("Instances"), list):  # Lila (ASDiv as Eurus ships it)
            return _json_rows(data["Instances"], source)
        if data and all(isinstance(v, dict) for v in data.values()):  # pandas.to_json column-oriented
            keys = list(next(iter(data.values())).keys())
            if any(list(col.keys()) != keys for col in data.values()):
                raise BenchmarkFormatError(source, None, None, "column-oriented JSON with unequal columns")
            order = sorted(keys, key=lambda k: (0, int(k)) if str(k).lstrip("-").isdigit() else (1, str(k)))
            return [{col: data[col][k] for col in data} for k in order]
    raise BenchmarkFormatError(source, None, None, "expected a JSON array, JSONL, or a column-oriented object")


# ----------------------------------------------------------------------------- field access

_MISSING = object()


def field_value(row: Row, key: str | Sequence[str], source: str, i: int, *, default: Any = _MISSING) -> Any:
    keys = (key,) if isinstance(key, str) else tuple(key)
    for k in keys:
        if k in row and row[k] is not None:
            return row[k]
    if default is not _MISSING:
        return default
    raise BenchmarkFormatError(source, i, " / ".join(keys), "missing")


def str_field(row: Row, key: str | Sequence[str], source: str, i: int, *, default: Any = _MISSING) -> str:
    value = field_value(row, key, source, i, default=default)
    if value is default and default is not _MISSING:
        return value
    if not isinstance(value, str):
        name = key if isinstance(key, str) else key[0]
        raise BenchmarkFormatError(source, i, name, f"wrong type: expected str, got {type(value).__name__}")
    return value


def nonempty_field(row: Row, key: str | Sequence[str], source: str, i: int) -> str:
    value = str_field(row, key, source, i)
    if not value.strip():
        raise BenchmarkFormatError(source, i, key if isinstance(key, str) else key[0], "empty")
    return value


def str_list_field(row: Row, key: str, source: str, i: int, *, required: bool = True) -> list[str]:
    value = field_value(row, key, source, i, default=None if not required else _MISSING)
    if value is None:
        return []
    if hasattr(value, "tolist"):  # numpy arrays from parquet / datasets
        value = value.tolist()
    if isinstance(value, str):
        raise BenchmarkFormatError(source, i, key, "wrong type: expected a list of str, got str")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise BenchmarkFormatError(source, i, key, f"wrong type: expected a list of str, got {type(value).__name__}")
    return list(value)


def number_text(value: Any, source: str, i: int, key: str) -> str:
    canon = canonical_number(value) if not isinstance(value, str) else canonical_number(value.strip())
    if canon is None:
        raise BenchmarkFormatError(source, i, key, f"not a number: {value!r}")
    return canon
