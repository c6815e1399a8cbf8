"""params `runtime`: speed and placement only, never a DVC param. Values: conf/runtime/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from preftree.config.types import Device, InputFile, NonNegativeInt, PositiveFloat, PositiveInt
from preftree.config.validate import Invalid, Range


@dataclass(frozen=True)
class InteractWorker:
    """`interact` split over processes or machines: this worker grows the shards k with k % count == index
    into `shard_dir` (null: <repo>/.preftree-cache/interact; a folder every worker can write, e.g. on a
    shared filesystem). count 1: every shard not yet there, then the merged data/interact."""

    index: NonNegativeInt
    count: PositiveInt
    shard_dir: str | None

    def check(self) -> None:
        if self.index >= self.count:
            raise Invalid("index", f"{self.index} must be below count ({self.count}): workers are 0 .. count - 1")


@dataclass(frozen=True)
class VLLMRuntime:
    """vLLM engines (runtime.engine=vllm: eval@*, rerank; actor.backend=vllm): placement and memory only.
    Each of `replicas` engines runs in its own process on its own `tensor_parallel_size` GPUs, and a
    request's prompts are split between them (preftree.generation.vllm_replicas); 1: one engine here."""

    tensor_parallel_size: PositiveInt  # GPUs one engine splits the model over
    gpu_memory_utilization: Annotated[float, Range(gt=0, le=1)]  # share of each GPU's memory vLLM may take
    max_model_len: PositiveInt | None  # context length (prompt + new tokens); null: the model's own
    replicas: PositiveInt  # data-parallel engines; replicas x tensor_parallel_size GPUs in all


@dataclass(frozen=True)
class RuntimeParams:
    device: Device  # auto | cpu | cuda | cuda:N | mps
    threads: NonNegativeInt  # torch intra-op threads; 0 = torch's default
    progress: bool  # progress bars
    workers: PositiveInt  # parallel sandbox runs / CPU workers
    launcher: Literal["python", "accelerate"]
    accelerate_config: InputFile | None
    engine: Literal["hf", "vllm"]
    request_timeout_s: PositiveFloat  # openai backend: per request
    max_retries: NonNegativeInt  # openai backend: on 429 / 5xx / connection errors, with exponential backoff
    concurrency: PositiveInt  # openai backend: requests in flight per endpoint
    bf16: bool  # mixed precision for training on GPUs
    gradient_checkpointing: bool  # trade compute for memory (same result)
    checkpoint_steps: NonNegativeInt  # training: a resumable checkpoint every N steps (0: none); preftree.train.resume
    interact_worker: InteractWorker  # which shards of `interact` this process grows (several machines)
    vllm: VLLMRuntime  # vLLM engine settings (GPUs per engine, memory, context, replicas)
