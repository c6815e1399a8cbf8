"""Where MLflow artifacts live: under ``mlflow-artifacts:/`` URIs, so a moved clone still opens.

MLflow stores every run's artifact location in the database, and turns a local path into an
absolute one (``file:///old/clone/mlruns/...``): move or copy the clone and the UI shows no
artifacts. An experiment created here has the artifact location ``mlflow-artifacts:/<name>``
instead, a *proxied* location that ``mlflow server`` resolves against its
``--artifacts-destination``; the database names no folder of this machine. Started from the
repository root::

    mlflow server --backend-store-uri sqlite:///mlflow.db --artifacts-destination mlruns \\
        --host 127.0.0.1 --port 5000

Stages log to ``sqlite:///mlflow.db`` directly, with no server to upload through, so the few files
they log are written here straight into the destination folder: :func:`artifacts_destination`
(``PREFTREE_ARTIFACTS_DIR``, else ``mlruns/`` beside ``mlflow.db`` in the main repository). With an
``http(s)`` ``MLFLOW_TRACKING_URI`` the server picks the location and MLflow's client uploads.
An experiment created before this scheme keeps its ``file://`` location; its runs go on working.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

PROXY_SCHEME = "mlflow-artifacts"
DESTINATION_ENV = "PREFTREE_ARTIFACTS_DIR"


def is_remote(tracking_uri: str) -> bool:
    """A tracking server (which handles artifacts itself), not a database file."""
    return urlparse(tracking_uri).scheme in ("http", "https", "databricks")


def experiment_artifact_location(name: str, tracking_uri: str) -> str | None:
    """``mlflow-artifacts:/<name>`` (name made path-safe) for a local store; None (the server's
    default) for a tracking server."""
    if is_remote(tracking_uri):
        return None
    return f"{PROXY_SCHEME}:/{re.sub(r'[^A-Za-z0-9_.-]+', '_', name).strip('.') or 'experiment'}"


def artifacts_destination(tracking_root: Path, tracking_uri: str) -> Path | None:
    """The folder ``mlflow-artifacts:/`` maps to: ``$PREFTREE_ARTIFACTS_DIR``, else ``<root>/mlruns``;
    None with a tracking server (it stores what MLflow's client uploads)."""
    if is_remote(tracking_uri):
        return None
    configured = os.environ.get(DESTINATION_ENV)
    return Path(configured).resolve() if configured else tracking_root / "mlruns"


def local_artifact_dir(artifact_uri: str, destination: Path | None) -> Path | None:
    """The folder a ``mlflow-artifacts:/a/b`` URI names under ``destination``; None for other URIs
    and when there is no local destination (a tracking server stores them)."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme != PROXY_SCHEME or destination is None:
        return None
    parts = [p for p in parsed.path.split("/") if p]
    if any(p == ".." for p in parts):
        raise ValueError(f"{artifact_uri}: an artifact location may not climb out of its store")
    return destination.joinpath(*parts)


def write_artifact(artifact_uri: str, destination: Path | None, path: Path, folder: str | None = None) -> bool:
    """Copy the file or folder ``path`` under a proxied artifact location; False (nothing written)
    when ``artifact_uri`` is no ``mlflow-artifacts:`` URI, so MLflow's own client must upload it."""
    target = local_artifact_dir(artifact_uri, destination)
    if target is None:
        return False
    if folder:
        target = target.joinpath(*[p for p in folder.split("/") if p])
    target.mkdir(parents=True, exist_ok=True)
    if Path(path).is_dir():
        shutil.copytree(path, target / Path(path).name, dirs_exist_ok=True)
    else:
        shutil.copy2(path, target / Path(path).name)
    return True


def write_text_artifact(artifact_uri: str, destination: Path | None, text: str, name: str) -> bool:
    """Write ``text`` as the artifact file ``name``; False when the URI is not a proxied one."""
    target = local_artifact_dir(artifact_uri, destination)
    if target is None:
        return False
    target.mkdir(parents=True, exist_ok=True)
    (target / name).write_text(text, encoding="utf-8")
    return True
