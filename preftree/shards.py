"""Sharded, resumable batch work: the unit of checkpointing for long generation stages.

Items are cut into fixed shards in input order. Each finished shard is written atomically as a
folder of parquet files under a checkpoint directory keyed by everything that determines its
content (params, input hash, code hash); a shard folder exists only when complete. After a kill
(even `kill -9`) a rerun skips the finished shards and recomputes the rest, so the concatenated
result equals an uninterrupted run's with no duplicate or lost record.
"""

from __future__ import annotations

import hashlib
import json
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
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    n_shards = (items.height + shard_size - 1) // shard_size
    write_json(ckpt_dir / "manifest.json", {"items": items.height, "shard_size": shard_size, "shards": n_shards})
    parts: dict[str, list[pl.DataFrame]] = {name: [] for name in names}
    resumed = 0
    bar = tqdm(total=items.height, desc=desc, unit="item", disable=not progress)
    for index in range(n_shards):
        shard = items.slice(index * shard_size, shard_size)
        folder = ckpt_dir / f"shard-{index:05d}"
        if folder.is_dir() and all((folder / f"{name}.parquet").exists() for name in names):
            resumed += 1
        else:
            outputs = fn(shard)
            with atomic_dir(folder) as tmp:
                for name in names:
                    write_parquet(outputs[name], tmp / f"{name}.parquet")
        for name in names:
            parts[name].append(pl.read_parquet(folder / f"{name}.parquet"))
        bar.update(shard.height)
    bar.close()
    merged = {name: pl.concat(frames) if frames else pl.DataFrame() for name, frames in parts.items()}
    return merged, {"shards": n_shards, "resumed": resumed, "computed": n_shards - resumed}
