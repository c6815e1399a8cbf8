"""Supervised fine-tuning on the SFT view (paper §3, App. B), with trl's ``SFTTrainer``.

The paper trains on every correct leaf of the trees *without* the interaction history (one
instruction -> response pair per row, the ``sft`` view of ``preftree.tree``), optionally mixed with
general chat data (UltraChat, ShareGPT, OpenOrca). Here:

* :func:`sft_dataset` turns the SFT view into a conversational dataset (``messages`` =
  ``[user: instruction, assistant: response]``, plus ``source``);
* :func:`mixture_dataset` adds extra SFT sources (``sft.mixture``), each contributing
  ``round(weight x len(sft view))`` rows, drawn deterministically from ``seed`` and the source name;
* :func:`train_sft` trains with ``assistant_only_loss=True``: the loss covers the assistant content
  and its closing ``<|end|>`` only (the chat template's ``{% generation %}`` span), never the user
  turn or the role tags;
* :func:`assistant_loss` is the one held-out metric: the mean cross-entropy per assistant token,
  with exactly the masking and truncation the trainer uses (see :func:`encode_chat`).

Determinism: the trainer is seeded (``seed`` / ``data_seed``) and runs under
``torch.use_deterministic_algorithms``; on CPU two runs with one seed give bit-identical weights
(same torch version and thread count), checked by ``weights_sha256``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets
import polars as pl
import torch
import torch.nn.functional as F

from preftree.config.runtime import RuntimeParams
from preftree.config.train import MixtureSourceParams, SFTParams
from preftree.generation.device import resolve_device
from preftree.train.common import (
    LogCallback,
    deterministic_training,
    load_policy,
    save_trained,
    stable_metrics,
    trainer_kwargs,
    use_cpu,
)
from preftree.train.mixture import mixture_conversations, mixture_identities
from preftree.train.mixture_layouts import chat
from preftree.train.resume import checkpointing, run_identity

BASE_SOURCE = "sft"  # the `source` value of rows from the SFT view
MESSAGE = datasets.Features({"role": datasets.Value("string"), "content": datasets.Value("string")})
FEATURES = datasets.Features({"messages": datasets.List(MESSAGE), "source": datasets.Value("string")})


# --------------------------------------------------------------------------------------------
# datasets


def _dataset(messages: list[list[dict[str, str]]], sources: list[str]) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"messages": messages, "source": sources}, features=FEATURES)


def sft_dataset(frame: pl.DataFrame) -> datasets.Dataset:
    """The SFT view (``preftree.schema.SFT_SCHEMA``) as a conversational dataset: ``messages``, ``source``."""
    missing = [c for c in ("instruction", "response") if c not in frame.columns]
    if missing:
        raise ValueError(f"sft view: missing column(s) {missing}; expected preftree.schema.SFT_SCHEMA")
    bad = frame.filter(pl.col("instruction").is_null() | pl.col("response").is_null() | (pl.col("response") == ""))
    if bad.height:
        ident = bad["id"][0] if "id" in bad.columns else "?"
        raise ValueError(f"sft view: {bad.height} row(s) with a null instruction or empty response, e.g. id {ident}")
    messages = [chat(i, r) for i, r in zip(frame["instruction"].to_list(), frame["response"].to_list(), strict=True)]
    return _dataset(messages, [BASE_SOURCE] * len(messages))


def mixture_dataset(base: datasets.Dataset, mixture: Mapping[str, MixtureSourceParams], seed: int) -> datasets.Dataset:
    """The SFT dataset plus the conversations drawn from every ``sft.mixture`` source
    (:func:`preftree.train.mixture.mixture_conversations`: ``rows``, or ``weight x len(base)``);
    ``source`` names each row's origin."""
    messages = list(base["messages"])
    sources = list(base["source"]) if "source" in base.column_names else [BASE_SOURCE] * len(base)
    for name, conversation in mixture_conversations("sft.mixture", mixture, len(base), seed):
        messages.append(conversation)
        sources.append(name)
    return _dataset(messages, sources)


# --------------------------------------------------------------------------------------------
# the assistant-only loss


def encode_chat(tokenizer: Any, messages: Sequence[Mapping[str, str]], max_length: int | None) -> tuple[list, list]:
    """``(input_ids, labels)`` as ``SFTTrainer(assistant_only_loss=True)`` builds them: labels are the
    ids inside the template's ``{% generation %}`` spans (assistant content + its end token) and -100
    elsewhere, truncated to the first ``max_length`` tokens."""
    out = tokenizer.apply_chat_template(
        list(messages), tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids = list(out["input_ids"])
    labels = [t if m else -100 for t, m in zip(ids, out["assistant_masks"], strict=True)]
    if max_length is not None:
        ids, labels = ids[:max_length], labels[:max_length]
    return ids, labels


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def assistant_loss(model: Any, tokenizer: Any, frame: pl.DataFrame, max_length: int, batch_size: int) -> float:
    """Mean next-token cross-entropy (nats) over the assistant tokens of an SFT view.

    Token-weighted (sum over every assistant token / their count), the same reduction as the
    trainer's loss; rows whose assistant tokens are all truncated away are skipped, as in training.
    """
    rows = sft_dataset(frame)["messages"]
    encoded = [encode_chat(tokenizer, m, max_length) for m in rows]
    encoded = [e for e in encoded if any(label != -100 for label in e[1][1:])]
    if not encoded:
        raise ValueError("assistant_loss: no row has an assistant token within max_length")
    encoded.sort(key=lambda e: len(e[0]))  # similar lengths per batch: less padding
    device = _model_device(model)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for start in range(0, len(encoded), batch_size):
            chunk = encoded[start : start + batch_size]
            width = max(len(ids) for ids, _ in chunk)
            ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
            labels = torch.full((len(chunk), width), -100, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, (i, lab) in enumerate(chunk):
                ids[row, : len(i)] = torch.tensor(i)
                labels[row, : len(lab)] = torch.tensor(lab)
                mask[row, : len(i)] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False).logits
            targets = labels[:, 1:].to(device)
            nll = F.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="sum"
            )
            total += float(nll)
            count += int((targets != -100).sum())
    finally:
        model.train(was_training)
    return total / count


# --------------------------------------------------------------------------------------------
# training


@contextlib.contextmanager
def dataset_progress(enabled: bool) -> Iterator[None]:
    """Show the trainer's dataset preparation bars only when ``runtime.progress`` asks for them."""
    before = not datasets.are_progress_bars_disabled()
    if enabled:
        datasets.enable_progress_bars()
    else:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        (datasets.enable_progress_bars if before else datasets.disable_progress_bars)()


@contextlib.contextmanager
def no_hub_telemetry() -> Iterator[None]:
    """trl trainers ping the Hub on construction unless telemetry is off; keep the run offline."""
    import huggingface_hub.constants as hub_constants

    saved = hub_constants.HF_HUB_DISABLE_TELEMETRY
    hub_constants.HF_HUB_DISABLE_TELEMETRY = True
    try:
        yield
    finally:
        hub_constants.HF_HUB_DISABLE_TELEMETRY = saved


def sft_config(params: SFTParams, *, out_dir: Path, seed: int, runtime: RuntimeParams, save_steps: int = 0) -> Any:
    """The SFTConfig of the stage: shared trainer args + assistant-only loss, packing, max_length;
    a checkpoint in ``out_dir`` every ``save_steps`` steps (0: none)."""
    from trl import SFTConfig

    return SFTConfig(
        **trainer_kwargs(params.optim, out_dir=out_dir, seed=seed, runtime=runtime, save_steps=save_steps),
        assistant_only_loss=True,
        packing=params.packing,
        max_length=params.optim.max_length,
        include_num_input_tokens_seen="non_padding",
    )


def _as_dict(obj: Any) -> Any:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


def train_sft(
    model_dir: Path,
    train: pl.DataFrame,
    heldout: pl.DataFrame,
    params: SFTParams,
    *,
    seed: int,
    runtime: RuntimeParams,
    out_dir: Path,
    card: dict,
) -> dict:
    """Fine-tune the policy in ``model_dir`` on the SFT view (+ mixture); save an HF folder to ``out_dir``.

    Returns the metrics (``heldout_loss_base`` / ``heldout_loss_sft``: :func:`assistant_loss` of the
    model before / after training; ``train_loss_final``: the last logged training loss;
    ``train_seconds``, ``train_tokens`` (non-pad tokens) and ``train_tokens_per_second``;
    ``weights_sha256``; row counts) and, under ``log``, the trainer's log rows.
    """
    from trl import SFTTrainer

    if train.height == 0:
        raise ValueError("sft: the training view is empty")
    model, tokenizer = load_policy(Path(model_dir))
    optim = params.optim
    dataset = sft_dataset(train)
    if params.mixture:
        dataset = mixture_dataset(dataset, params.mixture, seed)
    rows = {}
    for source in dataset["source"]:
        rows[source] = rows.get(source, 0) + 1

    model.to(torch.device("cpu") if use_cpu(runtime) else resolve_device(runtime.device))  # where the trainer runs
    loss_base = (
        assistant_loss(model, tokenizer, heldout, optim.max_length, optim.batch_size) if heldout.height else None
    )

    log = LogCallback()
    with checkpointing(
        Path(out_dir),
        checkpoint_steps=runtime.checkpoint_steps,
        logging_steps=optim.logging_steps,
        identity=lambda: run_identity(
            "sft", card=card, params=params, seed=seed, dataset=dataset, bf16=runtime.bf16, code_module=__name__
        ),
        name="sft",
    ) as checkpoints:
        with no_hub_telemetry(), dataset_progress(runtime.progress), deterministic_training():
            config = sft_config(
                params, out_dir=checkpoints.folder, seed=seed, runtime=runtime, save_steps=checkpoints.save_steps
            )
            trainer = SFTTrainer(
                model=model,
                args=config,
                train_dataset=dataset,
                processing_class=tokenizer,
                callbacks=[log, checkpoints.callback()],
            )
            start = time.perf_counter()
            output = checkpoints.train(trainer)
            seconds = time.perf_counter() - start
            tokens = int(trainer.state.num_input_tokens_seen)
            steps = int(trainer.state.global_step)
        model = trainer.accelerator.unwrap_model(trainer.model)
        loss_sft = (
            assistant_loss(model, tokenizer, heldout, optim.max_length, optim.batch_size) if heldout.height else None
        )
        losses = [r["loss"] for r in log.rows if "loss" in r]
        metrics: dict[str, Any] = {
            "heldout_loss_base": loss_base,
            "heldout_loss_sft": loss_sft,
            "train_loss_final": losses[-1] if losses else float(output.training_loss),
            "train_loss_mean": float(output.training_loss),
            "train_steps": steps,
            "train_rows": len(dataset),
            "train_rows_by_source": rows,
            "mixture_sources": mixture_identities(params.mixture),
            "heldout_rows": heldout.height,
            "train_seconds": seconds,
            "train_tokens": tokens,
            "train_tokens_per_second": tokens / seconds if seconds > 0 else None,
        }
        full_card = {
            **card,
            "stage": card.get("stage", "sft"),
            "params": {**card.get("params", {}), "seed": seed, "sft": _as_dict(params)},
            "metrics": {**card.get("metrics", {}), **stable_metrics(metrics)},
        }
        metrics["weights_sha256"] = save_trained(trainer, tokenizer, Path(out_dir), full_card)
    model.to("cpu")
    return {**metrics, "log": log.rows}
