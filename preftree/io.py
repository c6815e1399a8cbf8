"""Atomic artifact writes: a temp sibling, then a rename, so an interrupted stage never leaves a
half-written output that looks complete.

Every temp sibling is named ``.<name>.tmp-<pid>-<hex>`` (``.old-`` for the output being replaced),
so a run killed mid-write (even ``kill -9``, which runs no cleanup) leaves siblings that say which
process made them: the next write of the same target removes those whose process is gone
(:func:`clear_stale`), printing one line each, and keeps those of a live process (a concurrent run).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

STALE = re.compile(r"\.(tmp|old)-(\d+)-[^/]*")  # what follows ".<name>" in a temp sibling's name
_OWN: set[str] = set()  # names of the temp siblings this process made (its pid may be a dead run's)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another user counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def tree_size(path: Path) -> int:
    """Bytes of the files under ``path`` (a file: its size; links not followed)."""
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def clear_stale(target: Path) -> list[Path]:
    """Remove the temp siblings of ``target`` (``.<name>.tmp-<pid>-*`` / ``.<name>.old-<pid>-*``, folders
    or files) whose process is gone, printing one line per removal; returns what was removed."""
    target = Path(target)
    prefix = f".{target.name}"
    removed: list[Path] = []
    if not target.parent.is_dir():
        return removed
    for sibling in sorted(target.parent.iterdir()):
        match = STALE.fullmatch(sibling.name[len(prefix) :]) if sibling.name.startswith(prefix) else None
        if match is None or in_use(sibling.name, int(match.group(2))):
            continue
        try:
            size = tree_size(sibling)
            if sibling.is_dir() and not sibling.is_symlink():
                shutil.rmtree(sibling)
            else:
                sibling.unlink()
        except FileNotFoundError:  # a concurrent run removed it first
            continue
        print(f"removed {sibling} ({human_size(size)}), left by a killed run (pid {match.group(2)})", file=sys.stderr)
        removed.append(sibling)
    return removed


def in_use(name: str, pid: int) -> bool:
    """Whether the temp sibling ``name`` made by ``pid`` may still be written: this process made it,
    or another live process did (a reused pid keeps a leftover: the safe side)."""
    return name in _OWN if pid == os.getpid() else pid_alive(pid)


def temp_name(target: Path, kind: str = "tmp") -> Path:
    """``.<name>.<kind>-<pid>-<8 hex>`` beside ``target``, registered as this process's own."""
    path = target.parent / f".{target.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    _OWN.add(path.name)
    return path


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temp sibling of `target`; on success it replaces `target` whole, on error it is removed.

    Stale siblings of `target` that a killed run left are removed first (:func:`clear_stale`)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clear_stale(target)
    tmp, old = temp_name(target), temp_name(target, "old")
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists() or target.is_symlink():
        os.replace(target, old)
    os.replace(tmp, target)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    elif old.exists() or old.is_symlink():
        old.unlink()


@contextlib.contextmanager
def scratch_dir(name: str) -> Iterator[Path]:
    """A private temp folder ``<system tmp>/.preftree-<name>.tmp-<pid>-<hex>``, removed on exit; the
    ones a killed run left (its process gone) are removed first. For trainers' scratch output_dir."""
    target = Path(tempfile.gettempdir()) / f"preftree-{name}"
    clear_stale(target)
    tmp = temp_name(target)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def temp_file(path: Path) -> Path:
    """A new empty temp sibling of ``path`` (``.<name>.tmp-<pid>-<hex>``), stale ones removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    clear_stale(path)
    tmp = temp_name(path)
    tmp.touch(exist_ok=False)
    return tmp


def atomic_write_text(path: Path, text: str) -> None:
    tmp = temp_file(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
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
    tmp = temp_file(path)
    try:
        if plain_types:
            table = df.to_arrow()
            table = table.cast(pa.schema([pa.field(f.name, _plain(f.type), f.nullable) for f in table.schema]))
            pq.write_table(table, tmp, compression="zstd")
        else:
            df.write_parquet(tmp, compression="zstd", statistics=True)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
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
