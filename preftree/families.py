"""Pass@1 of every policy per task family, with 95% CIs, and multiple-choice families against chance.

A policy's overall pass@1 can hide a family at 0 %, where no method can show an effect; this table
shows each family's rate with its bootstrap CI over problems (``preftree.stats``) and, for families
whose problems list lettered options (Logic), the chance level (mean of 1/options over the items)
and each policy's margin above it, bootstrapped over the same items.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from preftree.stats import Estimate, bootstrap_mean

OPTION_RE = re.compile(r"^\s*([A-J])[.)]\s+\S", re.M)


def option_count(problem: str) -> int:
    """Lettered options (``A. ...`` or ``A) ...`` at the start of a line) in a problem; 0 when none."""
    letters = OPTION_RE.findall(problem)
    return len(dict.fromkeys(letters))


@dataclass(frozen=True)
class FamilyRates:
    rates: dict[str, dict[str, Estimate]]  # policy -> family ("all" too) -> pass@1
    chance: dict[str, float]  # family -> mean chance level over its items (multiple-choice families only)
    above_chance: dict[str, dict[str, Estimate]]  # policy -> family -> pass@1 - chance, per item


def _scored(frame: pl.DataFrame, benchmark: str, mode: str | None) -> pl.DataFrame:
    rows = frame.filter(pl.col("benchmark") == benchmark)
    if mode is not None and rows["mode"].n_unique() > 1:
        rows = rows.filter(pl.col("mode") == mode)
    return rows.unique("id", keep="first", maintain_order=True).select("id", "family", "correct")


def family_rates(
    responses: Mapping[str, pl.DataFrame],
    problems: Mapping[str, str],
    *,
    seed: int,
    benchmark: str = "tiny",
    best_modes: Mapping[str, Mapping[str, str]] | None = None,
) -> FamilyRates:
    """``responses``: policy -> data/eval/<policy>/responses.parquet; ``problems``: item id -> problem
    text (for option counts); one row per item (the benchmark's best mode when several ran)."""
    rates: dict[str, dict[str, Estimate]] = {}
    above: dict[str, dict[str, Estimate]] = {}
    chance: dict[str, float] = {}
    for policy, frame in responses.items():
        mode = (best_modes or {}).get(policy, {}).get(benchmark)
        rows = _scored(frame, benchmark, mode)
        if rows.is_empty():
            continue
        rates[policy], above[policy] = {}, {}
        for family in [*sorted(rows["family"].unique().to_list()), "all"]:
            part = rows if family == "all" else rows.filter(pl.col("family") == family)
            correct = part["correct"].cast(pl.Float64).to_numpy()
            rates[policy][family] = bootstrap_mean(correct, seed=seed)
            if family == "all":
                continue
            counts = np.array([option_count(problems.get(i, "")) for i in part["id"].to_list()], dtype=float)
            if counts.size and (counts >= 2).all():
                levels = 1.0 / counts
                chance[family] = float(levels.mean())
                above[policy][family] = bootstrap_mean(correct - levels, seed=seed)
    return FamilyRates(rates=rates, chance=chance, above_chance=above)


def _pct(e: Estimate) -> str:
    return f"{100 * e.effect:.1f} [{100 * e.ci_low:.1f}, {100 * e.ci_high:.1f}]"


def _points(e: Estimate) -> str:
    return f"{100 * e.effect:+.1f} [{100 * e.ci_low:+.1f}, {100 * e.ci_high:+.1f}]"


def families_markdown(result: FamilyRates, policies: Sequence[str]) -> str:
    """The per-family table (pass@1 % [95% CI]) and one line per multiple-choice family against chance."""
    shown = [p for p in policies if p in result.rates]
    if not shown:
        return ""
    families = list(result.rates[shown[0]])
    n = {f: result.rates[shown[0]][f].n for f in families}
    lines = [
        "| policy | " + " | ".join(f"{f} (n={n[f]})" for f in families) + " |",
        "|---|" + "---|" * len(families),
    ]
    lines += [
        f"| {p} | " + " | ".join(_pct(result.rates[p][f]) if f in result.rates[p] else "–" for f in families) + " |"
        for p in shown
    ]
    for family, level in result.chance.items():
        margins = "; ".join(
            f"{p} {_points(result.above_chance[p][family])}" for p in shown if family in result.above_chance.get(p, {})
        )
        head = f"{family} against chance ({100 * level:.1f} %: 1/options, mean over the items)"
        lines += ["", f"{head}, pass@1 minus chance in points [95% CI]: {margins}."]
    return "\n".join(lines)
