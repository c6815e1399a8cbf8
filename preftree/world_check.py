"""Is this run's tiny world informative? The bounds of issue #13, item 1, judged on this run's figures.

A comparison in the report means something only when the policies solve a fair share of every task
family, multiple-choice families are solved above chance, and the held-out sets are large enough for
tight paired CIs. Each bound below is decided by a fixed rule on the run's own outputs, so a run with
another seed (or another world) says by itself whether its comparisons can be read:

* SFT pass@1 overall within ``SFT_OVERALL``;
* SFT pass@1 at least ``FAMILY_FLOOR`` on every task family;
* every multiple-choice family above chance: the 95% CI of SFT's pass@1 minus chance (per item,
  ``preftree.families``) lies above 0;
* the base model clearly lower: the paired 95% CI of SFT - base lies above 0;
* every pairwise difference of two policies' pass@1 has a paired 95% CI no wider than
  ``MAX_HALF_WIDTH`` on either side of its centre (half of high - low);
* every reward model judged on at least ``MIN_RM_PAIRS`` held-out pairs, with every task family among them;
* best-of-N reranked on at least ``MIN_RERANK_PROBLEMS`` problems up to N >= ``MIN_RERANK_N``, by every
  reward model;
* no evaluation prompt cut to fit the context (``prompts_truncated``).

A bound whose inputs did not run is ``None`` (shown as "not run"), never met.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import polars as pl

from preftree.claims import aligned, item_pass
from preftree.families import FamilyRates
from preftree.stats import Estimate, paired_diff

SFT_OVERALL = (0.30, 0.85)
FAMILY_FLOOR = 0.15
MAX_HALF_WIDTH = 0.04
MIN_RM_PAIRS = 500
MIN_RERANK_PROBLEMS = 200
MIN_RERANK_N = 16


@dataclass(frozen=True)
class Bound:
    bound: str  # what the world must satisfy
    figure: str  # this run's figure
    met: bool | None  # None: its inputs did not run

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pair_differences(
    responses: Mapping[str, pl.DataFrame],
    *,
    seed: int,
    best_modes: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[tuple[str, str], Estimate]:
    """Paired-bootstrap pass@1 difference (a - b, fractions) of every two policies, on their common items."""
    passes = {p: item_pass(f, (best_modes or {}).get(p)) for p, f in responses.items()}
    out: dict[tuple[str, str], Estimate] = {}
    for a, b in combinations(passes, 2):
        x, y = aligned(passes[a], passes[b], ["benchmark", "id"])
        if x.size:
            out[(a, b)] = paired_diff(x, y, seed=seed)
    return out


def _pct(e: Estimate) -> str:
    return f"{100 * e.effect:.1f} % [{100 * e.ci_low:.1f}, {100 * e.ci_high:.1f}] (n {e.n})"


def _pts(e: Estimate) -> str:
    return f"{100 * e.effect:+.1f} [{100 * e.ci_low:+.1f}, {100 * e.ci_high:+.1f}]"


def _policy_bounds(rates: FamilyRates, sft: str) -> list[Bound]:
    low, high = SFT_OVERALL
    overall = f"SFT pass@1 between {100 * low:.0f} % and {100 * high:.0f} %"
    floor = f"SFT pass@1 at least {100 * FAMILY_FLOOR:.0f} % on every task family"
    chance = "multiple-choice families above chance (95% CI of SFT pass@1 - chance above 0)"
    mine = rates.rates.get(sft)
    if not mine or "all" not in mine:
        return [Bound(overall, "no SFT evaluation", None), Bound(floor, "", None), Bound(chance, "", None)]
    all_ = mine["all"]
    families = {f: e for f, e in mine.items() if f != "all"}
    out = [
        Bound(overall, _pct(all_), low <= all_.effect <= high),
        Bound(
            floor,
            ", ".join(f"{f} {100 * e.effect:.1f}" for f, e in families.items()),
            bool(families) and min(e.effect for e in families.values()) >= FAMILY_FLOOR,
        ),
    ]
    above = rates.above_chance.get(sft, {})
    if not rates.chance:
        out.append(Bound(chance, "no multiple-choice family", None))
    else:
        figure = "; ".join(
            f"{f}: chance {100 * level:.1f} %, SFT {_pts(above[f])} points"
            for f, level in rates.chance.items()
            if f in above
        )
        out.append(Bound(chance, figure, all(f in above and above[f].ci_low > 0 for f in rates.chance)))
    return out


def _difference_bounds(pairs: Mapping[tuple[str, str], Estimate], base: str, sft: str) -> list[Bound]:
    lower = "base model clearly lower (paired 95% CI of SFT - base above 0)"
    width = f"paired 95% CI of every two policies' pass@1 difference within ±{100 * MAX_HALF_WIDTH:.0f} points"
    gap = pairs.get((base, sft))
    gap = Estimate(-gap.effect, -gap.ci_high, -gap.ci_low, gap.n, gap.se) if gap else pairs.get((sft, base))
    out = [Bound(lower, f"SFT - base {_pts(gap)} points" if gap else "not both evaluated",
                 None if gap is None else gap.ci_low > 0)]  # fmt: skip
    if not pairs:
        return [*out, Bound(width, "fewer than two policies evaluated", None)]
    half = {k: (e.ci_high - e.ci_low) / 2 for k, e in pairs.items()}
    (a, b), widest = max(half.items(), key=lambda kv: kv[1])
    narrowest = min(half.values())
    figure = f"±{100 * narrowest:.1f} to ±{100 * widest:.1f} over {len(half)} pairs (widest: {a} - {b})"
    return [*out, Bound(width, figure, widest <= MAX_HALF_WIDTH)]


def _rm_bounds(rm: Mapping[str, Mapping[str, Any]], families: Sequence[str]) -> Bound:
    text = f"every reward model judged on at least {MIN_RM_PAIRS} held-out pairs, every task family among them"
    if not rm:
        return Bound(text, "no reward model", None)
    parts, met = [], True
    for key, m in rm.items():
        n = int(m.get("heldout_pairs") or 0)
        have = set((m.get("heldout_pairs_by_task") or {}).keys())
        missing = [f for f in families if f not in have]
        parts.append(f"{key} {n}" + (f" (no {', '.join(missing)})" if missing else ""))
        met = met and n >= MIN_RM_PAIRS and not missing
    return Bound(text, ", ".join(parts) + " pairs", met)


def _rerank_bound(rerank: Mapping[str, Any] | None, rm_keys: Sequence[str]) -> Bound:
    text = f"best-of-N on at least {MIN_RERANK_PROBLEMS} problems up to N = {MIN_RERANK_N}, by every reward model"
    if not rerank:
        return Bound(text, "rerank did not run", None)
    problems = int(rerank.get("problems") or 0)
    curve = rerank.get("best_of_n") or {}
    top = max((int(n) for n in curve), default=0)
    series = {k.removeprefix("best_of_n/") for row in curve.values() for k in row
              if k.startswith("best_of_n/") and not k.endswith(("_ci_low", "_ci_high"))}  # fmt: skip
    missing = [k for k in rm_keys if k not in series]
    figure = f"{problems} problems, N up to {top}, reward models: {', '.join(sorted(series)) or 'none'}"
    return Bound(text, figure, problems >= MIN_RERANK_PROBLEMS and top >= MIN_RERANK_N and not missing)


def world_bounds(
    rates: FamilyRates,
    pairs: Mapping[tuple[str, str], Estimate],
    rm: Mapping[str, Mapping[str, Any]],
    rerank: Mapping[str, Any] | None,
    truncated: Mapping[str, int | None],
    *,
    base: str = "base",
    sft: str = "sft",
) -> list[Bound]:
    """The bounds, in the order of the module docstring. ``rates``: ``preftree.families.family_rates``;
    ``pairs``: ``pair_differences``; ``rm``: metrics/info/rm/<key>.json by key; ``rerank``:
    metrics/info/rerank.json; ``truncated``: each policy's ``prompts_truncated`` (None: not recorded)."""
    families = sorted({f for per in rates.rates.values() for f in per if f != "all"})
    out = [*_policy_bounds(rates, sft), *_difference_bounds(pairs, base, sft), _rm_bounds(rm, families)]
    out.append(_rerank_bound(rerank, list(rm)))
    cut_text = "no evaluation prompt truncated to fit the context"
    known = {p: n for p, n in truncated.items() if n is not None}
    if not known:
        out.append(Bound(cut_text, "not recorded", None))
    else:
        out.append(Bound(cut_text, ", ".join(f"{p} {n}" for p, n in known.items()), sum(known.values()) == 0))
    return out


def bounds_markdown(bounds: Sequence[Bound]) -> str:
    """A table: bound | this run | met (yes / **no** / not run), then how many are met."""
    mark = {True: "yes", False: "**no**", None: "not run"}
    lines = ["| bound | this run | met |", "|---|---|---|"]
    lines += [f"| {b.bound} | {b.figure} | {mark[b.met]} |" for b in bounds]
    met = sum(b.met is True for b in bounds)
    lines += ["", f"{met} of {len(bounds)} bounds met."]
    return "\n".join(lines)


def bounds_document(bounds: Sequence[Bound]) -> dict[str, Any]:
    """What claims.json carries under ``world``: every bound and the count met."""
    return {"bounds": [b.as_dict() for b in bounds], "met": sum(b.met is True for b in bounds), "of": len(bounds)}
