"""tree: preference trees -> data/tree/{sft,pairs,kto,rm}/{train,heldout}.parquet.

    dvc repro tree
    dvc exp run -S tree.sft_history=true
    dvc exp run -S 'tree.sft_only=[magicoder_evol_instruct]'   # SFT rows only, no pairs (paper)
    dvc exp run -S tree.source=release -S tree.input=/data/UltraInteract -S tree.release.sft=0000_sft.parquet

Reads params `seed` and `tree`; its data dependency is `tree.input` (data/interact, or a folder
holding the public UltraInteract_pair / UltraInteract_sft files, so select and interact are not
needed). Views in the release schema (preftree.tree), split by instruction (parent_id) into train
and held-out; the datasets of `tree.sft_only` keep their SFT rows but lose their pairs / KTO / RM
rows, counted in the metrics (`sft_only`). Writes metrics/tree.json and metrics/tree.md (the paper's
Table 1 for this data) and an MLflow child run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from preftree.config import ParamsError, load_stage_params
from preftree.io import atomic_dir, atomic_write_text, write_parquet
from preftree.release import ReleaseError, read_release
from preftree.tracking import stage_run
from preftree.tree import build_views, drop_sft_only, split_views, stats_markdown, tree_stats

OUT = Path("data/tree")


def load_nodes(cfg) -> tuple[pl.DataFrame, pl.DataFrame | None]:  # noqa: ANN001 - TreeParams
    """Tree nodes with their instruction text, and an imported SFT frame (release only)."""
    folder = Path(cfg.input)
    if cfg.source == "release":
        sft = folder / cfg.release.sft if cfg.release.sft else None
        return read_release(folder / cfg.release.pairs, sft)
    roots = pl.read_parquet(folder / "instructions.parquet").select(pl.col("id").alias("instruction_id"), "instruction")
    return pl.read_parquet(folder / "nodes.parquet").join(roots, on="instruction_id", how="left"), None


def main() -> None:
    params = load_stage_params("tree")
    cfg, seed = params["tree"], params["seed"]
    with stage_run(params) as run:
        nodes, sft = load_nodes(cfg)
        views = build_views(nodes, sft=sft, sft_history=cfg.sft_history, rm=cfg.rm, seed=seed)
        views, dropped = drop_sft_only(views, cfg.sft_only)
        splits = split_views(views, fraction=cfg.heldout_fraction, seed=seed)
        with atomic_dir(OUT) as tmp:
            for name, parts in splits.items():
                for split, frame in parts.items():
                    write_parquet(frame, tmp / name / f"{split}.parquet", plain_types=True)
        stats = tree_stats(nodes)
        table = stats_markdown(stats)
        atomic_write_text(Path("metrics/tree.md"), "# Preference trees (paper Table 1 layout)\n\n" + table)
        sizes = {name: {split: frame.height for split, frame in parts.items()} for name, parts in splits.items()}
        extra = {"sft_only": {"datasets": sorted(set(cfg.sft_only)), "dropped": dropped}} if cfg.sft_only else {}
        run.log_metrics({"tasks": stats, "rows": sizes, **extra})
        run.log_artifact(Path("metrics/tree.md"))
        print(table)
        print("tree: " + ", ".join(f"{n} {s['train']}+{s['heldout']}" for n, s in sizes.items()) + f" -> {OUT}/")
        if dropped:
            print(f"tree: sft_only {sorted(set(cfg.sft_only))}: dropped preference rows {dropped}")


if __name__ == "__main__":
    try:
        main()
    except (ParamsError, ReleaseError, FileNotFoundError) as err:
        sys.exit(f"tree: error: {err}")
