"""The interact stage's work on OpenAI-compatible agents at one ``base_url`` (tests/test_interact_server.py).

``grow(spec)`` composes the params from conf/ (``actor=openai``, ``critic=openai`` and an openai ``weak``
whose models form ``weak.pool``), changes only the endpoints, model folders and sizes named in
``spec``, and runs ``preftree.interact_run.plan_interact`` + ``run_interact`` as the stage does. Run as
``python -m tests.server_interact '<spec as JSON>'`` it does the same in a process of its own (the test
kills it with SIGKILL mid-run).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from preftree.compose import from_conf
from preftree.config.agents import AgentParams, Endpoint
from preftree.config.interact import InteractParams
from preftree.config.load import StageParams
from preftree.config.runtime import RuntimeParams
from preftree.config.sandbox import SandboxParams
from preftree.interact_run import InteractResult, plan_interact, run_interact

REPO = Path(__file__).resolve().parents[1]


def agent(section: str, spec: dict[str, Any], model: str, **changes: Any) -> AgentParams:
    """conf/'s openai ``section`` (actor=openai, actor@weak=openai, critic=openai) on ``model`` at
    ``spec["base_url"]``, with short outputs."""
    group = {"actor": "actor", "weak": "actor@weak", "critic": "critic"}[section]
    params = from_conf(AgentParams, section, overrides=[f"{group}=openai"])
    return dataclasses.replace(
        params, model=model, base_url=spec["base_url"], api_key_env=spec["key_env"], max_new_tokens=8, **changes
    )


def stage_params(spec: dict[str, Any]) -> StageParams:
    models = spec["models"]
    url = spec["base_url"]
    typed: dict[str, Any] = {
        "seed": 0,
        "sandbox": from_conf(SandboxParams, "sandbox"),
        "actor": agent("actor", spec, models["actor"], escalation=[Endpoint(models["strong"], url)]),
        "weak": agent(
            "weak", spec, models["weak_a"], pool=[Endpoint(models["weak_a"], url), Endpoint(models["weak_b"], url)]
        ),
        "critic": agent("critic", spec, models["strong"]),
        "interact": from_conf(
            InteractParams,
            "interact",
            max_turns=2,
            samples_per_turn=2,
            escalation_rounds=1,
            guided=True,
            limit=None,
            shard_size=2,
            rejected="weak",
            judge="none",
        ),  # fmt: skip
    }
    raw = {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in typed.items()}
    return StageParams(stage="interact", keys=tuple(typed), raw=raw, typed=typed)


def runtime() -> RuntimeParams:
    """One request in flight (the server seeds each request; in order, its sampling is reproducible)."""
    return from_conf(
        RuntimeParams, "runtime", concurrency=1, max_retries=1, request_timeout_s=60.0, workers=1, progress=False
    )


def grow(spec: dict[str, Any]) -> InteractResult:
    """Trees for the records in ``spec["selected"]``, checkpointed and cached under ``spec["cache"]``."""
    params = stage_params(spec)
    plan = plan_interact(params, runtime(), root=REPO, cache=Path(spec["cache"]), selected=Path(spec["selected"]))
    return run_interact(plan)


if __name__ == "__main__":
    grow(json.loads(sys.argv[1]))
