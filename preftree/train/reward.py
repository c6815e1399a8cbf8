"""The Eurus reward model (paper §3, Eq. 3, App. B): the policy's backbone plus a bias-free linear
head, trained on chosen/rejected pairs with

    L = -log s(r_c - r_r)                      (L_BT, every row)
        - log s(r_c) - log s(-r_r)             (L_DR, UltraInteract rows only, loss "bt+dr")

Model. ``AutoModelForSequenceClassification`` with ``num_labels=1``: for a Llama checkpoint this is
``LlamaForSequenceClassification`` (transformers ``GenericForSequenceClassification``): the backbone
is loaded from the causal-LM folder (its ``lm_head`` is dropped), the head ``score`` is
``nn.Linear(hidden, 1, bias=False)``, newly initialised from ``seed`` when the folder holds a causal
LM and loaded when it holds a saved reward model. The forward pass scores every position and keeps,
per row, the score at the rightmost position whose id is not ``config.pad_token_id``. With right
padding and a pad token distinct from eos (checked here) that is the last real token of the sequence,
so padding never changes a reward (trl issue #937: pad == eos made the model read a pad position and
every pair score alike, loss stuck at log 2).

Training. trl's ``RewardTrainer`` on conversational pairs: prompt = the trajectory messages, chosen
/ rejected = one assistant message each; trl renders prompt + completion with the chat template,
drops pairs where either side exceeds ``max_length`` tokens, and its collator right-pads chosen rows
then rejected rows into one batch. :class:`EurusRewardTrainer` only routes the ``ultrainteract``
column through the collator (as ``direct``) and replaces the loss by :func:`eurus_rm_loss`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl
import torch
import torch.nn.functional as F
from datasets import Dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from trl import RewardConfig, RewardTrainer
from trl.trainer.reward_trainer import DataCollatorForPreference, suppress_seqcls_warning

from preftree.config.runtime import RuntimeParams
from preftree.config.train import RMParams
from preftree.models.checkpoint import resolve_model_dir
from preftree.train.common import LogCallback, deterministic_training, save_trained, trainer_kwargs

LossKind = Literal["bt", "bt+dr"]
Messages = list[dict[str, str]]


# --------------------------------------------------------------------------------------------
# loss


def eurus_rm_loss(
    r_chosen: torch.Tensor, r_rejected: torch.Tensor, direct: torch.Tensor, kind: LossKind = "bt+dr"
) -> torch.Tensor:
    """Mean over the batch of ``L_BT + direct * L_DR`` ("bt+dr") or of ``L_BT`` alone ("bt").

    ``L_BT = -log s(r_c - r_r)``; ``L_DR = -log s(r_c) - log s(-r_r)`` (pushes chosen rewards above 0
    and rejected ones below 0). ``direct`` (bool, one per pair) marks the UltraInteract rows.
    """
    if kind not in ("bt", "bt+dr"):
        raise ValueError(f"unknown reward loss {kind!r} (expected 'bt' or 'bt+dr')")
    r_chosen = r_chosen.reshape(-1).float()
    r_rejected = r_rejected.reshape(-1).float()
    if r_chosen.shape != r_rejected.shape:
        raise ValueError(
            f"chosen and rejected rewards differ in shape: {tuple(r_chosen.shape)} vs {tuple(r_rejected.shape)}"
        )
    loss = -F.logsigmoid(r_chosen - r_rejected)
    if kind == "bt+dr":
        direct = direct.reshape(-1).to(device=r_chosen.device)
        if direct.shape != r_chosen.shape:
            raise ValueError(f"direct has shape {tuple(direct.shape)}, expected {tuple(r_chosen.shape)}")
        l_dr = -F.logsigmoid(r_chosen) - F.logsigmoid(-r_rejected)
        loss = loss + direct.to(l_dr.dtype) * l_dr
    return loss.mean()


# --------------------------------------------------------------------------------------------
# model


def load_tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    """The folder's tokenizer, right-padding, with a pad token that exists and differs from eos."""
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_dir(Path(folder)), local_files_only=True)
    if tokenizer.pad_token_id is None:
        raise ValueError(f"{folder}: the tokenizer has no pad token; set one explicitly (it must differ from eos)")
    if tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise ValueError(
            f"{folder}: pad token {tokenizer.pad_token!r} equals eos; the reward would be read at a pad position"
        )
    tokenizer.padding_side = "right"
    return tokenizer


def load_reward_model(
    folder: Path, *, seed: int = 0, dtype: torch.dtype = torch.float32
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A reward model and its tokenizer from a causal-LM folder (new head, seeded) or a saved RM folder.

    The head init is drawn from ``seed`` inside a forked RNG, so the global RNG is untouched.
    """
    path = resolve_model_dir(Path(folder))
    tokenizer = load_tokenizer(path)
    with torch.random.fork_rng(devices=[]), suppress_seqcls_warning():
        torch.manual_seed(seed)
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=1, local_files_only=True, dtype=dtype
        )
    text_config = model.config.get_text_config()
    text_config.pad_token_id = tokenizer.pad_token_id
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.eos_token_id = tokenizer.eos_token_id
    return model, tokenizer


# --------------------------------------------------------------------------------------------
# data


def to_messages(trajectory: Sequence[dict[str, str]]) -> Messages:
    """UltraInteract ``{from, value}`` messages as chat ``{role, content}`` messages."""
    return [{"role": m["from"], "content": m["value"]} for m in trajectory]


def conversations(frame: pl.DataFrame, side: str) -> list[Messages]:
    """Per row: the trajectory messages followed by the ``side`` ("chosen"/"rejected") assistant turn."""
    return [
        to_messages(traj) + [{"role": "assistant", "content": text}]
        for traj, text in zip(frame["trajectory"].to_list(), frame[side].to_list(), strict=True)
    ]


def rm_dataset(frame: pl.DataFrame) -> Dataset:
    """RM_SCHEMA rows as a trl conversational preference dataset with an explicit prompt."""
    direct = frame["ultrainteract"].to_list() if "ultrainteract" in frame.columns else [False] * frame.height
    return Dataset.from_dict(
        {
            "prompt": [to_messages(t) for t in frame["trajectory"].to_list()],
            "chosen": [[{"role": "assistant", "content": c}] for c in frame["chosen"].to_list()],
            "rejected": [[{"role": "assistant", "content": r}] for r in frame["rejected"].to_list()],
            "ultrainteract": [bool(d) for d in direct],
        }
    )


def tokenize_conversation(tokenizer: PreTrainedTokenizerBase, messages: Messages) -> list[int]:
    """Token ids exactly as trl's RewardTrainer renders a conversational example."""
    return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])


def pad_right(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` of ``rows`` right-padded with ``pad_id``."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(list(row), dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


@torch.no_grad()
def reward_scores(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    batch: Sequence[Messages] | Sequence[Sequence[int]],
    *,
    batch_size: int = 8,
    max_length: int | None = None,
) -> torch.Tensor:
    """Rewards (float32, one per conversation or token-id row), computed in right-padded batches.

    Rows are batched by length (padding never changes a reward). A row longer than ``max_length``
    (default: the model's ``max_position_embeddings``) keeps its last ``max_length`` tokens, where
    the response and the read-out token are.
    """
    if not batch:
        return torch.empty(0)
    limit = max_length or getattr(model.config.get_text_config(), "max_position_embeddings", None)
    rows = [list(x) if x and isinstance(x[0], int) else tokenize_conversation(tokenizer, x) for x in batch]
    if limit:
        rows = [r[-limit:] for r in rows]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out = torch.empty(len(rows), dtype=torch.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        ids, mask = pad_right([rows[i] for i in idx], tokenizer.pad_token_id)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False).logits
        out[torch.tensor(idx)] = logits.reshape(-1).float().cpu()
    model.train(was_training)
    return out


def score_pairs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    frame: pl.DataFrame,
    *,
    batch_size: int = 8,
    max_length: int | None = None,
) -> pl.DataFrame:
    """``frame`` (RM_SCHEMA) with ``r_chosen`` and ``r_rejected`` added."""
    convs = conversations(frame, "chosen") + conversations(frame, "rejected")
    scores = reward_scores(model, tokenizer, convs, batch_size=batch_size, max_length=max_length).tolist()
    n = frame.height
    return frame.with_columns(
        pl.Series("r_chosen", scores[:n], dtype=pl.Float64), pl.Series("r_rejected", scores[n:], dtype=pl.Float64)
    )


def pair_metrics(scored: pl.DataFrame) -> dict[str, Any]:
    """Pairwise accuracy (r_chosen > r_rejected; ties count as wrong), overall and by task, and mean rewards."""
    if scored.height == 0:
        return {"pairs": 0, "accuracy": None, "accuracy_by_task": {}, "pairs_by_task": {}}
    frame = scored.with_columns(
        (pl.col("r_chosen") > pl.col("r_rejected")).cast(pl.Float64).alias("_correct"),
        (pl.col("r_chosen") - pl.col("r_rejected")).alias("_margin"),
    )
    by_task = frame.group_by("task").agg(pl.col("_correct").mean().alias("acc"), pl.len().alias("n")).sort("task")
    return {
        "pairs": frame.height,
        "accuracy": float(frame["_correct"].mean()),
        "accuracy_by_task": dict(zip(by_task["task"].to_list(), by_task["acc"].to_list(), strict=True)),
        "pairs_by_task": dict(zip(by_task["task"].to_list(), by_task["n"].to_list(), strict=True)),
        "margin": float(frame["_margin"].mean()),
        "reward_chosen": float(frame["r_chosen"].mean()),
        "reward_rejected": float(frame["r_rejected"].mean()),
        "chosen_positive": float((frame["r_chosen"] > 0).mean()),
        "rejected_negative": float((frame["r_rejected"] < 0).mean()),
    }


# --------------------------------------------------------------------------------------------
# trainer


@dataclass
class EurusPreferenceCollator(DataCollatorForPreference):
    """trl's preference collator (chosen rows, then rejected rows, right-padded) plus ``direct``:
    the ``ultrainteract`` flag of each pair (False when the column is absent)."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        output = super().torch_call(examples)
        output["direct"] = torch.tensor([bool(e.get("ultrainteract", False)) for e in examples], dtype=torch.bool)
        return output


class EurusRewardTrainer(RewardTrainer):
    """RewardTrainer with the Eurus loss; everything else (tokenization, filtering, padding) is trl's."""

    def __init__(self, *args: Any, loss_kind: LossKind = "bt+dr", **kwargs: Any) -> None:
        if loss_kind not in ("bt", "bt+dr"):
            raise ValueError(f"unknown reward loss {loss_kind!r} (expected 'bt' or 'bt+dr')")
        self.loss_kind = loss_kind
        super().__init__(*args, **kwargs)

    def _set_signature_columns_if_needed(self) -> None:
        if self._signature_columns is None:
            self._signature_columns = ["chosen_ids", "rejected_ids", "margin", "ultrainteract"]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001, ANN201
        mode = "train" if self.model.training else "eval"
        direct = inputs.pop("direct", None)
        inputs.pop("margin", None)  # the Eurus loss has no margin term
        inputs["use_cache"] = False
        outputs = model(**inputs)
        rewards_chosen, rewards_rejected = torch.chunk(outputs.logits.squeeze(-1), chunks=2)
        if direct is None:
            direct = torch.zeros_like(rewards_chosen, dtype=torch.bool)
        loss = eurus_rm_loss(rewards_chosen, rewards_rejected, direct, kind=self.loss_kind)
        if self.args.center_rewards_coefficient is not None:
            loss = loss + self.args.center_rewards_coefficient * torch.mean((rewards_chosen + rewards_rejected) ** 2)
        if mode == "train":
            tokens = self.accelerator.gather_for_metrics(inputs["attention_mask"].sum()).sum().item()
            self._total_train_tokens += tokens // self._tp_size
        metrics = self._metrics[mode]
        metrics["num_tokens"] = [self._total_train_tokens]
        with torch.no_grad():
            gather = self.accelerator.gather_for_metrics
            metrics["accuracy"].append(gather((rewards_chosen > rewards_rejected).float().mean()).mean().item())
            metrics["margin"].append(gather((rewards_chosen - rewards_rejected).mean()).mean().item())
            metrics["reward_chosen"].append(gather(rewards_chosen.mean()).mean().item())
            metrics["reward_rejected"].append(gather(rewards_rejected.mean()).mean().item())
            metrics["direct_share"].append(gather(direct.float().mean()).mean().item())
        return (loss, outputs) if return_outputs else loss


def train_rm(
    model_dir: Path,
    train: pl.DataFrame,
    heldout: pl.DataFrame,
    params: RMParams,
    *,
    seed: int,
    runtime: RuntimeParams,
    out_dir: Path,
    card: dict,
    score_init: bool = False,
) -> dict[str, Any]:
    """Train the reward model from ``model_dir`` on ``train`` (RM_SCHEMA), score ``heldout``, save to ``out_dir``.

    Returns held-out pairwise accuracy (overall, by task), margin and mean chosen/rejected rewards,
    the final and mean train loss, pair counts (trl drops pairs longer than ``optim.max_length``),
    timings, the weights digest and the log rows. ``score_init`` also scores ``heldout`` with the
    untrained model (backbone + fresh head): the baseline the trained accuracy should beat.
    """
    start = time.perf_counter()
    optim = params.optim
    if train.height == 0:
        raise ValueError("train_rm: no training pairs")
    with deterministic_training():
        model, tokenizer = load_reward_model(model_dir, seed=seed)
        eval_batch = max(1, optim.batch_size) * 2
        init = pair_metrics(score_pairs(model, tokenizer, heldout, batch_size=eval_batch)) if score_init else {}
        log = LogCallback()
        with tempfile.TemporaryDirectory(prefix="rm-trainer-") as scratch:
            args = RewardConfig(
                **trainer_kwargs(optim, out_dir=Path(scratch), seed=seed, runtime=runtime),
                max_length=optim.max_length,
                disable_dropout=True,
                dataset_num_proc=None,
            )
            collator = EurusPreferenceCollator(pad_token_id=tokenizer.pad_token_id)
            trainer = EurusRewardTrainer(
                model=model,
                args=args,
                data_collator=collator,
                train_dataset=rm_dataset(train),
                processing_class=tokenizer,
                callbacks=[log],
                loss_kind=params.loss,
            )
            kept = len(trainer.train_dataset)
            if kept == 0:
                raise ValueError(f"train_rm: every pair is longer than optim.max_length={optim.max_length} tokens")
            t0 = time.perf_counter()
            result = trainer.train()
            train_seconds = time.perf_counter() - t0
        model = trainer.accelerator.unwrap_model(trainer.model)
        model.eval()
        t1 = time.perf_counter()
        held = pair_metrics(score_pairs(model, tokenizer, heldout, batch_size=eval_batch))
        eval_seconds = time.perf_counter() - t1
    losses = [row["loss"] for row in log.rows if "loss" in row]
    model_card = {
        **card,
        "reward_model": {
            "architecture": type(model).__name__,
            "head": "Linear(hidden, 1, bias=False) read at the last non-pad token (right padding)",
            "loss": params.loss,
            "pad_token": tokenizer.pad_token,
        },
    }
    digest = save_trained(trainer, tokenizer, Path(out_dir), model_card)
    return {
        "loss_kind": params.loss,
        "train_pairs": train.height,
        "train_pairs_used": kept,
        "train_pairs_dropped": train.height - kept,
        "steps": int(result.global_step),
        "train_loss_final": losses[-1] if losses else float(result.training_loss),
        "train_loss_mean": float(result.training_loss),
        "heldout_pairs": held["pairs"],
        "heldout_accuracy": held["accuracy"],
        "heldout_accuracy_by_task": held["accuracy_by_task"],
        "heldout_pairs_by_task": held["pairs_by_task"],
        "heldout_margin": held.get("margin"),
        "heldout_reward_chosen": held.get("reward_chosen"),
        "heldout_reward_rejected": held.get("reward_rejected"),
        "heldout_chosen_positive": held.get("chosen_positive"),
        "heldout_rejected_negative": held.get("rejected_negative"),
        "heldout_accuracy_init": init.get("accuracy"),
        "heldout_accuracy_by_task_init": init.get("accuracy_by_task"),
        "heldout_margin_init": init.get("margin"),
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "seconds": time.perf_counter() - start,
        "threads": torch.get_num_threads(),
        "weights_sha256": digest,
        "log": log.rows,
    }


__all__ = [
    "EurusPreferenceCollator",
    "EurusRewardTrainer",
    "conversations",
    "eurus_rm_loss",
    "load_reward_model",
    "load_tokenizer",
    "pad_right",
    "pair_metrics",
    "reward_scores",
    "rm_dataset",
    "score_pairs",
    "to_messages",
    "train_rm",
]
