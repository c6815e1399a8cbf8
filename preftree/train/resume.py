"""Periodic trainer checkpoints, and resuming a killed training run from the last one.

Every trl / transformers training stage (sft, align@*, rm@*) trains inside :func:`checkpointing`
(``base``'s own pretraining loop too, writing its own files: preftree.models.pretrain_resume):

* **Where.** ``models/.checkpoints/<rest>`` for the stage's output ``models/<rest>``
  (``models/.checkpoints/sft``, ``models/.checkpoints/rm/bt``; :func:`checkpoint_root`): a folder the
  stage owns that no DVC out or dep contains. Never inside the output: DVC deletes a stage's
  outs before it reruns the stage, and the artifact holds the model only. Removed once the model
  folder is saved; kept when training fails or is killed.
* **When.** Every ``runtime.checkpoint_steps`` optimizer steps (0: never), rounded up to a multiple of
  the stage's ``logging_steps`` so that a checkpoint always follows a log line: the loss curve of a
  resumed run then has the same windows as an uninterrupted one. No checkpoint at the last step (the
  stage saves the model itself). A runtime setting: the interval cannot change a result.
* **Which.** A checkpoint is resumed only when its fingerprint (:func:`fingerprint`, written next to
  it in ``preftree-resume.json`` once the checkpoint is complete) equals the run's: the model card
  without the git rev (params, input md5s), the stage's params and seed, a digest of the training
  rows, the world size, precision, the training code's version and the library versions.
  Checkpoints with another fingerprint are removed with a log line; a checkpoint without the file
  (killed while writing) is ignored.
* **What.** transformers restores the weights, optimizer, scheduler, every rank's RNG states and
  the trainer state (global step, log history, tokens seen) and skips the batches already trained
  (the sampler order comes from ``data_seed``). The marker also carries two running sums that
  transformers and trl keep outside the trainer state: the loss total behind the final
  ``train_loss`` and trl's token counter. They are private attributes of those trainers
  (:data:`COUNTERS`), read and set only when present.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_utils import TrainOutput

from preftree.code_version import code_version
from preftree.io import scratch_dir
from preftree.launch import is_main_process

MARKER = "preftree-resume.json"
PREFIX = "checkpoint-"  # transformers' PREFIX_CHECKPOINT_DIR
# Running sums a trainer keeps outside its TrainerState (transformers: the loss total that becomes
# `training_loss`; trl: the tokens counted for its `num_tokens` log key).
COUNTERS = ("_total_loss_scalar", "_total_train_tokens")
VOLATILE_CARD_KEYS = ("git_rev",)  # a commit that changes no code must not orphan a checkpoint


def checkpoint_root(out_dir: Path) -> Path:
    """The checkpoint folder of a stage writing ``out_dir``: ``models/.checkpoints/rm/bt`` for the
    relative ``models/rm/bt`` (outside every folder a stage reads: rerank reads ``models/rm`` whole),
    ``<parent>/.checkpoints/<name>`` for an absolute path or a single name."""
    out_dir = Path(out_dir)
    if not out_dir.is_absolute() and len(out_dir.parts) > 1:
        return Path(out_dir.parts[0], ".checkpoints", *out_dir.parts[1:])
    return out_dir.parent / ".checkpoints" / out_dir.name


def save_interval(checkpoint_steps: int, logging_steps: int) -> int:
    """``checkpoint_steps`` rounded up to a multiple of ``logging_steps`` (0 stays 0: no checkpoints)."""
    if checkpoint_steps <= 0:
        return 0
    return math.ceil(checkpoint_steps / logging_steps) * logging_steps


def dataset_digest(dataset: Any) -> str:
    """sha256 over the rows of a ``datasets.Dataset`` in their training order (column names and values)."""
    h = hashlib.sha256(json.dumps(list(dataset.column_names)).encode())
    for batch in dataset.with_format("arrow").iter(batch_size=4096):
        h.update(json.dumps(batch.to_pylist(), sort_keys=True, default=str).encode())
    return h.hexdigest()


def fingerprint(identity: Mapping[str, Any]) -> str:
    """sha256 of a run's identity (JSON, keys sorted); card keys in :data:`VOLATILE_CARD_KEYS` left out."""
    ident = dict(identity)
    if isinstance(ident.get("card"), Mapping):
        ident["card"] = {k: v for k, v in ident["card"].items() if k not in VOLATILE_CARD_KEYS}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


def run_identity(
    name: str, *, card: Mapping[str, Any], params: Any, seed: int, dataset: Any, bf16: bool, code_module: str
) -> dict[str, Any]:
    """What must match for a checkpoint to be resumed (:func:`fingerprint` hashes it): the card (params,
    input md5s), the stage's params and seed, the training rows in order, the world size (a checkpoint
    of one process layout does not resume under another), precision, the code of ``code_module`` and
    its imports (``preftree.code_version``), and the library versions."""
    return {
        "name": name,
        "card": dict(card),
        "params": dataclasses.asdict(params) if dataclasses.is_dataclass(params) else params,
        "seed": seed,
        "data": dataset_digest(dataset),
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "bf16": bf16,
        "code": code_version(code_module),
        "versions": library_versions(),
    }


def library_versions() -> dict[str, str]:
    import torch
    import transformers
    import trl

    return {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__}


def checkpoint_step(folder: Path) -> int:
    """N of a ``checkpoint-N`` folder (-1 for any other name)."""
    suffix = folder.name.removeprefix(PREFIX)
    return int(suffix) if folder.name.startswith(PREFIX) and suffix.isdigit() else -1


def read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def complete_checkpoints(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """``(checkpoint folder, marker)`` of every complete checkpoint under ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        marker = read_marker(folder) if folder.is_dir() and checkpoint_step(folder) >= 0 else None
        if marker is not None:
            found.append((folder, marker))
    return sorted(found, key=lambda item: checkpoint_step(item[0]))


def write_marker(folder: Path, marker: Mapping[str, Any]) -> None:
    """Write ``folder``'s :data:`MARKER` atomically (temp file, then rename): the checkpoint is complete."""
    tmp = folder / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(marker, indent=1), encoding="utf-8")
    tmp.replace(folder / MARKER)


def keep_only(root: Path, step: int) -> None:
    """Remove every ``checkpoint-N`` folder under ``root`` but ``checkpoint-<step>``."""
    for other in root.iterdir():
        if other.is_dir() and 0 <= checkpoint_step(other) != step:
            shutil.rmtree(other, ignore_errors=True)


def remove_other_runs(root: Path, print_as: str, wanted: str) -> None:
    """Remove every checkpoint under ``root`` whose fingerprint is not ``wanted`` (one log line each)."""
    for folder, marker in complete_checkpoints(root):
        if marker.get("fingerprint") != wanted:
            shutil.rmtree(folder, ignore_errors=True)
            print(f"{print_as}: removed {folder}: a checkpoint of other params, data or code", file=sys.stderr)


@dataclass
class Checkpoints:
    """One training run's checkpoints: the trainer's ``output_dir`` and what it resumes from."""

    folder: Path
    fingerprint: str
    save_steps: int  # 0: no checkpoints (folder is then a private scratch folder)
    name: str = "train"
    resume_from: Path | None = None
    restored: dict[str, float] = field(default_factory=dict)

    def find(self) -> Path | None:
        """The newest complete checkpoint with this run's fingerprint (None: train from the start)."""
        if self.save_steps <= 0:
            return None
        if is_main_process():
            remove_other_runs(self.folder, self.name, self.fingerprint)
        matching = [(f, m) for f, m in complete_checkpoints(self.folder) if m.get("fingerprint") == self.fingerprint]
        if matching:
            self.resume_from, marker = matching[-1]
            self.restored = {k: v for k, v in marker.get("counters", {}).items() if k in COUNTERS}
        return self.resume_from

    def callback(self) -> ResumeCallback:
        return ResumeCallback(self)

    def train(self, trainer: Any) -> TrainOutput:
        """``trainer.train()``, from the newest matching checkpoint when there is one. Attach
        :meth:`callback` to the trainer first. ``training_loss`` is over every step of the run,
        those before the checkpoint included, as an uninterrupted run reports it."""
        for callback in trainer.callback_handler.callbacks:
            if isinstance(callback, ResumeCallback):
                callback.trainer = trainer
        start = self.find()
        if start is not None:
            print(f"{self.name}: resuming from {start} (step {checkpoint_step(start)})", flush=True)
        output = trainer.train(resume_from_checkpoint=str(start) if start is not None else None)
        if start is None:
            return output
        total = getattr(trainer, COUNTERS[0], None)
        steps = trainer.state.global_step
        loss = total / steps if isinstance(total, float) and steps > 0 else output.training_loss
        return TrainOutput(output.global_step, loss, output.metrics)


class ResumeCallback(TrainerCallback):
    """Writes each complete checkpoint's marker and removes older checkpoints; restores the running
    sums of a resumed run; skips transformers' save at the last step (the stage saves the model)."""

    def __init__(self, checkpoints: Checkpoints) -> None:
        self.checkpoints = checkpoints
        self.trainer: Any = None

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201 - HF callback signature
        if self.trainer is not None:
            for name, value in self.checkpoints.restored.items():
                if hasattr(self.trainer, name):
                    setattr(self.trainer, name, type(getattr(self.trainer, name))(value))

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        if state.global_step >= state.max_steps:
            control.should_save = False
        return control

    def on_save(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        if self.trainer is None:
            return
        accelerator = self.trainer.accelerator
        accelerator.wait_for_everyone()  # every rank has written its RNG state
        if accelerator.is_main_process:
            root = Path(args.output_dir)
            folder = root / f"{PREFIX}{state.global_step}"
            counters = {k: float(getattr(self.trainer, k)) for k in COUNTERS if hasattr(self.trainer, k)}
            marker = {"fingerprint": self.checkpoints.fingerprint, "step": state.global_step, "counters": counters}
            write_marker(folder, marker)
            keep_only(root, state.global_step)
        accelerator.wait_for_everyone()


@contextlib.contextmanager
def checkpointing(
    out_dir: Path,
    *,
    checkpoint_steps: int,
    logging_steps: int,
    identity: Callable[[], Mapping[str, Any]],
    name: str,
) -> Iterator[Checkpoints]:
    """The trainer's output folder for a run that writes ``out_dir``: the checkpoint folder beside it
    (``checkpoint_steps`` > 0), or a private scratch folder. On a normal exit the checkpoints are
    removed (call it around training *and* the save of ``out_dir``); on an error or a kill they stay.
    ``identity`` (e.g. a :func:`run_identity` call) is computed only when checkpoints are on: it
    hashes every training row."""
    steps = save_interval(checkpoint_steps, logging_steps)
    if steps <= 0:
        with scratch_dir(f"{name}-trainer") as scratch:
            yield Checkpoints(folder=Path(scratch), fingerprint="", save_steps=0, name=name)
        return
    digest = fingerprint(identity())
    root = checkpoint_root(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    yield Checkpoints(folder=root, fingerprint=digest, save_steps=steps, name=name)
    if is_main_process():
        shutil.rmtree(root, ignore_errors=True)
        folder = root.parent
        while ".checkpoints" in folder.parts:
            with contextlib.suppress(OSError):  # not empty: other stages' checkpoints
                folder.rmdir()
            folder = folder.parent
