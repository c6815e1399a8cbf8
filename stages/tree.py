"""tree: preference trees -> data/tree/{sft,pairs,kto,rm}/{train,heldout}.parquet.

    dvc repro tree
    dvc exp run -S tree.sft_history=true
    dvc exp run -S 'tree.sft_only=[magicoder_evol_instruct]'   # SFT rows only, no pairs (paper)
    dvc exp run -S tree.source=release -S tree.input=/data/UltraInteract -S tree.release.sft=0000_sft.parquet

Reads params `seed` and `tree`; its data dependency is `tree.input` (data/interact, or a folder
holding the public UltraInteract_pair / UltraInteract_sft files, so select and interact are not
needed). Views in the release schema (preftree.tree_run.run_tree), split by instruction (parent_id)
into train and held-out; the datasets of `tree.sft_only` keep their SFT rows but lose their pairs /
KTO / RM rows, counted in the metrics (`sft_only`). Writes metrics/tree.json and metrics/tree.md (the paper's
Table 1 for this data) and an MLflow child run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from preftree.config.load import load_stage_params
from preftree.config.tree import TreeParams
from preftree.config.workspace import ParamsError
from preftree.io import atomic_dir, atomic_write_text, write_parquet
from preftree.release import ReleaseError
from preftree.tracking import stage_run
from preftree.tree_run import run_tree

# the params this stage reads, by type (dvc.yaml declares them)
SECTIONS = {"seed": int, "tree": TreeParams}

OUT = Path("data/tree")
TABLE = Path("metrics/tree.md")


def main() -> None:
    params = load_stage_params("tree", SECTIONS)
    with stage_run(params) as run:
        result = run_tree(params["tree"], seed=params["seed"])
        with atomic_dir(OUT) as tmp:
            for name, parts in result.splits.items():
                for split, frame in parts.items():
                    write_parquet(frame, tmp / name / f"{split}.parquet", plain_types=True)
        atomic_write_text(TABLE, result.markdown)
        run.log_metrics(result.metrics)
        run.log_artifact(TABLE)
        print(result.table)
        print("tree: " + ", ".join(f"{n} {s['train']}+{s['heldout']}" for n, s in result.sizes.items()) + f" -> {OUT}/")
        if result.dropped:
            print(f"tree: sft_only {result.sft_only}: dropped preference rows {result.dropped}")


if __name__ == "__main__":
    try:
        main()
    except (ParamsError, ReleaseError, FileNotFoundError) as err:
        sys.exit(f"tree: error: {err}")
