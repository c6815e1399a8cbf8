"""preftree.release: import/validate/export of UltraInteract release files, round trip through the views."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from preftree.compose import from_conf
from preftree.config.tree import RMAugmentParams
from preftree.release import ReleaseError, read_release, write_release
from preftree.schema import NODE_SCHEMA, PAIR_SCHEMA, SFT_SCHEMA
from preftree.tree import build_views, split_views


def _h(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


H_POT, H_COT, H_CODE, H_LOGIC, H_BAD = (_h(n) for n in ("pot", "cot", "code", "logic", "bad"))
U = "user"
A = "assistant"


def _m(role: str, value: str) -> dict[str, str]:
    return {"from": role, "value": value}


def _pair(h: str, depth: int, turn: int, task: str, dataset: str, traj: list[dict], chosen: str, rejected: str) -> dict:
    return {"id": f"{h}_{depth}_{turn}", "parent_id": h, "task": task, "dataset": dataset, "trajectory": traj,
            "chosen": chosen, "rejected": rejected}  # fmt: skip


POT = "Tool available:\n[1] Python interpreter\nSolve: 2+3*4?"
OBS1 = "Out: 20\nYour answer is wrong.\nMultiplication binds tighter."
OBS2 = "Out: 24\nYour answer is wrong."
COT = "Solve the following math problem step-by-step.\nWhat is 6*7?"
CODE = "Write Python code to solve the task.\nPrint the sum of two ints."
LOGIC = "Tool available:\n[1] wikipedia_search\nSolve the following problem step-by-step:\nWho wrote Emma?"

PAIRS: list[dict[str, Any]] = [
    _pair(H_POT, 3, 1, "Math_PoT", "MATH", [_m(U, POT)], "print(2+3*4)  # 14", "print((2+3)*4)"),
    _pair(H_COT, 1, 1, "Math_CoT", "gsm8k", [_m(U, COT)], "Step 1: 6*7=42\n\\boxed{42}", "\\boxed{48}"),
    _pair(H_POT, 3, 2, "Math_PoT", "MATH", [_m(U, POT), _m(A, "print((2+3)*4)"), _m(U, OBS1)], "print(14)",
          "print(2*3*4)"),
    _pair(H_COT, 1, 1, "Math_CoT", "gsm8k", [_m(U, COT)], "Answer:\n\\boxed{42}", "\\boxed{36}"),
    _pair(H_POT, 3, 3, "Math_PoT", "MATH",
          [_m(U, POT), _m(A, "print((2+3)*4)"), _m(U, OBS1), _m(A, "print(2*3*4)"), _m(U, OBS2)],
          "x = 2 + 3 * 4\nprint(x)", "print(20)"),
    _pair(H_CODE, 1, 1, "Coding", "codecontest", [_m(U, CODE)], "a, b = map(int, input().split())\nprint(a + b)",
          "print(input())"),
    # a depth-2 tree whose turn-1 pair was not released: only its history shows the turn-1 action
    _pair(H_LOGIC, 2, 2, "Logic", "hotpotqa", [_m(U, LOGIC), _m(A, "Answer: Dickens"), _m(U, "Your answer is wrong.")],
          "Answer: Jane Austen", "Answer: Brontë"),
]  # fmt: skip

SFT: list[dict[str, str]] = [
    {"id": f"{H_COT}_1_1", "parent_id": H_COT, "task": "Math_CoT", "dataset": "gsm8k", "instruction": COT,
     "response": "Step 1: 6*7=42\n\\boxed{42}"},
    {"id": f"{H_CODE}_1_1", "parent_id": H_CODE, "task": "Coding", "dataset": "codecontest", "instruction": CODE,
     "response": "print(sum(map(int, input().split())))"},
]  # fmt: skip

RM = from_conf(RMAugmentParams, "tree.rm")


def _write(rows: list[dict], path: Path) -> Path:
    """A fixture file as the release (parquet) or a converted copy (json array / jsonl) would hold it."""
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(params=["parquet", "jsonl", "json"])
def release(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    fmt = request.param
    return _write(PAIRS, tmp_path / f"0000_pair.{fmt}"), _write(SFT, tmp_path / f"0000_sft.{fmt}")


def test_read_release_nodes(release: tuple[Path, Path]) -> None:
    nodes, sft = read_release(*release)
    assert nodes.schema == pl.Schema({**NODE_SCHEMA, "instruction": pl.String})
    assert nodes["node_id"].n_unique() == nodes.height == 2 * len(PAIRS) + 1  # + the Logic tree's turn-1 node
    assert sft is not None and sft.equals(pl.DataFrame(SFT, schema=SFT_SCHEMA))

    pot = nodes.filter(pl.col("instruction_id") == H_POT).sort("turn", "role")
    assert pot["tree_id"].unique().to_list() == [f"{H_POT}_3_0"]
    assert pot["node_id"].to_list()[:2] == [f"{H_POT}_3_1_c", f"{H_POT}_3_1_r"]
    assert pot["source_row"].to_list() == [0, 0, 2, 2, 4, 4]
    assert pot["parent_id"].to_list() == [None, None, *[f"{H_POT}_3_1_r"] * 2, *[f"{H_POT}_3_2_r"] * 2]
    rejected = pot.filter(pl.col("role") == "rejected")
    assert rejected["expanded"].to_list() == [True, True, False]
    assert rejected["observation"].to_list() == [OBS1, OBS2, ""]
    assert (rejected["critique"] == "").all() and not rejected["correct"].any()
    assert pot.filter(pl.col("role") == "chosen")["correct"].all()
    assert (pot["instruction"] == POT).all() and (pot["depth"] == 3).all() and (pot["problem_id"] == H_POT).all()
    assert set(pot["origin"]) == {"release"} and set(pot["sampling"]) == {"{}"} and pot["mistake"].is_null().all()

    cot = nodes.filter(pl.col("instruction_id") == H_COT)  # two depth-1 trees sharing one id never merge
    assert sorted(cot["tree_id"].unique()) == [f"{H_COT}_1_0", f"{H_COT}_1_1"]
    assert cot["node_id"].to_list() == [f"{H_COT}_1_1_c", f"{H_COT}_1_1_r", f"{H_COT}_1_1_c_1", f"{H_COT}_1_1_r_1"]

    logic = nodes.filter(pl.col("instruction_id") == H_LOGIC).sort("turn", "role")
    assert logic.select("turn", "role", "action", "expanded", "observation").rows() == [
        (1, "rejected", "Answer: Dickens", True, "Your answer is wrong."),
        (2, "chosen", "Answer: Jane Austen", False, ""),
        (2, "rejected", "Answer: Brontë", False, ""),
    ]


def test_views_reproduce_the_release(release: tuple[Path, Path]) -> None:
    nodes, sft = read_release(*release)
    views = build_views(nodes, sft=sft, rm=RM, seed=0)
    assert views["pairs"].to_dicts() == PAIRS  # same rows, same order, same trajectories
    assert views["sft"].to_dicts() == SFT

    kto = views["kto"]
    assert kto.height == 2 * len(PAIRS) and kto["label"].to_list() == [True, False] * len(PAIRS)
    first = kto.row(0, named=True)
    assert first["prompt"] == [{"role": "user", "content": POT}]
    assert first["completion"] == [{"role": "assistant", "content": PAIRS[0]["chosen"]}]
    assert [m["role"] for m in kto.row(4, named=True)["prompt"]] == ["user", "assistant", "user"]

    rm = views["rm"]
    plain = rm.filter(~pl.col("augmented")).drop("augmented", "ultrainteract")
    assert plain.equals(views["pairs"]) and rm["ultrainteract"].all()
    aug = rm.filter(pl.col("augmented"))
    turn_of = {p["chosen"]: p["id"][-1] for p in PAIRS} | {p["rejected"]: p["id"][-1] for p in PAIRS}
    turn_of["Answer: Dickens"] = "1"
    # cross-turn pairs only: 3x2 in the depth-3 tree, 1 in the Logic tree (its history's turn-1 action)
    assert aug.height == 7
    assert all(turn_of[r["chosen"]] != turn_of[r["rejected"]] for r in aug.iter_rows(named=True))
    assert aug.filter(pl.col("parent_id") == H_LOGIC).select("chosen", "rejected").rows() == [
        ("Answer: Jane Austen", "Answer: Dickens")
    ]

    derived = build_views(nodes, rm=RM, seed=0)["sft"]  # without the SFT file: every chosen action
    assert derived.height == len(PAIRS) and derived["response"].to_list() == [p["chosen"] for p in PAIRS]


def test_inconsistent_history_keeps_each_rows_trajectory(tmp_path: Path) -> None:
    q = "Solve: 1+1?"
    rows = [
        _pair(H_BAD, 2, 1, "Math_CoT", "MATH", [_m(U, q)], "2", "3"),
        _pair(H_BAD, 2, 2, "Math_CoT", "MATH", [_m(U, q), _m(A, "5"), _m(U, "wrong")], "2", "4"),  # not after "3"
        _pair(H_BAD, 2, 2, "Math_CoT", "MATH", [_m(U, q), _m(A, "3"), _m(U, "wrong")], "2", "7"),
    ]
    nodes, _ = read_release(_write(rows, tmp_path / "p.jsonl"))
    assert nodes["node_id"].is_unique().all()
    assert nodes.filter(pl.col("role") == "chosen")["tree_id"].to_list() == [f"{H_BAD}_2_{k}" for k in (0, 1, 0)]
    assert build_views(nodes, rm=RM, seed=1)["pairs"].to_dicts() == rows


def _bad(tmp_path: Path, suffix: str, i: int, **change: Any) -> Path:
    rows = [dict(r) for r in PAIRS]
    for key, value in change.items():
        if value is _DROP:
            del rows[i][key]
        else:
            rows[i][key] = value
    return _write(rows, tmp_path / f"0000_pair.{suffix}")


_DROP = object()
_ERRORS = [
    ("jsonl", 2, {"chosen": _DROP}, "0000_pair.jsonl: row 2: field 'chosen': missing"),
    ("json", 5, {"rejected": 3}, "0000_pair.json: row 5: field 'rejected': expected str, got int"),
    ("parquet", 3, {"dataset": None}, "0000_pair.parquet: row 3: field 'dataset': expected str, got null"),
    ("jsonl", 4, {"trajectory": "hi"},
     "0000_pair.jsonl: row 4: field 'trajectory': expected a non-empty list of {from, value}, got str"),
    ("jsonl", 0, {"trajectory": [{"from": U}]},
     "0000_pair.jsonl: row 0: field 'trajectory': message 0: expected 'value' to be a str, got missing"),
    ("jsonl", 1, {"id": f"{H_COT}_1"},
     f"0000_pair.jsonl: row 1: field 'id': expected '<64 hex>_<depth>_<turn>', got '{H_COT}_1'"),
    ("jsonl", 1, {"id": f"{H_COT}_1_2"},
     "0000_pair.jsonl: row 1: field 'id': expected depth >= turn >= 1, got depth 1 and turn 2"),
    ("jsonl", 2, {"trajectory": [_m(U, POT), _m(U, OBS1), _m(U, OBS1)]},
     "0000_pair.jsonl: row 2: field 'trajectory': message 1: expected from 'assistant' "
     "(user/assistant alternate, user first), got 'user'"),
    ("jsonl", 2, {"trajectory": [_m(U, POT)]},
     "0000_pair.jsonl: row 2: field 'trajectory': expected 3 messages at turn 2 (user first and last), got 1"),
    ("jsonl", 0, {"trajectory": [_m("system", POT)]},
     "0000_pair.jsonl: row 0: field 'trajectory': message 0: expected 'from' to be 'user' or 'assistant', "
     "got 'system'"),
    ("jsonl", 1, {"parent_id": H_POT},
     f"0000_pair.jsonl: row 1: field 'parent_id': expected the id's hash '{H_COT}', got '{H_POT}'"),
    ("jsonl", 6, {"task": "Math"},
     "0000_pair.jsonl: row 6: field 'task': expected one of Coding, Math_CoT, Math_PoT, Logic, got 'Math'"),
]  # fmt: skip


@pytest.mark.parametrize(("suffix", "row", "change", "message"), _ERRORS)
def test_import_errors(tmp_path: Path, suffix: str, row: int, change: dict, message: str) -> None:
    with pytest.raises(ReleaseError) as err:
        read_release(_bad(tmp_path, suffix, row, **change))
    assert str(err.value) == message and isinstance(err.value, ValueError)


def test_unreadable_line_and_bad_sft(tmp_path: Path) -> None:
    path = _write(PAIRS[:2], tmp_path / "0000_pair.jsonl")
    path.write_text(path.read_text() + "{not json\n", encoding="utf-8")
    with pytest.raises(ReleaseError, match=r"^0000_pair\.jsonl: row 2: unreadable row: invalid JSON: .*\(column 2\)$"):
        read_release(path)
    good = _write(PAIRS, tmp_path / "pairs.jsonl")
    sft = _write([SFT[0], {**SFT[1], "response": None}], tmp_path / "0000_sft.jsonl")
    with pytest.raises(ReleaseError, match=r"^0000_sft\.jsonl: row 1: field 'response': expected str, got null$"):
        read_release(good, sft)


def test_round_trip_and_loaders(release: tuple[Path, Path], tmp_path: Path) -> None:
    import datasets
    from datasets import Features, List, Value

    nodes, sft = read_release(*release)
    views = build_views(nodes, sft=sft, rm=RM, seed=3)
    out = write_release(views, tmp_path / "export")
    assert out == {"sft": tmp_path / "export/0000_sft.parquet", "pairs": tmp_path / "export/0000_pair.parquet"}
    nodes2, sft2 = read_release(out["pairs"], out["sft"])
    assert nodes2.equals(nodes)
    again = build_views(nodes2, sft=sft2, rm=RM, seed=3)
    for name, frame in views.items():
        assert again[name].equals(frame), name

    # split views (train/heldout) are concatenated back into one file
    split = write_release(split_views(views, fraction=0.5, seed=0), tmp_path / "split")
    assert pl.read_parquet(split["pairs"]).sort("id").equals(views["pairs"].sort("id"))

    s = Value("string")
    expected = {
        "pairs": Features({"id": s, "parent_id": s, "task": s, "dataset": s,
                           "trajectory": List({"from": s, "value": s}), "chosen": s, "rejected": s}),
        "sft": Features({"id": s, "parent_id": s, "task": s, "dataset": s, "instruction": s, "response": s}),
    }  # fmt: skip
    for name, path in out.items():
        ds = datasets.load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))
        assert ds.features == expected[name] and type(ds.features.get("trajectory", List(s))) is List
        assert ds.to_list() == (PAIRS if name == "pairs" else SFT)
        assert pl.read_parquet(path).schema == (PAIR_SCHEMA if name == "pairs" else SFT_SCHEMA)


H_MAGIC = _h("magicoder")
MAGIC_SFT = {"id": f"{H_MAGIC}_1_1", "parent_id": H_MAGIC, "task": "Coding", "dataset": "magicoder",
             "instruction": "Write Python code to solve the task.\nReverse a string.",
             "response": "print(input()[::-1])"}  # fmt: skip


def test_eurus7b_reads_sft_rows_from_the_sft_file_with_its_sft_only_rows(tmp_path: Path) -> None:
    """experiment=eurus7b with tree.source=release: the SFT view is UltraInteract_sft itself, rows of
    instructions that have no pair (Magicoder's) included, and nothing is held out."""
    import dataclasses

    from preftree.config.tree import TreeParams
    from preftree.release import SFT_FILE
    from preftree.tree_run import run_tree

    _write(PAIRS, tmp_path / "0000_pair.parquet")
    _write([*SFT, MAGIC_SFT], tmp_path / "0000_sft.parquet")
    cfg = from_conf(TreeParams, "tree", overrides=["experiment=eurus7b"], source="release", input=str(tmp_path))
    assert cfg.release.sft == SFT_FILE and cfg.heldout_fraction == 0.0 and cfg.sft_only == ["magicoder"]
    result = run_tree(cfg, seed=0)
    assert result.splits["sft"]["train"].to_dicts() == [*SFT, MAGIC_SFT]  # the file's rows, in its order
    assert result.splits["pairs"]["train"].to_dicts() == PAIRS
    assert all(parts["heldout"].height == 0 for parts in result.splits.values())
    assert result.dropped["pairs"] == {"magicoder": 0}  # Magicoder has no pairs in the release either

    derived = run_tree(dataclasses.replace(cfg, release=dataclasses.replace(cfg.release, sft=None)), seed=0)
    assert H_MAGIC not in derived.splits["sft"]["train"]["parent_id"].to_list()  # what release.sft null loses
    assert derived.splits["sft"]["train"]["response"].to_list() == [p["chosen"] for p in PAIRS]


def test_write_release_spells_dataset_names_as_the_release(tmp_path: Path) -> None:
    internal = {"MATH": "math", "codecontest": "codecontests"}  # the project's source names (conf/sources/)
    pairs = pl.DataFrame(PAIRS, schema=PAIR_SCHEMA).with_columns(pl.col("dataset").replace(internal))
    sft = pl.DataFrame([*SFT, {**MAGIC_SFT, "dataset": "synthetic"}], schema=SFT_SCHEMA)
    sft = sft.with_columns(pl.col("dataset").replace({"gsm8k": "math"}))
    assert set(pairs["dataset"]) == {"math", "gsm8k", "codecontests", "hotpotqa"}
    out = write_release({"sft": sft, "pairs": pairs}, tmp_path)
    assert pl.read_parquet(out["pairs"]).to_dicts() == PAIRS  # MATH, codecontest; gsm8k and hotpotqa unchanged
    assert pl.read_parquet(out["sft"])["dataset"].to_list() == ["MATH", "codecontest", "synthetic"]
    assert pl.read_parquet(out["sft"]).drop("dataset").equals(sft.drop("dataset"))
