"""The ``select`` stage's work: read the configured sources, check their rejection rates, select, write.

:func:`select_from_sources` collects the instruction records of every source
(``preftree.sources.collect``), fails when a source has too many malformed rows
(:class:`TooManyRejected`, which carries those rows so the stage can keep them for inspection),
reads the eval sets to decontaminate against and the optional solved-ids file, and runs the
selection (``preftree.select.run_select``).

:func:`write_selection` and :func:`write_failure` write the stage's output folder in one atomic swap,
so no run leaves a mix of old and new files: a success replaces it with the four parquet files, a
failure over ``select.max_reject_rate`` with ``rejected.parquet`` alone (and removes the previous
run's metrics files, as ``dvc repro`` removes a stage's outputs before running it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from preftree.config.select import SelectParams
from preftree.config.sources import SourcesParams
from preftree.io import atomic_dir, write_parquet
from preftree.select import SelectError, SelectResult, read_solved_ids, run_select
from preftree.select_rows import check_rejections
from preftree.sources.collect import collect, eval_sets

OUTPUT_FILES = ("train.parquet", "heldout.parquet", "removed.parquet", "rejected.parquet")


class TooManyRejected(SelectError):
    """A source's malformed-row share is above ``select.max_reject_rate``; ``rejected`` holds every
    rejected row read (the message names the file it should be written to)."""

    def __init__(self, message: str, rejected: pl.DataFrame) -> None:
        super().__init__(message)
        self.rejected = rejected


def select_from_sources(
    sources: SourcesParams, params: SelectParams, *, seed: int, rejected_path: Path
) -> SelectResult:
    """The selection over every configured source; ``rejected_path`` is named in messages and the
    result (where the stage writes the rejected rows)."""
    collected = collect(sources, seed=seed)
    try:
        check_rejections(collected.rows_read, collected.rejected, params.max_reject_rate, str(rejected_path))
    except SelectError as err:
        raise TooManyRejected(str(err), collected.rejected) from err
    evals = eval_sets(sources, params.decontaminate.against)
    solved = read_solved_ids(Path(params.difficulty.solved_ids)) if params.difficulty.solved_ids else set()
    return run_select(
        collected.instructions,
        collected.rejected,
        params=params,
        eval_sets=evals,
        solved_ids=solved,
        seed=seed,
        n_rows_by_dataset=collected.rows_read,
        rejected_path=str(rejected_path),
    )


def write_selection(out: Path, result: SelectResult) -> None:
    """Replace ``out`` whole with the result's four parquet files (nothing of a previous run stays)."""
    frames = (result.train, result.heldout, result.removed, result.rejected)
    with atomic_dir(out) as tmp:
        for name, frame in zip(OUTPUT_FILES, frames, strict=True):
            write_parquet(frame, tmp / name)


def write_failure(out: Path, rejected: pl.DataFrame, stale: Sequence[Path] = ()) -> None:
    """After a failed selection: replace ``out`` whole with ``rejected.parquet`` alone (the rows to
    inspect; no train / heldout of a previous run beside it) and remove the ``stale`` files (the
    previous run's metrics)."""
    with atomic_dir(out) as tmp:
        write_parquet(rejected, tmp / "rejected.parquet")
    for path in stale:
        path.unlink(missing_ok=True)
