"""An LLM judge for Coding instructions the environment cannot judge (paper §1.2, §1.4).

UltraInteract includes Magicoder-Evol-Instruct: Coding problems with no tests and no ground truth.
The paper had GPT-4 Turbo judge whether the actor's actions solve them, and used these instructions
for SFT only (0 preference pairs; ``tree.sft_only`` here). ``preftree.env`` judges Coding by running
tests (or, for table problems, against an ``answer``), so such a record (``needs_judge``: task Coding,
no non-blank test, empty answer) would always be judged wrong.

* ``make_evaluate(limits, judge, workers)`` is the TreeBuilder's ``Evaluate``: records that need a
  judge go to the judge, every other record to ``env.evaluate_actions`` exactly as before.
* The syntax check still applies: an action whose code does not compile gets the environment's own
  syntax-error observation and is never shown to the judge (the paper's syntax filter). An action
  without code is judged as text (mode ``cot``); one with code has mode ``pot``. The code is never
  executed. The observation is just "Your answer is correct." / "Your answer is wrong." (status
  ``judged``; ``judge_unparseable`` when the judge's reply had no verdict: counted wrong).
* Backends (``interact.judge=critic``: the critic's backend settings): ``OpenAIJudge`` (the critic's
  endpoint, model, key variable and sampling; prompt ``prompts.judge_messages``, verdict read
  strictly by ``prompts.parse_verdict``) and ``ScriptedJudge`` (offline, deterministic: compares the
  action with the record's reference, see its docstring). Both sit behind the call cache.
* ``require_judge(records, judge)``: the stage calls it before any work, so a run whose selected data
  holds such records and no judge fails at once, naming the datasets and the key to set.
"""

from __future__ import annotations

import ast
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from preftree.agents import prompts
from preftree.agents.base import Message
from preftree.agents.cache import CallCache, _Counted
from preftree.agents.openai_compat import OpenAIAgent, request_seed
from preftree.config import PARAMS_FILE, AgentParams, ParamsError, RuntimeParams, SandboxParams
from preftree.env import CORRECT, WRONG, Observation, _syntax_error, evaluate_actions, extract_code, syntax_ok
from preftree.hashing import record_digest
from preftree.interact import EvalContext, derive_seed

log = logging.getLogger(__name__)

SCRIPTED_VERSION = 1  # bump when the scripted judge's verdicts or reasons change: part of its cache key
STATUS_JUDGED = "judged"
STATUS_UNPARSEABLE = "judge_unparseable"


# ----------------------------------------------------------------------------- which records


def needs_judge(record: Mapping[str, Any]) -> bool:
    """True for a Coding record with no non-blank test and an empty answer: only a judge can judge it."""
    if record.get("task") != "Coding":
        return False
    tests = record.get("tests")
    tests = [] if tests is None else list(tests)
    return not any(str(t).strip() for t in tests) and not str(record.get("answer") or "").strip()


def judged_datasets(records: pl.DataFrame | Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many records of each dataset need a judge (datasets sorted by name)."""
    if isinstance(records, pl.DataFrame):
        cols = [c for c in ("task", "dataset", "tests", "answer") if c in records.columns]
        rows: Iterable[Mapping[str, Any]] = (
            records.select(cols).filter(pl.col("task") == "Coding").iter_rows(named=True) if "task" in cols else ()
        )
    else:
        rows = records
    counts: dict[str, int] = {}
    for row in rows:
        if needs_judge(row):
            name = str(row.get("dataset") or "<unknown>")
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


class JudgeRequired(ParamsError):
    """Records need an LLM judge and none is configured (``interact.judge=none``)."""


def missing_judge_message(counts: Mapping[str, int]) -> str:
    total = sum(counts.values())
    names = ", ".join(f"{name} ({n})" for name, n in counts.items())
    return (
        f"{PARAMS_FILE}: interact.judge: {total} selected instruction(s) are Coding problems with no tests and no "
        f"answer, which only an LLM judge can judge, from dataset(s) {names}; set interact.judge=critic (e.g. "
        "`dvc exp run -S interact.judge=critic`: the critic's backend judges, the paper used GPT-4 Turbo) or leave "
        "these datasets out of the sources"
    )


def require_judge(records: pl.DataFrame | Iterable[Mapping[str, Any]], judge: Judge | None) -> dict[str, int]:
    """The per-dataset counts of records that need a judge; JudgeRequired when there are some and no judge."""
    counts = judged_datasets(records)
    if counts and judge is None:
        raise JudgeRequired(missing_judge_message(counts))
    return counts


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


@dataclass(frozen=True)
class JudgedObservation(Observation):
    """An ``env.Observation`` written from a judge's verdict; ``judge`` and ``reason`` say by whom and why."""

    judge: str = ""
    reason: str = ""


def judged_observation(action: str, verdict: Verdict | None, *, judge: str = "") -> Observation:
    """The observation for one action of a record that needs a judge.

    Code that does not compile: the environment's syntax-error observation (wrong, ``syntax_ok`` False),
    whatever ``verdict`` is (None is expected: the judge is not asked). Otherwise the verdict decides.
    """
    code = extract_code(action)
    if code.strip() and not syntax_ok(code):
        return _syntax_error(code, "<solution>")
    if verdict is None:
        raise ValueError("an action whose code compiles (or that has none) needs the judge's verdict")
    correct = bool(verdict.correct and verdict.parsed)
    return JudgedObservation(
        text=CORRECT if correct else WRONG,
        correct=correct,
        mode="pot" if code.strip() else "cot",
        code=code,
        answer=None,
        status=STATUS_JUDGED if verdict.parsed else STATUS_UNPARSEABLE,
        syntax_ok=True,
        judge=judge,
        reason=verdict.reason,
    )


# ----------------------------------------------------------------------------- Evaluate


class JudgingEvaluate:
    """The TreeBuilder's ``Evaluate``: the judge for records that need one, ``env.evaluate_actions`` otherwise.

    ``counts`` (this process's work: resumed shards are not recounted): actions judged, judged
    correct / wrong, unparseable replies, and syntax errors caught before the judge.
    """

    wants_context = True  # TreeBuilder passes context=EvalContext(messages, turn, seed)

    def __init__(self, limits: SandboxParams, judge: Judge | None, workers: int = 1) -> None:
        self.limits, self.judge, self.workers = limits, judge, workers
        self.counts = {"judged": 0, "correct": 0, "wrong": 0, "unparseable": 0, "syntax_errors": 0}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"JudgingEvaluate(judge={getattr(self.judge, 'identity', None)!r})"

    def __call__(
        self,
        record: Mapping[str, Any],
        texts: Sequence[str],
        prior_code: Sequence[str] = (),
        *,
        context: EvalContext | None = None,
    ) -> list[Observation]:
        if not needs_judge(record):
            return evaluate_actions(record, texts, prior_code=prior_code, limits=self.limits, workers=self.workers)
        if self.judge is None:
            raise JudgeRequired(missing_judge_message({str(record.get("dataset") or "<unknown>"): 1}))
        if context is None:
            context = EvalContext(
                messages=({"role": "user", "content": str(record.get("instruction") or "")},),
                turn=1,
                seed=derive_seed(record.get("id"), 1, "judge"),
            )
        out: list[Observation | None] = [None] * len(texts)
        ask: list[int] = []
        for i, text in enumerate(texts):
            code = extract_code(text)
            if code.strip() and not syntax_ok(code):
                out[i] = judged_observation(text, None)
            else:
                ask.append(i)
        requests = [JudgeRequest(record, context.messages, texts[i], context.turn, context.seed) for i in ask]
        verdicts = self.judge.judge(requests) if requests else []
        if len(verdicts) != len(requests):
            raise RuntimeError(f"{self.judge.identity}: {len(verdicts)} verdicts for {len(requests)} requests")
        for i, verdict in zip(ask, verdicts, strict=True):
            out[i] = judged_observation(texts[i], verdict, judge=self.judge.identity)
            if not verdict.parsed:
                log.warning("%s: record %s turn %d: %s", self.judge.identity, record.get("id"), context.turn,
                            verdict.reason)  # fmt: skip
        with self._lock:
            self.counts["judged"] += len(verdicts)
            self.counts["correct"] += sum(v.correct and v.parsed for v in verdicts)
            self.counts["wrong"] += sum(not (v.correct and v.parsed) for v in verdicts)
            self.counts["unparseable"] += sum(not v.parsed for v in verdicts)
            self.counts["syntax_errors"] += len(texts) - len(ask)
        return [o for o in out if o is not None]


def make_evaluate(limits: SandboxParams, judge: Judge | None, workers: int = 1) -> JudgingEvaluate:
    """The TreeBuilder ``Evaluate`` that dispatches between ``judge`` and the environment."""
    return JudgingEvaluate(limits, judge, workers)


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
        return {"version": SCRIPTED_VERSION, "record": record_digest(request.record), "action": request.action}

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


class OpenAIJudge(OpenAIAgent):
    """``Judge`` on an OpenAI-compatible endpoint: ``prompts.judge_messages``, one reply per request,
    verdict by ``prompts.parse_verdict`` (unparseable = wrong, ``parsed=False``). The critic's
    ``base_url`` / ``model`` / ``api_key_env`` / temperature / top_p / max_new_tokens."""

    @staticmethod
    def messages(request: JudgeRequest) -> list[Message]:
        instruction = str(request.record.get("instruction") or "")
        if not instruction and request.messages:
            instruction = request.messages[0]["content"]
        return prompts.judge_messages(instruction, request.action)

    def judge_key(self, request: JudgeRequest) -> dict[str, Any]:
        return {"messages": self.messages(request), "sampling": self.sampling(), "seed": request.seed, "n": 1}

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        texts = self.complete([(m, 1, request_seed(r.seed, m)) for r, m in ((r, self.messages(r)) for r in requests)])
        out = []
        for t in texts:
            correct, reason = prompts.parse_verdict(t[0] if t else "")
            out.append(Verdict(bool(correct), reason, parsed=correct is not None))
        return out


def default_judge_key(request: JudgeRequest) -> dict[str, Any]:
    return {
        "messages": [dict(m) for m in request.messages],
        "action": request.action,
        "record": record_digest(request.record),
        "turn": request.turn,
        "seed": request.seed,
    }


class CachedJudge(_Counted):
    """A ``Judge`` that answers from the call cache and sends only the misses to ``backend`` (one call)."""

    def key(self, request: JudgeRequest) -> str:
        return self._key("judge", request, default_judge_key)

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        keys = [self.key(r) for r in requests]

        def encode(v: Verdict) -> tuple[list[str], list[dict]]:
            return [v.reason], [{"correct": bool(v.correct), "parsed": bool(v.parsed)}]

        stored = self._through_cache("judge", requests, keys, self.backend.judge, encode)
        return [Verdict(bool(m["correct"]), r, parsed=bool(m.get("parsed", True))) for (r,), (m,) in stored]


def make_judge(choice: str, critic: AgentParams, runtime: RuntimeParams, *, cache_path: Path | None) -> Judge | None:
    """The judge ``interact.judge`` asks for: None for ``none``; for ``critic``, a judge on the critic's
    backend (scripted -> ``ScriptedJudge``, openai -> ``OpenAIJudge``) behind the call cache at
    ``cache_path`` (None = uncached). Other critic backends are a ParamsError (checked at stage start)."""
    if choice == "none":
        return None
    if choice != "critic":
        raise ParamsError(f"{PARAMS_FILE}: interact.judge: expected one of ['none', 'critic'], got {choice!r}")
    judge: Judge
    if critic.backend == "scripted":
        judge = ScriptedJudge()
    elif critic.backend == "openai":
        judge = OpenAIJudge(critic, runtime)
    else:
        raise ParamsError(
            f"{PARAMS_FILE}: interact.judge: 'critic' judges with the critic's backend, but critic.backend="
            f"{critic.backend!r} has no judge (supported: scripted, openai); set critic=openai or interact.judge=none"
        )
    if cache_path is None:
        return judge
    return CachedJudge(judge, CallCache(cache_path))
