"""One policy on every configured benchmark: what the ``eval@<policy>`` stage runs.

:func:`run_suite` loads each benchmark of ``eval.benchmarks`` (a local file or a Hugging Face id),
generates greedily (the paper's protocol) with one generator for the whole suite, each benchmark with its
official settings (new tokens per prompt style, stops, prefill: ``preftree.evaluate.registry``;
``eval.generation.max_new_tokens`` caps the budgets when set), scores through the sandbox, and runs the
multi-turn evaluation on ``eval.multiturn.benchmarks`` (``eval.multiturn.protocol``:
``feedback``, the tiny world's loop in ``preftree.evaluate.runner``, or ``mint``, MINT's own protocol in
``preftree.evaluate.mint``, which also reports Eurus's MINT-Code / MINT-Math subsets). It returns
the metrics (pass@1 per benchmark and task family; success@k per benchmark and family) and two
frames with every response, so a number in the report can be traced to the texts behind it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from preftree.config.evaluate import EvalParams
from preftree.config.sandbox import SandboxParams
from preftree.evaluate.items import Item
from preftree.evaluate.mint import MintEpisode, MintPrompts, run_mint, subset_success
from preftree.evaluate.registry import MINT_CODE, MINT_MATH, load_benchmark, max_new_tokens_for
from preftree.evaluate.runner import evaluate, evaluate_multiturn, success_at_k, summary

RESPONSE_SCHEMA = {
    "benchmark": pl.String,
    "id": pl.String,
    "family": pl.String,
    "mode": pl.String,
    "response": pl.String,
    "answer": pl.String,
    "correct": pl.Boolean,
    "status": pl.String,
}
MULTITURN_SCHEMA = {
    "benchmark": pl.String,
    "id": pl.String,
    "family": pl.String,
    "turn": pl.Int64,
    "response": pl.String,
    "feedback": pl.String,
    "solved_turn": pl.Int64,
}


@dataclass
class SuiteResult:
    metrics: dict[str, Any]
    responses: pl.DataFrame  # RESPONSE_SCHEMA: one row per single-turn (item, prompt style)
    multiturn: pl.DataFrame  # MULTITURN_SCHEMA: one row per (item, turn)


def load_items(params: EvalParams) -> dict[str, list[Item]]:
    """{benchmark: items} for every configured benchmark (errors name the benchmark and file)."""
    if not params.benchmarks:
        raise ValueError("eval.benchmarks is empty: name at least one benchmark, e.g. tiny")
    unknown = [b for b in params.multiturn.benchmarks if b not in params.benchmarks]
    if unknown:
        raise ValueError(f"eval.multiturn.benchmarks: {unknown} are not in eval.benchmarks")
    items = {}
    for name, source in params.benchmarks.items():
        if not source.path:
            raise ValueError(f"eval.benchmarks.{name}.path is empty")
        items[name] = load_benchmark(name, source.path, source.limit)
        if not items[name]:
            raise ValueError(f"eval.benchmarks.{name}: {source.path} has no items")
    return items


def _multiturn_metrics(results: list, max_turns: int) -> dict[str, Any]:
    def block(rows: list) -> dict[str, Any]:
        return {"success@k": {str(k): v for k, v in success_at_k(rows, max_turns).items()}, "n_items": len(rows)}

    by_bench: dict[str, list] = {}
    by_family: dict[str, list] = {}
    for r in results:
        by_bench.setdefault(r.benchmark, []).append(r)
        by_family.setdefault(r.family, []).append(r)
    return {
        "max_turns": max_turns,
        "benchmarks": {b: block(rs) for b, rs in sorted(by_bench.items())},
        "families": {f: block(rs) for f, rs in sorted(by_family.items())},
    }


def _run_mint(
    chosen: list[Item], generate: Callable[..., list[list[str]]], params: EvalParams, *, seed: int,
    sandbox: SandboxParams, workers: int,
) -> list[MintEpisode]:  # fmt: skip
    mt = params.multiturn
    if not mt.mint.prompts_dir:
        raise ValueError("eval.multiturn.protocol=mint needs eval.multiturn.mint.prompts_dir (a mint-bench checkout)")
    return run_mint(
        chosen,
        generate,
        MintPrompts.load(mt.mint.prompts_dir),
        max_steps=mt.max_turns,
        max_propose=mt.mint.max_propose_solution,
        max_new_tokens=mt.mint.max_new_tokens,
        seed=seed,
        workers=workers,
        limits=sandbox,
        repl_timeout_s=mt.mint.repl_timeout_s,
    )


def run_suite(
    generate: Callable[..., list[list[str]]],
    params: EvalParams,
    *,
    seed: int,
    sandbox: SandboxParams,
    workers: int,
    items: dict[str, list[Item]] | None = None,
) -> SuiteResult:
    """Evaluate ``generate`` (the runner's callable signature) on the configured benchmarks."""
    items = items if items is not None else load_items(params)
    start = time.perf_counter()
    gen = params.generation
    flat = [item for name in items for item in items[name]]
    results = evaluate(
        flat,
        generate,
        mode=params.math_mode,
        max_new_tokens=gen.max_new_tokens,
        seed=seed,
        workers=workers,
        limits=sandbox,
        batch_size=gen.batch_size * 4,
    )
    single_seconds = time.perf_counter() - start
    metrics: dict[str, Any] = summary(results)
    for name, entry in metrics["benchmarks"].items():
        entry["source"] = str(params.benchmarks[name].path)
        # a setting, not a result: under a `by_` key it stays out of metrics/eval/<policy>.json (DVC's
        # metrics) and in metrics/info/eval/<policy>.json, which the report's protocol note reads
        entry["max_new_tokens_by_mode"] = {m: max_new_tokens_for(name, m, gen.max_new_tokens) for m in entry["by_mode"]}
    responses = pl.DataFrame(
        [
            {
                "benchmark": r.benchmark,
                "id": r.id,
                "family": r.family,
                "mode": r.mode,
                "response": r.response,
                "answer": r.answer,
                "correct": r.correct,
                "status": r.status,
            }
            for r in results
        ],
        schema=RESPONSE_SCHEMA,
    )
    mt = params.multiturn
    rows: list[dict[str, Any]] = []
    if mt.benchmarks:
        chosen = [item for name in mt.benchmarks for item in items[name][: mt.limit]]
        t0 = time.perf_counter()
        episodes: Sequence[Any]
        if mt.protocol == "mint":
            episodes = _run_mint(chosen, generate, params, seed=seed, sandbox=sandbox, workers=workers)
        else:
            episodes = evaluate_multiturn(
                chosen,
                generate,
                max_turns=mt.max_turns,
                max_new_tokens=max(max_new_tokens_for(name, "cot", gen.max_new_tokens) for name in mt.benchmarks),
                seed=seed,
                workers=workers,
                limits=sandbox,
            )
        metrics["multiturn"] = _multiturn_metrics(list(episodes), mt.max_turns)
        metrics["multiturn"]["protocol"] = mt.protocol
        if mt.protocol == "mint":
            subsets = {"MINT-Code": MINT_CODE, "MINT-Math": MINT_MATH}
            metrics["multiturn"]["subsets"] = subset_success(episodes, subsets)
        metrics["multiturn"]["seconds"] = time.perf_counter() - t0
        for e in episodes:
            for turn, (response, feedback) in enumerate(zip(e.responses, e.feedback, strict=True), start=1):
                rows.append(
                    {
                        "benchmark": e.benchmark,
                        "id": e.id,
                        "family": e.family,
                        "turn": turn,
                        "response": response,
                        "feedback": feedback,
                        "solved_turn": e.solved_turn,
                    }
                )
    metrics["single_turn_seconds"] = single_seconds
    return SuiteResult(metrics, responses, pl.DataFrame(rows, schema=MULTITURN_SCHEMA))
