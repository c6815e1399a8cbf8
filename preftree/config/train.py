"""params `sft`, `align` and `rm`: the training stages (sft, align@{dpo,kto,nca}, rm@{bt,bt_dr}).
Values: conf/config.yaml (`sft:`, `align:`, `rm:`); conf/mixture/ documents an sft.mixture entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class OptimParams:
    """What a trainer optimises; shared by every training stage (transformers TrainingArguments names)."""

    lr: float
    epochs: float
    max_steps: int  # > 0 overrides epochs
    warmup_ratio: float
    scheduler: str
    batch_size: int  # per device
    grad_accum: int
    weight_decay: float
    max_length: int  # tokens per example (prompt + completion)
    logging_steps: int


@dataclass(frozen=True)
class MixtureSourceParams:
    """An extra SFT dataset (the paper mixes UltraChat, ShareGPT, OpenOrca): a local file or HF id
    with a `messages` column (or prompt/response columns named in `fields`)."""

    path: str | None
    hf_id: str | None
    split: str
    weight: float  # rows drawn = weight x the size of the sft view (with replacement when > 1)
    fields: dict[str, str]  # prompt -> column, response -> column


@dataclass(frozen=True)
class SFTParams:
    optim: OptimParams
    packing: bool
    mixture: dict[str, MixtureSourceParams]


@dataclass(frozen=True)
class AlignMethodParams:
    """One preference-learning run from models/sft (reference model = models/sft)."""

    loss: Literal["sigmoid", "nca_pair", "kto"]
    beta: float  # paper: 0.1 for every algorithm
    desirable_weight: float  # KTO: lambda_D / lambda_U = 1.33 as in the paper
    undesirable_weight: float
    optim: OptimParams


@dataclass(frozen=True)
class RMParams:
    """One reward-model variant (a key of the `rm` section; stage rm@<key> writes models/rm/<key>)."""

    loss: Literal["bt", "bt+dr"]  # L_BT, or L_BT + L_DR (the direct term on UltraInteract rows)
    optim: OptimParams
