"""`make params OVERRIDES=...` passes overrides through unchanged, and `make repro` keeps them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from preftree.params_file import changed_keys, plan_refresh, read_header, sha, split_overrides, with_header

from .conftest import REPO

HUMANEVAL = REPO.parent / "shared" / "benchmarks" / "humaneval" / "HumanEval.jsonl.gz"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("experiment=smoke seed=1", ["experiment=smoke", "seed=1"]),
        (
            "+eval.benchmarks.humaneval={path: /data/HumanEval.jsonl.gz, limit: null} seed=3",
            ["+eval.benchmarks.humaneval={path: /data/HumanEval.jsonl.gz, limit: null}", "seed=3"],
        ),
        ("'+x={a: 1, b: [1, 2]}'  y=2", ["+x={a: 1, b: [1, 2]}", "y=2"]),  # shell-style quotes dropped
        ("actor.model='my model' z=\"a b\"", ["actor.model='my model'", 'z="a b"']),  # Hydra quotes kept
        ("  ", []),
    ],
)
def test_split_overrides_keeps_braces_spaces_and_quotes(text: str, expected: list[str]) -> None:
    assert split_overrides(text) == expected


def test_split_overrides_refuses_unbalanced_text() -> None:
    with pytest.raises(ValueError, match="unbalanced brackets"):
        split_overrides("+x={a: 1")
    with pytest.raises(ValueError, match="unbalanced quote"):
        split_overrides("x='a")


def test_plan_refresh_keeps_compositions_and_recomposes_only_on_conf_changes() -> None:
    body = "seed: 1\n"
    mine = with_header(body, "conf-a", ["seed=1"])
    assert read_header(mine) == ({"body": sha(body), "conf": "conf-a", "overrides": ["seed=1"]}, body)
    assert plan_refresh(None, "conf-a").action == "compose"
    keep = plan_refresh(mine, "conf-a")
    assert (keep.action, keep.overrides) == ("keep", ["seed=1"])
    again = plan_refresh(mine, "conf-b")
    assert (again.action, again.overrides) == ("compose", ["seed=1"])
    assert plan_refresh(body, "conf-b").action == "keep"  # written by dvc exp run: never replaced
    edited = mine.replace("seed: 1", "seed: 2")
    assert plan_refresh(edited, "conf-a").action == "keep"
    assert plan_refresh(edited, "conf-b").action == "conflict"


def test_changed_keys_lists_what_a_recomposition_replaced() -> None:
    assert changed_keys({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}, "d": 0}) == ["a.c: 2 -> 3", "d: None -> 0"]


def fake_venv(root: Path) -> Path:
    """A VENV whose python is this interpreter and whose dvc only records that it ran."""
    venv = root / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    dvc = venv / "bin" / "dvc"
    dvc.write_text('#!/bin/sh\necho "dvc $*" >> "$PWD/dvc-calls.txt"\n')
    for script in (python, dvc):
        script.chmod(0o755)
    (venv / ".installed-stamp").touch()
    return venv


def make(project: Path, venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OVERRIDES", "MAKEFLAGS", "MAKELEVEL")}
    env["PYTHONPATH"] = str(project)
    stamp = str(venv / ".installed-stamp")
    return subprocess.run(
        ["make", "--no-print-directory", "-o", stamp, f"VENV={venv}", *args],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_readme_override_examples_pass_through_the_makefile_and_repro_keeps_them(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    for name in ("conf", "preftree", "Makefile", "dvc.yaml", "pyproject.toml"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, project / name)
    venv = fake_venv(tmp_path)
    bench = HUMANEVAL if HUMANEVAL.exists() else (project / "he.jsonl")
    bench.touch(exist_ok=True)
    overrides = f"experiment=smoke +eval.benchmarks.humaneval={{path: {bench}, limit: null}} seed=3"
    done = make(project, venv, "params", f"OVERRIDES={overrides}")
    assert done.returncode == 0, done.stderr
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["eval"]["benchmarks"]["humaneval"] == {"path": str(bench), "limit": None}
    assert (
        params["seed"] == 3
        and params["interact"]["limit"]
        == yaml.safe_load((REPO / "conf/experiment/smoke.yaml").read_text())["interact"]["limit"]
    )
    composed_text = (project / "params.yaml").read_text()

    # make repro right after keeps that composition, then runs dvc repro
    done = make(project, venv, "repro")
    assert done.returncode == 0, done.stderr
    assert "kept" in done.stdout
    assert (project / "params.yaml").read_text() == composed_text
    assert (project / "dvc-calls.txt").read_text().strip() == "dvc repro"

    # after a conf/ edit, repro recomposes with the same overrides and says what changed
    config = project / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("max_reject_rate: 0.05", "max_reject_rate: 0.07"))
    done = make(project, venv, "repro")
    assert done.returncode == 0, done.stderr
    assert "recomposing with overrides" in done.stdout and "select.max_reject_rate: 0.05 -> 0.07" in done.stdout
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["seed"] == 3 and "humaneval" in params["eval"]["benchmarks"]

    # a bad override fails in one line and leaves params.yaml alone
    before = (project / "params.yaml").read_text()
    done = make(project, venv, "params", "OVERRIDES=interact.max_turns=0")
    assert done.returncode != 0
    assert "error: params.yaml: interact.max_turns: 0 is out of range, allowed [1, inf)" in done.stderr
    assert (project / "params.yaml").read_text() == before
