"""Atomic artifact writes: a temp sibling, then a rename, so an interrupted stage never leaves a
half-written output that looks complete."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temp sibling of `target`; on success it replaces `target` whole, on error it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = target.parent / f".{target.name}.tmp-{tag}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = target.parent / f".{target.name}.old-{tag}"
    if target.exists() or target.is_symlink():
        os.replace(target, old)
    os.replace(tmp, target)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    elif old.exists() or old.is_symlink():
        old.unlink()


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def _plain(dtype: pa.DataType) -> pa.DataType:
    """large_string / string_view -> string, large_list -> list, recursively."""
    if pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return pa.string()
    if pa.types.is_large_list(dtype) or pa.types.is_list(dtype) or pa.types.is_list_view(dtype):
        return pa.list_(_plain(dtype.value_type))
    if pa.types.is_struct(dtype):
        return pa.struct([pa.field(f.name, _plain(f.type), f.nullable) for f in dtype])
    return dtype


def write_parquet(df: pl.DataFrame, path: Path, *, plain_types: bool = False) -> None:
    """Atomic parquet write. `plain_types` stores arrow `string` / `list` instead of polars' large
    variants, so `datasets` loads the file with the same Features as the Hugging Face releases."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        if plain_types:
            table = df.to_arrow()
            table = table.cast(pa.schema([pa.field(f.name, _plain(f.type), f.nullable) for f in table.schema]))
            pq.write_table(table, tmp, compression="zstd")
        else:
            df.write_parquet(tmp, compression="zstd", statistics=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(rows: list[dict[str, Any]], path: Path, columns: list[str] | None = None) -> None:
    """Rows (one dict per logging step) as CSV for `dvc plots`: the given columns, else the union of
    keys in first-seen order."""
    columns = list(columns or [])
    for row in rows:
        columns += [k for k in row if k not in columns]
    lines = [",".join(columns)] + [
        ",".join("" if row.get(c) is None else str(row.get(c)) for c in columns) for row in rows
    ]
    atomic_write_text(path, "\n".join(lines) + "\n")
