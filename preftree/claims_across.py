"""The paper's claims across runs (seeds): per-run effects, a pooled effect and a pooled verdict.

    dvc exp run --queue -S seed=0 -S seed=1 -S seed=2 && dvc queue start   (or: -S seed=0,1,2)
    python -m preftree.claims_across                  # every experiment of this commit (HEAD)
    python -m preftree.claims_across exp-a exp-b      # named experiments, git revisions or claims.json files
    python -m preftree.claims_across --write          # also writes metrics/claims_across.{md,json}

Each run's ``metrics/claims.json`` is read from git (``git show <ref>:metrics/claims.json``); by
default the runs are the DVC experiments whose baseline is HEAD (``refs/exps/<sha[:2]>/<sha[2:]>/<name>``),
so no DVC call is needed. For each sub-claim, the runs that estimated it are pooled with random-effects
weights (:func:`preftree.stats.pool_random`, DerSimonian-Laird: seeds are different worlds, and where
their effects disagree beyond their CIs the between-seed variance widens the pooled CI; where they agree
it is fixed-effect inverse-variance pooling; n = the units of all runs together) and judged by the same
rule as one run (:func:`preftree.stats.verdict`, with the row's direction and margin); a claim's
sub-claims combine as in one run (:func:`preftree.stats.combine`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from preftree.io import atomic_write_text, write_json
from preftree.stats import Estimate, combine, pool_random, verdict

CLAIMS_PATH = "metrics/claims.json"
POOLING_RULE = (
    "Pooled: random-effects (DerSimonian-Laird) pooling of the runs that estimated the row (w = 1/(se^2 + "
    "tau^2), tau^2 the between-run variance, 0 when the runs agree within their CIs; 95% CI = effect +- 1.96 se; "
    "n = units of all runs); verdict by the same rule as one run."
)


def _estimate(row: Mapping[str, Any]) -> Estimate | None:
    if row.get("effect") is None or row.get("se") is None:
        return None
    return Estimate(row["effect"], row["ci_low"], row["ci_high"], int(row["n"]), row["se"])


def aggregate(runs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """{label: claims.json document} -> ``{"runs": {label: seed}, "claims": [row...], "verdicts"}``
    where each row has ``id, claim, text, unit, per_run: {label: {effect, ci_low, ci_high, n, verdict}},
    pooled: {effect, ci_low, ci_high, n, se} | None, verdict`` (rows in the first run's order)."""
    order: list[str] = []
    meta: dict[str, Mapping[str, Any]] = {}
    for doc in runs.values():
        for row in doc.get("claims", []):
            if row["id"] not in meta:
                order.append(row["id"])
                meta[row["id"]] = row
    rows = []
    for rid in order:
        first = meta[rid]
        per_run: dict[str, dict[str, Any]] = {}
        estimates = []
        for label, doc in runs.items():
            row = next((r for r in doc.get("claims", []) if r["id"] == rid), None)
            if row is None:
                continue
            per_run[label] = {k: row.get(k) for k in ("effect", "ci_low", "ci_high", "n", "verdict")}
            if (est := _estimate(row)) is not None:
                estimates.append(est)
        pooled = pool_random(estimates) if estimates else None
        judged = verdict(pooled, int(first["direction"]), margin=float(first.get("margin") or 0.0))
        rows.append(
            {
                "id": rid,
                "claim": first["claim"],
                "text": first["text"],
                "paper": first.get("paper"),
                "unit": first.get("unit"),
                "per_run": per_run,
                "pooled": None if pooled is None else pooled.as_dict(),
                "runs_pooled": len(estimates),
                "verdict": judged,
            }
        )
    groups: dict[str, list[Any]] = {}
    for row in rows:
        groups.setdefault(row["claim"], []).append(row["verdict"])
    return {
        "runs": {label: doc.get("seed") for label, doc in runs.items()},
        "claims": rows,
        "verdicts": {c: combine(v) for c, v in groups.items()},
        "rule": POOLING_RULE,
        "world": world_across(runs),
    }


def world_across(runs: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each run's tiny-world bounds (claims.json ``world``, preftree.world_check): one row per bound,
    ``{"bound", "per_run": {label: {"met", "figure"}}}``, in the first run's order; [] when no run has them."""
    order: list[str] = []
    per: dict[str, dict[str, dict[str, Any]]] = {}
    for label, doc in runs.items():
        for b in (doc.get("world") or {}).get("bounds", []):
            if b["bound"] not in per:
                order.append(b["bound"])
                per[b["bound"]] = {}
            per[b["bound"]][label] = {"met": b.get("met"), "figure": b.get("figure")}
    return [{"bound": text, "per_run": per[text]} for text in order]


def _cell(entry: Mapping[str, Any] | None) -> str:
    if not entry or entry.get("effect") is None:
        return "–"
    return f"{entry['effect']:+.2f} [{entry['ci_low']:+.2f}, {entry['ci_high']:+.2f}]"


def markdown(result: Mapping[str, Any]) -> str:
    """One table: claim, one column per run (effect [95% CI]), pooled effect [CI] and verdict."""
    labels = list(result["runs"])
    heads = [f"{label} (seed {seed})" for label, seed in result["runs"].items()]
    lines = [
        "| id | claim | " + " | ".join(heads) + " | pooled | n | verdict |",
        "|---|---|" + "---|" * len(heads) + "---|---|---|",
    ]
    for row in result["claims"]:
        cells = [_cell(row["per_run"].get(label)) for label in labels]
        n = "–" if row["pooled"] is None else str(row["pooled"]["n"])
        lines.append(
            f"| {row['id']} | {row['text']} | " + " | ".join(cells) + f" | {_cell(row['pooled'])} | {n} "
            f"| **{row['verdict']}** |"
        )
    combined = ", ".join(f"{c} {v}" for c, v in result["verdicts"].items())
    out = [*lines, "", f"Per claim: {combined}.", "", f"- {result['rule']}", ""]
    if result.get("world"):
        mark = {True: "yes", False: "**no**", None: "not run"}
        out += [
            "Is each run's tiny world informative? (issue #13's bounds, `preftree.world_check`: figure, met)",
            "",
            "| bound | " + " | ".join(heads) + " |",
            "|---|" + "---|" * len(heads),
        ]
        for row in result["world"]:
            cells = [row["per_run"].get(label) for label in labels]
            out.append(
                f"| {row['bound']} | "
                + " | ".join("–" if c is None else f"{c['figure']}: {mark[c['met']]}" for c in cells)
                + " |"
            )
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# reading runs from git


def _git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ValueError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def experiment_refs(root: Path, baseline: str = "HEAD") -> dict[str, str]:
    """{experiment name: ref} of the DVC experiments whose baseline is ``baseline``."""
    sha = _git(root, "rev-parse", baseline).strip()
    prefix = f"refs/exps/{sha[:2]}/{sha[2:]}/"
    refs = _git(root, "for-each-ref", "--format=%(refname)", prefix).split()
    return {ref.removeprefix(prefix): ref for ref in sorted(refs)}


def _all_experiment_refs(root: Path) -> dict[str, str]:
    refs = _git(root, "for-each-ref", "--format=%(refname)", "refs/exps/").split()
    named = [ref.split("/") for ref in sorted(refs)]
    return {parts[4]: "/".join(parts) for parts in named if len(parts) == 5 and len(parts[2]) == 2}


def read_run(root: Path, name: str) -> dict[str, Any]:
    """A run's claims document: ``name`` is a claims.json file, a DVC experiment name or a git revision."""
    path = Path(name)
    if path.suffix == ".json" and path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    ref = _all_experiment_refs(root).get(name, name)
    return json.loads(_git(root, "show", f"{ref}:{CLAIMS_PATH}"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m preftree.claims_across", description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="*", help="experiment names, git revisions or claims.json files "
                        "(default: every experiment whose baseline is HEAD)")  # fmt: skip
    parser.add_argument("--write", action="store_true", help="write metrics/claims_across.{md,json}")
    parser.add_argument("--root", type=Path, default=Path("."), help="the git workspace (default: .)")
    args = parser.parse_args(argv)
    names = list(args.runs) or list(experiment_refs(args.root))
    if not names:
        print("claims_across: no experiments of HEAD; run `dvc exp run --queue -S seed=0,1,2` first", file=sys.stderr)
        return 1
    result = aggregate({name: read_run(args.root, name) for name in names})
    text = markdown(result)
    print(text, end="")
    if args.write:
        write_json(args.root / "metrics" / "claims_across.json", result)
        atomic_write_text(args.root / "metrics" / "claims_across.md", "# Claims across runs\n\n" + text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, KeyError, json.JSONDecodeError) as err:
        sys.exit(f"claims_across: error: {err}")
