"""base: materialise the base policy into models/base.

    dvc repro base
    dvc exp run -S model.pretrain.steps=600
    dvc exp run -S model=local -S model.path=/models/Mistral-7B-v0.1   # validate, do not copy

Reads params `seed` and `model` (runtime.device / threads / progress only change speed). Default:
train a byte-level BPE tokenizer and pretrain a tiny Llama from scratch on synthetic problems with
mixed-quality solutions, then save an HF folder with a card (a checkpoint every
`runtime.checkpoint_steps` pretraining steps in models/.checkpoints/base: rerun after a kill, it goes
on from the newest). With `model.path`, check that the checkpoint's config and tokenizer load and
record its identity in a pointer folder.
Writes metrics/base.json, metrics/base_loss.csv and an MLflow child run with the loss curve.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from preftree.base_model import train_from_scratch, use_checkpoint, write_loss_csv
from preftree.config.load import load_runtime, load_stage_params
from preftree.config.model import ModelParams
from preftree.config.workspace import ParamsError
from preftree.generation.device import resolve_device
from preftree.tracking import stage_run

# the params this stage reads, by type (dvc.yaml declares them)
SECTIONS = {"seed": int, "model": ModelParams}

OUT = Path("models/base")
LOSS_CSV = Path("metrics/base_loss.csv")


def main() -> None:
    params = load_stage_params("base", SECTIONS)
    runtime = load_runtime()
    model, seed = params["model"], params["seed"]
    if runtime.threads > 0:
        torch.set_num_threads(runtime.threads)
    with stage_run(params) as run:
        if model.path:
            result = use_checkpoint(model, OUT)
        else:
            result = train_from_scratch(
                model,
                seed=seed,
                out_dir=OUT,
                device=resolve_device(runtime.device),
                progress=runtime.progress,
                checkpoint_steps=runtime.checkpoint_steps,
            )
        write_loss_csv(result.history, LOSS_CSV)
        for record in result.history[:: max(1, len(result.history) // 200)]:
            run.log_metrics({"train/loss": record["loss"], "train/lr": record["lr"]}, step=record["step"])
        run.log_metrics(result.metrics)
        run.log_artifact(OUT / "card.json")
        print(f"base: {result.metrics} -> {OUT}/")


if __name__ == "__main__":
    try:
        main()
    except (ParamsError, FileNotFoundError, ValueError) as err:
        sys.exit(f"base: error: {err}")
