"""Best-of-N reranking (the paper's Figure 4 and Table 9): pure figures and the sampling run.

Input, per benchmark: for each problem, N sampled responses in sample order, whether each is correct,
each one's reward under one or more reward models, whether the greedy response is correct and, on a
math benchmark, each sample's final answer. For every N in ``ns`` the first N samples are the candidate
set, and per problem:

* ``best_of_n/<rm>``: the candidate the reward model ranks highest is correct (ties: the earliest sample);
* ``random``: the expected correctness of a uniformly random candidate (mean correctness of the N);
* ``oracle``: pass@N, some candidate is correct (the ceiling any reranker can reach);
* ``greedy``: the greedy (temperature 0) response is correct (the paper's "Top Logits"), the same for every N;
* ``majority``: self-consistency, on benchmarks whose every item is judged by its final answer
  (:data:`VOTE_KINDS`: math, numeric, theoremqa): the final answers are grouped in sample order, each
  answer joining the group of the first earlier answer it equals (:func:`same_answer`, the benchmark's
  answer checker), else starting a new group; the largest group among the N wins, a tie going to the
  group whose first answer came earliest; the pick is that group's first sample. Samples with no final
  answer do not vote; when none of the N has one, the pick is the first sample. Grouping in sample
  order makes the groups of the first N samples the first N samples' part of the groups of all of them,
  so one grouping per problem serves every N. Elsewhere ``majority`` is None.

Each figure is the mean over problems (pass@1 in [0, 1]) with a 95% percentile-bootstrap CI over
problems (:func:`preftree.stats.bootstrap_mean`, seeded: every series and N resamples the same
problems), stored as ``<series>_ci_low`` / ``<series>_ci_high`` next to it. At the largest N each
reward model's pick is also compared with random, greedy and majority per problem
(:func:`preftree.stats.paired_diff`: the mean difference with a paired bootstrap CI), in ``paired``.

Layout of the summary (metrics/rerank.json, :func:`run_rerank`): the first benchmark of the run at the
top level (``benchmark``, ``problems``, ``samples_per_problem``, ``greedy_pass@1``, ``sample_accuracy``,
``best_of_n`` {N: row}, ``paired``: the layout of a one-benchmark run), every further benchmark under
``benchmarks.<name>`` with the same keys; :func:`benchmark_summaries` reads both as one mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from preftree.answers import check
from preftree.evaluate.items import Item
from preftree.stats import bootstrap_mean, paired_diff

SERIES_FIXED = ("random", "oracle", "greedy", "majority")
VOTE_KINDS = ("math", "numeric", "theoremqa")  # items judged by a final answer: majority vote applies
SUMMARY_KEYS = ("problems", "samples_per_problem", "greedy_pass@1", "sample_accuracy", "best_of_n", "paired")
NO_ANSWER = -1  # the group label of a sample without a final answer


def same_answer(item: Item, a: str, b: str) -> bool:
    """Whether two final answers to ``item`` are the same answer: the one place reranking compares answers
    (equal stripped strings, else the one answer checker under the benchmark's rule with ``b`` as the
    reference, ``preftree.answers.check``: the checker ``eval`` scores with)."""
    if a.strip() == b.strip():
        return True
    if item.kind not in VOTE_KINDS:
        raise ValueError(f"{item.benchmark}/{item.id}: kind {item.kind!r} has no final answer to vote on")
    rel_tol, answer_type = item.meta.get("rel_tol"), item.meta.get("answer_type")
    return check.same_answer(a, b, rule=check.rule_for(item.kind, item.benchmark),
                             rel_tol=None if rel_tol is None else float(rel_tol),
                             answer_type=None if answer_type is None else str(answer_type))  # fmt: skip


def answer_groups(answers: Sequence[str | None], same: Callable[[str, str], bool]) -> list[int]:
    """One group label per answer, in order: the label of the first earlier group whose first answer it
    equals (``same(answer, first)``), else a new label (0, 1, ...); :data:`NO_ANSWER` for None / blank."""
    firsts: list[str] = []
    labels = []
    for answer in answers:
        if answer is None or not answer.strip():
            labels.append(NO_ANSWER)
            continue
        label = next((g for g, first in enumerate(firsts) if same(answer, first)), None)
        if label is None:
            label = len(firsts)
            firsts.append(answer)
        labels.append(label)
    return labels


def majority_pick(labels: Sequence[int], n: int) -> int:
    """The sample majority vote picks among the first ``n``: the first sample of the largest group (ties:
    the group that appeared first, i.e. the smallest label); 0 when none of them has an answer."""
    head = np.asarray(labels[:n], dtype=np.int64)
    voted = head[head != NO_ANSWER]
    if voted.size == 0:
        return 0
    winner = int(np.bincount(voted).argmax())  # argmax: the first of equal counts = the earliest group
    return int(np.flatnonzero(head == winner)[0])


def _matrix(values: Sequence[Sequence[float]], name: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name}: expected one row of samples per problem, got shape {array.shape}")
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name}: shape {array.shape} differs from the correctness matrix {shape}")
    return array


def per_problem(
    hits: np.ndarray,
    scores: Mapping[str, np.ndarray],
    n: int,
    greedy: np.ndarray | None,
    groups: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per problem, with the first ``n`` samples as candidates: each series' correctness (0/1, or the
    expected correctness for ``random``). ``greedy`` / ``majority`` are omitted when ``greedy`` /
    ``groups`` (the answer-group labels, :func:`answer_groups` per problem) are not given."""
    rows = np.arange(hits.shape[0])
    out = {"random": hits[:, :n].mean(axis=1), "oracle": hits[:, :n].max(axis=1)}
    if greedy is not None:
        out["greedy"] = greedy
    if groups is not None:
        out["majority"] = hits[rows, [majority_pick(g, n) for g in groups.tolist()]]
    for name, score in scores.items():
        out[f"best_of_n/{name}"] = hits[rows, score[:, :n].argmax(axis=1)]  # argmax: the first of equal maxima
    return out


def _paired(values: Mapping[str, np.ndarray], seed: int) -> dict[str, dict[str, float]]:
    out = {}
    for rm in sorted(k for k in values if k.startswith("best_of_n/")):
        for base in ("random", "greedy", "majority"):
            if base in values:
                est = paired_diff(values[rm], values[base], seed=seed)
                out[f"{rm.removeprefix('best_of_n/')}_vs_{base}"] = {
                    "effect": est.effect, "ci_low": est.ci_low, "ci_high": est.ci_high
                }  # fmt: skip
    return out


@dataclass(frozen=True)
class Curve:
    """:func:`best_of_curve`'s answer: one row per N, and the paired differences at the largest N."""

    rows: list[dict[str, Any]]
    paired: dict[str, dict[str, float]]


def best_of_curve(
    correct: Sequence[Sequence[bool]],
    rewards: Mapping[str, Sequence[Sequence[float]]],
    ns: Sequence[int],
    greedy: Sequence[bool] | None = None,
    groups: Sequence[Sequence[int]] | None = None,
    *,
    seed: int = 0,
) -> Curve:
    """The rows of :func:`best_of_n` and, at the largest N, each reward model's pick minus random,
    greedy and majority (those given) per problem with a paired bootstrap CI (``<rm>_vs_<series>``)."""
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
    labels = None
    if groups is not None:
        labels = np.asarray(groups, dtype=np.int64)
        if labels.shape != hits.shape:
            raise ValueError(f"groups: shape {labels.shape} differs from the correctness matrix {hits.shape}")
    rows = []
    values: dict[str, np.ndarray] = {}
    for n in sorted(set(ns)):
        values = per_problem(hits, scores, n, greedy_hits, labels)
        row: dict[str, Any] = {"n": n}
        for series in [*sorted(k for k in values if k.startswith("best_of_n/")), *SERIES_FIXED]:
            if series not in values:  # greedy / majority not given
                row[series] = row[f"{series}_ci_low"] = row[f"{series}_ci_high"] = None
                continue
            estimate = bootstrap_mean(values[series], seed=seed)
            row[series] = estimate.effect
            row[f"{series}_ci_low"], row[f"{series}_ci_high"] = estimate.ci_low, estimate.ci_high
        rows.append(row)
    return Curve(rows=rows, paired=_paired(values, seed))


def best_of_n(
    correct: Sequence[Sequence[bool]],
    rewards: Mapping[str, Sequence[Sequence[float]]],
    ns: Sequence[int],
    greedy: Sequence[bool] | None = None,
    groups: Sequence[Sequence[int]] | None = None,
    *,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per N: ``{"n", "best_of_n/<rm>" ..., "random", "oracle", "greedy", "majority"}`` (pass@1 in
    [0, 1]; ``greedy`` None without greedy results, ``majority`` None without answer groups), each series
    with ``<series>_ci_low`` / ``_ci_high``."""
    return best_of_curve(correct, rewards, ns, greedy, groups, seed=seed).rows


def series_names(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The series of best-of-N rows that have values, reward models first: best_of_n/<rm> ..., random,
    oracle, greedy, majority."""
    keys = [k for k in rows[0] if k != "n" and not k.endswith(("_ci_low", "_ci_high"))] if rows else []
    present = [k for k in keys if rows[0][k] is not None]
    return sorted(k for k in present if k.startswith("best_of_n/")) + [k for k in SERIES_FIXED if k in present]


def benchmark_summaries(summary: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every benchmark of a rerank summary (metrics/info/rerank.json) by name, in run order: the top-level
    benchmark first, then ``benchmarks.<name>`` (see the module docstring)."""
    first = {k: summary[k] for k in SUMMARY_KEYS if k in summary}
    return {str(summary["benchmark"]): first, **{k: dict(v) for k, v in (summary.get("benchmarks") or {}).items()}}


def votes_on(items: Sequence[Item]) -> bool:
    """Whether majority vote applies: every item is judged by its final answer (:data:`VOTE_KINDS`)."""
    return bool(items) and all(item.kind in VOTE_KINDS for item in items)


# ----------------------------------------------------------------------------- the sampling run

Judge = Callable[[Sequence[Item], Sequence[str]], list[Any]]  # items, texts -> verdicts (.correct, .answer)
Scorer = Callable[[str, list[list[dict[str, str]]]], list[float]]  # RM folder, conversations -> rewards


@dataclass(frozen=True)
class RerankResult:
    """What :func:`run_rerank` returns: the best-of-N ``curves`` by benchmark (one row per N), the
    ``summary`` the stage logs (layout: the module docstring), one record per (problem, sample)
    (``samples``: benchmark, id (the problem's), family, sample, response, correct, answer (the final
    answer, None when none was found or the item has none), answer_group (majority vote's group,
    -1: no vote), greedy_correct (the problem's greedy answer), reward_<rm> ...) and one per problem
    (``greedy``: benchmark, id, family, response, correct)."""

    curves: dict[str, list[dict[str, Any]]]
    summary: dict[str, Any]
    samples: list[dict[str, Any]]
    greedy: list[dict[str, Any]]

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The first benchmark's curve (metrics/rerank.csv)."""
        return next(iter(self.curves.values()))


def _default_judge(sandbox: Any, workers: int) -> Judge:
    from preftree.evaluate.scoring import score_many

    return lambda items, texts: score_many(items, texts, "auto", workers=workers, limits=sandbox)


def _default_scorer(batch_size: int) -> Scorer:
    from preftree.train.reward import load_reward_model, reward_scores

    def score(folder: str, conversations: list[list[dict[str, str]]]) -> list[float]:
        model, tokenizer = load_reward_model(folder)
        return [float(v) for v in reward_scores(model, tokenizer, conversations, batch_size=batch_size).tolist()]

    return score


@dataclass
class _Sampled:
    items: Sequence[Item]
    greedy_texts: list[str]
    greedy_ok: list[bool]
    texts: list[list[str]]
    correct: list[list[bool]]
    answers: list[list[str | None]]
    groups: list[list[int]] | None


def _same_for(item: Item) -> Callable[[str, str], bool]:
    return lambda a, b: same_answer(item, a, b)


def _sample(
    generate: Any, items: Sequence[Item], judge: Judge, *, n: int, temperature: float, max_new_tokens: int, seed: int
) -> _Sampled:
    prompts = [[{"role": "user", "content": item.prompt}] for item in items]
    greedy_texts = [t[0] for t in generate(prompts, 1, 0.0, max_new_tokens, seed, [])]
    greedy_ok = [bool(v.correct) for v in judge(items, greedy_texts)]
    texts = [list(group) for group in generate(prompts, n, temperature, max_new_tokens, seed, [])]
    if [len(group) for group in texts] != [n] * len(items):
        raise ValueError(f"rerank: the generator returned {[len(g) for g in texts]} samples, not {n} per problem")
    verdicts = judge([item for item in items for _ in range(n)], [t for group in texts for t in group])
    correct = [[bool(verdicts[i * n + j].correct) for j in range(n)] for i in range(len(items))]
    answers = [[verdicts[i * n + j].answer for j in range(n)] for i in range(len(items))]
    groups = None
    if votes_on(items):
        groups = [answer_groups(a, _same_for(item)) for item, a in zip(items, answers, strict=True)]
    return _Sampled(items, greedy_texts, greedy_ok, texts, correct, answers, groups)


def run_rerank(
    generate: Any,
    benchmarks: Mapping[str, Sequence[Item]],
    reward_models: Mapping[str, str],
    *,
    n: int,
    ns: Sequence[int],
    temperature: float,
    max_new_tokens: int,
    seed: int,
    sandbox: Any = None,
    workers: int = 1,
    batch_size: int = 16,
    judge: Judge | None = None,
    scorer: Scorer | None = None,
) -> RerankResult:
    """Per benchmark (in the mapping's order): sample ``n`` responses per item and decode one greedily,
    judge each, score every sample with every reward model, and compute the best-of-N curve.
    ``generate`` has the evaluation runner's signature; ``reward_models`` maps a label to a folder and
    each model is loaded once for all benchmarks. ``judge`` (default: ``preftree.evaluate.scoring.
    score_many`` in mode ``auto`` with ``sandbox`` and ``workers``) and ``scorer`` (default: the reward
    model in the folder) are for tests."""
    if not benchmarks:
        raise ValueError("rerank: no benchmark to rerank")
    empty = [name for name, items in benchmarks.items() if not items]
    if empty:
        raise ValueError(f"rerank: no problems to rerank in {', '.join(empty)}")
    judge = judge or _default_judge(sandbox, workers)
    scorer = scorer or _default_scorer(batch_size)
    runs = {name: _sample(generate, items, judge, n=n, temperature=temperature, max_new_tokens=max_new_tokens,
                          seed=seed) for name, items in benchmarks.items()}  # fmt: skip
    conversations = [
        [{"role": "user", "content": item.prompt}, {"role": "assistant", "content": t}]
        for run in runs.values()
        for item, group in zip(run.items, run.texts, strict=True)
        for t in group
    ]
    flat = {label: scorer(folder, conversations) for label, folder in reward_models.items()}
    curves: dict[str, list[dict[str, Any]]] = {}
    summaries: dict[str, dict[str, Any]] = {}
    samples: list[dict[str, Any]] = []
    greedy: list[dict[str, Any]] = []
    offset = 0
    for name, run in runs.items():
        size = len(run.items) * n
        rewards = {label: [scores[offset + i * n : offset + (i + 1) * n] for i in range(len(run.items))]
                   for label, scores in flat.items()}  # fmt: skip
        offset += size
        curve = best_of_curve(run.correct, rewards, ns, greedy=run.greedy_ok, groups=run.groups, seed=seed)
        curves[name] = curve.rows
        summaries[name] = {
            "problems": len(run.items),
            "samples_per_problem": n,
            "greedy_pass@1": curve.rows[0]["greedy"],
            "sample_accuracy": float(np.mean(run.correct)),
            "best_of_n": {r["n"]: {k: v for k, v in r.items() if k != "n"} for r in curve.rows},
            "paired": curve.paired,
        }
        samples += _sample_records(name, run, rewards, n)
        greedy += [
            {"benchmark": name, "id": item.id, "family": item.family, "response": run.greedy_texts[i],
             "correct": run.greedy_ok[i]}
            for i, item in enumerate(run.items)
        ]  # fmt: skip
    first, *others = summaries
    summary = {"benchmark": first, **summaries[first], "reward_models": dict(reward_models)}
    if others:
        summary["benchmarks"] = {name: summaries[name] for name in others}
    return RerankResult(curves=curves, summary=summary, samples=samples, greedy=greedy)


def _sample_records(name: str, run: _Sampled, rewards: Mapping[str, list[list[float]]], n: int) -> list[dict[str, Any]]:
    return [
        {
            "benchmark": name,
            "id": item.id,
            "family": item.family,
            "sample": j,
            "response": run.texts[i][j],
            "correct": run.correct[i][j],
            "answer": None if run.answers[i][j] is None else str(run.answers[i][j]),
            "answer_group": run.groups[i][j] if run.groups is not None else NO_ANSWER,
            "greedy_correct": run.greedy_ok[i],
            **{f"reward_{label}": rewards[label][i][j] for label in rewards},
        }
        for i, item in enumerate(run.items)
        for j in range(n)
    ]
