"""Data-parallel training through accelerate, on CPU: SFT launched as two processes (gloo) by
``preftree.launch.launch_command`` with ``conf/accelerate/cpu2.yaml`` and a per-process batch of 4
against one process with a batch of 8: the same global batch, so the same rows per step, the same
loss curve and the same final weights, up to float reduction order.

Why not bit-identical: each process pads its 4 rows to their own longest row (matmul shapes
differ), and the gradients of the two halves are summed by an all-reduce instead of inside one
backward pass; both change the order of float additions. Measured on this machine (2 cores, torch
2.13 CPU), 24 steps: logged losses within 9.5e-7 of each other, weights within 7.9e-7 (relative to
each tensor's largest value); the test allows 10x that (docs/gpu.md#two-processes-on-cpu).

The trainings run in subprocesses (``python -m tests.test_train_distributed <spec.json>``, see
:func:`worker`), one torch thread per process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from preftree.compose import from_conf
from preftree.config.model import TokenizerParams
from preftree.config.runtime import RuntimeParams
from preftree.config.train import OptimParams, SFTParams
from preftree.launch import is_main_process, launch_command
from preftree.models.checkpoint import save_model_folder
from preftree.models.tiny import build_model
from preftree.models.tokenizer import train_tokenizer

from .conftest import REPO
from .test_train_sft import ARCH, sft_frame

# checkpoints at steps 10 and 20: saving them (every rank's RNG state, a barrier) is part of the path
RUNTIME = from_conf(RuntimeParams, "runtime", device="cpu", progress=False, checkpoint_steps=10)
OPTIM = from_conf(
    OptimParams, "sft.optim", lr=5e-3, max_steps=24, batch_size=8, max_length=64, warmup_ratio=0.1, logging_steps=2
)
SFT = from_conf(SFTParams, "sft", optim=OPTIM)
CONFIG = REPO / "conf" / "accelerate" / "cpu2.yaml"
# measured: 9.5e-7 and 7.9e-7 (2 cores, torch 2.13 CPU); 10x that allows other CPUs' kernels
LOSS_TOLERANCE = 1e-5  # absolute, per logged loss (mean over 2 steps of 8 rows)
WEIGHT_TOLERANCE = 1e-5  # relative: max |w2 - w1| / max |w1| per tensor, the largest over all tensors


# --------------------------------------------------------------------------------------------
# the worker (one process, or each of the launched ones)


def worker(spec_path: Path) -> None:
    from preftree.train.sft import train_sft

    torch.set_num_threads(1)
    spec = json.loads(spec_path.read_text())
    params = dataclasses.replace(SFT, optim=dataclasses.replace(OPTIM, batch_size=spec["batch_size"]))
    out = Path(spec["out"])
    result = train_sft(
        Path(spec["base"]), sft_frame(64, seed=0), sft_frame(8, seed=1), params,
        seed=0, runtime=RUNTIME, out_dir=out, card={"name": "sft-distributed"},
    )  # fmt: skip
    if is_main_process():
        world = int(os.environ.get("WORLD_SIZE", "1"))
        Path(spec["result"]).write_text(json.dumps({**result, "world_size": world}, default=str))


# --------------------------------------------------------------------------------------------
# the test


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = sft_frame(64, seed=0)
    corpus = frame["instruction"].to_list() + frame["response"].to_list()
    tokenizer = train_tokenizer(corpus, from_conf(TokenizerParams, "model.tokenizer", vocab_size=300))
    folder = tmp_path_factory.mktemp("distributed") / "base"
    save_model_folder(build_model(ARCH, tokenizer, seed=0), tokenizer, folder, {"name": "tiny-distributed-base"})
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(command: list[str], spec: dict[str, Any], work: Path, name: str) -> dict:
    spec_path, result = work / f"{name}.json", work / f"{name}.result.json"
    spec_path.write_text(json.dumps({**spec, "result": str(result)}))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("PREFTREE_LAUNCHED", None)
    proc = subprocess.run(
        [*command, str(spec_path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return json.loads(result.read_text())


def losses(result: dict) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r["loss"])) for r in result["log"] if "loss" in r]


def max_relative_weight_diff(one: Path, two: Path) -> float:
    from safetensors.torch import load_file

    a, b = load_file(one / "model.safetensors"), load_file(two / "model.safetensors")
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max() / a[k].abs().max().clamp_min(1e-12)) for k in a)


@pytest.mark.slow
def test_two_processes_match_one_with_the_same_global_batch(base_dir, tmp_path):
    config = tmp_path / "cpu2.yaml"  # the repo's config on a free port (other runs may hold 29517)
    text = CONFIG.read_text()
    assert "main_process_port: 29517" in text
    config.write_text(text.replace("main_process_port: 29517", f"main_process_port: {free_port()}"))
    launched = dataclasses.replace(RUNTIME, launcher="accelerate", accelerate_config=str(config))
    module = "tests.test_train_distributed"
    spec = {"base": str(base_dir)}

    one = run([sys.executable, "-m", module], {**spec, "batch_size": 8, "out": str(tmp_path / "one")}, tmp_path, "one")
    two = run(
        launch_command(module, [], launched, root=REPO),
        {**spec, "batch_size": 4, "out": str(tmp_path / "two")},
        tmp_path,
        "two",
    )

    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert not (tmp_path / ".checkpoints").exists()  # both runs removed their checkpoints once saved
    assert one["train_steps"] == two["train_steps"] == 24
    assert one["train_tokens"] == two["train_tokens"]  # the same rows were trained on, all of them
    curve_one, curve_two = losses(one), losses(two)
    assert [s for s, _ in curve_one] == [s for s, _ in curve_two] == list(range(2, 25, 2))
    diffs = [abs(a - b) for (_, a), (_, b) in zip(curve_one, curve_two, strict=True)]
    print(f"max |loss(2 processes) - loss(1 process)| over {len(diffs)} logged points: {max(diffs):.3g}")
    assert max(diffs) < LOSS_TOLERANCE, list(zip(curve_one, curve_two, strict=True))
    assert curve_one[-1][1] < curve_one[0][1] - 0.5  # it learned: the comparison is not between two flat lines
    weight_diff = max_relative_weight_diff(tmp_path / "one", tmp_path / "two")
    print(f"max relative weight difference: {weight_diff:.3g}")
    assert weight_diff < WEIGHT_TOLERANCE
    held = abs(one["heldout_loss_sft"] - two["heldout_loss_sft"])
    print(f"held-out loss {one['heldout_loss_sft']:.6f} vs {two['heldout_loss_sft']:.6f}")
    assert held < LOSS_TOLERANCE


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
