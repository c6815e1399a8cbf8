"""params `sandbox`: limits for model-written code (stages `interact`, `eval@*`, `rerank`).
Values: conf/config.yaml (`sandbox:`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class SandboxParams:
    """Limits for model-written code. They can change a verdict, so they are stage params."""

    isolation: Literal["bwrap", "process"]  # process = rlimits + process group only (weaker; warns)
    timeout_s: float  # wall clock, the whole process tree is killed
    cpu_s: int  # RLIMIT_CPU
    memory_mb: int  # RLIMIT_AS
    max_output_bytes: int  # stdout/stderr read at most this much each, then the run is killed
    nproc: int  # RLIMIT_NPROC (applies to the unprivileged uid the code runs as)
    fsize_mb: int  # RLIMIT_FSIZE
    tmpfs_mb: int  # size of the private writable /tmp
