"""Thin DVC stage modules, one per stage: `python -m stages.<name>` (see dvc.yaml).

DVC runs each stage's command with the caller's PATH, so `.venv/bin/dvc repro` without an activated
environment starts the stage with whatever `python` comes first on PATH. When that interpreter lacks
the project's dependencies (no torch) and the repository has `.venv/bin/python`, the stage re-runs
itself with it (same arguments, once: PREFTREE_VENV_REEXEC guards the loop); otherwise nothing
happens here. `make repro` and the tests put the right interpreter first on PATH and never re-run.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path


def _reexec_in_project_venv() -> None:
    if importlib.util.find_spec("torch") is not None or os.environ.get("PREFTREE_VENV_REEXEC"):
        return
    venv_python = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python"
    if venv_python.is_file():
        os.environ["PREFTREE_VENV_REEXEC"] = "1"
        os.execv(venv_python, [str(venv_python), *sys.orig_argv[1:]])


_reexec_in_project_venv()
