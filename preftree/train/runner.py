"""The part every training stage (sft, align@*, rm) shares around its trainer: start-up (launcher,
threads), reading a tree view, and writing a training curve for ``dvc plots``."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import torch

from preftree.config.load import load_runtime
from preftree.config.runtime import RuntimeParams
from preftree.io import write_csv
from preftree.launch import is_main_process, relaunch_if_needed

TREE = Path("data/tree")


def start(module: str) -> RuntimeParams:
    """Runtime settings for this stage; re-executes it under ``accelerate launch`` when so configured."""
    runtime = load_runtime()
    relaunch_if_needed(module, sys.argv[1:], runtime)
    if runtime.threads > 0:
        torch.set_num_threads(runtime.threads)
    return runtime


def read_view(view: str, root: Path = TREE) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(train, heldout)`` frames of one tree view (data/tree/<view>/{train,heldout}.parquet)."""
    folder = root / view
    missing = [p for p in (folder / "train.parquet", folder / "heldout.parquet") if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]} is missing: run `dvc repro tree` first")
    return pl.read_parquet(folder / "train.parquet"), pl.read_parquet(folder / "heldout.parquet")


def _finite(value: object) -> object:
    """NaN (e.g. a KTO batch without a desirable row) becomes an empty cell, which plots skip."""
    return None if isinstance(value, float) and math.isnan(value) else value


def write_curve(rows: Sequence[dict], path: Path, columns: Sequence[str]) -> int:
    """The log rows that carry the first metric column after ``step``, restricted to ``columns``, as CSV
    (main process only; NaN as an empty cell). Returns the number of rows written."""
    key = columns[1]
    kept = [{c: _finite(row.get(c)) for c in columns} for row in rows if row.get(key) is not None]
    if is_main_process():
        write_csv(kept, path, columns=list(columns))
    return len(kept)


def fmt(value: float | None, digits: int = 4) -> str:
    """A number for a log line ("-" when absent)."""
    return "-" if value is None else f"{value:.{digits}f}"
