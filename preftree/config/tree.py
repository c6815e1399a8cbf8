"""params `tree`: preference trees -> training views (stage `tree`). Values: conf/config.yaml (`tree:`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from preftree.config.types import HeldoutFraction, InputDir, NonNegativeInt, PositiveInt


@dataclass(frozen=True)
class ReleaseFilesParams:
    """File names inside `tree.input` when importing the public release (tree.source=release)."""

    sft: str | None  # UltraInteract_sft file (parquet/json/jsonl); null = derive SFT rows from the pairs
    pairs: str  # UltraInteract_pair file


@dataclass(frozen=True)
class RMAugmentParams:
    """Cross-turn augmentation of reward-model pairs (paper App. B)."""

    max_product: PositiveInt  # only instructions with (#correct x #incorrect) <= this
    max_pairs: NonNegativeInt  # at most this many augmented pairs per instruction
    max_uses: PositiveInt  # each action used at most this many times


@dataclass(frozen=True)
class TreeParams:
    source: Literal["interact", "release"]
    input: InputDir  # the stage's data dependency: interact's output or a folder of release files
    release: ReleaseFilesParams
    sft_history: bool  # paper: SFT on correct leaves without interaction history
    heldout_fraction: HeldoutFraction  # of instructions (parent_id), for held-out losses and RM accuracy
    rm: RMAugmentParams
    # datasets whose trees give SFT rows but no pairs / KTO / RM rows (paper: Magicoder, 0 pairs)
    sft_only: list[str]
