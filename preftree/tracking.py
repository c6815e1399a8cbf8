"""MLflow tracking: one parent run per pipeline execution, one child run per stage.

The parent groups a pipeline execution: ``PREFTREE_RUN_GROUP`` (``make repro`` sets one per call),
else ``DVC_EXP_NAME`` (``dvc exp run``), else the git rev. Each stage's child run is tagged with the
stage name, git rev, a hash of its declared params and the md5 of each upstream output read from
``dvc.lock``; it holds the declared params and the stage's metrics, which also go to
``metrics/<stage>.json`` (git-tracked) so ``dvc metrics show`` / ``dvc exp show`` see them.

The store defaults to ``sqlite:///<repo root>/mlflow.db`` (``DVC_ROOT`` is the main repo even in
queued / temp experiments, whose cwd is a temp copy); ``MLFLOW_TRACKING_URI`` overrides it.
Creating the database and the parent run happen under a file lock, so stages that start at
once (``dvc queue start -j 2``) neither race alembic's migrations nor create two parents.
``dvc.lock`` stays the authoritative record: run-cache hits skip a stage's script, and then no
child run exists for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preftree.config.load import StageParams
from preftree.config.workspace import workspace_root
from preftree.provenance import git_rev, run_git, tracking_root, write_stage_metrics

EXPERIMENT = "preftree"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{tracking_root() / 'mlflow.db'}"


def group_key(root: Path) -> str:
    return os.environ.get("PREFTREE_RUN_GROUP") or os.environ.get("DVC_EXP_NAME") or git_rev(root)[:12]


def params_hash(raw: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:16]


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """Serialise DB creation and parent lookup for a local sqlite store (no-op otherwise)."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    lock_path = Path(uri.removeprefix("sqlite:///") + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _experiment_id(client: Any, root: Path) -> str:
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    # Anchor artifacts at the repo root too: the default is ./mlruns relative to cwd.
    return client.create_experiment(name, artifact_location=(root / "mlruns").as_uri())


def parent_run_id(client: Any, experiment_id: str, group: str, root: Path) -> str:
    """The pipeline run for this group, created on first use (call under _store_lock)."""
    query = f"tags.`preftree.group` = '{group}' and tags.`preftree.role` = 'pipeline'"
    runs = client.search_runs([experiment_id], filter_string=query, max_results=1)
    if runs:
        return runs[0].info.run_id
    run = client.create_run(
        experiment_id,
        run_name=f"pipeline {group}",
        tags={
            "preftree.group": group,
            "preftree.role": "pipeline",
            "git.rev": git_rev(root),
            "dvc.exp_name": os.environ.get("DVC_EXP_NAME", ""),
            "dvc.baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV", ""),
        },
    )
    # The parent only groups its children (stages may come and go over several `dvc repro` calls):
    # mark it finished at once so the MLflow UI never shows a pipeline stuck in RUNNING.
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def metric_name(key: str) -> str:
    """An MLflow-valid metric name: characters other than letters, digits, ``_ - . / : `` and space become
    ``_`` ("benchmarks.tiny.pass@1" -> "benchmarks.tiny.pass_1")."""
    return re.sub(r"[^\w\-./: ]", "_", key)


@dataclass
class StageRun:
    """A stage's child run: log metrics here; they also land in metrics/<stage>.json on exit."""

    stage: str
    run_id: str
    metrics: dict[str, Any]

    def log_metrics(self, values: Mapping[str, Any], step: int | None = None) -> None:
        """Log numeric values (nested keys flattened with '.'); without a step they are summary metrics,
        and the other leaves (strings, bools, nulls, lists) become ``info.<key>`` tags of the run."""
        import mlflow

        leaves = flatten(values)
        numeric = {k: v for k, v in leaves.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        flat = {metric_name(k): float(v) for k, v in numeric.items()}
        if flat:
            mlflow.log_metrics(flat, step=step)
        if step is None:
            tags = {f"info.{k}": json.dumps(v) if not isinstance(v, str) else v
                    for k, v in leaves.items() if k not in numeric}  # fmt: skip
            if tags:
                mlflow.set_tags({k: v[:5000] for k, v in tags.items()})
            self.metrics.update(values)

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        import mlflow

        mlflow.log_artifact(str(path), artifact_path=folder)


class SilentRun(StageRun):
    """What non-main processes of a distributed launch get: logging is the main process's job."""

    def log_metrics(self, values: Mapping[str, Any], step: int | None = None) -> None:
        return None

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        return None


@contextlib.contextmanager
def stage_run(params: StageParams) -> Iterator[StageRun]:
    """Open the stage's child run under the pipeline's parent; write metrics/<stage>.json on success.

    In a distributed launch only the main process (RANK 0) tracks; the others get a SilentRun."""
    if os.environ.get("RANK", "0") != "0":
        yield SilentRun(stage=params.stage, run_id="", metrics={})
        return
    import mlflow
    from mlflow.tracking import MlflowClient

    from preftree.dvcinfo import stage_info, upstream_md5s

    root = workspace_root()
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    group = group_key(root)
    with _store_lock(uri):
        client = MlflowClient(uri)  # builds the store: first use creates and migrates the DB
        experiment_id = _experiment_id(client, tracking_root())
        parent = parent_run_id(client, experiment_id, group, root)
    info = stage_info(params.stage, root.resolve())
    tags = {
        "preftree.group": group,
        "preftree.role": "stage",
        "dvc.stage": params.stage,
        "git.rev": git_rev(root),
        "git.dirty": str(bool(run_git(root, "status", "--porcelain", "--untracked-files=no"))).lower(),
        "params.sha256": params_hash(params.raw),
        "dvc.exp_name": os.environ.get("DVC_EXP_NAME", ""),
        "dvc.baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV", ""),
        "dvc.cmd": info.cmd,
        **{f"dep.{path}": md5 for path, md5 in upstream_md5s(info.deps, root).items()},
    }
    mlflow.set_experiment(experiment_id=experiment_id)
    with mlflow.start_run(run_name=params.stage, parent_run_id=parent, tags=tags) as active:
        flat = {k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in flatten(params.raw).items()}
        mlflow.log_params({k: str(v)[:500] for k, v in flat.items()})
        run = StageRun(stage=params.stage, run_id=active.info.run_id, metrics={})
        yield run
        write_stage_metrics(root, params.stage, run.metrics)
