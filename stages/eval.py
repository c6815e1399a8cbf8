"""eval@<policy>: one policy on the configured benchmarks -> metrics/eval/<policy>.json.

    dvc repro eval@kto
    python -m stages.eval kto                   # what dvc runs for eval@kto
    dvc exp run -S '+eval.benchmarks.humaneval={path: /data/HumanEval.jsonl.gz, limit: null}'

Reads params `seed`, `sandbox` and `eval.benchmarks` / `eval.math_mode` / `eval.generation` /
`eval.multiturn` (eval.policies only decides which eval stages exist). The paper's protocol: 0-shot,
greedy decoding, pass@1, each benchmark with the official code's new tokens, stops and prefill
(preftree.evaluate.registry; eval.generation.max_new_tokens caps the budgets when set, null keeps them);
math benchmarks run the CoT and the PoT prompt and report the better; code runs in the sandbox with the
paper's timeouts; multi-turn success@k with environment feedback.
runtime.engine picks hf or vllm generation. Writes metrics/eval/<policy>.json,
data/eval/<policy>/{responses,multiturn}.parquet and an MLflow child run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from preftree.config.evaluate import EvalParams
from preftree.config.load import StageParams, load_runtime, load_stage_params
from preftree.config.sandbox import SandboxParams
from preftree.config.workspace import ParamsError
from preftree.evaluate.items import BenchmarkFormatError
from preftree.evaluate.suite import run_suite
from preftree.generation.factory import make_generator
from preftree.generation.sampling import as_callable
from preftree.io import atomic_dir, write_parquet
from preftree.tracking import stage_run

# the params this stage reads, by type (dvc.yaml declares them)
SECTIONS = {
    "seed": int,
    "sandbox": SandboxParams,
    "eval": EvalParams,
}


def main() -> None:
    parser = argparse.ArgumentParser(description="Evaluate models/<policy> on the configured benchmarks.")
    parser.add_argument("policy", help="an entry of eval.policies (base, sft, dpo, kto, nca, ...)")
    policy = parser.parse_args().policy
    params = load_stage_params(f"eval@{policy}", SECTIONS)
    runtime = load_runtime()
    if runtime.threads > 0:
        import torch

        torch.set_num_threads(runtime.threads)
    cfg = _eval_params(params, policy)
    with stage_run(params) as run:
        generator = make_generator(
            Path("models") / policy,
            engine=runtime.engine,
            device=runtime.device,
            batch_size=cfg.generation.batch_size,
            progress=runtime.progress,
            vllm=runtime.vllm,
        )
        result = run_suite(
            as_callable(generator), cfg, seed=params["seed"], sandbox=params["sandbox"], workers=runtime.workers
        )
        with atomic_dir(Path("data/eval") / policy) as tmp:
            write_parquet(result.responses, tmp / "responses.parquet")
            write_parquet(result.multiturn, tmp / "multiturn.parquet")
        render = getattr(generator, "render", None)
        truncated = getattr(render, "truncated", None)  # prompts cut from the left to fit the context
        run.log_metrics(
            {"policy": policy, "generator": generator.identity, "prompts_truncated": truncated, **result.metrics}
        )
        if truncated:
            print(f"eval@{policy}: warning: {truncated} prompts were cut from the left to fit the model's context")
        for name, entry in result.metrics["benchmarks"].items():
            print(
                f"eval@{policy}: {name} pass@1 {entry['pass@1']:.3f} ({entry['best_mode']}, {entry['n_items']} items)"
            )
        for name, entry in result.metrics.get("multiturn", {}).get("benchmarks", {}).items():
            curve = " ".join(f"{v:.3f}" for v in entry["success@k"].values())
            print(f"eval@{policy}: {name} multi-turn success@1..{len(entry['success@k'])} {curve}")


def _eval_params(params: StageParams, policy: str) -> EvalParams:
    """The declared eval.* keys as one EvalParams. eval.policies is not declared (it only names stages):
    this stage's own policy stands in for it."""
    return EvalParams(
        policies=[policy],
        benchmarks=params["eval.benchmarks"],
        math_mode=params["eval.math_mode"],
        generation=params["eval.generation"],
        multiturn=params["eval.multiturn"],
    )


if __name__ == "__main__":
    try:
        main()
    except (ParamsError, BenchmarkFormatError, FileNotFoundError, ValueError, KeyError) as err:
        sys.exit(f"eval: error: {err}")
