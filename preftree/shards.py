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

Several workers (processes or machines) may grow one cut of the items together: worker ``index`` of
``count`` grows the shards k with ``k % count == index`` (:func:`grow_shards`) into the same checkpoint
folder (a shared filesystem), and :func:`merge_shards` then reads every shard in order. A shard's content
depends only on its items and the run key, never on which worker grew it, so the merged frames are those
of one process growing every shard (:func:`run_sharded`). The run key names files relative to the
repository (:func:`files_digest` with ``root``), so clones at different paths share it.
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
Worker = tuple[int, int]  # (index, count): this worker grows the shards k with k % count == index


class MissingShardsError(RuntimeError):
    """A merge found shards that no worker has finished (the message names them and the folder)."""


def run_key(*parts: Any) -> str:
    """A short digest of everything that determines the shards' content."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def files_digest(paths: Iterable[Path], root: Path | None = None) -> str:
    """sha256 over the names and bytes of files (folders: every file below, sorted; __pycache__ skipped);
    names under ``root`` are hashed relative to it, so two clones of a repository give one digest."""
    h = hashlib.sha256()
    for path in sorted(paths):
        files = (
            sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            if path.is_dir()
            else [path]
        )
        for file in files:
            name = file.relative_to(root) if root is not None and file.is_relative_to(root) else file
            h.update(str(name).encode())
            h.update(file.read_bytes())
    return h.hexdigest()


def shard_count(height: int, shard_size: int) -> int:
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    return (height + shard_size - 1) // shard_size


def owned(n_shards: int, worker: Worker) -> list[int]:
    """The shard indices ``worker`` grows (every ``count``-th, from ``index``: costs spread evenly)."""
    index, count = worker
    if not 0 <= index < count:
        raise ValueError(f"worker index {index} must be in 0 .. {count - 1}")
    return list(range(index, n_shards, count))


def owned_items(height: int, shard_size: int, worker: Worker) -> int:
    """How many items the shards of ``worker`` hold (a progress bar's total)."""
    return sum(min(shard_size, height - k * shard_size) for k in owned(shard_count(height, shard_size), worker))


def shard_folder(ckpt_dir: Path, index: int) -> Path:
    return ckpt_dir / f"shard-{index:05d}"


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


def grow_shards(
    items: pl.DataFrame,
    *,
    shard_size: int,
    ckpt_dir: Path,
    fn: ShardFn,
    names: tuple[str, ...],
    worker: Worker = (0, 1),
    bar: tqdm | None = None,
) -> dict[str, int]:
    """Apply ``fn`` to each shard of ``worker`` not yet finished in ``ckpt_dir`` and write it there.

    ``bar`` (if given) advances by each shard's items when it is done (``fn`` may advance it within a
    shard). Returns {"shards": all of the cut, "owned": this worker's, "resumed", "computed"}."""
    n_shards = shard_count(items.height, shard_size)
    checked_manifest(ckpt_dir, {"items": items.height, "shard_size": shard_size, "shards": n_shards})
    mine = owned(n_shards, worker)
    resumed = done = 0
    for index in mine:
        shard = items.slice(index * shard_size, shard_size)
        folder = shard_folder(ckpt_dir, index)
        if read_shard(folder, names) is None:
            outputs = fn(shard)
            with atomic_dir(folder) as tmp:
                for name in names:
                    write_parquet(outputs[name], tmp / f"{name}.parquet")
        else:
            resumed += 1
        done += shard.height
        if bar is not None:
            bar.update(max(0, done - bar.n))
    return {"shards": n_shards, "owned": len(mine), "resumed": resumed, "computed": len(mine) - resumed}


def merge_shards(
    items: pl.DataFrame, *, shard_size: int, ckpt_dir: Path, names: tuple[str, ...]
) -> dict[str, pl.DataFrame]:
    """Every shard's frames concatenated in shard order; :class:`MissingShardsError` naming the shards
    not finished (or unreadable: then removed, to be grown again)."""
    n_shards = shard_count(items.height, shard_size)
    parts: dict[str, list[pl.DataFrame]] = {name: [] for name in names}
    missing = []
    for index in range(n_shards):
        frames = read_shard(shard_folder(ckpt_dir, index), names)
        if frames is None:
            missing.append(index)
            continue
        for name in names:
            parts[name].append(frames[name])
    if missing:
        shown = ", ".join(str(k) for k in missing[:12]) + (", ..." if len(missing) > 12 else "")
        raise MissingShardsError(
            f"{ckpt_dir}: {len(missing)} of {n_shards} shards are not done (shard {shown}; with `count` workers, "
            "shard k is grown by worker k % count): run the workers that own them, or the stage with "
            "runtime.interact_worker.count=1 to grow them in this process"
        )
    return {name: pl.concat(frames) if frames else pl.DataFrame() for name, frames in parts.items()}


def run_sharded(
    items: pl.DataFrame,
    *,
    shard_size: int,
    ckpt_dir: Path,
    fn: ShardFn,
    names: tuple[str, ...],
    progress: bool = True,
    desc: str = "shards",
    bar: tqdm | None = None,
) -> tuple[dict[str, pl.DataFrame], dict[str, int]]:
    """Apply `fn` to each shard of `items`, resuming from finished shards in `ckpt_dir` (those another
    worker grew too), then merge them.

    Returns the concatenated outputs (in shard order) and counts {"shards", "resumed", "computed"}.
    ``bar``: a progress bar to advance (else one of its own, shown when ``progress``).
    """
    shard_count(items.height, shard_size)
    own = bar is None
    if bar is None:
        bar = tqdm(total=items.height, desc=desc, unit="item", disable=not progress)
    try:
        counts = grow_shards(items, shard_size=shard_size, ckpt_dir=ckpt_dir, fn=fn, names=names, bar=bar)
    finally:
        if own:
            bar.close()
    merged = merge_shards(items, shard_size=shard_size, ckpt_dir=ckpt_dir, names=names)
    return merged, {k: counts[k] for k in ("shards", "resumed", "computed")}
