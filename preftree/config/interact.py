"""params `interact`: the tree-growing loop (stage `interact`). Values: conf/config.yaml (`interact:`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from preftree.config.types import NonNegativeInt, PositiveInt


@dataclass(frozen=True)
class InteractParams:
    max_turns: PositiveInt  # paper: at most 5 turns
    samples_per_turn: PositiveInt  # K actions sampled from the actor per turn
    escalation_rounds: NonNegativeInt  # extra rounds of K samples when none is correct, before guided generation
    guided: bool  # last resort: the actor sees the ground truth (paper App. A.2 step 3)
    limit: PositiveInt | None  # process at most this many selected instructions (None = all)
    shard_size: PositiveInt  # instructions per shard: the unit of checkpointing and resume
    # who judges Coding problems without tests or answer (Magicoder): none (the stage fails on such
    # records) | critic (an LLM judge on the critic's backend settings; paper: GPT-4 Turbo)
    judge: Literal["none", "critic"]
