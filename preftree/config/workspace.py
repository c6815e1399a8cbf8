"""Where params.yaml lives, how it is read, and the one error type for its problems."""

from __future__ import annotations

from pathlib import Path

import yaml

PARAMS_FILE = "params.yaml"


class ParamsError(ValueError):
    """A params.yaml problem, reported as one line naming the key."""


def workspace_root(start: Path | None = None) -> Path:
    """The folder holding dvc.yaml, walking up from `start` (default: cwd).

    Under `dvc exp run --temp` / the queue this is the experiment's temp copy, which holds that
    experiment's params.yaml and outputs; DVC_ROOT (the main repo) is only for the MLflow store.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").exists():
            return folder
    return here


def read_params_file(root: Path | None = None) -> dict:
    path = (root or workspace_root()) / PARAMS_FILE
    if not path.exists():
        raise ParamsError(f"{path} does not exist: run `make params` to compose it from conf/")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    return data
