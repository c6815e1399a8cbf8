"""What every training stage shares: loading a policy, trainer arguments from typed params, a
callback that streams the trainer's logs into the stage's MLflow run and a CSV, and weight digests.

Semantic settings (lr, steps, batch size, beta, ...) come from the stage's declared params;
placement and precision (device, bf16, gradient checkpointing) from `runtime`, so moving a run to a
GPU reruns nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase, TrainerCallback

from preftree.config.runtime import RuntimeParams
from preftree.config.train import OptimParams
from preftree.models.checkpoint import resolve_model_dir, save_model_folder
from preftree.models.vocab_file import prepare_chat_tokenizer, report


def load_policy(folder: Path, *, dtype: torch.dtype = torch.float32) -> tuple[Any, PreTrainedTokenizerBase]:
    """A causal LM and its tokenizer from a model folder (or the checkpoint a pointer names); a tokenizer
    without a pad token or chat template gets the paper's (preftree.models.vocab_file), with a log line."""
    path = resolve_model_dir(Path(folder))
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    report(prepare_chat_tokenizer(tokenizer, source=str(path)))  # a checkpoint without pad token / template
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype)
    return model, tokenizer


def use_cpu(runtime: RuntimeParams) -> bool:
    return runtime.device == "cpu" or (runtime.device == "auto" and not torch.cuda.is_available())


def trainer_kwargs(
    optim: OptimParams, *, out_dir: Path, seed: int, runtime: RuntimeParams, save_steps: int = 0
) -> dict[str, Any]:
    """TrainingArguments fields shared by SFTConfig / DPOConfig / KTOConfig / RewardConfig.

    ``save_steps`` > 0: a checkpoint in ``out_dir`` every that many steps, with the optimizer, scheduler
    and RNG states that make a resume exact (``preftree.train.resume`` writes their markers, keeps the
    newest and decides what to resume); 0: no checkpoints."""
    saving: dict[str, Any] = {"save_strategy": "no"}
    if save_steps > 0:
        saving = {
            "save_strategy": "steps",
            "save_steps": save_steps,
            "save_total_limit": None,
            "save_only_model": False,
        }
    return {
        "output_dir": str(out_dir),
        "learning_rate": optim.lr,
        "num_train_epochs": optim.epochs,
        "max_steps": optim.max_steps if optim.max_steps > 0 else -1,  # transformers: 0 trains one step, -1 epochs
        # transformers 5 dropped `warmup_ratio`: a float in [0, 1) for `warmup_steps` is the ratio of total steps
        "warmup_steps": optim.warmup_ratio,
        "lr_scheduler_type": optim.scheduler,
        "per_device_train_batch_size": optim.batch_size,
        "per_device_eval_batch_size": optim.batch_size,
        "gradient_accumulation_steps": optim.grad_accum,
        "weight_decay": optim.weight_decay,
        "logging_steps": optim.logging_steps,
        "seed": seed,
        "data_seed": seed,
        "report_to": [],  # the stage's own MLflow run gets the logs through LogCallback
        **saving,
        "bf16": runtime.bf16,
        "gradient_checkpointing": runtime.gradient_checkpointing,
        "use_cpu": use_cpu(runtime),
        "dataloader_num_workers": 0,
        "disable_tqdm": not runtime.progress,
    }


class LogCallback(TrainerCallback):
    """Collects every training log line (for CSVs) and mirrors it into the active MLflow run.

    A run resumed from a checkpoint starts with the log lines the checkpoint's trainer state holds
    (the steps before it), so its rows equal an uninterrupted run's."""

    def __init__(self, prefix: str = "train/") -> None:
        self.prefix = prefix
        self.rows: list[dict[str, float]] = []

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201 - HF callback signature
        for entry in state.log_history:  # non-empty only when resuming
            self.record(int(entry.get("step", 0)), {k: v for k, v in entry.items() if k != "step"})

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201 - HF callback signature
        self.record(state.global_step, logs or {})

    def record(self, step: int, logs: Mapping[str, Any]) -> None:
        numeric = {k: float(v) for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if not numeric:
            return
        self.rows.append({"step": step, **numeric})
        try:
            # Not imported = no run can be active; importing it here would cost ~1 s inside the training loop.
            mlflow = sys.modules.get("mlflow")
            if mlflow is not None and mlflow.active_run() is not None:
                clean = {f"{self.prefix}{k.replace('/', '_') if '/' in k else k}": v for k, v in numeric.items()}
                mlflow.log_metrics(clean, step=step)
        except Exception:  # noqa: BLE001 - tracking must never break training
            pass


def weights_digest(weights: torch.nn.Module | Mapping[str, torch.Tensor]) -> str:
    """sha256 over a model's state dict (names, dtypes, bytes): equal digests = bit-identical weights."""
    state = weights.state_dict() if isinstance(weights, torch.nn.Module) else weights
    h = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        h.update(name.encode())
        h.update(str(tensor.dtype).encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def deterministic_env() -> None:
    """Settings that make CPU training bit-reproducible (see transformers' enable_full_determinism)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=torch.cuda.is_available())
    # Deterministic mode also fills every torch.empty with NaN; trl's chunked LM head allocates a large buffer per
    # step, so this costs ~2x on CPU. Only reads of uninitialised memory would need it, which would be a bug anyway.
    torch.utils.deterministic.fill_uninitialized_memory = False


@contextlib.contextmanager
def deterministic_training() -> Iterator[None]:
    """``deterministic_env`` for the block, then the previous global torch settings again."""
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.utils.deterministic.fill_uninitialized_memory,
    )
    deterministic_env()
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.utils.deterministic.fill_uninitialized_memory = before[2]


TIMING_KEYS = ("seconds", "per_second", "threads")


def stable_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics`` without wall-clock figures: what a model card records, so that retraining with the
    same inputs writes a byte-identical folder (same DVC md5)."""
    return {k: v for k, v in metrics.items() if not any(t in k for t in TIMING_KEYS)}


def save_trained(trainer: Any, tokenizer: PreTrainedTokenizerBase, out_dir: Path, card: dict) -> str:
    """Save the trained model as an HF folder (rank 0 only) and return its weights digest.

    The full state dict comes from ``accelerator.get_state_dict`` (under DeepSpeed ZeRO-3 / FSDP it
    gathers the shards; in one process it is the model's own), so a launched run writes the same
    folder as a plain one. Every rank must call this (the gather is collective).
    """
    accelerator = trainer.accelerator
    state = accelerator.get_state_dict(trainer.model_wrapped)
    model = accelerator.unwrap_model(trainer.model)
    digest = ""
    if accelerator.is_main_process:
        state = {k: v.detach().cpu() for k, v in state.items()}
        digest = weights_digest(state)
        save_model_folder(model, tokenizer, Path(out_dir), {**card, "weights_sha256": digest}, state_dict=state)
    accelerator.wait_for_everyone()
    return digest
