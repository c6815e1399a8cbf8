"""Is the checkout a stage ran from dirty, counting source files only, and which paths are.

``git status`` of a project mid-``dvc repro`` always shows changes: the pipeline itself rewrites
``dvc.lock``, ``params.yaml`` (composed from conf/), ``metrics/``, the DVC outputs and DVC's own
``.dvc/.gitignore``. None of them says the code or config differs from the commit, so
:data:`PIPELINE_WRITES` leaves them out; what git ignores is left out by git. What remains
(tracked source edited, staged or deleted, and untracked files that are not ignored) makes the
MLflow tag ``git.dirty`` true, and ``git.dirty_paths`` lists them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

# Paths the pipeline writes (a trailing "/" marks a folder): never source.
PIPELINE_WRITES: tuple[str, ...] = (
    "dvc.lock",
    "params.yaml",
    ".dvc/.gitignore",  # DVC's own: written by any dvc command when missing
    ".dvc/tmp/",
    "metrics/",
    "data/",
    "models/",
    "mlflow.db",
    "mlflow.db-journal",
    "mlflow.db.lock",
    "mlruns/",
    "dvc_plots/",
    ".preftree-cache/",
    "outputs/",
)
TAG_PATHS = 20  # at most this many paths in the git.dirty_paths tag (all of them go to an artifact)


def is_pipeline_output(path: str) -> bool:
    """Whether ``path`` (relative to the repository root, posix) is something the pipeline writes."""
    return any(path == p.rstrip("/") or (p.endswith("/") and path.startswith(p)) for p in PIPELINE_WRITES)


def porcelain_paths(text: str) -> list[str]:
    """The paths of ``git status --porcelain=v1 -z`` output (a rename's new path only), in order."""
    entries = text.split("\0")
    paths: list[str] = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":
            i += 1  # the next entry is the rename's or copy's source path
    return paths


def dirty_source_paths(root: Path) -> list[str] | None:
    """Sorted source paths that differ from HEAD in the git checkout at ``root`` (untracked, not
    ignored, included), pipeline outputs left out; None when ``root`` is no git checkout."""
    cmd = ["git", "status", "--porcelain=v1", "-z", "--untracked-files=all"]
    try:
        out = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return sorted({p for p in porcelain_paths(out.stdout) if not is_pipeline_output(p.rstrip("/"))})


def dirty_tags(paths: list[str] | None) -> dict[str, str]:
    """``git.dirty`` ("true" / "false" / "unknown" outside git) and, when dirty, ``git.dirty_paths``
    (the first :data:`TAG_PATHS`, one a line, then how many more)."""
    if paths is None:
        return {"git.dirty": "unknown"}
    if not paths:
        return {"git.dirty": "false"}
    shown = paths[:TAG_PATHS]
    more = [f"... and {len(paths) - len(shown)} more (artifact git_dirty.txt)"] if len(paths) > len(shown) else []
    return {"git.dirty": "true", "git.dirty_paths": "\n".join(shown + more)}
