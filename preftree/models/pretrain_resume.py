"""Checkpoints of the tiny model's pretraining loop (stage ``base``), by the rules of preftree.train.resume.

``preftree.models.tiny.pretrain`` is a hand-written loop, not a trainer, so it writes its own
checkpoint files; where, when and which follow the trainer stages exactly:

* **Where.** ``models/.checkpoints/base/checkpoint-<step>/`` (``resume.checkpoint_root``), holding
  :data:`STATE_FILE` (a :class:`~preftree.models.tiny.PretrainState`: weights, AdamW state, the batch
  generator's state, the loss records, the global RNG states) and the marker ``preftree-resume.json``,
  written last. Only the newest complete checkpoint is kept; the folder goes once ``models/base`` is saved.
* **When.** Every ``runtime.checkpoint_steps`` optimizer steps (0: never), none after the last step.
* **Which.** The marker's fingerprint (``resume.fingerprint``) hashes :func:`pretrain_identity`: the
  params (``seed``, ``model``), the training blocks (documents and tokenizer), the device type, the
  world size, the code of ``preftree.base_model`` and its imports, and the library versions. A
  checkpoint with another fingerprint is removed, one without a marker ignored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from preftree.code_version import code_version
from preftree.models.tiny import PretrainState
from preftree.train.resume import (
    PREFIX,
    Checkpoints,
    checkpoint_step,
    checkpointing,
    keep_only,
    library_versions,
    write_marker,
)

STATE_FILE = "pretrain-state.pt"
NAME = "base"


def blocks_digest(blocks: torch.Tensor) -> str:
    """sha256 over the training blocks' shape and token ids, in order."""
    h = hashlib.sha256(repr(tuple(blocks.shape)).encode())
    h.update(blocks.detach().to("cpu", torch.long).contiguous().numpy().tobytes())
    return h.hexdigest()


def pretrain_identity(
    params: Mapping[str, Any], *, blocks: torch.Tensor, device: torch.device, code_module: str
) -> dict[str, Any]:
    """What must match for a pretraining checkpoint to be resumed (``resume.fingerprint`` hashes it)."""
    return {
        "name": NAME,
        "params": {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in params.items()},
        "data": blocks_digest(blocks),
        "device": device.type,  # CPU and GPU kernels round differently
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "code": code_version(code_module),
        "versions": library_versions(),
    }


def save_state(root: Path, state: PretrainState, fingerprint: str) -> Path:
    """Write ``state`` as ``root/checkpoint-<step>`` (marker last), then remove the older checkpoints."""
    folder = root / f"{PREFIX}{state.step}"
    if folder.exists():  # left incomplete by a killed run
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    torch.save({f.name: getattr(state, f.name) for f in dataclasses.fields(state)}, folder / STATE_FILE)
    write_marker(folder, {"fingerprint": fingerprint, "step": state.step})
    keep_only(root, state.step)
    return folder


def load_state(folder: Path) -> PretrainState:
    """The :class:`PretrainState` saved in a checkpoint folder (tensors on the CPU)."""
    data = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    return PretrainState(**data)


@dataclass(frozen=True)
class PretrainCheckpoints:
    """One pretraining run's checkpoints: what it resumes from, and the ``save`` hook of ``pretrain``."""

    checkpoints: Checkpoints

    @property
    def every(self) -> int:
        return self.checkpoints.save_steps

    def latest(self) -> PretrainState | None:
        """The newest complete checkpoint of this run's fingerprint (None: train from step 0)."""
        folder = self.checkpoints.find()
        if folder is None:
            return None
        print(f"{NAME}: resuming from {folder} (step {checkpoint_step(folder)})", flush=True)
        return load_state(folder)

    def save(self, state: PretrainState) -> None:
        save_state(self.checkpoints.folder, state, self.checkpoints.fingerprint)


@contextlib.contextmanager
def pretrain_checkpoints(
    out_dir: Path, *, checkpoint_steps: int, identity: Callable[[], Mapping[str, Any]]
) -> Iterator[PretrainCheckpoints]:
    """``resume.checkpointing`` for the pretraining loop writing ``out_dir``: wrap training *and* the save
    of ``out_dir``; the checkpoints are removed on a normal exit, kept on an error or a kill."""
    with checkpointing(
        out_dir, checkpoint_steps=checkpoint_steps, logging_steps=1, identity=identity, name=NAME
    ) as checkpoints:
        yield PretrainCheckpoints(checkpoints)
