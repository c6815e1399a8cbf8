"""The run's results in the layout of the paper's Table 3, and the report document around it.

:func:`table_rows` maps each policy's ``metrics/eval/<policy>.json`` onto the Table 3 columns (pass@1
x 100; MINT columns = success after 5 turns, or after the last turn when ``max_turns`` < 5); columns the
run did not evaluate are ``None`` (shown as "–"), and ``Avg`` is the mean of the paper columns the row
has ("–" when it has none). Two columns the paper does not have come last: ``Tiny`` (pass@1 on the tiny
world's held-out set) and ``Tiny-MT`` (its multi-turn success@5). The paper's own rows
(paper Table 3) are kept in :data:`PAPER_ROWS` for side-by-side reading.

:func:`build_report` reads the metrics the upstream stages wrote, draws the figures
(``preftree.report_plots``), judges the paper's claims on the per-item data (``preftree.claims``)
and returns the texts of ``metrics/report.{md,csv}`` and the document of ``metrics/claims.json``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from preftree.claims import build_claims, claims_document, claims_markdown, read_inputs
from preftree.families import families_markdown, family_rates
from preftree.report_plots import plot_best_of_n, plot_reward_trends, read_curve
from preftree.world_check import bounds_document, bounds_markdown, pair_differences, world_bounds

PAPER_COLUMNS = (
    "HumanE", "MBPP", "LeetC", "GSM+", "MATH", "TheoQA", "SVAMP", "ASDiv", "BBH", "IFEval", "MINT-Code", "MINT-Math",
)  # fmt: skip
RUN_COLUMNS = ("Tiny", "Tiny-MT")
COLUMNS = (*PAPER_COLUMNS, "Avg", *RUN_COLUMNS)

# benchmark (preftree.evaluate registry name) -> Table 3 column (single-turn pass@1)
BENCHMARK_COLUMN = {
    "humaneval": "HumanE",
    "mbpp": "MBPP",
    "mbpp_eurus": "MBPP",
    "leetcode": "LeetC",
    "gsm_plus": "GSM+",
    "math": "MATH",
    "math500": "MATH",
    "theoremqa": "TheoQA",
    "svamp": "SVAMP",
    "asdiv": "ASDiv",
    "tiny": "Tiny",
}
# multi-turn benchmarks -> column (success@5, item-weighted over the column's benchmarks)
MULTITURN_COLUMN = {
    "mint_humaneval": "MINT-Code",
    "mint_mbpp": "MINT-Code",
    "mint_math": "MINT-Math",
    "mint_theoremqa": "MINT-Math",
    "mint_mmlu": "MINT-Math",
    "tiny": "Tiny-MT",
}

# The paper's Table 3 (arXiv v1), same column order as PAPER_COLUMNS, then Avg.
PAPER_ROWS: dict[str, tuple[float, ...]] = {
    "Mistral-7B-Instruct-v0.2": (39.0, 30.8, 6.1, 15.7, 9.5, 8.5, 42.9, 49.5, 62.4, 44.4, 7.4, 26.2, 28.5),
    "Eurus-7B-SFT": (55.5, 59.1, 20.0, 52.1, 32.6, 20.0, 82.2, 84.1, 64.6, 44.0, 15.4, 28.4, 46.5),
    "Eurus-7B-DPO": (50.6, 52.1, 8.3, 51.0, 28.3, 20.9, 78.7, 83.8, 65.0, 42.5, 20.6, 32.4, 44.5),
    "Eurus-7B-KTO": (56.1, 58.6, 18.9, 55.0, 33.2, 20.6, 84.4, 85.0, 67.6, 43.1, 19.1, 43.6, 48.8),
    "Eurus-7B-NCA": (55.5, 60.2, 14.4, 54.9, 34.2, 20.9, 84.6, 85.4, 64.3, 42.7, 21.3, 38.7, 48.1),
    "Eurus-70B-KTO": (76.8, 68.2, 26.1, 62.2, 41.3, 30.6, 90.4, 89.0, 80.8, 46.4, 39.0, 49.8, 58.4),
    "Eurus-70B-NCA": (79.3, 71.9, 33.3, 62.8, 41.7, 32.6, 89.5, 90.3, 80.0, 49.2, 38.2, 39.6, 59.0),
    "GPT-3.5 Turbo": (76.8, 82.5, 23.3, 61.2, 37.8, 35.6, 83.0, 90.6, 70.1, 56.6, 29.4, 36.9, 57.0),
    "GPT-4": (85.4, 83.5, 41.8, 85.6, 69.7, 52.4, 94.8, 92.6, 86.7, 79.7, 59.6, 65.8, 74.8),
}


def _weighted(pairs: Sequence[tuple[float, int]]) -> float | None:
    total = sum(n for _, n in pairs)
    return sum(v * n for v, n in pairs) / total if total else None


def policy_row(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """One policy's eval metrics -> {column: percent or None}; Avg over the paper columns it has."""
    single: dict[str, list[tuple[float, int]]] = {}
    for bench, entry in (metrics.get("benchmarks") or {}).items():
        column = BENCHMARK_COLUMN.get(bench)
        if column is not None:
            single.setdefault(column, []).append((float(entry["pass@1"]), int(entry.get("n_items", 1))))
    multi: dict[str, list[tuple[float, int]]] = {}
    multiturn = metrics.get("multiturn") or {}
    for bench, entry in (multiturn.get("benchmarks") or {}).items():
        column = MULTITURN_COLUMN.get(bench)
        if column is not None:
            curve = {int(k): float(v) for k, v in entry["success@k"].items()}
            at5 = curve[min(5, max(curve))]  # success@5, or after the last turn when max_turns < 5
            multi.setdefault(column, []).append((at5, int(entry.get("n_items", 1))))
    row: dict[str, float | None] = {}
    for column in (*PAPER_COLUMNS, *RUN_COLUMNS):
        value = _weighted(single.get(column, []) or multi.get(column, []))
        row[column] = None if value is None else 100.0 * value
    present = [row[c] for c in PAPER_COLUMNS if row[c] is not None]
    row["Avg"] = sum(present) / len(present) if present else None  # type: ignore[arg-type]
    return row


def table_rows(evals: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float | None]]:
    """{policy: row} in the order given."""
    return {policy: policy_row(metrics) for policy, metrics in evals.items()}


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def markdown_table(rows: Mapping[str, Mapping[str, float | None]], paper: bool = True) -> str:
    """This run's rows, then (``paper``) the paper's rows with "–" in the run-only columns."""
    lines = ["| model | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for name, row in rows.items():
        lines.append(f"| **{name}** (this run) | " + " | ".join(_cell(row.get(c)) for c in COLUMNS) + " |")
    if paper:
        for name, values in PAPER_ROWS.items():
            cells = dict(zip((*PAPER_COLUMNS, "Avg"), values, strict=True))
            lines.append(f"| {name} (paper) | " + " | ".join(_cell(cells.get(c)) for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def csv_table(rows: Mapping[str, Mapping[str, float | None]]) -> str:
    """This run's rows and the paper's, one line each, with a `source` column (run | paper)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "source", *COLUMNS])
    for name, row in rows.items():
        writer.writerow([name, "run", *("" if row.get(c) is None else f"{row[c]:.2f}" for c in COLUMNS)])
    for name, values in PAPER_ROWS.items():
        cells = dict(zip((*PAPER_COLUMNS, "Avg"), values, strict=True))
        writer.writerow([name, "paper", *("" if cells.get(c) is None else f"{cells[c]:.2f}" for c in COLUMNS)])
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# the report document


@dataclass(frozen=True)
class Report:
    """What the report stage writes: ``markdown`` (metrics/report.md), ``csv`` (metrics/report.csv),
    ``claims`` (metrics/claims.json), the Table 3 ``table`` it prints, the run's ``rows`` it logs,
    and the ``figures`` drawn."""

    markdown: str
    csv: str
    table: str
    rows: dict[str, dict[str, float | None]]
    figures: tuple[Path, ...]
    claims: dict[str, Any]

    @property
    def metrics(self) -> dict[str, Any]:
        """What the stage logs: each run row without the columns it did not evaluate."""
        return {"rows": {p: {k: v for k, v in r.items() if v is not None} for p, r in self.rows.items()}}


def read_metrics(path: Path) -> dict[str, Any]:
    """A metrics JSON an upstream stage wrote; a missing file names the file and what writes it."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `dvc repro` for the stage that writes it")
    return json.loads(path.read_text(encoding="utf-8"))


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.3f}"


def rm_line(key: str, m: Mapping[str, Any]) -> str:
    """The report's line for one reward model's metrics (metrics/rm/<key>.json); a run without held-out
    pairs (tree.heldout_fraction 0, as experiment=eurus7b) says so instead of printing a 0% accuracy."""
    head = f"Reward model `models/rm/{key}` ({m.get('loss_kind')}): "
    if not m.get("heldout_pairs"):
        return head + "no held-out pairs (tree.heldout_fraction 0): held-out pairwise accuracy not measured."
    return (
        head + f"held-out pairwise accuracy {100 * (m.get('heldout_accuracy') or 0):.1f}% on {m.get('heldout_pairs')} "
        "pairs ("
        + ", ".join(f"{t} {100 * a:.1f}" for t, a in (m.get("heldout_accuracy_by_task") or {}).items())
        + f"); untrained head {100 * (m.get('heldout_accuracy_init') or 0):.1f}%."
    )


def report_markdown(
    rows: Mapping[str, Mapping[str, float | None]],
    curves: Mapping[str, Mapping[str, list[float | None]]],
    best: Sequence[Mapping[str, Any]],
    rerank: Mapping[str, Any],
    rm: Mapping[str, Mapping[str, Any]],
    claims: str = "",
    families: str = "",
    world: str = "",
) -> str:
    """metrics/report.md: the ``claims`` table (preftree.claims.claims_markdown) first, then the Table 3
    layout, the reward model's accuracy, the final reward trends (Figure 5) and the best-of-N table
    (Figure 4), linking the figures under ``plots/``."""
    section = ["## The paper's claims in this run", "", claims] if claims else []
    if families:
        section += [
            "## Per task family (the tiny world's held-out set)",
            "",
            "pass@1 % [95% bootstrap CI over problems]; a family at 0 % can show no effect of any method.",
            "",
            families,
            "",
        ]
    if world:
        section += [
            "## Is this world informative? (issue #13's bounds, judged on this run)",
            "",
            "Each bound is decided by a fixed rule on this run's figures (`preftree.world_check`): a run",
            "with another seed says by itself whether its comparisons can be read.",
            "",
            world,
            "",
        ]
    table = markdown_table(rows)
    rm_lines = [rm_line(key, m) for key, m in rm.items()]
    final = {m: {k: c[k][-1] for k in ("rewards_chosen", "rewards_rejected", "margins") if c.get(k)}
             for m, c in curves.items()}  # fmt: skip
    trend_lines = [
        f"| {m} | {_signed(v.get('rewards_chosen'))} | {_signed(v.get('rewards_rejected'))} "
        f"| {_signed(v.get('margins'))} |"
        for m, v in final.items()
    ]
    bon, labels = best_of_n_table(best)
    extra = [line for name, entry in (rerank.get("benchmarks") or {}).items() for line in extra_section(name, entry)]
    return "\n".join(
        [
            "# preftree report",
            "",
            *section,
            "## Table 3 layout",
            "",
            "This run's policies in the layout of the paper's Table 3 (pass@1 %, MINT columns = success@5 %),",
            'with the paper\'s published rows below for reference. "–": not evaluated in this run. Tiny /',
            "Tiny-MT: the tiny world's held-out set, single-turn pass@1 and multi-turn success@5.",
            "",
            table,
            *rm_lines,
            "",
            "## Reward trends (paper Figure 5): final logged step",
            "",
            "| method | rewards/chosen | rewards/rejected | margin |",
            "|---|---|---|---|",
            *trend_lines,
            "",
            "![reward trends](plots/reward_trends.png)",
            "",
            f"## Best-of-N (paper Figure 4): {rerank['policy']} samples on {rerank['benchmark']}, "
            f"{rerank['problems']} problems, greedy pass@1 {100 * rerank['greedy_pass@1']:.1f}%",
            "",
            "pass@1 % [95% bootstrap CI over problems] of each reward model's top pick, a random pick and pass@N",
            "(and majority vote on a math benchmark).",
            "",
            labels,
            "|---|" + "---|" * labels.count(" | "),
            *bon,
            "",
            "![best of N](plots/best_of_n.png)",
            "",
            *extra,
        ]
    )


def best_of_n_table(best: Sequence[Mapping[str, Any]]) -> tuple[list[str], str]:
    """(the rows, the header) of a best-of-N table: pass@1 % [95% CI] of each reward model's top pick, a
    random pick, pass@N and, when the rerank stage computed it (math benchmarks), majority vote."""
    series = [k for k in best[0] if k.startswith("best_of_n/") and not k.endswith(("_ci_low", "_ci_high"))]
    series += ["random", "oracle"] + (["majority"] if best[0].get("majority") is not None else [])

    def cell(row: Mapping[str, Any], key: str) -> str:  # pass@1 % [95% CI] when the rerank stage stored one
        low, high = row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
        ci = f" [{100 * low:.1f}, {100 * high:.1f}]" if low is not None and high is not None else ""
        return f"{100 * row[key]:.1f}{ci}"

    names = {"oracle": "pass@N", "majority": "majority vote"}
    header = "| N | " + " | ".join(names.get(k, k.removeprefix("best_of_n/")) for k in series) + " |"
    return [f"| {r['n']} | " + " | ".join(cell(r, k) for k in series) + " |" for r in best], header


def extra_section(name: str, entry: Mapping[str, Any]) -> list[str]:
    """The report lines of a further reranked benchmark (metrics/info/rerank.json ``benchmarks.<name>``)."""
    best = [{"n": int(n), **values} for n, values in entry["best_of_n"].items()]
    rows, header = best_of_n_table(best)
    greedy = entry.get("greedy_pass@1")
    return [
        f"### Best-of-N on {name}: {entry['problems']} problems"
        + (f", greedy pass@1 {100 * greedy:.1f}%" if greedy is not None else ""),
        "",
        header,
        "|---|" + "---|" * header.count(" | "),
        *rows,
        "",
        f"![best of N on {name}](plots/best_of_n_{name}.png)",
        "",
    ]


def build_report(metrics: Path, policies: Sequence[str], *, data: Path, seed: int) -> Report:
    """Read ``<metrics>/eval/<policy>.json`` for each policy, ``<metrics>/align/*.csv``,
    ``<metrics>/info/rerank.json`` and ``<metrics>/info/rm/<key>.json``; draw ``<metrics>/plots/reward_trends.png``
    and ``<metrics>/plots/best_of_n.png``; judge the claims on the per-item files under ``data``
    (bootstrap ``seed``); return the report's texts (the caller writes them)."""
    evals = {policy: read_metrics(metrics / "eval" / f"{policy}.json") for policy in policies}
    rows = table_rows(evals)
    curves = {p.stem: read_curve(p) for p in sorted((metrics / "align").glob("*.csv"))}
    rerank = read_metrics(metrics / "info" / "rerank.json")  # info/: strings and the whole curve too
    rm = {p.stem: read_metrics(p) for p in sorted((metrics / "info" / "rm").glob("*.json"))}
    best = [{"n": int(n), **values} for n, values in rerank["best_of_n"].items()]
    figures = (metrics / "plots" / "reward_trends.png", metrics / "plots" / "best_of_n.png")
    plot_reward_trends(curves, figures[0])
    plot_best_of_n(best, figures[1], f"best-of-N on {rerank['benchmark']} ({rerank['policy']})", rerank["problems"])
    for name, entry in (rerank.get("benchmarks") or {}).items():  # further reranked benchmarks
        curve = [{"n": int(n), **values} for n, values in entry["best_of_n"].items()]
        out = metrics / "plots" / f"best_of_n_{name}.png"
        plot_best_of_n(curve, out, f"best-of-N on {name} ({rerank['policy']})", entry["problems"])
    inputs = read_inputs(data, metrics, policies)
    claims = build_claims(inputs, seed=seed)
    heldout = data / "selected" / "heldout.parquet"  # the tiny world's problems: option counts for chance
    problems = pl.read_parquet(heldout, columns=["id", "problem"]).rows() if heldout.is_file() else []
    rates = family_rates(inputs.responses, dict(problems), seed=seed, best_modes=inputs.best_modes)
    pairs = pair_differences(inputs.responses, seed=seed, best_modes=inputs.best_modes)
    truncated = {p: e.get("prompts_truncated") for p, e in evals.items()}
    bounds = world_bounds(rates, pairs, rm, rerank, truncated) if rates.rates else []
    world = bounds_markdown(bounds) if bounds else ""
    return Report(
        markdown=report_markdown(
            rows, curves, best, rerank, rm, claims_markdown(claims), families_markdown(rates, policies), world
        ),
        csv=csv_table(rows),
        table=markdown_table(rows),
        rows=rows,
        figures=figures,
        claims={**claims_document(claims, seed=seed), **({"world": bounds_document(bounds)} if bounds else {})},
    )
