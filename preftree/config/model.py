"""params `model`: the base policy (stage `base`). Values: conf/model/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from preftree.config.sources import Task
from preftree.config.types import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Probability
from preftree.config.validate import InputPath, Invalid, Range


@dataclass(frozen=True)
class TokenizerParams:
    vocab_size: Annotated[int, Range(ge=300)]  # byte-level BPE vocabulary, special tokens included
    min_frequency: PositiveInt  # a merge needs this many occurrences in the corpus
    split_digits: bool  # numbers are cut into chunks of digits_per_token digits before BPE (never merged further)
    digits_per_token: Annotated[int, Range(ge=1, le=3)]  # with split_digits: 1 = one token per digit; 2 = pairs


def check_heads(hidden_size: int, heads: int, kv_heads: int) -> None:
    """Attention heads must split hidden_size, and key-value heads must divide the heads (GQA)."""
    if hidden_size % heads:
        raise Invalid("hidden_size", f"{hidden_size} is not a multiple of num_attention_heads ({heads})")
    if heads % kv_heads:
        raise Invalid("num_key_value_heads", f"{kv_heads} does not divide num_attention_heads ({heads})")


@dataclass(frozen=True)
class VocabFileParams:
    """A released vocabulary, read instead of trained (preftree.models.vocab_file)."""

    file: (
        str  # mistral_common:<file in the package's data/> (e.g. tokenizer.model.v1) or a path to a SentencePiece file
    )


@dataclass(frozen=True)
class ArchParams:
    """LlamaConfig fields of the tiny model trained from scratch."""

    hidden_size: PositiveInt
    intermediate_size: PositiveInt
    num_hidden_layers: PositiveInt
    num_attention_heads: PositiveInt
    num_key_value_heads: PositiveInt
    max_position_embeddings: Annotated[int, Range(ge=16)]
    rope_theta: PositiveFloat
    tie_word_embeddings: bool

    def check(self) -> None:
        check_heads(self.hidden_size, self.num_attention_heads, self.num_key_value_heads)


@dataclass(frozen=True)
class MistralArchParams(ArchParams):
    """MistralConfig fields of a Mistral-architecture model trained from scratch (model=mistral_tiny)."""

    architecture: Literal["mistral"]
    sliding_window: PositiveInt | None  # Mistral-7B-v0.1: 4096; null: full attention


@dataclass(frozen=True)
class PretrainParams:
    """From-scratch pretraining on synthetic problems with mixed-quality solutions."""

    documents: PositiveInt  # problems drawn from the pretraining pool (disjoint from `select`'s)
    heldout_documents: PositiveInt  # extra documents for the held-out loss
    correct_fraction: Probability  # share of documents whose solution is correct
    min_steps: PositiveInt
    max_steps: PositiveInt
    tasks: dict[Task, NonNegativeFloat]  # task family -> share of the documents
    copy_drills: NonNegativeInt  # extra documents asking to repeat a list of numbers and names (synthetic.drills)
    steps: PositiveInt  # optimizer steps
    batch_size: PositiveInt
    seq_len: Annotated[int, Range(ge=16)]
    lr: PositiveFloat
    warmup_steps: NonNegativeInt
    weight_decay: NonNegativeFloat
    grad_clip: PositiveFloat

    def check(self) -> None:
        if self.min_steps > self.max_steps:
            raise Invalid("min_steps", f"{self.min_steps} is above max_steps ({self.max_steps})")
        if not self.tasks or sum(self.tasks.values()) <= 0:
            raise Invalid("tasks", f"{self.tasks} needs a positive share for at least one task family")


@dataclass(frozen=True)
class ModelParams:
    name: str
    # A local HF checkpoint. When set, `base` validates it (config + tokenizer load) and records its
    # identity instead of training; tokenizer/arch/pretrain are then unused (null in conf/model/local.yaml).
    path: Annotated[str, InputPath("dir", hub=True)] | None
    tokenizer: TokenizerParams | VocabFileParams | None  # trained here (BPE) or read from a released file
    arch: ArchParams | MistralArchParams | None  # Llama (model=tiny) or Mistral (model=mistral_tiny)
    pretrain: PretrainParams | None
