"""report: this run's results in the paper's Table 3 layout -> metrics/report.{md,csv} + figures.

    dvc repro report
    dvc plots show            # the same figures as interactive plots (dvc_plots/index.html)

Reads params `seed` (of the claims' bootstraps) and `eval.policies` (which rows to show), the metrics
the upstream stages wrote: metrics/eval/<policy>.json (pass@1, multi-turn success@5),
metrics/align/<method>.csv (reward trends), metrics/info/rerank.json (best-of-N with its CIs) and
metrics/info/rm/<key>.json (each reward model's accuracy), and the per-item data the claims are
judged on (data/eval, data/rm, data/rerank); data/selected/heldout.parquet gives the option counts
of multiple-choice problems (the chance level in the per-family table, preftree.families).
Writes metrics/claims.json (the paper's claims C1-C7: effect, 95% CI, verdict), metrics/report.md
(the claims table first, then pass@1 per task family, then Table 3), metrics/report.csv,
metrics/plots/reward_trends.png (the paper's Figure 5 for this run) and metrics/plots/best_of_n.png
(Figure 4), and logs them to an MLflow child run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from preftree.config.evaluate import EvalParams
from preftree.config.load import load_stage_params
from preftree.config.workspace import ParamsError
from preftree.io import atomic_write_text, write_json
from preftree.report import build_report
from preftree.tracking import stage_run

# the params this stage reads, by type (dvc.yaml declares them)
SECTIONS = {"seed": int, "eval": EvalParams}

METRICS = Path("metrics")
DATA = Path("data")


def main() -> None:
    params = load_stage_params("report", SECTIONS)
    report = build_report(METRICS, params["eval.policies"], data=DATA, seed=params["seed"])
    with stage_run(params) as run:
        atomic_write_text(METRICS / "report.md", report.markdown)
        atomic_write_text(METRICS / "report.csv", report.csv)
        write_json(METRICS / "claims.json", report.claims)
        for path in (METRICS / "report.md", METRICS / "report.csv", METRICS / "claims.json", *report.figures):
            run.log_artifact(path)
        run.log_metrics(report.metrics)
        print(report.table)
        print("claims: " + ", ".join(f"{c} {v}" for c, v in report.claims["verdicts"].items()))


if __name__ == "__main__":
    try:
        main()
    except (ParamsError, FileNotFoundError, ValueError, KeyError) as err:
        sys.exit(f"report: error: {err}")
