"""eval@*, rerank and report in the real dvc.yaml on the smoke config: the numbers in the report come
from the run, multi-turn success@k on the tiny world, best-of-N, and the figures."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from .conftest import sh

pytestmark = pytest.mark.slow

POLICIES = ("base", "sft", "dpo", "kto", "nca")


def _json(root: Path, name: str) -> dict:
    """Everything the stage logged (metrics/info/; metrics/<name> holds the numeric results only)."""
    return json.loads((root / "metrics" / "info" / name).read_text())


def test_each_policy_is_scored_single_and_multi_turn(smoke_project: Path) -> None:
    for policy in POLICIES:
        metrics = _json(smoke_project, f"eval/{policy}.json")
        tiny = metrics["benchmarks"]["tiny"]
        assert tiny["n_items"] == 12 and tiny["best_mode"] == "cot"
        responses = pl.read_parquet(smoke_project / "data/eval" / policy / "responses.parquet")
        assert responses.height == 12 and responses["id"].n_unique() == 12
        assert tiny["pass@1"] == pytest.approx(responses["correct"].mean())
        families = metrics["families"]
        assert sum(f["n_items"] for f in families.values()) == 12
        curve = metrics["multiturn"]["benchmarks"]["tiny"]["success@k"]
        assert list(curve) == ["1", "2", "3"] and metrics["multiturn"]["benchmarks"]["tiny"]["n_items"] == 6
        assert all(a <= b for a, b in zip(list(curve.values()), list(curve.values())[1:], strict=False))
        turns = pl.read_parquet(smoke_project / "data/eval" / policy / "multiturn.parquet")
        solved_first = turns.filter(pl.col("turn") == 1)["solved_turn"].eq(1).fill_null(False).mean()
        assert curve["1"] == pytest.approx(solved_first)
        # a follow-up turn exists exactly for the episodes still unsolved, and it carries the feedback
        later = turns.filter(pl.col("turn") > 1)
        assert later.filter(pl.col("solved_turn").is_not_null() & (pl.col("turn") > pl.col("solved_turn"))).height == 0
        assert turns.filter(pl.col("solved_turn").is_null())["feedback"].str.contains("wrong").all()


def test_report_rows_are_this_runs_numbers(smoke_project: Path) -> None:
    text = (smoke_project / "metrics/report.md").read_text()
    for policy in POLICIES:
        metrics = _json(smoke_project, f"eval/{policy}.json")
        tiny = 100 * metrics["benchmarks"]["tiny"]["pass@1"]
        mt = 100 * metrics["multiturn"]["benchmarks"]["tiny"]["success@k"]["3"]
        (line,) = [row for row in text.splitlines() if row.startswith(f"| **{policy}** (this run) |")]
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[-2:] == [f"{tiny:.1f}", f"{mt:.1f}"]  # max_turns 3 in the smoke run: success@3
        assert cells[1:14] == ["–"] * 13  # no public benchmark configured in the smoke run, so no Avg either
    assert "| Eurus-7B-KTO (paper) |" in text
    assert "![reward trends](plots/reward_trends.png)" in text
    for name in ("reward_trends.png", "best_of_n.png"):
        assert (smoke_project / "metrics/plots" / name).read_bytes().startswith(b"\x89PNG")
    header = (smoke_project / "metrics/report.csv").read_text().splitlines()[0]
    assert header.startswith("model,source,HumanE,")


def test_rerank_reports_best_of_n_next_to_random_greedy_and_oracle(smoke_project: Path) -> None:
    rerank = _json(smoke_project, "rerank.json")
    assert rerank["problems"] == 6 and rerank["samples_per_problem"] == 4
    assert rerank["reward_models"] == {"bt": "models/rm/bt", "bt_dr": "models/rm/bt_dr"}
    curve = rerank["best_of_n"]
    assert list(curve) == ["1", "2", "4"]
    oracle = [curve[n]["oracle"] for n in curve]
    assert oracle == sorted(oracle)  # pass@N never falls as N grows
    for values in curve.values():
        for rm in ("best_of_n/bt", "best_of_n/bt_dr"):
            assert values["random"] <= values["oracle"] and values[rm] <= values["oracle"]
            assert values[f"{rm}_ci_low"] <= values[rm] <= values[f"{rm}_ci_high"]
    assert curve["1"]["best_of_n/bt"] == pytest.approx(curve["1"]["random"])  # one candidate: no choice
    samples = pl.read_parquet(smoke_project / "data/rerank/samples.parquet")
    columns = {"id", "sample", "correct", "greedy_correct", "reward_bt", "reward_bt_dr"}
    assert samples.height == 6 * 4 and columns <= set(samples.columns)
    greedy = pl.read_parquet(smoke_project / "data/rerank/greedy.parquet")
    assert greedy.height == 6 and greedy["correct"].mean() == pytest.approx(rerank["greedy_pass@1"])
    header = (smoke_project / "metrics/rerank.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["n", "best_of_n/bt", "best_of_n/bt_ci_low", "best_of_n/bt_ci_high"]
    assert {"random", "oracle", "greedy", "greedy_ci_high"} <= set(header)
    # the DVC metrics file holds numbers only, and of the curve its last point
    dvc_metrics = json.loads((smoke_project / "metrics/rerank.json").read_text())
    assert list(dvc_metrics["best_of_n"]) == ["4"] and "policy" not in dvc_metrics
    plots = sh(smoke_project, "dvc", "plots", "show", "--json").stdout
    assert "best_of_n" in plots and "metrics/rerank.csv" in plots
