"""A stage's output model folder as an MLflow *external* logged model: no copy of the weights.

A stage that writes a folder under ``models/`` (base, sft, align@*, rm@*) gets one logged model per
such folder, created when its run starts (status PENDING) and finalized when it ends: READY with
tags ``preftree.model_dir`` (the DVC-tracked folder, relative to the repository root), ``dvc.md5``
(the md5 DVC records for it) and ``base_model`` (the model folder it started from), the stage's
params as its params, the stage's summary metrics linked to it, and as artifacts the folder's
model card (``card.json``, ``README.md``) and an ``MLmodel`` file marking it external; FAILED when
the stage fails. The run lists it among its outputs; a later stage that reads the folder lists it
among its inputs (:func:`link_upstream_models`, matched by ``dvc.md5``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preftree.dvchash import dvc_md5
from preftree.tracking_store import local_artifact_dir, write_artifact

MODEL_ROOT = "models/"
MODEL_TYPE = "transformers"
CARD_FILES = ("card.json", "README.md")
IS_EXTERNAL = "mlflow.model.isExternal"  # mlflow.utils.mlflow_tags.MLFLOW_MODEL_IS_EXTERNAL


def model_outputs(outs: Iterable[str]) -> list[str]:
    """The outputs of a stage that are model folders (``models/...``)."""
    return [o for o in outs if o.startswith(MODEL_ROOT)]


def model_name(folder: str) -> str:
    """``models/rm/bt`` -> ``rm-bt``: the logged model's name."""
    return folder.removeprefix(MODEL_ROOT).replace("/", "-")


@dataclass(frozen=True)
class StageModel:
    model_id: str
    folder: str  # relative to the repository root
    artifact_location: str


def start_models(
    client: Any,
    experiment_id: str,
    run_id: str,
    stage: str,
    folders: list[str],
    base_model: str | None,
    params: Mapping[str, str],
) -> list[StageModel]:
    """A PENDING logged model per folder, listed as an output of the run (step 0)."""
    from mlflow.entities import LoggedModelOutput

    models = []
    for folder in folders:
        tags = {IS_EXTERNAL: "true", "preftree.model_dir": folder, "dvc.stage": stage}
        if base_model:
            tags["base_model"] = base_model
        made = client.create_logged_model(
            experiment_id=experiment_id,
            name=model_name(folder),
            source_run_id=run_id,
            tags=tags,
            params=dict(params),
            model_type=MODEL_TYPE,
        )
        models.append(StageModel(made.model_id, folder, made.artifact_location))
    if models:
        client.log_outputs(run_id, [LoggedModelOutput(m.model_id, step=0) for m in models])
    return models


def _model_spec(client: Any, model_id: str, out: Path) -> None:
    """The MLmodel file MLflow writes for an external model (so it can be registered)."""
    from mlflow.models.utils import get_external_mlflow_model_spec

    get_external_mlflow_model_spec(client.get_logged_model(model_id)).save(str(out / "MLmodel"))


def finish_models(client: Any, models: list[StageModel], root: Path, destination: Path | None) -> None:
    """READY, with ``dvc.md5`` of each folder as written and its card and MLmodel as artifacts
    (a folder the stage did not write: FAILED)."""
    from mlflow.entities import LoggedModelStatus

    for model in models:
        folder = root / model.folder
        if not folder.is_dir():
            client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
            continue
        client.set_logged_model_tags(model.model_id, {"dvc.md5": dvc_md5(folder)})
        with tempfile.TemporaryDirectory(prefix="logged-model-") as tmp:
            staged = Path(tmp)
            _model_spec(client, model.model_id, staged)
            for name in CARD_FILES:
                if (folder / name).is_file():
                    shutil.copy2(folder / name, staged / name)
            if local_artifact_dir(model.artifact_location, destination) is None:
                client.log_model_artifacts(model.model_id, str(staged))  # not proxied: MLflow uploads
            else:
                for path in sorted(staged.iterdir()):
                    write_artifact(model.artifact_location, destination, path)
        client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)


def fail_models(client: Any, models: list[StageModel]) -> None:
    from mlflow.entities import LoggedModelStatus

    for model in models:
        client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)


def model_folders(path: str, md5: str, root: Path) -> dict[str, str]:
    """The model folders a dep stands for, with their DVC md5: the dep itself when it holds a card,
    else each subfolder that does (``models/rm`` -> ``models/rm/bt``, ``models/rm/bt_dr``)."""
    folder = root / path
    if (folder / CARD_FILES[0]).is_file() or not folder.is_dir():
        return {path: md5}
    subs = sorted(p for p in folder.iterdir() if (p / CARD_FILES[0]).is_file())
    return {f"{path}/{p.name}": dvc_md5(p) for p in subs}


def link_upstream_models(
    client: Any, experiment_id: str, run_id: str, digests: Mapping[str, str], root: Path
) -> list[str]:
    """List as run inputs the READY logged models of the model folders the stage reads, matched by
    folder and ``dvc.md5`` (the newest per folder); returns their ids."""
    from mlflow.entities import LoggedModelInput, LoggedModelStatus

    found: list[str] = []
    newest = [{"field_name": "creation_time", "ascending": False}]
    for dep, dep_md5 in digests.items():
        if not dep.startswith(MODEL_ROOT):
            continue
        for path, md5 in model_folders(dep, dep_md5, root).items():
            query = f"tags.`dvc.md5` = '{md5}' AND tags.`preftree.model_dir` = '{path}'"
            hits = client.search_logged_models([experiment_id], filter_string=query, max_results=20, order_by=newest)
            found += [m.model_id for m in hits if m.status == LoggedModelStatus.READY][:1]
    if found:
        client.log_inputs(run_id, models=[LoggedModelInput(i) for i in found])
    return found
