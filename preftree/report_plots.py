"""The report's figures: the paper's Figure 5 (reward trends) and Figure 4 (best-of-N) for this run."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def read_curve(path: Path) -> dict[str, list[float | None]]:
    """A metrics CSV (header + rows) as columns; empty cells are None."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    columns = reader.fieldnames or []
    return {c: [float(r[c]) if r[c] not in ("", None) else None for r in rows] for c in columns}


def plot_reward_trends(curves: Mapping[str, Mapping[str, list[float | None]]], out: Path) -> None:
    """The paper's Figure 5 for this run: margins, rewards/chosen and rewards/rejected per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
    for ax, (column, title) in zip(
        axes,
        (("margins", "Margins"), ("rewards_chosen", "Rewards/Chosen"), ("rewards_rejected", "Rewards/Rejected")),
        strict=True,
    ):
        for method, curve in curves.items():
            points = [(s, v) for s, v in zip(curve["step"], curve.get(column, []), strict=False) if v is not None]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", markersize=3, label=method)
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.set_title(title)
        ax.set_xlabel("step")
    axes[0].legend()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_best_of_n(rows: Sequence[Mapping[str, Any]], out: Path, title: str) -> None:
    """The paper's Figure 4 for this run: best-of-N pass@1 per reward model, random, greedy and pass@N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [r["n"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.8), constrained_layout=True)
    for key in sorted(k for k in rows[0] if k.startswith("best_of_n/")):
        ax.plot(ns, [100 * r[key] for r in rows], marker="o", label=f"RM: {key.removeprefix('best_of_n/')}")
    ax.plot(ns, [100 * r["random"] for r in rows], linestyle=":", label="random")
    ax.plot(ns, [100 * r["oracle"] for r in rows], linestyle="--", label="pass@N (oracle)")
    if rows[0].get("greedy") is not None:
        ax.plot(ns, [100 * r["greedy"] for r in rows], linestyle="-.", label="greedy")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_xlabel("N (samples reranked)")
    ax.set_ylabel("pass@1 (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
