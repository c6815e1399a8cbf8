"""align@<key>: models/sft -> models/<key> by preference learning (one foreach stage per `align` key).

    dvc repro align@kto
    dvc exp run -S align.kto.beta=0.2            # reruns align@kto (and what reads models/kto) only
    python -m stages.align dpo                   # what dvc runs for align@dpo

Reads params `seed` and `align.<key>`: loss sigmoid (DPO) / nca_pair (NCA) on data/tree/pairs, or
kto (KTO) on data/tree/kto, plus the pairs of `align.<key>.mixture` (UltraFeedback layouts, e.g.
`+mixture@align.kto.mixture.uf=ultrafeedback`); the reference model is models/sft. A rerun after a
kill resumes from the last checkpoint in models/.checkpoints/<key> (runtime.checkpoint_steps,
preftree.train.resume). Writes models/<key> (HF folder + card), metrics/align/<key>.json,
metrics/align/<key>.csv (rewards/chosen, rewards/rejected and margins per logging step: the paper's
Figure 5 for this run) and an MLflow child run with the same curves.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from preftree.config.load import load_stage_params
from preftree.config.train import AlignMethodParams
from preftree.config.workspace import ParamsError
from preftree.provenance import lineage_card
from preftree.tracking import stage_run
from preftree.train.align import ROW_COLUMNS, train_align
from preftree.train.runner import fmt, read_view, start, write_curve

# the params this stage reads, by type (dvc.yaml declares them)
SECTIONS = {"seed": int, "align": dict[str, AlignMethodParams]}

SFT = Path("models/sft")


def main() -> None:
    parser = argparse.ArgumentParser(description="Preference learning from models/sft for one `align` key.")
    parser.add_argument("key", help="a key of the `align` params section (dpo, kto, nca, ...)")
    key = parser.parse_args().key
    runtime = start("stages.align")
    params = load_stage_params(f"align@{key}", SECTIONS)
    method = params[f"align.{key}"]
    train, _ = read_view("kto" if method.loss == "kto" else "pairs")
    out = Path("models") / key
    with stage_run(params) as run:
        result = train_align(
            key, SFT, train, method, seed=params["seed"], runtime=runtime, out_dir=out, card=lineage_card(params)
        )
        rows = result.pop("rows")
        write_curve(rows, Path("metrics/align") / f"{key}.csv", ROW_COLUMNS)
        run.log_metrics(result)
        print(
            f"align@{key} ({result['algorithm']}, beta {method.beta}): {result['steps']} steps; rewards/chosen "
            f"{fmt(result.get('rewards_chosen_first'))} -> {fmt(result.get('rewards_chosen_final'))}, rejected "
            f"{fmt(result.get('rewards_rejected_first'))} -> {fmt(result.get('rewards_rejected_final'))}, margin "
            f"{fmt(result.get('margins_final'))} -> {out}/"
        )


if __name__ == "__main__":
    try:
        main()
    except (ParamsError, FileNotFoundError, ValueError) as err:
        sys.exit(f"align: error: {err}")
