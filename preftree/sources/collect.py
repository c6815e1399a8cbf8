"""Gather every configured source into one instruction frame (plus its rejected rows)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from preftree.config.sources import SourcesParams
from preftree.schema import INSTRUCTION_SCHEMA, REJECTED_SCHEMA


@dataclass(frozen=True)
class Collected:
    instructions: pl.DataFrame  # INSTRUCTION_SCHEMA, all sources
    rejected: pl.DataFrame  # REJECTED_SCHEMA
    rows_read: dict[str, int]  # source rows read per dataset (the denominator of rejection rates)


def collect(sources: SourcesParams, *, seed: int) -> Collected:
    """Synthetic problems (pool "instruct") and every file / HF source, in config order."""
    from preftree.sources.load import load_source
    from preftree.sources.synthetic import problems as synthetic

    frames: list[pl.DataFrame] = []
    rejected: list[pl.DataFrame] = [pl.DataFrame(schema=REJECTED_SCHEMA)]
    rows_read: dict[str, int] = {}
    if sources.synthetic is not None and sources.synthetic.n > 0:
        syn = sources.synthetic
        frame = synthetic.generate(
            syn.n, seed=seed, pool="instruct", tasks=syn.tasks, min_steps=syn.min_steps, max_steps=syn.max_steps
        )
        frames.append(frame)
        rows_read["synthetic"] = frame.height
    for name, spec in sources.files.items():
        if name in rows_read:
            raise ValueError(f"sources.files.{name}: the name {name!r} is already used by another source")
        records, bad = load_source(name, spec)
        frames.append(records)
        rejected.append(bad)
        rows_read[name] = records.select(pl.col("source_row").n_unique()).item() + bad.height
    instructions = pl.concat(frames) if frames else pl.DataFrame(schema=INSTRUCTION_SCHEMA)
    return Collected(instructions=instructions, rejected=pl.concat(rejected), rows_read=rows_read)


def eval_sets(sources: SourcesParams, against: list[str] | None) -> dict[str, list[str]]:
    """Problem texts of the evaluation sets to decontaminate against (None = all configured)."""
    from preftree.sources.load import eval_texts

    names = list(sources.eval) if against is None else against
    unknown = [n for n in names if n not in sources.eval]
    if unknown:
        raise ValueError(
            f"select.decontaminate.against names {unknown} but sources.eval defines {sorted(sources.eval) or 'nothing'}"
        )
    return {name: eval_texts(name, sources.eval[name]) for name in names}
