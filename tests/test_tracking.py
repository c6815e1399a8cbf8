"""MLflow lineage: one parent per pipeline execution, tagged child runs, safe concurrent DB creation."""

from __future__ import annotations

import hashlib
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
    (project / "code.py").write_text("x = 1\n")
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
    assert "dep.data/made" not in tags  # the stage's input is not there: nothing was read, nothing recorded
    assert tags["dep.code.py"] == hashlib.md5(b"x = 1\n").hexdigest()  # a data dep (not under preftree/, stages/)
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


def test_dep_tags_are_md5s_of_the_bytes_read_not_dvc_lock(project: Path) -> None:
    made = project / "data" / "made"
    made.mkdir(parents=True)
    (made / "rows.jsonl").write_text('{"a": 1}\n')
    params = load_stage_params("use", SECTIONS, root=project)
    with stage_run(params):
        pass
    (child,) = [r for r in _runs(project) if r.data.tags.get("preftree.role") == "stage"]
    entries = [{"md5": hashlib.md5(b'{"a": 1}\n').hexdigest(), "relpath": "rows.jsonl"}]
    expected = hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"  # as DVC 3 hashes it
    assert child.data.tags["dep.data/made"] == expected != LOCK_MD5


# --- git.dirty, datasets, logged models, experiment kind and portable artifacts (issue 18) ---------


def _git(root: Path, *args: str) -> str:
    env = {**__import__("os").environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t"}
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True).stdout


def _stage_child(root: Path, stage: str = "use"):
    runs = [r for r in _runs(root) if r.data.tags.get("dvc.stage") == stage]
    assert len(runs) == 1
    return runs[0]


def test_git_dirty_counts_source_files_not_what_the_pipeline_writes(project: Path) -> None:
    (project / "code.py").write_text("x = 1\n")
    (project / "metrics").mkdir()
    (project / "metrics" / "use.json").write_text("{}\n")
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "init")
    # what a `dvc repro` / `dvc exp run -S` writes: tracked dvc.lock, params.yaml, metrics; new outputs
    (project / "dvc.lock").write_text((project / "dvc.lock").read_text() + "# rewritten\n")
    (project / "params.yaml").write_text((project / "params.yaml").read_text().replace("3", "4"))
    (project / "metrics" / "use.json").write_text('{"rows": 1}\n')
    (project / "data" / "made").mkdir(parents=True)
    (project / "data" / "made" / "rows.jsonl").write_text("{}\n")
    (project / "mlruns").mkdir()
    (project / "mlruns" / "x").write_text("")
    params = load_stage_params("use", SECTIONS, root=project)
    with stage_run(params):
        pass
    tags = _stage_child(project).data.tags
    assert tags["git.dirty"] == "false" and "git.dirty_paths" not in tags
    # a source edit and a new source file make it dirty, and are named
    (project / "code.py").write_text("x = 2\n")
    (project / "new_module.py").write_text("")
    with stage_run(params):
        pass
    runs = [r for r in _runs(project) if r.data.tags.get("dvc.stage") == "use"]
    child = max(runs, key=lambda r: r.info.start_time)
    assert child.data.tags["git.dirty"] == "true"
    assert child.data.tags["git.dirty_paths"] == "code.py\nnew_module.py"
    listed = project / "mlruns" / "preftree" / child.info.run_id / "artifacts" / "git_dirty.txt"
    assert listed.read_text() == "code.py\nnew_module.py\n"


def test_porcelain_paths_and_the_dirty_tag() -> None:
    from preftree.tracking_git import TAG_PATHS, dirty_tags, is_pipeline_output, porcelain_paths

    text = " M src/a.py\0R  new.py\0old.py\0?? data/x.parquet\0?? metrics.py\0 D gone.py\0"
    assert porcelain_paths(text) == ["src/a.py", "new.py", "data/x.parquet", "metrics.py", "gone.py"]
    assert [p for p in porcelain_paths(text) if not is_pipeline_output(p)] == [
        "src/a.py",
        "new.py",
        "metrics.py",
        "gone.py",
    ]
    assert (
        is_pipeline_output("dvc.lock") and is_pipeline_output("metrics/a/b.json") and not is_pipeline_output("dvc.yaml")
    )
    assert dirty_tags(None) == {"git.dirty": "unknown"}
    many = dirty_tags([f"f{i}.py" for i in range(TAG_PATHS + 5)])
    assert many["git.dirty_paths"].splitlines()[-1] == "... and 5 more (artifact git_dirty.txt)"


def _parquet(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def test_inputs_are_logged_as_datasets_with_dvc_digest_rows_and_schema(project: Path) -> None:
    from preftree.dvchash import dvc_md5

    made = project / "data" / "made"
    turns = [{"role": "user", "content": "hi"}]
    _parquet(made / "a.parquet", [{"id": "r1", "n": 1, "turns": turns}, {"id": "r2", "n": 2, "turns": turns}])
    _parquet(made / "b.parquet", [{"other": 1.5}])
    (project / "code.py").write_text("x = 1\n")
    params = load_stage_params("use", SECTIONS, root=project)
    with stage_run(params):
        pass
    inputs = {i.dataset.name: i for i in _stage_child(project).inputs.dataset_inputs}
    assert set(inputs) == {"data/made", "code.py"}
    made_in = inputs["data/made"]
    assert made_in.dataset.digest == dvc_md5(made)  # the md5 DVC records for the folder
    assert json.loads(made_in.dataset.source) == {"uri": "data/made"}
    assert json.loads(made_in.dataset.profile) == {"files": 2, "num_rows": 3}  # rows summed over the folder
    cols = json.loads(made_in.dataset.schema)["mlflow_colspec"]  # the schema of the first file
    assert [(c["name"], c["type"]) for c in cols] == [("id", "string"), ("n", "long"), ("turns", "array")]
    assert cols[2]["items"]["type"] == "object"
    assert {t.key: t.value for t in made_in.tags} == {"mlflow.data.context": "input"}
    assert inputs["code.py"].dataset.digest == hashlib.md5(b"x = 1\n").hexdigest()
    assert "num_rows" not in json.loads(inputs["code.py"].dataset.profile)


def _training_project(root: Path) -> None:
    spec = yaml.safe_load((root / "dvc.yaml").read_text())
    spec["stages"]["train"] = {
        "cmd": "true",
        "deps": ["models/up", "data/made"],
        "params": ["seed"],
        "outs": ["models/down"],
    }
    spec["stages"]["later"] = {"cmd": "true", "deps": ["models/down"], "outs": ["data/later"]}
    (root / "dvc.yaml").write_text(yaml.safe_dump(spec))
    (root / "models" / "up").mkdir(parents=True)
    (root / "models" / "up" / "config.json").write_text("{}")
    (root / "data" / "made").mkdir(parents=True)
    (root / "data" / "made" / "rows.jsonl").write_text("{}\n")


def test_a_training_stage_registers_an_external_logged_model_at_its_dvc_folder(project: Path) -> None:
    from mlflow.entities import LoggedModelStatus
    from mlflow.tracking import MlflowClient

    from preftree.dvchash import dvc_md5
    from preftree.models.checkpoint import render_card
    from preftree.provenance import lineage_card

    _training_project(project)
    params = load_stage_params("train", {"seed": int}, root=project)
    with stage_run(params) as run:
        card = lineage_card(params)
        out = project / "models" / "down"
        out.mkdir()
        (out / "model.safetensors").write_bytes(b"weights")
        (out / "card.json").write_text(json.dumps(card))
        (out / "README.md").write_text(render_card(card))
        run.log_metrics({"heldout_loss": 0.5, "curve": 1.0})
        run.log_metrics({"train/loss": 2.0}, step=3)
    assert card["base_model"] == "models/up"
    assert "base_model: models/up" in (out / "README.md").read_text().split("---")[1]  # HF front matter
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    child = _stage_child(project, "train")
    (model,) = client.search_logged_models([child.info.experiment_id])
    assert model.name == "down" and model.status == LoggedModelStatus.READY
    assert model.source_run_id == child.info.run_id
    assert model.tags["preftree.model_dir"] == "models/down" and model.tags["mlflow.model.isExternal"] == "true"
    assert model.tags["dvc.md5"] == dvc_md5(out) and model.tags["base_model"] == "models/up"
    assert model.params == {"seed": "3"}
    assert {m.key: m.value for m in model.metrics} == {"heldout_loss": 0.5, "curve": 1.0}  # summary metrics only
    child = client.get_run(child.info.run_id)
    assert [o.model_id for o in child.outputs.model_outputs] == [model.model_id]
    assert [i.model_id for i in child.inputs.model_inputs] == []  # models/up has no logged model
    assert model.artifact_location.startswith("mlflow-artifacts:/")
    stored = project / "mlruns" / model.artifact_location.removeprefix("mlflow-artifacts:/")
    assert sorted(p.name for p in stored.iterdir()) == ["MLmodel", "README.md", "card.json"]  # no weights
    # the stage that reads models/down lists the model among its inputs
    with stage_run(load_stage_params("later", {}, root=project)):
        pass
    later = client.get_run(_stage_child(project, "later").info.run_id)
    assert [i.model_id for i in later.inputs.model_inputs] == [model.model_id]
    # a failed training run leaves a FAILED model
    with pytest.raises(RuntimeError), stage_run(params):
        raise RuntimeError("boom")
    statuses = {m.status for m in client.search_logged_models([child.info.experiment_id])}
    assert statuses == {LoggedModelStatus.READY, LoggedModelStatus.FAILED}


def test_the_experiment_is_model_training_and_its_artifacts_are_proxied(project: Path) -> None:
    from mlflow.tracking import MlflowClient

    params = load_stage_params("use", SECTIONS, root=project)
    note = project / "note.txt"
    note.write_text("an artifact\n")
    with stage_run(params) as run:
        run.log_artifact(note, "notes")
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    exp = client.get_experiment_by_name("preftree")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert exp.artifact_location == "mlflow-artifacts:/preftree"  # names no folder of this machine
    child = _stage_child(project)
    assert child.info.artifact_uri == f"mlflow-artifacts:/preftree/{child.info.run_id}/artifacts"
    assert (project / "mlruns" / "preftree" / child.info.run_id / "artifacts" / "notes" / "note.txt").is_file()


def test_artifact_locations_name_no_folder_and_a_tracking_server_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from preftree.tracking_store import artifacts_destination, experiment_artifact_location, local_artifact_dir

    assert experiment_artifact_location("my exp/1", "sqlite:////x/mlflow.db") == "mlflow-artifacts:/my_exp_1"
    assert experiment_artifact_location("preftree", "http://127.0.0.1:5000") is None
    monkeypatch.delenv("PREFTREE_ARTIFACTS_DIR", raising=False)
    assert artifacts_destination(tmp_path, "sqlite:///db") == tmp_path / "mlruns"
    assert artifacts_destination(tmp_path, "https://mlflow.example") is None
    monkeypatch.setenv("PREFTREE_ARTIFACTS_DIR", str(tmp_path / "store"))
    assert artifacts_destination(tmp_path, "sqlite:///db") == tmp_path / "store"
    assert local_artifact_dir("mlflow-artifacts:/e/r/artifacts", tmp_path) == tmp_path / "e" / "r" / "artifacts"
    assert local_artifact_dir("file:///abs/mlruns/1/r/artifacts", tmp_path) is None  # MLflow's client uploads
    assert local_artifact_dir("mlflow-artifacts:/e/r/artifacts", None) is None
    with pytest.raises(ValueError, match="may not climb out"):
        local_artifact_dir("mlflow-artifacts:/e/../../etc", tmp_path)
