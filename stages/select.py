"""select: configured sources -> data/selected/{train,heldout,removed,rejected}.parquet.

    dvc repro select
    dvc exp run -S select.heldout.fraction=0.2
    python -m stages.select            # ad hoc, same params

Reads params `seed`, `sources`, `select`. Writes metrics/select.json (counts per dataset and per
removal reason) and an MLflow child run. Fails, naming each source's file, its top reasons and the
rejected file, when more than `select.max_reject_rate` of a source's rows are malformed; then
data/selected holds rejected.parquet alone and the previous metrics/select.json is removed, so no old
train/heldout stays beside the new rejections.
"""

from __future__ import annotations

import sys
from pathlib import Path

from preftree.config.load import load_stage_params
from preftree.config.select import SelectParams
from preftree.config.sources import SourcesParams
from preftree.config.workspace import ParamsError, workspace_root
from preftree.provenance import info_path, metrics_path
from preftree.select import SelectError
from preftree.select_run import TooManyRejected, select_from_sources, write_failure, write_selection
from preftree.tracking import stage_run

# the params this stage reads, by type (dvc.yaml declares them)
SECTIONS = {
    "seed": int,
    "sources": SourcesParams,
    "select": SelectParams,
}

OUT = Path("data/selected")


def main() -> None:
    params = load_stage_params("select", SECTIONS)
    sources, select, seed = params["sources"], params["select"], params["seed"]
    with stage_run(params) as run:
        try:
            result = select_from_sources(sources, select, seed=seed, rejected_path=OUT / "rejected.parquet")
        except TooManyRejected as err:
            root = workspace_root()
            write_failure(OUT, err.rejected, stale=(metrics_path(root, "select"), info_path(root, "select")))
            raise
        write_selection(OUT, result)
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
