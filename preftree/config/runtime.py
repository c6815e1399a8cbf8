"""params `runtime`: speed and placement only, never a DVC param. Values: conf/runtime/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from preftree.config.types import Device, InputFile, NonNegativeInt, PositiveFloat, PositiveInt


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
    concurrency: PositiveInt  # openai backend: requests in flight
    bf16: bool  # mixed precision for training on GPUs
    gradient_checkpointing: bool  # trade compute for memory (same result)
    checkpoint_steps: NonNegativeInt  # training: a resumable checkpoint every N steps (0: none); preftree.train.resume
