"""Checkpoints and resume (preftree.train.resume): a training run killed with SIGKILL and rerun ends
with the same model folder (weights, card), the same loss curve and no checkpoint left behind, as
an uninterrupted run; a checkpoint of other params or data is never resumed.

The trainings run in subprocesses (``python -m tests.test_train_resume <spec.json>``, see
:func:`worker`): one uninterrupted; one that blocks at a step after its last checkpoint and is
killed there with SIGKILL by the test; and the rerun of that one. One torch thread each, as the
weights digests of the other training tests assume.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from preftree.compose import from_conf
from preftree.config.model import TokenizerParams
from preftree.config.runtime import RuntimeParams
from preftree.config.train import AlignMethodParams, OptimParams, SFTParams
from preftree.models.checkpoint import save_model_folder
from preftree.models.tiny import build_model
from preftree.models.tokenizer import train_tokenizer
from preftree.schema import PAIR_SCHEMA
from preftree.train.resume import (
    MARKER,
    Checkpoints,
    checkpoint_root,
    checkpointing,
    dataset_digest,
    fingerprint,
    save_interval,
)

from . import killrun
from .killrun import file_digests, finish
from .test_train_sft import ARCH, sft_frame

RUNTIME = from_conf(RuntimeParams, "runtime", device="cpu", progress=False, checkpoint_steps=10)
SFT_OPTIM = from_conf(
    OptimParams, "sft.optim", lr=5e-3, max_steps=40, batch_size=8, max_length=64, warmup_ratio=0.1, logging_steps=5
)
SFT = from_conf(SFTParams, "sft", optim=SFT_OPTIM)
DPO_OPTIM = from_conf(
    OptimParams, "align.dpo.optim", lr=5e-3, max_steps=12, batch_size=2, max_length=128, logging_steps=2
)
DPO = from_conf(AlignMethodParams, "align.dpo", optim=DPO_OPTIM, beta=0.1)
SFT_COLUMNS = ("step", "loss", "learning_rate", "grad_norm", "mean_token_accuracy")


# --------------------------------------------------------------------------------------------
# the worker (a subprocess)


def pair_frame(n: int) -> pl.DataFrame:
    rows = []
    for i in range(n):
        a, b = 3 + i, 5 + 2 * i
        rows.append(
            {
                "id": f"p{i}_1",
                "parent_id": f"p{i}",
                "task": "Coding",
                "dataset": "synthetic",
                "trajectory": [{"from": "user", "value": f"Compute {a} + {b} in Python."}],
                "chosen": f"```python\nprint({a} + {b})\n```",
                "rejected": f"```python\nprint({a} - {b})\n```",
            }
        )
    return pl.DataFrame(rows, schema=PAIR_SCHEMA)


def block_at(step: int, flag: Path) -> None:
    """Make every LogCallback of this process block forever at the end of optimizer step ``step``
    (after writing ``flag``): the test then kills the process there."""
    from preftree.train import common

    original = common.LogCallback.on_step_end

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN202
        if state.global_step == step:
            flag.write_text(str(os.getpid()))
            while True:
                time.sleep(60)
        return original(self, args, state, control, **kwargs)

    common.LogCallback.on_step_end = on_step_end  # type: ignore[method-assign]


def worker(spec_path: Path) -> None:
    """Train as ``spec`` says and write the result: weights digest, log rows, file digests."""
    import torch

    from preftree.train.align import train_align
    from preftree.train.sft import train_sft

    torch.set_num_threads(1)
    spec = json.loads(spec_path.read_text())
    if spec.get("block_at"):
        block_at(spec["block_at"], Path(spec["flag"]))
    runtime = dataclasses.replace(RUNTIME, checkpoint_steps=spec["checkpoint_steps"])
    out = Path(spec["out"])
    card = {"name": spec["kind"], "base_model": spec["base"]}
    if spec["kind"] == "sft":
        params = dataclasses.replace(SFT, optim=dataclasses.replace(SFT_OPTIM, lr=spec["lr"]))
        result = train_sft(
            Path(spec["base"]), sft_frame(64, seed=0), sft_frame(8, seed=1), params,
            seed=0, runtime=runtime, out_dir=out, card=card,
        )  # fmt: skip
        log = result.pop("log")
    else:
        params = dataclasses.replace(DPO, optim=dataclasses.replace(DPO_OPTIM, lr=spec["lr"]))
        result = train_align("dpo", Path(spec["base"]), pair_frame(12), params, seed=0, runtime=runtime,
                             out_dir=out, card=card)  # fmt: skip
        log = result.pop("rows")
    Path(spec["result"]).write_text(
        json.dumps(
            {"digest": result["weights_sha256"], "log": log, "files": file_digests(out), "metrics": result},
            default=str,
        )
    )


# --------------------------------------------------------------------------------------------
# helpers of the tests


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama + BPE tokenizer that reads both the SFT rows and the pairs."""
    texts = sft_frame(64, seed=0)["instruction"].to_list() + sft_frame(64, seed=0)["response"].to_list()
    pairs = pair_frame(12)
    texts += [m["value"] for t in pairs["trajectory"].to_list() for m in t] + pairs["chosen"].to_list()
    tokenizer = train_tokenizer(texts, from_conf(TokenizerParams, "model.tokenizer", vocab_size=300))
    folder = tmp_path_factory.mktemp("resume") / "base"
    save_model_folder(build_model(ARCH, tokenizer, seed=0), tokenizer, folder, {"name": "tiny-resume-base"})
    return folder


def spawn(spec: dict[str, Any], work: Path, name: str) -> tuple[subprocess.Popen, Path]:
    return killrun.spawn("tests.test_train_resume", spec, work, name)


def killed_run(spec: dict[str, Any], work: Path, step: int) -> None:
    killrun.killed_run("tests.test_train_resume", spec, work, step)


def curve(log: list[dict], columns: tuple[str, ...]) -> list[tuple]:
    return [tuple(row.get(c) for c in columns) for row in log if row.get("loss") is not None]


def resume_case(kind: str, base: Path, work: Path, *, kill_at: int, lr: float) -> tuple[dict, dict, str, Path]:
    """(uninterrupted result, killed-and-resumed result, the rerun's output, the checkpoint root)."""
    spec = {"kind": kind, "base": str(base), "checkpoint_steps": 0, "lr": lr}
    whole, _ = finish(*spawn({**spec, "out": str(work / "whole" / kind)}, work, "whole"))
    out = work / "resumed" / kind
    spec = {**spec, "checkpoint_steps": RUNTIME.checkpoint_steps, "out": str(out)}
    killed_run(spec, work, kill_at)
    root = checkpoint_root(out)
    assert not out.exists(), "a killed run must not leave an output folder"
    markers = sorted(root.glob(f"checkpoint-*/{MARKER}"))
    assert [m.parent.name for m in markers] == [f"checkpoint-{kill_at // 10 * 10}"]  # only the newest is kept
    resumed, output = finish(*spawn(spec, work, "rerun"))
    return whole, resumed, output, root


# --------------------------------------------------------------------------------------------
# the tests


@pytest.mark.slow
def test_sft_killed_and_resumed_matches_uninterrupted(base_dir, tmp_path):
    """SFT, 40 steps, 5 epochs of 8 batches, a checkpoint every 10 steps: killed at step 23 (the
    checkpoint of step 20 exists, steps 21-23 are lost), rerun: it resumes from step 20, mid-epoch."""
    whole, resumed, output, root = resume_case("sft", base_dir, tmp_path, kill_at=23, lr=5e-3)
    assert "resuming from" in output and "checkpoint-20" in output
    assert resumed["digest"] == whole["digest"]  # bit-identical weights
    assert resumed["files"] == whole["files"]  # the whole folder: safetensors, tokenizer, card.json
    assert curve(resumed["log"], SFT_COLUMNS) == curve(whole["log"], SFT_COLUMNS)
    assert len(curve(whole["log"], SFT_COLUMNS)) == 8
    assert resumed["metrics"]["train_loss_mean"] == whole["metrics"]["train_loss_mean"]
    assert not root.exists(), "the checkpoints must be removed once the model is saved"
    assert not (tmp_path / "resumed" / "sft" / MARKER).exists()


@pytest.mark.slow
def test_dpo_killed_and_resumed_matches_uninterrupted(base_dir, tmp_path):
    """DPO (the path every align@ and rm@ stage shares: resume.checkpointing around trl's trainer):
    12 steps, a checkpoint every 10, killed at 11, resumed from 10."""
    whole, resumed, output, root = resume_case("dpo", base_dir, tmp_path, kill_at=11, lr=5e-3)
    assert "checkpoint-10" in output
    assert resumed["digest"] == whole["digest"]
    assert resumed["files"] == whole["files"]
    assert resumed["log"] == whole["log"]  # step, loss, rewards/chosen, rewards/rejected, margins
    assert not root.exists()


@pytest.mark.slow
def test_checkpoint_of_other_params_is_not_resumed(base_dir, tmp_path):
    """Killed with lr 5e-3, rerun with lr 1e-3: the checkpoint is removed, training starts at step 0,
    and ends where an uninterrupted lr 1e-3 run ends."""
    spec = {"kind": "sft", "base": str(base_dir), "lr": 5e-3, "checkpoint_steps": 10}
    out = tmp_path / "run" / "sft"
    killed_run({**spec, "out": str(out)}, tmp_path, 13)
    assert (checkpoint_root(out) / "checkpoint-10" / MARKER).is_file()
    other, output = finish(*spawn({**spec, "lr": 1e-3, "out": str(out)}, tmp_path, "other"))
    assert "resuming" not in output
    assert "a checkpoint of other params, data or code" in output
    fresh, _ = finish(
        *spawn({**spec, "lr": 1e-3, "checkpoint_steps": 0, "out": str(tmp_path / "fresh")}, tmp_path, "f")
    )
    assert other["digest"] == fresh["digest"]


def test_find_resumes_only_a_complete_checkpoint_of_the_same_fingerprint(tmp_path):
    root = tmp_path / "ckpt"
    for step, mark in ((10, "a"), (20, "a"), (30, None), (40, "b")):
        folder = root / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        if mark:
            (folder / MARKER).write_text(json.dumps({"fingerprint": mark, "counters": {"_total_loss_scalar": 1.5}}))
    found = Checkpoints(folder=root, fingerprint="a", save_steps=10).find()
    assert found == root / "checkpoint-20"  # 30 has no marker (killed while saving), 40 is another run's
    assert not (root / "checkpoint-40").exists()  # removed
    assert (root / "checkpoint-30").exists()  # incomplete: left for the trainer's own rotation
    checkpoints = Checkpoints(folder=root, fingerprint="c", save_steps=10)
    assert checkpoints.find() is None and checkpoints.restored == {}
    assert Checkpoints(folder=root, fingerprint="a", save_steps=0).find() is None  # checkpoints off


def test_fingerprint_covers_params_data_and_world_size_not_the_git_rev():
    identity = {"card": {"params": {"lr": 1}, "git_rev": "abc"}, "data": "d1", "world_size": 1}
    same = fingerprint(identity)
    assert fingerprint({**identity, "card": {"params": {"lr": 1}, "git_rev": "def"}}) == same
    assert fingerprint({**identity, "card": {"params": {"lr": 2}, "git_rev": "abc"}}) != same
    assert fingerprint({**identity, "data": "d2"}) != same
    assert fingerprint({**identity, "world_size": 2}) != same


def test_dataset_digest_follows_rows_and_order():
    from datasets import Dataset

    data = Dataset.from_dict({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert dataset_digest(data) == dataset_digest(Dataset.from_dict({"a": [1, 2, 3], "b": ["x", "y", "z"]}))
    assert dataset_digest(data.select([2, 1, 0])) != dataset_digest(data)
    assert dataset_digest(Dataset.from_dict({"a": [1, 2, 4], "b": ["x", "y", "z"]})) != dataset_digest(data)


def test_checkpoint_root_is_outside_every_stage_folder():
    assert checkpoint_root(Path("models/sft")) == Path("models/.checkpoints/sft")
    assert checkpoint_root(Path("models/rm/bt")) == Path("models/.checkpoints/rm/bt")  # rerank reads models/rm
    assert checkpoint_root(Path("/tmp/x/out")) == Path("/tmp/x/.checkpoints/out")


def test_checkpointing_removes_the_folder_after_success_and_keeps_it_after_an_error(tmp_path):
    out = tmp_path / "models" / "sft"
    with checkpointing(out, checkpoint_steps=10, logging_steps=5, identity=lambda: {"a": 1}, name="sft") as ckpt:
        assert ckpt.folder == checkpoint_root(out) and ckpt.folder.is_dir() and ckpt.save_steps == 10
        (ckpt.folder / "checkpoint-10").mkdir()
    assert not (tmp_path / "models" / ".checkpoints").exists()
    with (
        pytest.raises(RuntimeError),
        checkpointing(out, checkpoint_steps=10, logging_steps=5, identity=dict, name="sft"),
    ):
        (checkpoint_root(out) / "checkpoint-10").mkdir()
        raise RuntimeError("killed")
    assert (checkpoint_root(out) / "checkpoint-10").is_dir()
    with checkpointing(out, checkpoint_steps=0, logging_steps=5, identity=dict, name="sft") as ckpt:
        assert ckpt.save_steps == 0 and not ckpt.folder.is_relative_to(tmp_path)  # a private scratch folder


def test_save_interval_follows_logging_steps():
    assert save_interval(0, 5) == 0
    assert save_interval(10, 5) == 10
    assert save_interval(12, 5) == 15  # a checkpoint always follows a log line
    assert save_interval(3, 10) == 10


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
