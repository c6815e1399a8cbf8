"""Views in the release schema, the App. B augmentation rules, the split, Table 1 statistics."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from preftree.compose import from_conf
from preftree.config.tree import RMAugmentParams
from preftree.schema import KTO_SCHEMA, NODE_SCHEMA, PAIR_SCHEMA, RM_SCHEMA, SFT_SCHEMA
from preftree.tree import (
    augment_rm,
    build_views,
    split_views,
    tree_stats,
)

RM = RMAugmentParams(max_product=10, max_pairs=9, max_uses=3)
MSG = pl.Struct({"from": pl.String, "value": pl.String})
CHAT = pl.Struct({"role": pl.String, "content": pl.String})


def tree(i: int, turns: list[tuple[bool, bool]], task: str = "Math_CoT") -> list[dict]:
    """Nodes of one tree: per turn (has chosen, has rejected); every rejected but the last is expanded."""
    iid, depth, rows = f"{i:064x}", len(turns), []
    for t, (has_c, has_r) in enumerate(turns, 1):
        pair = f"{iid}_{depth}_{t}"
        base = {
            "pair_id": pair,
            "instruction_id": iid,
            "tree_id": iid,
            "problem_id": f"p{i}",
            "task": task,
            "dataset": "synthetic",
            "source_row": i,
            "depth": depth,
            "turn": t,
            "mode": "cot",
            "code": "",
            "origin": "sample",
            "actor": "a",
            "sampling": "{}",
            "mistake": None,
            "instruction": f"solve {i}",
        }
        parent = f"{iid}_{depth}_{t - 1}_r" if t > 1 else None
        if has_c:
            rows.append(
                {
                    **base,
                    "node_id": f"{pair}_c",
                    "parent_id": parent,
                    "role": "chosen",
                    "correct": True,
                    "expanded": False,
                    "action": f"good {i}.{t}",
                    "observation": "Your answer is correct.",
                    "critique": "",
                }
            )
        if has_r:
            expanded = t < depth
            rows.append(
                {
                    **base,
                    "node_id": f"{pair}_r",
                    "parent_id": parent,
                    "role": "rejected",
                    "correct": False,
                    "expanded": expanded,
                    "action": f"bad {i}.{t}",
                    "observation": f"Out: {t}\nYour answer is wrong.",
                    "critique": f"critique {t}" if expanded else "",
                }
            )
    return rows


def frame(*trees: list[dict]) -> pl.DataFrame:
    rows = [r for t in trees for r in t]
    return pl.DataFrame(rows, schema={**NODE_SCHEMA, "instruction": pl.String})


FULL3 = [(True, True)] * 3


def test_views_have_the_release_schema_exactly() -> None:
    views = build_views(frame(tree(1, FULL3), tree(2, [(True, True)], "Coding")), rm=RM, seed=0)
    assert views["sft"].schema == pl.Schema(
        {
            "id": pl.String,
            "parent_id": pl.String,
            "task": pl.String,
            "dataset": pl.String,
            "instruction": pl.String,
            "response": pl.String,
        }
    )
    assert views["pairs"].schema == pl.Schema(
        {
            "id": pl.String,
            "parent_id": pl.String,
            "task": pl.String,
            "dataset": pl.String,
            "trajectory": pl.List(MSG),
            "chosen": pl.String,
            "rejected": pl.String,
        }
    )
    assert list(views["pairs"].schema["trajectory"].inner.to_schema()) == ["from", "value"]
    assert views["kto"].schema == pl.Schema(
        {
            "id": pl.String,
            "parent_id": pl.String,
            "task": pl.String,
            "dataset": pl.String,
            "prompt": pl.List(CHAT),
            "completion": pl.List(CHAT),
            "label": pl.Boolean,
        }
    )
    assert views["rm"].schema == pl.Schema(
        {**views["pairs"].schema, "augmented": pl.Boolean, "ultrainteract": pl.Boolean}
    )
    assert (SFT_SCHEMA, PAIR_SCHEMA, KTO_SCHEMA, RM_SCHEMA) == tuple(
        views[v].schema for v in ("sft", "pairs", "kto", "rm")
    )


def test_pair_trajectories_hold_earlier_wrong_actions_and_feedback() -> None:
    views = build_views(frame(tree(1, FULL3)), rm=RM, seed=0)
    iid = f"{1:064x}"
    pairs = {r["id"]: r for r in views["pairs"].to_dicts()}
    assert list(pairs) == [f"{iid}_3_{t}" for t in (1, 2, 3)]
    assert pairs[f"{iid}_3_1"]["trajectory"] == [{"from": "user", "value": "solve 1"}]
    assert pairs[f"{iid}_3_3"]["trajectory"] == [
        {"from": "user", "value": "solve 1"},
        {"from": "assistant", "value": "bad 1.1"},
        {"from": "user", "value": "Out: 1\nYour answer is wrong.\ncritique 1"},
        {"from": "assistant", "value": "bad 1.2"},
        {"from": "user", "value": "Out: 2\nYour answer is wrong.\ncritique 2"},
    ]
    assert (pairs[f"{iid}_3_3"]["chosen"], pairs[f"{iid}_3_3"]["rejected"]) == ("good 1.3", "bad 1.3")
    assert all(r["parent_id"] == iid for r in pairs.values())


def test_sft_is_every_correct_action_without_history_unless_asked() -> None:
    nodes = frame(tree(1, [(True, True), (False, True), (True, False)]))
    plain = build_views(nodes, rm=RM, seed=0)["sft"]
    assert plain["response"].to_list() == ["good 1.1", "good 1.3"]
    assert plain["instruction"].to_list() == ["solve 1", "solve 1"]
    history = build_views(nodes, sft_history=True, rm=RM, seed=0)["sft"]
    assert history["instruction"][1] == (
        "solve 1\n\nbad 1.1\n\nOut: 1\nYour answer is wrong.\ncritique 1\n\nbad 1.2\n\n"
        "Out: 2\nYour answer is wrong.\ncritique 2"
    )
    # a turn without a chosen (or without a rejected) action has no pair
    assert build_views(nodes, rm=RM, seed=0)["pairs"].height == 1


def test_kto_rows_are_the_pairs_unpaired() -> None:
    views = build_views(frame(tree(1, FULL3)), rm=RM, seed=0)
    kto = views["kto"]
    assert kto.height == 2 * views["pairs"].height
    assert kto["label"].to_list() == [True, False] * 3
    last = kto.filter(pl.col("id").str.ends_with("_3")).to_dicts()
    assert [m["role"] for m in last[0]["prompt"]] == ["user", "assistant", "user", "assistant", "user"]
    assert last[0]["completion"] == [{"role": "assistant", "content": "good 1.3"}]
    assert last[1]["completion"] == [{"role": "assistant", "content": "bad 1.3"}]


def _aug(nodes: pl.DataFrame, params: RMAugmentParams = RM, seed: int = 0) -> pl.DataFrame:
    return augment_rm(nodes.with_row_index("_order"), params, seed=seed)


def test_augmentation_pairs_every_correct_action_with_wrong_actions_of_other_turns() -> None:
    aug = _aug(frame(tree(1, FULL3)))
    turns = [(c.split("_")[2], r.split("+")[1].split("_")[2]) for c, r in zip(aug["id"], aug["id"], strict=True)]
    assert sorted(turns) == sorted(
        (str(a), str(b)) for a in (1, 2, 3) for b in (1, 2, 3) if a != b
    )  # 3x3 - 3 same-turn
    assert (aug["trajectory"].list.len() == 1).all()  # single-turn: the instruction alone


def test_augmentation_skips_instructions_above_the_product_limit_and_depth_one() -> None:
    assert _aug(frame(tree(1, [(True, True)] * 4))).height == 0  # 4 x 4 = 16 > 10
    assert _aug(frame(tree(2, [(True, True)]))).height == 0  # only a same-turn pair exists
    assert _aug(frame(tree(3, [(True, True)] * 3))).height == 6  # 3 x 3 = 9 <= 10


def test_augmentation_caps_pairs_per_instruction_and_uses_per_action() -> None:
    # 2 correct x 5 incorrect = 10 <= 10 -> 8 cross-turn candidates; each correct action appears 4 times
    nodes = frame(tree(1, [(True, True), (True, True), (False, True), (False, True), (False, True)]))
    aug = _aug(nodes)
    uses_c = aug["id"].str.split("+").list.get(0).value_counts()["count"]
    uses_r = aug["id"].str.split("+").list.get(1).value_counts()["count"]
    assert aug.height == 6 and uses_c.max() <= 3 and uses_r.max() <= 3
    assert _aug(nodes, RMAugmentParams(max_product=10, max_pairs=2, max_uses=3)).height == 2
    assert _aug(nodes, RMAugmentParams(max_product=9, max_pairs=9, max_uses=3)).height == 0
    assert _aug(nodes, seed=0)["id"].to_list() == _aug(nodes, seed=0)["id"].to_list()


def test_rm_view_flags_augmented_and_ultrainteract_rows() -> None:
    rm = build_views(frame(tree(1, FULL3)), rm=RM, seed=0)["rm"]
    assert rm.group_by("augmented").len().sort("augmented")["len"].to_list() == [3, 6]
    assert rm["ultrainteract"].all()


def test_split_is_by_instruction_with_no_leakage_and_the_same_in_every_view() -> None:
    nodes = frame(*[tree(i, FULL3 if i % 3 else [(True, True)]) for i in range(1, 400)])
    views = build_views(nodes, rm=RM, seed=0)
    splits = split_views(views, fraction=0.2, seed=7)
    held = {name: set(parts["heldout"]["parent_id"]) for name, parts in splits.items()}
    for name, parts in splits.items():
        assert not set(parts["train"]["parent_id"]) & held[name]
        assert parts["train"].height + parts["heldout"].height == views[name].height
    assert held["sft"] == held["pairs"] == held["kto"] == held["rm"]
    assert 0.12 < len(held["sft"]) / 399 < 0.28
    assert (
        split_views(views, fraction=0.2, seed=8)["sft"]["heldout"]["parent_id"].to_list()
        != splits["sft"]["heldout"]["parent_id"].to_list()
    )


def test_table1_statistics() -> None:
    nodes = frame(tree(1, FULL3), tree(2, [(True, True)]), tree(3, [(True, True)] * 6, "Coding"))
    stats = tree_stats(nodes, max_turns=5)
    assert stats["Math_CoT"]["instructions"] == 2 and stats["Math_CoT"]["T1"] == 1 and stats["Math_CoT"]["T3"] == 1
    assert stats["Coding"]["T5"] == 1  # the last column holds capped / deeper trees
    assert stats["all"]["pairs"] == 10 and stats["all"]["correct_actions"] == 10
    assert stats["all"]["trajectories_per_instruction"] == pytest.approx(1.0)
    # tree 2: "solve 2" (2 tokens) + "good 2.1" (good, 2, ., 1 -> 4 tokens)
    two = tree_stats(frame(tree(2, [(True, True)])))["all"]["tokens_per_trajectory"]
    assert two == pytest.approx(6.0)


def test_run_tree_reads_an_interact_folder_and_counts_what_sft_only_drops(tmp_path: Path) -> None:
    from preftree.config.tree import TreeParams
    from preftree.tree_run import load_nodes, run_tree

    nodes = frame(tree(1, FULL3), tree(2, [(True, True)], "Coding"))
    roots = nodes.select(pl.col("instruction_id").alias("id"), "instruction").unique("id", maintain_order=True)
    nodes.drop("instruction").write_parquet(tmp_path / "nodes.parquet")
    roots.write_parquet(tmp_path / "instructions.parquet")
    cfg = from_conf(TreeParams, "tree", input=str(tmp_path), heldout_fraction=0.0)
    read, sft = load_nodes(cfg)
    assert sft is None and read.equals(nodes.select(read.columns))
    result = run_tree(cfg, seed=0)
    views = build_views(nodes, rm=cfg.rm, seed=0)
    assert all(result.splits[v]["train"].equals(views[v]) for v in views)
    assert result.sizes["pairs"] == {"train": 4, "heldout": 0} and result.dropped == {} and result.sft_only == []
    assert result.markdown == "# Preference trees (paper Table 1 layout)\n\n" + result.table
    assert list(result.metrics) == ["tasks", "rows"] and result.metrics["tasks"] == tree_stats(nodes)
    only = run_tree(from_conf(TreeParams, "tree", input=str(tmp_path), sft_only=["synthetic", "x", "x"]), seed=0)
    assert only.sft_only == ["synthetic", "x"] and only.dropped["pairs"] == {"synthetic": 4, "x": 0}
    assert only.metrics["sft_only"] == {"datasets": ["synthetic", "x"], "dropped": only.dropped}
    assert sum(only.sizes["pairs"].values()) == 0 and sum(only.sizes["sft"].values()) == 4


def test_zero_heldout_fraction_gives_empty_heldout_files_with_each_views_schema(tmp_path: Path) -> None:
    """experiment=eurus7b trains on every tree (tree.heldout_fraction 0): each held-out split is empty
    but written with its view's schema, so the training stages read it back (``read_view``)."""
    from preftree.io import write_parquet
    from preftree.train.runner import read_view

    views = build_views(frame(*[tree(i, FULL3 if i % 2 else [(True, True)]) for i in range(1, 30)]), rm=RM, seed=0)
    splits = split_views(views, fraction=0.0, seed=3)
    schemas = {"sft": SFT_SCHEMA, "pairs": PAIR_SCHEMA, "kto": KTO_SCHEMA, "rm": RM_SCHEMA}
    for name, parts in splits.items():
        assert parts["train"].equals(views[name]) and parts["heldout"].height == 0
        for split, part in parts.items():
            write_parquet(part, tmp_path / name / f"{split}.parquet", plain_types=True)
        train, heldout = read_view(name, root=tmp_path)
        assert train.height == views[name].height and heldout.height == 0
        assert heldout.schema == train.schema == schemas[name]
