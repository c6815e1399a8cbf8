"""The run's results in the layout of the paper's Table 3, named by the data each number rests on.

:func:`policy_row` maps one policy's ``metrics/eval/<policy>.json`` onto columns (pass@1 x 100; MINT
columns = success after 5 turns, or after the last turn when ``max_turns`` < 5):

* a paper column (:data:`PAPER_COLUMNS`) holds a number only when the run evaluated exactly that
  column's data, complete: the benchmark whose registry ``column`` is that name (``mbpp_eurus`` is
  MBPP, ``math`` is MATH), all its rows (``BenchmarkSpec.rows``); MINT-Code / MINT-Math need every
  MINT subset of theirs (Code: HumanEval + MBPP; Math: MATH + TheoremQA + MMLU);
* any other data gets a column of its own, named by the registry (``math500`` is "MATH-500", full MBPP
  "MBPP (full)", GSM8K "GSM8K", the tiny world "Tiny"); a partial run adds its size ("HumanE (12 of
  164)"); multi-turn runs of single-turn benchmarks add "-MT" ("Tiny-MT");
* ``Avg`` is the mean of the 12 paper columns, shown only when all 12 ran (the paper's Avg).

:func:`protocol_note` lists, under the table, every protocol departure that remains for the data the
run evaluated (the registry's ``departures``), budgets capped below the official ones, partial sets
and why Avg is missing. The paper's own rows (paper Table 3) are :data:`PAPER_ROWS`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

from preftree.evaluate.registry import BENCHMARKS, official_max_new_tokens

PAPER_COLUMNS = (
    "HumanE", "MBPP", "LeetC", "GSM+", "MATH", "TheoQA", "SVAMP", "ASDiv", "BBH", "IFEval", "MINT-Code", "MINT-Math",
)  # fmt: skip
COLUMNS = (*PAPER_COLUMNS, "Avg")  # every table has these; the run's other data columns follow
# multi-turn paper columns -> the MINT subsets they pool (item-weighted success@5; Eurus's 136 / 225 items)
MULTITURN_PAPER = {
    "MINT-Code": ("mint_humaneval", "mint_mbpp"),
    "MINT-Math": ("mint_math", "mint_theoremqa", "mint_mmlu"),
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
_PARTIAL = re.compile(r" \(\d+ of \d+\)$")


def _weighted(pairs: Sequence[tuple[float, int]]) -> float | None:
    total = sum(n for _, n in pairs)
    return sum(v * n for v, n in pairs) / total if total else None


def _base_label(name: str, multiturn: bool) -> str:
    spec = BENCHMARKS.get(name)
    label = (spec.column or spec.name) if spec is not None else name
    return f"{label}-MT" if multiturn and not label.startswith("MINT") else label


def complete(name: str, n_items: int) -> bool:
    """Whether a run of ``name`` on ``n_items`` items covered the whole set (unknown size: yes)."""
    spec = BENCHMARKS.get(name)
    return spec is None or spec.rows is None or n_items >= spec.rows


def label(name: str, n_items: int, multiturn: bool = False) -> str:
    """The column of a benchmark's result: the registry's name for its data, with the size when partial."""
    base = _base_label(name, multiturn)
    spec = BENCHMARKS.get(name)
    if spec is None or complete(name, n_items):
        return base
    return f"{base} ({n_items} of {spec.rows})"


def _rank(column: str) -> tuple[int, int, str]:
    """Order of the run's own columns: single-turn before multi-turn, then registry order."""
    base = _PARTIAL.sub("", column)
    order = list(BENCHMARKS)
    for multiturn in (False, True):
        for i, name in enumerate(order):
            if _base_label(name, multiturn) == base:
                return (int(multiturn), i, column)
    return (2, 0, column)


def _success_at_5(entry: Mapping[str, Any]) -> float:
    curve = {int(k): float(v) for k, v in entry["success@k"].items()}
    return curve[min(5, max(curve))]  # success@5, or after the last turn when max_turns < 5


def policy_row(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """One policy's eval metrics -> {column: percent or None}: the paper columns and Avg (None where the
    run did not evaluate that data), then a column per other data the run evaluated."""
    row: dict[str, float | None] = dict.fromkeys(COLUMNS)
    extra: dict[str, float] = {}
    for bench, entry in (metrics.get("benchmarks") or {}).items():
        n = int(entry.get("n_items", 1))
        column = label(bench, n)
        target = row if column in PAPER_COLUMNS else extra
        target[column] = 100.0 * float(entry["pass@1"])
    multi = (metrics.get("multiturn") or {}).get("benchmarks") or {}
    pooled: set[str] = set()
    for column, names in MULTITURN_PAPER.items():
        if all(b in multi and complete(b, int(multi[b].get("n_items", 1))) for b in names):
            value = _weighted([(_success_at_5(multi[b]), int(multi[b].get("n_items", 1))) for b in names])
            row[column] = None if value is None else 100.0 * value
            pooled.update(names)
    for bench, entry in multi.items():
        if bench not in pooled:
            extra[label(bench, int(entry.get("n_items", 1)), multiturn=True)] = 100.0 * _success_at_5(entry)
    paper = [row[c] for c in PAPER_COLUMNS]
    row["Avg"] = sum(v for v in paper if v is not None) / len(paper) if all(v is not None for v in paper) else None
    for column in sorted(extra, key=_rank):
        row[column] = extra[column]
    return row


def table_rows(evals: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float | None]]:
    """{policy: row} in the order given."""
    return {policy: policy_row(metrics) for policy, metrics in evals.items()}


def columns(rows: Mapping[str, Mapping[str, float | None]]) -> tuple[str, ...]:
    """The table's columns: :data:`COLUMNS`, then every other column some row has, in order."""
    extra = {c for row in rows.values() for c in row if c not in COLUMNS}
    return (*COLUMNS, *sorted(extra, key=_rank))


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def markdown_table(rows: Mapping[str, Mapping[str, float | None]], paper: bool = True) -> str:
    """This run's rows, then (``paper``) the paper's rows with "–" in the run's own columns."""
    cols = columns(rows)
    lines = ["| model | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name, row in rows.items():
        lines.append(f"| **{name}** (this run) | " + " | ".join(_cell(row.get(c)) for c in cols) + " |")
    if paper:
        for name, values in PAPER_ROWS.items():
            cells = dict(zip(COLUMNS, values, strict=True))
            lines.append(f"| {name} (paper) | " + " | ".join(_cell(cells.get(c)) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def csv_table(rows: Mapping[str, Mapping[str, float | None]]) -> str:
    """This run's rows and the paper's, one line each, with a `source` column (run | paper)."""
    cols = columns(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "source", *cols])
    for name, row in rows.items():
        writer.writerow([name, "run", *("" if row.get(c) is None else f"{row[c]:.2f}" for c in cols)])
    for name, values in PAPER_ROWS.items():
        cells = dict(zip(COLUMNS, values, strict=True))
        writer.writerow([name, "paper", *("" if cells.get(c) is None else f"{cells[c]:.2f}" for c in cols)])
    return out.getvalue()


def _caps(name: str, entry: Mapping[str, Any]) -> list[str]:
    """The prompt styles whose recorded budget (``max_new_tokens_by_mode``, metrics/info/eval) is below the
    official one."""
    if name not in BENCHMARKS:
        return []
    used = entry.get("max_new_tokens_by_mode") or {}
    return [f"{mode} {int(n)} (official {official_max_new_tokens(name, mode)})" for mode, n in used.items()
            if int(n) < official_max_new_tokens(name, mode)]  # fmt: skip


def protocol_note(evals: Mapping[str, Mapping[str, Any]], rows: Mapping[str, Mapping[str, float | None]]) -> str:
    """The lines under the table: why Avg is missing, then per evaluated data set its columns' departures
    from the official protocol (registry ``departures``), capped budgets and partial sets."""
    lines: list[str] = []
    missing = sorted({c for row in rows.values() for c in PAPER_COLUMNS if row.get(c) is None},
                     key=PAPER_COLUMNS.index)  # fmt: skip
    if missing:
        lines.append(f"- **Avg**: the mean of all 12 paper columns, shown only when all ran; not run here: "
                     f"{', '.join(missing)}.")  # fmt: skip
    seen: dict[str, list[str]] = {}
    for metrics in evals.values():
        for bench, entry in (metrics.get("benchmarks") or {}).items():
            notes = seen.setdefault(bench, [])
            found = [f"max new tokens capped by eval.generation.max_new_tokens: {cap}" for cap in _caps(bench, entry)]
            n = int(entry.get("n_items", 1))
            if not complete(bench, n):
                found.append(f"{n} of {BENCHMARKS[bench].rows} items (a limit or a smaller file)")
            notes.extend(text for text in found if text not in notes)
        for bench in (metrics.get("multiturn") or {}).get("benchmarks") or {}:
            seen.setdefault(bench, [])
    for bench in sorted(seen, key=lambda b: list(BENCHMARKS).index(b) if b in BENCHMARKS else len(BENCHMARKS)):
        spec = BENCHMARKS.get(bench)
        departures = [*(spec.departures if spec is not None else ()), *seen[bench]]
        if departures:
            head = f"- **{_base_label(bench, False)}** (`{bench}`): "
            lines.append(head + "; ".join(departures) + ".")
    if not lines:
        return ""
    intro = ("Protocol departures that remain (each benchmark's official settings and every difference: "
             "docs/evaluation-protocol.md):")  # fmt: skip
    return "\n".join([intro, "", *lines]) + "\n"
