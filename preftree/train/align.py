"""Preference learning from the SFT model (Eurus §2.2): DPO, KTO and NCA on trl.

* ``loss: sigmoid``  -> DPO through ``trl.DPOTrainer`` (``loss_type=["sigmoid"]``),
* ``loss: nca_pair`` -> NCA through ``trl.DPOTrainer`` (``loss_type=["nca_pair"]``),
* ``loss: kto``      -> KTO through ``trl.KTOTrainer`` (``loss_type="kto"``, ``desirable_weight`` /
  ``undesirable_weight``; the paper uses lambda_D / lambda_U = 1.33).

DPO and NCA read the ``pairs`` view: the prompt is the whole trajectory (instruction, earlier wrong
actions, observation + critique turns) as user/assistant messages, the loss is on the final turn's
chosen/rejected action only. KTO reads the ``kto`` view (the same completions, unpaired). The reference
model is a frozen copy of the model the run starts from (``models/sft`` in the pipeline), beta comes
from params (0.1 in the paper). The implicit reward ``beta * log pi_theta/pi_ref`` of the chosen and
rejected completions and their margin are logged every ``logging_steps`` (Eurus Fig. 5).

Runs are deterministic on CPU: seeded sampler and init, dropout off, deterministic algorithms, and
KTO's rows are put in a seeded order once (trl's KTO reads them sequentially and estimates the KL
term from completions rotated within each batch, so the chosen and rejected rows of one pair should
not sit next to each other).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl
from datasets import Dataset

from preftree.config.runtime import RuntimeParams
from preftree.config.train import AlignMethodParams
from preftree.train.common import (
    LogCallback,
    deterministic_training,
    load_policy,
    save_trained,
    stable_metrics,
    trainer_kwargs,
)
from preftree.train.mixture import mixture_identities, mixture_pairs
from preftree.train.resume import checkpointing, run_identity

LOSSES: Final = ("sigmoid", "nca_pair", "kto")
ALGORITHM: Final = {"sigmoid": "DPO", "nca_pair": "NCA", "kto": "KTO"}
ROW_COLUMNS: Final = ("step", "loss", "rewards_chosen", "rewards_rejected", "margins")
_ROLES: Final = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant", "system": "system"}
# trl log key -> our column name
_LOG_KEYS: Final = {
    "loss": "loss",
    "rewards/chosen": "rewards_chosen",
    "rewards/rejected": "rewards_rejected",
    "rewards/margins": "margins",
}


# --------------------------------------------------------------------------------------------
# datasets


def _messages(turns: list[dict], where: str) -> list[dict[str, str]]:
    out = []
    for turn in turns:
        role = _ROLES.get(str(turn["from"]).lower())
        if role is None:
            raise ValueError(f"{where}: unknown message role {turn['from']!r} (expected user/assistant/system)")
        out.append({"role": role, "content": turn["value"]})
    return out


def pairs_dataset(frame: pl.DataFrame) -> Dataset:
    """The ``pairs`` view (PAIR_SCHEMA) as a conversational preference dataset for DPO / NCA:
    ``prompt`` = the trajectory as user/assistant messages, ``chosen`` / ``rejected`` = one assistant message."""
    missing = [c for c in ("trajectory", "chosen", "rejected") if c not in frame.columns]
    if missing:
        raise ValueError(f"pairs_dataset: the frame lacks {', '.join(missing)} (expected the tree `pairs` view)")
    prompts, chosen, rejected = [], [], []
    for i, row in enumerate(frame.select("trajectory", "chosen", "rejected").iter_rows(named=True)):
        prompt = _messages(row["trajectory"] or [], f"pairs row {i}")
        if not prompt or prompt[-1]["role"] != "user":
            raise ValueError(f"pairs row {i}: the trajectory must end with a user message")
        prompts.append(prompt)
        chosen.append([{"role": "assistant", "content": row["chosen"]}])
        rejected.append([{"role": "assistant", "content": row["rejected"]}])
    return Dataset.from_dict({"prompt": prompts, "chosen": chosen, "rejected": rejected})


def kto_dataset(frame: pl.DataFrame) -> Dataset:
    """The ``kto`` view (KTO_SCHEMA) as a conversational unpaired preference dataset for KTO:
    ``prompt`` (messages), ``completion`` ([assistant message]) and a boolean ``label``."""
    missing = [c for c in ("prompt", "completion", "label") if c not in frame.columns]
    if missing:
        raise ValueError(f"kto_dataset: the frame lacks {', '.join(missing)} (expected the tree `kto` view)")
    if frame["label"].null_count():
        raise ValueError("kto_dataset: some rows have no label")
    prompts, completions = [], []
    for i, row in enumerate(frame.select("prompt", "completion").iter_rows(named=True)):
        prompt = [{"role": m["role"], "content": m["content"]} for m in row["prompt"] or []]
        completion = [{"role": m["role"], "content": m["content"]} for m in row["completion"] or []]
        if not prompt or prompt[-1]["role"] != "user":
            raise ValueError(f"kto row {i}: the prompt must end with a user message")
        if not completion or any(m["role"] != "assistant" for m in completion):
            raise ValueError(f"kto row {i}: the completion must be assistant messages")
        prompts.append(prompt)
        completions.append(completion)
    return Dataset.from_dict({"prompt": prompts, "completion": completions, "label": frame["label"].to_list()})


def _kto_frame(train: pl.DataFrame) -> pl.DataFrame:
    """The kto view (derived from pairs when given pairs)."""
    if "trajectory" in train.columns:
        from preftree.tree import kto_view

        train = kto_view(train)
    return train


def training_dataset(
    train: pl.DataFrame, params: AlignMethodParams, seed: int, *, key: str = "method"
) -> tuple[Dataset, dict[str, int]]:
    """The dataset a method trains on and its row count by source (``tree`` and each mixture name).

    DPO / NCA: the pairs view plus the pairs drawn from ``params.mixture`` (``weight`` x the number of
    tree pairs). KTO: the kto view plus, per drawn pair, its chosen completion (desirable) and its
    rejected one (undesirable), ``weight`` x half the kto rows in pairs, all in one seeded order (trl's
    KTO reads rows sequentially and estimates its KL term from completions rotated within a batch, so
    a pair's two completions should not sit next to each other). ``key`` names the params key in errors.
    """
    kto = params.loss == "kto"
    base = kto_dataset(_kto_frame(train)) if kto else pairs_dataset(train)
    size = len(base) // 2 if kto else len(base)
    drawn = mixture_pairs(f"align.{key}.mixture", params.mixture, size, seed)
    counts = {"tree": len(base)}
    columns = {name: list(base[name]) for name in base.column_names}
    for name, pair in drawn:
        if kto:
            for completion, label in ((pair.chosen, True), (pair.rejected, False)):
                columns["prompt"].append(pair.prompt)
                columns["completion"].append([{"role": "assistant", "content": completion}])
                columns["label"].append(label)
        else:
            columns["prompt"].append(pair.prompt)
            columns["chosen"].append([{"role": "assistant", "content": pair.chosen}])
            columns["rejected"].append([{"role": "assistant", "content": pair.rejected}])
        counts[name] = counts.get(name, 0) + (2 if kto else 1)
    dataset = Dataset.from_dict(columns) if drawn else base
    if kto:
        dataset = dataset.select(np.random.default_rng(seed).permutation(len(dataset)).tolist())
    return dataset, counts


# --------------------------------------------------------------------------------------------
# trainers


def _check(params: AlignMethodParams) -> None:
    if params.loss not in LOSSES:
        raise ValueError(f"align loss must be one of {list(LOSSES)}, got {params.loss!r}")
    if params.beta <= 0:
        raise ValueError(f"align beta must be > 0, got {params.beta}")
    if params.loss == "kto" and params.optim.batch_size < 2:
        raise ValueError("KTO needs batch_size >= 2: its KL estimate pairs each prompt with another row's completion")


def _training_args(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Adapt shared trainer kwargs to the installed transformers: 5.x dropped `warmup_ratio`; its
    `warmup_steps` takes a float in [0, 1) as a ratio of the total steps instead."""
    from transformers import TrainingArguments

    fields = TrainingArguments.__dataclass_fields__
    if "warmup_ratio" in kwargs and "warmup_ratio" not in fields:
        ratio = float(kwargs.pop("warmup_ratio"))
        if not 0 <= ratio < 1:
            raise ValueError(f"align optim.warmup_ratio must be in [0, 1), got {ratio}")
        kwargs["warmup_steps"] = ratio
    return kwargs


def build_trainer(
    model_dir: Path,
    train: pl.DataFrame,
    params: AlignMethodParams,
    *,
    seed: int,
    runtime: RuntimeParams,
    work_dir: Path,
    callbacks: list | None = None,
    key: str = "method",
    dataset: Dataset | None = None,
    save_steps: int = 0,
) -> Any:
    """A trl DPOTrainer (sigmoid / nca_pair) or KTOTrainer (kto) on the model at `model_dir`, with a
    frozen copy of it as the reference model. `work_dir` is the trainer's output_dir (checkpoints every
    `save_steps` steps, 0: none); `dataset` is :func:`training_dataset`'s (built from `train` and the
    method's mixture when None)."""
    from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer

    _check(params)
    model, tokenizer = load_policy(model_dir)
    ref_model, _ = load_policy(model_dir)
    ref_model.eval().requires_grad_(False)
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit is not None and params.optim.max_length > limit:
        raise ValueError(f"align optim.max_length={params.optim.max_length} exceeds the model's context of {limit}")
    common = _training_args(
        trainer_kwargs(params.optim, out_dir=work_dir, seed=seed, runtime=runtime, save_steps=save_steps)
    )
    common.update(max_length=params.optim.max_length, beta=params.beta, disable_dropout=True)
    if params.loss == "kto":
        config = KTOConfig(
            **common,
            loss_type="kto",
            desirable_weight=params.desirable_weight,
            undesirable_weight=params.undesirable_weight,
        )
        trainer_cls = KTOTrainer
    else:
        config = DPOConfig(**common, loss_type=[params.loss])
        trainer_cls = DPOTrainer
    if dataset is None:
        dataset, _ = training_dataset(train, params, seed, key=key)
    if len(dataset) == 0:
        raise ValueError("align: the training view is empty")
    return trainer_cls(
        model=model,
        ref_model=ref_model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
    )


# --------------------------------------------------------------------------------------------
# the run


def reward_rows(log_rows: list[dict[str, float]]) -> list[dict[str, float]]:
    """One row per training log line that carries rewards: step, loss, rewards_chosen, rewards_rejected, margins."""
    rows = []
    for log in log_rows:
        if "rewards/chosen" not in log and "rewards/rejected" not in log:
            continue
        row: dict[str, float] = {"step": int(log["step"])}
        for key, name in _LOG_KEYS.items():
            row[name] = float(log.get(key, math.nan))
        if math.isnan(row["margins"]):  # KTO: no window held both labels; fall back to the difference of means
            row["margins"] = row["rewards_chosen"] - row["rewards_rejected"]
        rows.append(row)
    return rows


def _summary(rows: list[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in ROW_COLUMNS[1:]:
        values = [r[name] for r in rows if not math.isnan(r[name])]
        out[f"{name}_first"] = values[0] if values else math.nan
        out[f"{name}_final"] = values[-1] if values else math.nan
        out[f"{name}_mean"] = float(np.mean(values)) if values else math.nan
    return out


def train_align(
    method: str,
    model_dir: Path,
    train: pl.DataFrame,
    params: AlignMethodParams,
    *,
    seed: int,
    runtime: RuntimeParams,
    out_dir: Path,
    card: dict,
) -> dict:
    """Train one preference-learning method from `model_dir` and save the policy to `out_dir`.

    `train` is the tree's ``pairs`` view for sigmoid / nca_pair, the ``kto`` view (or pairs) for kto.
    Returns metrics: ``<name>_first`` / ``_final`` / ``_mean`` of loss, rewards_chosen, rewards_rejected
    and margins over the logged steps, ``seconds``, ``steps``, ``examples`` (rows trl kept after dropping
    prompts that alone fill max_length), ``weights_sha256``, and ``rows`` (one per log line, columns
    ``ROW_COLUMNS``) for the stage's metrics/align/<method>.csv.
    """
    callback = LogCallback(prefix=f"align/{method}/")
    dataset, rows_by_source = training_dataset(train, params, seed, key=method)
    with checkpointing(
        Path(out_dir),
        checkpoint_steps=runtime.checkpoint_steps,
        logging_steps=params.optim.logging_steps,
        identity=lambda: run_identity(
            f"align@{method}",
            card=card,
            params=params,
            seed=seed,
            dataset=dataset,
            bf16=runtime.bf16,
            code_module=__name__,
        ),
        name=f"align@{method}",
    ) as checkpoints:
        with deterministic_training():
            trainer = build_trainer(
                Path(model_dir),
                train,
                params,
                seed=seed,
                runtime=runtime,
                work_dir=checkpoints.folder,
                callbacks=[callback, checkpoints.callback()],
                key=method,
                dataset=dataset,
                save_steps=checkpoints.save_steps,
            )
            examples = len(trainer.train_dataset)
            if examples == 0:
                raise ValueError(
                    f"align: every prompt alone fills optim.max_length={params.optim.max_length}; raise it"
                )
            start = time.perf_counter()
            result = checkpoints.train(trainer)
            seconds = time.perf_counter() - start
            model = trainer.accelerator.unwrap_model(trainer.model)
        rows = reward_rows(callback.rows)
        metrics: dict[str, Any] = {
            "method": method,
            "algorithm": ALGORITHM[params.loss],
            "loss_type": params.loss,
            "beta": params.beta,
            **_summary(rows),
            "train_loss": float(result.training_loss),
            "seconds": seconds,
            "steps": int(trainer.state.global_step),
            "examples": examples,
            "input_rows": train.height,
            "rows_by_source": rows_by_source,
            "mixture_sources": mixture_identities(params.mixture),
        }
        if params.loss == "kto":
            metrics["desirable_weight"] = params.desirable_weight
            metrics["undesirable_weight"] = params.undesirable_weight
        # no logged window (max_steps < logging_steps) leaves NaN summaries: drop them (metrics JSON must stay valid)
        metrics = {k: v for k, v in metrics.items() if not (isinstance(v, float) and math.isnan(v))}
        model.eval()
        metrics["weights_sha256"] = save_trained(
            trainer, trainer.processing_class, Path(out_dir), {**card, "align": stable_metrics(metrics)}
        )
    metrics["rows"] = rows
    return metrics
