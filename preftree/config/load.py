"""The per-stage params loader (the whole params tree is :mod:`preftree.config.params`).

A stage calls ``load_stage_params(<stage>)``: it returns exactly the keys that ``dvc.yaml`` declares for
that stage, validated against the section dataclasses; an unknown key, a missing key, a wrong type, a
value out of its declared range or a missing input file fails before any work with one line naming the
key. Speed-only settings live in ``RuntimeParams`` and
are read with ``load_runtime()``; they are never declared as stage params, so changing them reruns nothing.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preftree.config.runtime import RuntimeParams
from preftree.config.validate import checking_paths, coerce
from preftree.config.workspace import PARAMS_FILE, ParamsError, read_params_file, workspace_root


def type_at(key: str, sections: Mapping[str, Any]) -> Any:
    """The annotation of a dotted params key under ``sections`` (top-level key -> its type),
    e.g. 'select.dedup' -> DedupParams when ``sections`` maps 'select' to SelectParams."""
    first, _, rest = key.partition(".")
    if first not in sections:
        raise ParamsError(f"{PARAMS_FILE}: unknown key '{key}' (this reader knows {', '.join(sections)})")
    tp: Any = sections[first]
    for part in rest.split(".") if rest else ():
        if dataclasses.is_dataclass(tp):
            hints = typing.get_type_hints(tp, include_extras=True)
            if part not in hints:
                raise ParamsError(f"{PARAMS_FILE}: unknown key '{key}' (no '{part}' in {tp.__name__})")
            tp = hints[part]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1 and dataclasses.is_dataclass(args[0]):
                tp = typing.get_type_hints(args[0], include_extras=True).get(part)
                if tp is None:
                    raise ParamsError(f"{PARAMS_FILE}: unknown key '{key}'")
            else:
                raise ParamsError(f"{PARAMS_FILE}: unknown key '{key}' ('{part}' is not a section)")
    return tp


def lookup(tree: dict, key: str) -> Any:
    """The value at a dotted key of a params mapping; ParamsError when a part is missing."""
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ParamsError(f"{PARAMS_FILE}: missing key '{key}' (declared in dvc.yaml)")
        node = node[part]
    return node


def declared_params(stage: str, root: Path | None = None) -> list[str]:
    """The params keys that dvc.yaml declares for `stage` (foreach stages resolved by DVC)."""
    from preftree.dvcinfo import stage_info

    info = stage_info(stage, (root or workspace_root()).resolve())
    for name in info.params_files:
        if Path(name).name != PARAMS_FILE:
            raise ParamsError(f"stage {stage}: params from {name} are not supported; declare them from {PARAMS_FILE}")
    return list(info.params)


@dataclass(frozen=True)
class StageParams:
    """Exactly the params a stage declares: `raw` as in params.yaml, `typed[key]` validated."""

    stage: str
    keys: tuple[str, ...]
    raw: dict
    typed: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        if key not in self.typed:
            raise KeyError(
                f"stage {self.stage} does not declare '{key}' in dvc.yaml (declared: {', '.join(self.keys)})"
            )
        return self.typed[key]


def stage_params_from(stage: str, keys: list[str], data: dict, sections: Mapping[str, Any]) -> StageParams:
    """The declared ``keys`` of ``data``, each validated against its type under ``sections``."""
    raw: dict = {}
    typed: dict[str, Any] = {}
    for key in keys:
        if key.partition(".")[0] not in sections:
            raise ParamsError(
                f"stage {stage}: dvc.yaml declares '{key}', which the stage does not read "
                f"(it reads {', '.join(sections)})"
            )
        value = lookup(data, key)
        typed[key] = coerce(value, type_at(key, sections), key)
        node = raw
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return StageParams(stage=stage, keys=tuple(keys), raw=raw, typed=typed)


def load_stage_params(stage: str | None, sections: Mapping[str, Any], *, root: Path | None = None) -> StageParams:
    """The declared params of `stage` (None: $DVC_STAGE), validated before any work.

    ``sections`` names the top-level params the stage reads and their types, e.g.
    ``{"seed": int, "select": SelectParams}``: a stage imports only the config modules it uses (so
    editing another section's schema reruns nothing), and a declared key it does not read fails."""
    stage = stage or os.environ.get("DVC_STAGE")
    if not stage:
        raise ParamsError("no stage given and DVC_STAGE is unset")
    root = root or workspace_root()
    with checking_paths(root, outputs=True):  # every file it names must exist before any work starts
        return stage_params_from(stage, declared_params(stage, root), read_params_file(root), sections)


def load_runtime(root: Path | None = None) -> RuntimeParams:
    """Speed-only settings (params.yaml `runtime:`), read directly: never a DVC param."""
    root = root or workspace_root()
    with checking_paths(root, outputs=True):
        return coerce(read_params_file(root).get("runtime", {}), RuntimeParams, "runtime")
