"""The CI code (preftree.stats) against cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from preftree.stats import (
    Estimate,
    bootstrap_mean,
    combine,
    paired_diff,
    pool,
    pool_random,
    trend_slope,
    verdict,
    window_mean,
)


def _policy(n: int, rate: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(n) < rate


def test_identical_policies_give_zero_effect_and_a_ci_containing_zero() -> None:
    a = _policy(300, 0.5, 1)
    est = paired_diff(a, a.copy(), seed=0)
    assert est.effect == 0.0 and est.ci_low <= 0.0 <= est.ci_high and est.n == 300
    assert verdict(est, +1) == "inconclusive" and verdict(est, -1) == "inconclusive"


def test_two_independent_draws_of_one_policy_give_a_ci_containing_zero() -> None:
    a, b = _policy(400, 0.5, 1), _policy(400, 0.5, 2)
    est = paired_diff(a, b, seed=3)
    assert est.ci_low < 0.0 < est.ci_high
    assert verdict(est, +1) == "inconclusive"


def test_a_shifted_policy_gives_a_ci_excluding_zero_on_its_side() -> None:
    b = _policy(400, 0.3, 1)
    a = b | _policy(400, 0.3, 2)  # solves everything b solves, and more
    est = paired_diff(a, b, seed=0)
    assert est.effect == pytest.approx(a.mean() - b.mean())
    assert est.ci_low > 0.0 and est.ci_high > est.ci_low
    assert verdict(est, +1) == "reproduced" and verdict(est, -1) == "contradicted"
    flipped = paired_diff(b, a, seed=0)
    assert flipped.ci_high < 0.0 and verdict(flipped, -1) == "reproduced"
    assert flipped.effect == pytest.approx(-est.effect)


def test_the_ci_matches_the_normal_approximation_for_a_large_sample() -> None:
    x = np.random.default_rng(5).normal(2.0, 1.0, 2000)
    est = bootstrap_mean(x, seed=0, n_boot=4000)
    se = x.std(ddof=1) / np.sqrt(x.size)
    assert est.se == pytest.approx(se, rel=0.1)
    assert est.ci_low == pytest.approx(x.mean() - 1.96 * se, abs=0.3 * se)
    assert est.ci_high == pytest.approx(x.mean() + 1.96 * se, abs=0.3 * se)


def test_a_fixed_seed_gives_the_same_interval_and_another_seed_a_different_one() -> None:
    a, b = _policy(200, 0.6, 1), _policy(200, 0.4, 2)
    assert paired_diff(a, b, seed=7) == paired_diff(a, b, seed=7)
    assert paired_diff(a, b, seed=7) != paired_diff(a, b, seed=8)
    assert paired_diff(a, b, seed=7).effect == paired_diff(a, b, seed=8).effect


def test_paired_diff_rejects_misaligned_or_empty_inputs() -> None:
    with pytest.raises(ValueError, match="aligned"):
        paired_diff([1, 0], [1], seed=0)
    with pytest.raises(ValueError, match="no units"):
        bootstrap_mean([], seed=0)


def test_trend_slope_recovers_a_known_slope_and_its_sign() -> None:
    steps = np.arange(0, 200, 10, dtype=float)
    noise = np.random.default_rng(0).normal(0, 0.05, steps.size)
    up = trend_slope(steps, 0.01 * steps + noise, seed=0, per=100)
    assert up.effect == pytest.approx(1.0, abs=0.05) and up.ci_low > 0.0 and up.n == steps.size
    down = trend_slope(steps, -0.01 * steps + noise, seed=0, per=100)
    assert verdict(down, -1) == "reproduced" and verdict(down, +1) == "contradicted"
    flat = trend_slope(steps, noise, seed=0)
    assert flat.ci_low < 0.0 < flat.ci_high
    with pytest.raises(ValueError, match="at least 3 points"):
        trend_slope([1, 1, 1], [0, 1, 2], seed=0)


def test_window_mean_reads_the_last_points_only() -> None:
    values = [0.0, -1.0, -1.0, 0.5, 0.6, 0.7]
    est = window_mean(values, seed=0)  # last third: 2 points
    assert est.n == 2 and est.effect == pytest.approx(0.65)
    assert 0.6 <= est.ci_low <= est.ci_high <= 0.7
    assert window_mean(values, seed=0, fraction=1.0).n == 6
    assert window_mean([1.0, 2.0], seed=0, fraction=0.1, min_points=5).n == 2


def test_verdict_with_a_non_inferiority_margin() -> None:
    def est(low: float, high: float) -> Estimate:
        return Estimate((low + high) / 2, low, high, 100, 0.01)

    assert verdict(est(-0.01, 0.03), +1, margin=0.02) == "reproduced"  # loses at most 1 point: keeps
    assert verdict(est(-0.01, 0.03), +1) == "inconclusive"
    assert verdict(est(-0.05, 0.01), +1, margin=0.02) == "inconclusive"
    assert verdict(est(-0.06, -0.03), +1, margin=0.02) == "contradicted"
    assert verdict(est(-0.03, -0.01), +1, margin=0.02) == "inconclusive"
    assert verdict(None, +1) == "not run"
    assert verdict(Estimate(0.0, float("nan"), float("nan"), 0, float("nan")), +1) == "not run"
    with pytest.raises(ValueError):
        verdict(est(0, 1), 0)


def test_combine_over_the_sub_claims_that_ran() -> None:
    assert combine(["reproduced", "reproduced", "not run"]) == "reproduced"
    assert combine(["reproduced", "inconclusive"]) == "inconclusive"
    assert combine(["reproduced", "contradicted", "inconclusive"]) == "contradicted"
    assert combine(["not run", "not run"]) == "not run" and combine([]) == "not run"


def test_pooling_equal_estimates_keeps_the_effect_and_shrinks_the_se() -> None:
    one = Estimate(0.1, 0.02, 0.18, 100, 0.04)
    pooled = pool([one, one, one, one])
    assert pooled.effect == pytest.approx(0.1) and pooled.se == pytest.approx(0.02) and pooled.n == 400
    assert pooled.ci_low == pytest.approx(0.1 - 1.959964 * 0.02, abs=1e-6)
    assert pooled.ci_high == pytest.approx(0.1 + 1.959964 * 0.02, abs=1e-6)


def test_pooling_weights_by_inverse_variance() -> None:
    precise, vague = Estimate(0.0, -0.02, 0.02, 100, 0.01), Estimate(1.0, 0.0, 2.0, 100, 0.1)
    pooled = pool([precise, vague])
    assert pooled.effect == pytest.approx((0.0 * 1e4 + 1.0 * 1e2) / (1e4 + 1e2))
    assert pooled.se == pytest.approx((1e4 + 1e2) ** -0.5)
    zero = pool([Estimate(0.0, 0.0, 0.0, 10, 0.0), Estimate(0.0, 0.0, 0.0, 10, 0.0)])
    assert zero.effect == 0.0 and zero.se == 0.0 and verdict(zero, +1) == "inconclusive"
    with pytest.raises(ValueError):
        pool([])


def test_random_effects_pooling_known_answer() -> None:
    """Two runs that disagree: y = 0 and 1, se 0.1 each. w = 100, fixed-effect mean 0.5, Q = 50,
    tau^2 = (50 - 1) / (200 - 20000 / 200) = 0.49, w* = 1 / 0.5 = 2 each: effect 0.5, se 0.5."""
    a, b = Estimate(0.0, -0.196, 0.196, 100, 0.1), Estimate(1.0, 0.804, 1.196, 100, 0.1)
    fixed, rand = pool([a, b]), pool_random([a, b])
    assert fixed.se == pytest.approx(0.1 / 2**0.5) and fixed.ci_low > 0  # fixed effect: "clearly positive"
    assert rand.effect == pytest.approx(0.5) and rand.se == pytest.approx(0.5) and rand.n == 200
    assert rand.ci_low == pytest.approx(0.5 - 1.959964 * 0.5, abs=1e-5) and rand.ci_low < 0 < rand.ci_high


def test_random_effects_pooling_is_fixed_effect_when_runs_agree() -> None:
    agree = [Estimate(0.10, 0.06, 0.14, 100, 0.02), Estimate(0.11, 0.07, 0.15, 100, 0.02)]
    assert pool_random(agree) == pool(agree)  # Q = 0.125 <= k - 1: tau^2 = 0
    one = [Estimate(0.3, 0.1, 0.5, 50, 0.1)]
    assert pool_random(one) == pool(one)
    zero = [Estimate(0.0, 0.0, 0.0, 10, 0.0), Estimate(1.0, 1.0, 1.0, 10, 0.0)]
    assert pool_random(zero) == pool(zero)
