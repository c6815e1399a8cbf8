"""What a stage records about its making, in its outputs: metrics files and model-card lineage.

Split from :mod:`preftree.tracking` (MLflow only, which cannot change an output byte and so is no
code dep of any stage): everything here ends up in a DVC output, so it is a code dep of every stage
that imports it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from preftree.config.load import StageParams
from preftree.config.workspace import workspace_root
from preftree.io import write_json


def tracking_root() -> Path:
    """The main repository root (DVC_ROOT under DVC, else the folder holding dvc.yaml)."""
    return Path(os.environ["DVC_ROOT"]).resolve() if os.environ.get("DVC_ROOT") else workspace_root()


def run_git(root: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def git_rev(root: Path) -> str:
    return run_git(root, "rev-parse", "HEAD") or "nogit"


def metrics_path(root: Path, stage: str) -> Path:
    """metrics/<stage>.json; a foreach stage `align@kto` writes metrics/align/kto.json."""
    return root / "metrics" / (stage.replace("@", "/") + ".json")


def write_stage_metrics(root: Path, stage: str, metrics: dict[str, Any]) -> None:
    """metrics/<stage>.json: what the stage logged as summary metrics."""
    write_json(metrics_path(root, stage), metrics)


def lineage_card(params: StageParams) -> dict[str, Any]:
    """What a model card records about its making: the stage, its declared params, the git rev and
    the md5 of each upstream output as dvc.lock recorded it (training data, upstream model)."""
    from preftree.dvcinfo import stage_info, upstream_md5s

    root = workspace_root()
    info = stage_info(params.stage, root.resolve())
    return {
        "stage": params.stage,
        "params": params.raw,
        "git_rev": git_rev(root),
        "upstream_md5": upstream_md5s(info.deps, root),
    }
