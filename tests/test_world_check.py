"""preftree.world_check: issue #13's bounds decided by fixed rules on tiny, hand-built inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from preftree.families import FamilyRates
from preftree.stats import Estimate
from preftree.world_check import (
    bounds_document,
    bounds_markdown,
    pair_differences,
    world_bounds,
)


def est(effect: float, low: float, high: float, n: int = 600) -> Estimate:
    return Estimate(effect, low, high, n, (high - low) / 4)


def rates(sft_all: float = 0.55, cot: float = 0.2, logic_low: float = 0.02) -> FamilyRates:
    fams = {"Coding": est(0.9, 0.85, 0.95), "Logic": est(0.5, 0.4, 0.6), "Math_CoT": est(cot, cot - 0.05, cot + 0.05)}
    return FamilyRates(
        rates={"base": {**fams, "all": est(0.45, 0.41, 0.49)}, "sft": {**fams, "all": est(sft_all, 0.5, 0.6)}},
        chance={"Logic": 0.3},
        above_chance={"sft": {"Logic": est(0.2, logic_low, 0.3)}, "base": {"Logic": est(0.1, -0.1, 0.2)}},
    )


PAIRS = {("base", "sft"): est(-0.08, -0.11, -0.05), ("base", "dpo"): est(0.0, -0.03, 0.03)}
RM = {
    "bt": {"heldout_pairs": 590, "heldout_pairs_by_task": {"Coding": 100, "Logic": 90, "Math_CoT": 400}},
    "bt_dr": {"heldout_pairs": 590, "heldout_pairs_by_task": {"Coding": 100, "Logic": 90, "Math_CoT": 400}},
}
RERANK: dict[str, Any] = {
    "problems": 200,
    "best_of_n": {str(n): {"best_of_n/bt": 0.5, "best_of_n/bt_dr": 0.5, "random": 0.4} for n in (1, 4, 16)},
}
CUT = {"base": 0, "sft": 0}


def test_a_world_meeting_every_bound() -> None:
    bounds = world_bounds(rates(), PAIRS, RM, RERANK, CUT)
    assert [b.met for b in bounds] == [True] * 8, bounds
    assert "SFT - base +8.0 [+5.0, +11.0] points" in bounds[3].figure  # base - sft turned around
    assert "widest: base - sft" in bounds[4].figure
    assert bounds_document(bounds)["met"] == 8


@pytest.mark.parametrize(
    ("change", "index"),
    [
        ({"r": rates(sft_all=0.9)}, 0),  # above 85 %
        ({"r": rates(cot=0.149)}, 1),  # one family under 15 %
        ({"r": rates(logic_low=-0.01)}, 2),  # Logic's CI touches chance
        ({"pairs": {("base", "sft"): est(-0.03, -0.07, 0.01)}}, 3),  # SFT - base spans 0
        ({"pairs": {**PAIRS, ("dpo", "kto"): est(0.0, -0.041, 0.041)}}, 4),  # one pair ±4.1 points
        ({"rm": {**RM, "bt": {**RM["bt"], "heldout_pairs": 499}}}, 5),
        ({"rm": {"bt": {"heldout_pairs": 600, "heldout_pairs_by_task": {"Coding": 600}}}}, 5),  # families missing
        ({"rerank": {**RERANK, "problems": 199}}, 6),
        ({"rerank": {"problems": 200, "best_of_n": {"16": {"best_of_n/bt": 0.5}}}}, 6),  # bt_dr not reranked
        ({"cut": {"base": 0, "sft": 3}}, 7),
    ],
)
def test_each_bound_fails_by_its_own_rule(change: dict[str, Any], index: int) -> None:
    bounds = world_bounds(
        change.get("r", rates()),
        change.get("pairs", PAIRS),
        change.get("rm", RM),
        change.get("rerank", RERANK),
        change.get("cut", CUT),
    )
    assert [i for i, b in enumerate(bounds) if b.met is not True] == [index], bounds
    assert bounds[index].met is False
    assert "**no**" in bounds_markdown(bounds) and "7 of 8 bounds met." in bounds_markdown(bounds)


def test_inputs_that_did_not_run_are_not_run_never_met() -> None:
    empty = FamilyRates(rates={}, chance={}, above_chance={})
    bounds = world_bounds(empty, {}, {}, None, {"sft": None})
    assert all(b.met is None for b in bounds), bounds
    assert "0 of 8 bounds met." in bounds_markdown(bounds)
    assert bounds_markdown(bounds).count("| not run |") == 8


def _responses(correct: list[bool]) -> pl.DataFrame:
    n = len(correct)
    return pl.DataFrame(
        {
            "benchmark": ["tiny"] * n,
            "id": [f"i{k}" for k in range(n)],
            "family": ["Coding"] * n,
            "mode": ["cot"] * n,
            "correct": correct,
        }  # fmt: skip
    )


def test_pair_differences_are_paired_over_common_items() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(400) < 0.5
    b = a.copy()
    b[:40] = ~b[:40]  # 40 discordant items
    pairs = pair_differences({"x": _responses(list(a)), "y": _responses(list(a)), "z": _responses(list(b))}, seed=0)
    assert set(pairs) == {("x", "y"), ("x", "z"), ("y", "z")}
    same = pairs[("x", "y")]
    assert same.effect == 0 and same.ci_low == 0 and same.ci_high == 0  # identical policies: no spread
    moved = pairs[("x", "z")]
    assert moved.n == 400 and moved.ci_low <= moved.effect <= moved.ci_high
    assert (moved.ci_high - moved.ci_low) / 2 < 0.04  # 40 discordant of 400: about ±3 points
