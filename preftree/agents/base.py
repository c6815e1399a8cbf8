"""The one interface every actor and critic backend implements.

An actor returns n sampled actions for each history; a critic returns feedback for a history
(ending with an incorrect action), its observation and the ground truth. Requests are batched so
that HF / vLLM backends can sample many histories at once and the OpenAI backend can keep several
requests in flight; the scripted backend just loops.

Histories are chat messages: ``[{"role": "user", "content": instruction}, {"role": "assistant",
"content": action}, {"role": "user", "content": observation + "\\n" + critique}, ...]`` ending with
a user turn, exactly the trajectory layout of UltraInteract_pair.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from preftree.generation.sampling import Message  # {"role": "user" | "assistant" | "system", "content": str}

__all__ = ["Action", "ActRequest", "Actor", "Critic", "CritiqueRequest", "Message"]


@dataclass(frozen=True)
class Action:
    text: str  # the whole action as the model wrote it
    actor: str  # identity of the backend that wrote it, e.g. "scripted:teacher", "hf:models/base@<digest>"
    sampling: Mapping[str, Any] = field(default_factory=dict)  # temperature, top_p, max_new_tokens, seed, index
    mistake: str | None = None  # scripted backends only: the injected mistake (diagnostics and tests)


@dataclass(frozen=True)
class ActRequest:
    record: Mapping[str, Any]  # the instruction row (preftree.schema.INSTRUCTION_SCHEMA as a dict)
    messages: Sequence[Message]  # the history so far, ending with a user turn
    turn: int  # 1-based turn this action is for
    n: int  # how many actions to sample
    seed: int  # base seed; sample i uses a stream derived from (seed, i)
    guided: bool = False  # the actor may see the ground truth (paper App. A.2 step 3)


@dataclass(frozen=True)
class CritiqueRequest:
    record: Mapping[str, Any]  # includes the ground truth (answer / tests / reference)
    messages: Sequence[Message]  # the history, ending with the incorrect assistant action
    observation: str  # what the environment said about that action
    turn: int
    seed: int


class Actor(Protocol):
    identity: str

    def act(self, requests: Sequence[ActRequest]) -> list[list[Action]]:
        """For each request, `request.n` actions in sample order."""
        ...


class Critic(Protocol):
    identity: str

    def critique(self, requests: Sequence[CritiqueRequest]) -> list[str]:
        """For each request, feedback that locates the error and suggests a fix."""
        ...
