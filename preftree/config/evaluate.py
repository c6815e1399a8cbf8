"""params `eval` and `rerank` (stages eval@<policy>, rerank). Values: conf/config.yaml (`eval:`, `rerank:`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from preftree.config.types import FileOrHubId, InputAny, InputDir, PositiveInt, Temperature, TopP
from preftree.config.validate import Invalid, Range


@dataclass(frozen=True)
class BenchmarkSource:
    path: FileOrHubId  # a local file, or a Hugging Face dataset id (used only when no such path exists)
    limit: PositiveInt | None  # the first N items (None = all)


@dataclass(frozen=True)
class EvalGenerationParams:
    max_new_tokens: PositiveInt | None  # a cap on every benchmark's official budget (None: the registry's own)
    batch_size: PositiveInt  # prompts per generate() call (hf engine)


@dataclass(frozen=True)
class MintParams:
    """MINT's own protocol (preftree.evaluate.mint): its prompts come from a mint-bench checkout."""

    prompts_dir: InputDir | None  # a mint-bench checkout (its root or mint/); needed by protocol mint
    max_propose_solution: PositiveInt  # MINT: at most 2 proposed solutions per episode
    max_new_tokens: PositiveInt  # MINT: 512 new tokens per turn
    repl_timeout_s: Annotated[float, Range(gt=0, le=3600)]  # MINT's Python session: 30 s per executed cell


@dataclass(frozen=True)
class MultiTurnParams:
    benchmarks: list[str]  # names from eval.benchmarks
    max_turns: PositiveInt  # paper (MINT): success after 5 turns
    limit: PositiveInt | None  # items per benchmark
    protocol: Literal["feedback", "mint"]  # feedback: runner.evaluate_multiturn (tiny world); mint: MINT's own
    mint: MintParams

    def check(self) -> None:
        if self.protocol == "mint" and not self.mint.prompts_dir:
            raise Invalid("mint.prompts_dir", "protocol mint reads MINT's prompts from a mint-bench checkout: set it")


@dataclass(frozen=True)
class EvalParams:
    policies: list[str]
    benchmarks: dict[str, BenchmarkSource]
    math_mode: Literal["cot", "pot", "both"]
    generation: EvalGenerationParams
    multiturn: MultiTurnParams

    def check(self) -> None:
        unknown = [b for b in self.multiturn.benchmarks if b not in self.benchmarks]
        if unknown:
            known = ", ".join(self.benchmarks)
            raise Invalid("multiturn.benchmarks", f"{unknown} are not in eval.benchmarks ({known})")


@dataclass(frozen=True)
class RerankInputs:
    """What dvc.yaml declares as rerank's data deps (DVC interpolates no list, and a HF id is no path)."""

    policy: InputAny  # the policy's folder (a HF id policy: any path the stage depends on anyway, e.g. models/rm)
    benchmarks: InputAny  # a file or folder holding every rerank.benchmarks path that is a local file


@dataclass(frozen=True)
class RerankParams:
    policy: str  # a policy name (models/<name>), a model folder, or a Hugging Face id (local HF cache)
    benchmarks: dict[str, BenchmarkSource | None]  # registry name -> source; null drops an entry (a preset's way)
    inputs: RerankInputs
    n: PositiveInt
    ns: list[PositiveInt]
    temperature: Temperature
    top_p: TopP
    max_new_tokens: PositiveInt
    reward_models: dict[str, InputDir]  # label -> RM folder

    def check(self) -> None:
        if not self.ns or max(self.ns) > self.n:
            raise Invalid("ns", f"{self.ns} must be a non-empty list of sizes <= rerank.n ({self.n})")
        if not self.sources():
            raise Invalid("benchmarks", "no benchmark to rerank (every entry is null)")

    def sources(self) -> dict[str, BenchmarkSource]:
        """The benchmarks to rerank, in order (entries set to null left out)."""
        return {name: source for name, source in self.benchmarks.items() if source is not None}
