"""The LLM judge for Coding instructions the environment cannot judge (paper §1.2): the agents.

The environment side (which records need a judge, the observation a verdict becomes, the TreeBuilder's
``Evaluate``) is :mod:`preftree.judging`; here are the judges.

* ``Judge``: ``judge(requests) -> list[Verdict]``, one verdict per ``JudgeRequest`` (the record, the
  history, the action).
* Backends (``interact.judge=critic``: the critic's backend settings): ``LLMJudge`` on the critic's
  openai engine (endpoint, model, key variable and sampling; prompt ``prompts.judge_messages``, verdict
  read strictly by ``prompts.parse_verdict``) and ``ScriptedJudge`` (offline, deterministic: compares
  the action with the record's reference, see its docstring). Both sit behind the call cache
  (``CachedJudge``).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from preftree.agents import prompts
from preftree.agents.base import Message
from preftree.agents.cache import CallCache, CountedBackend, default_key
from preftree.agents.llm import LLMAgent, make_engine
from preftree.answers.extract import extract_code
from preftree.code_version import code_version
from preftree.config.agents import AgentParams
from preftree.config.runtime import RuntimeParams
from preftree.config.workspace import PARAMS_FILE, ParamsError
from preftree.hashing import record_digest

# ----------------------------------------------------------------------------- the interface


@dataclass(frozen=True)
class JudgeRequest:
    record: Mapping[str, Any]  # the instruction row (no tests, no answer)
    messages: Sequence[Message]  # the history the action answers, ending with a user turn
    action: str  # the action to judge (its code compiles, or it has none)
    turn: int
    seed: int


@dataclass(frozen=True)
class Verdict:
    correct: bool
    reason: str  # the judge's short check; for an unparseable reply, what it said instead
    parsed: bool = True  # False: the reply had no verdict (then correct is False)


class Judge(Protocol):
    identity: str

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        """For each request, whether its action correctly solves the record's task, and why."""
        ...


# ----------------------------------------------------------------------------- backends


def _reference(record: Mapping[str, Any]) -> tuple[str, str]:
    """(reference code, reference text) of a record, from ``prompts.correct_solution``: the code of a
    ``code`` reference, the rendered solution of a synthetic one, the fenced Python of a text reference
    (Magicoder's response); the text is the whole solution."""
    solution = prompts.correct_solution(record) or ""
    return extract_code(solution), solution


def _program_lines(code: str) -> list[str]:
    """The program as normalised lines: ``ast.unparse`` when it parses (formatting and comments gone),
    else the stripped lines without blank and comment-only ones."""
    try:
        return ast.unparse(ast.parse(code)).splitlines()
    except (SyntaxError, ValueError, RecursionError):
        return [s for line in code.splitlines() if (s := line.strip()) and not s.startswith("#")]


def _squash(text: str) -> str:
    return " ".join(text.casefold().split())


class ScriptedJudge:
    """The offline judge: deterministic, from the record's reference (tests and ``answer`` are empty).

    * Reference code (``prompts.correct_solution``: a ``code`` reference, a synthetic problem's rendered
      solution, or the fenced Python of a text reference): correct iff the action's code is the same
      program, compared as ``ast.unparse`` lines (formatting and comments do not matter; any changed
      token, e.g. a swapped operator, does). The reason quotes the first line that differs. An action
      without code is wrong.
    * A prose reference without code: correct iff the action contains it (case and spacing ignored).
    * No reference: wrong (nothing to compare with).
    """

    identity = "scripted:judge"

    def __repr__(self) -> str:
        return f"ScriptedJudge({self.identity!r})"

    def judge_key(self, request: JudgeRequest) -> dict[str, Any]:
        return {
            "version": code_version("preftree.agents.judge"),
            "record": record_digest(request.record),
            "action": request.action,
        }

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        return [self.verdict(r.record, r.action) for r in requests]

    def verdict(self, record: Mapping[str, Any], action: str) -> Verdict:
        ref_code, prose = _reference(record)
        code = extract_code(action)
        if ref_code.strip():
            if not code.strip():
                return Verdict(False, "The response has no Python code, but the task asks for a program.")
            got, want = _program_lines(code), _program_lines(ref_code)
            if got == want:
                return Verdict(True, "The code is the reference program (up to formatting and comments).")
            k = next((i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w), min(len(got), len(want)))
            where = f"line {k + 1}: {got[k].strip()!r}" if k < len(got) else f"it stops before {want[k].strip()!r}"
            return Verdict(False, f"The code departs from a correct solution at {where}.")
        if prose.strip():
            if _squash(prose) in _squash(action):
                return Verdict(True, "The response gives the expected answer.")
            return Verdict(False, "The response does not give the expected answer.")
        return Verdict(False, "No reference to judge against: counted wrong.")


class LLMJudge(LLMAgent):
    """``Judge`` on a generation engine: ``prompts.judge_messages``, one reply per request, verdict by
    ``prompts.parse_verdict`` (unparseable = wrong, ``parsed=False``). The critic's settings: ``base_url`` /
    ``model`` / ``api_key_env`` (its engine) and temperature / top_p / max_new_tokens."""

    @staticmethod
    def messages(request: JudgeRequest) -> list[Message]:
        instruction = str(request.record.get("instruction") or "")
        if not instruction and request.messages:
            instruction = request.messages[0]["content"]
        return prompts.judge_messages(instruction, request.action)

    def judge_key(self, request: JudgeRequest) -> dict[str, Any]:
        return self.request_key(self.messages(request), request.seed, 1)

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        texts = self.complete([self.messages(r) for r in requests], [r.seed for r in requests], [1] * len(requests))
        out = []
        for t in texts:
            correct, reason = prompts.parse_verdict(t[0] if t else "")
            out.append(Verdict(bool(correct), reason, parsed=correct is not None))
        return out


def default_judge_key(request: JudgeRequest) -> dict[str, Any]:
    return default_key(request, action=request.action)


class CachedJudge(CountedBackend):
    """A ``Judge`` that answers from the call cache and sends only the misses to ``backend`` (one call)."""

    def key(self, request: JudgeRequest) -> str:
        return self.cache_key("judge", request, default_judge_key)

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        keys = [self.key(r) for r in requests]

        def encode(v: Verdict) -> tuple[list[str], list[dict]]:
            return [v.reason], [{"correct": bool(v.correct), "parsed": bool(v.parsed)}]

        stored = self.through_cache("judge", requests, keys, self.backend.judge, encode)
        return [Verdict(bool(m["correct"]), r, parsed=bool(m.get("parsed", True))) for (r,), (m,) in stored]


def make_judge(choice: str, critic: AgentParams, runtime: RuntimeParams, *, cache_path: Path | None) -> Judge | None:
    """The judge ``interact.judge`` asks for: None for ``none``; for ``critic``, a judge on the critic's
    backend (scripted -> ``ScriptedJudge``, openai -> ``LLMJudge`` on its engine) behind the call cache at
    ``cache_path`` (None = uncached). Other critic backends are a ParamsError (checked at stage start)."""
    if choice == "none":
        return None
    if choice != "critic":
        raise ParamsError(f"{PARAMS_FILE}: interact.judge: expected one of ['none', 'critic'], got {choice!r}")
    judge: Judge
    if critic.backend == "scripted":
        judge = ScriptedJudge()
    elif critic.backend == "openai":
        judge = LLMJudge(critic, make_engine("openai", critic, runtime))
    else:
        raise ParamsError(
            f"{PARAMS_FILE}: interact.judge: 'critic' judges with the critic's backend, but critic.backend="
            f"{critic.backend!r} has no judge (supported: scripted, openai); set critic=openai or interact.judge=none"
        )
    if cache_path is None:
        return judge
    return CachedJudge(judge, CallCache(cache_path))
