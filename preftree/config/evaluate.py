"""params `eval` and `rerank` (stages eval@<policy>, rerank). Values: conf/config.yaml (`eval:`, `rerank:`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class BenchmarkSource:
    path: str  # a local file, or a Hugging Face dataset id (used only when no such path exists)
    limit: int | None  # the first N items (None = all)


@dataclass(frozen=True)
class EvalGenerationParams:
    max_new_tokens: int
    batch_size: int  # prompts per generate() call (hf engine)


@dataclass(frozen=True)
class MultiTurnParams:
    benchmarks: list[str]  # names from eval.benchmarks
    max_turns: int  # paper (MINT): success after 5 turns
    limit: int | None  # items per benchmark


@dataclass(frozen=True)
class EvalParams:
    policies: list[str]
    benchmarks: dict[str, BenchmarkSource]
    math_mode: Literal["cot", "pot", "both"]
    generation: EvalGenerationParams
    multiturn: MultiTurnParams


@dataclass(frozen=True)
class RerankParams:
    policy: str
    benchmark: str
    path: str
    limit: int | None
    n: int
    ns: list[int]
    temperature: float
    top_p: float
    max_new_tokens: int
    reward_models: dict[str, str]  # label -> RM folder
