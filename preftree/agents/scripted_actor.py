"""The scripted (offline) teacher: the actor, which writes UltraInteract-format actions from the ground
truth with realistic mistakes (the critic is ``scripted_critic``).

Actor
-----
Sample i of a request is wrong with probability ``mistake_rate * mistake_decay ** (turn - 1)``
(mistakes become rarer after each critique); ``weak=True`` makes every sample wrong (a weaker model),
``guided=True`` makes every sample correct (the actor was shown the ground truth). All randomness
comes from a ``random.Random`` seeded by sha256 of (request seed, record id, turn, sample index,
actor name): stable across processes, never Python's salted ``hash``.

* Synthetic records (``reference`` with a ``family``): ``render_solution`` writes the action; the
  mistake kind is drawn by the ``mistakes`` weights among ``applicable_mistakes(record)``. When no
  weighted kind applies, the final answer is perturbed instead (``perturbed_answer``).
* Other records (what the scripted actor supports, ``UnsupportedRecord`` otherwise):

  - Math_CoT / Math_PoT with an ``answer``: the steps come from the reference ``rationale`` (GSM8K
    calculator annotations ``<<...>>`` removed; one line per step, or one sentence per step when the
    rationale is one paragraph), from an SVAMP ``expression``, or a single generic step when there is
    only the answer. CoT ends with ``Answer:\\n\\boxed{answer}``; PoT adds a fence whose
    ``# Step k:`` comments repeat the steps and which prints the answer. Mistake: ``off_by_one``
    (the final answer moved by one; the last step that states it is changed consistently).
  - Coding with reference ``code`` (MBPP / HumanEval, CodeContests, TACO): two generic steps and the
    reference code in a fence. Mistakes: ``wrong_operator`` (one operator in the function body swapped, e.g. ``<`` ->
    ``<=``, ``+`` -> ``-``) or ``off_by_one`` (an integer literal moved by one). Such an action is
    very likely, but not verified, to fail the tests (dataset code is never executed here).
  - Coding with a table reference (WikiTableQuestions, judged by answer): a fence that reads
    ``data_table`` and ``Answer:\\n<gold>``; the mistake states another cell of the table.
  - Coding with a text reference (Magicoder, judged by ``interact.judge=critic``): the reference response;
    the mistake mutates one token of its first code block (``wrong_operator`` / ``off_by_one``).
  - Logic with an ``answer``: one step and ``Answer:\\n<answer>``; the mistake picks another option
    letter, flips yes/no / true/false, or moves a number by one.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from preftree.agents.arithmetic import normalize_number
from preftree.agents.base import Action, ActRequest
from preftree.agents.mistakes import code_mutations, other_answer, perturb_answer, perturb_synthetic, restate_last
from preftree.agents.scripted_common import parse_reference
from preftree.code_version import code_version
from preftree.config.agents import AgentParams
from preftree.hashing import record_digest, stable_seed
from preftree.sources.synthetic.common import python_fence, step_lines
from preftree.sources.synthetic.problems import MISTAKES, applicable_mistakes, render_solution


class UnsupportedRecord(ValueError):
    """The scripted teacher cannot write an action for this record (see the module docstring)."""


@dataclass
class _Drawn:
    text: str
    mistake: str | None


class ScriptedActor:
    """Writes actions from the ground truth; see the module docstring for the mistake model."""

    def __init__(self, params: AgentParams, *, name: str = "teacher") -> None:
        if not 0.0 <= params.mistake_rate <= 1.0:
            raise ValueError(f"mistake_rate must be in [0, 1], got {params.mistake_rate}")
        if not 0.0 <= params.mistake_decay <= 1.0:
            raise ValueError(f"mistake_decay must be in [0, 1], got {params.mistake_decay}")
        unknown = [m for m in params.mistakes if m not in MISTAKES]
        if unknown:
            raise ValueError(f"unknown mistake kind(s) {unknown}; expected some of {', '.join(MISTAKES)}")
        if any(w < 0 for w in params.mistakes.values()):
            raise ValueError(f"mistake weights must be non-negative, got {dict(params.mistakes)}")
        self.params = params
        self.name = name
        self.identity = f"scripted:{name}" + (":weak" if params.weak else "")
        self._applicable: dict[str, list[str]] = {}

    def __repr__(self) -> str:
        return f"ScriptedActor({self.identity!r})"

    def config(self) -> dict[str, Any]:
        p = self.params
        return {
            "version": code_version("preftree.agents.scripted_actor"),  # any edit of its texts: a cache miss
            "mistake_rate": p.mistake_rate,
            "mistake_decay": p.mistake_decay,
            "weak": p.weak,
            "mistakes": dict(sorted(p.mistakes.items())),
        }

    def act_key(self, request: ActRequest) -> dict[str, Any]:
        return {
            "messages": [dict(m) for m in request.messages],
            "record": record_digest(request.record),
            "sampling": {**self.config(), "name": self.name, "turn": request.turn, "guided": request.guided},
            "seed": request.seed,
            "n": request.n,
        }

    def wrong_probability(self, turn: int, *, guided: bool = False) -> float:
        if guided:
            return 0.0
        if self.params.weak:
            return 1.0
        return self.params.mistake_rate * self.params.mistake_decay ** max(0, turn - 1)

    def act(self, requests: Sequence[ActRequest]) -> list[list[Action]]:
        return [[self._sample(req, i) for i in range(req.n)] for req in requests]

    def _sample(self, req: ActRequest, index: int) -> Action:
        record = req.record
        rid = str(record.get("id", ""))
        rng = random.Random(stable_seed("scripted.actor", req.seed, rid, req.turn, index, self.name))
        p = self.wrong_probability(req.turn, guided=req.guided)
        wrong = rng.random() < p
        ref = parse_reference(record)
        if "family" in ref:
            drawn = self._synthetic(record, ref, wrong, rng)
        else:
            drawn = self._other(record, ref, wrong, rng)
        sampling = {"seed": req.seed, "index": index, "turn": req.turn, "guided": req.guided, "p_wrong": p}
        return Action(text=drawn.text, actor=self.identity, sampling=sampling, mistake=drawn.mistake)

    def _pick(self, kinds: Sequence[str], rng: random.Random) -> str | None:
        weighted = [(k, self.params.mistakes.get(k, 0.0)) for k in kinds]
        weighted = [(k, w) for k, w in weighted if w > 0]
        if not weighted:
            return None
        return rng.choices([k for k, _ in weighted], weights=[w for _, w in weighted])[0]

    # ---------------------------------------------------------------- synthetic

    def _applicable_for(self, record: Mapping[str, Any]) -> list[str]:
        key = f"{record.get('id')}|{record_digest(record)}"
        if key not in self._applicable:
            if len(self._applicable) > 50_000:
                self._applicable.clear()
            self._applicable[key] = applicable_mistakes(record)
        return self._applicable[key]

    def _synthetic(self, record: Mapping[str, Any], ref: Mapping[str, Any], wrong: bool, rng: random.Random) -> _Drawn:
        correct = render_solution(record, rng=rng)
        assert correct is not None
        if not wrong:
            return _Drawn(correct, None)
        kind = self._pick(self._applicable_for(record), rng)
        if kind is not None:
            text = render_solution(record, mistake=kind, rng=rng)
            if text is not None:
                return _Drawn(text, kind)
        return _Drawn(perturb_synthetic(record, ref, correct, rng), "perturbed_answer")

    # ---------------------------------------------------------------- other datasets

    def _other(self, record: Mapping[str, Any], ref: Mapping[str, Any], wrong: bool, rng: random.Random) -> _Drawn:
        task = record.get("task")
        answer = (record.get("answer") or "").strip()
        if task in ("Math_CoT", "Math_PoT"):
            if not answer:
                raise UnsupportedRecord(f"scripted actor: {task} record {record.get('id')} has no answer")
            steps = _math_steps(ref)
            if not wrong:
                return _Drawn(_math_action(task, steps, answer), None)
            kind = self._pick(["off_by_one"], rng) or "perturbed_answer"
            bad = perturb_answer(answer, rng)
            return _Drawn(_math_action(task, restate_last(steps, answer, bad), bad), kind)
        if task == "Coding" and ref.get("kind") == "table" and answer:
            return _table_drawn(ref, answer, wrong, rng)
        if task == "Coding" and ref.get("kind") == "text" and str(ref.get("text") or "").strip():
            return _text_drawn(str(ref["text"]), wrong, rng)
        if task == "Coding":
            code = ref.get("code") if ref.get("kind") == "code" else None
            if not code:
                raise UnsupportedRecord(
                    f"scripted actor: Coding record {record.get('id')} has no reference code "
                    "(supported: synthetic, mbpp, humaneval or any reference {'kind': 'code', 'code': ...})"
                )
            entry = ref.get("entry_point") or ""
            if not wrong:
                return _Drawn(_code_action(code, entry), None)
            options = {k: code_mutations(code, k) for k in ("wrong_operator", "off_by_one")}
            kind = self._pick([k for k, v in options.items() if v], rng)
            if kind is None:
                kind = next((k for k, v in options.items() if v), None)
            if kind is None:
                # no token to mutate: rename the entry point, or (a stdin/stdout script) print one stray line
                broken = (
                    re.sub(rf"\bdef\s+{re.escape(entry)}\b", f"def {entry}_", code, count=1)
                    if entry
                    else code.rstrip() + "\nprint(-1)"
                )
                return _Drawn(_code_action(broken, entry), "perturbed_answer")
            return _Drawn(_code_action(rng.choice(options[kind]), entry), kind)
        if task == "Logic":
            if not answer:
                raise UnsupportedRecord(f"scripted actor: Logic record {record.get('id')} has no answer")
            if not wrong:
                return _Drawn(_logic_action(answer), None)
            return _Drawn(_logic_action(other_answer(answer, rng)), "perturbed_answer")
        raise UnsupportedRecord(f"scripted actor: unsupported task {task!r} for record {record.get('id')}")


def _math_steps(ref: Mapping[str, Any]) -> list[str]:
    kind = ref.get("kind")
    if kind == "rationale" and str(ref.get("rationale") or "").strip():
        text = re.sub(r"<<[^<>]*>>", "", str(ref["rationale"]))
        lines = [re.sub(r"\s+", " ", ln).strip() for ln in text.splitlines()]
        lines = [ln for ln in lines if ln]
        if len(lines) == 1:
            parts = re.split(r"(?<=[.!?])\s+(?=[A-Z\\$])", lines[0])
            lines = [p.strip() for p in parts if p.strip()]
        return lines
    if kind == "expression" and str(ref.get("expression") or "").strip():
        expr = re.sub(r"\s+", " ", str(ref["expression"])).strip()
        return [f"Translate the question into the expression {expr}.", "Evaluate the expression."]
    return ["Work out the quantity the question asks for from the given numbers."]


def _py_literal(answer: str) -> str:
    num = normalize_number(answer)
    return num if num is not None else repr(answer)


def _math_action(task: str, steps: Sequence[str], answer: str) -> str:
    if task == "Math_CoT":
        return f"{step_lines(steps)}\n\nAnswer:\n\\boxed{{{answer}}}"
    code = [f"# Step {k}: {s}" for k, s in enumerate(steps, start=1)]
    code += [f"answer = {_py_literal(answer)}", "print(answer)"]
    return f"{step_lines(steps)}\n{python_fence(chr(10).join(code))}"


def _code_action(code: str, entry: str) -> str:
    name = f"`{entry}`" if entry else "the required function"
    steps = [f"Define {name} with the signature the task asks for.", "Implement the logic and return the result."]
    return f"{step_lines(steps)}\n{python_fence(code)}"


_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)


def _table_action(answer: str) -> str:
    steps = [
        "Read the table `data_table` through the open SQLite connection `conn`.",
        "Find the cell the question asks for.",
    ]
    code = 'rows = conn.execute("SELECT * FROM data_table").fetchall()\nprint(len(rows), "rows")'
    return f"{step_lines(steps)}\n{python_fence(code)}\n\nAnswer:\n{answer}"


def _table_drawn(ref: Mapping[str, Any], answer: str, wrong: bool, rng: random.Random) -> _Drawn:
    """WikiTableQuestions (a table reference judged by answer): the gold answer, or another cell of the table."""
    if not wrong:
        return _Drawn(_table_action(answer), None)
    gold = {str(a).strip().lower() for a in ref.get("answers") or [answer]}
    rows = (ref.get("table") or {}).get("rows") or []
    cells = sorted(
        {str(c).strip() for row in rows for c in row if str(c).strip() and str(c).strip().lower() not in gold}
    )
    return _Drawn(_table_action(rng.choice(cells) if cells else perturb_answer(answer, rng)), "perturbed_answer")


def _text_drawn(text: str, wrong: bool, rng: random.Random) -> _Drawn:
    """Magicoder (a text reference judged by the critic's judge): the reference response, or it with one
    token of its first code block mutated (a prose-only reference: a reply that misses it)."""
    if not wrong:
        return _Drawn(text, None)
    block = _FENCE.search(text)
    if block:
        options = {k: code_mutations(block.group(1), k) for k in ("wrong_operator", "off_by_one")}
        kinds = [k for k, v in options.items() if v]
        if kinds:
            kind = rng.choice(kinds)
            mutated = rng.choice(options[kind])
            return _Drawn(text[: block.start(1)] + mutated + text[block.end(1) :], kind)
    return _Drawn("Step 1: Restate the task.\n\nI could not work out a solution.", "perturbed_answer")


def _logic_action(answer: str) -> str:
    return f"Step 1: Check each option against the context and keep the one it supports.\n\nAnswer:\n{answer}"
