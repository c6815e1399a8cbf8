"""MLflow tracking: one parent run per pipeline execution, one child run per stage.

The parent groups a pipeline execution: ``PREFTREE_RUN_GROUP`` (``make repro`` sets one per call),
else ``DVC_EXP_NAME`` (``dvc exp run``), else the git rev. Each stage's child run is tagged with the
stage name, git rev, a hash of its declared params and, as ``dep.<path>``, the md5 of each data dep
hashed from the bytes there at the start, as DVC hashes them (:mod:`preftree.dvchash`); it holds the
declared params and the stage's metrics, which also go to ``metrics/<stage>.json`` (git-tracked) so
``dvc metrics show`` / ``dvc exp show`` see them. ``git.dirty`` counts source files only
(:mod:`preftree.tracking_git`); the data deps are also the run's input datasets
(:mod:`preftree.tracking_data`), and each model folder a stage writes is an external logged model
(:mod:`preftree.tracking_model`). The experiment is tagged for MLflow's model-training view and
keeps its artifacts under ``mlflow-artifacts:/`` so a moved clone still opens
(:mod:`preftree.tracking_store`).

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
from preftree.provenance import git_rev, tracking_root, upstream_model, write_stage_metrics
from preftree.tracking_git import dirty_source_paths, dirty_tags
from preftree.tracking_store import (
    artifacts_destination,
    experiment_artifact_location,
    write_artifact,
    write_text_artifact,
)

EXPERIMENT = "preftree"
# MLflow 3's experiment kind: the UI's "Machine learning" (runs, models) view, not the GenAI one
EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
DIRTY_FILE = "git_dirty.txt"  # the full list of dirty source paths, when there are any


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


def experiment_id(client: Any, uri: str) -> str:
    """The experiment's id, created on first use (call under _store_lock): artifact location
    ``mlflow-artifacts:/<name>`` (:mod:`preftree.tracking_store`), kind "machine learning"."""
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
    found = client.get_experiment_by_name(name)
    if found is None:
        location = experiment_artifact_location(name, uri)
        return client.create_experiment(name, artifact_location=location, tags={EXPERIMENT_KIND: MODEL_TRAINING})
    if found.tags.get(EXPERIMENT_KIND) != MODEL_TRAINING:  # made by an older preftree or by hand
        client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)
    return found.experiment_id


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
    """A stage's child run: log metrics here; they also land in metrics/<stage>.json on exit.

    ``model_id``: the logged model of the stage's output folder, which its summary metrics are
    linked to; ``artifact_uri`` / ``destination``: where its artifacts go (:mod:`preftree.tracking_store`)."""

    stage: str
    run_id: str
    metrics: dict[str, Any]
    artifact_uri: str = ""
    destination: Path | None = None
    model_id: str | None = None

    def log_metrics(self, values: Mapping[str, Any], step: int | None = None) -> None:
        """Log numeric values (nested keys flattened with '.'); without a step they are summary metrics
        (linked to the stage's logged model), and the other leaves (strings, bools, nulls, lists)
        become ``info.<key>`` tags of the run."""
        import mlflow

        leaves = flatten(values)
        numeric = {k: v for k, v in leaves.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        flat = {metric_name(k): float(v) for k, v in numeric.items()}
        if flat:
            if step is None and self.model_id:  # run_id: MLflow then sees the model among the run's outputs
                mlflow.log_metrics(flat, run_id=self.run_id, model_id=self.model_id)
            else:
                mlflow.log_metrics(flat, step=step)
        if step is None:
            tags = {f"info.{k}": json.dumps(v) if not isinstance(v, str) else v
                    for k, v in leaves.items() if k not in numeric}  # fmt: skip
            if tags:
                mlflow.set_tags({k: v[:5000] for k, v in tags.items()})
            self.metrics.update(values)

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        """Copy a file (or folder) into the run's artifacts: written straight into the artifacts
        destination for a proxied (``mlflow-artifacts:``) location, else uploaded by MLflow."""
        import mlflow

        if not write_artifact(self.artifact_uri, self.destination, Path(path), folder):
            mlflow.log_artifact(str(path), artifact_path=folder)

    def log_text(self, text: str, name: str) -> None:
        import mlflow

        if not write_text_artifact(self.artifact_uri, self.destination, text, name):
            mlflow.log_text(text, name)


class SilentRun(StageRun):
    """What non-main processes of a distributed launch get: logging is the main process's job."""

    def log_metrics(self, values: Mapping[str, Any], step: int | None = None) -> None:
        return None

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        return None

    def log_text(self, text: str, name: str) -> None:
        return None


def stage_param_values(raw: Mapping[str, Any]) -> dict[str, str]:
    """The stage's declared params as MLflow params: flattened keys, lists and maps as JSON, 500 chars."""
    flat = {k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in flatten(raw).items()}
    return {k: str(v)[:500] for k, v in flat.items()}


@contextlib.contextmanager
def stage_run(params: StageParams) -> Iterator[StageRun]:
    """Open the stage's child run under the pipeline's parent; write metrics/<stage>.json on success.

    The run records its data inputs as datasets (:mod:`preftree.tracking_data`), links the logged
    models of the model folders it reads, and registers a logged model per model folder it writes
    (:mod:`preftree.tracking_model`). In a distributed launch only the main process (RANK 0)
    tracks; the others get a SilentRun."""
    if os.environ.get("RANK", "0") != "0":
        yield SilentRun(stage=params.stage, run_id="", metrics={})
        return
    import mlflow
    from mlflow.tracking import MlflowClient

    from preftree.dvchash import input_digests
    from preftree.dvcinfo import stage_info
    from preftree.tracking_data import stage_datasets
    from preftree.tracking_model import fail_models, finish_models, link_upstream_models, model_outputs, start_models

    root = workspace_root()
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    group = group_key(root)
    with _store_lock(uri):
        client = MlflowClient(uri)  # builds the store: first use creates and migrates the DB
        exp_id = experiment_id(client, uri)
        parent = parent_run_id(client, exp_id, group, root)
    info = stage_info(params.stage, root.resolve())
    digests = input_digests(params.stage, root, missing_ok=True)
    dirty = dirty_source_paths(root)
    tags = {
        "preftree.group": group,
        "preftree.role": "stage",
        "dvc.stage": params.stage,
        "git.rev": git_rev(root),
        **dirty_tags(dirty),
        "params.sha256": params_hash(params.raw),
        "dvc.exp_name": os.environ.get("DVC_EXP_NAME", ""),
        "dvc.baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV", ""),
        "dvc.cmd": info.cmd,
        **{f"dep.{path}": md5 for path, md5 in digests.items()},
    }
    param_values = stage_param_values(params.raw)
    destination = artifacts_destination(tracking_root(), uri)
    mlflow.set_experiment(experiment_id=exp_id)
    with mlflow.start_run(run_name=params.stage, parent_run_id=parent, tags=tags) as active:
        run_id = active.info.run_id
        mlflow.log_params(param_values)
        inputs = stage_datasets(params.stage, digests, root)
        if inputs:
            mlflow.log_inputs([d for d, _ in inputs], contexts=[c for _, c in inputs], tags_list=[None] * len(inputs))
        link_upstream_models(client, exp_id, run_id, digests, root)
        folders = model_outputs(info.outs)
        models = start_models(
            client, exp_id, run_id, params.stage, folders, upstream_model(info.data_deps), param_values
        )
        run = StageRun(
            params.stage, run_id, {}, active.info.artifact_uri, destination, models[0].model_id if models else None
        )
        if dirty:
            run.log_text("".join(f"{p}\n" for p in dirty), DIRTY_FILE)
        try:
            yield run
        except BaseException:
            fail_models(client, models)
            raise
        finish_models(client, models, root, destination)
        write_stage_metrics(root, params.stage, run.metrics)
