"""params `actor`, `weak` and `critic`: one agent backend each (stage `interact`).
Values: conf/actor/, conf/critic/ (`weak` composes conf/actor/ too: `actor@weak` in conf/config.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from preftree.config.types import NonNegativeFloat, PositiveInt, Probability, Temperature, TopP


@dataclass(frozen=True)
class Endpoint:
    """One more model on the agent's backend: ``model`` (hf/vllm: a folder or hub id; openai: the model
    name) served at ``base_url`` (openai; null for hf/vllm)."""

    model: str
    base_url: str | list[str] | None  # openai: one URL, or several servers of this model (spread, failover)


@dataclass(frozen=True)
class AgentParams:
    """An actor or critic backend. `scripted` is the offline default; the others call real models."""

    backend: Literal["scripted", "hf", "openai", "vllm"]
    # scripted actor: probability that an action contains a realistic mistake at turn 1; after each
    # critique it is multiplied by `mistake_decay` (mistakes fall after critique). `weak` = always wrong.
    mistake_rate: Probability
    mistake_decay: Probability
    weak: bool
    mistakes: dict[str, NonNegativeFloat]  # mistake kind -> relative weight
    # hf / vllm / openai
    model: str  # hf/vllm: a local folder (e.g. models/base) or hub id; openai: the model name
    base_url: str | list[str] | None  # openai: e.g. http://127.0.0.1:8000/v1, or a list of servers of one model
    api_key_env: str  # openai: the NAME of the env var holding the key (never the key)
    temperature: Temperature
    top_p: TopP
    max_new_tokens: PositiveInt
    # an actor on a model backend (hf / vllm / openai) only; [] = `model` / `base_url` alone
    # pool: the models one is drawn from per request, seeded by the request (the `weak` actor: the
    #   paper's weaker models, one drawn for each incorrect action, §2.3 / App. A.2)
    # escalation: the models of the escalation rounds, round r on entry min(r, len) (the `actor`: the
    #   paper switches from cheaper models to a stronger one when no sample is correct, App. A.2)
    pool: list[Endpoint]
    escalation: list[Endpoint]
