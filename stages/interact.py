"""interact: data/selected/train.parquet -> data/interact/{nodes,trees,instructions}.parquet.

    dvc repro interact
    dvc exp run -S interact.samples_per_turn=8 -S interact.max_turns=3
    dvc exp run -S actor=openai -S actor.model=gpt-3.5-turbo      # key from $OPENAI_API_KEY
    make params OVERRIDES="actor@weak=openai interact.rejected=weak \
      'weak.pool=[{model: mistral-7b-instruct, base_url: \"http://127.0.0.1:8001/v1\"}, {model: ..., base_url: ...}]'"

Reads params `seed`, `sandbox`, `actor`, `weak`, `critic`, `interact` (runtime.workers and the
OpenAI timeouts / retries / concurrency only change speed). Coding instructions with no tests and no
answer (Magicoder-Evol-Instruct) need `interact.judge=critic` (an LLM judge on the critic's backend,
preftree.agents.judge); without it the stage fails before any work, naming the datasets. Grows one
preference tree per selected instruction (preftree.interact_run, preftree.interact), in shards
checkpointed under .preftree-cache/interact/<key>/: after a kill, rerunning resumes from the
finished shards. Model calls go through a call cache (.preftree-cache/calls.sqlite), so a rerun
with the same config makes no model call. The weak actor's models (`weak.pool`) are drawn per incorrect
action and the actor's escalation rounds may run on stronger ones (`actor.escalation`), as in the paper
(§2.3 / App. A.2). A model server that does not answer is one error line naming its URL. Writes
metrics/interact.json (the paper's Table 1 per task) and an MLflow child run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from preftree.agents.cache import CacheCorruptError
from preftree.config.agents import AgentParams
from preftree.config.interact import InteractParams
from preftree.config.load import load_runtime, load_stage_params
from preftree.config.sandbox import SandboxParams
from preftree.config.workspace import ParamsError, workspace_root
from preftree.generation.openai import OpenAIError
from preftree.interact_run import plan_interact, run_interact
from preftree.io import atomic_dir, write_parquet
from preftree.provenance import tracking_root
from preftree.sandbox import SandboxUnavailable
from preftree.tracking import stage_run

# the params this stage reads, by type (dvc.yaml declares them)
SECTIONS = {
    "seed": int,
    "sandbox": SandboxParams,
    "actor": AgentParams,
    "weak": AgentParams,
    "critic": AgentParams,
    "interact": InteractParams,
}

SELECTED = Path("data/selected/train.parquet")
OUT = Path("data/interact")


def main() -> None:
    params = load_stage_params("interact", SECTIONS)
    runtime = load_runtime()
    cache = tracking_root() / ".preftree-cache"
    plan = plan_interact(params, runtime, root=workspace_root(), cache=cache, selected=SELECTED)
    with stage_run(params) as run:
        if plan.judge is not None:
            print(f"interact: judge {plan.judge.identity} for {sum(plan.needs.values())} instructions {plan.needs}")
        result = run_interact(plan)
        with atomic_dir(OUT) as tmp:
            write_parquet(result.nodes, tmp / "nodes.parquet")
            write_parquet(result.trees, tmp / "trees.parquet")
            write_parquet(result.instructions, tmp / "instructions.parquet")
        run.log_metrics(result.metrics)
        total, shards, max_turns = result.stats["all"], result.shards, params["interact"].max_turns
        print(
            f"interact: {total['instructions']} trees, {total['pairs']} pairs, {total['correct_actions']} correct "
            f"actions, turns {[total[f'T{k}'] for k in range(1, max_turns + 1)]} -> {OUT}/ "
            f"({shards['resumed']} of {shards['shards']} shards resumed)"
        )


if __name__ == "__main__":
    try:
        main()
    except (ParamsError, SandboxUnavailable, FileNotFoundError, CacheCorruptError, OpenAIError) as err:
        sys.exit(f"interact: error: {err}")
