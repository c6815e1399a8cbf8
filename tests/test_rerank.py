"""Best-of-N figures on hand-built matrices (preftree.rerank), with their bootstrap CIs over problems."""

from __future__ import annotations

import pytest

from preftree.rerank import best_of_n, per_problem, series_names

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
    assert list(n1) == ["n"] + [f"{s}{end}" for s in series_names(rows) for end in ("", "_ci_low", "_ci_high")]
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
