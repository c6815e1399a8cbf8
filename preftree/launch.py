"""`runtime.launcher: accelerate`: re-run a training stage under `accelerate launch`.

The launcher is a runtime setting (speed and placement), never a DVC param, so switching a run from
one CPU process to 8 GPUs with ZeRO-3 reruns nothing. DVC still calls `python -m stages.<name>`;
the stage re-executes itself as `accelerate launch --config_file <runtime.accelerate_config> -m
stages.<name> ...` when it is not yet under the launcher. Only the main process tracks (MLflow) and
writes metrics.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from preftree.config import ParamsError, RuntimeParams

MARKER = "PREFTREE_UNDER_ACCELERATE"


def accelerate_command(module: str, args: Sequence[str], runtime: RuntimeParams) -> list[str]:
    """The argv that runs `python -m <module> <args>` under accelerate with the configured file."""
    if not runtime.accelerate_config:
        raise ParamsError(
            "runtime.launcher=accelerate needs runtime.accelerate_config (e.g. conf/accelerate/zero3.yaml)"
        )
    if not Path(runtime.accelerate_config).is_file():
        raise ParamsError(f"runtime.accelerate_config={runtime.accelerate_config} does not exist")
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        runtime.accelerate_config,
        "-m",
        module,
        *args,
    ]


def relaunch_if_needed(module: str, args: Sequence[str], runtime: RuntimeParams) -> None:
    """Replace this process with the accelerate launcher when asked to and not already under it."""
    if runtime.launcher != "accelerate" or os.environ.get(MARKER):
        return
    command = accelerate_command(module, args, runtime)
    os.execve(command[0], command, {**os.environ, MARKER: "1"})


def is_main_process() -> bool:
    """True outside distributed runs and on global rank 0."""
    return os.environ.get("RANK", "0") == "0"
