"""The actor and the critic on a language model: one implementation over any generation engine.

The hf, vllm and openai backends differ only in the engine (:mod:`preftree.generation`) that
:func:`make_engine` builds for them; prompts, sampling settings, cache keys and seeds are the same:

* Prompts: ``prompts.actor_messages`` (the actor; ``system_prompt`` True / False / None = only for
  guided requests) and ``prompts.critic_messages`` (the critic, one sample per request, stripped).
* Sampling: the agent's temperature, top_p and max_new_tokens; request i gets ``n`` samples seeded by
  its own seed (the engine mixes it with the chat, so two prompts with one seed do not share noise).
  Each ``Action`` records ``{temperature, top_p, max_new_tokens, seed, index}``.
* Cache keys (``act_key`` / ``critique_key``, read by :mod:`preftree.agents.cache`): the messages sent,
  the sampling settings, the seed and n. The identity is the engine's (``hf:<model>@<12 hex>``,
  ``vllm:...``, ``openai:<model>@<url>``).
* Engines: hf and vllm run on ``shared_generator`` (one loaded model per process for an actor and a
  critic on the same folder; ``runtime.device``, ``AGENT_BATCH_SIZE`` rows per batch, no progress bar);
  openai gets its own client on the agent's ``base_url`` (one URL or a list of servers of the model:
  requests spread over them, failover) / ``model`` / ``api_key_env``.
* Usage: :meth:`LLMAgent.usage` is the engine's (requests and tokens of an openai engine; {} otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from preftree.agents import prompts
from preftree.agents.base import Action, ActRequest, CritiqueRequest, Message
from preftree.config.agents import AgentParams
from preftree.config.runtime import RuntimeParams
from preftree.generation.sampling import Generator, Sampling

AGENT_BATCH_SIZE = 8  # rows per model.generate call for hf agents
LLM_BACKENDS = ("hf", "vllm", "openai")


def make_engine(backend: str, params: AgentParams, runtime: RuntimeParams, **client_kwargs: Any) -> Generator:
    """The generation engine an ``hf`` / ``vllm`` / ``openai`` agent runs on (``client_kwargs``: openai's
    backoff settings)."""
    if backend == "openai":
        from preftree.generation.openai import OpenAIGenerator

        return OpenAIGenerator(
            base_url=params.base_url, model=params.model, api_key_env=params.api_key_env, runtime=runtime,
            **client_kwargs,
        )  # fmt: skip
    if backend in ("hf", "vllm"):
        from preftree.generation.factory import shared_generator

        return shared_generator(
            params.model, engine=backend, device=runtime.device, batch_size=AGENT_BATCH_SIZE, vllm=runtime.vllm
        )
    raise ValueError(f"no generation engine for backend {backend!r}; expected one of {', '.join(LLM_BACKENDS)}")


class LLMAgent:
    """What the actor, the critic and the judge on an engine share: identity, sampling settings, the cache
    key of one request and the completion call."""

    def __init__(self, params: AgentParams, engine: Generator) -> None:
        self.params = params
        self.engine = engine
        self.identity: str = engine.identity

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identity!r}, engine={self.engine!r})"

    def usage(self) -> dict[str, int]:
        """The engine's request and token counts where it keeps them (openai), else {}."""
        usage = getattr(self.engine, "usage", None)
        return dict(usage()) if callable(usage) else {}

    def sampling(self) -> dict[str, Any]:
        p = self.params
        return {"temperature": p.temperature, "top_p": p.top_p, "max_new_tokens": p.max_new_tokens}

    def request_key(self, messages: list[Message], seed: int, n: int) -> dict[str, Any]:
        """What determines the texts of one request: its messages, the sampling settings, the seed and n."""
        return {"messages": messages, "sampling": self.sampling(), "seed": seed, "n": n}

    def complete(self, chats: Sequence[list[Message]], seeds: Sequence[int], ns: Sequence[int]) -> list[list[str]]:
        """For each chat, ns[i] texts sampled with seeds[i] (a request with n = 0 gets none)."""
        s = self.sampling()
        ask = [i for i, n in enumerate(ns) if n > 0]
        texts = self.engine.generate_each([chats[i] for i in ask], [Sampling(n=ns[i], seed=seeds[i], **s) for i in ask])
        out: list[list[str]] = [[] for _ in chats]
        for i, t in zip(ask, texts, strict=True):
            out[i] = t
        return out


class LLMActor(LLMAgent):
    """``Actor`` on a generation engine. ``system_prompt``: True / False / None = only for guided requests."""

    def __init__(self, params: AgentParams, engine: Generator, *, system_prompt: bool | None = None) -> None:
        super().__init__(params, engine)
        self.system_prompt = system_prompt

    def messages(self, request: ActRequest) -> list[Message]:
        return prompts.actor_messages(request, system_prompt=self.system_prompt)

    def act_key(self, request: ActRequest) -> dict[str, Any]:
        return self.request_key(self.messages(request), request.seed, request.n)

    def act(self, requests: Sequence[ActRequest]) -> list[list[Action]]:
        s = self.sampling()
        texts = self.complete([self.messages(r) for r in requests], [r.seed for r in requests], [r.n for r in requests])
        return [
            [Action(text=t, actor=self.identity, sampling={**s, "seed": r.seed, "index": j}) for j, t in enumerate(ts)]
            for r, ts in zip(requests, texts, strict=True)
        ]


class LLMCritic(LLMAgent):
    """``Critic`` on a generation engine, prompted with ``prompts.critic_messages`` (one sample per request)."""

    def critique_key(self, request: CritiqueRequest) -> dict[str, Any]:
        return self.request_key(prompts.critic_messages(request), request.seed, 1)

    def critique(self, requests: Sequence[CritiqueRequest]) -> list[str]:
        texts = self.complete(
            [prompts.critic_messages(r) for r in requests], [r.seed for r in requests], [1] * len(requests)
        )
        return [t[0].strip() for t in texts]
