"""Actors and critics: scripted (offline teacher), and one language-model actor / critic
(:mod:`preftree.agents.llm`) whose hf, vllm or openai backend is only the generation engine it runs on."""

from __future__ import annotations

from pathlib import Path

from preftree.agents.base import Action, Actor, ActRequest, Critic, CritiqueRequest
from preftree.config.agents import AgentParams
from preftree.config.runtime import RuntimeParams

__all__ = [
    "Action",
    "ActRequest",
    "Actor",
    "Critic",
    "CritiqueRequest",
    "make_actor",
    "make_critic",
    "make_escalation",
]


def _engine(params: AgentParams, runtime: RuntimeParams) -> str:
    """The backend that runs: `vllm` when asked for directly or as the generation engine of an hf model."""
    if params.backend == "vllm" or (params.backend == "hf" and runtime.engine == "vllm"):
        return "vllm"
    return params.backend


def make_actor(params: AgentParams, runtime: RuntimeParams, *, cache_path: Path | None, name: str) -> Actor:
    """An actor for ``params.backend``, behind the call cache at ``cache_path`` (None = uncached).

    ``name`` tells scripted actors apart (``scripted:<name>``, e.g. "teacher" / "weak") and seeds them.
    hf runs on ``runtime.device``; ``runtime.engine=vllm`` switches an hf model to vLLM. With
    ``params.pool``, a :class:`preftree.agents.pool.PoolActor` over one actor per pool model (each
    behind the cache). ``params.escalation`` is :func:`make_escalation`'s.
    """
    if params.pool:
        from preftree.agents.pool import PoolActor, endpoint_params

        return PoolActor(
            [make_actor(endpoint_params(params, e), runtime, cache_path=cache_path, name=name) for e in params.pool]
        )
    backend = _engine(params, runtime)
    actor: Actor
    if backend == "scripted":
        from preftree.agents.scripted_actor import ScriptedActor

        actor = ScriptedActor(params, name=name)
    elif backend in ("hf", "vllm", "openai"):
        from preftree.agents.llm import LLMActor, make_engine

        system_prompt = True if backend == "openai" else None  # local models: only for guided requests
        actor = LLMActor(params, make_engine(backend, params, runtime), system_prompt=system_prompt)
    else:
        raise ValueError(f"unknown actor backend {params.backend!r}; expected scripted, hf, openai or vllm")
    if cache_path is None:
        return actor
    from preftree.agents.cache import CachedActor, CallCache

    return CachedActor(actor, CallCache(cache_path))


def make_escalation(params: AgentParams, runtime: RuntimeParams, *, cache_path: Path | None) -> list[Actor]:
    """The actors of the escalation rounds, one per ``params.escalation`` model ([] = the actor itself)."""
    from preftree.agents.pool import endpoint_params

    return [
        make_actor(endpoint_params(params, e), runtime, cache_path=cache_path, name="escalation")
        for e in params.escalation
    ]


def make_critic(
    params: AgentParams, runtime: RuntimeParams, *, cache_path: Path | None, name: str = "critic"
) -> Critic:
    """A critic for ``params.backend`` behind the call cache at ``cache_path`` (None = uncached)."""
    if params.pool or params.escalation:
        raise ValueError(f"{name}: pool and escalation are for actors; set them to [] for the critic")
    backend = _engine(params, runtime)
    critic: Critic
    if backend == "scripted":
        from preftree.agents.scripted_critic import ScriptedCritic

        critic = ScriptedCritic(params, name=name)
    elif backend in ("hf", "vllm", "openai"):
        from preftree.agents.llm import LLMCritic, make_engine

        critic = LLMCritic(params, make_engine(backend, params, runtime))
    else:
        raise ValueError(f"unknown critic backend {params.backend!r}; expected scripted, hf, openai or vllm")
    if cache_path is None:
        return critic
    from preftree.agents.cache import CachedCritic, CallCache

    return CachedCritic(critic, CallCache(cache_path))
