"""Best-of-N reranking figures (the paper's Figure 4 and Table 9), as pure functions.

Input: for each problem, N sampled responses in sample order, whether each is correct, and each
one's reward under one or more reward models. For every N in ``ns`` the first N samples are the
candidate set, and:

* ``best_of_n[rm]``: pass@1 of the candidate the reward model ranks highest (ties: the earliest sample);
* ``random``: the expected pass@1 of a uniformly random candidate (mean correctness of the N);
* ``oracle``: pass@N, some candidate is correct (the ceiling any reranker can reach);
* ``greedy``: the policy's greedy pass@1 (the paper's "Top Logits"), constant across N.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _matrix(values: Sequence[Sequence[float]], name: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name}: expected one row of samples per problem, got shape {array.shape}")
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name}: shape {array.shape} differs from the correctness matrix {shape}")
    return array


def best_of_n(
    correct: Sequence[Sequence[bool]],
    rewards: Mapping[str, Sequence[Sequence[float]]],
    ns: Sequence[int],
    greedy: float | None = None,
) -> list[dict[str, Any]]:
    """One row per N: ``{"n", "random", "oracle", "greedy", "best_of_n/<rm>" ...}`` (pass@1 in [0, 1])."""
    hits = _matrix(correct, "correct")
    problems, samples = hits.shape
    if problems == 0:
        raise ValueError("best_of_n: no problems")
    bad = [n for n in ns if not 1 <= n <= samples]
    if bad:
        raise ValueError(f"best_of_n: N must be in 1..{samples} (the samples per problem), got {bad}")
    scores = {name: _matrix(r, f"rewards[{name}]", hits.shape) for name, r in rewards.items()}
    rows = []
    for n in sorted(set(ns)):
        row: dict[str, Any] = {
            "n": n,
            "random": float(hits[:, :n].mean()),
            "oracle": float(hits[:, :n].max(axis=1).mean()),
            "greedy": greedy,
        }
        for name, score in scores.items():
            pick = score[:, :n].argmax(axis=1)  # argmax returns the first of equal maxima
            row[f"best_of_n/{name}"] = float(hits[np.arange(problems), pick].mean())
        rows.append(row)
    return rows


def gains(rows: Sequence[Mapping[str, Any]], baseline: float | None) -> dict[str, float]:
    """best-of-N at the largest N minus ``baseline`` (greedy pass@1), per reward model."""
    if not rows or baseline is None:
        return {}
    last = max(rows, key=lambda r: r["n"])
    return {k.removeprefix("best_of_n/"): float(v) - baseline for k, v in last.items() if k.startswith("best_of_n/")}


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
) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    """Sample ``n`` responses per item, judge each, score each with every reward model, and compute the
    best-of-N rows. ``generate`` has the evaluation runner's signature; ``reward_models`` maps a label
    to a folder. Returns (rows, summary, samples) where samples has one record per (item, sample)."""
    from preftree.evaluate.scoring import score_many
    from preftree.train.reward import load_reward_model, reward_scores

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
    greedy = sum(greedy_ok) / len(greedy_ok)
    rows = best_of_n(correct, rewards, ns, greedy=greedy)
    summary = {
        "problems": len(items),
        "samples_per_problem": n,
        "greedy_pass@1": greedy,
        "sample_accuracy": rows[0]["random"] if rows and rows[0]["n"] == 1 else None,
        "best_of_n": {r["n"]: {k: v for k, v in r.items() if k != "n"} for r in rows},
        "gain_at_max_n": gains(rows, greedy),
    }
    samples = [
        {
            "id": item.id,
            "family": item.family,
            "sample": j,
            "response": texts[i][j],
            "correct": correct[i][j],
            **{f"reward_{label}": rewards[label][i][j] for label in rewards},
        }
        for i, item in enumerate(items)
        for j in range(n)
    ]
    return rows, summary, samples
