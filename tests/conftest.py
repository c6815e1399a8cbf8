"""Shared fixtures: the repo root, the offline env, a reduced pipeline copy for dvc tests, and params
entries built from conf/ (the params types declare no defaults: see preftree.compose.from_conf)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from preftree.compose import from_conf
from preftree.config.sources import FileSourceParams
from preftree.config.train import MixtureSourceParams

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO.parent / "shared" / "benchmarks"

# Never touch the network from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# What a copy of the project needs (everything else, e.g. .venv, data/, models/, is left behind).
PROJECT_FILES = (
    "conf",
    "preftree",
    "stages",
    "dvc.yaml",
    "params.yaml",
    "pyproject.toml",
    "Makefile",
    ".dvc/config",
    ".dvcignore",
    ".gitignore",
    "metrics",
    "fixtures",
)


def run_env(root: Path) -> dict[str, str]:
    """Environment for subprocesses in a pipeline copy: this interpreter's bin first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(root)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("DVC_ROOT", None)
    env.pop("DVC_STAGE", None)
    env.update(
        {
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
            "DVC_NO_ANALYTICS": "1",
        }
    )
    return env


def sh(root: Path, *cmd: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run a command in `root`, failing the test with its output when it fails."""
    proc = subprocess.run(cmd, cwd=root, env=run_env(root), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
        )
    return proc


def copy_project(dest: Path, overrides: list[str]) -> Path:
    """A fresh git + DVC project with this repo's code and params composed with `overrides`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        elif src.exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    sh(dest, "git", "init", "-q", "-b", "main")
    sh(dest, sys.executable, "-m", "preftree.compose", *overrides)
    sh(dest, "git", "add", "-A")
    sh(dest, "git", "commit", "-q", "-m", "init")
    return dest


def file_source(**changes: Any) -> FileSourceParams:
    """A sources.files entry: conf/sources/gsm8k.yaml's documented one with no dataset to read
    (hf_id and hf_config null), then `changes` (e.g. adapter=..., path=...)."""
    blank = {"hf_id": None, "hf_config": None}
    return from_conf(FileSourceParams, "sources.files.gsm8k", overrides=["sources=gsm8k"], **{**blank, **changes})


def mixture_source(**changes: Any) -> MixtureSourceParams:
    """An sft.mixture entry: conf/mixture/ultrachat.yaml with no dataset to read (hf_id null), the
    `train` split and weight 1, then `changes` (e.g. path=..., weight=..., layout=...)."""
    blank = {"hf_id": None, "split": "train", "weight": 1.0, "rows": None}
    overrides = ["+mixture@sft.mixture.ultrachat=ultrachat"]
    return from_conf(MixtureSourceParams, "sft.mixture.ultrachat", overrides=overrides, **{**blank, **changes})


@pytest.fixture(scope="session")
def smoke_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reduced copy of the pipeline, reproduced once (shared by the dvc behaviour tests)."""
    root = copy_project(tmp_path_factory.mktemp("smoke") / "proj", ["experiment=smoke"])
    sh(root, "dvc", "repro")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", "repro")
    return root
