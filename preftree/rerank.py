"""Best-of-N reranking (the paper's Figure 4 and Table 9): pure figures and the sampling run.

Input: for each problem, N sampled responses in sample order, whether each is correct, each one's
reward under one or more reward models, and whether the greedy response is correct. For every N in
``ns`` the first N samples are the candidate set, and per problem:

* ``best_of_n/<rm>``: the candidate the reward model ranks highest is correct (ties: the earliest sample);
* ``random``: the expected correctness of a uniformly random candidate (mean correctness of the N);
* ``oracle``: pass@N, some candidate is correct (the ceiling any reranker can reach);
* ``greedy``: the greedy response is correct (the paper's "Top Logits"), the same for every N.

Each figure is the mean over problems (pass@1 in [0, 1]) with a 95% percentile-bootstrap CI over
problems (:func:`preftree.stats.bootstrap_mean`, seeded: every series and N resamples the same
problems), stored as ``<series>_ci_low`` / ``<series>_ci_high`` next to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from preftree.stats import bootstrap_mean

SERIES_FIXED = ("random", "oracle", "greedy")


def _matrix(values: Sequence[Sequence[float]], name: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name}: expected one row of samples per problem, got shape {array.shape}")
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name}: shape {array.shape} differs from the correctness matrix {shape}")
    return array


def per_problem(
    hits: np.ndarray, scores: Mapping[str, np.ndarray], n: int, greedy: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Per problem, with the first ``n`` samples as candidates: each series' correctness (0/1, or the
    expected correctness for ``random``). ``greedy`` is omitted when not given."""
    rows = np.arange(hits.shape[0])
    out = {"random": hits[:, :n].mean(axis=1), "oracle": hits[:, :n].max(axis=1)}
    if greedy is not None:
        out["greedy"] = greedy
    for name, score in scores.items():
        out[f"best_of_n/{name}"] = hits[rows, score[:, :n].argmax(axis=1)]  # argmax: the first of equal maxima
    return out


def best_of_n(
    correct: Sequence[Sequence[bool]],
    rewards: Mapping[str, Sequence[Sequence[float]]],
    ns: Sequence[int],
    greedy: Sequence[bool] | None = None,
    *,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per N: ``{"n", "random", "oracle", "greedy", "best_of_n/<rm>" ...}`` (pass@1 in [0, 1],
    ``greedy`` None without greedy results), each series with ``<series>_ci_low`` / ``_ci_high``."""
    hits = _matrix(correct, "correct")
    problems, samples = hits.shape
    if problems == 0:
        raise ValueError("best_of_n: no problems")
    bad = [n for n in ns if not 1 <= n <= samples]
    if bad:
        raise ValueError(f"best_of_n: N must be in 1..{samples} (the samples per problem), got {bad}")
    scores = {name: _matrix(r, f"rewards[{name}]", hits.shape) for name, r in rewards.items()}
    greedy_hits = None
    if greedy is not None:
        greedy_hits = np.asarray(greedy, dtype=np.float64)
        if greedy_hits.shape != (problems,):
            raise ValueError(f"greedy: {greedy_hits.size} results for {problems} problems")
    rows = []
    for n in sorted(set(ns)):
        values = per_problem(hits, scores, n, greedy_hits)
        row: dict[str, Any] = {"n": n}
        for series in [*sorted(k for k in values if k.startswith("best_of_n/")), *SERIES_FIXED]:
            if series not in values:  # greedy without greedy results
                row[series] = row[f"{series}_ci_low"] = row[f"{series}_ci_high"] = None
                continue
            estimate = bootstrap_mean(values[series], seed=seed)
            row[series] = estimate.effect
            row[f"{series}_ci_low"], row[f"{series}_ci_high"] = estimate.ci_low, estimate.ci_high
        rows.append(row)
    return rows


def series_names(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The series of best-of-N rows that have values, reward models first: best_of_n/<rm> ..., random,
    oracle, greedy."""
    keys = [k for k in rows[0] if k != "n" and not k.endswith(("_ci_low", "_ci_high"))] if rows else []
    present = [k for k in keys if rows[0][k] is not None]
    return sorted(k for k in present if k.startswith("best_of_n/")) + [k for k in SERIES_FIXED if k in present]


@dataclass(frozen=True)
class RerankResult:
    """What :func:`run_rerank` returns: the best-of-N ``rows`` (one per N, metrics/rerank.csv), the
    ``summary`` the stage logs, one record per (problem, sample) (``samples``: id (the problem's),
    family, sample, response, correct, greedy_correct (the problem's greedy answer), reward_<rm> ...)
    and one per problem (``greedy``: id, family, response, correct)."""

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    samples: list[dict[str, Any]]
    greedy: list[dict[str, Any]]


def run_rerank(
    generate: Any,
    items: Sequence[Any],
    reward_models: Mapping[str, Any],
    *,
    n: int,
    ns: Sequence[int],
    temperature: float,
    max_new_tokens: int,
    seed: int,
    sandbox: Any,
    workers: int,
    batch_size: int = 16,
) -> RerankResult:
    """Sample ``n`` responses per item, judge each, score each with every reward model, and compute the
    best-of-N rows. ``generate`` has the evaluation runner's signature; ``reward_models`` maps a label
    to a folder; every model scores the same candidates."""
    from preftree.evaluate.scoring import score_many
    from preftree.train.reward import load_reward_model, reward_scores

    if not items:
        raise ValueError("rerank: no problems to rerank")
    prompts = [[{"role": "user", "content": item.prompt}] for item in items]
    greedy_texts = [t[0] for t in generate(prompts, 1, 0.0, max_new_tokens, seed, [])]
    greedy_ok = [v.correct for v in score_many(items, greedy_texts, "auto", workers=workers, limits=sandbox)]
    texts = generate(prompts, n, temperature, max_new_tokens, seed, [])
    flat_items = [item for item in items for _ in range(n)]
    flat_texts = [t for group in texts for t in group]
    verdicts = score_many(flat_items, flat_texts, "auto", workers=workers, limits=sandbox)
    correct = [[verdicts[i * n + j].correct for j in range(n)] for i in range(len(items))]
    conversations = [
        p + [{"role": "assistant", "content": t}] for p, group in zip(prompts, texts, strict=True) for t in group
    ]
    rewards: dict[str, list[list[float]]] = {}
    for label, folder in reward_models.items():
        model, tokenizer = load_reward_model(folder)
        scores = reward_scores(model, tokenizer, conversations, batch_size=batch_size).tolist()
        rewards[label] = [scores[i * n : (i + 1) * n] for i in range(len(items))]
    rows = best_of_n(correct, rewards, ns, greedy=greedy_ok, seed=seed)
    summary = {
        "problems": len(items),
        "samples_per_problem": n,
        "greedy_pass@1": rows[0]["greedy"],
        "sample_accuracy": float(np.mean(correct)),
        "reward_models": dict(reward_models),
        "best_of_n": {r["n"]: {k: v for k, v in r.items() if k != "n"} for r in rows},
    }
    samples = [
        {
            "id": item.id,
            "family": item.family,
            "sample": j,
            "response": texts[i][j],
            "correct": correct[i][j],
            "greedy_correct": greedy_ok[i],
            **{f"reward_{label}": rewards[label][i][j] for label in rewards},
        }
        for i, item in enumerate(items)
        for j in range(n)
    ]
    greedy = [
        {"id": item.id, "family": item.family, "response": greedy_texts[i], "correct": greedy_ok[i]}
        for i, item in enumerate(items)
    ]
    return RerankResult(rows=rows, summary=summary, samples=samples, greedy=greedy)
