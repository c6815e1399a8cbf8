"""Mixtures (preftree.train.mixture, preftree.train.mixture_layouts): every published layout read from
fixture files shaped like the datasets (fixtures/mixtures/), the draws, and the RM's per-row L_DR."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import polars as pl
import pytest
import torch

from preftree.config.train import Layout
from preftree.train.mixture import draw_count, mixture_conversations, mixture_pairs, read_pair_source, source_identity
from preftree.train.mixture_layouts import PAIR_LAYOUTS, SFT_LAYOUTS, Pair, row_pairs, sft_messages

from .conftest import mixture_source

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mixtures"


def source(name: str, layout: str, **changes):
    return mixture_source(**{"path": str(FIXTURES / name), "layout": layout, "weight": None, "rows": None, **changes})


def test_every_layout_is_an_sft_or_a_pair_layout():
    assert sorted(SFT_LAYOUTS + PAIR_LAYOUTS) == sorted(get_args(Layout))
    assert not set(SFT_LAYOUTS) & set(PAIR_LAYOUTS)


@pytest.mark.parametrize(
    ("name", "layout", "first_user"),
    [
        ("ultrachat_200k.jsonl", "ultrachat", "What is"),
        ("sharegpt4.json", "sharegpt", "What is"),
        ("openorca.parquet", "openorca", "What is"),
    ],
)
def test_sft_layouts_read_the_published_columns(name, layout, first_user):
    rows = mixture_conversations("sft.mixture", {"x": source(name, layout)}, view_size=10, seed=0)
    assert len(rows) == 40  # weight and rows null: every row once
    for _, conversation in rows:
        roles = [m["role"] for m in conversation]
        assert roles[-1] == "assistant" and "user" in roles
        assert set(roles) <= {"system", "user", "assistant"}
        assert next(m for m in conversation if m["role"] == "user")["content"].startswith(first_user)


def test_layout_details():
    sharegpt = json.loads((FIXTURES / "sharegpt4.json").read_text())
    assert sft_messages(sharegpt[0], "sharegpt", {})[0] == {"role": "system", "content": "You are a helpful assistant."}
    orca = pl.read_parquet(FIXTURES / "openorca.parquet").to_dicts()
    assert sft_messages(orca[0], "openorca", {})[0]["role"] == "system"  # non-empty system_prompt kept
    assert [m["role"] for m in sft_messages(orca[1], "openorca", {})] == ["user", "assistant"]  # empty: dropped
    with pytest.raises(ValueError, match="gives preference pairs"):
        sft_messages(orca[0], "ultrafeedback", {})
    with pytest.raises(ValueError, match="gives SFT rows"):
        row_pairs(orca[0], "openorca")
    with pytest.raises(ValueError, match="no column 'conversations'"):
        sft_messages(orca[0], "sharegpt", {})


def test_ultrafeedback_all_pairs_minus_ties():
    rows = [json.loads(line) for line in (FIXTURES / "ultrafeedback.jsonl").read_text().splitlines()]
    # scores 4.75, 4.0, 2.0, 2.0: 6 combinations, 1 tie -> 5 pairs, the higher score chosen
    pairs = row_pairs(rows[1], "ultrafeedback")
    assert len(pairs) == 5
    assert all(p.prompt == [{"role": "user", "content": rows[1]["instruction"]}] for p in pairs)
    good, poor = rows[1]["completions"][0]["response"], rows[1]["completions"][2]["response"]
    assert sum(p.chosen == good and p.rejected == poor for p in pairs) == 4
    assert row_pairs(rows[0], "ultrafeedback") == []  # every completion ties: no pair
    total = read_pair_source("align.kto.mixture.uf", source("ultrafeedback.jsonl", "ultrafeedback"))
    assert len(total) == 5 * 32  # 40 prompts, 8 of them all ties


def test_ultrafeedback_binarized_and_ultrasafety():
    binarized = pl.read_parquet(FIXTURES / "ultrafeedback_binarized.parquet").to_dicts()
    (pair,) = row_pairs(binarized[0], "ultrafeedback_binarized")
    assert pair.prompt == [{"role": "user", "content": binarized[0]["prompt"]}]
    assert pair.chosen == binarized[0]["chosen"][-1]["content"]
    assert pair.rejected == binarized[0]["rejected"][-1]["content"]
    mismatched = {**binarized[0], "rejected": binarized[1]["rejected"]}
    with pytest.raises(ValueError, match="different prompts"):
        row_pairs(mismatched, "ultrafeedback_binarized")

    safety = json.loads((FIXTURES / "ultrasafety.json").read_text())
    (pair,) = row_pairs(safety[1], "ultrasafety")  # one pair per instruction
    assert pair.prompt[0]["content"] == safety[1]["prompt"]  # the jailbreak-wrapped prompt
    assert pair.chosen.startswith("I can't help")  # harmless and most helpful
    assert pair.rejected.startswith("First insert")  # harmful and least helpful
    assert row_pairs(safety[0], "ultrasafety") == []  # helpfulness N/A everywhere: no ranked pair
    assert len(read_pair_source("rm.bt_dr.mixture.us", source("ultrasafety.json", "ultrasafety"))) == 40 - 6


def test_draws_by_rows_weight_or_all(tmp_path):
    uc = source("ultrachat_200k.jsonl", "ultrachat")
    assert draw_count("k", uc, 100) is None
    assert draw_count("k", mixture_source(weight=0.5, rows=None), 100) == 50
    assert draw_count("k", mixture_source(weight=None, rows=7), 100) == 7
    with pytest.raises(ValueError, match="not both"):
        draw_count("k", mixture_source(weight=0.5, rows=7), 100)
    by_rows = mixture_conversations("sft.mixture", {"uc": source("ultrachat_200k.jsonl", "ultrachat", rows=100)}, 5, 0)
    firsts = [m[0]["content"] for _, m in by_rows]
    assert len(firsts) == 100 and len(set(firsts)) <= 40  # 2 whole passes + 20 without replacement
    again = mixture_conversations("sft.mixture", {"uc": source("ultrachat_200k.jsonl", "ultrachat", rows=100)}, 5, 0)
    assert again == by_rows  # seeded
    by_weight = mixture_pairs(
        "align.dpo.mixture", {"uf": source("ultrafeedback.jsonl", "ultrafeedback", weight=0.5)}, 30, 0
    )
    assert len(by_weight) == 15 and all(isinstance(p, Pair) for _, p in by_weight)


def test_malformed_rows_name_key_file_row_and_layout(tmp_path):
    bad = tmp_path / "uf.jsonl"
    good = (FIXTURES / "ultrafeedback.jsonl").read_text().splitlines()[1]
    bad.write_text(good + "\n" + json.dumps({"instruction": "q", "completions": "oops"}) + "\n")
    spec = mixture_source(path=str(bad), layout="ultrafeedback", weight=None, rows=None)
    with pytest.raises(
        ValueError,
        match=r"align\.dpo\.mixture\.uf: row 1 of .*uf\.jsonl \(layout ultrafeedback\): "
        r"column 'completions' must be a list",
    ):
        mixture_pairs("align.dpo.mixture", {"uf": spec}, 10, 0)
    identity = source_identity(source("ultrafeedback.jsonl", "ultrafeedback"))
    assert len(identity["sha256"]) == 64 and identity["layout"] == "ultrafeedback"


# --------------------------------------------------------------------------------------------
# the RM: L_DR per row, on UltraInteract rows only


def test_rm_dataset_marks_mixture_rows_and_loss_gives_them_bt_only():
    from preftree.train.reward import rm_training_dataset
    from preftree.train.reward_trainer import EurusPreferenceCollator, eurus_rm_loss, eurus_rm_loss_terms

    tree = pl.DataFrame(
        {
            "trajectory": [[{"from": "user", "value": f"Solve {i}."}] for i in range(4)],
            "chosen": [f"right {i}" for i in range(4)],
            "rejected": [f"wrong {i}" for i in range(4)],
            "ultrainteract": [True] * 4,
        }
    )
    mixture = {
        "uf": source("ultrafeedback_binarized.parquet", "ultrafeedback_binarized", rows=3),
        "us": source("ultrasafety.json", "ultrasafety", rows=2),
    }
    dataset, counts = rm_training_dataset(tree, mixture, seed=0, key="bt_dr")
    assert counts == {"tree": 4, "uf": 3, "us": 2}
    assert dataset["ultrainteract"] == [True] * 4 + [False] * 5
    # a mixed batch through the trainer's collator (token ids stand in for the tokenized pairs)
    examples = [
        {"chosen_ids": [1, 2, 3 + i], "rejected_ids": [1, 2], "ultrainteract": flag}
        for i, flag in enumerate(dataset["ultrainteract"])
    ]
    batch = EurusPreferenceCollator(pad_token_id=0).torch_call(examples)
    direct = batch["direct"]
    assert direct.tolist() == [True] * 4 + [False] * 5
    r_chosen = torch.tensor([0.5, -1.0, 2.0, 0.1, 0.5, -1.0, 2.0, 0.1, 3.0])
    r_rejected = torch.tensor([0.2, 0.3, -0.5, 0.1, 0.2, 0.3, -0.5, 0.1, -2.0])
    l_bt, l_dr = eurus_rm_loss_terms(r_chosen, r_rejected, direct, "bt+dr")
    expected_dr = -torch.nn.functional.logsigmoid(r_chosen) - torch.nn.functional.logsigmoid(-r_rejected)
    assert torch.allclose(l_dr[:4], expected_dr[:4]) and (l_dr[:4] > 0).all()  # UltraInteract rows: L_DR
    assert (l_dr[4:] == 0).all()  # UltraFeedback / UltraSafety rows: none
    assert torch.allclose(l_bt, -torch.nn.functional.logsigmoid(r_chosen - r_rejected))
    # identical rewards on a UI row and a mixture row: only the UI row's loss carries L_DR
    assert (l_bt + l_dr)[0] > (l_bt + l_dr)[4] and torch.isclose(l_bt[0], l_bt[4])
    assert torch.isclose(eurus_rm_loss(r_chosen, r_rejected, direct, "bt+dr"), (l_bt + l_dr).mean())
    _, none = eurus_rm_loss_terms(r_chosen, r_rejected, direct, "bt")
    assert (none == 0).all()  # the ablation: L_BT on every row


# --------------------------------------------------------------------------------------------
# preference learning: mixture pairs next to the tree's


def test_align_training_dataset_adds_mixture_pairs_and_kto_completions():
    from preftree.compose import from_conf
    from preftree.config.train import AlignMethodParams
    from preftree.schema import PAIR_SCHEMA
    from preftree.train.align import training_dataset

    tree = pl.DataFrame(
        {
            "id": [f"p{i}_1_1" for i in range(6)],
            "parent_id": [f"p{i}" for i in range(6)],
            "task": ["Coding"] * 6,
            "dataset": ["synthetic"] * 6,
            "trajectory": [[{"from": "user", "value": f"Solve {i}."}] for i in range(6)],
            "chosen": [f"right {i}" for i in range(6)],
            "rejected": [f"wrong {i}" for i in range(6)],
        },
        schema=PAIR_SCHEMA,
    )
    mixture = {"uf": source("ultrafeedback_binarized.parquet", "ultrafeedback_binarized", weight=0.5)}
    dpo = from_conf(AlignMethodParams, "align.dpo", mixture=mixture)
    dataset, counts = training_dataset(tree, dpo, seed=0, key="dpo")
    assert counts == {"tree": 6, "uf": 3} and len(dataset) == 9  # weight 0.5 x 6 tree pairs
    assert dataset["prompt"][6][0]["role"] == "user" and dataset["chosen"][6][0]["role"] == "assistant"

    kto = from_conf(AlignMethodParams, "align.kto", mixture=mixture)
    dataset, counts = training_dataset(tree, kto, seed=0, key="kto")
    assert counts == {"tree": 12, "uf": 6} and len(dataset) == 18  # 3 pairs drawn, 2 completions each
    mixed = [(c[0]["content"], label) for c, label in zip(dataset["completion"], dataset["label"], strict=True)]
    binarized = pl.read_parquet(FIXTURES / "ultrafeedback_binarized.parquet")
    good = {c[-1]["content"] for c in binarized["chosen"].to_list()}
    assert all(label for text, label in mixed if text in good)  # a mixture pair's chosen side is desirable
    assert sum(label for _, label in mixed) == 9
    again, _ = training_dataset(tree, kto, seed=0, key="kto")
    assert again["completion"] == dataset["completion"]  # one seeded order
    with pytest.raises(ValueError, match=r"align\.kto\.mixture\.uf: set `weight` or `rows`, not both"):
        bad = {"uf": source("ultrafeedback_binarized.parquet", "ultrafeedback_binarized", weight=0.5, rows=2)}
        training_dataset(tree, from_conf(AlignMethodParams, "align.kto", mixture=bad), seed=0, key="kto")
