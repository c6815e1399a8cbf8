"""params `select`: dedup, decontamination, difficulty, caps and the held-out split (stage `select`).
Values: conf/config.yaml (`select:`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DedupParams:
    exact: bool
    near: bool
    near_threshold: float  # Jaccard similarity of word shingles at or above which a row is a near-dup
    num_perm: int  # MinHash permutations
    shingle: int  # words per shingle


@dataclass(frozen=True)
class DecontaminateParams:
    ngram: int  # drop any instruction sharing an n-gram with an eval sample (paper App. A.3: 8)
    against: list[str] | None  # names from sources.eval; null = every configured eval set


@dataclass(frozen=True)
class DifficultyBounds:
    min_steps: int | None
    max_steps: int | None


@dataclass(frozen=True)
class DifficultyParams:
    min_steps: int | None
    max_steps: int | None
    # per dataset, bounds that replace min_steps/max_steps for it (the paper keeps TabMWP's levels 4-5)
    per_dataset: dict[str, DifficultyBounds]
    # Hook for "drop what a policy solves": a file (parquet/jsonl/txt) of instruction ids a policy
    # solved, e.g. written by a later eval run. null = no policy filter.
    solved_ids: str | None


@dataclass(frozen=True)
class CapsParams:
    per_pattern: int | None  # at most k per (dataset, pattern), for every dataset
    per_pattern_by_dataset: dict[str, int]  # overrides it per dataset (MathQA: 5)
    per_dataset: dict[str, int]  # stratified sample of at most n per dataset


@dataclass(frozen=True)
class HeldoutParams:
    fraction: float  # of each dataset's problems, by problem_id
    max_per_dataset: int | None


@dataclass(frozen=True)
class SelectParams:
    dedup: DedupParams
    decontaminate: DecontaminateParams
    difficulty: DifficultyParams
    caps: CapsParams
    heldout: HeldoutParams
    max_reject_rate: float  # fail when more than this share of a source's rows is rejected
