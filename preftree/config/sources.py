"""params `sources`: where instructions come from (stage `select`). Values: conf/sources/."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SyntheticSourceParams:
    n: int  # instructions generated before selection
    tasks: dict[str, float]  # task family -> share
    min_steps: int  # difficulty knob: reasoning steps per problem
    max_steps: int


@dataclass(frozen=True)
class FileSourceParams:
    """One real dataset: a local file (jsonl, json, json.gz, jsonl.gz, parquet) or a HF dataset id.
    Every field is documented in conf/sources/gsm8k.yaml."""

    adapter: str  # gsm8k | math | mbpp | humaneval | svamp | generic | ...
    path: str | None  # local file or folder
    hf_id: str | None  # Hugging Face dataset id or local dataset folder (offline cache)
    hf_config: str | None
    split: str
    tasks: list[str]  # [] = the adapter's default tasks
    fields: dict[str, str]  # generic adapter: schema field -> source column
    limit: int | None  # read at most this many rows


@dataclass(frozen=True)
class SourcesParams:
    synthetic: SyntheticSourceParams | None
    files: dict[str, FileSourceParams]  # training sources by name
    eval: dict[str, FileSourceParams]  # decontamination targets by name
