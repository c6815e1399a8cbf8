"""rm@<key>: models/sft + a bias-free linear head -> models/rm/<key>, on data/tree/rm (one foreach
stage per key of the `rm` section: rm@bt, rm@bt_dr).

    dvc repro rm@bt_dr
    dvc exp run -S rm.bt.optim.lr=5e-4           # reruns rm@bt (and rerank, report) only
    python -m stages.rm bt_dr                    # what dvc runs for rm@bt_dr

Reads params `seed` and `rm.<key>`: loss `bt` is L_BT (the paper's ablation), `bt+dr` the Eurus
objective, L_BT on every pair plus the direct-reward terms -log s(r_c) - log s(-r_r) on
UltraInteract-derived rows; `rm.<key>.mixture` adds UltraFeedback / UltraSafety pairs with L_BT only
(`+mixture@rm.bt_dr.mixture.us=ultrasafety`). The reward is read at the last non-pad token (pad token distinct from
eos, right padding). A rerun after a kill resumes from the last checkpoint in
models/.checkpoints/rm/<key> (runtime.checkpoint_steps, preftree.train.resume). Writes models/rm/<key>,
data/rm/<key>/heldout_scores.parquet (the rewards of every held-out pair, trained and untrained head),
metrics/rm/<key>.json (held-out pairwise accuracy overall and by task, against the untrained head),
metrics/rm/<key>.csv (loss per logging step) and an MLflow child run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from preftree.config.load import load_stage_params
from preftree.config.train import RMParams
from preftree.config.workspace import ParamsError
from preftree.io import atomic_dir, write_parquet
from preftree.launch import is_main_process
from preftree.provenance import lineage_card
from preftree.tracking import stage_run
from preftree.train.reward_trainer import train_rm
from preftree.train.runner import fmt, read_view, start, write_curve

# the params this stage reads, by type (dvc.yaml declares them)
SECTIONS = {"seed": int, "rm": dict[str, RMParams]}

SFT = Path("models/sft")
CURVE_COLUMNS = ["step", "loss", "accuracy", "margin", "learning_rate"]


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the reward model of one `rm` key from models/sft.")
    parser.add_argument("key", help="a key of the `rm` params section (bt, bt_dr, ...)")
    key = parser.parse_args().key
    runtime = start("stages.rm")
    params = load_stage_params(f"rm@{key}", SECTIONS)
    train, heldout = read_view("rm")
    if heldout.height == 0:
        print(f"rm@{key}: data/tree/rm/heldout.parquet has no pairs (tree.heldout_fraction 0): held-out accuracy null")
    out = Path("models/rm") / key
    with stage_run(params) as run:
        result = train_rm(
            SFT,
            train,
            heldout,
            params[f"rm.{key}"],
            seed=params["seed"],
            runtime=runtime,
            out_dir=out,
            card=lineage_card(params),
            score_init=True,
            key=key,
        )
        write_curve(result.pop("log"), Path("metrics/rm") / f"{key}.csv", CURVE_COLUMNS)
        scores = result.pop("heldout_scores")
        if is_main_process():
            with atomic_dir(Path("data/rm") / key) as tmp:
                write_parquet(scores, tmp / "heldout_scores.parquet")
        run.log_metrics(result)
        by_task = ", ".join(f"{t} {fmt(a, 3)}" for t, a in (result["heldout_accuracy_by_task"] or {}).items())
        print(
            f"rm@{key} ({result['loss_kind']}): held-out pairwise accuracy {fmt(result['heldout_accuracy_init'], 3)} "
            f"(untrained head) -> {fmt(result['heldout_accuracy'], 3)} on {result['heldout_pairs']} pairs "
            f"({by_task}) -> {out}/"
        )


if __name__ == "__main__":
    try:
        main()
    except (ParamsError, FileNotFoundError, ValueError) as err:
        sys.exit(f"rm: error: {err}")
