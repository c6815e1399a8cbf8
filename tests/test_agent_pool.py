"""`weak.pool` and `actor.escalation`: the config shape, what make_actor / make_escalation build from it
(no model call), and the errors for configurations that cannot work."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from preftree.agents import make_actor, make_critic, make_escalation
from preftree.agents.base import ActRequest
from preftree.agents.cache import CachedActor
from preftree.agents.pool import PoolActor, draw, endpoint_params, sum_usage
from preftree.compose import from_conf
from preftree.config.agents import AgentParams, Endpoint
from preftree.config.runtime import RuntimeParams
from preftree.config.validate import coerce
from preftree.config.workspace import ParamsError

RUNTIME = from_conf(RuntimeParams, "runtime")
URLS = ("http://127.0.0.1:8001/v1", "http://127.0.0.1:8002/v1")


def openai_weak(**changes: object) -> AgentParams:
    return dataclasses.replace(from_conf(AgentParams, "weak", overrides=["actor@weak=openai"]), **changes)


def test_the_default_config_has_empty_pools_and_endpoints_validate() -> None:
    for section in ("actor", "weak", "critic"):
        params = from_conf(AgentParams, section)
        assert params.pool == [] and params.escalation == []
    entries = [{"model": "mistral-7b-instruct", "base_url": URLS[0]}, {"model": "models/weak", "base_url": None}]
    assert coerce(entries, list[Endpoint], "weak.pool") == [Endpoint("mistral-7b-instruct", URLS[0]),
                                                             Endpoint("models/weak", None)]  # fmt: skip
    with pytest.raises(ParamsError, match="weak.pool.0"):
        coerce([{"model": "m"}], list[Endpoint], "weak.pool")  # every key is set: base_url too


def test_a_weak_pool_is_one_cached_actor_per_endpoint(tmp_path: Path) -> None:
    pool = [Endpoint("weak-a", URLS[0]), Endpoint("weak-b", URLS[1]), Endpoint("weak-c", URLS[1])]
    actor = make_actor(openai_weak(pool=pool), RUNTIME, cache_path=tmp_path / "calls.sqlite", name="weak")
    assert isinstance(actor, PoolActor) and all(isinstance(m, CachedActor) for m in actor.members)
    assert [m.identity for m in actor.members] == [
        f"openai:weak-a@{URLS[0]}", f"openai:weak-b@{URLS[1]}", f"openai:weak-c@{URLS[1]}"
    ]  # fmt: skip
    member = endpoint_params(openai_weak(pool=pool), pool[1])
    assert (member.model, member.base_url, member.pool, member.api_key_env) == ("weak-b", URLS[1], [], "OPENAI_API_KEY")
    requests = [ActRequest(record={}, messages=[], turn=1, n=1, seed=s) for s in range(60)]
    picks = [draw(r, 3) for r in requests]
    assert set(picks) == {0, 1, 2} and picks == [draw(r, 3) for r in requests]  # seeded: the same every time


def test_escalation_models_and_the_configurations_that_cannot_work(tmp_path: Path) -> None:
    actor = openai_weak(weak=False, escalation=[Endpoint("gpt-4-turbo", URLS[0])])
    (strong,) = make_escalation(actor, RUNTIME, cache_path=None)
    assert strong.identity == f"openai:gpt-4-turbo@{URLS[0]}"
    assert make_escalation(openai_weak(), RUNTIME, cache_path=None) == []
    scripted = from_conf(AgentParams, "weak", pool=[Endpoint("weak-a", URLS[0])])
    with pytest.raises(ValueError, match="need a model backend"):
        make_actor(scripted, RUNTIME, cache_path=None, name="weak")
    critic = from_conf(AgentParams, "critic", overrides=["critic=openai"], pool=[Endpoint("weak-a", URLS[0])])
    with pytest.raises(ValueError, match="critic: pool and escalation are for actors"):
        make_critic(critic, RUNTIME, cache_path=None)


def test_base_url_may_list_several_servers_of_one_model(tmp_path: Path) -> None:
    both = list(URLS)
    actor = make_actor(openai_weak(weak=False, base_url=both), RUNTIME, cache_path=tmp_path / "c.sqlite", name="a")
    assert actor.identity == f"openai:gpt-3.5-turbo@{URLS[0]},{URLS[1]}"  # the cache keys name the server set
    pool = [Endpoint("weak-a", both), Endpoint("weak-b", URLS[1])]
    weak = make_actor(openai_weak(pool=pool), RUNTIME, cache_path=None, name="weak")
    assert [m.identity for m in weak.members] == [f"openai:weak-a@{URLS[0]},{URLS[1]}", f"openai:weak-b@{URLS[1]}"]
    assert coerce({"model": "m", "base_url": both}, Endpoint, "weak.pool.0") == Endpoint("m", both)
    with pytest.raises(ValueError, match="lists an endpoint twice"):
        make_actor(openai_weak(base_url=[URLS[0], URLS[0] + "/"]), RUNTIME, cache_path=None, name="weak")
    with pytest.raises(ValueError, match="needs `base_url`"):
        make_actor(openai_weak(base_url=[]), RUNTIME, cache_path=None, name="weak")
    with pytest.raises(ValueError, match="http"):
        make_actor(openai_weak(base_url=[URLS[0], "ftp://x/v1"]), RUNTIME, cache_path=None, name="weak")


class Member:
    def __init__(self, identity: str) -> None:
        self.identity = identity


class Counted:
    """An agent with usage counts (a member without ``usage`` counts nothing)."""

    def __init__(self, identity: str, **usage: int) -> None:
        self.identity, self.counts = identity, usage

    def usage(self) -> dict[str, int]:
        return dict(self.counts)


def test_a_pool_adds_up_its_members_usage() -> None:
    plain = Member("plain")  # no usage()
    pool = PoolActor([Counted("a", hits=2, misses=1, prompt_tokens=10), Counted("b", misses=3), plain])  # type: ignore[list-item]
    assert pool.usage() == {"hits": 2, "misses": 4, "prompt_tokens": 10}
    assert sum_usage([pool, Counted("c", hits=1)]) == {"hits": 3, "misses": 4, "prompt_tokens": 10}
