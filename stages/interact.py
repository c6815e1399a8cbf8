"""interact: data/selected/train.parquet -> data/interact/{nodes,trees,instructions}.parquet.

    dvc repro interact
    python -m stages.interact                  # the same outside DVC (then `dvc commit interact` records it)
    python -m stages.interact --merge          # only merge the shards the workers grew (docs/gpu.md)
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

Several machines (docs/gpu.md, "Data generation on several servers and machines"): with
runtime.interact_worker.count N > 1, `python -m stages.interact` is worker `index`: it grows only its
shards (k % N == index) into runtime.interact_worker.shard_dir (shared by the workers) and writes
nothing else; afterwards `python -m stages.interact --merge` (no model, no sandbox; fails naming any
shard not done) or the stage with count 1 (`dvc repro interact`: it grows what is missing) writes the
merged data/interact, byte for byte what one process would have written. The actor's, critic's and
weak models' `base_url` may each list several servers: requests are spread over them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from preftree.agents.cache import CacheCorruptError
from preftree.config.agents import AgentParams
from preftree.config.interact import InteractParams
from preftree.config.load import load_runtime, load_stage_params
from preftree.config.sandbox import SandboxParams
from preftree.config.workspace import ParamsError, workspace_root
from preftree.generation.openai import OpenAIError
from preftree.interact_run import grow_interact, merge_interact, plan_interact, run_interact, write_interact
from preftree.provenance import tracking_root
from preftree.sandbox import SandboxUnavailable
from preftree.shards import MissingShardsError
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


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.interact", description=__doc__.splitlines()[0])
    parser.add_argument("--merge", action="store_true", help="only merge the shards every worker finished")
    merge = parser.parse_args(argv).merge
    params = load_stage_params("interact", SECTIONS)
    runtime = load_runtime()
    cache = tracking_root() / ".preftree-cache"
    plan = plan_interact(params, runtime, root=workspace_root(), cache=cache, selected=SELECTED, merge=merge)
    worker = runtime.interact_worker
    if worker.count > 1 and not merge:
        grown = grow_interact(plan)  # one worker of several: its shards only, no MLflow run, no output
        c = grown.counts
        print(
            f"interact: worker {worker.index} of {worker.count}: {c['owned']} of {c['shards']} shards "
            f"({c['resumed']} resumed) in {grown.folder}; when every worker is done: python -m stages.interact "
            "--merge (or dvc repro interact with interact_worker.count 1)"
        )
        return
    with stage_run(params) as run:
        if plan.judge is not None:
            print(f"interact: judge {plan.judge.identity} for {sum(plan.needs.values())} instructions {plan.needs}")
        result = merge_interact(plan) if merge else run_interact(plan)
        write_interact(result, OUT)
        run.log_metrics(result.metrics)
        total, shards, max_turns = result.stats["all"], result.shards, params["interact"].max_turns
        print(
            f"interact: {total['instructions']} trees, {total['pairs']} pairs, {total['correct_actions']} correct "
            f"actions, turns {[total[f'T{k}'] for k in range(1, max_turns + 1)]} -> {OUT}/ "
            f"({shards['resumed']} of {shards['shards']} shards resumed)"
        )


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except (
        ParamsError, SandboxUnavailable, FileNotFoundError, CacheCorruptError, OpenAIError, MissingShardsError
    ) as err:  # fmt: skip
        sys.exit(f"interact: error: {err}")
