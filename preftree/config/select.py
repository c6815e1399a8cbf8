"""params `select`: dedup, decontamination, difficulty, caps and the held-out split (stage `select`).
Values: conf/config.yaml (`select:`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from preftree.config.types import HeldoutFraction, InputFile, PositiveInt, Probability
from preftree.config.validate import Invalid, Range


@dataclass(frozen=True)
class DedupParams:
    exact: bool
    near: bool
    near_threshold: Annotated[float, Range(gt=0, le=1)]  # Jaccard of word shingles: >= this is a near-dup
    num_perm: PositiveInt  # MinHash permutations
    shingle: PositiveInt  # words per shingle


@dataclass(frozen=True)
class DecontaminateParams:
    ngram: PositiveInt  # drop any instruction sharing an n-gram with an eval sample (paper App. A.3: 8)
    against: list[str] | None  # names from sources.eval; null = every configured eval set


@dataclass(frozen=True)
class DifficultyBounds:
    min_steps: PositiveInt | None
    max_steps: PositiveInt | None

    def check(self) -> None:
        if self.min_steps is not None and self.max_steps is not None and self.min_steps > self.max_steps:
            raise Invalid("min_steps", f"{self.min_steps} is above max_steps ({self.max_steps})")


@dataclass(frozen=True)
class DifficultyParams:
    min_steps: PositiveInt | None
    max_steps: PositiveInt | None
    # per dataset, bounds that replace min_steps/max_steps for it (the paper keeps TabMWP's levels 4-5)
    per_dataset: dict[str, DifficultyBounds]
    # Hook for "drop what a policy solves": a file (parquet/jsonl/txt) of instruction ids a policy
    # solved, e.g. written by a later eval run. null = no policy filter.
    solved_ids: InputFile | None

    def check(self) -> None:
        if self.min_steps is not None and self.max_steps is not None and self.min_steps > self.max_steps:
            raise Invalid("min_steps", f"{self.min_steps} is above max_steps ({self.max_steps})")


@dataclass(frozen=True)
class CapsParams:
    per_pattern: PositiveInt | None  # at most k per (dataset, pattern), for every dataset
    per_pattern_by_dataset: dict[str, PositiveInt]  # overrides it per dataset (MathQA: 5)
    per_dataset: dict[str, PositiveInt]  # stratified sample of at most n per dataset


@dataclass(frozen=True)
class HeldoutParams:
    fraction: HeldoutFraction  # of each dataset's problems, by problem_id
    max_per_dataset: PositiveInt | None


@dataclass(frozen=True)
class MaxCharsParams:
    """Size limits per field, in characters: a longer row is dropped (reason too_long, counted)."""

    problem: PositiveInt | None  # the problem text (the instruction is the task prefix + it); null = no limit
    answer: PositiveInt | None
    tests: PositiveInt | None  # all of a record's tests together
    reference: PositiveInt | None  # the reference solution (JSON)


@dataclass(frozen=True)
class SelectParams:
    dedup: DedupParams
    decontaminate: DecontaminateParams
    difficulty: DifficultyParams
    caps: CapsParams
    heldout: HeldoutParams
    max_reject_rate: Probability  # fail when more than this share of a source's rows is rejected
    max_chars: MaxCharsParams  # size limits per field; rows over one are dropped, not kept whole
