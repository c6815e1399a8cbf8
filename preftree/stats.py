"""Confidence intervals and verdicts for the report's claims (numpy only, seeded, pure).

* :func:`paired_diff`: mean(a) - mean(b) over aligned units (problems, pairs), percentile CI from a
  bootstrap that resamples *units* (both arrays with the same indices, so the pairing is kept);
* :func:`bootstrap_mean`: the mean of one array, the same bootstrap;
* :func:`trend_slope`: OLS slope of a logged curve, bootstrap over its points (pairs bootstrap);
* :func:`window_mean`: the mean of the last ``fraction`` of a curve's points, bootstrap over them;
* :func:`verdict`: *reproduced* / *contradicted* / *inconclusive* from a CI and the side the paper
  claims, with an optional non-inferiority margin;
* :func:`pool`: fixed-effect inverse-variance pooling of estimates from independent runs (seeds);
* :func:`pool_random`: random-effects (DerSimonian-Laird) pooling, wider where the runs disagree.

Every estimate carries its ``n`` (units resampled) and ``se`` (the bootstrap standard deviation).
The same ``seed`` gives the same interval, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

N_BOOT = 2000
LEVEL = 0.95

Verdict = Literal["reproduced", "contradicted", "inconclusive", "not run"]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its percentile CI, the number of units behind it and its standard error."""

    effect: float
    ci_low: float
    ci_high: float
    n: int
    se: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _vector(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected one value per unit, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name}: no units")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: non-finite values")
    return array


def _interval(point: float, boot: np.ndarray, n: int, level: float) -> Estimate:
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return Estimate(point, float("nan"), float("nan"), n, float("nan"))
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(boot, [tail, 100 - tail])
    se = float(boot.std(ddof=1)) if boot.size > 1 else 0.0
    return Estimate(float(point), float(low), float(high), n, se)


def _indices(n: int, seed: int, n_boot: int) -> np.ndarray:
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def paired_diff(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    seed: int,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
) -> Estimate:
    """mean(a) - mean(b) for two per-unit arrays aligned by unit (bool or float), with a paired
    percentile bootstrap CI (units resampled with replacement, the same units for a and b)."""
    x, y = _vector(a, "a"), _vector(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"paired_diff: {x.size} units in a, {y.size} in b (they must be aligned)")
    diff = x - y
    boot = diff[_indices(diff.size, seed, n_boot)].mean(axis=1)
    return _interval(float(diff.mean()), boot, diff.size, level)


def bootstrap_mean(
    x: Sequence[float] | np.ndarray, *, seed: int, n_boot: int = N_BOOT, level: float = LEVEL
) -> Estimate:
    """mean(x) with a percentile bootstrap CI over units."""
    values = _vector(x, "x")
    boot = values[_indices(values.size, seed, n_boot)].mean(axis=1)
    return _interval(float(values.mean()), boot, values.size, level)


def _slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """OLS slope of each row of y on the matching row of x (NaN where x is constant)."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    sxx = (xc * xc).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sxx > 0, (xc * yc).sum(axis=-1) / np.where(sxx > 0, sxx, 1.0), np.nan)


def trend_slope(
    steps: Sequence[float] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    *,
    seed: int,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    per: float = 1.0,
) -> Estimate:
    """OLS slope of ``values`` on ``steps`` (times ``per``, e.g. 100 for 'per 100 steps'), with a
    percentile CI from a bootstrap over the (step, value) points; resamples with one distinct step
    (no slope) are dropped. Needs at least 3 points at 2 distinct steps."""
    x, y = _vector(steps, "steps"), _vector(values, "values")
    if x.shape != y.shape:
        raise ValueError(f"trend_slope: {x.size} steps but {y.size} values")
    if x.size < 3 or np.unique(x).size < 2:
        raise ValueError(f"trend_slope: need at least 3 points at 2 distinct steps, got {x.size}")
    idx = _indices(x.size, seed, n_boot)
    boot = per * _slopes(x[idx], y[idx])
    return _interval(per * float(_slopes(x[None, :], y[None, :])[0]), boot, x.size, level)


def window_mean(
    values: Sequence[float] | np.ndarray,
    *,
    seed: int,
    fraction: float = 1 / 3,
    min_points: int = 2,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
) -> Estimate:
    """The mean of the last ``fraction`` of a curve's points (at least ``min_points``, at most all),
    with a bootstrap CI over those points; ``n`` is the number of points in the window."""
    array = _vector(values, "values")
    if not 0 < fraction <= 1:
        raise ValueError(f"window_mean: fraction must be in (0, 1], got {fraction}")
    size = min(array.size, max(min_points, int(np.ceil(fraction * array.size))))
    return bootstrap_mean(array[-size:], seed=seed, n_boot=n_boot, level=level)


def verdict(estimate: Estimate | None, direction: int, *, margin: float = 0.0) -> Verdict:
    """The verdict for a claim that the effect is positive (``direction`` +1) or negative (-1).

    Threshold t = -direction * margin (0 without a margin: a superiority claim; with a margin, a
    non-inferiority claim 'keeps or improves', which allows a loss up to ``margin``). reproduced: the
    whole CI is beyond t on the claimed side; contradicted: the whole CI is beyond t on the other
    side; inconclusive: the CI contains t (a CI of [0, 0] with t = 0 is inconclusive). ``None`` or a
    NaN interval (nothing to estimate) -> "not run"."""
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, got {direction}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if estimate is None or not (np.isfinite(estimate.ci_low) and np.isfinite(estimate.ci_high)):
        return "not run"
    low, high = direction * estimate.ci_low, direction * estimate.ci_high
    low, high = min(low, high), max(low, high)
    if low > -margin:
        return "reproduced"
    if high < -margin:
        return "contradicted"
    return "inconclusive"


def combine(verdicts: Sequence[Verdict]) -> Verdict:
    """One verdict for a claim made of sub-claims, over those that ran: contradicted if any is,
    else reproduced if all are, else inconclusive; "not run" when none ran."""
    ran = [v for v in verdicts if v != "not run"]
    if not ran:
        return "not run"
    if "contradicted" in ran:
        return "contradicted"
    if all(v == "reproduced" for v in ran):
        return "reproduced"
    return "inconclusive"


def pool(estimates: Sequence[Estimate], *, level: float = LEVEL) -> Estimate:
    """Fixed-effect inverse-variance pooling of independent estimates (w_i = 1/se_i^2; pooled se =
    1/sqrt(sum w_i); CI = effect +- z * se, z = 1.96 at 95%); ``n`` is the total of the units. When any
    se is 0 (a bootstrap with no spread) the weights are undefined: the pooled effect is then the
    unweighted mean with se = sqrt(sum se_i^2) / k."""
    if not estimates:
        raise ValueError("pool: no estimates")
    effects = np.array([e.effect for e in estimates], dtype=np.float64)
    ses = np.array([e.se for e in estimates], dtype=np.float64)
    if not (np.all(np.isfinite(effects)) and np.all(np.isfinite(ses))):
        raise ValueError("pool: non-finite effect or se")
    if np.all(ses > 0):
        weights = 1.0 / ses**2
        effect = float((weights * effects).sum() / weights.sum())
        se = float(1.0 / np.sqrt(weights.sum()))
    else:
        effect = float(effects.mean())
        se = float(np.sqrt((ses**2).sum()) / ses.size)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    return Estimate(effect, effect - z * se, effect + z * se, int(sum(e.n for e in estimates)), se)


def pool_random(estimates: Sequence[Estimate], *, level: float = LEVEL) -> Estimate:
    """Random-effects pooling (DerSimonian-Laird) of independent estimates: runs on different seeds are
    different worlds, so their true effects may differ. tau^2 = max(0, (Q - (k - 1)) / (S1 - S2 / S1)) with
    w_i = 1/se_i^2, Q = sum w_i (y_i - fixed-effect mean)^2, S1 = sum w_i, S2 = sum w_i^2; then
    w*_i = 1/(se_i^2 + tau^2), effect = sum w*_i y_i / sum w*_i, se = 1/sqrt(sum w*_i), CI = effect +- z se.
    When the runs agree within their CIs (Q <= k - 1) this is :func:`pool`; when they disagree, the
    between-run variance tau^2 widens the CI. With any se of 0, or one run, it is :func:`pool`."""
    fixed = pool(estimates, level=level)
    ses = np.array([e.se for e in estimates], dtype=np.float64)
    if len(estimates) < 2 or not np.all(ses > 0):
        return fixed
    effects = np.array([e.effect for e in estimates], dtype=np.float64)
    weights = 1.0 / ses**2
    q = float((weights * (effects - fixed.effect) ** 2).sum())
    s1, s2 = float(weights.sum()), float((weights**2).sum())
    tau2 = max(0.0, (q - (len(estimates) - 1)) / (s1 - s2 / s1))
    if tau2 == 0.0:
        return fixed
    star = 1.0 / (ses**2 + tau2)
    effect = float((star * effects).sum() / star.sum())
    se = float(1.0 / np.sqrt(star.sum()))
    z = NormalDist().inv_cdf(0.5 + level / 2)
    return Estimate(effect, effect - z * se, effect + z * se, fixed.n, se)
