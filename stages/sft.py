"""sft: models/base -> models/sft, trl SFTTrainer on data/tree/sft (+ an optional mixture).

    dvc repro sft
    dvc exp run -S sft.optim.lr=1e-4 -S sft.packing=true
    dvc exp run -S '+mixture@sft.mixture.ultrachat=ultrachat' -S sft.mixture.ultrachat.path=/data/uc.jsonl

Reads params `seed` and `sft` (`sft.mixture`: UltraChat / ShareGPT / OpenOrca layouts, preftree.train.mixture);
runtime (device, threads, bf16, gradient checkpointing, launcher, checkpoint_steps)
changes speed only; a rerun after a kill resumes from the last checkpoint in models/.checkpoints/sft
(preftree.train.resume). Loss on assistant tokens only. Writes models/sft (HF folder + card with params
and the md5 of the inputs it read, as DVC hashes them), metrics/sft.json (held-out assistant-token loss of base
vs sft, throughput), metrics/sft_loss.csv and an MLflow child run with the training curve.
"""

from __future__ import annotations

import sys
from pathlib import Path

from preftree.config.load import load_stage_params
from preftree.config.train import SFTParams
from preftree.config.workspace import ParamsError
from preftree.provenance import lineage_card
from preftree.tracking import stage_run
from preftree.train.runner import fmt, read_view, start, write_curve
from preftree.train.sft import train_sft

# the params this stage reads, by type (dvc.yaml declares them)
SECTIONS = {"seed": int, "sft": SFTParams}

BASE = Path("models/base")
OUT = Path("models/sft")
CURVE = Path("metrics/sft_loss.csv")


def main() -> None:
    runtime = start("stages.sft")
    params = load_stage_params("sft", SECTIONS)
    train, heldout = read_view("sft")
    if heldout.height == 0:
        print("sft: data/tree/sft/heldout.parquet has no rows (tree.heldout_fraction 0): held-out loss skipped (null)")
    with stage_run(params) as run:
        card = lineage_card(params)
        result = train_sft(
            BASE, train, heldout, params["sft"], seed=params["seed"], runtime=runtime, out_dir=OUT, card=card
        )
        write_curve(result.pop("log"), CURVE, ["step", "loss", "learning_rate", "mean_token_accuracy"])
        run.log_metrics(result)
        print(
            f"sft: held-out assistant-token loss {fmt(result['heldout_loss_base'])} (base) -> "
            f"{fmt(result['heldout_loss_sft'])} (sft); {result['train_steps']} steps, "
            f"{fmt(result['train_tokens_per_second'], 0)} tokens/s -> {OUT}/"
        )


if __name__ == "__main__":
    try:
        main()
    except (ParamsError, FileNotFoundError, ValueError) as err:
        sys.exit(f"sft: error: {err}")
