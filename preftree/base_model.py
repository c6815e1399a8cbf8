"""The base policy: a tiny model trained from scratch (default), or a validated local checkpoint.

From scratch: draw problems from the synthetic *pretraining* pool (disjoint by construction from
the pool `select` samples), pair each with a correct or a subtly wrong UltraInteract-format
solution (mixed quality, like web text), train a byte-level BPE tokenizer on that corpus (or read a
released vocabulary: model=mistral_tiny), render each document with the chat template, and pretrain a
Llama- (or Mistral-) architecture model on it. The held-out
documents give the loss a later SFT stage must beat. Pretraining writes a checkpoint every
``checkpoint_steps`` steps and a rerun after a kill goes on from the newest one of the same run
(preftree.models.pretrain_resume), to the same weights and loss curve.
"""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from preftree.config.model import ModelParams

BASE_LOSS_COLUMNS = ("step", "loss", "lr", "tokens")


@dataclass(frozen=True)
class BaseResult:
    metrics: dict[str, Any]
    history: list[dict] = field(default_factory=list)  # one record per optimizer step (empty for a checkpoint)


def chat_document(tokenizer: Any, instruction: str, response: str) -> str:
    """One pretraining document in the chat format; pack_documents appends the closing eos."""
    messages = [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    return text.removesuffix("\n").removesuffix(tokenizer.eos_token)


def corpus_digest(texts: list[str]) -> str:
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def use_checkpoint(model: ModelParams, out_dir: Path) -> BaseResult:
    """Validate model.path (config + tokenizer load) and record its identity; weights are not copied."""
    from preftree.models.checkpoint import pointer_card, validate_checkpoint, write_pointer

    assert model.path is not None
    info = validate_checkpoint(model.path)
    # base_model: the Hugging Face model card field naming what this folder stands for
    card = {
        **pointer_card(info),
        "base_model": model.path,
        "params": {"model": {"name": model.name, "path": model.path}},
    }
    write_pointer(out_dir, info, card)
    metrics = {
        "source": "checkpoint",
        "num_parameters": info["num_parameters"],
        "vocab_size": info["vocab_size"],
        "identity_digest": info["identity"]["digest"],
    }
    return BaseResult(metrics=metrics)


@dataclass(frozen=True)
class Corpus:
    """What stage base pretrains on: documents, the tokenizer trained on them, texts and token blocks."""

    train_docs: list[dict[str, Any]]  # problems from pool "pretrain", copy drills interleaved
    held_docs: list[dict[str, Any]]  # problems only: the held-out loss and the copy probe read them
    tokenizer: Any
    train_text: list[str]
    held_text: list[str]
    train_blocks: torch.Tensor
    held_blocks: torch.Tensor


def pretraining_corpus(model: ModelParams, *, seed: int) -> Corpus:
    """The pretraining corpus of ``model`` (``model.pretrain``, ``model.tokenizer``) for ``seed``."""
    from preftree.config.model import VocabFileParams
    from preftree.models.tiny import pack_documents
    from preftree.models.tokenizer import train_tokenizer
    from preftree.models.vocab_file import load_vocab_tokenizer
    from preftree.sources.synthetic.drills import copy_drills, interleave
    from preftree.sources.synthetic.problems import pretraining_documents

    p = model.pretrain
    if p is None or model.tokenizer is None:
        raise ValueError(f"model={model.name}: a pretraining corpus needs model.tokenizer and model.pretrain")
    docs = pretraining_documents(
        p.documents + p.heldout_documents,
        seed=seed,
        min_steps=p.min_steps,
        max_steps=p.max_steps,
        correct_fraction=p.correct_fraction,
        tasks=p.tasks,
    )
    train_docs = interleave(docs[: p.documents], copy_drills(p.copy_drills, seed=seed), seed=seed)
    held_docs = docs[p.documents :]
    if isinstance(model.tokenizer, VocabFileParams):  # a released vocabulary (model=mistral_tiny)
        tokenizer = load_vocab_tokenizer(model.tokenizer.file)
    else:
        tokenizer = train_tokenizer((t for d in train_docs for t in (d["instruction"], d["response"])), model.tokenizer)
    train_text = [chat_document(tokenizer, d["instruction"], d["response"]) for d in train_docs]
    held_text = [chat_document(tokenizer, d["instruction"], d["response"]) for d in held_docs]
    return Corpus(
        train_docs, held_docs, tokenizer, train_text, held_text,
        pack_documents(tokenizer, train_text, p.seq_len), pack_documents(tokenizer, held_text, p.seq_len),
    )  # fmt: skip


def train_from_scratch(
    model: ModelParams, *, seed: int, out_dir: Path, device: torch.device, progress: bool, checkpoint_steps: int = 0
) -> BaseResult:
    """Tokenizer + tiny Llama pretrained on mixed-quality synthetic solutions, saved as an HF folder;
    resumable checkpoints every ``checkpoint_steps`` pretraining steps (0: none)."""
    from preftree.models.checkpoint import save_model_folder
    from preftree.models.pretrain_resume import pretrain_checkpoints, pretrain_identity
    from preftree.models.tiny import build_model, count_parameters, evaluate_loss, pretrain

    if model.pretrain is None or model.tokenizer is None or model.arch is None:
        raise ValueError(
            f"model={model.name}: training from scratch needs model.tokenizer, model.arch and model.pretrain"
        )
    p = model.pretrain
    corpus = pretraining_corpus(model, seed=seed)
    tokenizer, train_docs, train_blocks, held_blocks = (
        corpus.tokenizer, corpus.train_docs, corpus.train_blocks, corpus.held_blocks
    )  # fmt: skip

    torch.manual_seed(seed)
    net = build_model(model.arch, tokenizer, seed=seed)
    initial = evaluate_loss(net, held_blocks, batch_size=p.batch_size, device=device)
    checkpoints = pretrain_checkpoints(
        out_dir,
        checkpoint_steps=checkpoint_steps,
        identity=lambda: pretrain_identity(
            {"seed": seed, "model": model}, blocks=train_blocks, device=device, code_module=__name__
        ),
    )
    with checkpoints as ckpt:  # around the save of out_dir too: the checkpoints go once it is written
        history = pretrain(
            net, train_blocks, p, seed=seed, progress=progress, device=device,
            resume=ckpt.latest(), save=ckpt.save, save_every=ckpt.every,
        )  # fmt: skip
        heldout = evaluate_loss(net, held_blocks, batch_size=p.batch_size, device=device)
        net.to("cpu")

        seconds = history[-1]["seconds"] if history else 0.0
        tokens = history[-1]["tokens"] if history else 0
        metrics = {
            "source": "scratch",
            "num_parameters": count_parameters(net),
            "vocab_size": len(tokenizer),
            "train_documents": len(train_docs),
            "train_blocks": int(train_blocks.size(0)),
            "correct_share": sum(d["correct"] for d in train_docs) / max(len(train_docs), 1),
            "loss_initial_heldout": initial,
            "loss_final_train": history[-1]["loss"] if history else None,
            "loss_heldout": heldout,
            "tokens_seen": tokens,
            "tokens_per_second": tokens / seconds if seconds else None,
        }
        card = {
            "source": "scratch",
            "architecture": type(net).__name__,
            "params": {"seed": seed, "model": _as_dict(model)},
            "data": {
                "pool": "pretrain",
                "documents": len(train_docs),
                "sha256": corpus_digest(corpus.train_text),
                "heldout_sha256": corpus_digest(corpus.held_text),
            },
            # no wall-clock figures in the card: the same inputs write a byte-identical folder (same DVC md5)
            "metrics": {k: v for k, v in metrics.items() if k not in ("source", "tokens_per_second")},
            "trained_on": {"device": str(device), "torch": torch.__version__, "python": platform.python_version()},
        }
        save_model_folder(net, tokenizer, out_dir, card)
    return BaseResult(metrics=metrics, history=history)


def _as_dict(obj: Any) -> Any:
    import dataclasses

    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


def write_loss_csv(history: list[dict], path: Path) -> None:
    """metrics/base_loss.csv for `dvc plots show` (x=step, y=loss)."""
    from preftree.io import write_csv

    write_csv([{k: r[k] for k in BASE_LOSS_COLUMNS} for r in history], path, columns=list(BASE_LOSS_COLUMNS))
