"""The Table 3 layout, the report document (preftree.report) and its figures (preftree.report_plots)
on hand-written metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preftree.report import build_report, rm_line
from preftree.report_plots import plot_best_of_n, plot_reward_trends, read_curve
from preftree.report_table import COLUMNS, PAPER_ROWS, csv_table, markdown_table, policy_row

METRICS = {
    "benchmarks": {
        "humaneval": {"pass@1": 0.5, "n_items": 164},
        "mbpp_eurus": {"pass@1": 0.25, "n_items": 399},
        "gsm_plus": {"pass@1": 0.4, "n_items": 100},
        "tiny": {"pass@1": 0.1, "n_items": 118},
        "gsm8k": {"pass@1": 0.9, "n_items": 10},  # not a Table 3 column: its own, with its size
    },
    "multiturn": {
        "benchmarks": {
            "mint_humaneval": {"success@k": {"1": 0.1, "5": 0.2}, "n_items": 45},
            "mint_mbpp": {"success@k": {"1": 0.1, "5": 0.5}, "n_items": 91},
            "tiny": {"success@k": {"1": 0.05, "5": 0.125}, "n_items": 40},
        }
    },
}


def test_policy_row_maps_benchmarks_onto_table_3_columns() -> None:
    row = policy_row(METRICS)
    assert list(row) == [*COLUMNS, "GSM8K (10 of 1319)", "Tiny", "Tiny-MT"]
    assert row["HumanE"] == pytest.approx(50.0) and row["MBPP"] == pytest.approx(25.0)
    assert row["GSM+"] == pytest.approx(40.0) and row["GSM8K (10 of 1319)"] == pytest.approx(90.0)
    assert row["MINT-Code"] == pytest.approx(100 * (0.2 * 45 + 0.5 * 91) / 136)  # item-weighted success@5
    assert row["Tiny"] == pytest.approx(10.0) and row["Tiny-MT"] == pytest.approx(12.5)
    assert row["MATH"] is None and row["MINT-Math"] is None
    assert row["Avg"] is None  # the paper's Avg is over all 12 columns: not comparable with fewer


def test_markdown_and_csv_show_missing_columns_as_dashes_and_the_paper_rows() -> None:
    rows = {"sft": policy_row(METRICS), "kto": policy_row({"benchmarks": {"tiny": {"pass@1": 0.2, "n_items": 5}}})}
    text = markdown_table(rows)
    lines = text.splitlines()
    assert lines[0].startswith("| model | HumanE | MBPP |")
    assert lines[0].endswith("| Avg | GSM8K (10 of 1319) | Tiny | Tiny-MT |")
    assert lines[2].startswith("| **sft** (this run) | 50.0 | 25.0 | – |")
    kto = lines[3].split(" | ")
    assert kto[-2] == "20.0" and kto[1] == "–" and kto[COLUMNS.index("Avg") + 1] == "–"
    assert "| Eurus-7B-KTO (paper) | 56.1 | 58.6 |" in text and len(lines) == 2 + 2 + len(PAPER_ROWS)
    assert lines[-1].endswith("| 74.8 | – | – | – |")  # the paper's rows: "–" in the run's own columns
    csv_lines = csv_table(rows).splitlines()
    assert csv_lines[0] == "model,source," + ",".join([*COLUMNS, "GSM8K (10 of 1319)", "Tiny", "Tiny-MT"])
    assert csv_lines[1].startswith("sft,run,50.00,25.00,,40.00,")
    assert csv_lines[-1].startswith("GPT-4,paper,85.40,")


def test_figures_are_written(tmp_path: Path) -> None:
    csv = tmp_path / "kto.csv"
    csv.write_text(
        "step,loss,rewards_chosen,rewards_rejected,margins\n1,0.6,0.0,0.0,0.0\n2,0.5,,0.1,\n3,0.4,0.3,-0.2,0.5\n"
    )
    curve = read_curve(csv)
    assert curve["rewards_chosen"] == [0.0, None, 0.3]
    plot_reward_trends({"kto": curve, "dpo": curve}, tmp_path / "plots" / "trends.png")
    rows = [
        {"n": n, "random": 0.1, "oracle": 0.1 * n, "greedy": 0.2, "best_of_n/eurus": 0.15 + 0.01 * n} for n in (1, 2, 4)
    ]
    plot_best_of_n(rows, tmp_path / "plots" / "bon.png", "test")
    for name in ("trends.png", "bon.png"):
        data = (tmp_path / "plots" / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000


def test_build_report_reads_the_upstream_metrics_and_assembles_the_document(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics"
    (metrics / "eval").mkdir(parents=True)
    (metrics / "align").mkdir()
    (metrics / "eval" / "sft.json").write_text(json.dumps(METRICS))
    (metrics / "align" / "kto.csv").write_text(
        "step,loss,rewards_chosen,rewards_rejected,margins\n1,0.6,0.0,0.0,0.0\n2,0.4,0.3,-0.2,0.5\n"
    )
    best = {str(n): {"best_of_n/eurus": 0.1 * n, "greedy": 0.05, "oracle": 0.2 * n, "random": 0.05} for n in (1, 2)}
    best["1"] |= {"best_of_n/eurus_ci_low": 0.05, "best_of_n/eurus_ci_high": 0.15}
    with pytest.raises(FileNotFoundError, match=r"rerank\.json is missing: run `dvc repro`"):
        build_report(metrics, ["sft"], data=tmp_path / "data", seed=0)
    (metrics / "info" / "rm").mkdir(parents=True)
    (metrics / "info" / "rerank.json").write_text(
        json.dumps({"benchmark": "tiny", "policy": "sft", "problems": 2, "greedy_pass@1": 0.05, "best_of_n": best})
    )
    rm = {"loss_kind": "bt+dr", "heldout_accuracy": 0.75, "heldout_accuracy_init": 0.5, "heldout_pairs": 4}
    (metrics / "info" / "rm" / "bt_dr.json").write_text(json.dumps({**rm, "heldout_accuracy_by_task": {"Coding": 1.0}}))
    report = build_report(metrics, ["sft"], data=tmp_path / "data", seed=0)
    assert report.markdown.startswith("# preftree report\n\n") and report.markdown.endswith("(plots/best_of_n.png)\n")
    assert report.table in report.markdown and report.csv == csv_table(report.rows)
    assert (
        "`models/rm/bt_dr` (bt+dr): held-out pairwise accuracy 75.0% on 4 pairs (Coding 100.0); untrained head 50.0%."
        in report.markdown
    )
    assert "| kto | +0.300 | -0.200 | +0.500 |" in report.markdown
    assert (
        "| N | eurus | random | pass@N |\n|---|---|---|---|\n| 1 | 10.0 [5.0, 15.0] | 5.0 | 20.0 |" in report.markdown
    )
    logged = report.metrics["rows"]["sft"]
    assert logged["HumanE"] == pytest.approx(50.0) and "MATH" not in logged  # unevaluated columns are not logged
    assert all(path.read_bytes().startswith(b"\x89PNG") for path in report.figures)


def test_the_claims_table_comes_first_and_its_document_is_returned(tmp_path: Path) -> None:
    import polars as pl

    metrics, data = tmp_path / "metrics", tmp_path / "data"
    (metrics / "eval").mkdir(parents=True)
    (metrics / "align").mkdir()
    best = {"16": {"best_of_n/bt_dr": 0.5, "greedy": 0.2, "oracle": 0.6, "random": 0.3}}
    (metrics / "info" / "rm").mkdir(parents=True)
    (metrics / "info" / "rerank.json").write_text(
        json.dumps({"benchmark": "tiny", "policy": "sft", "problems": 40, "greedy_pass@1": 0.2, "best_of_n": best})
    )
    (metrics / "info" / "rm" / "bt_dr.json").write_text(json.dumps({"loss_kind": "bt+dr", "heldout_accuracy": 0.7}))
    ids = [f"p{i}" for i in range(40)]
    for policy, solved in (("base", 4), ("sft", 30)):
        (metrics / "eval" / f"{policy}.json").write_text(
            json.dumps({"benchmarks": {"tiny": {"pass@1": solved / 40, "n_items": 40, "best_mode": "cot"}}})
        )
        (data / "eval" / policy).mkdir(parents=True)
        pl.DataFrame(
            {
                "benchmark": ["tiny"] * 40,
                "id": ids,
                "family": ["Logic"] * 40,
                "mode": ["cot"] * 40,
                "response": [""] * 40,
                "answer": [None] * 40,
                "correct": [i < solved for i in range(40)],
                "status": ["ok"] * 40,
            }
        ).write_parquet(data / "eval" / policy / "responses.parquet")
    report = build_report(metrics, ["base", "sft"], data=data, seed=0)
    claims = report.markdown.index("## The paper's claims in this run")
    assert 0 < claims < report.markdown.index("## Table 3 layout") < report.markdown.index(report.table)
    rows = {row["id"]: row for row in report.claims["claims"]}
    assert rows["C1"]["effect"] == pytest.approx(65.0) and rows["C1"]["verdict"] == "reproduced"
    assert rows["C1"]["n"] == 40 and rows["C1"]["ci_low"] > 0
    assert rows["C2a"]["verdict"] == "not run" and rows["C2a"]["effect"] is None
    assert report.claims["seed"] == 0 and report.claims["verdicts"]["C1"] == "reproduced"
    assert "| C1 | SFT beats the base model" in report.markdown


def test_rm_line_says_when_there_are_no_held_out_pairs() -> None:
    none = rm_line("bt_dr", {"loss_kind": "bt+dr", "heldout_pairs": 0, "steps": 3})
    assert none == (
        "Reward model `models/rm/bt_dr` (bt+dr): no held-out pairs (tree.heldout_fraction 0): "
        "held-out pairwise accuracy not measured."
    )
    some = {"loss_kind": "bt", "heldout_pairs": 8, "heldout_accuracy": 0.75, "heldout_accuracy_init": 0.5,
            "heldout_accuracy_by_task": {"Coding": 0.5, "Math_CoT": 1.0}}  # fmt: skip
    assert rm_line("bt", some) == (
        "Reward model `models/rm/bt` (bt): held-out pairwise accuracy 75.0% on 8 pairs (Coding 50.0, Math_CoT 100.0); "
        "untrained head 50.0%."
    )
