"""params `sft`, `align` and `rm`: the training stages (sft, align@{dpo,kto,nca}, rm@{bt,bt_dr}).
Values: conf/config.yaml (`sft:`, `align:`, `rm:`); conf/mixture/ documents an sft.mixture entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from preftree.config.types import FileOrHubId, InputAny, NonNegativeFloat, PositiveFloat, PositiveInt
from preftree.config.validate import Range

# transformers.SchedulerType values (a test keeps the two lists equal)
Scheduler = Literal[
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "reduce_lr_on_plateau",
    "cosine_with_min_lr",
    "cosine_warmup_with_min_lr",
    "warmup_stable_decay",
]

# the published layouts a mixture source can be read in (preftree.train.mixture_layouts)
Layout = Literal[
    "ultrachat", "sharegpt", "openorca", "custom", "ultrafeedback", "ultrafeedback_binarized", "ultrasafety"
]


@dataclass(frozen=True)
class OptimParams:
    """What a trainer optimises; shared by every training stage (transformers TrainingArguments names)."""

    lr: PositiveFloat
    epochs: PositiveFloat
    max_steps: Annotated[int, Range(ge=-1)]  # > 0 overrides epochs; 0 or -1: train `epochs`
    warmup_ratio: Annotated[float, Range(ge=0, lt=1)]
    scheduler: Scheduler
    batch_size: PositiveInt  # per device
    grad_accum: PositiveInt
    weight_decay: NonNegativeFloat
    max_length: Annotated[int, Range(ge=16)]  # tokens per example (prompt + completion)
    logging_steps: PositiveInt


@dataclass(frozen=True)
class MixtureSourceParams:
    """Extra data drawn into a training stage's view (paper §3, App. B: UltraChat, ShareGPT and OpenOrca
    into SFT, UltraFeedback pairs into preference learning, UltraFeedback and UltraSafety into the RM):
    a local file or HF id in one of the datasets' published layouts (preftree.train.mixture_layouts)."""

    path: InputAny | None
    hf_id: FileOrHubId | None
    split: str
    layout: Layout
    weight: NonNegativeFloat | None  # draw round(weight x the size of the stage's view) (null: use `rows`)
    rows: PositiveInt | None  # draw this many (null: use `weight`)
    fields: dict[str, str]  # layout custom only: messages -> column, or prompt/response(/system) -> columns


@dataclass(frozen=True)
class SFTParams:
    optim: OptimParams
    packing: bool
    mixture: dict[str, MixtureSourceParams]


@dataclass(frozen=True)
class AlignMethodParams:
    """One preference-learning run from models/sft (reference model = models/sft)."""

    loss: Literal["sigmoid", "nca_pair", "kto"]
    beta: PositiveFloat  # paper: 0.1 for every algorithm
    desirable_weight: PositiveFloat  # KTO: lambda_D / lambda_U = 1.33 as in the paper
    undesirable_weight: PositiveFloat
    optim: OptimParams
    mixture: dict[str, MixtureSourceParams]  # pair layouts (UltraFeedback), drawn next to the tree's pairs


@dataclass(frozen=True)
class RMParams:
    """One reward-model variant (a key of the `rm` section; stage rm@<key> writes models/rm/<key>)."""

    loss: Literal["bt", "bt+dr"]  # L_BT, or L_BT + L_DR (the direct term on UltraInteract rows)
    optim: OptimParams
    mixture: dict[str, MixtureSourceParams]  # pair layouts (UltraFeedback, UltraSafety): L_BT only
