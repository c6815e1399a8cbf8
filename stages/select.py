"""select: configured sources -> data/selected/{train,heldout,removed,rejected}.parquet.

    dvc repro select
    dvc exp run -S select.heldout.fraction=0.2
    python -m stages.select            # ad hoc, same params

Reads params `seed`, `sources`, `select`. Writes metrics/select.json (counts per dataset and per
removal reason) and an MLflow child run. Fails, naming the rejected file, when more than
`select.max_reject_rate` of a source's rows are malformed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from preftree.config import ParamsError, load_stage_params
from preftree.io import atomic_dir, write_parquet
from preftree.select import SelectError, check_rejections, read_solved_ids, rejection_rates, run_select
from preftree.sources.collect import collect, eval_sets
from preftree.tracking import stage_run

OUT = Path("data/selected")


def main() -> None:
    params = load_stage_params("select")
    sources, select, seed = params["sources"], params["select"], params["seed"]
    with stage_run(params) as run:
        collected = collect(sources, seed=seed)
        rates = rejection_rates(collected.rows_read, collected.rejected)
        try:
            check_rejections(rates, select.max_reject_rate, str(OUT / "rejected.parquet"))
        except SelectError:
            write_parquet(collected.rejected, OUT / "rejected.parquet")  # kept for inspection; the stage fails
            raise
        evals = eval_sets(sources, select.decontaminate.against)
        solved = read_solved_ids(Path(select.difficulty.solved_ids)) if select.difficulty.solved_ids else set()
        result = run_select(
            collected.instructions,
            collected.rejected,
            params=select,
            eval_sets=evals,
            solved_ids=solved,
            seed=seed,
            n_rows_by_dataset=collected.rows_read,
            rejected_path=str(OUT / "rejected.parquet"),
        )
        with atomic_dir(OUT) as tmp:
            write_parquet(result.train, tmp / "train.parquet")
            write_parquet(result.heldout, tmp / "heldout.parquet")
            write_parquet(result.removed, tmp / "removed.parquet")
            write_parquet(result.rejected, tmp / "rejected.parquet")
        run.log_metrics(result.stats)
        print(
            f"select: {result.train.height} train, {result.heldout.height} held out, "
            f"{result.removed.height} removed, {result.rejected.height} rejected -> {OUT}/"
        )


if __name__ == "__main__":
    try:
        main()
    except (ParamsError, SelectError, FileNotFoundError) as err:
        sys.exit(f"select: error: {str(err).removeprefix('select: ')}")
