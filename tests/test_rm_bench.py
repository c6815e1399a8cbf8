"""Reward-model benchmarks (preftree.evaluate.rm_bench) on hand-written files in the RewardBench and MT-Bench
human-judgement layouts: a keyword scorer stands in for the model, and one test runs the CLI on a tiny RM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preftree.evaluate.items import BenchmarkFormatError
from preftree.evaluate.loaders import read_records
from preftree.evaluate.rm_bench import (
    EXAMPLE_COUNTS,
    SECTIONS,
    evaluate_pairs,
    main,
    mtbench_category,
    mtbench_pairs,
    read_rows,
    rewardbench_sections,
)
from preftree.models.checkpoint import save_model_folder
from preftree.train.reward import load_reward_model
from tests.test_train_rm import tiny_dir  # noqa: F401  (the tiny causal-LM folder fixture)

FIX = Path(__file__).resolve().parent / "fixtures" / "rm_bench"


def keyword_scorer(conversations):
    """Reward: how often the last assistant message says "good", minus how often it says "bad"."""
    return [c[-1]["content"].count("good") - c[-1]["content"].count("bad") for c in conversations]


def test_rewardbench_subsets_and_weighted_sections():
    rows = read_records(FIX / "rewardbench.jsonl")
    m = evaluate_pairs("rewardbench", rows, "rb", keyword_scorer)
    acc = {s: e["accuracy"] for s, e in m["subsets"].items()}
    assert acc == {"alpacaeval-easy": 1.0, "custom-subset": 1.0, "hep-python": 0.0, "llmbar-natural": 0.5,
                   "math-prm": 1.0, "mt-bench-easy": 0.0, "xstest-should-respond": 1.0}  # fmt: skip
    assert m["pairs"] == 9 and m["accuracy"] == pytest.approx(6 / 9)  # the tie (hi / hello) is a loss
    sections = {k: v["score"] for k, v in m["sections"].items()}
    assert sections["Chat"] == pytest.approx((1.0 * 100 + 0.0 * 28) / 128)  # weighted by example counts
    assert sections["Chat Hard"] == 0.5 and sections["Safety"] == 1.0
    assert sections["Reasoning"] == pytest.approx(984 / (984 + 164))  # math-prm weighs as much as all of HEP
    assert m["average"] == pytest.approx(sum(sections.values()) / 4) and m["complete"] is False


def test_sections_cover_rewardbench_and_complete_only_with_every_subset():
    assert sorted(s for members in SECTIONS.values() for s in members) == sorted(EXAMPLE_COUNTS)
    full = rewardbench_sections({s: {"accuracy": 1.0, "n": 1} for s in EXAMPLE_COUNTS})
    assert full["complete"] is True and full["average"] == 1.0
    assert rewardbench_sections({})["average"] is None


def test_mtbench_agreement_excludes_ties_and_reads_the_judged_turn():
    rows = read_records(FIX / "mtbench.jsonl")
    m = evaluate_pairs("mtbench", rows, "mt", keyword_scorer)
    assert m["ties_excluded"] == 2 and m["pairs"] == 4 and m["accuracy"] == 0.75
    acc = {s: e["accuracy"] for s, e in m["subsets"].items()}
    # turn 1 of question 131: only the first answers count (the second ones would reverse the verdict)
    assert acc == {"turn1": 1.0, "turn2": 0.5, "writing": 1.0, "reasoning": 1.0, "coding": 0.0, "extraction": 1.0}
    pairs, _ = mtbench_pairs(rows, "mt")
    assert [len(p.chosen) for p in pairs] == [2, 4, 4, 2]
    assert (mtbench_category(81), mtbench_category(160), mtbench_category(7)) == ("writing", "humanities", "other")


def test_bad_rows_name_file_row_and_field():
    rows = read_records(FIX / "mtbench.jsonl")
    with pytest.raises(BenchmarkFormatError, match="mt: row 0: field 'winner'"):
        mtbench_pairs([{**rows[0], "winner": "model_c"}], "mt")
    with pytest.raises(BenchmarkFormatError, match="row 0: field 'conversation_a': turn 2 needs 4"):
        mtbench_pairs([{**rows[0], "turn": 2, "conversation_a": rows[0]["conversation_a"][:2]}], "mt")
    with pytest.raises(BenchmarkFormatError, match="rb: row 0: field 'subset'"):
        evaluate_pairs("rewardbench", [{"prompt": "p", "chosen": "a", "rejected": "b", "id": 1}], "rb", keyword_scorer)
    with pytest.raises(ValueError, match="returned 1 rewards for 2"):
        evaluate_pairs("rewardbench", read_records(FIX / "rewardbench.jsonl")[:1], "rb", lambda convs: [0.0])
    with pytest.raises(FileNotFoundError, match="file not found"):
        read_rows("rewardbench", "./missing.jsonl")


def test_cli_scores_a_tiny_reward_model(tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):  # noqa: F811
    model, tokenizer = load_reward_model(tiny_dir, seed=1)
    rm = tmp_path / "rm"
    save_model_folder(model, tokenizer, rm, {"stage": "rm"})
    out = tmp_path / "rb.json"
    assert main(["--rm", str(rm), "--layout", "rewardbench", "--path", str(FIX / "rewardbench.jsonl"),
                 "--out", str(out)]) == 0  # fmt: skip
    metrics = json.loads(out.read_text())
    assert metrics["pairs"] == 9 and set(metrics["sections"]) == set(SECTIONS) and metrics["rm"] == str(rm)
    assert sum(e["n"] for e in metrics["subsets"].values()) == 9 and 0.0 <= metrics["accuracy"] <= 1.0
    assert "Chat Hard" in capsys.readouterr().out
    again = tmp_path / "again.json"
    main(["--rm", str(rm), "--layout", "rewardbench", "--path", str(FIX / "rewardbench.jsonl"), "--out", str(again)])
    assert json.loads(again.read_text())["subsets"] == metrics["subsets"]  # deterministic
