"""The whole composed params.yaml as one dataclass: what `make params` and the tests validate.

Stages never import this module: each names the sections it reads (``load_stage_params``), so a
stage's code deps hold only the config modules of its own sections.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any

from preftree.config.agents import AgentParams
from preftree.config.evaluate import EvalParams, RerankParams
from preftree.config.interact import InteractParams
from preftree.config.load import type_at
from preftree.config.model import ModelParams
from preftree.config.runtime import RuntimeParams
from preftree.config.sandbox import SandboxParams
from preftree.config.select import SelectParams
from preftree.config.sources import SourcesParams
from preftree.config.train import AlignMethodParams, RMParams, SFTParams
from preftree.config.tree import TreeParams
from preftree.config.validate import build


@dataclass(frozen=True)
class Params:
    """The whole composed params.yaml."""

    seed: int
    model: ModelParams
    sources: SourcesParams
    select: SelectParams
    sandbox: SandboxParams
    actor: AgentParams
    weak: AgentParams
    critic: AgentParams
    interact: InteractParams
    tree: TreeParams
    sft: SFTParams
    align: dict[str, AlignMethodParams]
    rm: dict[str, RMParams]
    eval: EvalParams
    rerank: RerankParams
    runtime: RuntimeParams


SECTIONS: dict[str, Any] = typing.get_type_hints(Params, include_extras=True)  # top-level key -> its type


def params_type_at(key: str) -> Any:
    """The annotation of any dotted key of params.yaml, e.g. 'select.dedup' -> DedupParams."""
    return type_at(key, SECTIONS)


def validate_all(data: dict) -> Params:
    """Validate a whole composed params tree (used by `make params` and the tests)."""
    return build(Params, data)
