"""rerank: best-of-N with each reward model (the paper's Figure 4) -> metrics/rerank.{json,csv}, data/rerank.

    dvc repro rerank
    dvc exp run -S rerank.policy=kto -S rerank.n=8 -S 'rerank.ns=[1,2,4,8]'

Reads params `seed`, `sandbox` and `rerank`. For each benchmark of rerank.benchmarks (registry name ->
{path, limit}: a local file or a HF id), samples rerank.n responses per problem from rerank.policy (a
policy name: models/<name>; a model folder; a HF id, preftree.rerank_inputs) at rerank.temperature and
one greedy response, judges each, scores the same candidates with every reward model in
rerank.reward_models (models/rm/bt and models/rm/bt_dr by default), and reports, for each N in
rerank.ns, the pass@1 of each model's top-ranked candidate next to a random pick, greedy pass@1, pass@N
(the oracle) and, on math benchmarks, majority vote, each with a 95% bootstrap CI over problems
(preftree.rerank). Writes metrics/rerank.json (the first benchmark at the top level, the others under
`benchmarks`), metrics/rerank.csv (the first benchmark's curve, a DVC plot), data/rerank/samples.parquet
(benchmark, id (the problem's), family, sample, response, correct, answer, answer_group, greedy_correct,
reward_<rm> ...), data/rerank/greedy.parquet (benchmark, id, family, response, correct) and an MLflow
child run.
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
from preftree.rerank import run_rerank, series_names
from preftree.rerank_inputs import check_inputs, resolve_policy
from preftree.tracking import stage_run

# the params this stage reads, by type (dvc.yaml declares them)
SECTIONS = {
    "seed": int,
    "sandbox": SandboxParams,
    "rerank": RerankParams,
}

CURVE = Path("metrics/rerank.csv")
RM_ROOT = Path("models/rm")


def main() -> None:
    params = load_stage_params("rerank", SECTIONS)
    cfg = params["rerank"]
    runtime = load_runtime()
    if runtime.threads > 0:
        import torch

        torch.set_num_threads(runtime.threads)
    Sampling(n=cfg.n, temperature=cfg.temperature, top_p=cfg.top_p)  # validates the sampling settings early
    for label, folder in cfg.reward_models.items():  # dvc.yaml declares models/rm as rerank's RM dep
        if Path(folder).parent != RM_ROOT:
            raise ValueError(f"rerank.reward_models.{label}: {folder} is not a folder of {RM_ROOT}/ (rm@<key>)")
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{folder} is missing: run `dvc repro rm@{Path(folder).name}` first")
    sources = cfg.sources()
    model = resolve_policy(cfg.policy)
    check_inputs(model, {name: s.path for name, s in sources.items()}, cfg.inputs.policy, cfg.inputs.benchmarks)
    benchmarks = {name: load_benchmark(name, s.path, s.limit) for name, s in sources.items()}
    with stage_run(params) as run:
        generator = make_generator(model, engine=runtime.engine, device=runtime.device, progress=runtime.progress,
                                   vllm=runtime.vllm)  # fmt: skip
        result = run_rerank(
            as_callable(generator),
            benchmarks,
            cfg.reward_models,
            n=cfg.n,
            ns=cfg.ns,
            temperature=cfg.temperature,
            max_new_tokens=cfg.max_new_tokens,
            seed=params["seed"],
            sandbox=params["sandbox"],
            workers=runtime.workers,
        )
        write_csv(result.rows, CURVE)
        with atomic_dir(Path("data/rerank")) as tmp:
            write_parquet(pl.DataFrame(result.samples), tmp / "samples.parquet")
            write_parquet(pl.DataFrame(result.greedy), tmp / "greedy.parquet")
        run.log_metrics({"policy": cfg.policy, "model": model, "generator": generator.identity, **result.summary})
        for name, rows in result.curves.items():
            for row in rows:
                ranked = ", ".join(
                    f"{k.removeprefix('best_of_n/')} {row[k]:.3f} [{row[k + '_ci_low']:.3f}, {row[k + '_ci_high']:.3f}]"
                    for k in series_names([row])
                )
                print(f"rerank {name} N={row['n']}: {ranked}")
            print(f"rerank: {cfg.policy} on {name}: {len(benchmarks[name])} problems x {cfg.n} samples "
                  "(pass@1 with 95% bootstrap CIs)")  # fmt: skip


if __name__ == "__main__":
    try:
        main()
    except (ParamsError, BenchmarkFormatError, FileNotFoundError, ValueError, KeyError) as err:
        sys.exit(f"rerank: error: {err}")
