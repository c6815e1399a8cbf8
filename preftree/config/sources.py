"""params `sources`: where instructions come from (stage `select`). Values: conf/sources/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from preftree.config.types import FileOrHubId, InputAny, NonNegativeFloat, PositiveInt
from preftree.config.validate import Invalid

Task = Literal["Coding", "Math_CoT", "Math_PoT", "Logic"]  # preftree.schema.TASKS
AdapterName = Literal[
    "codecontests",
    "generic",
    "gsm8k",
    "hotpotqa",
    "humaneval",
    "magicoder_evol_instruct",
    "math",
    "mathqa",
    "mbpp",
    "numglue",
    "reclor",
    "strategyqa",
    "svamp",
    "tabmwp",
    "taco",
    "wikitablequestions",
]


@dataclass(frozen=True)
class SyntheticSourceParams:
    n: PositiveInt  # instructions generated before selection
    tasks: dict[Task, NonNegativeFloat]  # task family -> share
    min_steps: PositiveInt  # difficulty knob: reasoning steps per problem
    max_steps: PositiveInt

    def check(self) -> None:
        if not self.tasks or sum(self.tasks.values()) <= 0:
            raise Invalid("tasks", f"{self.tasks} needs a positive share for at least one task family")
        if self.min_steps > self.max_steps:
            raise Invalid("min_steps", f"{self.min_steps} is above max_steps ({self.max_steps})")


@dataclass(frozen=True)
class FileSourceParams:
    """One real dataset: a local file (jsonl, json, json.gz, jsonl.gz, parquet) or a HF dataset id.
    Every field is documented in conf/sources/gsm8k.yaml."""

    adapter: AdapterName  # preftree.sources.registry.ADAPTERS (a test keeps the two lists equal)
    path: InputAny | None  # local file or folder
    hf_id: FileOrHubId | None  # Hugging Face dataset id or local dataset folder (offline cache)
    hf_config: str | None
    split: str
    tasks: list[Task]  # [] = the adapter's default tasks
    fields: dict[str, str]  # generic adapter: schema field -> source column
    limit: PositiveInt | None  # read at most this many rows

    def check(self) -> None:
        if (self.path is None) == (self.hf_id is None):
            raise Invalid("path", "set exactly one of path (a local file or folder) or hf_id (a dataset id)")


@dataclass(frozen=True)
class SourcesParams:
    synthetic: SyntheticSourceParams | None
    files: dict[str, FileSourceParams]  # training sources by name
    eval: dict[str, FileSourceParams]  # decontamination targets by name
