"""params `model`: the base policy (stage `base`). Values: conf/model/."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenizerParams:
    vocab_size: int  # byte-level BPE vocabulary, special tokens included
    min_frequency: int  # a merge needs this many occurrences in the corpus


@dataclass(frozen=True)
class ArchParams:
    """LlamaConfig fields of the tiny model trained from scratch."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    max_position_embeddings: int
    rope_theta: float
    tie_word_embeddings: bool


@dataclass(frozen=True)
class PretrainParams:
    """From-scratch pretraining on synthetic problems with mixed-quality solutions."""

    documents: int  # problems drawn from the pretraining pool (disjoint from `select`'s)
    heldout_documents: int  # extra documents for the held-out loss
    correct_fraction: float  # share of documents whose solution is correct
    min_steps: int
    max_steps: int
    steps: int  # optimizer steps
    batch_size: int
    seq_len: int
    lr: float
    warmup_steps: int
    weight_decay: float
    grad_clip: float


@dataclass(frozen=True)
class ModelParams:
    name: str
    # A local HF checkpoint. When set, `base` validates it (config + tokenizer load) and records its
    # identity instead of training; tokenizer/arch/pretrain are then unused (null in conf/model/local.yaml).
    path: str | None
    tokenizer: TokenizerParams | None
    arch: ArchParams | None
    pretrain: PretrainParams | None
