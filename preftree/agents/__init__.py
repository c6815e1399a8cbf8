"""Actors and critics: scripted (offline teacher), hf, openai-compatible and vllm backends."""

from __future__ import annotations

from pathlib import Path

from preftree.agents.base import Action, Actor, ActRequest, Critic, CritiqueRequest
from preftree.config import AgentParams, RuntimeParams

__all__ = [
    "Action",
    "ActRequest",
    "Actor",
    "Critic",
    "CritiqueRequest",
    "make_actor",
    "make_critic",
]


def _engine(params: AgentParams, runtime: RuntimeParams) -> str:
    """The backend that runs: `vllm` when asked for directly or as the generation engine of an hf model."""
    if params.backend == "vllm" or (params.backend == "hf" and runtime.engine == "vllm"):
        return "vllm"
    return params.backend


def make_actor(params: AgentParams, runtime: RuntimeParams, *, cache_path: Path | None, name: str) -> Actor:
    """An actor for ``params.backend``, behind the call cache at ``cache_path`` (None = uncached).

    ``name`` tells scripted actors apart (``scripted:<name>``, e.g. "teacher" / "weak") and seeds them.
    hf runs on ``runtime.device``; ``runtime.engine=vllm`` switches an hf model to vLLM.
    """
    backend = _engine(params, runtime)
    actor: Actor
    if backend == "scripted":
        from preftree.agents.scripted import ScriptedActor

        actor = ScriptedActor(params, name=name)
    elif backend == "hf":
        from preftree.agents.hf import HFActor

        actor = HFActor(params, device=runtime.device)
    elif backend == "openai":
        from preftree.agents.openai_compat import OpenAIActor

        actor = OpenAIActor(params, runtime)
    elif backend == "vllm":
        from preftree.agents.vllm_backend import VLLMActor

        actor = VLLMActor(params)
    else:
        raise ValueError(f"unknown actor backend {params.backend!r}; expected scripted, hf, openai or vllm")
    if cache_path is None:
        return actor
    from preftree.agents.cache import CachedActor, CallCache

    return CachedActor(actor, CallCache(cache_path))


def make_critic(
    params: AgentParams, runtime: RuntimeParams, *, cache_path: Path | None, name: str = "critic"
) -> Critic:
    """A critic for ``params.backend`` behind the call cache at ``cache_path`` (None = uncached)."""
    backend = _engine(params, runtime)
    critic: Critic
    if backend == "scripted":
        from preftree.agents.scripted import ScriptedCritic

        critic = ScriptedCritic(params, name=name)
    elif backend == "hf":
        from preftree.agents.hf import HFCritic

        critic = HFCritic(params, device=runtime.device)
    elif backend == "openai":
        from preftree.agents.openai_compat import OpenAICritic

        critic = OpenAICritic(params, runtime)
    elif backend == "vllm":
        from preftree.agents.vllm_backend import VLLMCritic

        critic = VLLMCritic(params)
    else:
        raise ValueError(f"unknown critic backend {params.backend!r}; expected scripted, hf, openai or vllm")
    if cache_path is None:
        return critic
    from preftree.agents.cache import CachedCritic, CallCache

    return CachedCritic(critic, CallCache(cache_path))
