"""rerank: best-of-N with the reward model (the paper's Figure 4) -> metrics/rerank.{json,csv}.

    dvc repro rerank
    dvc exp run -S rerank.policy=kto -S rerank.n=8 -S 'rerank.ns=[1,2,4,8]'

Reads params `seed`, `sandbox` and `rerank`. Samples rerank.n responses per held-out problem from
models/<rerank.policy> (temperature rerank.temperature), judges each, scores each with every reward
model in rerank.reward_models (models/rm by default; add a BT-only one to compare), and reports, for
each N in rerank.ns, the pass@1 of the top-ranked candidate next to a random pick, greedy pass@1 and
pass@N (the oracle). Writes metrics/rerank.json, metrics/rerank.csv (a DVC plot),
data/rerank/samples.parquet and an MLflow child run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from preftree.config.evaluate import RerankParams
from preftree.config.load import load_runtime, load_stage_params
from preftree.config.sandbox import SandboxParams
from preftree.config.workspace import ParamsError
from preftree.evaluate.items import BenchmarkFormatError
from preftree.evaluate.registry import load_benchmark
from preftree.generation.factory import make_generator
from preftree.generation.sampling import Sampling, as_callable
from preftree.io import atomic_dir, write_csv, write_parquet
from preftree.rerank import run_rerank
from preftree.tracking import stage_run

# the params this stage reads, by type (dvc.yaml declares them)
SECTIONS = {
    "seed": int,
    "sandbox": SandboxParams,
    "rerank": RerankParams,
}

CURVE = Path("metrics/rerank.csv")


def main() -> None:
    params = load_stage_params("rerank", SECTIONS)
    cfg = params["rerank"]
    runtime = load_runtime()
    if runtime.threads > 0:
        import torch

        torch.set_num_threads(runtime.threads)
    Sampling(n=cfg.n, temperature=cfg.temperature, top_p=cfg.top_p)  # validates the sampling settings early
    items = load_benchmark(cfg.benchmark, cfg.path, cfg.limit)
    with stage_run(params) as run:
        generator = make_generator(Path("models") / cfg.policy, engine=runtime.engine, device=runtime.device,
                                   progress=runtime.progress)  # fmt: skip
        rows, summary, samples = run_rerank(
            as_callable(generator),
            items,
            cfg.reward_models,
            n=cfg.n,
            ns=cfg.ns,
            temperature=cfg.temperature,
            max_new_tokens=cfg.max_new_tokens,
            seed=params["seed"],
            sandbox=params["sandbox"],
            workers=runtime.workers,
        )
        write_csv(rows, CURVE)
        with atomic_dir(Path("data/rerank")) as tmp:
            write_parquet(pl.DataFrame(samples), tmp / "samples.parquet")
        run.log_metrics({"policy": cfg.policy, "benchmark": cfg.benchmark, **summary})
        for row in rows:
            ranked = " ".join(
                f"{k.removeprefix('best_of_n/')} {v:.3f}" for k, v in row.items() if k.startswith("best_")
            )
            print(f"rerank N={row['n']}: {ranked}; random {row['random']:.3f}, pass@N {row['oracle']:.3f}")
        print(f"rerank: greedy pass@1 {summary['greedy_pass@1']:.3f} ({cfg.policy}, {len(items)} problems)")


if __name__ == "__main__":
    try:
        main()
    except (ParamsError, BenchmarkFormatError, FileNotFoundError, ValueError, KeyError) as err:
        sys.exit(f"rerank: error: {err}")
