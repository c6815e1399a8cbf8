"""Several models behind one actor: the weak actor's pool and the actor's escalation models.

* :class:`PoolActor` answers each request on one member drawn from the request's seed (the paper,
  §2.3 / App. A.2: "for each correct action, one model randomly drawn from" a list of weaker models
  generates one incorrect action). The draw depends only on the request, so it is the same on a
  rerun, a resume or in another shard; each member keeps its own identity and call cache entries.
* :func:`endpoint_params` turns an agent's params into those of one configured model
  (``pool`` / ``escalation`` entries: ``{model, base_url}``), everything else (backend, sampling,
  ``api_key_env``) shared. An entry's ``base_url`` may list several servers of that model (the openai
  client spreads requests over them).
* :func:`sum_usage` adds up the ``usage()`` counts of several agents (the members, or the stage's agents).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from preftree.agents.base import Action, Actor, ActRequest
from preftree.config.agents import AgentParams, Endpoint
from preftree.hashing import stable_seed


def endpoint_params(params: AgentParams, endpoint: Endpoint) -> AgentParams:
    """``params`` on ``endpoint``'s model and URL, with no pool or escalation of its own."""
    if params.backend == "scripted":
        raise ValueError(
            f"pool / escalation models ({endpoint.model!r}) need a model backend (hf, vllm, openai), not scripted"
        )
    return dataclasses.replace(params, model=endpoint.model, base_url=endpoint.base_url, pool=[], escalation=[])


def sum_usage(agents: Sequence[object]) -> dict[str, int]:
    """The ``usage()`` counts of ``agents`` added up per name (agents without ``usage`` count nothing)."""
    total: dict[str, int] = {}
    for agent in agents:
        usage = getattr(agent, "usage", None)
        for name, value in (usage() if callable(usage) else {}).items():
            total[name] = total.get(name, 0) + int(value)
    return total


def draw(request: ActRequest, size: int) -> int:
    """The member that answers ``request``: seeded by the request's own seed."""
    return stable_seed("agents.pool", request.seed) % size


class PoolActor:
    """An ``Actor`` whose requests each go to one member, drawn by :func:`draw` (one call per member)."""

    def __init__(self, members: Sequence[Actor]) -> None:
        if not members:
            raise ValueError("a pool needs at least one member")
        self.members = list(members)
        self.identity = "pool(" + ", ".join(m.identity for m in self.members) + ")"

    def __repr__(self) -> str:
        return f"PoolActor({self.identity!r})"

    @property
    def calls(self) -> int:
        return sum(getattr(m, "calls", 0) for m in self.members)

    @property
    def hits(self) -> int:
        return sum(getattr(m, "hits", 0) for m in self.members)

    def usage(self) -> dict[str, int]:
        """The members' counts (cache hits and misses, requests, tokens), summed."""
        return sum_usage(self.members)

    def act(self, requests: Sequence[ActRequest]) -> list[list[Action]]:
        out: list[list[Action]] = [[] for _ in requests]
        picks = [draw(r, len(self.members)) for r in requests]
        for k, member in enumerate(self.members):
            mine = [i for i, p in enumerate(picks) if p == k]
            if mine:
                for i, actions in zip(mine, member.act([requests[i] for i in mine]), strict=True):
                    out[i] = actions
        return out
