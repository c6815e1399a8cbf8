"""Row checks of ``select`` (pure functions on polars frames): size limits and rejection rates.

``too_long`` drops records with a field longer than ``select.max_chars`` allows (reason
``too_long`` in ``removed.parquet``, counted as ``removed_too_long`` in ``metrics/select.json``), so
an oversized row is never kept whole. ``check_rejections`` fails, in one line naming each source's
file, its malformed share and its most common reasons, when a source has more malformed rows than
``select.max_reject_rate`` allows. Rows an adapter skipped on purpose (reason ``skipped: ...``) are
not malformed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from preftree.config.select import MaxCharsParams
from preftree.schema import REMOVED_SCHEMA, conform
from preftree.sources.adapters import SKIPPED

__all__ = ["SIZE_FIELDS", "TOP_REASONS", "SelectError", "check_rejections", "rejection_rates", "too_long"]

SIZE_FIELDS = ("problem", "answer", "tests", "reference")  # the fields of MaxCharsParams, in check order
TOP_REASONS = 3  # reasons named per source in a rejection-rate error


class SelectError(ValueError):
    """Selection cannot proceed (e.g. too many source rows were rejected)."""


def _chars(field: str) -> pl.Expr:
    if field == "tests":
        return pl.col("tests").list.eval(pl.element().str.len_chars()).list.sum().fill_null(0)
    return pl.col(field).str.len_chars().fill_null(0)


def too_long(df: pl.DataFrame, limits: MaxCharsParams) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(kept, removed): a record with any field over its ``limits`` (characters) is removed, its detail
    naming the first such field, its length and the limit's key."""
    detail = pl.lit(None, dtype=pl.String)
    for field in reversed(SIZE_FIELDS):  # the first field over its limit names the reason
        limit = getattr(limits, field)
        if limit is None:
            continue
        over = _chars(field) > limit
        text = pl.format("{}: {} chars > select.max_chars.{}={}", pl.lit(field), _chars(field), pl.lit(field), limit)
        detail = pl.when(over).then(text).otherwise(detail)
    marked = df.rechunk().with_columns(detail=detail)
    drop = marked["detail"].is_not_null()
    removed = marked.filter(drop).with_columns(reason=pl.lit("too_long"))
    return df.filter(~drop), conform(removed, REMOVED_SCHEMA, what="removed rows (too_long)")


def _malformed(rejected: pl.DataFrame) -> pl.DataFrame:
    """The rejected rows that are malformed (not left out on purpose by an adapter's filter)."""
    return rejected.filter(~pl.col("reason").str.starts_with(SKIPPED))


def rejection_rates(n_rows_by_dataset: Mapping[str, int], rejected: pl.DataFrame) -> dict[str, float]:
    """Share of each source's rows that were malformed (a source absent from the counts is 100%).
    Rows an adapter skipped on purpose (reason ``skipped: ...``) do not count."""
    rejected = _malformed(rejected)
    counts = dict(rejected.group_by("dataset").agg(pl.len()).iter_rows()) if rejected.height else {}
    rates: dict[str, float] = {}
    for ds in dict.fromkeys([*n_rows_by_dataset, *counts]):
        bad = int(counts.get(ds, 0))
        total = max(int(n_rows_by_dataset.get(ds, 0)), bad)
        rates[ds] = bad / total if total else 0.0
    return rates


def _source_summary(ds: str, bad: pl.DataFrame, total: int) -> str:
    """``source 'x' (file): 3 of 10 rows malformed (30.0%); top reasons: field: reason (n), ...``"""
    files = ", ".join(sorted(set(bad["file"].to_list()))) or "no file"
    reasons = (
        bad.with_columns(what=pl.when(pl.col("field") == "").then(pl.col("reason")).otherwise(
            pl.format("{}: {}", pl.col("field"), pl.col("reason"))))
        .group_by("what").agg(pl.len().alias("n"))
        .sort(["n", "what"], descending=[True, False])
        .head(TOP_REASONS)
    )  # fmt: skip
    top = ", ".join(f"{what} ({n})" for what, n in reasons.iter_rows())
    share = bad.height / total if total else 1.0
    return f"source {ds!r} ({files}): {bad.height} of {total} rows malformed ({share:.1%}); top reasons: {top}"


def check_rejections(
    n_rows_by_dataset: Mapping[str, int], rejected: pl.DataFrame, max_rate: float, rejected_path: str | Path
) -> None:
    """Raise SelectError, one line, naming every source (and its file) whose malformed share exceeds
    ``max_rate``, with its most common reasons and the file holding every rejected row."""
    rates = rejection_rates(n_rows_by_dataset, rejected)
    malformed = _malformed(rejected)
    over = [ds for ds, rate in rates.items() if rate > max_rate]
    if not over:
        return
    parts = []
    for ds in over:
        bad = malformed.filter(pl.col("dataset") == ds)
        parts.append(_source_summary(ds, bad, max(int(n_rows_by_dataset.get(ds, 0)), bad.height)))
    raise SelectError(
        f"select: more than select.max_reject_rate={max_rate:.1%} of a source's rows are malformed: "
        f"{'; '.join(parts)}; every rejected row and its reason: {rejected_path}"
    )
