"""The paper's findings C1-C7 as rows with this run's effect, its 95% CI and a verdict.

:func:`build_claims` is pure: it takes the per-unit frames the upstream stages wrote
(:class:`ClaimInputs`) and returns one :class:`ClaimRow` per sub-claim. :func:`read_inputs` reads those
frames from a workspace (``data/`` and ``metrics/``); a missing input makes its claims *not run*.

Units and estimates (CIs from :mod:`preftree.stats`, seeded with the pipeline ``seed``):

* C1-C3 (pass@1, paper Table 3): per held-out problem, correctness at the policy's best prompt style
  for its benchmark (``best_mode`` as the eval stage recorded it, as in the Table 3 layout);
  paired bootstrap over the problems both policies were scored on; percentage points.
* C4 (Figure 5): every implicit reward beta*log(pi/pi_ref) is 0 at step 0 (the policy starts as its
  reference), so a reward "rises" when the mean of the last third of its logged points (at least
  5, all when fewer) is above 0 and "falls" when it is below; CI: bootstrap over those points.
* C5 (Table 6): per held-out RM pair, bt+dr minus bt, paired over pairs: pairwise accuracy
  (r_chosen > r_rejected, ties wrong), r_chosen > 0, r_rejected < 0; percentage points.
* C6 (Figure 4): per problem at the largest N sampled: the RM's top pick (ties: earliest sample)
  minus a random pick (the mean correctness of the N) or the greedy answer; paired over problems.
* C7 (Table 3, MINT): per multi-turn item, solved within 5 turns; paired over items.

Verdicts (:func:`preftree.stats.verdict`): superiority claims against 0; the "keeps or improves"
claims (C2, C6c) are non-inferiority claims against -:data:`NONINFERIORITY_MARGIN_PP`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from preftree.report_plots import read_curve
from preftree.stats import N_BOOT, Estimate, combine, paired_diff, verdict, window_mean

# "keeps or improves": a loss of up to 2 points still keeps. Fixed before any run was judged: half the
# +-4 pp CI the tiny world is sized for (issue 13), the size of the paper's own KTO/NCA - SFT Avg gaps.
NONINFERIORITY_MARGIN_PP = 2.0
TREND_WINDOW = 1 / 3  # C4: the last third of a curve's logged points...
TREND_MIN_POINTS = 5  # ...but at least 5 of them (all when the curve has fewer)
MULTITURN_K = 5  # C7: success within 5 turns (MINT)
BASE, SFT, DPO, KTO, NCA = "base", "sft", "dpo", "kto", "nca"  # policy / align-method names
RM_BT, RM_DR = "bt", "bt_dr"  # reward-model variants (data/rm/<variant>/, reward_<variant> columns)
PP = "pp (percentage points)"
REWARD = "implicit reward beta*log(pi/pi_ref)"

RULES = (
    f"Effect: this run's estimate; CI: 95% percentile bootstrap ({N_BOOT} resamples, seeded with `seed`) "
    "over the unit named in the row (problems, pairs, items or logged points).",
    "reproduced: the CI lies entirely on the paper's side of 0; contradicted: entirely on the other "
    "side; inconclusive: the CI contains 0.",
    f"'Keeps or improves' (C2, C6c) is non-inferiority: the threshold is -{NONINFERIORITY_MARGIN_PP:g} pp "
    "instead of 0 (reproduced: CI above it; contradicted: CI below it).",
    "C4: implicit rewards are 0 at step 0 (policy = reference), so 'rises' / 'falls' is judged on the mean "
    "of the last third of the logged points (at least 5, all when fewer) against 0.",
    "A claim made of sub-claims (C2a, C2b, ...): contradicted if any sub-claim is, reproduced if all "
    "that ran are, else inconclusive; not run: an input it needs was not produced by this run.",
)


@dataclass(frozen=True)
class Spec:
    id: str
    text: str
    direction: int  # +1: the paper says the effect is positive; -1: negative
    unit: str
    margin: float = 0.0  # non-inferiority margin, in `unit`

    @property
    def claim(self) -> str:
        return self.id[:2]


PAPER = {
    "C1": "Table 3",
    "C2": "Table 3",
    "C3": "Table 3, §4.3",
    "C4": "§6.1, Figure 5",
    "C5": "§5.4, Table 6",
    "C6": "Figure 4",
    "C7": "Table 3 (MINT)",
}
NI = NONINFERIORITY_MARGIN_PP
SPECS = (
    Spec("C1", "SFT beats the base model (pass@1, SFT - base)", +1, PP),
    Spec("C2a", "KTO keeps or improves SFT's pass@1 (KTO - SFT)", +1, PP, NI),
    Spec("C2b", "NCA keeps or improves SFT's pass@1 (NCA - SFT)", +1, PP, NI),
    Spec("C3a", "DPO falls behind KTO (pass@1, KTO - DPO)", +1, PP),
    Spec("C3b", "DPO falls behind NCA (pass@1, NCA - DPO)", +1, PP),
    Spec("C4a", "DPO's chosen reward falls", -1, REWARD),
    Spec("C4b", "KTO's chosen reward rises", +1, REWARD),
    Spec("C4c", "NCA's chosen reward rises", +1, REWARD),
    Spec("C4d", "DPO's reward margin rises", +1, REWARD),
    Spec("C4e", "KTO's reward margin rises", +1, REWARD),
    Spec("C4f", "NCA's reward margin rises", +1, REWARD),
    Spec("C5a", "bt+dr RM beats bt on held-out pairs (pairwise accuracy, bt+dr - bt)", +1, PP),
    Spec("C5b", "bt+dr gives chosen responses a positive reward more often (bt+dr - bt)", +1, PP),
    Spec("C5c", "bt+dr gives rejected responses a negative reward more often (bt+dr - bt)", +1, PP),
    Spec("C6a", "best-of-N with the RM beats a random pick (RM pick - random)", +1, PP),
    Spec("C6b", "best-of-N with the RM beats greedy decoding (RM pick - greedy)", +1, PP),
    Spec("C6c", "bt+dr reranks at least as well as bt (bt+dr pick - bt pick)", +1, PP, NI),
    Spec("C7a", "KTO improves multi-turn success@5 over SFT (KTO - SFT)", +1, PP),
    Spec("C7b", "NCA improves multi-turn success@5 over SFT (NCA - SFT)", +1, PP),
)


@dataclass(frozen=True)
class ClaimRow:
    """One sub-claim: numbers are None (and verdict "not run") when its inputs were not produced;
    ``direction`` (+1/-1) and ``margin`` are the side and threshold the verdict rule used."""

    id: str
    claim: str
    text: str
    paper: str
    direction: int
    margin: float
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    se: float | None
    n: int | None
    unit: str
    verdict: str
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ClaimInputs:
    """What the claims read, one frame per policy / method / variant (missing keys: not run).

    responses: data/eval/<policy>/responses.parquet; best_modes: {policy: {benchmark: mode}};
    multiturn: data/eval/<policy>/multiturn.parquet; curves: metrics/align/<method>.csv as columns;
    rm_scores: data/rm/<variant>/heldout_scores.parquet (pair_id, task, chosen_reward,
    rejected_reward); rerank: data/rerank/samples.parquet ([benchmark,] id, sample, correct,
    greedy_correct, reward_<label> ...; every benchmark reranked, pooled by (benchmark, id));
    rerank_greedy: data/rerank/greedy.parquet ([benchmark,] id, correct), read when the samples carry
    no greedy_correct."""

    responses: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    best_modes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    multiturn: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    curves: Mapping[str, Mapping[str, Sequence[float | None]]] = field(default_factory=dict)
    rm_scores: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    rerank: pl.DataFrame | None = None
    rerank_greedy: pl.DataFrame | None = None


# --------------------------------------------------------------------------------------------
# per-unit vectors


def best_modes_of(responses: pl.DataFrame) -> dict[str, str]:
    """{benchmark: the prompt style with the higher pass@1 (ties: cot)}: preftree.evaluate's rule."""
    items = responses.group_by("benchmark", "mode", "id").agg(pl.col("correct").cast(pl.Float64).mean())
    rates = items.group_by("benchmark", "mode").agg(pl.col("correct").mean()).sort("benchmark", "mode")
    best: dict[str, tuple[float, bool, str]] = {}
    for bench, mode, rate in rates.iter_rows():
        key = (rate, mode == "cot", mode)
        if bench not in best or key[:2] > best[bench][:2]:
            best[bench] = key
    return {b: k[2] for b, k in best.items()}


def item_pass(responses: pl.DataFrame, best_modes: Mapping[str, str] | None = None) -> pl.DataFrame:
    """(benchmark, id, value): correctness at the benchmark's best mode (mean over samples)."""
    modes = {**best_modes_of(responses), **(best_modes or {})}
    table = pl.DataFrame({"benchmark": list(modes), "mode": list(modes.values())}, schema=pl.Schema(
        {"benchmark": pl.String, "mode": pl.String}))  # fmt: skip
    chosen = responses.join(table, on=["benchmark", "mode"], how="inner")
    return chosen.group_by("benchmark", "id").agg(pl.col("correct").cast(pl.Float64).mean().alias("value"))


def item_success(multiturn: pl.DataFrame, k: int = MULTITURN_K) -> pl.DataFrame:
    """(benchmark, id, value): solved within ``k`` turns."""
    solved = multiturn.group_by("benchmark", "id").agg(pl.col("solved_turn").min())
    hit = pl.col("solved_turn").is_not_null() & (pl.col("solved_turn") <= k)
    return solved.select("benchmark", "id", hit.cast(pl.Float64).alias("value"))


def aligned(a: pl.DataFrame, b: pl.DataFrame, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The ``value`` columns of two per-unit frames on the units both have, sorted by ``keys``."""
    joined = a.select(*keys, "value").join(b.select(*keys, "value"), on=list(keys), how="inner", suffix="_b")
    joined = joined.sort(list(keys))
    return joined["value"].to_numpy(), joined["value_b"].to_numpy()


def rm_vectors(scores: pl.DataFrame) -> pl.DataFrame:
    """(pair_id, accuracy, chosen_positive, rejected_negative) per held-out pair, as 0/1 floats."""
    return scores.select(
        pl.col("pair_id").cast(pl.String),
        (pl.col("chosen_reward") > pl.col("rejected_reward")).cast(pl.Float64).alias("accuracy"),
        (pl.col("chosen_reward") > 0).cast(pl.Float64).alias("chosen_positive"),
        (pl.col("rejected_reward") < 0).cast(pl.Float64).alias("rejected_negative"),
    )


def rerank_picks(
    samples: pl.DataFrame, rewards: Sequence[str], greedy: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, int]:
    """Per problem at N = the samples every problem has (as preftree.rerank.per_problem): ``random``
    (mean correctness of the N), ``pick:<column>`` (the top-reward sample is correct; ties: the
    earliest) and ``greedy`` (the greedy response is correct: the samples' ``greedy_correct``, else
    ``greedy``'s ``correct``) when known for every problem; returns (frame sorted by problem, N). A
    problem is (benchmark, id) when the samples carry a ``benchmark`` column (every benchmark the
    rerank stage ran), else its id."""
    keys = ["benchmark", "id"] if "benchmark" in samples.columns else ["id"]
    per = samples.sort(*keys, "sample").group_by(*keys, maintain_order=True)
    first = [pl.col("greedy_correct").first().cast(pl.Float64).alias("_greedy")] if "greedy_correct" in samples else []
    per = per.agg(pl.col("correct"), *(pl.col(r) for r in rewards), *first)
    if not first and greedy is not None:
        on = [k for k in keys if k in greedy.columns]
        right = greedy.select(*on, pl.col("correct").cast(pl.Float64).alias("_greedy"))
        per = per.join(right, on=on, how="left", maintain_order="left")
    n = int(per["correct"].list.len().min())
    hits = np.array([row[:n] for row in per["correct"].to_list()], dtype=np.float64)
    out = {**{k: per[k] for k in keys}, "random": hits.mean(axis=1)}
    rows = np.arange(hits.shape[0])
    for r in rewards:
        score = np.array([row[:n] for row in per[r].to_list()], dtype=np.float64)
        out[f"pick:{r}"] = hits[rows, score.argmax(axis=1)]  # argmax: the first of equal maxima
    if "_greedy" in per.columns and per["_greedy"].null_count() == 0:
        out["greedy"] = per["_greedy"].to_numpy()
    return pl.DataFrame(out).sort(*keys), n


# --------------------------------------------------------------------------------------------
# the rows


def _row(spec: Spec, est: Estimate | None, note: str = "", scale: float = 1.0) -> ClaimRow:
    head = (spec.id, spec.claim, spec.text, PAPER[spec.claim], spec.direction, spec.margin)
    if est is None:
        return ClaimRow(*head, None, None, None, None, None, spec.unit, "not run", note)
    e = Estimate(est.effect * scale, est.ci_low * scale, est.ci_high * scale, est.n, est.se * scale)
    judged = verdict(e, spec.direction, margin=spec.margin)
    return ClaimRow(*head, e.effect, e.ci_low, e.ci_high, e.se, e.n, spec.unit, judged, note)


def _diff(a: np.ndarray, b: np.ndarray, seed: int) -> Estimate | None:
    return paired_diff(a, b, seed=seed) if a.size else None


def _policy_rows(inputs: ClaimInputs, seed: int) -> list[ClaimRow]:
    passes = {p: item_pass(f, inputs.best_modes.get(p)) for p, f in inputs.responses.items()}
    success = {p: item_success(f) for p, f in inputs.multiturn.items()}

    def compare(spec: Spec, table: Mapping[str, pl.DataFrame], a: str, b: str, what: str) -> ClaimRow:
        missing = [p for p in (a, b) if p not in table]
        if missing:
            return _row(spec, None, f"no {what} for {', '.join(missing)}")
        x, y = aligned(table[a], table[b], ["benchmark", "id"])
        return _row(spec, _diff(x, y, seed), f"paired over {x.size} {what} items" if x.size else "no common items", 100)

    by_id = {s.id: s for s in SPECS}
    pairs = {"C1": (SFT, BASE), "C2a": (KTO, SFT), "C2b": (NCA, SFT), "C3a": (KTO, DPO), "C3b": (NCA, DPO)}
    rows = [compare(by_id[i], passes, a, b, "single-turn") for i, (a, b) in pairs.items()]
    for i, (a, b) in {"C7a": (KTO, SFT), "C7b": (NCA, SFT)}.items():
        rows.append(compare(by_id[i], success, a, b, "multi-turn"))
    return rows


def _trend_rows(inputs: ClaimInputs, seed: int) -> list[ClaimRow]:
    rows = []
    subs = {"C4a": (DPO, "rewards_chosen"), "C4b": (KTO, "rewards_chosen"), "C4c": (NCA, "rewards_chosen"),
            "C4d": (DPO, "margins"), "C4e": (KTO, "margins"), "C4f": (NCA, "margins")}  # fmt: skip
    for spec in (s for s in SPECS if s.id in subs):
        method, column = subs[spec.id]
        values = [v for v in (inputs.curves.get(method) or {}).get(column) or [] if v is not None]
        if len(values) < 2:
            rows.append(_row(spec, None, f"no {column} curve for {method} (metrics/align/{method}.csv)"))
            continue
        est = window_mean(values, seed=seed, fraction=TREND_WINDOW, min_points=TREND_MIN_POINTS)
        rows.append(_row(spec, est, f"mean of the last {est.n} of {len(values)} logged points of {column}"))
    return rows


def _rm_rows(inputs: ClaimInputs, seed: int) -> list[ClaimRow]:
    specs = [s for s in SPECS if s.claim == "C5"]
    missing = [v for v in (RM_DR, RM_BT) if v not in inputs.rm_scores]
    if missing:
        note = f"no held-out scores for RM variant {', '.join(missing)} (data/rm/<variant>/heldout_scores.parquet)"
        return [_row(s, None, note) for s in specs]
    dr, bt = rm_vectors(inputs.rm_scores[RM_DR]), rm_vectors(inputs.rm_scores[RM_BT])
    rows = []
    for spec, column in zip(specs, ("accuracy", "chosen_positive", "rejected_negative"), strict=True):
        x, y = aligned(dr.rename({column: "value"}), bt.rename({column: "value"}), ["pair_id"])
        rows.append(_row(spec, _diff(x, y, seed), f"paired over {x.size} held-out pairs", 100))
    return rows


def reward_columns(samples: pl.DataFrame) -> tuple[str | None, str | None]:
    """(the bt+dr RM's reward column, the bt RM's): reward_bt_dr and reward_bt; a single reward
    column of another label is taken as the run's RM (bt+dr, the paper's objective), with no bt."""
    columns = [c for c in samples.columns if c.startswith("reward_")]
    dr, bt = f"reward_{RM_DR}", f"reward_{RM_BT}"
    if dr in columns or bt in columns:
        return (dr if dr in columns else None), (bt if bt in columns else None)
    return (columns[0] if len(columns) == 1 else None), None


def _rerank_rows(inputs: ClaimInputs, seed: int) -> list[ClaimRow]:
    specs = {s.id: s for s in SPECS if s.claim == "C6"}
    samples = inputs.rerank
    if samples is None or samples.height == 0 or "id" not in samples.columns:
        return [_row(s, None, "no best-of-N samples (data/rerank/samples.parquet)") for s in specs.values()]
    dr, bt = reward_columns(samples)
    picks, n = rerank_picks(samples, [c for c in (dr, bt) if c], inputs.rerank_greedy)
    benchmarks = picks["benchmark"].n_unique() if "benchmark" in picks.columns else 1
    where = f"N = {n}, paired over {picks.height} problems" + (f" of {benchmarks} benchmarks" if benchmarks > 1 else "")
    rows = []
    if dr is None:
        rows += [_row(specs[i], None, f"no bt+dr reward column (reward_{RM_DR})") for i in ("C6a", "C6b")]
    else:
        pick = picks[f"pick:{dr}"].to_numpy()
        rows.append(_row(specs["C6a"], _diff(pick, picks["random"].to_numpy(), seed), f"{dr}, {where}", 100))
        if "greedy" in picks.columns:
            rows.append(_row(specs["C6b"], _diff(pick, picks["greedy"].to_numpy(), seed), f"{dr}, {where}", 100))
        else:
            rows.append(_row(specs["C6b"], None, "no greedy result for every problem (data/rerank/greedy.parquet)"))
    if dr is None or bt is None:
        rows.append(_row(specs["C6c"], None, f"needs reward_{RM_DR} and reward_{RM_BT} in data/rerank/samples.parquet"))
    else:
        est = _diff(picks[f"pick:{dr}"].to_numpy(), picks[f"pick:{bt}"].to_numpy(), seed)
        rows.append(_row(specs["C6c"], est, where, 100))
    return rows


BUILDERS: tuple[Callable[[ClaimInputs, int], list[ClaimRow]], ...] = (
    _policy_rows, _trend_rows, _rm_rows, _rerank_rows,
)  # fmt: skip


def build_claims(inputs: ClaimInputs, *, seed: int) -> list[ClaimRow]:
    """Every sub-claim C1..C7 in the order of :data:`SPECS` (pure given the frames and the seed)."""
    rows = {r.id: r for builder in BUILDERS for r in builder(inputs, seed)}
    return [rows[s.id] for s in SPECS]


def summary(rows: Sequence[ClaimRow]) -> dict[str, str]:
    """{claim: its sub-claims' combined verdict} (preftree.stats.combine)."""
    groups: dict[str, list[Any]] = {}
    for row in rows:
        groups.setdefault(row.claim, []).append(row.verdict)
    return {claim: combine(verdicts) for claim, verdicts in groups.items()}


def claims_document(rows: Sequence[ClaimRow], *, seed: int) -> dict[str, Any]:
    """metrics/claims.json: the rows, the combined verdict per claim, the seed and the rules."""
    return {
        "seed": seed,
        "verdicts": summary(rows),
        "claims": [r.as_dict() for r in rows],
        "rules": list(RULES),
    }


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def claims_markdown(rows: Sequence[ClaimRow]) -> str:
    """The claims table (one line per sub-claim), the combined verdicts and the rules under it."""
    lines = [
        "| id | claim | paper | effect | 95% CI | n | unit | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ci = "–" if r.ci_low is None else f"[{_num(r.ci_low)}, {_num(r.ci_high)}]"
        n = "–" if r.n is None else str(r.n)
        unit = "pp" if r.unit == PP else ("reward" if r.unit == REWARD else r.unit)
        lines.append(f"| {r.id} | {r.text} | {r.paper} | {_num(r.effect)} | {ci} | {n} | {unit} | **{r.verdict}** |")
    combined = ", ".join(f"{c} {v}" for c, v in summary(rows).items())
    return "\n".join(
        [
            *lines,
            "",
            f"Per claim: {combined}.",
            "",
            f"pp: percentage points of pass@1 / success / rate; reward: {REWARD}; n: units resampled.",
            *(f"- {rule}" for rule in RULES),
            "",
        ]
    )


# --------------------------------------------------------------------------------------------
# reading a workspace


def _parquet(path: Path) -> pl.DataFrame | None:
    return pl.read_parquet(path) if path.is_file() else None


def read_inputs(data: Path, metrics: Path, policies: Sequence[str]) -> ClaimInputs:
    """The claims' inputs for the evaluated ``policies`` under ``data`` (data/) and ``metrics``
    (metrics/); what is missing is left out (its claims are not run). Reads
    <data>/eval/<policy>/{responses,multiturn}.parquet and the best_mode per benchmark from
    <metrics>/info/eval/<policy>.json (else <metrics>/eval/<policy>.json; else the same rule applied to
    the responses, :func:`best_modes_of`), <metrics>/align/<method>.csv,
    <data>/rm/<variant>/heldout_scores.parquet and <data>/rerank/{samples,greedy}.parquet."""
    responses, multiturn, modes = {}, {}, {}
    for policy in policies:
        folder = data / "eval" / policy
        if (frame := _parquet(folder / "responses.parquet")) is not None:
            responses[policy] = frame
        if (frame := _parquet(folder / "multiturn.parquet")) is not None and frame.height:
            multiturn[policy] = frame
        for path in (metrics / "info" / "eval" / f"{policy}.json", metrics / "eval" / f"{policy}.json"):
            if path.is_file():  # the full record first: the DVC metrics file keeps numbers only
                benchmarks = json.loads(path.read_text(encoding="utf-8")).get("benchmarks") or {}
                modes[policy] = {b: e["best_mode"] for b, e in benchmarks.items() if e.get("best_mode")}
                break
    curves = {p.stem: read_curve(p) for p in sorted((metrics / "align").glob("*.csv"))}
    rm_scores = {p.parent.name: pl.read_parquet(p) for p in sorted((data / "rm").glob("*/heldout_scores.parquet"))}
    return ClaimInputs(
        responses=responses,
        best_modes=modes,
        multiturn=multiturn,
        curves=curves,
        rm_scores=rm_scores,
        rerank=_parquet(data / "rerank" / "samples.parquet"),
        rerank_greedy=_parquet(data / "rerank" / "greedy.parquet"),
    )
