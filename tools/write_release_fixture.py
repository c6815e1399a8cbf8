"""Write fixtures/ultrainteract/: UltraInteract release files (0000_sft.parquet, 0000_pair.parquet)
made by the project from its own tiny-world preference trees, for experiment=eurus7b_cpu
(tree.source=release at toy size).

    make repro                                   # the default tiny world: data/tree/{sft,pairs}
    python tools/write_release_fixture.py        # a seeded sample of its instructions -> fixtures/ultrainteract

Every SFT and pair row of the sampled instructions is kept (train and held-out splits alike: the
release has no split), in the views' order, through ``preftree.release.write_release`` (the
release's column types and dataset spellings). ``--sft-only`` more instructions give SFT rows and no
pair, as the release's SFT-only rows (Magicoder's) do: the tree must read them from the SFT file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

from preftree.release import write_release

ROOT = Path(__file__).resolve().parent.parent


def sample_views(tree: Path, instructions: int, sft_only: int, seed: int) -> dict[str, pl.DataFrame]:
    """The sft and pairs views of ``instructions`` instructions drawn (seeded) from the tree folder, plus
    the SFT rows (only) of ``sft_only`` more: the release's SFT-only rows (Magicoder's, in the paper)."""
    views = {
        v: pl.concat([pl.read_parquet(tree / v / f"{s}.parquet") for s in ("train", "heldout")])
        for v in ("sft", "pairs")
    }
    parents = sorted(set(views["sft"]["parent_id"].to_list()) & set(views["pairs"]["parent_id"].to_list()))
    if instructions + sft_only > len(parents):
        raise SystemExit(f"{tree}: only {len(parents)} instructions, asked for {instructions + sft_only}")
    picks = np.random.default_rng(seed).choice(len(parents), instructions + sft_only, replace=False)
    drawn = [parents[i] for i in picks]
    return {
        "sft": views["sft"].filter(pl.col("parent_id").is_in(sorted(drawn))),
        "pairs": views["pairs"].filter(pl.col("parent_id").is_in(sorted(drawn[:instructions]))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=ROOT / "data" / "tree", help="a tree stage's output folder")
    parser.add_argument("--out", type=Path, default=ROOT / "fixtures" / "ultrainteract")
    parser.add_argument("--instructions", type=int, default=20)
    parser.add_argument("--sft-only", type=int, default=4, help="instructions with SFT rows but no pairs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    views = sample_views(args.tree, args.instructions, args.sft_only, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, path in write_release(views, args.out).items():
        print(f"{path}: {views[name].height} rows, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
