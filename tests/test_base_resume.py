"""Checkpoints and resume of the base stage's pretraining loop (preftree.models.tiny.pretrain,
preftree.models.pretrain_resume): a run killed with SIGKILL after a checkpoint and rerun ends with
the same model folder (weights, tokenizer, card) and the same loss curve file as an uninterrupted
run; a checkpoint of other params is never resumed.

The end-to-end runs are ``train_from_scratch`` in subprocesses (``python -m tests.test_base_resume
<spec.json>``, see :func:`worker`), one torch thread each: one uninterrupted; one that blocks at the
start of a step after a checkpoint and is killed there by the test; the rerun of that one.
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

import pytest
import torch

from preftree.compose import from_conf
from preftree.config.model import ModelParams, TokenizerParams
from preftree.models.pretrain_resume import STATE_FILE, load_state, save_state
from preftree.models.tiny import PretrainState, build_model, pack_documents, pretrain
from preftree.models.tokenizer import train_tokenizer
from preftree.train.resume import MARKER, checkpoint_root, read_marker

from . import killrun
from .killrun import file_digests, finish
from .test_models import TINY_ARCH, TINY_PRETRAIN, state_sha256, synthetic_corpus

STEPS, EVERY, KILL_AT = 200, 50, 130  # killed at the start of step 130: checkpoint-100 exists, 101-129 are lost
LR = 3e-3


# --------------------------------------------------------------------------------------------
# the worker (a subprocess)


def tiny_model(lr: float) -> ModelParams:
    """conf/model/tiny.yaml shrunk to a few seconds of pretraining: STEPS steps of 4 blocks of 32 tokens."""
    model = from_conf(ModelParams, "model")
    assert model.tokenizer is not None and model.arch is not None and model.pretrain is not None
    return dataclasses.replace(
        model,
        tokenizer=dataclasses.replace(model.tokenizer, vocab_size=300),
        arch=dataclasses.replace(
            model.arch, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
            num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
        ),
        pretrain=dataclasses.replace(
            model.pretrain, documents=60, heldout_documents=8, steps=STEPS, batch_size=4, seq_len=32,
            warmup_steps=10, lr=lr,
        ),
    )  # fmt: skip


def block_at(step: int, flag: Path) -> None:
    """Make pretraining block forever at the start of step ``step`` (after writing ``flag``): every step
    asks ``tiny.lr_at`` for its learning rate first. The test then kills the process there."""
    from preftree.models import tiny

    original = tiny.lr_at

    def lr_at(at: int, params: Any) -> float:
        if at == step:
            flag.write_text(str(os.getpid()))
            while True:
                time.sleep(60)
        return original(at, params)

    tiny.lr_at = lr_at  # type: ignore[assignment]


def worker(spec_path: Path) -> None:
    """Pretrain as ``spec`` says and write the result: weights digest, folder and loss-curve digests."""
    from safetensors.torch import load_file

    from preftree.base_model import train_from_scratch, write_loss_csv
    from preftree.train.common import weights_digest

    torch.set_num_threads(1)
    spec = json.loads(spec_path.read_text())
    if spec.get("block_at"):
        block_at(spec["block_at"], Path(spec["flag"]))
    out = Path(spec["out"])
    result = train_from_scratch(
        tiny_model(spec["lr"]), seed=0, out_dir=out, device=torch.device("cpu"), progress=False,
        checkpoint_steps=spec["checkpoint_steps"],
    )  # fmt: skip
    curve = out.parent / f"{out.name}_loss.csv"
    write_loss_csv(result.history, curve)
    Path(spec["result"]).write_text(
        json.dumps(
            {
                "digest": weights_digest(load_file(out / "model.safetensors")),
                "files": file_digests(out),
                "curve": curve.read_text(),
                "steps": [r["step"] for r in result.history],
            }
        )
    )


# --------------------------------------------------------------------------------------------
# helpers of the tests


def spawn(spec: dict[str, Any], work: Path, name: str) -> tuple[subprocess.Popen, Path]:
    return killrun.spawn("tests.test_base_resume", spec, work, name)


def killed_run(spec: dict[str, Any], work: Path, step: int) -> None:
    killrun.killed_run("tests.test_base_resume", spec, work, step)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The reference: lr LR, no checkpoints, never stopped."""
    work = tmp_path_factory.mktemp("base-whole")
    spec = {"lr": LR, "checkpoint_steps": 0, "out": str(work / "models" / "base")}
    whole, _ = finish(*spawn(spec, work, "whole"))
    assert whole["steps"] == list(range(1, STEPS + 1))
    return whole


# --------------------------------------------------------------------------------------------
# the tests: killed and resumed runs


def test_base_killed_and_resumed_matches_uninterrupted(uninterrupted, tmp_path):
    """Checkpoints every 50 steps; killed at step 130 (the checkpoint of step 100 exists, 101-129 are
    lost); rerun: it resumes from step 100 and ends with the uninterrupted run's bytes."""
    out = tmp_path / "models" / "base"
    spec = {"lr": LR, "checkpoint_steps": EVERY, "out": str(out)}
    killed_run(spec, tmp_path, KILL_AT)
    root = checkpoint_root(out)
    assert root == tmp_path / "models" / ".checkpoints" / "base"
    assert not out.exists(), "a killed run must not leave an output folder"
    markers = sorted(root.glob(f"checkpoint-*/{MARKER}"))
    assert [m.parent.name for m in markers] == ["checkpoint-100"]  # only the newest is kept
    assert (root / "checkpoint-100" / STATE_FILE).is_file()

    resumed, output = finish(*spawn(spec, tmp_path, "rerun"))
    assert "base: resuming from" in output and "checkpoint-100 (step 100)" in output
    assert resumed["digest"] == uninterrupted["digest"]  # bit-identical weights
    assert resumed["files"] == uninterrupted["files"]  # model.safetensors, tokenizer, card.json
    assert resumed["curve"] == uninterrupted["curve"]  # step, loss, lr, tokens of every step
    assert resumed["steps"] == list(range(1, STEPS + 1))
    assert not (tmp_path / "models" / ".checkpoints").exists(), "the checkpoints go once the model is saved"


def test_base_checkpoint_of_other_params_is_not_resumed(uninterrupted, tmp_path):
    """Killed with lr 1e-3 after its checkpoint of step 100, rerun with lr LR: the checkpoint is removed,
    pretraining starts at step 1 and ends where the uninterrupted lr LR run ends."""
    out = tmp_path / "models" / "base"
    spec = {"lr": 1e-3, "checkpoint_steps": EVERY, "out": str(out)}
    killed_run(spec, tmp_path, KILL_AT)
    assert (checkpoint_root(out) / "checkpoint-100" / MARKER).is_file()
    other, output = finish(*spawn({**spec, "lr": LR}, tmp_path, "other"))
    assert "resuming" not in output
    assert "a checkpoint of other params, data or code" in output
    assert other["digest"] == uninterrupted["digest"]
    assert other["curve"] == uninterrupted["curve"]


# --------------------------------------------------------------------------------------------
# the tests: the loop and the checkpoint files, in this process


PRETRAIN = dataclasses.replace(TINY_PRETRAIN, steps=30, batch_size=4, seq_len=32)  # a checkpoint every 10: 10, 20


@pytest.fixture(scope="module")
def blocks() -> tuple[Any, torch.Tensor]:
    corpus = synthetic_corpus(200)
    tokenizer = train_tokenizer(corpus, from_conf(TokenizerParams, "model.tokenizer", vocab_size=300))
    return tokenizer, pack_documents(tokenizer, corpus, PRETRAIN.seq_len)


def run(tokenizer: Any, blocks: torch.Tensor, *, seed: int = 7, resume: PretrainState | None = None, **kw: Any):
    """(model, records, the states ``save`` got, the global torch RNG state after) of one pretraining."""
    torch.manual_seed(0)
    model = build_model(TINY_ARCH, tokenizer, seed=3)
    saved: list[PretrainState] = []
    records = pretrain(
        model, blocks, PRETRAIN, seed=seed, progress=False, device="cpu", resume=resume, save=saved.append, **kw
    )
    return model, records, saved, torch.get_rng_state()


@pytest.fixture(scope="module")
def reference(blocks) -> tuple[str, list[dict], list[PretrainState], torch.Tensor]:
    """The uninterrupted in-process run: weights digest, records, saved states, RNG state after."""
    model, records, saved, rng = run(*blocks, save_every=10)
    return state_sha256(model), records, saved, rng


def without_seconds(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_pretrain_goes_on_from_a_saved_state_to_the_same_weights_and_records(blocks, reference):
    digest, records, saved, rng = reference
    assert [s.step for s in saved] == [10, 20]  # 30 steps: none after the last one
    assert [len(s.records) for s in saved] == [10, 20]
    assert not torch.are_deterministic_algorithms_enabled()  # deterministic() restored the setting
    for state in saved:
        moments = {k: v["exp_avg"].clone() for k, v in state.optimizer["state"].items()}
        again, again_records, again_saved, again_rng = run(*blocks, resume=state, save_every=10)
        assert all(torch.equal(state.optimizer["state"][k]["exp_avg"], v) for k, v in moments.items())  # intact
        assert state_sha256(again) == digest
        assert without_seconds(again_records) == without_seconds(records)
        assert again_records[: state.step] == state.records  # the saved rows, seconds included
        assert [s.step for s in again_saved] == [s.step for s in saved if s.step > state.step]
        assert torch.equal(again_rng, rng)
    assert state_sha256(run(*blocks)[0]) == digest  # no save hook: the same training


def test_pretrain_refuses_a_state_of_another_batch_order_or_length(blocks, reference):
    state = reference[2][0]
    with pytest.raises(ValueError, match="batch order redrawn to step 10"):
        run(*blocks, seed=8, resume=state)
    with pytest.raises(ValueError, match="cannot resume a run of 30 steps"):
        run(*blocks, resume=dataclasses.replace(state, records=state.records[:-1]))


def test_saved_state_loads_back_and_only_the_newest_checkpoint_stays(blocks, reference, tmp_path):
    digest, records, saved, _ = reference
    root = tmp_path / ".checkpoints" / "base"
    (root / "checkpoint-20").mkdir(parents=True)  # left without a marker by a kill while writing
    (root / "checkpoint-20" / STATE_FILE).write_bytes(b"torn")
    for state in saved:
        folder = save_state(root, state, "fp")
    assert sorted(p.name for p in root.iterdir()) == ["checkpoint-20"] and folder == root / "checkpoint-20"
    assert read_marker(folder) == {"fingerprint": "fp", "step": 20}
    loaded = load_state(folder)
    assert loaded.step == 20 and loaded.records == saved[1].records
    assert loaded.model.keys() == saved[1].model.keys()
    assert all(torch.equal(loaded.model[k], v) for k, v in saved[1].model.items())
    assert torch.equal(loaded.generator, saved[1].generator)
    assert loaded.rng["python"] == saved[1].rng["python"] and loaded.rng["numpy"] == saved[1].rng["numpy"]
    again, again_records, _, _ = run(*blocks, resume=loaded)  # the loaded state resumes like the one in memory
    assert state_sha256(again) == digest
    assert without_seconds(again_records) == without_seconds(records)


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
