"""Behaviour and figures of the selection library on tiny hand-built frames."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from preftree.compose import from_conf
from preftree.config.select import (
    CapsParams,
    DecontaminateParams,
    DifficultyParams,
    HeldoutParams,
    MaxCharsParams,
    SelectParams,
)
from preftree.schema import INSTRUCTION_SCHEMA, REJECTED_SCHEMA, REMOVED_SCHEMA, make_instruction, record_ids
from preftree.select import (
    REASONS,
    SelectError,
    apply_caps,
    build_ngram_index,
    check_rejections,
    decontaminate,
    difficulty_filter,
    exact_dedup,
    near_dedup,
    normalize,
    read_solved_ids,
    rejection_rates,
    run_select,
    split_heldout,
    too_long,
)
from preftree.text import words

BENCH = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
GSM8K_TEST = BENCH / "gsm8k" / "test.jsonl"


def row(
    problem: str,
    *,
    task: str = "Math_CoT",
    dataset: str = "ds",
    pattern: str = "",
    difficulty: int | None = None,
    source_row: int = 0,
) -> dict:
    rid, pid = record_ids(task, dataset, problem)
    return {
        "id": rid,
        "problem_id": pid,
        "task": task,
        "dataset": dataset,
        "problem": problem,
        "instruction": make_instruction(task, problem),
        "answer": "1",
        "tests": [],
        "reference": "{}",
        "pattern": pattern,
        "difficulty": difficulty,
        "source_row": source_row,
        "split": "train",
    }


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=INSTRUCTION_SCHEMA)


def text(rng: np.random.Generator, n: int = 40, vocab: int = 5000) -> str:
    return " ".join(f"w{i}" for i in rng.integers(0, vocab, size=n))


def both_tasks(problem: str, **kw) -> list[dict]:
    return [row(problem, task="Math_CoT", **kw), row(problem, task="Math_PoT", **kw)]


NEAR = dict(threshold=0.8, num_perm=64, seed=0)


# ---------------------------------------------------------------------------------- normalize / dedup


def test_normalize_rebuilds_instruction_and_ids() -> None:
    df = normalize(frame([row("  What is 2+2?  \r\nAnswer  plainly.\n\n\n\n", task="Math_PoT")]))
    r = df.row(0, named=True)
    assert r["problem"] == "What is 2+2?\nAnswer  plainly."
    assert r["instruction"] == make_instruction("Math_PoT", r["problem"])
    assert (r["id"], r["problem_id"]) == record_ids("Math_PoT", "ds", r["problem"])
    assert df.schema == INSTRUCTION_SCHEMA


def test_exact_dedup_across_datasets() -> None:
    df = frame(
        [
            row("How many apples are left?", dataset="a"),
            row("how many   APPLES are left?", dataset="b"),
            row("How many apples are left?", dataset="b", task="Math_PoT"),
            row("A different question entirely.", dataset="b"),
        ]
    )
    kept, removed = exact_dedup(df)
    assert kept["dataset"].to_list() == ["a", "b", "b"]
    assert removed.schema == REMOVED_SCHEMA
    assert removed.height == 1
    r = removed.row(0, named=True)
    assert r["reason"] == "exact_duplicate" and r["dataset"] == "b"
    assert df["id"][0] in r["detail"]


def test_near_dedup_removes_one_word_change_keeps_different() -> None:
    rng = np.random.default_rng(1)
    base = text(rng).split()
    edited = base.copy()
    edited[20] = "changed"  # interior word: 3 of 38 shingles differ -> Jaccard 35/41 = 0.85
    df = frame([row(" ".join(base)), row(text(rng)), row(" ".join(edited))])
    kept, removed = near_dedup(df, shingle=3, **NEAR)
    assert kept["id"].to_list() == df["id"][:2].to_list()
    assert removed["reason"].to_list() == ["near_duplicate"]
    assert df["id"][0] in removed["detail"][0] and "jaccard 0.854" in removed["detail"][0]
    # default shingle 5: a changed last word touches one shingle (35/37), still a near-dup
    edited = base[:-1] + ["changed"]
    kept, removed = near_dedup(frame([row(" ".join(base)), row(" ".join(edited))]), shingle=5, **NEAR)
    assert kept.height == 1 and removed.height == 1


def test_near_dedup_is_per_task_so_cot_pot_variants_survive() -> None:
    rng = np.random.default_rng(2)
    problem = text(rng)
    near = problem + " please"
    df = frame([*both_tasks(problem), *both_tasks(text(rng)), row(near, task="Math_PoT")])
    kept, removed = near_dedup(df, shingle=3, **NEAR)
    assert kept.height == 4
    assert kept.filter(pl.col("problem") == problem)["task"].to_list() == ["Math_CoT", "Math_PoT"]
    assert removed["task"].to_list() == ["Math_PoT"]


def test_short_texts_use_whole_text_as_one_shingle() -> None:
    df = frame([row("add two numbers"), row("Add two numbers!"), row("add three numbers")])
    kept, removed = near_dedup(df, shingle=5, **NEAR)
    assert kept["problem"].to_list() == ["add two numbers", "add three numbers"]
    assert removed.height == 1


# ---------------------------------------------------------------------------------- decontamination


def gsm8k_questions() -> list[str]:
    if not GSM8K_TEST.is_file():
        pytest.skip(f"GSM8K test set not found at {GSM8K_TEST}")
    lines = GSM8K_TEST.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def test_acceptance_gsm8k_8gram_removed_7gram_kept() -> None:
    """Paper App. A.3: an instruction sharing an 8-gram with a test question is dropped."""
    questions = gsm8k_questions()
    toks = words(questions[0])
    assert len(toks) >= 13
    eight, seven = " ".join(toks[4:12]), " ".join(toks[4:11])
    lead = "A zookeeper paints striped fences while"
    tail = "zebrafish quietly sketch hexagonal kites. How many kites?"
    contaminated = row(f"{lead} {eight} {tail}", dataset="synthetic")
    borderline = row(f"{lead} {seven} {tail}", dataset="synthetic")
    clean = row("A zookeeper paints 7 fences and 5 gates. How many items?", dataset="synthetic")
    df = frame([contaminated, borderline, clean])
    index = build_ngram_index({"gsm8k": questions}, 8)
    kept, removed = decontaminate(df, index, n=8)
    assert kept["id"].to_list() == [borderline["id"], clean["id"]]
    assert removed["id"].to_list() == [contaminated["id"]]
    assert removed["reason"][0] == "contaminated"
    assert "gsm8k" in removed["detail"][0] and eight in removed["detail"][0]

    # ... and counted in the stage stats
    params = from_conf(
        SelectParams,
        "select",
        heldout=from_conf(HeldoutParams, "select.heldout", fraction=0.0),
        decontaminate=DecontaminateParams(ngram=8, against=["gsm8k"]),
    )
    res = run_select(
        df,
        pl.DataFrame(schema=REJECTED_SCHEMA),
        params=params,
        eval_sets={"gsm8k": questions},
        solved_ids=set(),
        seed=0,
        n_rows_by_dataset={"synthetic": 3},
    )
    assert res.stats["datasets"]["synthetic"]["removed_contaminated"] == 1
    assert res.stats["total"]["removed_contaminated"] == 1
    assert res.train.height == 2


def test_decontaminate_names_first_eval_set_and_checks_n() -> None:
    index = build_ngram_index({"a": ["one two three four"], "b": ["three four five six", "x"]}, 4)
    kept, removed = decontaminate(frame([row("zero three four five six seven")]), index, n=4)
    assert kept.height == 0 and removed["detail"][0] == "shares 4-gram with b: 'three four five six'"
    with pytest.raises(ValueError, match="n=4"):
        decontaminate(frame([row("x")]), index, n=8)


# ---------------------------------------------------------------------------------- difficulty / solved


def test_difficulty_range_and_solved_ids(tmp_path: Path) -> None:
    rows = [row(f"problem {i}", difficulty=d, source_row=i) for i, d in enumerate([1, 2, 5, 6, None, 3])]
    df = frame(rows)
    solved = {rows[5]["id"], rows[1]["id"]}
    (tmp_path / "solved.txt").write_text(f"{rows[5]['id']}\n\n{rows[1]['id']}\n")
    pl.DataFrame({"id": sorted(solved), "x": [1, 2]}).write_parquet(tmp_path / "solved.parquet")
    (tmp_path / "solved.jsonl").write_text("".join(json.dumps({"id": i}) + "\n" for i in solved))
    for name in ("solved.txt", "solved.parquet", "solved.jsonl"):
        assert read_solved_ids(tmp_path / name) == solved
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_solved_ids(tmp_path / "nope.txt")

    kept, removed = difficulty_filter(df, min_steps=2, max_steps=5, solved_ids=solved)
    assert kept["source_row"].to_list() == [2, 4]
    assert dict(zip(removed["source_row"], removed["reason"], strict=True)) == {
        0: "difficulty",
        3: "difficulty",
        1: "solved",
        5: "solved",
    }
    assert "difficulty 6 outside [2, 5]" in removed.filter(pl.col("source_row") == 3)["detail"][0]
    kept, removed = difficulty_filter(df, min_steps=None, max_steps=None, solved_ids=set())
    assert kept.height == 6 and removed.height == 0


def test_difficulty_bounds_per_dataset_replace_the_global_ones() -> None:
    rows = [row(f"tab {i}", dataset="tabmwp", difficulty=d, source_row=i) for i, d in enumerate([1, 3, 4, 5, 6, None])]
    rows += [row(f"gsm {i}", dataset="gsm8k", difficulty=d, source_row=i) for i, d in enumerate([1, 4, 9])]
    kept, removed = difficulty_filter(
        frame(rows), min_steps=None, max_steps=8, solved_ids=set(), per_dataset={"tabmwp": (4, 5)}
    )
    got = {(ds, r) for ds, r in kept.select("dataset", "source_row").iter_rows()}
    # tabmwp keeps levels 4-5 and the unknown one; gsm8k keeps what the global bounds allow
    assert got == {("tabmwp", 2), ("tabmwp", 3), ("tabmwp", 5), ("gsm8k", 0), ("gsm8k", 1)}
    details = dict(zip(removed["source_row"].to_list(), removed["detail"].to_list(), strict=True))
    assert removed.filter(pl.col("dataset") == "gsm8k")["source_row"].to_list() == [2]
    assert "difficulty 6 outside [4, 5] (select.difficulty.per_dataset.tabmwp)" in details[4]
    assert set(removed["reason"]) == {"difficulty"} and removed.height == 4


# ---------------------------------------------------------------------------------- caps / split


def test_per_pattern_cap_keeps_five_and_pairs_together() -> None:
    rows = [r for i in range(20) for r in both_tasks(f"common problem {i}", dataset="mathqa", pattern="p20")]
    rows += [r for i in range(2) for r in both_tasks(f"rare problem {i}", dataset="mathqa", pattern="p2")]
    rows += [row(f"unknown {i}", dataset="mathqa") for i in range(8)]
    kept, removed = apply_caps(frame(rows), per_pattern=5, per_dataset={}, seed=0)
    per = kept.group_by("pattern").agg(pl.col("problem_id").n_unique().alias("p"), pl.len().alias("rows"))
    assert dict(zip(per["pattern"], per["p"], strict=True)) == {"p20": 5, "p2": 2, "": 8}
    assert dict(zip(per["pattern"], per["rows"], strict=True)) == {"p20": 10, "p2": 4, "": 8}
    assert removed.height == 30 and set(removed["reason"]) == {"cap"}
    removed_problems = frame(rows).filter(pl.col("id").is_in(removed["id"]))["problem_id"]
    assert set(kept["problem_id"]).isdisjoint(set(removed_problems))


def test_per_pattern_cap_by_dataset_caps_only_that_dataset() -> None:
    rows = [row(f"mq {i}", dataset="mathqa", pattern="f1") for i in range(9)]
    rows += [row(f"math {i}", dataset="math", pattern="Algebra") for i in range(9)]
    kept, removed = apply_caps(
        frame(rows), per_pattern=None, per_dataset={}, seed=0, per_pattern_by_dataset={"mathqa": 5}
    )
    assert dict(kept.group_by("dataset").agg(pl.len()).iter_rows()) == {"mathqa": 5, "math": 9}
    assert removed.height == 4 and removed["detail"].to_list() == ["per_pattern cap 5 for pattern 'f1'"] * 4
    # the per-dataset value replaces a global per_pattern for that dataset only
    kept, _ = apply_caps(frame(rows), per_pattern=2, per_dataset={}, seed=0, per_pattern_by_dataset={"mathqa": 5})
    assert dict(kept.group_by("dataset").agg(pl.len()).iter_rows()) == {"mathqa": 5, "math": 2}


def test_per_dataset_cap_prioritises_long_tail() -> None:
    sizes = {"common": 30, "mid": 5, "rare1": 1, "rare2": 1, "rare3": 2}
    rows = [
        r for pat, n in sizes.items() for i in range(n) for r in both_tasks(f"{pat} q{i}", dataset="mq", pattern=pat)
    ]
    rows += [row(f"other {i}", dataset="other", pattern="x") for i in range(50)]
    kept, removed = apply_caps(frame(rows), per_pattern=None, per_dataset={"mq": 10, "other": 100}, seed=3)
    mq = kept.filter(pl.col("dataset") == "mq")
    got = dict(mq.group_by("pattern").agg(pl.col("problem_id").n_unique()).iter_rows())
    assert got == {"rare1": 1, "rare2": 1, "rare3": 2, "mid": 3, "common": 3}
    assert mq.height == 20  # every kept problem keeps both its CoT and PoT rows
    assert kept.filter(pl.col("dataset") == "other").height == 50
    assert removed.height == 2 * (39 - 10) and "per_dataset cap 10" in removed["detail"][0]


def test_split_heldout_sizes_no_leakage_deterministic() -> None:
    rows = [r for i in range(20) for r in both_tasks(f"a{i}", dataset="a")]
    rows += [row(f"b{i}", dataset="b") for i in range(3)] + [row("c0", dataset="c")]
    df = frame(rows)
    train, held = split_heldout(df, fraction=0.1, max_per_dataset=None, seed=7)
    assert train.height + held.height == df.height
    assert set(train["problem_id"]).isdisjoint(set(held["problem_id"]))
    held_problems = dict(held.group_by("dataset").agg(pl.col("problem_id").n_unique()).iter_rows())
    assert held_problems == {"a": 2, "b": 1}  # round(0.1*20)=2; b: at least 1; c: a single problem
    assert held.filter(pl.col("dataset") == "a").height == 4
    again, held2 = split_heldout(df.reverse(), fraction=0.1, max_per_dataset=None, seed=7)
    assert set(held2["id"]) == set(held["id"]) and set(again["id"]) == set(train["id"])
    _, capped = split_heldout(df, fraction=0.5, max_per_dataset=1, seed=7)
    assert dict(capped.group_by("dataset").agg(pl.col("problem_id").n_unique()).iter_rows()) == {"a": 1, "b": 1}
    seeds = {frozenset(split_heldout(df, fraction=0.1, max_per_dataset=None, seed=s)[1]["id"]) for s in range(5)}
    assert len(seeds) > 1


# ---------------------------------------------------------------------------------- rejections / pipeline


def rejected_rows(dataset: str, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "dataset": [dataset] * n,
            "file": ["f.jsonl"] * n,
            "source_row": list(range(n)),
            "field": ["question"] * n,
            "reason": ["empty"] * n,
            "raw": ["{}"] * n,
        },
        schema=REJECTED_SCHEMA,
    )


def test_rejection_rate_check_names_the_file_and_the_top_reasons() -> None:
    bad = rejected_rows("gsm8k", 12).with_columns(file=pl.lit("/data/gsm8k/train.jsonl"))
    bad = bad.with_columns(
        field=pl.Series(["answer"] * 7 + ["question"] * 3 + ["", ""]),
        reason=pl.Series(["no answer found"] * 7 + ["missing"] * 3 + ["invalid JSON: x", "invalid JSON: y"]),
    )
    rejected = pl.concat([bad, rejected_rows("mbpp", 2)])
    n_rows = {"gsm8k": 100, "mbpp": 200}
    assert rejection_rates(n_rows, rejected) == {"gsm8k": 0.12, "mbpp": 0.01}
    with pytest.raises(SelectError) as err:
        check_rejections(n_rows, rejected, 0.05, "data/selected/rejected.parquet")
    assert str(err.value) == (
        "select: more than select.max_reject_rate=5.0% of a source's rows are malformed: "
        "source 'gsm8k' (/data/gsm8k/train.jsonl): 12 of 100 rows malformed (12.0%); "
        "top reasons: answer: no answer found (7), question: missing (3), invalid JSON: x (1); "
        "every rejected row and its reason: data/selected/rejected.parquet"
    )
    check_rejections(n_rows, rejected, 0.2, "data/selected/rejected.parquet")
    assert isinstance(err.value, ValueError)


def test_skipped_rows_are_counted_apart_and_not_as_failures() -> None:
    skipped = rejected_rows("numglue", 30).with_columns(
        reason=pl.lit("skipped: task Type_5 (the paper drops tasks 5-7)")
    )
    rejected = pl.concat([rejected_rows("numglue", 2), skipped])
    rates = rejection_rates({"numglue": 100}, rejected)
    assert rates == {"numglue": 0.02}
    check_rejections({"numglue": 100}, rejected, 0.05, "data/selected/rejected.parquet")  # 30 skipped: no trip
    res = run_select(
        frame([row(f"numglue {i}", dataset="numglue", source_row=40 + i) for i in range(68)]),
        rejected,
        params=from_conf(SelectParams, "select", heldout=from_conf(HeldoutParams, "select.heldout", fraction=0.0)),
        eval_sets={},
        solved_ids=set(),
        seed=0,
        n_rows_by_dataset={"numglue": 100},
    )
    s = res.stats["datasets"]["numglue"]
    assert (s["rejected"], s["skipped"], s["train"], s["loaded"]) == (2, 30, 68, 100)
    assert s["reject_rate"] == 0.02 and res.rejected.height == 32


def test_run_select_end_to_end_stats_add_up() -> None:
    rng = np.random.default_rng(5)
    rows: list[dict] = []
    for i in range(70):  # 140 synthetic rows: CoT + PoT per problem, 7 patterns, difficulty 1..6
        rows += both_tasks(text(rng, 30), dataset="synthetic", pattern=f"t{i % 7}", difficulty=1 + i % 6, source_row=i)
    for i in range(50):
        rows.append(row(text(rng, 30), dataset="gsm8k", source_row=i))
    rows.append(row(rows[0]["problem"].upper(), dataset="gsm8k", source_row=50))  # exact dup
    rows.append(row(rows[-2]["problem"] + " now", dataset="gsm8k", source_row=51))  # near dup
    rows.append(row("long " * 1000, dataset="synthetic", source_row=70))  # 5,000 chars: over the limit
    evals = {"gsm8k_test": [rows[-5]["problem"]]}  # contaminates one gsm8k row
    solved = {rows[-10]["id"]}
    rejected = rejected_rows("gsm8k", 2)
    params = from_conf(
        SelectParams,
        "select",
        difficulty=from_conf(DifficultyParams, "select.difficulty", min_steps=2, max_steps=5),
        caps=from_conf(CapsParams, "select.caps", per_pattern=7, per_dataset={"gsm8k": 40}),
        heldout=from_conf(HeldoutParams, "select.heldout", fraction=0.2),
        max_chars=from_conf(MaxCharsParams, "select.max_chars", problem=4000),
    )
    res = run_select(
        frame(rows),
        rejected,
        params=params,
        eval_sets=evals,
        solved_ids=solved,
        seed=0,
        n_rows_by_dataset={"synthetic": 71, "gsm8k": 54},
    )
    stats = json.loads(json.dumps(res.stats))
    for ds, s in stats["datasets"].items():
        assert s["loaded"] == s["rejected"] + s["skipped"] + s["removed"] + s["train"] + s["heldout"], ds
        assert s["removed"] == sum(s[f"removed_{r}"] for r in REASONS)
    total = stats["total"]
    assert total["loaded"] == len(rows) + 2
    assert total["train"] == res.train.height and total["heldout"] == res.heldout.height
    assert total["removed"] == res.removed.height and total["rejected"] == res.rejected.height == 2
    assert {r: total[f"removed_{r}"] > 0 for r in REASONS} == dict.fromkeys(REASONS, True)
    assert total["removed_exact_duplicate"] == 1 and total["removed_near_duplicate"] == 1
    assert total["removed_contaminated"] == 1 and total["removed_solved"] == 1 and total["removed_too_long"] == 1
    assert stats["datasets"]["gsm8k"]["reject_rate"] == pytest.approx(2 / 54, abs=1e-6)
    assert set(res.train["problem_id"]).isdisjoint(set(res.heldout["problem_id"]))
    assert res.train.schema == INSTRUCTION_SCHEMA and res.removed.schema == REMOVED_SCHEMA
    ids = [*res.train["id"], *res.heldout["id"], *res.removed["id"]]
    assert sorted(ids) == sorted(r["id"] for r in rows)

    with pytest.raises(SelectError, match="gsm8k"):
        run_select(
            frame(rows),
            rejected_rows("gsm8k", 20),
            params=params,
            eval_sets=evals,
            solved_ids=solved,
            seed=0,
            n_rows_by_dataset={"synthetic": 71, "gsm8k": 72},
        )


def test_scale_near_dedup_and_decontaminate_20k_rows() -> None:
    rng = np.random.default_rng(9)
    problems = [text(rng, int(n)) for n in rng.integers(40, 60, size=20_000)]
    for i in range(0, 2000, 100):  # 20 near duplicates of the same task (one extra word appended)
        problems[i + 2] = problems[i] + " again"
    evals = {"bench": [text(rng, 50) for _ in range(1000)] + [problems[5000]]}
    tasks = ["Math_CoT", "Math_PoT"]
    df = frame([row(p, task=tasks[i % 2], source_row=i) for i, p in enumerate(problems)])
    start = time.perf_counter()
    kept, near = near_dedup(df, threshold=0.8, num_perm=64, shingle=5, seed=0)
    kept, dirty = decontaminate(kept, build_ngram_index(evals, 8), n=8)
    elapsed = time.perf_counter() - start
    print(f"near_dedup + decontaminate on 20,000 rows: {elapsed:.2f}s")
    assert near.height == 20 and dirty.height == 1


# ---------------------------------------------------------------------------------- malformed rows

HUGE = 10_800_000  # characters: the 10.8 MB problem of issue 17


def test_a_field_over_its_size_limit_drops_the_row_naming_the_field() -> None:
    rows = [row("short", source_row=9), *(row(f"{i} " + "x " * 60, source_row=i) for i in range(5))]
    rows[2]["answer"] = "9" * 31
    rows[3]["tests"] = ["assert f()", "y" * 31]
    rows[4]["reference"] = "{" + "z" * 40 + "}"
    rows[5]["problem"], rows[5]["answer"] = "p" * 201, "9" * 31  # the first field over its limit is named
    limits = MaxCharsParams(problem=200, answer=30, tests=40, reference=40)
    kept, removed = too_long(frame(rows), limits)
    assert kept["source_row"].to_list() == [9, 0]
    assert removed.schema == REMOVED_SCHEMA and removed["reason"].to_list() == ["too_long"] * 4
    assert removed["detail"].to_list() == [
        "answer: 31 chars > select.max_chars.answer=30",
        "tests: 41 chars > select.max_chars.tests=40",
        "reference: 42 chars > select.max_chars.reference=40",
        "problem: 201 chars > select.max_chars.problem=200",
    ]
    assert too_long(frame(rows), MaxCharsParams(problem=None, answer=None, tests=None, reference=None))[1].height == 0


def test_the_default_size_limits_drop_a_huge_problem_and_keep_the_default_world() -> None:
    from preftree.sources.synthetic import problems as synthetic

    params = from_conf(SelectParams, "select")
    world = synthetic.generate(1200, seed=0, pool="instruct", tasks={"Math_CoT": 0.3, "Math_PoT": 0.3,
                               "Coding": 0.25, "Logic": 0.15}, min_steps=2, max_steps=5)  # fmt: skip
    assert too_long(world, params.max_chars)[1].height == 0
    huge = both_tasks("How many? " + "a" * HUGE, dataset="mine", source_row=19)
    res = run_select(
        frame([*both_tasks("What is 2 plus 2?", dataset="mine", source_row=1), *huge]),
        pl.DataFrame(schema=REJECTED_SCHEMA),
        params=params,
        eval_sets={},
        solved_ids=set(),
        seed=0,
        n_rows_by_dataset={"mine": 2},
    )
    assert res.train.height + res.heldout.height == 2 and res.removed["source_row"].to_list() == [19, 19]
    assert res.removed["detail"][0] == f"problem: {HUGE + 10} chars > select.max_chars.problem=100000"
    assert res.stats["datasets"]["mine"]["removed_too_long"] == res.stats["total"]["removed_too_long"] == 2


@pytest.mark.skipif(not BENCH.is_dir(), reason=f"benchmark files not present at {BENCH}")
def test_the_default_size_limits_keep_every_benchmark_row() -> None:
    from preftree.sources.load import load_source

    from .conftest import file_source

    limits = from_conf(SelectParams, "select").max_chars
    files = {"gsm8k": "gsm8k/test.jsonl", "humaneval": "humaneval/HumanEval.jsonl.gz", "mbpp": "mbpp/mbpp.jsonl",
             "svamp": "svamp/SVAMP.json", "math": "math500/math500_test.jsonl"}  # fmt: skip
    for adapter, name in files.items():
        records, _ = load_source(adapter, file_source(adapter=adapter, path=str(BENCH / name)))
        assert records.height > 0 and too_long(records, limits)[1].height == 0, name


def malformed_source(tmp_path: Path, *, extra_bad: bool) -> Path:
    """A 23-line JSONL source for the generic adapter: 19 good rows, a 10.8 MB problem, two blank lines
    before a list answer (line 22), and (extra_bad) a dict answer instead of the last good row."""
    topics = ["apples", "pears", "marbles", "stamps", "coins", "books", "shells", "kites", "cards", "pens"]
    good = [{"question": f"Ann has {i + 3} {topics[i % 10]} and gets {i * 7 + 2} more. How many {topics[i % 10]} "
             f"does she have in round {i}?", "final": 2 * i + 5} for i in range(19)]  # fmt: skip
    lines = [json.dumps(r) for r in good[:18]]
    lines += [json.dumps({"question": "How many? " + "a" * HUGE, "final": 1}), "", ""]  # lines 19-21
    lines += [json.dumps({"question": "What is 9 times 9?", "final": ["81"]})]  # line 22
    lines += [json.dumps({"question": "Pick two.", "final": {"a": 2}}) if extra_bad else json.dumps(good[18])]
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def mine_sources(path: Path):  # -> SourcesParams
    from preftree.config.sources import SourcesParams

    from .conftest import file_source

    spec = file_source(adapter="generic", path=str(path), tasks=["Math_CoT", "Math_PoT"],
                       fields={"problem": "question", "answer": "final"})  # fmt: skip
    return SourcesParams(synthetic=None, files={"mine": spec}, eval={})


def test_malformed_rows_are_dropped_with_reasons_and_line_numbers(tmp_path: Path) -> None:
    from preftree.select_run import select_from_sources

    path = malformed_source(tmp_path, extra_bad=False)
    params = from_conf(SelectParams, "select")
    res = select_from_sources(mine_sources(path), params, seed=0, rejected_path=tmp_path / "rejected.parquet")
    assert res.rejected.select("file", "source_row", "field", "reason").rows() == [
        (str(path), 22, "final", 'wrong type: expected str or number, got list ["81"]')
    ]
    too_big = res.removed.filter(pl.col("reason") == "too_long")
    assert too_big["source_row"].to_list() == [19, 19] and too_big["detail"][0].startswith("problem: 10800010 chars")
    kept = pl.concat([res.train, res.heldout])
    assert sorted(set(kept["source_row"])) == [*range(1, 19), 23] and kept["problem"].str.len_chars().max() < 200
    stats = res.stats["datasets"]["mine"]
    assert (stats["source_rows"], stats["rejected"], stats["removed_too_long"]) == (21, 1, 2)


def test_a_reject_rate_failure_names_the_file_and_the_reasons(tmp_path: Path) -> None:
    from preftree.select_run import TooManyRejected, select_from_sources

    path = malformed_source(tmp_path, extra_bad=True)
    with pytest.raises(TooManyRejected) as err:
        select_from_sources(mine_sources(path), from_conf(SelectParams, "select"), seed=0, rejected_path=Path("r.pq"))
    assert str(err.value) == (
        f"select: more than select.max_reject_rate=5.0% of a source's rows are malformed: source 'mine' ({path}): "
        "2 of 21 rows malformed (9.5%); top reasons: final: wrong type: expected str or number, got dict "
        '{"a": 2} (1), final: wrong type: expected str or number, got list ["81"] (1); '
        "every rejected row and its reason: r.pq"
    )
    assert err.value.rejected["source_row"].to_list() == [22, 23]


def test_a_failed_select_run_leaves_no_old_outputs_beside_new_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib

    import stages.select as stage
    from preftree import select_run

    path = malformed_source(tmp_path, extra_bad=False)
    params = {"sources": mine_sources(path), "select": from_conf(SelectParams, "select"), "seed": 0}
    metrics = [tmp_path / "metrics/select.json", tmp_path / "metrics/info/select.json"]

    @contextlib.contextmanager
    def fake_run(_params):  # what stage_run does on success: the metrics files
        yield type("Run", (), {"log_metrics": lambda self, values: None})()
        for p in metrics:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("{}")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(stage, "load_stage_params", lambda *_a, **_k: params)
    monkeypatch.setattr(stage, "stage_run", fake_run)
    stage.main()
    out = tmp_path / "data/selected"
    names = ["heldout.parquet", "rejected.parquet", "removed.parquet", "train.parquet"]
    assert sorted(p.name for p in out.iterdir()) == names and all(p.exists() for p in metrics)
    before = {name: (out / name).read_bytes() for name in names}

    # a run that dies while writing leaves the previous outputs complete
    def broken(frame: pl.DataFrame, where: Path) -> None:
        if where.name == "heldout.parquet":
            raise OSError("disk full")
        frame.write_parquet(where)

    monkeypatch.setattr(select_run, "write_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        stage.main()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    monkeypatch.undo()

    # a run over max_reject_rate: rejected.parquet alone (the new rows), no train/heldout, no metrics
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(stage, "load_stage_params", lambda *_a, **_k: params)
    monkeypatch.setattr(stage, "stage_run", fake_run)
    malformed_source(tmp_path, extra_bad=True)
    with pytest.raises(SelectError, match="data/selected/rejected.parquet"):
        stage.main()
    assert [p.name for p in out.iterdir()] == ["rejected.parquet"]
    assert pl.read_parquet(out / "rejected.parquet")["source_row"].to_list() == [22, 23]
    assert not any(p.exists() for p in metrics) and not list((tmp_path / "data").glob(".selected*"))
