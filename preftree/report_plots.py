"""The report's figures: the paper's Figure 5 (reward trends) and Figure 4 (best-of-N) for this run.

Reward trends: one panel per method, each with rewards/chosen, rewards/rejected and their margin (the
implicit reward beta * log pi/pi_ref, per logged training step). Dots are the logged values; the line
is a trailing rolling mean over :func:`window_size` logged points and the band is that mean +- 1.96 SE
(SE = the window's sample sd / sqrt(points)), a 95% normal-approximation CI of the window mean.

Best-of-N: pass@1 (%) against N on a log2 axis, one line per reward model plus random, greedy, pass@N
(oracle) and, on a math benchmark, majority vote (self-consistency), with the 95% bootstrap CI over
problems the rerank stage stored beside each value (``<series>_ci_low`` / ``_ci_high``, see
:mod:`preftree.rerank`) as error bars.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

Z95 = 1.96
REWARD_COLUMNS = (("rewards_chosen", "chosen"), ("rewards_rejected", "rejected"), ("margins", "margin"))
REWARD_UNIT = "implicit reward β·log π/π_ref"
BAND_CAPTION = (
    "Dots: logged values. Lines: trailing rolling mean over w logged steps; bands: mean ± 1.96·SE of that "
    "window (SE = sd/√w), a 95% CI of the window mean."
)


def read_curve(path: Path) -> dict[str, list[float | None]]:
    """A metrics CSV (header + rows) as columns; empty cells are None."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    columns = reader.fieldnames or []
    return {c: [float(r[c]) if r[c] not in ("", None) else None for r in rows] for c in columns}


def window_size(points: int) -> int:
    """Logged points per rolling window: an eighth of the curve, at least 3 (all of a shorter curve)."""
    return max(1, min(points, max(3, points // 8)))


def rolling_band(values: Sequence[float], window: int) -> tuple[list[float], list[float], list[float]]:
    """Trailing rolling mean of ``values`` over ``window`` points and its mean +- 1.96 SE band (the
    band collapses to the mean where the window holds one point)."""
    means, lows, highs = [], [], []
    for i in range(len(values)):
        chunk = values[max(0, i - window + 1) : i + 1]
        mean = sum(chunk) / len(chunk)
        sd = math.sqrt(sum((v - mean) ** 2 for v in chunk) / (len(chunk) - 1)) if len(chunk) > 1 else 0.0
        half = Z95 * sd / math.sqrt(len(chunk))
        means.append(mean)
        lows.append(mean - half)
        highs.append(mean + half)
    return means, lows, highs


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_reward_trends(curves: Mapping[str, Mapping[str, list[float | None]]], out: Path) -> None:
    """The paper's Figure 5 for this run: per method (one panel each), rewards/chosen, rewards/rejected
    and the margin per logged step, with a rolling mean and its 95% CI band (:data:`BAND_CAPTION`)."""
    plt = _pyplot()
    methods = list(curves) or ["(no align curves)"]
    fig, axes = plt.subplots(1, len(methods), figsize=(4.6 * len(methods), 4.0), sharey=True, squeeze=False)
    windows = []
    for ax, method in zip(axes[0], methods, strict=True):
        curve = curves.get(method, {})
        for (column, label), color in zip(REWARD_COLUMNS, ("tab:green", "tab:red", "tab:blue"), strict=True):
            points = [(s, v) for s, v in zip(curve.get("step", []), curve.get(column, []), strict=False)
                      if s is not None and v is not None]  # fmt: skip
            if not points:
                continue
            steps, values = [p[0] for p in points], [p[1] for p in points]
            window = window_size(len(values))
            windows.append(window)
            mean, low, high = rolling_band(values, window)
            ax.scatter(steps, values, s=6, color=color, alpha=0.35)
            ax.plot(steps, mean, color=color, label=f"{label} (rolling mean, w={window})")
            ax.fill_between(steps, low, high, color=color, alpha=0.18, linewidth=0)
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.set_title(method.upper())
        ax.set_xlabel("training step")
        ax.set_ylabel(REWARD_UNIT)
        ax.yaxis.set_tick_params(labelleft=True)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
        else:
            ax.text(0.5, 0.5, "no logged rewards", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle("Reward trends during preference learning (paper Figure 5)")
    fig.text(0.5, 0.01, BAND_CAPTION, ha="center", va="bottom", fontsize=7, wrap=True)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    _save(fig, plt, out)


def plot_best_of_n(rows: Sequence[Mapping[str, Any]], out: Path, title: str, problems: int | None = None) -> None:
    """The paper's Figure 4 for this run: best-of-N pass@1 (%) per reward model, random, greedy, pass@N
    (oracle) and majority vote (when the rows carry it) against N (log2 axis), with 95% bootstrap CIs
    over problems as error bars when the rows carry them."""
    plt = _pyplot()
    ns = [r["n"] for r in rows]
    series = sorted(k for k in rows[0] if k.startswith("best_of_n/") and not k.endswith(("_ci_low", "_ci_high")))
    series += [k for k in ("random", "greedy", "majority", "oracle") if rows[0].get(k) is not None]
    styles = {"random": (":", "s"), "greedy": ("-.", "^"), "majority": ((0, (3, 1, 1, 1, 1, 1)), "D"),
              "oracle": ("--", "v")}  # fmt: skip
    labels = {"random": "random pick", "greedy": "greedy (top logits)", "majority": "majority vote (self-consistency)",
              "oracle": "pass@N (oracle)"}  # fmt: skip
    fig, ax = plt.subplots(figsize=(6.2, 4.4))
    for i, key in enumerate(series):
        dodge = 2 ** (0.04 * (i - (len(series) - 1) / 2))  # spread the error bars of one N apart
        xs = [n * dodge for n in ns]
        ys = [100 * r[key] for r in rows]
        lows, highs = [r.get(f"{key}_ci_low") for r in rows], [r.get(f"{key}_ci_high") for r in rows]
        yerr = None
        if all(v is not None for v in (*lows, *highs)):
            yerr = [[y - 100 * lo for y, lo in zip(ys, lows, strict=True)],
                    [100 * hi - y for y, hi in zip(ys, highs, strict=True)]]  # fmt: skip
        line, marker = styles.get(key, ("-", "o"))
        label = labels.get(key, f"RM: {key.removeprefix('best_of_n/')}")
        ax.errorbar(xs, ys, yerr=yerr, linestyle=line, marker=marker, markersize=4, capsize=3, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.minorticks_off()
    ax.set_xlabel("N (samples reranked, log2 scale)")
    ax.set_ylabel("pass@1 (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    caption = "Error bars: 95% percentile-bootstrap CI over problems"
    fig.text(0.5, 0.01, caption + (f" (n = {problems} problems)." if problems else "."), ha="center", fontsize=7)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    _save(fig, plt, out)


def _save(fig: Any, plt: Any, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
