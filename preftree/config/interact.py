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
    # where the incorrect action of each turn comes from: own (the actor's own wrong sample, else another
    # wrong sample, else the weak actor) | weak (the paper, §2.3 / App. A.2: always the weak actor's,
    # whose model is drawn per action from `weak.pool`; the trajectory expands it)
    rejected: Literal["own", "weak"]
    # datasets (records' `dataset`, i.e. the sources.files names) that have answers but no rationale
    # (paper Table 7): no ground-truth-guided step, so their answer is never shown to the actor (the paper:
    # such datasets "can use steps (1)-(2) only", App. A.2); records without any worked solution too
    answer_only: list[str]
