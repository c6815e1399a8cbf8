"""The tiny policy trained from scratch (Llama, or Mistral for model=mistral_tiny): build, pack, pretrain, evaluate.

Everything here is deterministic on CPU: the model init is seeded without touching the global RNG,
batches come from a seeded ``torch.Generator``, and training runs under
``torch.use_deterministic_algorithms(True)``, so two runs with the same seed give bit-identical
weights (for a fixed torch version and thread count). A run can stop after any step and go on
from a :class:`PretrainState` to the same weights and records as if it never stopped.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from preftree.config.model import ArchParams, MistralArchParams, PretrainParams

MIN_LR_RATIO = 0.1  # the cosine decays to this share of the peak learning rate
BETAS = (0.9, 0.95)


def _shared_fields(arch: ArchParams, tokenizer: PreTrainedTokenizerBase) -> dict:
    """The config fields Llama and Mistral share: ``arch``'s sizes, the tokenizer's vocabulary and special ids."""
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise ValueError("the tokenizer needs a pad token distinct from eos")
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": arch.hidden_size,
        "intermediate_size": arch.intermediate_size,
        "num_hidden_layers": arch.num_hidden_layers,
        "num_attention_heads": arch.num_attention_heads,
        "num_key_value_heads": arch.num_key_value_heads,
        "max_position_embeddings": arch.max_position_embeddings,
        "rope_parameters": {"rope_type": "default", "rope_theta": float(arch.rope_theta)},
        "tie_word_embeddings": arch.tie_word_embeddings,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "use_cache": True,
    }


def llama_config(arch: ArchParams, tokenizer: PreTrainedTokenizerBase) -> LlamaConfig:
    """A LlamaConfig from ``ArchParams`` with the tokenizer's vocabulary size and special ids."""
    return LlamaConfig(**_shared_fields(arch, tokenizer))


def mistral_config(arch: MistralArchParams, tokenizer: PreTrainedTokenizerBase) -> MistralConfig:
    """A MistralConfig from ``MistralArchParams`` (sliding window too) with the tokenizer's vocabulary and ids."""
    return MistralConfig(
        **_shared_fields(arch, tokenizer),
        head_dim=arch.hidden_size // arch.num_attention_heads,
        sliding_window=arch.sliding_window,
    )


def build_model(
    arch: ArchParams | MistralArchParams, tokenizer: PreTrainedTokenizerBase, *, seed: int
) -> LlamaForCausalLM | MistralForCausalLM:
    """A freshly initialised LlamaForCausalLM, or MistralForCausalLM for ``MistralArchParams`` (float32),
    seeded without changing the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if isinstance(arch, MistralArchParams):
            model: LlamaForCausalLM | MistralForCausalLM = MistralForCausalLM(mistral_config(arch, tokenizer))
        else:
            model = LlamaForCausalLM(llama_config(arch, tokenizer))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model


def count_parameters(model: torch.nn.Module) -> int:
    """Number of distinct parameters (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters())


def pack_documents(tokenizer: PreTrainedTokenizerBase, docs: list[str], seq_len: int) -> torch.LongTensor:
    """Tokenize each doc, end it with eos, concatenate and cut into ``[n_blocks, seq_len]`` (remainder dropped)."""
    if seq_len < 2:
        raise ValueError(f"seq_len must be at least 2, got {seq_len}")
    encoded = tokenizer(list(docs), add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    stream: list[int] = []
    for ids in encoded:
        stream.extend(ids)
        stream.append(eos)
    n_blocks = len(stream) // seq_len
    if n_blocks == 0:
        raise ValueError(f"{len(docs)} documents give {len(stream)} tokens, fewer than one block of {seq_len}")
    return torch.tensor(stream[: n_blocks * seq_len], dtype=torch.long).view(n_blocks, seq_len)


def lr_at(step: int, params: PretrainParams) -> float:
    """Learning rate for 1-based ``step``: linear warmup to ``params.lr``, then cosine to ``MIN_LR_RATIO * lr``."""
    warmup = max(0, min(params.warmup_steps, params.steps))
    if warmup and step <= warmup:
        return params.lr * step / warmup
    decay_steps = max(1, params.steps - warmup)
    progress = min(1.0, (step - warmup) / decay_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return params.lr * (MIN_LR_RATIO + (1.0 - MIN_LR_RATIO) * cosine)


def _batches(n_blocks: int, batch_size: int, steps: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Block indices per step: shuffled epochs drawn from ``generator``, batches may span epochs."""
    order = torch.empty(0, dtype=torch.long)
    for _ in range(steps):
        while order.numel() < batch_size:
            order = torch.cat([order, torch.randperm(n_blocks, generator=generator)])
        yield order[:batch_size]
        order = order[batch_size:]


def _optimizer(model: torch.nn.Module, params: PretrainParams) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on norms)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": params.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=params.lr, betas=BETAS, eps=1e-8, foreach=False)


@dataclass
class PretrainState:
    """What :func:`pretrain` needs to go on after ``step`` optimizer steps as if it never stopped.

    The batch order is not stored: it is redrawn from the seed and fast-forwarded by ``step``
    batches; ``generator`` (the batch generator's state after them) checks that it lands where the
    stopped run was. ``rng`` holds the global RNG states (torch, python ``random``, numpy, CUDA)
    that the loop may draw from.
    """

    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    generator: torch.Tensor
    records: list[dict]
    rng: dict[str, Any]


def _rng_states() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # type: ignore[misc]
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [kind, [int(k) for k in keys], int(pos), int(has_gauss), float(gauss)],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "cuda" in states:
        torch.cuda.set_rng_state_all(states["cuda"])


def _capture(
    step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator, records: list[dict]
) -> PretrainState:
    """A copy of the run's state after ``step`` steps (on the CPU; training may go on changing the originals)."""
    return PretrainState(
        step=step,
        model={k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
        optimizer=copy.deepcopy(optimizer.state_dict()),
        generator=generator.get_state(),
        records=[dict(r) for r in records],
        rng=_rng_states(),
    )


def _restore(
    state: PretrainState,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    batches: Iterator[torch.Tensor],
    steps: int,
) -> None:
    """Load ``state`` into the run and fast-forward ``batches`` past the ``state.step`` batches it trained."""
    if not 0 < state.step < steps or len(state.records) != state.step:
        raise ValueError(
            f"a pretraining state at step {state.step} with {len(state.records)} records "
            f"cannot resume a run of {steps} steps"
        )
    model.load_state_dict(state.model)
    optimizer.load_state_dict(copy.deepcopy(state.optimizer))  # it adopts same-device tensors: keep `state` intact
    for _ in itertools.islice(batches, state.step):
        pass
    if not torch.equal(generator.get_state(), state.generator):
        raise ValueError(
            f"the batch order redrawn to step {state.step} is not the stopped run's (another seed or block count)"
        )
    _set_rng_states(state.rng)


@contextlib.contextmanager
def deterministic(device: torch.device) -> Iterator[None]:
    """Run the block with ``torch.use_deterministic_algorithms(True)``, restoring the previous setting.

    Strict on CPU. On accelerators it only warns (some kernels have no deterministic variant) and
    sets the cuBLAS workspace that deterministic matmuls need.
    """
    before = torch.are_deterministic_algorithms_enabled()
    before_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=device.type != "cpu")
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=before_warn)


def pretrain(
    model: PreTrainedModel,
    blocks: torch.Tensor,
    params: PretrainParams,
    *,
    seed: int,
    progress: bool = True,
    device: str | torch.device = "cpu",
    resume: PretrainState | None = None,
    save: Callable[[PretrainState], None] | None = None,
    save_every: int = 0,
) -> list[dict]:
    """Train ``model`` in place on ``blocks`` for ``params.steps`` steps; one record per step.

    Records are ``{"step", "loss", "lr", "tokens", "seconds"}`` with ``tokens`` and ``seconds``
    cumulative. The model is left in eval mode. Every ``save_every`` steps (0: never; not after the
    last step) ``save`` gets the run's state; ``resume`` (a state ``save`` got, the model freshly
    built as for the first run) goes on from it: the weights, records (but ``seconds``) and RNG
    states at the end are those of a run that never stopped.
    """
    if blocks.dim() != 2 or blocks.size(0) == 0:
        raise ValueError(f"blocks must be a non-empty [n_blocks, seq_len] tensor, got {tuple(blocks.shape)}")
    device = torch.device(device)
    model.to(device)
    model.train()
    optimizer = _optimizer(model, params)
    generator = torch.Generator().manual_seed(seed)
    batches = _batches(blocks.size(0), params.batch_size, params.steps, generator)
    records: list[dict] = []
    if resume is not None:
        _restore(resume, model, optimizer, generator, batches, params.steps)
        records = [dict(r) for r in resume.records]
    done = len(records)
    tokens = records[-1]["tokens"] if records else 0
    seconds_before = records[-1]["seconds"] if records else 0.0
    start = time.perf_counter()
    bar = tqdm(
        total=params.steps,
        initial=done,
        desc="pretrain",
        disable=not progress,
        leave=False,
        mininterval=0.5 if sys.stderr.isatty() else 15.0,
    )
    with deterministic(device):
        for step, idx in enumerate(batches, done + 1):
            lr = lr_at(step, params)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = blocks[idx].to(device)
            loss = model(input_ids=batch, labels=batch, use_cache=False).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if params.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), params.grad_clip, foreach=False)
            optimizer.step()
            tokens += batch.numel()
            value = float(loss.detach())
            seconds = seconds_before + time.perf_counter() - start
            records.append({"step": step, "loss": value, "lr": lr, "tokens": tokens, "seconds": seconds})
            bar.set_postfix(loss=f"{value:.3f}", lr=f"{lr:.2e}", refresh=False)
            bar.update(1)
            if save is not None and save_every > 0 and step % save_every == 0 and step < params.steps:
                save(_capture(step, model, optimizer, generator, records))
    bar.close()
    model.eval()
    return records


@torch.no_grad()
def evaluate_loss(
    model: PreTrainedModel, blocks: torch.Tensor, *, batch_size: int, device: str | torch.device = "cpu"
) -> float:
    """Mean next-token cross-entropy (nats per token) of ``model`` over all ``blocks``."""
    if blocks.numel() == 0:
        raise ValueError("evaluate_loss: no blocks")
    device = torch.device(device)
    was_training = model.training
    model.to(device)
    model.eval()
    total, count = 0.0, 0
    for i in range(0, blocks.size(0), batch_size):
        batch = blocks[i : i + batch_size].to(device)
        logits = model(input_ids=batch, use_cache=False).logits[:, :-1].float()
        targets = batch[:, 1:]
        total += float(F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="sum"))
        count += targets.numel()
    model.train(was_training)
    return total / count
