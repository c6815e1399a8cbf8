"""The scripted (offline) teacher: the critic, which locates the wrong step of an action by comparing it
with the ground truth (the actor is ``scripted_actor``).

Critic
------
Finds the first step where the action departs from the reference and says what is wrong and how to
fix it, UltraInteract style ("Step 3 is incorrect. You subtracted ... but this step needs ..."),
without giving the final answer:

* synthetic math: the first step whose value differs from the reference value (CoT: the stated
  value; PoT: the value of the step's assignments, evaluated with a tiny arithmetic evaluator, the
  code is never executed), then the cause: a skipped step, a misread given, a wrong operator, a wrong
  quantity or number, wrongly grouped operations, or an arithmetic slip;
* synthetic code: the first ``# Step k`` block whose code differs from the reference step (with the
  offending tokens) and the first failing test quoted in the observation;
* synthetic logic: the clue or premise that was misread, swapped or ignored, or a wrong pick from a
  correct order / a reversed conclusion;
* other data: the first action step whose result does not occur in the reference rationale, or the
  first code line that departs from the reference code; a generic hint otherwise.

The feedback per family is written by ``critic_math``, ``critic_code`` and ``critic_logic``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from preftree.agents.base import CritiqueRequest
from preftree.agents.cache import default_critique_key
from preftree.agents.critic_code import coding_feedback, other_code_feedback
from preftree.agents.critic_logic import logic_feedback
from preftree.agents.critic_math import math_feedback, other_math_feedback
from preftree.agents.scripted_common import parse_reference
from preftree.code_version import code_version
from preftree.config.agents import AgentParams


class ScriptedCritic:
    """Locates the first wrong step with the ground truth and suggests the fix (never the final answer)."""

    def __init__(self, params: AgentParams | None = None, *, name: str = "critic") -> None:
        self.params = params
        self.name = name
        self.identity = f"scripted:{name}"

    def __repr__(self) -> str:
        return f"ScriptedCritic({self.identity!r})"

    def critique_key(self, request: CritiqueRequest) -> dict[str, Any]:
        return {**default_critique_key(request), "version": code_version("preftree.agents.scripted_critic")}

    def critique(self, requests: Sequence[CritiqueRequest]) -> list[str]:
        return [self.feedback(r) for r in requests]

    def feedback(self, request: CritiqueRequest) -> str:
        action = next((m["content"] for m in reversed(request.messages) if m["role"] == "assistant"), "")
        record = request.record
        ref = parse_reference(record)
        family = ref.get("family")
        if family == "math":
            return math_feedback(ref, record.get("task", ""), action)
        if family == "coding":
            return coding_feedback(ref, record, action, request.observation)
        if family == "logic":
            return logic_feedback(ref, action)
        task = record.get("task")
        if task in ("Math_CoT", "Math_PoT"):
            return other_math_feedback(ref, record, action)
        if task == "Coding":
            return other_code_feedback(ref, record, action, request.observation)
        return (
            "Your answer is wrong. Go back over the context and check each step of your reasoning against it; "
            "make sure the answer you give is the one your reasoning supports."
        )
