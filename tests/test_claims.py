"""The paper's claims C1-C7 (preftree.claims) on tiny hand-made frames."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import polars as pl
import pytest

from preftree.claims import (
    SPECS,
    ClaimInputs,
    best_modes_of,
    build_claims,
    claims_document,
    claims_markdown,
    item_pass,
    read_inputs,
    rerank_picks,
    reward_columns,
)

N = 60


def responses(solved: set[int], bench: str = "tiny", mode: str = "cot") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "benchmark": [bench] * N,
            "id": [f"p{i:03d}" for i in range(N)],
            "family": ["Math_CoT"] * N,
            "mode": [mode] * N,
            "response": ["..."] * N,
            "answer": [None] * N,
            "correct": [i in solved for i in range(N)],
            "status": ["ok"] * N,
        }
    )


def multiturn(solved_turn: dict[int, int]) -> pl.DataFrame:
    rows = []
    for i in range(20):
        turn = solved_turn.get(i)
        rows += [
            {"benchmark": "tiny", "id": f"m{i}", "family": "Logic", "turn": t, "response": "", "feedback": "",
             "solved_turn": turn}
            for t in range(1, (turn or 5) + 1)
        ]  # fmt: skip
    return pl.DataFrame(rows)


def curve(values: list[float]) -> dict[str, list[float | None]]:
    return {"step": [float(2 * i) for i in range(len(values))], "rewards_chosen": values, "margins": values}


def rm_scores(n_right: int, chosen: float, rejected: float, n: int = 100) -> pl.DataFrame:
    ok = [i < n_right for i in range(n)]
    return pl.DataFrame(
        {
            "pair_id": [f"q{i}" for i in range(n)],
            "task": ["Math_CoT"] * n,
            "chosen_reward": [chosen if o else rejected for o in ok],
            "rejected_reward": [rejected if o else chosen for o in ok],
        }
    )


def rerank_samples() -> pl.DataFrame:
    rows = []
    for p in range(30):
        for s in range(4):
            correct = s == 3 and p < 24  # one correct sample of four on 24 of 30 problems
            rows.append(
                {"id": f"r{p:02d}", "family": "Math_CoT", "sample": s, "response": "", "correct": correct,
                 "greedy_correct": p < 6, "reward_bt_dr": 1.0 if correct else 0.0, "reward_bt": 0.0}
            )  # fmt: skip
    return pl.DataFrame(rows)


def rerank_greedy() -> pl.DataFrame:
    ids = [f"r{p:02d}" for p in range(30)]
    return pl.DataFrame({"id": ids, "family": ["Math_CoT"] * 30, "response": [""] * 30,
                         "correct": [p < 6 for p in range(30)]})  # fmt: skip


def full_inputs() -> ClaimInputs:
    sft = set(range(30))
    return ClaimInputs(
        responses={
            "base": responses(set(range(3))),
            "sft": responses(sft),
            "dpo": responses(set(range(10))),
            "kto": responses(sft | {40}),
            "nca": responses(sft),
        },
        best_modes={p: {"tiny": "cot"} for p in ("base", "sft", "dpo", "kto", "nca")},
        multiturn={"sft": multiturn({0: 1}), "kto": multiturn({i: 2 for i in range(12)}), "nca": multiturn({0: 1})},
        curves={
            "dpo": {**curve([0.0, -0.1, -0.2, -0.3, -0.4, -0.5, -0.5, -0.6, -0.6]), "margins": [0.0] + [0.5] * 8},
            "kto": curve([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.6, 0.6]),
            "nca": curve([0.0, 0.1, -0.1, 0.1, -0.1, 0.1, -0.1, 0.1, -0.1]),
        },
        rm_scores={"bt": rm_scores(60, 0.5, 0.1), "bt_dr": rm_scores(90, 1.0, -1.0)},
        rerank=rerank_samples(),
        rerank_greedy=rerank_greedy(),
    )


def by_id(inputs: ClaimInputs, seed: int = 0) -> dict[str, object]:
    return {r.id: r for r in build_claims(inputs, seed=seed)}


def test_every_claim_has_a_row_with_numbers_and_a_verdict() -> None:
    rows = build_claims(full_inputs(), seed=0)
    assert [r.id for r in rows] == [s.id for s in SPECS]
    assert {r.claim for r in rows} == {f"C{i}" for i in range(1, 8)}
    for row in rows:
        assert row.verdict in {"reproduced", "contradicted", "inconclusive"}, row
        assert row.effect is not None and row.ci_low <= row.effect <= row.ci_high and row.n > 0, row


def test_pass_at_1_claims_are_paired_differences_in_points() -> None:
    rows = by_id(full_inputs())
    c1 = rows["C1"]
    assert c1.effect == pytest.approx(100 * (30 - 3) / N) and c1.n == N and c1.verdict == "reproduced"
    c2a = rows["C2a"]  # KTO solves SFT's problems and one more: +1.7 pp, CI within [0, +5]
    assert c2a.effect == pytest.approx(100 / N) and c2a.ci_low >= 0.0 and c2a.verdict == "reproduced"
    c2b = rows["C2b"]  # identical to SFT: effect 0, CI [0, 0] lies above the -2 pp margin: keeps
    assert c2b.effect == 0.0 and c2b.ci_low == 0.0 == c2b.ci_high and c2b.verdict == "reproduced"
    assert rows["C3a"].verdict == "reproduced" and rows["C3a"].effect == pytest.approx(100 * 21 / N)


def test_a_policy_worse_than_sft_contradicts_keeps_or_improves() -> None:
    inputs = full_inputs()
    worse = ClaimInputs(**{**inputs.__dict__, "responses": {**inputs.responses, "nca": responses(set(range(5)))}})
    rows = by_id(worse)
    assert rows["C2b"].effect == pytest.approx(-100 * 25 / N) and rows["C2b"].verdict == "contradicted"
    assert rows["C3b"].verdict == "contradicted"  # NCA - DPO < 0: DPO does not fall behind NCA here


def test_reward_trends_use_the_last_window_against_zero() -> None:
    rows = by_id(full_inputs())
    assert rows["C4a"].verdict == "reproduced" and rows["C4a"].effect < 0  # DPO chosen falls
    assert rows["C4b"].verdict == "reproduced" and rows["C4e"].verdict == "reproduced"
    assert rows["C4c"].verdict == "inconclusive" and rows["C4f"].verdict == "inconclusive"  # NCA oscillates
    assert rows["C4d"].effect == pytest.approx(0.5) and rows["C4d"].n == 5  # last third of 9, at least 5
    assert rows["C4d"].unit.startswith("implicit reward")


def test_reward_model_claims_compare_bt_dr_with_bt_per_pair() -> None:
    rows = by_id(full_inputs())
    assert rows["C5a"].effect == pytest.approx(30.0) and rows["C5a"].n == 100 and rows["C5a"].verdict == "reproduced"
    assert rows["C5b"].effect == pytest.approx(90.0 - 100.0)  # bt: every reward positive; bt+dr: 90 chosen > 0
    assert rows["C5c"].effect == pytest.approx(90.0)


def test_best_of_n_claims_per_problem_at_the_largest_n() -> None:
    rows = by_id(full_inputs())
    picks, n = rerank_picks(rerank_samples(), ["reward_bt_dr", "reward_bt"])
    assert n == 4 and picks.height == 30 and picks["greedy"].sum() == 6
    assert picks["pick:reward_bt_dr"].sum() == 24 and picks["pick:reward_bt"].sum() == 0  # ties: earliest sample
    no_greedy = rerank_samples().drop("greedy_correct")
    from_file, _ = rerank_picks(no_greedy, ["reward_bt"], rerank_greedy())  # data/rerank/greedy.parquet
    assert from_file["greedy"].to_list() == picks["greedy"].to_list()
    partial, _ = rerank_picks(no_greedy, ["reward_bt"], rerank_greedy().head(10))
    assert "greedy" not in partial.columns  # greedy results for only some problems: not compared
    assert rows["C6a"].effect == pytest.approx(100 * (24 - 6) / 30) and rows["C6a"].verdict == "reproduced"
    assert rows["C6b"].effect == pytest.approx(100 * (24 - 6) / 30)
    assert rows["C6c"].effect == pytest.approx(80.0) and "N = 4" in rows["C6c"].note


def test_best_of_n_claims_pool_every_benchmark_by_benchmark_and_id() -> None:
    """The rerank stage's samples of several benchmarks: the same id on two benchmarks is two problems."""
    one = rerank_samples()
    other = one.with_columns(pl.col("reward_bt_dr") * 0.0, pl.col("greedy_correct") & False)  # bt+dr: no signal
    samples = pl.concat([one.with_columns(benchmark=pl.lit("gsm8k")), other.with_columns(benchmark=pl.lit("math500"))])
    picks, n = rerank_picks(samples, ["reward_bt_dr"])
    assert n == 4 and picks.height == 60 and picks.columns[:2] == ["benchmark", "id"]
    assert picks["pick:reward_bt_dr"].sum() == 24  # gsm8k: every correct sample found; math500: ties -> sample 0
    greedy = pl.concat([rerank_greedy().with_columns(benchmark=pl.lit(b)) for b in ("gsm8k", "math500")])
    from_file, _ = rerank_picks(samples.drop("greedy_correct"), ["reward_bt_dr"], greedy)
    assert from_file.height == 60 and from_file["greedy"].sum() == 12  # joined on (benchmark, id)
    rows = by_id(ClaimInputs(rerank=samples))
    assert rows["C6a"].n == 60 and "of 2 benchmarks" in rows["C6a"].note
    assert rows["C6a"].effect == pytest.approx(100 * (24 - 2 * 24 / 4) / 60)  # pick - random, pooled
    assert rows["C6b"].effect == pytest.approx(100 * (24 - 6) / 60)


def test_multiturn_claims_are_success_within_five_turns() -> None:
    rows = by_id(full_inputs())
    assert rows["C7a"].effect == pytest.approx(100 * 11 / 20) and rows["C7a"].n == 20
    assert rows["C7b"].effect == 0.0 and rows["C7b"].verdict == "inconclusive"


def test_missing_inputs_make_their_claims_not_run() -> None:
    inputs = full_inputs()
    partial = ClaimInputs(
        responses={p: f for p, f in inputs.responses.items() if p != "kto"},
        multiturn={},
        curves={"dpo": inputs.curves["dpo"]},
        rm_scores={"bt_dr": inputs.rm_scores["bt_dr"]},
        rerank=inputs.rerank.drop("reward_bt", "greedy_correct"),
    )
    rows = by_id(partial)
    for rid in ("C2a", "C3a", "C4b", "C4c", "C5a", "C5b", "C5c", "C6b", "C6c", "C7a", "C7b"):
        row = rows[rid]
        assert row.verdict == "not run" and row.effect is None and row.ci_low is None and row.n is None, rid
        assert row.note, rid
    assert rows["C1"].verdict == "reproduced" and rows["C4a"].verdict == "reproduced"
    assert rows["C6a"].effect is not None
    assert "kto" in rows["C2a"].note
    empty = build_claims(ClaimInputs(), seed=0)
    assert {r.verdict for r in empty} == {"not run"}
    assert set(claims_document(empty, seed=0)["verdicts"].values()) == {"not run"}


def test_best_mode_per_benchmark_is_the_one_the_metrics_report() -> None:
    cot, pot = responses(set(range(10)), "gsm", "cot"), responses(set(range(20)), "gsm", "pot")
    both = pl.concat([cot, pot])
    assert best_modes_of(both) == {"gsm": "pot"}
    assert best_modes_of(pl.concat([cot, responses(set(range(10)), "gsm", "pot")])) == {"gsm": "cot"}  # ties: cot
    assert item_pass(both)["value"].sum() == 20
    assert item_pass(both, {"gsm": "cot"})["value"].sum() == 10


def test_reward_columns_fall_back_to_a_single_rm() -> None:
    frame = pl.DataFrame({"id": ["a"], "sample": [0], "correct": [True], "reward_eurus": [0.1]})
    assert reward_columns(frame) == ("reward_eurus", None)
    assert reward_columns(frame.with_columns(pl.lit(0.0).alias("reward_bt"))) == (None, "reward_bt")


def test_a_fixed_seed_gives_the_same_rows_and_the_document_is_json() -> None:
    first, again = build_claims(full_inputs(), seed=3), build_claims(full_inputs(), seed=3)
    assert first == again
    doc = claims_document(first, seed=3)
    assert json.loads(json.dumps(doc)) == doc and doc["seed"] == 3
    assert doc["verdicts"]["C1"] == "reproduced" and len(doc["claims"]) == len(SPECS)
    assert set(doc["claims"][0]) >= {"id", "text", "paper", "effect", "ci_low", "ci_high", "n", "unit", "verdict"}


def test_markdown_table_lists_every_row_and_the_rules() -> None:
    rows = build_claims(full_inputs(), seed=0)
    text = claims_markdown(rows)
    lines = text.splitlines()
    assert lines[0].startswith("| id | claim | paper | effect | 95% CI | n |")
    assert lines[2].startswith("| C1 | SFT beats the base model") and "**reproduced**" in lines[2]
    assert sum(line.startswith("| C") for line in lines) == len(SPECS)
    assert "non-inferiority" in text and "Per claim: C1 reproduced" in text


def test_read_inputs_from_a_workspace(tmp_path: Path) -> None:
    inputs = full_inputs()
    for policy, frame in inputs.responses.items():
        (tmp_path / "data" / "eval" / policy).mkdir(parents=True)
        frame.write_parquet(tmp_path / "data" / "eval" / policy / "responses.parquet")
        (tmp_path / "metrics" / "eval").mkdir(parents=True, exist_ok=True)
        entry = {"benchmarks": {"tiny": {"best_mode": "cot", "pass@1": 0.5, "n_items": N}}}
        (tmp_path / "metrics" / "eval" / f"{policy}.json").write_text(json.dumps(entry))
    inputs.multiturn["sft"].write_parquet(tmp_path / "data" / "eval" / "sft" / "multiturn.parquet")
    (tmp_path / "metrics" / "align").mkdir()
    (tmp_path / "metrics" / "align" / "dpo.csv").write_text(
        "step,rewards_chosen,margins\n" + "".join(f"{2 * i},{-0.1 * i},{0.1 * i}\n" for i in range(9))
    )
    for variant, frame in inputs.rm_scores.items():
        (tmp_path / "data" / "rm" / variant).mkdir(parents=True)
        frame.write_parquet(tmp_path / "data" / "rm" / variant / "heldout_scores.parquet")
    (tmp_path / "data" / "rerank").mkdir()
    inputs.rerank.write_parquet(tmp_path / "data" / "rerank" / "samples.parquet")
    inputs.rerank_greedy.write_parquet(tmp_path / "data" / "rerank" / "greedy.parquet")
    read = read_inputs(tmp_path / "data", tmp_path / "metrics", ["base", "sft", "dpo", "kto", "nca", "absent"])
    assert set(read.responses) == {"base", "sft", "dpo", "kto", "nca"} and set(read.multiturn) == {"sft"}
    assert read.best_modes["sft"] == {"tiny": "cot"} and set(read.rm_scores) == {"bt", "bt_dr"}
    rows = by_id(read)
    assert rows["C1"].effect == pytest.approx(by_id(inputs)["C1"].effect)
    assert rows["C4a"].verdict == "reproduced" and rows["C4b"].verdict == "not run"
    assert rows["C5a"].verdict == "reproduced" and rows["C6c"].verdict == "reproduced"
    assert rows["C6b"].verdict == "reproduced"
    assert rows["C7a"].verdict == "not run"


# --------------------------------------------------------------------------------------------
# across runs (preftree.claims_across)


def run_document(seed: int, inputs: ClaimInputs | None = None) -> dict:
    return json.loads(json.dumps(claims_document(build_claims(inputs or full_inputs(), seed=seed), seed=seed)))


def test_aggregate_pools_each_row_over_the_runs() -> None:
    from preftree.claims_across import aggregate, markdown
    from preftree.stats import Estimate, pool_random

    runs = {"exp-a": run_document(0), "exp-b": run_document(1)}
    result = aggregate(runs)
    assert result["runs"] == {"exp-a": 0, "exp-b": 1}
    rows = {r["id"]: r for r in result["claims"]}
    assert list(rows) == [s.id for s in SPECS]
    c1 = rows["C1"]
    a, b = (next(r for r in runs[k]["claims"] if r["id"] == "C1") for k in runs)
    expected = pool_random([Estimate(r["effect"], r["ci_low"], r["ci_high"], r["n"], r["se"]) for r in (a, b)])
    assert c1["pooled"]["effect"] == pytest.approx(expected.effect) and c1["pooled"]["n"] == 2 * N
    assert c1["per_run"]["exp-a"]["effect"] == a["effect"] and c1["verdict"] == "reproduced"
    assert c1["runs_pooled"] == 2 and result["verdicts"]["C1"] == "reproduced"
    assert rows["C2b"]["verdict"] == "reproduced"  # effect 0 with se 0 in both runs: within the -2 pp margin
    text = markdown(result)
    assert text.splitlines()[0] == "| id | claim | exp-a (seed 0) | exp-b (seed 1) | pooled | n | verdict |"
    assert "| C1 | SFT beats the base model" in text and "DerSimonian-Laird" in text
    assert result["world"] == [] and "Is each run's tiny world" not in text  # no world bounds in these runs


def test_aggregate_shows_each_runs_world_bounds() -> None:
    from preftree.claims_across import aggregate, markdown

    def doc(seed: int, met: bool) -> dict:
        bounds = [
            {"bound": "SFT pass@1 at least 15 % on every task family", "figure": f"CoT {14 + 2 * seed}", "met": met}
        ]
        return {**run_document(seed), "world": {"bounds": bounds, "met": int(met), "of": 1}}

    result = aggregate({"s0": doc(0, False), "s1": doc(1, True)})
    assert result["world"] == [
        {
            "bound": "SFT pass@1 at least 15 % on every task family",
            "per_run": {"s0": {"met": False, "figure": "CoT 14"}, "s1": {"met": True, "figure": "CoT 16"}},
        }
    ]
    assert "| SFT pass@1 at least 15 % on every task family | CoT 14: **no** | CoT 16: yes |" in markdown(result)


def test_aggregate_keeps_not_run_rows_and_pools_only_runs_with_numbers() -> None:
    from preftree.claims_across import aggregate

    partial = ClaimInputs(responses={p: f for p, f in full_inputs().responses.items() if p != "kto"})
    result = aggregate({"full": run_document(0), "partial": run_document(1, partial)})
    rows = {r["id"]: r for r in result["claims"]}
    assert rows["C2a"]["runs_pooled"] == 1 and rows["C2a"]["per_run"]["partial"]["verdict"] == "not run"
    assert rows["C1"]["runs_pooled"] == 2
    only_partial = aggregate({"partial": run_document(1, partial)})
    assert {r["id"]: r["verdict"] for r in only_partial["claims"]}["C5a"] == "not run"
    assert only_partial["verdicts"]["C5"] == "not run"


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True, env=env).stdout.strip()


def test_claims_across_reads_the_experiments_of_head_from_git(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from preftree.claims_across import experiment_refs, main, read_run

    repo = tmp_path / "repo"
    (repo / "metrics").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("baseline\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "baseline")
    head = _git(repo, "rev-parse", "HEAD")
    for name, seed in (("exp-one", 1), ("exp-two", 2)):  # what `dvc exp run` leaves: a commit under refs/exps
        (repo / "metrics").mkdir(exist_ok=True)
        (repo / "metrics" / "claims.json").write_text(json.dumps(run_document(seed)))
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", name)
        _git(repo, "update-ref", f"refs/exps/{head[:2]}/{head[2:]}/{name}", "HEAD")
        _git(repo, "reset", "-q", "--hard", head)
    _git(repo, "update-ref", "refs/exps/celery/stash", head)  # DVC's own refs are not experiments
    assert list(experiment_refs(repo)) == ["exp-one", "exp-two"]
    assert read_run(repo, "exp-two")["seed"] == 2
    assert main(["--root", str(repo), "--write"]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].startswith("| id | claim | exp-one (seed 1) | exp-two (seed 2) | pooled |")
    written = json.loads((repo / "metrics" / "claims_across.json").read_text())
    assert written["runs"] == {"exp-one": 1, "exp-two": 2} and written["verdicts"]["C1"] == "reproduced"
    assert (repo / "metrics" / "claims_across.md").read_text().startswith("# Claims across runs\n\n| id |")
    file = tmp_path / "claims.json"
    file.write_text(json.dumps(run_document(5)))
    assert main(["--root", str(repo), str(file), "exp-one"]) == 0
    assert "claims.json (seed 5) | exp-one (seed 1)" in capsys.readouterr().out
    _git(repo, "commit", "-q", "--allow-empty", "-m", "new baseline")
    assert main(["--root", str(repo)]) == 1  # no experiments of the new HEAD
