"""rm: models/sft + a bias-free linear head -> models/rm, on data/tree/rm.

    dvc repro rm
    dvc exp run -S rm.loss=bt                    # Bradley-Terry only (the paper's ablation)

Reads params `seed` and `rm`. loss `bt+dr` is the Eurus objective: L_BT on every pair plus the
direct-reward terms -log s(r_c) - log s(-r_r) on UltraInteract-derived rows. The reward is read at
the last non-pad token (pad token distinct from eos, right padding). Writes models/rm, metrics/rm.json
(held-out pairwise accuracy overall and by task, against the untrained head), metrics/rm_loss.csv and
an MLflow child run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from preftree.config.load import load_stage_params
from preftree.config.train import RMParams
from preftree.config.workspace import ParamsError
from preftree.provenance import lineage_card
from preftree.tracking import stage_run
from preftree.train.reward import train_rm
from preftree.train.runner import fmt, read_view, start, write_curve

# the params this stage reads, by type (dvc.yaml declares them)
SECTIONS = {"seed": int, "rm": RMParams}

SFT = Path("models/sft")
OUT = Path("models/rm")
CURVE = Path("metrics/rm_loss.csv")


def main() -> None:
    runtime = start("stages.rm")
    params = load_stage_params("rm", SECTIONS)
    train, heldout = read_view("rm")
    with stage_run(params) as run:
        result = train_rm(
            SFT,
            train,
            heldout,
            params["rm"],
            seed=params["seed"],
            runtime=runtime,
            out_dir=OUT,
            card=lineage_card(params),
            score_init=True,
        )
        write_curve(result.pop("log"), CURVE, ["step", "loss", "accuracy", "margin", "learning_rate"])
        run.log_metrics(result)
        by_task = ", ".join(f"{t} {fmt(a, 3)}" for t, a in (result["heldout_accuracy_by_task"] or {}).items())
        print(
            f"rm ({result['loss_kind']}): held-out pairwise accuracy {fmt(result['heldout_accuracy_init'], 3)} "
            f"(untrained head) -> {fmt(result['heldout_accuracy'], 3)} ({by_task}) -> {OUT}/"
        )


if __name__ == "__main__":
    try:
        main()
    except (ParamsError, FileNotFoundError, ValueError) as err:
        sys.exit(f"rm: error: {err}")
