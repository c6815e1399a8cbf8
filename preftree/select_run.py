"""The ``select`` stage's work: read the configured sources, check their rejection rates, select.

:func:`select_from_sources` collects the instruction records of every source
(``preftree.sources.collect``), fails when a source has too many malformed rows
(:class:`TooManyRejected`, which carries those rows so the stage can keep them for inspection),
reads the eval sets to decontaminate against and the optional solved-ids file, and runs the
selection (``preftree.select.run_select``).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from preftree.config.select import SelectParams
from preftree.config.sources import SourcesParams
from preftree.select import SelectError, SelectResult, check_rejections, read_solved_ids, rejection_rates, run_select
from preftree.sources.collect import collect, eval_sets


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
    rates = rejection_rates(collected.rows_read, collected.rejected)
    try:
        check_rejections(rates, params.max_reject_rate, str(rejected_path))
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
