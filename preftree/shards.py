"""Sharded, resumable batch work: the unit of checkpointing for long generation stages.

Items are cut into fixed shards in input order. Each finished shard is written atomically as a
folder of parquet files under a checkpoint directory keyed by everything that determines its
content (params, input hash, code hash); a shard folder exists only when complete. After a kill
(even `kill -9`) a rerun skips the finished shards and recomputes the rest, so the concatenated
result equals an uninterrupted run's with no duplicate or lost record.

The checkpoint is a resume aid only (a shard's content is a function of its run key), so damage is
repaired, not reported as an error: a shard whose parquet cannot be read is removed and computed
again; a ``manifest.json`` that does not parse is written anew (each shard is checked as it is read),
and a checkpoint whose manifest describes another cut of the items (count, shard size) is emptied and
started over. Each prints one warning naming the path.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl
from tqdm import tqdm

from preftree.io import atomic_dir, write_json, write_parquet

ShardFn = Callable[[pl.DataFrame], Mapping[str, pl.DataFrame]]


def run_key(*parts: Any) -> str:
    """A short digest of everything that determines the shards' content."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def files_digest(paths: Iterable[Path]) -> str:
    """sha256 over the bytes of files (folders: every file below, sorted; __pycache__ skipped)."""
    h = hashlib.sha256()
    for path in sorted(paths):
        files = (
            sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            if path.is_dir()
            else [path]
        )
        for file in files:
            h.update(str(file).encode())
            h.update(file.read_bytes())
    return h.hexdigest()


def warn(path: Path, why: str, action: str) -> None:
    print(f"warning: {path}: {why}; {action}", file=sys.stderr)


def checked_manifest(ckpt_dir: Path, manifest: dict[str, int]) -> None:
    """Write ``manifest`` to ``ckpt_dir``: over one that does not parse (warned), and after emptying the
    folder when the one there describes another cut of the items (its shards would not line up)."""
    path = ckpt_dir / "manifest.json"
    if path.exists():
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            warn(path, f"unreadable JSON ({err})", "writing it again (each shard is checked as it is read)")
        else:
            if found != manifest:
                why = f"records {found}, this run {manifest}"
                warn(path, why, f"discarded the checkpoint {ckpt_dir}, every shard is computed again")
                shutil.rmtree(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    write_json(path, manifest)


def read_shard(folder: Path, names: tuple[str, ...]) -> dict[str, pl.DataFrame] | None:
    """A finished shard's frames; None when it is absent or a file of it cannot be read (then the
    folder is removed, with a warning, to be computed again)."""
    if not folder.is_dir():
        return None
    try:
        return {name: pl.read_parquet(folder / f"{name}.parquet") for name in names}
    except (OSError, pl.exceptions.PolarsError) as err:
        warn(folder, f"unreadable ({type(err).__name__}: {str(err).splitlines()[0]})", "computing this shard again")
        shutil.rmtree(folder, ignore_errors=True)
        return None


def run_sharded(
    items: pl.DataFrame,
    *,
    shard_size: int,
    ckpt_dir: Path,
    fn: ShardFn,
    names: tuple[str, ...],
    progress: bool = True,
    desc: str = "shards",
) -> tuple[dict[str, pl.DataFrame], dict[str, int]]:
    """Apply `fn` to each shard of `items`, resuming from finished shards in `ckpt_dir`.

    Returns the concatenated outputs (in shard order) and counts {"shards", "resumed", "computed"}.
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    n_shards = (items.height + shard_size - 1) // shard_size
    checked_manifest(ckpt_dir, {"items": items.height, "shard_size": shard_size, "shards": n_shards})
    parts: dict[str, list[pl.DataFrame]] = {name: [] for name in names}
    resumed = 0
    bar = tqdm(total=items.height, desc=desc, unit="item", disable=not progress)
    for index in range(n_shards):
        shard = items.slice(index * shard_size, shard_size)
        folder = ckpt_dir / f"shard-{index:05d}"
        frames = read_shard(folder, names)
        if frames is None:
            outputs = fn(shard)
            with atomic_dir(folder) as tmp:
                for name in names:
                    write_parquet(outputs[name], tmp / f"{name}.parquet")
            frames = {name: pl.read_parquet(folder / f"{name}.parquet") for name in names}  # types as resumed
        else:
            resumed += 1
        for name in names:
            parts[name].append(frames[name])
        bar.update(shard.height)
    bar.close()
    merged = {name: pl.concat(frames) if frames else pl.DataFrame() for name, frames in parts.items()}
    return merged, {"shards": n_shards, "resumed": resumed, "computed": n_shards - resumed}
