"""What a stage records about its making, in its outputs: metrics files and model-card lineage.

A stage's metrics are written twice (:func:`write_stage_metrics`): ``metrics/<stage>.json`` holds its
numeric results only, so ``dvc metrics diff`` / ``dvc exp show`` compare results, and
``metrics/info/<stage>.json`` (a plain output, not a DVC metric) holds everything it logged: timings,
identities (generator, paths, digests), breakdowns. :data:`METRICS_RULE` states the split.

Split from :mod:`preftree.tracking` (MLflow only, which cannot change an output byte and so is no
code dep of any stage): everything here ends up in a DVC output, so it is a code dep of every stage
that imports it.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from preftree.config.load import StageParams
from preftree.config.workspace import workspace_root
from preftree.dvchash import input_digests
from preftree.dvcinfo import stage_info
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


def info_path(root: Path, stage: str) -> Path:
    """metrics/info/<stage>.json (metrics/info/align/kto.json for `align@kto`): the stage's full record."""
    return root / "metrics" / "info" / (stage.replace("@", "/") + ".json")


# The rule that splits what a stage logged (see headline_metrics).
TIMING = re.compile(r"(^|_)seconds$|per_second$|^threads$|^wall")
BREAKDOWN_TABLES = frozenset({"families", "datasets", "tasks"})
TOTAL_KEYS = frozenset({"all", "total"})
BOOKKEEPING = frozenset({"model_calls", "shards"})
TURN_KEY = re.compile(r"T\d+")
METRICS_RULE = (
    "metrics/<stage>.json (the DVC metrics) keeps a logged leaf only when it is a number (not a bool, "
    "string or null), no segment of its key is a timing (`seconds`, `*_seconds`, `*per_second`, "
    "`threads`, `wall*`) or run bookkeeping (`model_calls`, `shards`), and it is not a breakdown: a "
    "segment containing `by_`, a turn key `T<k>`, or an entry other than `all`/`total` of a per-group "
    "table (`families`, `datasets`, `tasks`); of a curve (a table keyed by integers: success@k, N) only "
    "the last point is kept. metrics/info/<stage>.json holds everything the stage logged."
)


def _is_curve(table: dict[Any, Any]) -> bool:
    return bool(table) and all(str(k).lstrip("-").isdigit() for k in table)


def _dropped(key: str, parent: str | None) -> bool:
    if TIMING.search(key) or key in BOOKKEEPING or "by_" in key or TURN_KEY.fullmatch(key):
        return True
    return parent in BREAKDOWN_TABLES and key not in TOTAL_KEYS


def headline_metrics(logged: dict[Any, Any], parent: str | None = None) -> dict[str, Any]:
    """The subset of ``logged`` that DVC compares across experiments, by :data:`METRICS_RULE`.

    Pure; nested tables keep their shape; tables left empty are dropped."""
    out: dict[str, Any] = {}
    items = logged.items()
    if _is_curve(logged):
        last = max(logged, key=lambda k: int(str(k)))
        items = [(last, logged[last])]
    for key, value in items:
        name = str(key)
        if _dropped(name, parent):
            continue
        if isinstance(value, dict):
            kept = headline_metrics(value, name)
            if kept:
                out[name] = kept
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = value
    return out


def write_stage_metrics(root: Path, stage: str, metrics: dict[str, Any]) -> None:
    """metrics/<stage>.json: the numeric results DVC compares (:data:`METRICS_RULE`); and
    metrics/info/<stage>.json: everything the stage logged (timings, identities, breakdowns too)."""
    write_json(info_path(root, stage), metrics)
    write_json(metrics_path(root, stage), headline_metrics(metrics))


MODEL_ROOT = "models/"


def upstream_model(data_deps: Iterable[str]) -> str | None:
    """The model folder a stage starts from: its first data dep under ``models/`` (None: none)."""
    return next((d for d in data_deps if d.startswith(MODEL_ROOT)), None)


def lineage_card(params: StageParams) -> dict[str, Any]:
    """What a model card records about its making: the stage, its declared params, the git rev,
    ``base_model`` (the model folder it started from, which the README's front matter carries as the
    Hugging Face ``base_model`` field) and the md5 of each data input it read (training data,
    upstream model), hashed from the bytes as DVC hashes them (:func:`preftree.dvchash.input_digests`):
    under ``dvc repro`` equal to the dep md5s in dvc.lock, in a hand run what was actually there."""
    root = workspace_root()
    digests = input_digests(params.stage, root)
    card: dict[str, Any] = {"stage": params.stage, "params": params.raw, "git_rev": git_rev(root)}
    base = upstream_model(stage_info(params.stage, root.resolve()).data_deps)
    if base is not None:
        card["base_model"] = base
    card["upstream_md5"] = digests
    return card
