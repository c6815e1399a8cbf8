"""MLflow lineage: one parent per pipeline execution, tagged child runs, safe concurrent DB creation."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from preftree.config.load import load_stage_params
from preftree.config.select import SelectParams
from preftree.tracking import stage_run

SECTIONS = {"seed": int, "select": SelectParams}

LOCK_MD5 = "0123456789abcdef0123456789abcdef.dir"


def _project(root: Path) -> Path:
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=root, check=True)
    (root / "dvc.yaml").write_text(
        yaml.safe_dump(
            {
                "stages": {
                    "make": {"cmd": "true", "outs": ["data/made"]},
                    "use": {
                        "cmd": "true",
                        "deps": ["data/made", "code.py"],
                        "params": ["seed", "select.heldout"],
                        "outs": ["data/used"],
                    },
                }
            }
        )
    )
    (root / "params.yaml").write_text(
        yaml.safe_dump({"seed": 3, "select": {"heldout": {"fraction": 0.2, "max_per_dataset": 5}}})
    )
    (root / "dvc.lock").write_text(
        yaml.safe_dump(
            {
                "schema": "2.0",
                "stages": {"make": {"cmd": "true", "outs": [{"path": "data/made", "hash": "md5", "md5": LOCK_MD5}]}},
            }
        )
    )
    return root


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = _project(tmp_path)
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    monkeypatch.setenv("PREFTREE_RUN_GROUP", "g1")
    for var in ("DVC_ROOT", "DVC_EXP_NAME", "DVC_STAGE"):
        monkeypatch.delenv(var, raising=False)
    return root


def _runs(root: Path) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("preftree")
    return client.search_runs([exp.experiment_id])


def test_child_run_carries_lineage_tags_params_and_metrics(project: Path) -> None:
    params = load_stage_params("use", SECTIONS, root=project)
    with stage_run(params) as run:
        run.log_metrics({"rows": 12, "per": {"gsm8k": 0.5}, "note": "text is not a metric"})
    runs = _runs(project)
    parents = [r for r in runs if r.data.tags.get("preftree.role") == "pipeline"]
    children = [r for r in runs if r.data.tags.get("preftree.role") == "stage"]
    assert len(parents) == 1 and len(children) == 1
    assert parents[0].info.status == "FINISHED" and children[0].info.status == "FINISHED"
    child = children[0]
    tags = child.data.tags
    assert tags["dvc.stage"] == "use"
    assert tags["mlflow.parentRunId"] == parents[0].info.run_id
    assert tags["dep.data/made"] == LOCK_MD5  # upstream md5 from dvc.lock; code.py is not an upstream out
    assert "dep.code.py" not in tags
    assert len(tags["params.sha256"]) == 16 and tags["git.rev"]
    assert child.data.params == {"seed": "3", "select.heldout.fraction": "0.2", "select.heldout.max_per_dataset": "5"}
    assert child.data.metrics == {"rows": 12.0, "per.gsm8k": 0.5}
    assert tags["info.note"] == "text is not a metric"  # strings reach MLflow as tags
    written = json.loads((project / "metrics" / "use.json").read_text())
    assert written == {"rows": 12, "per": {"gsm8k": 0.5}}  # the DVC metrics: numbers only
    info = json.loads((project / "metrics" / "info" / "use.json").read_text())
    assert info == {"rows": 12, "per": {"gsm8k": 0.5}, "note": "text is not a metric"}  # everything logged


def test_same_group_reuses_the_parent_and_a_failed_stage_is_marked(project: Path) -> None:
    params = load_stage_params("use", SECTIONS, root=project)
    with stage_run(params) as run:
        run.log_metrics({"ok": 1})
    metrics_file = project / "metrics" / "use.json"
    metrics_file.unlink()
    with pytest.raises(RuntimeError), stage_run(params):
        raise RuntimeError("boom")
    runs = _runs(project)
    assert sum(r.data.tags.get("preftree.role") == "pipeline" for r in runs) == 1
    statuses = sorted(r.info.status for r in runs if r.data.tags.get("preftree.role") == "stage")
    assert statuses == ["FAILED", "FINISHED"]
    assert not metrics_file.exists()  # a failed stage writes no metrics


def test_foreach_stage_metrics_path() -> None:
    from preftree.provenance import info_path, metrics_path

    assert metrics_path(Path("/r"), "align@kto") == Path("/r/metrics/align/kto.json")
    assert metrics_path(Path("/r"), "select") == Path("/r/metrics/select.json")
    assert info_path(Path("/r"), "rm@bt_dr") == Path("/r/metrics/info/rm/bt_dr.json")


def test_dvc_metrics_keep_numeric_results_only() -> None:
    """METRICS_RULE: strings, bools, nulls, timings, bookkeeping and breakdowns go to info only; of a
    curve (integer keys) the last point stays."""
    from preftree.provenance import headline_metrics

    logged = {
        "heldout_accuracy": 0.7,
        "heldout_pairs": 67,
        "loss_kind": "bt+dr",
        "weights_sha256": "ab12",
        "resumed": True,
        "sample_accuracy": None,
        "seconds": 3.2,
        "train_seconds": 1.0,
        "tokens_per_second": 9000.0,
        "threads": 2,
        "heldout_accuracy_by_task": {"Coding": 1.0},
        "benchmarks": {"tiny": {"pass@1": 0.3, "n_items": 118, "by_mode": {"cot": 0.3}, "source": "x.parquet"}},
        "families": {"Coding": {"pass@1": 0.2}},
        "tasks": {"all": {"pairs": 733, "T1": 163}, "Coding": {"pairs": 180}},
        "total": {"removed": 22},
        "model_calls": {"actor": {"calls": 48}},
        "multiturn": {"seconds": 13.0, "success@k": {"1": 0.1, "2": 0.2, "10": 0.3}},
        "best_of_n": {1: {"random": 0.1}, 16: {"random": 0.2, "greedy": None}},
        "list": [1, 2],
    }
    assert headline_metrics(logged) == {
        "heldout_accuracy": 0.7,
        "heldout_pairs": 67,
        "benchmarks": {"tiny": {"pass@1": 0.3, "n_items": 118}},
        "tasks": {"all": {"pairs": 733}},
        "total": {"removed": 22},
        "multiturn": {"success@k": {"10": 0.3}},
        "best_of_n": {"16": {"random": 0.2}},
    }


def test_concurrent_first_use_creates_one_db_and_one_parent(tmp_path: Path) -> None:
    """Four stages starting at once on a fresh store: no migration race, exactly one parent."""
    root = _project(tmp_path)
    script = textwrap.dedent(
        """
        from preftree.config.load import load_stage_params
        from preftree.config.select import SelectParams
        from preftree.tracking import stage_run
        with stage_run(load_stage_params("use", {"seed": int, "select": SelectParams})) as run:
            run.log_metrics({"x": 1})
        """
    )
    env = {
        **__import__("os").environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "PREFTREE_RUN_GROUP": "concurrent",
    }
    procs = [
        subprocess.Popen([sys.executable, "-c", script], cwd=root, env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=240)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    runs = _runs(root)
    assert sum(r.data.tags.get("preftree.role") == "pipeline" for r in runs) == 1
    assert sum(r.data.tags.get("preftree.role") == "stage" for r in runs) == 4
