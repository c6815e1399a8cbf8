"""The ``interact`` stage's work: selected instructions -> preference-tree nodes, trees, Table 1.

Two steps, so a run that cannot work fails before its MLflow run opens:

* :func:`plan_interact` checks that the sandbox is usable, reads the selected instructions
  (``interact.limit`` first rows), builds the LLM judge (``interact.judge``) and fails when records
  need a judge and none is configured (``preftree.judging.require_judge``). No model call.
* :func:`run_interact` builds the actor (and its ``actor.escalation`` models), the weak actor (one
  per ``weak.pool`` model, drawn per action) and the critic behind the call cache
  (``<cache>/calls.sqlite``), grows one tree per instruction (``preftree.interact.TreeBuilder``) in
  shards checkpointed under ``<cache>/interact/<run key>/`` (the key covers the params, the selected
  file and the stage's code deps, so a rerun resumes from finished shards), and returns the frames
  the stage writes with the paper's Table 1 per task and the model-call counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from preftree.agents import make_actor, make_critic, make_escalation
from preftree.agents.judge import Judge, make_judge
from preftree.config.load import StageParams
from preftree.config.runtime import RuntimeParams
from preftree.config.workspace import ParamsError
from preftree.dvcinfo import stage_info
from preftree.interact import Agents, TreeBuilder, table1
from preftree.judging import make_evaluate, require_judge
from preftree.sandbox import check_available, pool_depth, pooled
from preftree.shards import files_digest, run_key, run_sharded


@dataclass(frozen=True)
class InteractPlan:
    """What :func:`run_interact` needs, checked before any work: the stage's params, the runtime,
    the workspace ``root`` (whose dvc.yaml names the code deps), the ``cache`` folder, the
    ``selected`` file (named as given in the run key) and its first ``interact.limit`` ``records``,
    the ``judge`` (None unless ``interact.judge`` is set) and the instructions per dataset it judges."""

    params: StageParams
    runtime: RuntimeParams
    root: Path
    cache: Path
    selected: Path
    records: pl.DataFrame
    judge: Judge | None
    needs: dict[str, int]


@dataclass(frozen=True)
class InteractResult:
    """``nodes`` / ``trees`` / ``instructions`` (data/interact/*.parquet), Table 1 ``stats`` per task,
    the ``shards`` counts, model ``calls`` per agent and, with a judge, its ``judge`` summary."""

    nodes: pl.DataFrame
    trees: pl.DataFrame
    instructions: pl.DataFrame
    stats: dict[str, dict[str, float]]
    shards: dict[str, int]
    calls: dict[str, dict[str, int]]
    judge: dict[str, Any] | None

    @property
    def metrics(self) -> dict[str, Any]:
        """What the stage logs (metrics/interact.json); `judge` only when there is one, so the default
        run's metrics keep their layout."""
        extra = {"judge": self.judge} if self.judge is not None else {}
        return {"tasks": self.stats, "shards": self.shards, "model_calls": self.calls, **extra}


def plan_interact(
    params: StageParams, runtime: RuntimeParams, *, root: Path, cache: Path, selected: Path
) -> InteractPlan:
    """Check the sandbox, read the records, make the judge and require one where records need it.

    Raises ``SandboxUnavailable`` or ``JudgeRequired`` (a ``ParamsError``) before any work."""
    cfg, limits = params["interact"], params["sandbox"]
    check_available(limits.isolation)
    records = pl.read_parquet(selected)
    records = records.head(cfg.limit) if cfg.limit is not None else records
    judge = make_judge(cfg.judge, params["critic"], runtime, cache_path=cache / "calls.sqlite")
    needs = require_judge(records, judge)  # fails fast when records need a judge and none is configured
    return InteractPlan(params, runtime, root, cache, selected, records, judge, needs)


def run_interact(plan: InteractPlan) -> InteractResult:
    """Grow the trees of ``plan.records``, resuming from finished shards; the caller writes the result."""
    params, runtime, cache, judge = plan.params, plan.runtime, plan.cache, plan.judge
    cfg, limits, seed = params["interact"], params["sandbox"], params["seed"]
    if params["weak"].escalation:
        raise ParamsError("weak.escalation: escalation models are the actor's (actor.escalation); set it to []")
    calls_db = cache / "calls.sqlite"
    agents = Agents(
        actor=make_actor(params["actor"], runtime, cache_path=calls_db, name="actor"),
        weak=make_actor(params["weak"], runtime, cache_path=calls_db, name="weak"),
        critic=make_critic(params["critic"], runtime, cache_path=calls_db, name="critic"),
        escalation=make_escalation(params["actor"], runtime, cache_path=calls_db),
    )
    evaluate = make_evaluate(limits, judge, workers=1)  # env.evaluate_actions for every other record
    builder = TreeBuilder(agents, evaluate, cfg, seed=seed, workers=runtime.workers)
    code = [plan.root / d for d in stage_info("interact", plan.root).deps if not d.startswith("data")]
    key = run_key(params.raw, files_digest([plan.selected]), files_digest(code))
    with pooled(pool_depth(runtime.workers)):  # sandboxes started ahead of the actions they run (sandbox_pool)
        outputs, shards = run_sharded(
            plan.records,
            shard_size=cfg.shard_size,
            ckpt_dir=cache / "interact" / key,
            fn=lambda shard: dict(zip(("nodes", "trees"), builder.build(shard.to_dicts()), strict=True)),
            names=("nodes", "trees"),
            progress=runtime.progress,
            desc="interact",
        )
    named = [("actor", agents.actor), ("weak", agents.weak), ("critic", agents.critic)]
    named += [(f"escalation_{k}", actor) for k, actor in enumerate(agents.escalation, 1)]
    calls = {
        name: {"calls": getattr(agent, "calls", 0), "cache_hits": getattr(agent, "hits", 0)} for name, agent in named
    }
    summary = None
    if judge is not None:
        calls["judge"] = {"calls": getattr(judge, "calls", 0), "cache_hits": getattr(judge, "hits", 0)}
        summary = {"identity": judge.identity, "instructions": plan.needs, "actions": dict(evaluate.counts)}
    return InteractResult(
        nodes=outputs["nodes"],
        trees=outputs["trees"],
        instructions=plan.records,  # the roots, so `tree` needs only data/interact
        stats=table1(outputs["nodes"], outputs["trees"], cfg.max_turns),
        shards=shards,
        calls=calls,
        judge=summary,
    )
