"""Best-of-N figures on hand-built matrices (preftree.rerank), with their bootstrap CIs over problems;
majority vote on hand-written answer lists; the run over several benchmarks with fake generators and
reward models; the policy and benchmark inputs (preftree.rerank_inputs)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from preftree.evaluate.items import Item
from preftree.rerank import (
    NO_ANSWER,
    answer_groups,
    benchmark_summaries,
    best_of_curve,
    best_of_n,
    majority_pick,
    per_problem,
    run_rerank,
    same_answer,
    series_names,
)
from preftree.rerank_inputs import check_inputs, resolve_policy

CORRECT = [
    [False, True, False, True],
    [False, False, False, False],
    [True, False, True, False],
]
REWARDS = [
    [0.1, 0.9, 0.3, 0.2],  # the RM prefers sample 1 (correct) once it is in the set
    [0.5, 0.4, 0.3, 0.2],
    [0.0, 0.7, 0.7, 0.1],  # sample 1 (wrong) outranks 0 (correct); 1 and 2 tie: the earlier wins
]


def test_best_of_n_against_hand_computed_figures() -> None:
    rows = best_of_n(CORRECT, {"rm": REWARDS}, [1, 2, 4], greedy=[False, False, True])
    assert [r["n"] for r in rows] == [1, 2, 4]
    n1, n2, n4 = rows
    assert n1["best_of_n/rm"] == pytest.approx(1 / 3)  # only sample 0: problem 3 correct
    assert n1["random"] == pytest.approx(1 / 3) and n1["oracle"] == pytest.approx(1 / 3)
    assert n2["best_of_n/rm"] == pytest.approx(1 / 3)  # picks: 1 (ok), 0 (wrong), 1 (wrong)
    assert n2["random"] == pytest.approx(2 / 6) and n2["oracle"] == pytest.approx(2 / 3)
    assert n4["best_of_n/rm"] == pytest.approx(1 / 3)  # picks: 1 (ok), 0 (wrong), 1 (tie with 2 -> 1, wrong)
    assert n4["random"] == pytest.approx(4 / 12) and n4["oracle"] == pytest.approx(2 / 3)
    assert all(r["greedy"] == pytest.approx(1 / 3) for r in rows)
    assert series_names(rows) == ["best_of_n/rm", "random", "oracle", "greedy"]
    columns = [*series_names(rows), "majority"]  # no answer groups given: majority is None
    assert list(n1) == ["n"] + [f"{s}{end}" for s in columns for end in ("", "_ci_low", "_ci_high")]
    assert n1["majority"] is None and n1["majority_ci_high"] is None
    for row in rows:
        for series in series_names(rows):
            assert row[f"{series}_ci_low"] <= row[series] <= row[f"{series}_ci_high"]
            assert 0.0 <= row[f"{series}_ci_low"] and row[f"{series}_ci_high"] <= 1.0


def test_confidence_intervals_resample_problems_and_are_seeded() -> None:
    correct = [[i % 2 == 0, False] for i in range(200)]  # half the problems solved by sample 0
    rows = best_of_n(correct, {"rm": [[1.0, 0.0]] * 200}, [2], seed=3)
    (row,) = rows
    assert row["best_of_n/rm"] == pytest.approx(0.5) and row["random"] == pytest.approx(0.25)
    assert row["best_of_n/rm_ci_low"] < 0.5 < row["best_of_n/rm_ci_high"]
    assert row["best_of_n/rm_ci_high"] - row["best_of_n/rm_ci_low"] == pytest.approx(2 * 1.96 * 0.5 / 200**0.5, rel=0.2)
    assert best_of_n(correct, {"rm": [[1.0, 0.0]] * 200}, [2], seed=3) == rows
    assert row["greedy"] is None and row["greedy_ci_low"] is None and "greedy" not in series_names(rows)


def test_per_problem_values_average_to_the_row() -> None:
    import numpy as np

    hits = np.asarray(CORRECT, dtype=float)
    values = per_problem(hits, {"rm": np.asarray(REWARDS)}, 2, None)
    assert values["best_of_n/rm"].tolist() == [1.0, 0.0, 0.0]
    assert values["random"].tolist() == [0.5, 0.0, 0.5] and values["oracle"].tolist() == [1.0, 0.0, 1.0]


def test_a_perfect_reward_model_reaches_the_oracle() -> None:
    perfect = [[float(c) for c in row] for row in CORRECT]
    rows = best_of_n(CORRECT, {"perfect": perfect, "inverse": [[-x for x in r] for r in perfect]}, [1, 2, 4])
    for row in rows:
        assert row["best_of_n/perfect"] == pytest.approx(row["oracle"])
    assert rows[-1]["best_of_n/inverse"] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("correct", "rewards", "ns", "message"),
    [
        (CORRECT, {"rm": REWARDS}, [8], "N must be in 1..4"),
        (CORRECT, {"rm": REWARDS[:2]}, [1], "differs from the correctness matrix"),
        ([], {}, [1], "expected one row of samples per problem"),
        (CORRECT, {"rm": REWARDS}, [1], "greedy: 2 results for 3 problems"),
    ],
)
def test_bad_inputs_are_named(correct, rewards, ns, message) -> None:  # noqa: ANN001
    greedy = [True, False] if "greedy" in message else None
    with pytest.raises(ValueError, match=message):
        best_of_n(correct, rewards, ns, greedy)


# ----------------------------------------------------------------------------- majority vote


def exact(a: str, b: str) -> bool:
    return a == b


@pytest.mark.parametrize(
    ("answers", "labels"),
    [
        (["3", "4", "4", "3"], [0, 1, 1, 0]),
        ([None, "5", " ", "5", "6"], [NO_ANSWER, 0, NO_ANSWER, 0, 1]),
        ([None, None], [NO_ANSWER, NO_ANSWER]),
        ([], []),
    ],
)
def test_answer_groups_label_answers_in_order_of_first_appearance(answers, labels) -> None:  # noqa: ANN001
    assert answer_groups(answers, exact) == labels


def test_an_answer_joins_the_first_group_it_equals() -> None:
    calls = []

    def same(a: str, b: str) -> bool:  # "a~b": equal when the text before "~" is
        calls.append((a, b))
        return a.split("~")[0] == b.split("~")[0]

    assert answer_groups(["1~x", "2", "1~y", "2~z", "3"], same) == [0, 1, 0, 1, 2]
    assert ("1~y", "1~x") in calls and ("2~z", "2") in calls  # compared with each group's first answer


@pytest.mark.parametrize(
    ("answers", "n", "pick"),
    [
        (["3", "4", "4", "3"], 1, 0),
        (["3", "4", "4", "3"], 3, 1),  # 4 twice, 3 once: the first sample saying 4
        (["3", "4", "4", "3"], 4, 0),  # 2 against 2: the group that appeared first (3) wins
        (["3", "4", "4", "3"], 2, 0),  # 1 against 1: the earlier answer
        ([None, "7", None, "8", "8"], 5, 3),
        ([None, "7", None, "8", "8"], 4, 1),  # 7 once, 8 once: 7 came first; no-answer samples do not vote
        ([None, None, "9"], 2, 0),  # nobody answered among the first 2: the first sample
    ],
)
def test_majority_pick_with_ties_to_the_earliest_group(answers, n, pick) -> None:  # noqa: ANN001
    assert majority_pick(answer_groups(answers, exact), n) == pick


def test_majority_vote_series_against_hand_computed_figures() -> None:
    answers = [["3", "4", "4", "3"], ["1", "2", "2", "2"], [None, None, "5", "5"]]
    correct = [[False, True, True, False], [True, False, False, False], [False, False, True, True]]
    groups = [answer_groups(a, exact) for a in answers]
    rows = best_of_n(correct, {"rm": REWARDS}, [1, 2, 3, 4], groups=groups)
    majority = {r["n"]: r["majority"] for r in rows}
    # N=1: picks 0, 0, 0 -> F, T, F; N=2: 0 (tie), 0 (tie), 0 (no answer) -> F, T, F;
    # N=3: 1 (4 twice), 1 (2 twice), 2 (5) -> T, F, T; N=4: 0 (tie 2-2), 1 (2 thrice), 2 -> F, F, T
    assert majority == pytest.approx({1: 1 / 3, 2: 1 / 3, 3: 2 / 3, 4: 1 / 3})
    assert series_names(rows) == ["best_of_n/rm", "random", "oracle", "majority"]
    for row in rows:
        assert row["majority_ci_low"] <= row["majority"] <= row["majority_ci_high"]
    with pytest.raises(ValueError, match="groups: shape"):
        best_of_n(correct, {"rm": REWARDS}, [1], groups=groups[:2])


def test_paired_differences_at_the_largest_n() -> None:
    correct = [[i % 2 == 0, False] for i in range(100)]  # sample 0 right on half the problems
    curve = best_of_curve(correct, {"rm": [[1.0, 0.0]] * 100}, [1, 2], greedy=[False] * 100, seed=1)
    assert set(curve.paired) == {"rm_vs_random", "rm_vs_greedy"}
    assert curve.paired["rm_vs_random"]["effect"] == pytest.approx(0.25)  # 0.5 - 0.25
    assert curve.paired["rm_vs_greedy"]["effect"] == pytest.approx(0.5)
    low, high = curve.paired["rm_vs_greedy"]["ci_low"], curve.paired["rm_vs_greedy"]["ci_high"]
    assert 0.0 < low < 0.5 < high


def numeric_item(i: int, answer: str, benchmark: str = "gsm8k") -> Item:
    return Item(f"q{i}", benchmark, "numeric", "Math", f"question {i}", answer=answer)


def test_same_answer_uses_the_benchmarks_checker() -> None:
    gsm = numeric_item(0, "1000")
    assert same_answer(gsm, "1,000", "1000") and same_answer(gsm, "$1000", "1000.0")
    assert not same_answer(gsm, "999", "1000")
    math = Item("m", "math500", "math", "Math", "?", answer="1/2")
    assert same_answer(math, "\\frac{1}{2}", "0.5") and same_answer(math, "\\sqrt{12}", "2\\sqrt{3}")
    assert not same_answer(math, "\\frac{1}{3}", "0.333")
    thm = Item("t", "theoremqa", "theoremqa", "Math", "?", answer="2.0", meta={"answer_type": "float"})
    assert same_answer(thm, "2.05", "2.0")  # TheoremQA: within 4%
    code = Item("c", "humaneval", "code", "Coding", "?")
    with pytest.raises(ValueError, match="humaneval/c: kind 'code' has no final answer"):
        same_answer(code, "a", "b")


# ----------------------------------------------------------------------------- the run, with fakes


GSM = [numeric_item(0, "12"), numeric_item(1, "7"), numeric_item(2, "30")]
CODE = [Item(f"c{i}", "humaneval", "code", "Coding", f"write f{i}") for i in range(2)]
SAMPLES = {  # prompt -> 4 sampled texts; the fake judge reads the answer after "answer: "
    "question 0": ["answer: 12", "answer: 11", "answer: 11", "answer: 12.0"],
    "question 1": ["answer: 7", "answer: 8", "answer: 8", "no idea"],
    "question 2": ["answer: 31", "answer: 30", "answer: 3", "answer: 30"],
    "write f0": ["ok", "bad", "bad", "ok"],
    "write f1": ["bad", "bad", "ok", "bad"],
}
GREEDY = {"question 0": "answer: 11", "question 1": "answer: 7", "question 2": "answer: 30",
          "write f0": "bad", "write f1": "ok"}  # fmt: skip


def fake_generate(prompts, n, temperature, max_new_tokens, seed, stop):  # noqa: ANN001, ANN201
    texts = [GREEDY[p[0]["content"]] for p in prompts] if temperature == 0.0 else None
    return [[t] for t in texts] if texts else [SAMPLES[p[0]["content"]][:n] for p in prompts]


def fake_judge(items, texts):  # noqa: ANN001, ANN201
    out = []
    for item, text in zip(items, texts, strict=True):
        if item.kind == "code":
            out.append(SimpleNamespace(correct=text == "ok", answer=None))
            continue
        answer = text.split("answer: ")[1] if "answer: " in text else None
        correct = answer is not None and same_answer(item, answer, str(item.answer))
        out.append(SimpleNamespace(correct=correct, answer=answer))
    return out


def fake_scorer(folder: str, conversations):  # noqa: ANN001, ANN201
    text = [c[-1]["content"] for c in conversations]  # "good": a longer text is better; "bad": the reverse
    return [float(len(t)) if folder.endswith("good") else -float(len(t)) for t in text]


def rerank(benchmarks) -> object:  # noqa: ANN001
    return run_rerank(fake_generate, benchmarks, {"good": "models/rm/good", "bad": "models/rm/bad"}, n=4,
                      ns=[1, 2, 4], temperature=0.7, max_new_tokens=16, seed=0, judge=fake_judge,
                      scorer=fake_scorer)  # fmt: skip


def test_several_benchmarks_layout_and_majority_on_math_only() -> None:
    result = rerank({"gsm8k": GSM, "humaneval": CODE})
    assert list(result.curves) == ["gsm8k", "humaneval"] and result.rows == result.curves["gsm8k"]
    summary = result.summary
    # the first benchmark at the top level (a one-benchmark run's layout), the others under "benchmarks"
    assert summary["benchmark"] == "gsm8k" and summary["problems"] == 3 and summary["samples_per_problem"] == 4
    assert list(summary["benchmarks"]) == ["humaneval"] and summary["benchmarks"]["humaneval"]["problems"] == 2
    assert summary["reward_models"] == {"good": "models/rm/good", "bad": "models/rm/bad"}
    both = benchmark_summaries(summary)
    assert list(both) == ["gsm8k", "humaneval"] and both["gsm8k"]["best_of_n"] == summary["best_of_n"]
    gsm4, code4 = summary["best_of_n"][4], summary["benchmarks"]["humaneval"]["best_of_n"][4]
    # gsm8k N=4: answers {12, 11, 11, 12.0} -> 12 and 12.0 one group, tie with 11: 12 came first (right);
    # {7, 8, 8, -}: 8 (wrong); {31, 30, 3, 30}: 30 (right)
    assert gsm4["majority"] == pytest.approx(2 / 3)
    assert summary["greedy_pass@1"] == pytest.approx(2 / 3) and gsm4["oracle"] == pytest.approx(1.0)
    # "good" picks the longest text, the first of equal ones: "answer: 12.0" (right), "answer: 7" (right),
    # "answer: 31" (wrong); "bad" the shortest: "answer: 12" (right), "no idea" (wrong), "answer: 3" (wrong)
    assert gsm4["best_of_n/good"] == pytest.approx(2 / 3) and gsm4["best_of_n/bad"] == pytest.approx(1 / 3)
    assert code4["majority"] is None and code4["greedy"] == pytest.approx(0.5)
    assert code4["random"] == pytest.approx((2 / 4 + 1 / 4) / 2) and code4["oracle"] == pytest.approx(1.0)
    assert code4["best_of_n/bad"] == pytest.approx(1.0)  # the shortest text, "ok", on both
    assert set(summary["paired"]) == {"good_vs_random", "good_vs_greedy", "good_vs_majority", "bad_vs_random",
                                      "bad_vs_greedy", "bad_vs_majority"}  # fmt: skip
    assert "good_vs_majority" not in summary["benchmarks"]["humaneval"]["paired"]
    samples = result.samples
    assert len(samples) == (3 + 2) * 4 and {s["benchmark"] for s in samples} == {"gsm8k", "humaneval"}
    first = [s for s in samples if s["benchmark"] == "gsm8k" and s["id"] == "q0"]
    assert [s["answer"] for s in first] == ["12", "11", "11", "12.0"]
    assert [s["answer_group"] for s in first] == [0, 1, 1, 0]
    assert {s["answer_group"] for s in samples if s["benchmark"] == "humaneval"} == {NO_ANSWER}
    assert [s["reward_good"] for s in first] == [10.0, 10.0, 10.0, 12.0]
    assert [(g["benchmark"], g["id"], g["correct"]) for g in result.greedy][:2] == [("gsm8k", "q0", False),
                                                                                   ("gsm8k", "q1", True)]  # fmt: skip


def test_one_benchmark_keeps_the_single_benchmark_layout() -> None:
    summary = rerank({"humaneval": CODE}).summary
    assert "benchmarks" not in summary and summary["benchmark"] == "humaneval"
    assert list(summary["best_of_n"]) == [1, 2, 4] and summary["best_of_n"][1]["majority"] is None
    assert list(benchmark_summaries(summary)) == ["humaneval"]


def test_empty_benchmarks_are_named() -> None:
    with pytest.raises(ValueError, match="no problems to rerank in humaneval"):
        rerank({"gsm8k": GSM, "humaneval": []})
    with pytest.raises(ValueError, match="no benchmark to rerank"):
        rerank({})


# ----------------------------------------------------------------------------- inputs


def test_policy_names_folders_and_hub_ids(tmp_path: Path) -> None:
    assert resolve_policy("sft") == "models/sft" and resolve_policy("kto", Path("m")) == "m/kto"
    folder = tmp_path / "Mistral-7B-Instruct-v0.2"
    folder.mkdir()
    assert resolve_policy(str(folder)) == str(folder)  # a folder: read as it is
    assert resolve_policy("mistralai/Mistral-7B-Instruct-v0.2") == "mistralai/Mistral-7B-Instruct-v0.2"
    with pytest.raises(ValueError, match="rerank.policy is empty"):
        resolve_policy(" ")


def test_local_inputs_must_lie_inside_the_declared_deps(tmp_path: Path) -> None:
    policy, data = tmp_path / "policy", tmp_path / "bench"
    policy.mkdir()
    data.mkdir()
    (data / "gsm8k.jsonl").write_text("{}\n")
    (tmp_path / "other.jsonl").write_text("{}\n")
    local = {"gsm8k": str(data / "gsm8k.jsonl"), "math500": "HuggingFaceH4/MATH-500"}  # a HF id is not checked
    check_inputs(str(policy), local, str(policy), str(data))
    check_inputs("mistralai/Mistral-7B-Instruct-v0.2", local, "models/rm", str(data / "gsm8k.jsonl"))
    with pytest.raises(ValueError, match=r"rerank.inputs.policy: .* does not hold the policy folder"):
        check_inputs(str(policy), local, str(data), str(data))
    with pytest.raises(ValueError, match=r"rerank.inputs.benchmarks: .*other \(.*other.jsonl\)"):
        check_inputs(str(policy), {**local, "other": str(tmp_path / "other.jsonl")}, str(policy), str(data))
    with pytest.raises(FileNotFoundError, match="models/nope is missing"):
        check_inputs("models/nope", {}, "models/nope", str(data))


def test_a_folder_policy_composes_with_its_inputs(tmp_path: Path) -> None:
    from preftree.compose import from_conf
    from preftree.config.evaluate import RerankParams

    folder = tmp_path / "policy"
    folder.mkdir()
    params = from_conf(RerankParams, "rerank", overrides=[f"rerank.policy={folder}", f"rerank.inputs.policy={folder}"])
    check_inputs(resolve_policy(params.policy), {}, params.inputs.policy, params.inputs.benchmarks)
    default = from_conf(RerankParams, "rerank")
    assert default.policy == "sft" and default.inputs.policy == "models/sft"  # models/${rerank.policy}
    sources = {k: (s.path, s.limit) for k, s in default.sources().items()}
    assert sources == {"tiny": ("data/selected/heldout.parquet", 200)}
    kto = from_conf(RerankParams, "rerank", overrides=["rerank.policy=kto"])
    assert kto.inputs.policy == "models/kto"


def test_presets_rerank_the_papers_figure_4_benchmarks() -> None:
    from preftree.compose import from_conf
    from preftree.config.evaluate import RerankParams

    paper = from_conf(RerankParams, "rerank", overrides=["experiment=eurus7b"])
    assert paper.policy == "mistralai/Mistral-7B-Instruct-v0.2"
    assert list(paper.sources()) == ["humaneval", "mbpp", "gsm8k", "math500"] and paper.benchmarks["tiny"] is None
    cpu = from_conf(RerankParams, "rerank", overrides=["experiment=eurus7b_cpu"])
    assert list(cpu.sources()) == ["humaneval", "mbpp", "gsm8k", "math500"]
    assert cpu.policy == "sft" and cpu.inputs.policy == "models/sft"
    local = {k: s.path for k, s in cpu.sources().items()}  # the fixture files, all inside inputs.benchmarks
    check_inputs("org/any-hub-id", local, cpu.inputs.policy, cpu.inputs.benchmarks)


def test_the_report_shows_every_reranked_benchmark(tmp_path: Path) -> None:
    """metrics/info/rerank.json from a two-benchmark run: the first in the report's best-of-N section as
    before, the other in its own table (with majority vote) and figure."""
    import json

    from preftree.report import build_report

    summary = rerank({"humaneval": CODE, "gsm8k": GSM}).summary
    metrics = tmp_path / "metrics"
    (metrics / "info" / "rm").mkdir(parents=True)
    (metrics / "info" / "rerank.json").write_text(json.dumps({"policy": "sft", **summary}))
    report = build_report(metrics, [], data=tmp_path / "data", seed=0)
    text = report.markdown
    assert "samples on humaneval, 2 problems, greedy pass@1 50.0%" in text
    assert "| N | bad | good | random | pass@N |\n|---|---|---|---|---|\n| 1 |" in text  # no majority on code
    section = text[text.index("### Best-of-N on gsm8k: 3 problems, greedy pass@1 66.7%") :]
    assert "| N | bad | good | random | pass@N | majority vote |\n|---|---|---|---|---|---|\n" in section
    assert "| 4 | 33.3 [" in section and section.rstrip().endswith("(plots/best_of_n_gsm8k.png)")
    assert (metrics / "plots" / "best_of_n_gsm8k.png").read_bytes().startswith(b"\x89PNG")
