"""params `runtime`: speed and placement only, never a DVC param. Values: conf/runtime/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class RuntimeParams:
    device: str  # auto | cpu | cuda | cuda:N | mps
    threads: int  # torch intra-op threads; 0 = torch's default
    progress: bool  # progress bars
    workers: int  # parallel sandbox runs / CPU workers
    launcher: Literal["python", "accelerate"]
    accelerate_config: str | None
    engine: Literal["hf", "vllm"]
    request_timeout_s: float  # openai backend: per request
    max_retries: int  # openai backend: on 429 / 5xx / connection errors, with exponential backoff
    concurrency: int  # openai backend: requests in flight
    bf16: bool  # mixed precision for training on GPUs
    gradient_checkpointing: bool  # trade compute for memory (same result)
