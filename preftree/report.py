"""The run's results in the layout of the paper's Table 3, and the report document around it.

The table (``preftree.report_table``): paper columns only for exactly the paper's data, complete; the
run's other data under their own names (MATH-500, MBPP (full), Tiny, ...); Avg only when all 12 paper
columns ran; under it, the protocol departures that remain (:func:`preftree.report_table.protocol_note`).

:func:`build_report` reads the metrics the upstream stages wrote, draws the figures
(``preftree.report_plots``), judges the paper's claims on the per-item data (``preftree.claims``)
and returns the texts of ``metrics/report.{md,csv}`` and the document of ``metrics/claims.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from preftree.claims import build_claims, claims_document, claims_markdown, read_inputs
from preftree.families import families_markdown, family_rates
from preftree.report_plots import plot_best_of_n, plot_reward_trends, read_curve
from preftree.report_table import csv_table, markdown_table, protocol_note, table_rows
from preftree.world_check import bounds_document, bounds_markdown, pair_differences, world_bounds

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
    protocol: str = "",
) -> str:
    """metrics/report.md: the ``claims`` table (preftree.claims.claims_markdown) first, then the Table 3
    layout with the ``protocol`` note under it (preftree.report_table.protocol_note), the reward
    model's accuracy, the final reward trends (Figure 5) and the best-of-N table
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
            'with the paper\'s published rows below for reference. "–": not evaluated in this run. A paper',
            "column holds only that column's own data, complete; other data have columns of their own, named",
            "by what was evaluated (Tiny / Tiny-MT: the tiny world's held-out set, single-turn pass@1 and",
            "multi-turn success@5). Avg: only when all 12 paper columns ran.",
            "",
            table,
            *([protocol] if protocol else []),
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
    info = metrics / "info" / "eval"  # the eval stages' full records: the budgets used, a setting, are no metric
    records = {p: read_metrics(info / f"{p}.json") if (info / f"{p}.json").is_file() else evals[p] for p in policies}
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
            rows,
            curves,
            best,
            rerank,
            rm,
            claims_markdown(claims),
            families_markdown(rates, policies),
            world,
            protocol_note(records, rows),
        ),
        csv=csv_table(rows),
        table=markdown_table(rows),
        rows=rows,
        figures=figures,
        claims={**claims_document(claims, seed=seed), **({"world": bounds_document(bounds)} if bounds else {})},
    )
