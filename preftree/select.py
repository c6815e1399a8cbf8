"""Instruction selection (paper §2.1 / App. A.1, A.3): pure functions on polars frames.

``run_select`` chains rejection check -> normalize -> size limits -> exact dedup -> near dedup ->
decontaminate -> difficulty -> caps -> held-out split (the row checks live in ``preftree.select_rows``).
Every filtering step returns ``(kept, removed)`` where ``removed`` conforms to ``REMOVED_SCHEMA``
with a reason and a detail, so nothing is dropped silently. Random choices (caps, split) rank
problems by a seeded hash of their ``problem_id``, so they are deterministic for a seed and
independent of input order, and a problem's Math_CoT and Math_PoT variants always move together.
The stage module (``stages.select``, with ``preftree.select_run``) does the I/O.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from preftree.config.select import SelectParams
from preftree.dedup import NgramIndex, build_ngram_index, near_duplicates, ngram_hits
from preftree.schema import INSTRUCTION_SCHEMA, REJECTED_SCHEMA, REMOVED_SCHEMA, conform, make_instruction, record_ids
from preftree.select_rows import SelectError, check_rejections, rejection_rates, too_long
from preftree.sources.adapters import SKIPPED
from preftree.text import canonical, normalize_text

__all__ = [
    "REASONS",
    "NgramIndex",
    "SelectError",
    "SelectResult",
    "apply_caps",
    "build_ngram_index",
    "check_rejections",
    "decontaminate",
    "difficulty_filter",
    "exact_dedup",
    "near_dedup",
    "normalize",
    "read_solved_ids",
    "rejection_rates",
    "run_select",
    "split_heldout",
    "too_long",
]

REASONS = ("too_long", "exact_duplicate", "near_duplicate", "contaminated", "difficulty", "solved", "cap")
Split = tuple[pl.DataFrame, pl.DataFrame]


@dataclass(frozen=True)
class SelectResult:
    train: pl.DataFrame  # INSTRUCTION_SCHEMA
    heldout: pl.DataFrame  # INSTRUCTION_SCHEMA
    removed: pl.DataFrame  # REMOVED_SCHEMA
    rejected: pl.DataFrame  # REJECTED_SCHEMA
    stats: dict


# ------------------------------------------------------------------------------------- helpers


def _removed(rows: pl.DataFrame, reason: str, detail: pl.Expr | Sequence[str] | str) -> pl.DataFrame:
    """REMOVED_SCHEMA rows for ``rows`` with one reason and a per-row (or shared) detail."""
    if isinstance(detail, str):
        detail = pl.lit(detail)
    elif not isinstance(detail, pl.Expr):
        detail = pl.Series("detail", list(detail), dtype=pl.String)
    # rechunk: polars 1.x can panic ("i < self.len()") in pl.format on a filtered multi-chunk frame
    out = rows.rechunk().with_columns(reason=pl.lit(reason), detail=detail)
    return conform(out, REMOVED_SCHEMA, what=f"removed rows ({reason})")


def _partition(df: pl.DataFrame, drop: pl.Series | pl.Expr) -> Split:
    mask = df.with_columns(_drop=drop)["_drop"] if isinstance(drop, pl.Expr) else drop
    return df.filter(~mask), df.filter(mask)


def _mask(n: int, rows: Sequence[int]) -> pl.Series:
    mask = np.zeros(n, dtype=bool)
    mask[list(rows)] = True
    return pl.Series("_drop", mask)


def _rank_key(seed: int, salt: str, key: str) -> int:
    digest = hashlib.blake2b(f"{seed}\x1f{salt}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _problems(df: pl.DataFrame, seed: int, salt: str) -> pl.DataFrame:
    """One row per (dataset, problem_id) in first-seen order, with its pattern and a seeded key."""
    probs = df.group_by("dataset", "problem_id", maintain_order=True).agg(pl.col("pattern").first())
    keys = [_rank_key(seed, salt, p) for p in probs["problem_id"].to_list()]
    return probs.with_columns(key=pl.Series(keys, dtype=pl.UInt64))


def _keep_problems(df: pl.DataFrame, keep: pl.DataFrame) -> Split:
    pids = keep.select("dataset", "problem_id").with_columns(_keep=pl.lit(True))
    marked = df.join(pids, on=["dataset", "problem_id"], how="left", maintain_order="left")
    drop = marked["_keep"].is_null()
    return df.filter(~drop), df.filter(drop)


# --------------------------------------------------------------------------------------- steps


def normalize(df: pl.DataFrame) -> pl.DataFrame:
    """normalize_text the problems, rebuild instructions, recompute content-hash ids."""
    df = conform(df, INSTRUCTION_SCHEMA, what="instructions")
    problems = [normalize_text(p) for p in df["problem"].to_list()]
    tasks, datasets = df["task"].to_list(), df["dataset"].to_list()
    ids = [record_ids(t, d, p) for t, d, p in zip(tasks, datasets, problems, strict=True)]
    return df.with_columns(
        problem=pl.Series(problems, dtype=pl.String),
        instruction=pl.Series(list(map(make_instruction, tasks, problems)), dtype=pl.String),
        id=pl.Series([i for i, _ in ids], dtype=pl.String),
        problem_id=pl.Series([p for _, p in ids], dtype=pl.String),
    )


def exact_dedup(df: pl.DataFrame) -> Split:
    """Drop repeats of (task, canonical problem) across datasets; the first in input order stays."""
    pairs = zip(df["task"].to_list(), df["problem"].to_list(), strict=True)
    keys = [f"{task}\x1f{canonical(problem)}" for task, problem in pairs]
    marked = df.with_columns(_key=pl.Series(keys, dtype=pl.String), _i=pl.int_range(pl.len()))
    marked = marked.with_columns(_first=pl.col("_i").first().over("_key"), _kept=pl.col("id").first().over("_key"))
    kept, dup = _partition(marked, pl.col("_i") != pl.col("_first"))
    detail = pl.format("same task and problem as kept id {}", pl.col("_kept"))
    return kept.select(df.columns), _removed(dup, "exact_duplicate", detail)


def near_dedup(df: pl.DataFrame, *, threshold: float, num_perm: int, shingle: int, seed: int) -> Split:
    """MinHash/LSH near-duplicates within each task (Jaccard of word shingles >= threshold)."""
    tasks = df["task"].to_list()
    codes = {t: i for i, t in enumerate(dict.fromkeys(tasks))}
    dups = near_duplicates(
        df["problem"].to_list(),
        [codes[t] for t in tasks],
        threshold=threshold,
        num_perm=num_perm,
        shingle=shingle,
        seed=seed,
    )
    ids = df["id"].to_list()
    drop = _mask(df.height, [d.row for d in dups])
    details = [f"similar to kept id {ids[d.kept]} (jaccard {d.similarity:.3f})" for d in dups]
    kept, removed = _partition(df, drop)
    return kept, _removed(removed, "near_duplicate", details)


def decontaminate(df: pl.DataFrame, index: NgramIndex, *, n: int) -> Split:
    """Drop rows whose problem shares a word n-gram with any eval text (paper App. A.3)."""
    if index.n != n:
        raise ValueError(f"n-gram index was built with n={index.n}, decontaminate was asked for n={n}")
    hits = ngram_hits(df["problem"].to_list(), index)
    drop = _mask(df.height, sorted(hits))
    details = [f"shares {n}-gram with {hits[r][0]}: {hits[r][1]!r}" for r in sorted(hits)]
    kept, removed = _partition(df, drop)
    return kept, _removed(removed, "contaminated", details)


def difficulty_filter(
    df: pl.DataFrame,
    *,
    min_steps: int | None,
    max_steps: int | None,
    solved_ids: set[str],
    per_dataset: Mapping[str, tuple[int | None, int | None]] | None = None,
) -> Split:
    """Drop rows with a known difficulty outside [min_steps, max_steps] (``per_dataset`` bounds replace
    them for the datasets it names), then ids a policy solved."""
    per_dataset = dict(per_dataset or {})
    removed: list[pl.DataFrame] = []
    rest = df
    groups = [(None, min_steps, max_steps)] + [(ds, lo, hi) for ds, (lo, hi) in per_dataset.items()]
    for dataset, lo, hi in groups:
        d = pl.col("difficulty")
        out_of_range = pl.lit(False)
        if lo is not None:
            out_of_range = out_of_range | (d < lo)
        if hi is not None:
            out_of_range = out_of_range | (d > hi)
        in_scope = ~pl.col("dataset").is_in(list(per_dataset)) if dataset is None else pl.col("dataset") == dataset
        rest, hard = _partition(rest, (in_scope & out_of_range).fill_null(False))
        bounds = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
        where = "" if dataset is None else f" (select.difficulty.per_dataset.{dataset})"
        removed.append(
            _removed(hard, "difficulty", pl.format("difficulty {} outside {}{}", d, pl.lit(bounds), pl.lit(where)))
        )
    kept, solved = _partition(rest, pl.col("id").is_in(list(solved_ids)))
    return kept, pl.concat([*removed, _removed(solved, "solved", "id listed in solved_ids")])


def read_solved_ids(path: str | Path) -> set[str]:
    """Ids from a .txt (one per line), .jsonl/.json or .parquet file with an ``id`` column."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"select.difficulty.solved_ids: file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif suffix == ".json":
        rows = json.loads(path.read_text(encoding="utf-8"))
        rows = rows.get("id", rows) if isinstance(rows, dict) else rows
    elif suffix == ".parquet":
        frame = pl.read_parquet(path)
        if "id" not in frame.columns:
            raise ValueError(f"{path}: no 'id' column (columns: {', '.join(frame.columns)})")
        return {str(i) for i in frame["id"].drop_nulls().to_list()}
    else:
        raise ValueError(f"{path}: unsupported solved-ids file type {suffix!r} (.txt, .jsonl, .json, .parquet)")
    ids: set[str] = set()
    for row in rows if isinstance(rows, list) else [rows]:
        if isinstance(row, dict) and "id" in row:
            ids.add(str(row["id"]))
        elif isinstance(row, str):
            ids.add(row)
        else:
            raise ValueError(f"{path}: expected objects with an 'id' field or id strings, got {row!r:.80}")
    return ids


def apply_caps(
    df: pl.DataFrame,
    *,
    per_pattern: int | None,
    per_dataset: Mapping[str, int],
    seed: int,
    per_pattern_by_dataset: Mapping[str, int] | None = None,
) -> Split:
    """At most ``per_pattern`` problems per (dataset, pattern) (``per_pattern_by_dataset`` replaces it
    for the datasets it names), then a long-tail-first stratified sample of at most
    ``per_dataset[name]`` problems per dataset. Counts problems, not rows."""
    removed: list[pl.DataFrame] = []
    by_ds = dict(per_pattern_by_dataset or {})
    if per_pattern is not None or by_ds:
        limits = pl.DataFrame(
            {"dataset": list(by_ds), "_k": list(by_ds.values())}, schema={"dataset": pl.String, "_k": pl.Int64}
        )
        probs = _problems(df, seed, "pattern")
        probs = probs.with_columns(_r=pl.col("key").rank("ordinal").over("dataset", "pattern"))
        probs = probs.join(limits, on="dataset", how="left", maintain_order="left").with_columns(
            _k=pl.col("_k").fill_null(pl.lit(per_pattern, dtype=pl.Int64))
        )
        keep = probs.filter((pl.col("pattern") == "") | pl.col("_k").is_null() | (pl.col("_r") <= pl.col("_k")))
        df, dropped = _keep_problems(df, keep)
        dropped = dropped.join(probs.select("dataset", "problem_id", "_k"), on=["dataset", "problem_id"], how="left")
        detail = pl.format("per_pattern cap {} for pattern '{}'", pl.col("_k"), pl.col("pattern"))
        removed.append(_removed(dropped, "cap", detail))
    if per_dataset:
        caps = pl.DataFrame(
            {"dataset": list(per_dataset), "_cap": list(per_dataset.values())},
            schema={"dataset": pl.String, "_cap": pl.Int64},
        )
        # round-robin over patterns, rarest first: the r-th pick of every pattern precedes the (r+1)-th
        probs = (
            _problems(df, seed, "dataset")
            .with_columns(
                _r=pl.col("key").rank("ordinal").over("dataset", "pattern"),
                _size=pl.len().over("dataset", "pattern"),
            )
            .sort("dataset", "_r", "_size", "pattern", maintain_order=True)
            .with_columns(_n=pl.int_range(pl.len()).over("dataset"))
            .join(caps, on="dataset", how="left", maintain_order="left")
        )
        keep = probs.filter(pl.col("_cap").is_null() | (pl.col("_n") < pl.col("_cap")))
        df, dropped = _keep_problems(df, keep)
        dropped = dropped.join(caps, on="dataset", how="left", maintain_order="left")
        detail = pl.format("per_dataset cap {} (long-tail-first stratified over patterns)", pl.col("_cap"))
        removed.append(_removed(dropped, "cap", detail))
    return df, pl.concat(removed) if removed else pl.DataFrame(schema=REMOVED_SCHEMA)


def split_heldout(df: pl.DataFrame, *, fraction: float, max_per_dataset: int | None, seed: int) -> Split:
    """(train, heldout) by problem_id per dataset: round-half-up(fraction * problems) held out,
    at least one when fraction > 0 and the dataset has >= 2 problems, at most max_per_dataset,
    and (when fraction < 1) at least one problem left for training."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"select.heldout.fraction must be in [0, 1], got {fraction}")
    probs = _problems(df, seed, "heldout").with_columns(_r=pl.col("key").rank("ordinal").over("dataset"))
    sizes = probs.group_by("dataset").agg(pl.len())
    k = [_heldout_count(n, fraction, max_per_dataset) for n in sizes["len"].to_list()]
    counts = sizes.with_columns(_k=pl.Series(k, dtype=pl.Int64))
    held = probs.join(counts, on="dataset").filter(pl.col("_r") <= pl.col("_k"))
    heldout, train = _keep_problems(df, held)
    return train, heldout


def _heldout_count(n: int, fraction: float, cap: int | None) -> int:
    k = math.floor(fraction * n + 0.5)
    if fraction > 0 and n >= 2:
        k = max(k, 1)
    if fraction < 1:
        k = min(k, n - 1)  # a dataset never loses all its training problems unless fraction == 1
    return max(k, 0) if cap is None else max(min(k, cap), 0)


# ------------------------------------------------------------------------------------ pipeline


def run_select(
    instructions: pl.DataFrame,
    rejected: pl.DataFrame,
    *,
    params: SelectParams,
    eval_sets: Mapping[str, Sequence[str]],
    solved_ids: set[str],
    seed: int,
    n_rows_by_dataset: Mapping[str, int],
    rejected_path: str | Path = "the rejected-rows file",
) -> SelectResult:
    """The whole selection; ``eval_sets`` is narrowed to ``params.decontaminate.against`` if set."""
    rejected = conform(rejected, REJECTED_SCHEMA, what="rejected rows")
    check_rejections(n_rows_by_dataset, rejected, params.max_reject_rate, rejected_path)
    rates = rejection_rates(n_rows_by_dataset, rejected)
    df = normalize(instructions)
    loaded = df
    df, rm = too_long(df, params.max_chars)
    removed: list[pl.DataFrame] = [rm]
    if params.dedup.exact:
        df, rm = exact_dedup(df)
        removed.append(rm)
    if params.dedup.near:
        d = params.dedup
        df, rm = near_dedup(df, threshold=d.near_threshold, num_perm=d.num_perm, shingle=d.shingle, seed=seed)
        removed.append(rm)
    targets = _eval_targets(eval_sets, params.decontaminate.against)
    if targets:
        n = params.decontaminate.ngram
        df, rm = decontaminate(df, build_ngram_index(targets, n), n=n)
        removed.append(rm)
    diff = params.difficulty
    bounds = {ds: (b.min_steps, b.max_steps) for ds, b in diff.per_dataset.items()}
    df, rm = difficulty_filter(
        df, min_steps=diff.min_steps, max_steps=diff.max_steps, solved_ids=solved_ids, per_dataset=bounds
    )
    removed.append(rm)
    caps = params.caps
    df, rm = apply_caps(
        df,
        per_pattern=caps.per_pattern,
        per_dataset=caps.per_dataset,
        seed=seed,
        per_pattern_by_dataset=caps.per_pattern_by_dataset,
    )
    removed.append(rm)
    h = params.heldout
    train, heldout = split_heldout(df, fraction=h.fraction, max_per_dataset=h.max_per_dataset, seed=seed)
    all_removed = pl.concat(removed) if removed else pl.DataFrame(schema=REMOVED_SCHEMA)
    stats = select_stats(loaded, rejected, all_removed, train, heldout, rates, n_rows_by_dataset)
    return SelectResult(
        train=conform(train, INSTRUCTION_SCHEMA, what="train"),
        heldout=conform(heldout, INSTRUCTION_SCHEMA, what="heldout"),
        removed=all_removed,
        rejected=rejected,
        stats=stats,
    )


def _eval_targets(eval_sets: Mapping[str, Sequence[str]], against: Sequence[str]) -> dict[str, Sequence[str]]:
    if not against:
        return dict(eval_sets)
    missing = [name for name in against if name not in eval_sets]
    if missing:
        raise SelectError(
            f"select.decontaminate.against names unknown eval set(s) {', '.join(missing)}; "
            f"available: {', '.join(eval_sets) or '(none)'}"
        )
    return {name: eval_sets[name] for name in against}


def _count(df: pl.DataFrame, *by: str) -> dict:
    if df.height == 0:
        return {}
    rows = df.group_by(*by).agg(pl.len()).iter_rows()
    return {tuple(key) if len(by) > 1 else key[0]: n for *key, n in rows}


def select_stats(
    loaded: pl.DataFrame,
    rejected: pl.DataFrame,
    removed: pl.DataFrame,
    train: pl.DataFrame,
    heldout: pl.DataFrame,
    rates: Mapping[str, float],
    n_rows_by_dataset: Mapping[str, int],
) -> dict:
    """Per-dataset and total counts of rows; ``loaded = rejected + skipped + removed + train + heldout``."""
    malformed, skipped = _partition(rejected, pl.col("reason").str.starts_with(SKIPPED))
    inst, rej, skip, tr, ho = (_count(f, "dataset") for f in (loaded, malformed, skipped, train, heldout))
    by_reason = _count(removed, "dataset", "reason")
    tr_p, ho_p = (_count(f.unique(["dataset", "problem_id"]), "dataset") for f in (train, heldout))
    per: dict[str, dict] = {}
    for ds in sorted({*inst, *rej, *skip, *n_rows_by_dataset}):
        reasons = {f"removed_{r}": by_reason.get((ds, r), 0) for r in REASONS}
        per[ds] = {
            "source_rows": int(n_rows_by_dataset.get(ds, 0)),
            "loaded": inst.get(ds, 0) + rej.get(ds, 0) + skip.get(ds, 0),
            "instructions": inst.get(ds, 0),
            "rejected": rej.get(ds, 0),
            "skipped": skip.get(ds, 0),
            "removed": sum(reasons.values()),
            **reasons,
            "train": tr.get(ds, 0),
            "heldout": ho.get(ds, 0),
            "train_problems": tr_p.get(ds, 0),
            "heldout_problems": ho_p.get(ds, 0),
        }
    keys = ["source_rows", "loaded", "instructions", "rejected", "skipped", "removed"]
    keys += [f"removed_{r}" for r in REASONS] + ["train", "heldout", "train_problems", "heldout_problems"]
    total = {k: sum(row[k] for row in per.values()) for k in keys}
    for ds, row in per.items():
        row["reject_rate"] = round(float(rates.get(ds, 0.0)), 6)
    denominator = max(total["source_rows"], total["rejected"])
    total["reject_rate"] = round(total["rejected"] / denominator, 6) if denominator else 0.0
    return {"datasets": per, "total": total}
