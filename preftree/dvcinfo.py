"""What dvc.yaml declares for a stage: its command, params, deps (code and data) and outputs."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

CODE_ROOTS = ("preftree", "stages")  # a dep under one of these is code (preftree.deps derives them)


def is_code_dep(dep: str) -> bool:
    return any(dep == r or dep.startswith(r + "/") for r in CODE_ROOTS)


@dataclass(frozen=True)
class StageInfo:
    name: str
    cmd: str
    params: tuple[str, ...]  # declared keys of params.yaml
    params_files: tuple[str, ...]  # files the params come from (only params.yaml is supported)
    deps: tuple[str, ...]  # paths relative to the repo root
    outs: tuple[str, ...]

    @property
    def data_deps(self) -> tuple[str, ...]:
        """The deps that are data (upstream outputs, source files), not code."""
        return tuple(d for d in self.deps if not is_code_dep(d))


@functools.lru_cache(maxsize=32)
def stage_info(stage: str, root: Path) -> StageInfo:
    """Resolve one stage (foreach/matrix included) through DVC itself."""
    from dvc.repo import Repo  # slow import; only needed here

    with Repo(str(root)) as repo:
        (obj,) = repo.stage.collect(f"{root / 'dvc.yaml'}:{stage}")
        params: list[str] = []
        files: list[str] = []
        for dep in obj.params:
            files.append(str(dep.def_path))
            params.extend(dep.params)
        deps = [str(Path(d.def_path)) for d in obj.deps if d not in obj.params]
        return StageInfo(
            name=obj.addressing,
            cmd=str(obj.cmd),
            params=tuple(params),
            params_files=tuple(files),
            deps=tuple(deps),
            outs=tuple(str(o.def_path) for o in obj.outs),
        )
