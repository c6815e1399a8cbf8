"""Judging the actions of records only an LLM judge can judge: the environment side (paper §1.2, §1.4).

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
* The judges themselves (scripted, or the critic's model) are agents: :mod:`preftree.agents.judge`.
* ``require_judge(records, judge)``: the stage calls it before any work, so a run whose selected data
  holds such records and no judge fails at once, naming the datasets and the key to set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from preftree.agents.judge import Judge, JudgeRequest, Verdict
from preftree.answers.extract import extract_code
from preftree.config.sandbox import SandboxParams
from preftree.config.workspace import PARAMS_FILE, ParamsError
from preftree.env import evaluate_actions
from preftree.interact import EvalContext, derive_seed
from preftree.observation import CORRECT, WRONG, Observation, syntax_error_observation, syntax_ok

log = logging.getLogger(__name__)

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


# ----------------------------------------------------------------------------- observations


@dataclass(frozen=True)
class JudgedObservation(Observation):
    """An ``observation.Observation`` written from a judge's verdict; ``judge`` and ``reason`` say by whom and why."""

    judge: str = ""
    reason: str = ""


def judged_observation(action: str, verdict: Verdict | None, *, judge: str = "") -> Observation:
    """The observation for one action of a record that needs a judge.

    Code that does not compile: the environment's syntax-error observation (wrong, ``syntax_ok`` False),
    whatever ``verdict`` is (None is expected: the judge is not asked). Otherwise the verdict decides.
    """
    code = extract_code(action)
    if code.strip() and not syntax_ok(code):
        return syntax_error_observation(code, "<solution>")
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
