"""The Eurus reward model (paper §3, Eq. 3, App. B): the model, its data and its scores. Training
(the loss and trl's trainer) is :mod:`preftree.train.reward_trainer`.

Model. ``AutoModelForSequenceClassification`` with ``num_labels=1``: for a Llama checkpoint this is
``LlamaForSequenceClassification`` (transformers ``GenericForSequenceClassification``): the backbone
is loaded from the causal-LM folder (its ``lm_head`` is dropped), the head ``score`` is
``nn.Linear(hidden, 1, bias=False)``, newly initialised from ``seed`` when the folder holds a causal
LM and loaded when it holds a saved reward model. The forward pass scores every position and keeps,
per row, the score at the rightmost position whose id is not ``config.pad_token_id``. With right
padding and a pad token distinct from eos (checked here) that is the last real token of the sequence,
so padding never changes a reward (trl issue #937: pad == eos made the model read a pad position and
every pair score alike, loss stuck at log 2).

Scores. :func:`reward_scores` (conversations or token rows, batched by length), :func:`score_pairs`
and :func:`pair_metrics` (held-out pairwise accuracy by task), :func:`heldout_scores` (one row per
held-out pair, the unit a bootstrap over pairs resamples).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import polars as pl
import torch
from datasets import Dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from trl.trainer.reward_trainer import suppress_seqcls_warning

from preftree.config.train import MixtureSourceParams
from preftree.models.checkpoint import resolve_model_dir
from preftree.models.vocab_file import prepare_chat_tokenizer, report
from preftree.train.mixture import mixture_pairs
from preftree.train.mixture_layouts import pair_messages

Messages = list[dict[str, str]]


# --------------------------------------------------------------------------------------------
# model


def load_tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    """The folder's tokenizer, right-padding, with a pad token that exists and differs from eos."""
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_dir(Path(folder)), local_files_only=True)
    report(prepare_chat_tokenizer(tokenizer, source=str(folder), require_pad=False))
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


def rm_training_dataset(
    frame: pl.DataFrame, mixture: Mapping[str, MixtureSourceParams], seed: int, *, key: str = "rm"
) -> tuple[Dataset, dict[str, int]]:
    """:func:`rm_dataset` of the tree's rm view plus the pairs drawn from ``mixture`` (``weight`` x the
    number of tree pairs), with their row count by source. Mixture rows (UltraFeedback, UltraSafety)
    have ``ultrainteract`` False: the Eurus loss gives them L_BT only (paper §3, Eq. 3)."""
    base = rm_dataset(frame)
    drawn = mixture_pairs(f"rm.{key}.mixture", mixture, len(base), seed)
    counts = {"tree": len(base)}
    if not drawn:
        return base, counts
    prompts, chosen, rejected = pair_messages([pair for _, pair in drawn])
    for name, _ in drawn:
        counts[name] = counts.get(name, 0) + 1
    extra = {"prompt": prompts, "chosen": chosen, "rejected": rejected, "ultrainteract": [False] * len(drawn)}
    columns = {name: list(base[name]) + extra[name] for name in base.column_names}
    return Dataset.from_dict(columns), counts


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


HELDOUT_SCORES: Final = pl.Schema(
    {"pair_id": pl.String, "parent_id": pl.String, "task": pl.String, "augmented": pl.Boolean,
     "ultrainteract": pl.Boolean, "chosen_reward": pl.Float64, "rejected_reward": pl.Float64,
     "chosen_reward_init": pl.Float64, "rejected_reward_init": pl.Float64}
)  # fmt: skip


def heldout_scores(scored: pl.DataFrame, init: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per held-out pair (:data:`HELDOUT_SCORES`): ``pair_id`` (the RM row's id), its
    instruction (``parent_id``), task and flags, the trained model's rewards and the untrained head's
    (``*_init``, null without that baseline): the units a paired bootstrap over pairs resamples."""
    n = scored.height
    flags = {c: scored[c] if c in scored.columns else pl.Series(c, [False] * n) for c in ("augmented", "ultrainteract")}
    frame = pl.DataFrame(
        {
            "pair_id": scored["id"],
            "parent_id": scored["parent_id"],
            "task": scored["task"],
            **flags,
            "chosen_reward": scored["r_chosen"],
            "rejected_reward": scored["r_rejected"],
            "chosen_reward_init": init["r_chosen"] if init is not None else [None] * n,
            "rejected_reward_init": init["r_rejected"] if init is not None else [None] * n,
        }
    )
    return frame.cast(dict(HELDOUT_SCORES))


__all__ = [
    "HELDOUT_SCORES",
    "conversations",
    "heldout_scores",
    "load_reward_model",
    "load_tokenizer",
    "pad_right",
    "pair_metrics",
    "reward_scores",
    "rm_dataset",
    "rm_training_dataset",
    "score_pairs",
    "to_messages",
]
