"""The interact stage for real (scripted agents, real sandbox) on a reduced config: kill -9 and
resume gives the uninterrupted result, a rerun makes zero model calls, the trees look like
UltraInteract's."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from .conftest import copy_project, run_env, sh

pytestmark = pytest.mark.slow
OVERRIDES = ["experiment=smoke", "interact.limit=40", "interact.shard_size=5"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("interact") / "proj", OVERRIDES)
    sh(root, "dvc", "repro", "select")
    return root


def _run_stage(root: Path) -> dict:
    sh(root, sys.executable, "-m", "stages.interact")
    return json.loads((root / "metrics/info/interact.json").read_text())  # everything the stage logged


def _nodes(root: Path) -> pl.DataFrame:
    return pl.read_parquet(root / "data/interact/nodes.parquet")


def test_trees_have_ultrainteract_shape(project: Path) -> None:
    metrics = _run_stage(project)
    nodes, trees = _nodes(project), pl.read_parquet(project / "data/interact/trees.parquet")
    assert trees.height == 40 and set(trees["task"]) == {"Math_CoT", "Math_PoT", "Coding", "Logic"}
    assert nodes.filter(pl.col("role") == "chosen")["correct"].all()
    assert not nodes.filter(pl.col("role") == "rejected")["correct"].any()
    ids = nodes["pair_id"].str.split("_")
    assert (ids.list.get(0).str.len_chars() == 64).all()
    assert (ids.list.get(1).cast(pl.Int32) == nodes["depth"]).all()
    assert (ids.list.get(2).cast(pl.Int32) == nodes["turn"]).all()
    assert (nodes["tree_id"] == nodes["instruction_id"]).all()
    later = nodes.filter(pl.col("turn") > 1)
    assert later["parent_id"].is_not_null().all()
    assert set(later["parent_id"]) <= set(nodes.filter(pl.col("expanded"))["node_id"])
    assert nodes.filter(pl.col("expanded"))["critique"].str.len_chars().min() > 0
    pot = nodes.filter(pl.col("mode") == "pot")
    assert pot["observation"].str.starts_with("Out:").all()
    assert metrics["tasks"]["all"]["instructions"] == 40
    assert sum(metrics["tasks"]["all"][f"T{k}"] for k in range(1, 6)) == 40


def test_kill_9_then_resume_equals_an_uninterrupted_run(project: Path) -> None:
    reference = _nodes(project) if (project / "data/interact").exists() else None
    if reference is None:
        _run_stage(project)
        reference = _nodes(project)
    shutil.rmtree(project / ".preftree-cache")
    shutil.rmtree(project / "data/interact")
    proc = subprocess.Popen(
        [sys.executable, "-m", "stages.interact"],
        cwd=project,
        env=run_env(project),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 120
    ckpt = project / ".preftree-cache/interact"
    while time.time() < deadline and not list(ckpt.glob("*/shard-00002")):
        assert proc.poll() is None, "the stage finished before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in next(ckpt.iterdir()).glob("shard-*"))
    assert 3 <= len(done) < 8 and not (project / "data/interact").exists()
    metrics = _run_stage(project)
    assert metrics["shards"]["resumed"] == len(done) and metrics["shards"]["computed"] == 8 - len(done)
    resumed = _nodes(project)
    assert resumed["node_id"].is_unique().all()
    assert resumed.equals(reference)


def test_rerun_with_the_same_config_makes_zero_model_calls(project: Path) -> None:
    if not (project / "data/interact").exists():
        _run_stage(project)
    reference = _nodes(project)
    shutil.rmtree(project / ".preftree-cache/interact")  # keep only the call cache
    metrics = _run_stage(project)
    calls = metrics["model_calls"]
    assert {name: c["calls"] for name, c in calls.items()} == {"actor": 0, "weak": 0, "critic": 0}
    assert calls["actor"]["cache_hits"] > 0 and calls["critic"]["cache_hits"] > 0
    assert _nodes(project).equals(reference)
