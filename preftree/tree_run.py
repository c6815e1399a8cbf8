"""The ``tree`` stage's work: tree nodes -> the split training views and the paper's Table 1.

:func:`load_nodes` reads the nodes with their instruction text from ``tree.input``: interact's output
folder (``nodes.parquet`` + ``instructions.parquet``) or, with ``tree.source=release``, the public
UltraInteract files (``preftree.release``). :func:`run_tree` builds the views (``preftree.tree``),
drops the preference rows of the ``tree.sft_only`` datasets, splits by instruction into train and
held-out, and counts; the stage writes what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from preftree.config.tree import TreeParams
from preftree.release import read_release
from preftree.tree import build_views, drop_sft_only, split_views, stats_markdown, tree_stats


@dataclass(frozen=True)
class TreeResult:
    """``splits[view][split]`` (view: sft, pairs, kto, rm; split: train, heldout), the Table 1
    ``stats`` per task, its markdown ``table``, and the preference rows ``dropped`` per view and
    dataset of ``sft_only`` (sorted, unique; both empty without sft_only)."""

    splits: dict[str, dict[str, pl.DataFrame]]
    stats: dict[str, dict[str, float]]
    table: str
    sft_only: list[str]
    dropped: dict[str, dict[str, int]]

    @property
    def sizes(self) -> dict[str, dict[str, int]]:
        """Rows per view and split."""
        return {name: {split: frame.height for split, frame in parts.items()} for name, parts in self.splits.items()}

    @property
    def markdown(self) -> str:
        """metrics/tree.md."""
        return "# Preference trees (paper Table 1 layout)\n\n" + self.table

    @property
    def metrics(self) -> dict[str, Any]:
        """What the stage logs (metrics/tree.json)."""
        extra = {"sft_only": {"datasets": self.sft_only, "dropped": self.dropped}} if self.sft_only else {}
        return {"tasks": self.stats, "rows": self.sizes, **extra}


def load_nodes(cfg: TreeParams) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Tree nodes with their instruction text, and an imported SFT frame (release only)."""
    folder = Path(cfg.input)
    if cfg.source == "release":
        sft = folder / cfg.release.sft if cfg.release.sft else None
        return read_release(folder / cfg.release.pairs, sft)
    roots = pl.read_parquet(folder / "instructions.parquet").select(pl.col("id").alias("instruction_id"), "instruction")
    return pl.read_parquet(folder / "nodes.parquet").join(roots, on="instruction_id", how="left"), None


def run_tree(cfg: TreeParams, *, seed: int) -> TreeResult:
    """Read the nodes of ``cfg.input`` and return the split views, their statistics and what was dropped."""
    nodes, sft = load_nodes(cfg)
    views = build_views(nodes, sft=sft, sft_history=cfg.sft_history, rm=cfg.rm, seed=seed)
    views, dropped = drop_sft_only(views, cfg.sft_only)
    splits = split_views(views, fraction=cfg.heldout_fraction, seed=seed)
    stats = tree_stats(nodes)
    return TreeResult(
        splits=splits, stats=stats, table=stats_markdown(stats), sft_only=sorted(set(cfg.sft_only)), dropped=dropped
    )
