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
  the stage writes with the paper's Table 1 per task and the model-call counts. Its progress bar counts
  instructions as their trees end and shows the model calls, tokens and cache-hit share
  (:mod:`preftree.progress`).

Several workers (``runtime.interact_worker``: index, count, shard_dir), on one machine or several
sharing ``shard_dir``: :func:`grow_interact` grows only worker ``index``'s shards (k % count == index)
and writes no result; :func:`merge_interact` reads every finished shard (no model, no sandbox) and
returns what :func:`run_interact` would: the shards do not depend on the worker that grew them, so the
merged data/interact is byte for byte a single process's (:func:`write_interact` writes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from preftree.agents import make_actor, make_critic, make_escalation
from preftree.agents.judge import Judge, make_judge
from preftree.agents.pool import sum_usage
from preftree.config.load import StageParams
from preftree.config.runtime import RuntimeParams
from preftree.config.workspace import ParamsError
from preftree.dvcinfo import stage_info
from preftree.interact import Agents, TreeBuilder, table1
from preftree.io import atomic_dir, write_parquet
from preftree.judging import make_evaluate, require_judge
from preftree.progress import UsageBar
from preftree.sandbox import check_available, pool_depth, pooled
from preftree.shards import files_digest, grow_shards, merge_shards, owned_items, run_key

NAMES = ("nodes", "trees")  # the frames of one shard


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
    params: StageParams, runtime: RuntimeParams, *, root: Path, cache: Path, selected: Path, merge: bool = False
) -> InteractPlan:
    """Check the sandbox (not for a ``merge``, which runs nothing), read the records, make the judge and
    require one where records need it.

    Raises ``SandboxUnavailable`` or ``JudgeRequired`` (a ``ParamsError``) before any work."""
    cfg, limits = params["interact"], params["sandbox"]
    if not merge:
        check_available(limits.isolation)
    records = pl.read_parquet(selected)
    records = records.head(cfg.limit) if cfg.limit is not None else records
    judge = make_judge(cfg.judge, params["critic"], runtime, cache_path=cache / "calls.sqlite")
    needs = require_judge(records, judge)  # fails fast when records need a judge and none is configured
    return InteractPlan(params, runtime, root, cache, selected, records, judge, needs)


@dataclass(frozen=True)
class Grown:
    """What this worker did: shard ``counts`` ({"shards", "owned", "resumed", "computed"}), the model
    ``calls`` per agent, the judge's action ``counts`` (None without a judge) and the shard ``folder``."""

    counts: dict[str, int]
    calls: dict[str, dict[str, int]]
    judged: dict[str, int] | None
    folder: Path


def shard_folder(plan: InteractPlan) -> Path:
    """``<shard_dir or cache/interact>/<run key>``: the key covers the params, the selected file and the
    stage's code deps (names relative to the repository), so every worker on the same commit, params and
    data finds the same folder."""
    params, root = plan.params, plan.root
    code = [root / d for d in stage_info("interact", root).deps if not d.startswith("data")]
    key = run_key(params.raw, files_digest([plan.selected], root), files_digest(code, root))
    base = plan.runtime.interact_worker.shard_dir
    return (Path(base) if base else plan.cache / "interact") / key


def grow_interact(plan: InteractPlan) -> Grown:
    """Grow the trees of this worker's shards of ``plan.records`` (all of them with count 1), resuming
    from finished shards; nothing is merged."""
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
    named = [("actor", agents.actor), ("weak", agents.weak), ("critic", agents.critic)]
    named += [(f"escalation_{k}", actor) for k, actor in enumerate(agents.escalation, 1)]
    counted = [agent for _, agent in named] + ([judge] if judge is not None else [])
    evaluate = make_evaluate(limits, judge, workers=1)  # env.evaluate_actions for every other record
    worker = (runtime.interact_worker.index, runtime.interact_worker.count)
    total = owned_items(plan.records.height, cfg.shard_size, worker)
    desc = "interact" if worker[1] == 1 else f"interact {worker[0]}/{worker[1]}"
    folder = shard_folder(plan)
    with (
        UsageBar(total, lambda: sum_usage(counted), enabled=runtime.progress, desc=desc) as bar,
        pooled(pool_depth(runtime.workers)),  # sandboxes started ahead of the actions they run (sandbox_pool)
    ):
        builder = TreeBuilder(agents, evaluate, cfg, seed=seed, workers=runtime.workers, on_progress=bar.tick)
        counts = grow_shards(
            plan.records,
            shard_size=cfg.shard_size,
            ckpt_dir=folder,
            fn=lambda shard: dict(zip(NAMES, builder.build(shard.to_dicts()), strict=True)),
            names=NAMES,
            worker=worker,
            bar=bar.bar,
        )
    calls = {
        name: {"calls": getattr(agent, "calls", 0), "cache_hits": getattr(agent, "hits", 0)} for name, agent in named
    }
    if judge is not None:
        calls["judge"] = {"calls": getattr(judge, "calls", 0), "cache_hits": getattr(judge, "hits", 0)}
    return Grown(counts, calls, dict(evaluate.counts) if judge is not None else None, folder)


def merge_interact(plan: InteractPlan, grown: Grown | None = None) -> InteractResult:
    """Every shard of ``plan.records`` read from the shard folder (``MissingShardsError`` naming those not
    done): the stage's result. ``grown``: what this process grew itself (its counts and calls), if any."""
    cfg = plan.params["interact"]
    folder = grown.folder if grown is not None else shard_folder(plan)
    outputs = merge_shards(plan.records, shard_size=cfg.shard_size, ckpt_dir=folder, names=NAMES)
    if grown is not None:
        shards = {k: grown.counts[k] for k in ("shards", "resumed", "computed")}
    else:
        n = (plan.records.height + cfg.shard_size - 1) // cfg.shard_size
        shards = {"shards": n, "resumed": n, "computed": 0}
    summary = None
    if plan.judge is not None:
        actions = grown.judged if grown is not None and grown.judged is not None else {}
        summary = {"identity": plan.judge.identity, "instructions": plan.needs, "actions": actions}
    return InteractResult(
        nodes=outputs["nodes"],
        trees=outputs["trees"],
        instructions=plan.records,  # the roots, so `tree` needs only data/interact
        stats=table1(outputs["nodes"], outputs["trees"], cfg.max_turns),
        shards=shards,
        calls=grown.calls if grown is not None else {},
        judge=summary,
    )


def run_interact(plan: InteractPlan) -> InteractResult:
    """Grow every shard of ``plan.records`` not yet done (by this process, or another worker before it),
    resuming from finished shards, and merge them; the caller writes the result."""
    count = plan.runtime.interact_worker.count
    if count != 1:
        raise ParamsError(
            f"runtime.interact_worker.count is {count}: a worker grows its shards only (grow_interact); the merged "
            "result needs count 1 or `python -m stages.interact --merge`"
        )
    return merge_interact(plan, grow_interact(plan))


def write_interact(result: InteractResult, out: Path) -> None:
    """data/interact/{nodes,trees,instructions}.parquet, written atomically."""
    with atomic_dir(out) as tmp:
        write_parquet(result.nodes, tmp / "nodes.parquet")
        write_parquet(result.trees, tmp / "trees.parquet")
        write_parquet(result.instructions, tmp / "instructions.parquet")
