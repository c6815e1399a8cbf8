"""Grow UltraInteract-style preference trees: act -> execute -> critique, turn by turn.

The protocol (paper §2.2-2.3, Fig. 3, App. A.2), for each instruction and turn t:

1. The actor samples K actions for the history. Sample 0 is the trajectory's own action.
2. The environment checks each one (`preftree.env`): code runs in the sandbox, answers are compared
   with the ground truth. Code that fails Python's syntax check is never kept (paper: it would let
   a reward model learn surface features). Coding problems with neither tests nor an answer
   (Magicoder-Evol-Instruct) are judged by an LLM judge instead (`preftree.agents.judge`, applied by
   `preftree.judging`; paper §2.1).
3. *Chosen*: sample 0 if it is correct, else the first correct sample; if there is none, up to
   `escalation_rounds` more rounds of K samples (on the `escalation` actors when configured: the
   paper switches to a stronger model); if still none and `guided`, one action written with the
   ground truth in view, except for records that have no worked solution or whose dataset is in
   `answer_only` (the paper: datasets with answers only use steps (1)-(2), App. A.2), so the actor
   is never shown a bare answer.
4. *Rejected*: with ``rejected="own"``, sample 0 if it is incorrect, else another incorrect sample,
   else an action of the weak actor; with ``rejected="weak"`` (the paper, §2.3 / App. A.2), always
   the weak actor's action, whose model is drawn per action from `weak.pool`
   (:class:`preftree.agents.pool.PoolActor`), never the actor's own wrong sample.
5. If sample 0 was correct the trajectory ends at turn t. Otherwise the critic, who sees the
   ground truth, comments on the rejected action; ``observation + "\\n" + critique`` becomes the
   next user turn and that action is expanded into turn t+1, up to `max_turns`.

Instructions of a shard advance in lockstep, turn by turn, so actor and critic calls are batched
and sandbox runs overlap. Every random choice derives from (seed, instruction id, turn, round), so
a shard's nodes do not depend on which other instructions share it or on a resume.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from preftree.agents.base import Action, Actor, ActRequest, Critic, CritiqueRequest, Message
from preftree.agents.prompts import correct_solution
from preftree.config.interact import InteractParams
from preftree.env import carry_over
from preftree.schema import NODE_SCHEMA, TREE_SCHEMA

# (record, unique action texts, prior code) -> one preftree.env.Observation per text. An Evaluate
# with a true `wants_context` attribute (preftree.judging.make_evaluate) is also given
# `context=EvalContext(...)`: what an LLM judge needs besides the texts.
Evaluate = Callable[[Mapping[str, Any], Sequence[str], Sequence[str]], list[Any]]


@dataclass(frozen=True)
class EvalContext:
    messages: Sequence[Message]  # the history the actions answer, ending with a user turn
    turn: int  # 1-based
    seed: int  # derived from (seed, instruction id, turn): equal texts in one turn get equal verdicts


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from any parts (never Python's salted hash())."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass
class _Candidate:
    action: Action
    obs: Any
    origin: str


@dataclass
class _Tree:
    record: Mapping[str, Any]
    messages: list[Message]
    prior_code: list[str] = field(default_factory=list)
    turns: list[dict] = field(default_factory=list)  # per turn: chosen, rejected, expanded, critique
    end_turn: int | None = None
    solved: bool = False
    escalations: int = 0
    guided: int = 0
    syntax_dropped: int = 0


@dataclass(frozen=True)
class Agents:
    actor: Actor
    weak: Actor
    critic: Critic
    escalation: Sequence[Actor] = ()  # escalation round r runs on escalation[min(r, len) - 1]; () = the actor

    def escalator(self, round_: int) -> Actor:
        """The actor of escalation round ``round_`` (1-based)."""
        return self.escalation[min(round_, len(self.escalation)) - 1] if self.escalation else self.actor


def guidable(record: Mapping[str, Any], answer_only: Sequence[str]) -> bool:
    """Whether the ground-truth-guided step may run on ``record``: it has a worked solution (rationale,
    reference code) and its dataset is not one of the ``answer_only`` ones (paper App. A.2, Table 7)."""
    return record.get("dataset") not in answer_only and correct_solution(record) is not None


def _first(cands: Sequence[_Candidate], correct: bool) -> _Candidate | None:
    return next((c for c in cands if c.obs.syntax_ok and c.obs.correct == correct), None)


class TreeBuilder:
    """Runs the protocol for a batch of instructions (one shard)."""

    def __init__(
        self,
        agents: Agents,
        evaluate: Evaluate,
        params: InteractParams,
        *,
        seed: int,
        workers: int = 1,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        """``on_progress(k)``: called after each turn with the k trees that ended in it (a progress bar)."""
        self.agents, self.evaluate, self.params, self.seed = agents, evaluate, params, seed
        self.workers = max(1, workers)
        self.on_progress = on_progress

    # -- helpers ---------------------------------------------------------------------------
    def _sample(
        self, actor: Actor, trees: Sequence[_Tree], turn: int, n: int, round_: int, *, guided: bool = False, origin: str
    ) -> list[list[_Candidate]]:
        if not trees:
            return []
        reqs = [
            ActRequest(
                record=t.record,
                messages=list(t.messages),
                turn=turn,
                n=n,
                seed=derive_seed(self.seed, t.record["id"], turn, round_, origin),
                guided=guided,
            )
            for t in trees
        ]
        actions = actor.act(reqs)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            observed = list(pool.map(lambda ta: self._observe(ta[0], ta[1], turn), zip(trees, actions, strict=True)))
        out = []
        for tree, acts, obs in zip(trees, actions, observed, strict=True):
            tree.syntax_dropped += sum(not o.syntax_ok for o in obs)
            out.append([_Candidate(a, o, origin) for a, o in zip(acts, obs, strict=True)])
        return out

    def _observe(self, tree: _Tree, actions: Sequence[Action], turn: int) -> list[Any]:
        texts = [a.text for a in actions]
        unique = list(dict.fromkeys(texts))  # identical actions are executed once
        if getattr(self.evaluate, "wants_context", False):
            context = EvalContext(
                messages=tuple(dict(m) for m in tree.messages),
                turn=turn,
                seed=derive_seed(self.seed, tree.record["id"], turn, "judge"),
            )
            observed = self.evaluate(tree.record, unique, tuple(tree.prior_code), context=context)
        else:
            observed = self.evaluate(tree.record, unique, tuple(tree.prior_code))
        results = dict(zip(unique, observed, strict=True))
        return [results[t] for t in texts]

    # -- one turn --------------------------------------------------------------------------
    def _turn(self, trees: list[_Tree], turn: int) -> None:
        p = self.params
        cands = self._sample(self.agents.actor, trees, turn, p.samples_per_turn, 0, origin="sample")
        chosen: list[_Candidate | None] = [_first(c, True) for c in cands]
        for round_ in range(1, p.escalation_rounds + 1):
            need = [i for i, c in enumerate(chosen) if c is None]
            more = self._sample(
                self.agents.escalator(round_), [trees[i] for i in need], turn, p.samples_per_turn, round_,
                origin="escalation",
            )  # fmt: skip
            for i, extra in zip(need, more, strict=True):
                trees[i].escalations += 1
                chosen[i] = _first(extra, True)
        if p.guided:
            need = [i for i, c in enumerate(chosen) if c is None and guidable(trees[i].record, p.answer_only)]
            guided = self._sample(self.agents.actor, [trees[i] for i in need], turn, 1, 0, guided=True, origin="guided")
            for i, extra in zip(need, guided, strict=True):
                trees[i].guided += 1
                chosen[i] = _first(extra, True)

        own = [c[0] for c in cands]
        rejected: list[_Candidate | None] = []
        for c, first in zip(cands, own, strict=True):
            wrong = [x for x in c if x.obs.syntax_ok and not x.obs.correct] if p.rejected == "own" else []
            rejected.append(first if first in wrong else (wrong[0] if wrong else None))
        need = [i for i, r in enumerate(rejected) if r is None]
        weak = self._sample(self.agents.weak, [trees[i] for i in need], turn, 1, 0, origin="weak")
        for i, extra in zip(need, weak, strict=True):
            rejected[i] = _first(extra, False)

        # the trajectory continues from its own action when that was wrong (nothing follows the last turn)
        wrong_own = {
            i
            for i, first in enumerate(own)
            if not (first.obs.syntax_ok and first.obs.correct) and rejected[i] is not None
        }
        expand = sorted(wrong_own) if turn < p.max_turns else []
        requests = [
            CritiqueRequest(
                record=trees[i].record,
                messages=[*trees[i].messages, {"role": "assistant", "content": rejected[i].action.text}],
                observation=rejected[i].obs.text,
                turn=turn,
                seed=derive_seed(self.seed, trees[i].record["id"], turn, "critic"),
            )
            for i in expand
        ]
        critique_of = dict(zip(expand, self.agents.critic.critique(requests) if requests else [], strict=True))

        for i, tree in enumerate(trees):
            tree.turns.append(
                {
                    "chosen": chosen[i],
                    "rejected": rejected[i],
                    "expanded": i in critique_of,
                    "critique": critique_of.get(i, ""),
                }
            )
            if i in critique_of:
                r = rejected[i]
                tree.messages += [
                    {"role": "assistant", "content": r.action.text},
                    {"role": "user", "content": f"{r.obs.text}\n{critique_of[i]}"},
                ]
                tree.prior_code = list(carry_over(tree.prior_code, r.obs))  # state carries by replay
            else:
                first = own[i]
                tree.end_turn = turn  # solved, capped at max_turns, or nothing left to expand
                tree.solved = bool(first.obs.syntax_ok and first.obs.correct)

    # -- public ----------------------------------------------------------------------------
    def build(self, records: Sequence[Mapping[str, Any]]) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Grow one tree per record; returns (nodes, trees) frames."""
        trees = [_Tree(record=r, messages=[{"role": "user", "content": r["instruction"]}]) for r in records]
        for turn in range(1, self.params.max_turns + 1):
            active = [t for t in trees if t.end_turn is None]
            if not active:
                break
            self._turn(active, turn)
            if self.on_progress is not None:
                self.on_progress(sum(t.end_turn is not None for t in active))
        return _node_frame(trees), _tree_frame(trees)


def _node_rows(tree: _Tree) -> list[dict]:
    rec, depth = tree.record, len(tree.turns)
    rows, parent = [], None
    for turn, step in enumerate(tree.turns, 1):
        pair_id = f"{rec['id']}_{depth}_{turn}"
        next_parent = None
        for role, cand in (("chosen", step["chosen"]), ("rejected", step["rejected"])):
            if cand is None:
                continue
            node_id = f"{pair_id}_{'c' if role == 'chosen' else 'r'}"
            expanded = role == "rejected" and step["expanded"]
            rows.append(
                {
                    "node_id": node_id,
                    "pair_id": pair_id,
                    "parent_id": parent,
                    "instruction_id": rec["id"],
                    "tree_id": rec["id"],
                    "problem_id": rec["problem_id"],
                    "task": rec["task"],
                    "dataset": rec["dataset"],
                    "source_row": rec["source_row"],
                    "depth": depth,
                    "turn": turn,
                    "role": role,
                    "correct": bool(cand.obs.correct),
                    "expanded": expanded,
                    "action": cand.action.text,
                    "mode": cand.obs.mode,
                    "code": cand.obs.code,
                    "observation": cand.obs.text,
                    "critique": step["critique"] if expanded else "",
                    "origin": cand.origin,
                    "actor": cand.action.actor,
                    "sampling": json.dumps(dict(cand.action.sampling), sort_keys=True),
                    "mistake": cand.action.mistake,
                }
            )
            if expanded:
                next_parent = node_id
        parent = next_parent
    return rows


def _node_frame(trees: Sequence[_Tree]) -> pl.DataFrame:
    rows = [row for tree in trees for row in _node_rows(tree)]
    if rows and set(rows[0]) != set(NODE_SCHEMA):
        raise AssertionError(f"node rows and NODE_SCHEMA disagree: {sorted(set(rows[0]) ^ set(NODE_SCHEMA))}")
    return pl.DataFrame(rows, schema=NODE_SCHEMA) if rows else pl.DataFrame(schema=NODE_SCHEMA)


def _tree_frame(trees: Sequence[_Tree]) -> pl.DataFrame:
    rows = [
        {
            "instruction_id": t.record["id"],
            "task": t.record["task"],
            "dataset": t.record["dataset"],
            "depth": len(t.turns),
            "end_turn": t.end_turn or len(t.turns),
            "solved": t.solved,
            "pairs": sum(s["chosen"] is not None and s["rejected"] is not None for s in t.turns),
            "escalations": t.escalations,
            "guided": t.guided,
            "syntax_dropped": t.syntax_dropped,
        }
        for t in trees
    ]
    return pl.DataFrame(rows, schema=TREE_SCHEMA) if rows else pl.DataFrame(schema=TREE_SCHEMA)


def table1(nodes: pl.DataFrame, trees: pl.DataFrame, max_turns: int) -> dict[str, dict[str, float]]:
    """The paper's Table 1 per task: instructions, T1..Tmax (trajectories ending at each turn),
    pairs, correct actions, plus how often escalation / guidance / the syntax filter were needed."""
    out: dict[str, dict[str, float]] = {}
    for task in sorted(trees["task"].unique().to_list()) + ["all"]:
        t = trees if task == "all" else trees.filter(pl.col("task") == task)
        n = nodes if task == "all" else nodes.filter(pl.col("task") == task)
        row: dict[str, float] = {"instructions": t.height}
        for k in range(1, max_turns + 1):
            row[f"T{k}"] = t.filter(pl.col("end_turn") == k).height
        row.update(
            {
                "solved_share": float(t["solved"].mean()) if t.height else 0.0,
                "pairs": int(t["pairs"].sum()),
                "correct_actions": n.filter(pl.col("correct")).height,
                "incorrect_actions": n.filter(~pl.col("correct")).height,
                "escalations": int(t["escalations"].sum()),
                "guided": int(t["guided"].sum()),
                "syntax_dropped": int(t["syntax_dropped"].sum()),
                "mean_depth": float(t["depth"].mean()) if t.height else 0.0,
            }
        )
        out[task] = row
    return out
