"""Run a worker module of the tests in a subprocess, SIGKILL it at a chosen step, run it again.

The resume tests (tests/test_train_resume.py, tests/test_base_resume.py) each have a ``worker(spec_path)``
run as ``python -m <module> SPEC``: the spec JSON says what to train and where to write the result; with
``block_at`` the worker blocks at that step after writing ``flag``, and :func:`killed_run` kills it there.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO

STOP_FILE = "blocked"  # the worker writes it when it blocks, waiting for the kill


def spawn(module: str, spec: dict[str, Any], work: Path, name: str) -> tuple[subprocess.Popen, Path]:
    spec_path = work / f"{name}.json"
    result = work / f"{name}.result.json"
    spec_path.write_text(json.dumps({**spec, "result": str(result)}))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", module, str(spec_path)],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    return proc, result


def finish(proc: subprocess.Popen, result: Path, timeout: float = 600) -> tuple[dict, str]:
    output, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, output[-4000:]
    return json.loads(result.read_text()), output


def killed_run(module: str, spec: dict[str, Any], work: Path, step: int) -> None:
    """Start a run of ``module``'s worker that blocks at ``step``, wait until it does, SIGKILL it."""
    flag = work / STOP_FILE
    flag.unlink(missing_ok=True)
    proc, _ = spawn(module, {**spec, "block_at": step, "flag": str(flag)}, work, "killed")
    deadline = time.monotonic() + 600
    while not flag.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run to kill exited ({proc.returncode}) before step {step}:\n{proc.stdout.read()[-4000:]}")
        assert time.monotonic() < deadline, "the run never reached the step to kill it at"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file directly in ``folder``, by name: two model folders compared byte for byte."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}
