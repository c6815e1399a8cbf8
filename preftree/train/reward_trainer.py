"""Training the Eurus reward model (paper §3, Eq. 3, App. B) on chosen/rejected pairs with

    L = -log s(r_c - r_r)                      (L_BT, every row)
        - log s(r_c) - log s(-r_r)             (L_DR, UltraInteract rows only, loss "bt+dr")

trl's ``RewardTrainer`` on conversational pairs: prompt = the trajectory messages, chosen / rejected
= one assistant message each; trl renders prompt + completion with the chat template, drops pairs
where either side exceeds ``max_length`` tokens, and its collator right-pads chosen rows then
rejected rows into one batch. :class:`EurusRewardTrainer` only routes the ``ultrainteract`` column
through the collator (as ``direct``) and replaces the loss by :func:`eurus_rm_loss`. The model, its
data and its scores are :mod:`preftree.train.reward`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl
import torch
import torch.nn.functional as F
from trl import RewardConfig, RewardTrainer
from trl.trainer.reward_trainer import DataCollatorForPreference

from preftree.config.runtime import RuntimeParams
from preftree.config.train import RMParams
from preftree.train.common import LogCallback, deterministic_training, save_trained, trainer_kwargs
from preftree.train.mixture import mixture_identities
from preftree.train.resume import checkpointing, run_identity
from preftree.train.reward import heldout_scores, load_reward_model, pair_metrics, rm_training_dataset, score_pairs

LossKind = Literal["bt", "bt+dr"]


# --------------------------------------------------------------------------------------------
# loss


def eurus_rm_loss_terms(
    r_chosen: torch.Tensor, r_rejected: torch.Tensor, direct: torch.Tensor, kind: LossKind = "bt+dr"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pair: ``L_BT = -log s(r_c - r_r)`` and the L_DR term it receives, ``-log s(r_c) - log s(-r_r)``
    where ``direct`` (bool, one per pair: the UltraInteract rows) is set and ``kind`` is "bt+dr", else 0.

    L_DR pushes chosen rewards above 0 and rejected ones below 0 (paper §3, Eq. 3); UltraFeedback and
    UltraSafety rows get L_BT only."""
    if kind not in ("bt", "bt+dr"):
        raise ValueError(f"unknown reward loss {kind!r} (expected 'bt' or 'bt+dr')")
    r_chosen = r_chosen.reshape(-1).float()
    r_rejected = r_rejected.reshape(-1).float()
    if r_chosen.shape != r_rejected.shape:
        raise ValueError(
            f"chosen and rejected rewards differ in shape: {tuple(r_chosen.shape)} vs {tuple(r_rejected.shape)}"
        )
    l_bt = -F.logsigmoid(r_chosen - r_rejected)
    if kind == "bt":
        return l_bt, torch.zeros_like(l_bt)
    direct = direct.reshape(-1).to(device=r_chosen.device)
    if direct.shape != r_chosen.shape:
        raise ValueError(f"direct has shape {tuple(direct.shape)}, expected {tuple(r_chosen.shape)}")
    l_dr = -F.logsigmoid(r_chosen) - F.logsigmoid(-r_rejected)
    return l_bt, torch.where(direct.bool(), l_dr, torch.zeros_like(l_dr))


def eurus_rm_loss(
    r_chosen: torch.Tensor, r_rejected: torch.Tensor, direct: torch.Tensor, kind: LossKind = "bt+dr"
) -> torch.Tensor:
    """Mean over the batch of ``L_BT + direct * L_DR`` ("bt+dr") or of ``L_BT`` alone ("bt")
    (:func:`eurus_rm_loss_terms`)."""
    l_bt, l_dr = eurus_rm_loss_terms(r_chosen, r_rejected, direct, kind)
    return (l_bt + l_dr).mean()


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
    key: str = "rm",
) -> dict[str, Any]:
    """Train the reward model from ``model_dir`` on ``train`` (RM_SCHEMA), score ``heldout``, save to ``out_dir``.

    Returns held-out pairwise accuracy (overall, by task), margin and mean chosen/rejected rewards,
    the final and mean train loss, pair counts (trl drops pairs longer than ``optim.max_length``),
    timings, the weights digest, the log rows and ``heldout_scores`` (:func:`heldout_scores`: the
    reward of each held-out pair). ``score_init`` also scores ``heldout`` with the untrained model
    (backbone + fresh head): the baseline the trained accuracy should beat. ``params.mixture`` adds
    pairs (L_BT only) to the training set; held-out scoring stays on the tree's pairs. ``key`` names
    the params key (``rm.<key>``) in errors.
    """
    start = time.perf_counter()
    optim = params.optim
    if train.height == 0:
        raise ValueError("train_rm: no training pairs")
    dataset, rows_by_source = rm_training_dataset(train, params.mixture, seed, key=key)
    with deterministic_training():
        model, tokenizer = load_reward_model(model_dir, seed=seed)
        eval_batch = max(1, optim.batch_size) * 2
        init_scored = score_pairs(model, tokenizer, heldout, batch_size=eval_batch) if score_init else None
        init = pair_metrics(init_scored) if init_scored is not None else {}
    log = LogCallback()
    with checkpointing(
        Path(out_dir),
        checkpoint_steps=runtime.checkpoint_steps,
        logging_steps=optim.logging_steps,
        identity=lambda: run_identity(
            f"rm@{key}", card=card, params=params, seed=seed, dataset=dataset, bf16=runtime.bf16, code_module=__name__
        ),
        name=f"rm@{key}",
    ) as checkpoints:
        with deterministic_training():
            args = RewardConfig(
                **trainer_kwargs(
                    optim, out_dir=checkpoints.folder, seed=seed, runtime=runtime, save_steps=checkpoints.save_steps
                ),
                max_length=optim.max_length,
                disable_dropout=True,
                dataset_num_proc=None,
            )
            collator = EurusPreferenceCollator(pad_token_id=tokenizer.pad_token_id)
            trainer = EurusRewardTrainer(
                model=model,
                args=args,
                data_collator=collator,
                train_dataset=dataset,
                processing_class=tokenizer,
                callbacks=[log, checkpoints.callback()],
                loss_kind=params.loss,
            )
            kept = len(trainer.train_dataset)
            if kept == 0:
                raise ValueError(f"train_rm: every pair is longer than optim.max_length={optim.max_length} tokens")
            t0 = time.perf_counter()
            result = checkpoints.train(trainer)
            train_seconds = time.perf_counter() - t0
            model = trainer.accelerator.unwrap_model(trainer.model)
            model.eval()
            t1 = time.perf_counter()
            scored = score_pairs(model, tokenizer, heldout, batch_size=eval_batch)
            held = pair_metrics(scored)
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
        "train_pairs": len(dataset),
        "train_pairs_by_source": rows_by_source,
        "mixture_sources": mixture_identities(params.mixture),
        "train_pairs_used": kept,
        "train_pairs_dropped": len(dataset) - kept,
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
        "heldout_scores": heldout_scores(scored, init_scored),
    }


__all__ = ["EurusPreferenceCollator", "EurusRewardTrainer", "eurus_rm_loss", "eurus_rm_loss_terms", "train_rm"]
