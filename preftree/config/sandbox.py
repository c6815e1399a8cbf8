"""params `sandbox`: limits for model-written code (stages `interact`, `eval@*`, `rerank`).
Values: conf/config.yaml (`sandbox:`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from preftree.config.types import PositiveInt
from preftree.config.validate import Range


@dataclass(frozen=True)
class SandboxParams:
    """Limits for model-written code. They can change a verdict, so they are stage params."""

    isolation: Literal["bwrap", "process"]  # process = rlimits + process group only (weaker; warns)
    timeout_s: Annotated[float, Range(ge=0.1, le=3600)]  # wall clock, the whole process tree is killed
    cpu_s: Annotated[int, Range(ge=1, le=3600)]  # RLIMIT_CPU
    memory_mb: Annotated[int, Range(ge=64)]  # RLIMIT_AS
    max_output_bytes: Annotated[int, Range(ge=1024)]  # stdout/stderr cap each; then the run is killed
    nproc: PositiveInt  # RLIMIT_NPROC (applies to the unprivileged uid the code runs as)
    fsize_mb: PositiveInt  # RLIMIT_FSIZE
    tmpfs_mb: PositiveInt  # size of the private writable /tmp
    # name -> exact version importable by the code (preftree.sandbox_env: a pinned folder on PYTHONPATH,
    # read-only); {} = the interpreter's standard library (and Debian's dist-packages) only
    packages: dict[str, str]
