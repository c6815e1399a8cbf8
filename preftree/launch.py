"""How a training stage starts: in this process, or re-executed under ``accelerate launch``.

``runtime.launcher`` is a speed setting (never a DVC param, so switching it reruns nothing):

* ``python`` (default): the stage trains in its own process (CPU, or one GPU);
* ``accelerate``: the stage re-executes itself as
  ``python -m accelerate.commands.launch --config_file <runtime.accelerate_config> -m stages.<name> ...``,
  so the same trl trainers run data-parallel, under DeepSpeed ZeRO-3 or FSDP, as the config file
  says (examples in ``conf/accelerate/``). DVC sees one command that exits with the launch's status.

Under a launcher every process runs the stage's code; only the main process (``RANK`` 0) opens the
MLflow run, writes metrics and saves the model folder (``preftree.train.common.save_trained`` gathers
sharded weights first). ``PREFTREE_LAUNCHED`` marks the children so they do not launch again.

Several machines: every node runs the same stage command with a multi-node config file
(``conf/accelerate/*_multinode.yaml``); what differs between the nodes comes from the environment
(:data:`ENV_OPTIONS`: ``PREFTREE_MACHINE_RANK``, ``PREFTREE_MAIN_PROCESS_IP``, ...), added to the launch as
accelerate's own options, so neither the shared config file nor params.yaml changes per machine.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from preftree.config.runtime import RuntimeParams
from preftree.config.workspace import ParamsError, workspace_root

LAUNCHED = "PREFTREE_LAUNCHED"
# accelerate launch options read from the environment: they differ from one machine to the next
ENV_OPTIONS = {
    "PREFTREE_NUM_MACHINES": "--num_machines",
    "PREFTREE_NUM_PROCESSES": "--num_processes",
    "PREFTREE_MACHINE_RANK": "--machine_rank",
    "PREFTREE_MAIN_PROCESS_IP": "--main_process_ip",
    "PREFTREE_MAIN_PROCESS_PORT": "--main_process_port",
}
MULTI_NODE_NEEDS = ("PREFTREE_MACHINE_RANK", "PREFTREE_MAIN_PROCESS_IP")


def is_main_process() -> bool:
    """True outside a distributed launch and on global rank 0 inside one."""
    return os.environ.get("RANK", "0") == "0"


def _config_needs(config: Path) -> list[str]:
    """Python packages an accelerate config file needs beyond accelerate itself."""
    text = config.read_text(encoding="utf-8")
    return ["deepspeed"] if "DEEPSPEED" in text or "deepspeed_config" in text else []


def env_options(config: Path, environ: Mapping[str, str]) -> list[str]:
    """The ``accelerate launch`` options of the :data:`ENV_OPTIONS` set in ``environ``; ParamsError when the
    launch spans several machines (num_machines of the file or PREFTREE_NUM_MACHINES) and this machine's
    rank or the main node's address is unset."""
    options = [x for var, flag in ENV_OPTIONS.items() if environ.get(var) for x in (flag, environ[var])]
    machines = environ.get("PREFTREE_NUM_MACHINES") or (yaml.safe_load(config.read_text()) or {}).get("num_machines", 1)
    missing = [var for var in MULTI_NODE_NEEDS if not environ.get(var)]
    if int(machines) > 1 and missing:
        raise ParamsError(
            f"{config} spans {machines} machines: set {' and '.join(missing)} on each node "
            "(0 on the main node; its address), see docs/gpu.md"
        )
    return options


def launch_command(module: str, args: Sequence[str], runtime: RuntimeParams, root: Path | None = None) -> list[str]:
    """The ``accelerate launch`` command line for ``python -m <module> <args>``; raises ParamsError when
    the config file or a package it needs is missing."""
    if not runtime.accelerate_config:
        raise ParamsError(
            "runtime.launcher=accelerate needs runtime.accelerate_config (e.g. conf/accelerate/zero3.yaml)"
        )
    config = Path(runtime.accelerate_config)
    if not config.is_absolute():
        config = (root or workspace_root()) / config
    if not config.is_file():
        raise ParamsError(f"runtime.accelerate_config: no such file {config}")
    for package in ["accelerate", *_config_needs(config)]:
        if importlib.util.find_spec(package) is None:
            raise ParamsError(f"{config} needs the python package {package!r}: pip install {package}")
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
    return [*launch, *env_options(config, os.environ), "-m", module, *args]


def relaunch_if_needed(module: str, args: Sequence[str], runtime: RuntimeParams) -> None:
    """Under ``runtime.launcher=accelerate`` (and not already launched), run the stage under accelerate
    and exit with its status; otherwise return and let the caller train in this process."""
    if runtime.launcher != "accelerate" or os.environ.get(LAUNCHED):
        return
    command = launch_command(module, args, runtime)
    print("launch: " + " ".join(command), flush=True)
    env = {**os.environ, LAUNCHED: "1"}
    sys.exit(subprocess.run(command, env=env, check=False).returncode)
