"""interact: data/selected/train.parquet -> data/interact/{nodes,trees,instructions}.parquet.

    dvc repro interact
    dvc exp run -S interact.samples_per_turn=8 -S interact.max_turns=3
    dvc exp run -S actor=openai -S actor.model=gpt-3.5-turbo      # key from $OPENAI_API_KEY

Reads params `seed`, `sandbox`, `actor`, `weak`, `critic`, `interact` (runtime.workers and the
OpenAI timeouts / retries / concurrency only change speed). Coding instructions with no tests and no
answer (Magicoder-Evol-Instruct) need `interact.judge=critic` (an LLM judge on the critic's backend,
preftree.judge); without it the stage fails before any work, naming the datasets. Grows one preference tree per selected
instruction (preftree.interact), in shards checkpointed under .preftree-cache/interact/<key>/: after
a kill, rerunning resumes from the finished shards. Model calls go through a call cache
(.preftree-cache/calls.sqlite), so a rerun with the same config makes no model call. Writes
metrics/interact.json (the paper's Table 1 per task) and an MLflow child run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from preftree.agents import make_actor, make_critic
from preftree.config import ParamsError, load_runtime, load_stage_params, workspace_root
from preftree.dvcinfo import stage_info
from preftree.interact import Agents, TreeBuilder, table1
from preftree.io import atomic_dir, write_parquet
from preftree.judge import make_evaluate, make_judge, require_judge
from preftree.provenance import tracking_root
from preftree.sandbox import SandboxUnavailable, check_available
from preftree.shards import files_digest, run_key, run_sharded
from preftree.tracking import stage_run

SELECTED = Path("data/selected/train.parquet")
OUT = Path("data/interact")


def main() -> None:
    params = load_stage_params("interact")
    runtime = load_runtime()
    cfg, limits, seed = params["interact"], params["sandbox"], params["seed"]
    check_available(limits.isolation)
    cache = tracking_root() / ".preftree-cache"
    records = pl.read_parquet(SELECTED)
    records = records.head(cfg.limit) if cfg.limit is not None else records
    judge = make_judge(cfg.judge, params["critic"], runtime, cache_path=cache / "calls.sqlite")
    needs = require_judge(records, judge)  # fails fast when records need a judge and none is configured
    with stage_run(params) as run:
        agents = Agents(
            actor=make_actor(params["actor"], runtime, cache_path=cache / "calls.sqlite", name="actor"),
            weak=make_actor(params["weak"], runtime, cache_path=cache / "calls.sqlite", name="weak"),
            critic=make_critic(params["critic"], runtime, cache_path=cache / "calls.sqlite", name="critic"),
        )

        if judge is not None:
            print(f"interact: judge {judge.identity} for {sum(needs.values())} instructions {needs}")
        evaluate = make_evaluate(limits, judge, workers=1)  # env.evaluate_actions for every other record
        builder = TreeBuilder(agents, evaluate, cfg, seed=seed, workers=runtime.workers)
        code = [workspace_root() / d for d in stage_info("interact", workspace_root()).deps if not d.startswith("data")]
        key = run_key(params.raw, files_digest([SELECTED]), files_digest(code))
        outputs, shards = run_sharded(
            records,
            shard_size=cfg.shard_size,
            ckpt_dir=cache / "interact" / key,
            fn=lambda shard: dict(zip(("nodes", "trees"), builder.build(shard.to_dicts()), strict=True)),
            names=("nodes", "trees"),
            progress=runtime.progress,
            desc="interact",
        )
        with atomic_dir(OUT) as tmp:
            write_parquet(outputs["nodes"], tmp / "nodes.parquet")
            write_parquet(outputs["trees"], tmp / "trees.parquet")
            write_parquet(records, tmp / "instructions.parquet")  # the roots, so `tree` needs only this folder
        calls = {
            name: {"calls": getattr(agent, "calls", 0), "cache_hits": getattr(agent, "hits", 0)}
            for name, agent in (("actor", agents.actor), ("weak", agents.weak), ("critic", agents.critic))
        }
        extra = {}
        if judge is not None:  # only then: the default run's metrics keep their layout
            calls["judge"] = {"calls": getattr(judge, "calls", 0), "cache_hits": getattr(judge, "hits", 0)}
            extra["judge"] = {"identity": judge.identity, "instructions": needs, "actions": dict(evaluate.counts)}
        stats = table1(outputs["nodes"], outputs["trees"], cfg.max_turns)
        run.log_metrics({"tasks": stats, "shards": shards, "model_calls": calls, **extra})
        total = stats["all"]
        print(
            f"interact: {total['instructions']} trees, {total['pairs']} pairs, {total['correct_actions']} correct "
            f"actions, turns {[total[f'T{k}'] for k in range(1, cfg.max_turns + 1)]} -> {OUT}/ "
            f"({shards['resumed']} of {shards['shards']} shards resumed)"
        )


if __name__ == "__main__":
    try:
        main()
    except (ParamsError, SandboxUnavailable, FileNotFoundError) as err:
        sys.exit(f"interact: error: {err}")
