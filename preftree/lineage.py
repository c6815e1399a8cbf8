"""Where an artifact came from: the chain of stages that produced it, read from ``dvc.lock``.

    python -m preftree.lineage models/kto                 # the chain down to the sources
    python -m preftree.lineage metrics/report.md --json
    python -m preftree.lineage --row <pair id>            # one record back to its tree node and source row

For the stage that wrote PATH (an output, or a file inside an output folder) and, recursively, every
stage whose outputs it read: the command, the declared params with the values it ran with, the md5 of
its code (deps no stage produces) and of each input (deps another stage produced), all as ``dvc.lock``
recorded them, plus the MLflow run that logged it. A run-cache hit restores outputs without running
the script, so such a stage has no MLflow run; the chain then says so and stands on ``dvc.lock`` alone.

``--row`` follows one record: a pair / SFT / KTO / RM row id (``<instruction>_<depth>_<turn>``, RM
augmentations ``<node>+<node>``), a tree node id, an instruction id, or a tiny-world eval item; it
prints the view files holding it, its tree nodes (turn, role, actor, origin), the instruction row in
``data/selected`` and the source dataset row it was loaded from.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from preftree.config.workspace import workspace_root


@dataclass
class StageLineage:
    stage: str
    cmd: str
    params: dict[str, Any]
    code: dict[str, str]  # dep path -> md5 (deps no stage produces: code, external files)
    inputs: dict[str, str]  # dep path -> md5 (deps another stage produced)
    outs: dict[str, str]
    mlflow_run: str | None
    upstream: list[StageLineage] = field(default_factory=list)


def read_lock(root: Path) -> dict[str, dict]:
    path = root / "dvc.lock"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `dvc repro` first")
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("stages", {})


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def producer(path: str, lock: dict[str, dict]) -> tuple[str, str] | None:
    """(stage, out path) for the recorded output that is ``path`` or a folder containing it."""
    best: tuple[str, str] | None = None
    for stage, entry in lock.items():
        for out in entry.get("outs", []):
            if _within(path, out["path"]) and (best is None or len(out["path"]) > len(best[1])):
                best = (stage, out["path"])
    return best


def producers(path: str, lock: dict[str, dict]) -> list[str]:
    """Stages with an output that is ``path``, contains it, or lies inside it (a folder of metrics files)."""
    return [
        stage
        for stage, entry in lock.items()
        if any(_within(path, o["path"]) or _within(o["path"], path) for o in entry.get("outs", []))
    ]


def downstream(stages: set[str], lock: dict[str, dict]) -> set[str]:
    """``stages`` and every stage that reads, directly or through others, what they write."""
    readers: dict[str, set[str]] = {}
    for stage, entry in lock.items():
        for dep in entry.get("deps", []):
            for maker in producers(dep["path"], lock):
                if maker != stage:
                    readers.setdefault(maker, set()).add(stage)
    found, todo = set(stages), list(stages)
    while todo:
        for reader in readers.get(todo.pop(), ()):
            if reader not in found:
                found.add(reader)
                todo.append(reader)
    return found


def _flat_params(entry: dict) -> dict[str, Any]:
    return {k: v for values in (entry.get("params") or {}).values() for k, v in values.items()}


class _Runs:
    """MLflow child runs by stage, read once from the repo's store (none when there is no store)."""

    def __init__(self, root: Path) -> None:
        self.by_stage: dict[str, list[Any]] = {}
        db = root / "mlflow.db"
        if not db.is_file():
            return
        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"sqlite:///{db}")
        experiment = client.get_experiment_by_name("preftree")
        if experiment is None:
            return
        runs = client.search_runs(
            [experiment.experiment_id], filter_string="tags.`preftree.role` = 'stage'", order_by=["start_time DESC"]
        )
        for run in runs:
            self.by_stage.setdefault(run.data.tags.get("dvc.stage", ""), []).append(run)

    def match(self, stage: str, inputs: dict[str, str], params_sha: str) -> str | None:
        """The newest finished run of ``stage`` whose params hash and recorded input md5s (``dep.<path>``
        tags, hashed from the bytes the stage read) equal dvc.lock's deps of that stage (``inputs``)."""
        for run in self.by_stage.get(stage, []):
            tags = run.data.tags
            if run.info.status != "FINISHED" or tags.get("params.sha256") != params_sha:
                continue
            if all(tags.get(f"dep.{path}") == md5 for path, md5 in inputs.items()):
                return run.info.run_id
        return None


def _params_sha(flat: dict[str, Any]) -> str:
    from preftree.tracking import params_hash

    raw: dict[str, Any] = {}
    for key, value in flat.items():
        node = raw
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return params_hash(raw)


def stage_lineage(stage: str, lock: dict[str, dict], runs: _Runs, seen: dict[str, StageLineage]) -> StageLineage:
    if stage in seen:
        return seen[stage]
    entry = lock[stage]
    code: dict[str, str] = {}
    inputs: dict[str, str] = {}
    upstream: list[str] = []
    for dep in entry.get("deps", []):
        makers = [s for s in producers(dep["path"], lock) if s != stage]
        (inputs if makers else code)[dep["path"]] = dep.get("md5", "")
        upstream += [s for s in makers if s not in upstream]
    params = _flat_params(entry)
    node = StageLineage(
        stage=stage,
        cmd=str(entry.get("cmd", "")),
        params=params,
        code=code,
        inputs=inputs,
        outs={o["path"]: o.get("md5", "") for o in entry.get("outs", [])},
        mlflow_run=runs.match(stage, inputs, _params_sha(params)),
    )
    seen[stage] = node
    node.upstream = [stage_lineage(s, lock, runs, seen) for s in upstream]
    return node


def lineage(path: str, root: Path | None = None) -> StageLineage:
    """The chain of stages behind ``path`` (relative to the repo root)."""
    root = root or workspace_root()
    lock = read_lock(root)
    rel = Path(path).resolve().relative_to(root.resolve()).as_posix() if Path(path).is_absolute() else path
    rel = rel.rstrip("/")
    found = producer(rel, lock)
    if found is None:
        raise FileNotFoundError(f"{rel}: no stage in dvc.lock produced it (outputs: see `dvc stage list --all`)")
    return stage_lineage(found[0], lock, _Runs(root), {})


def as_dict(node: StageLineage, listed: set[str] | None = None) -> dict[str, Any]:
    listed = set() if listed is None else listed
    if node.stage in listed:
        return {"stage": node.stage, "see_above": True}
    listed.add(node.stage)
    return {
        "stage": node.stage,
        "cmd": node.cmd,
        "mlflow_run": node.mlflow_run,
        "params": node.params,
        "code_md5": node.code,
        "inputs_md5": node.inputs,
        "outs_md5": node.outs,
        "upstream": [as_dict(u, listed) for u in node.upstream],
    }


def render(node: StageLineage, depth: int = 0, listed: set[str] | None = None) -> list[str]:
    listed = set() if listed is None else listed
    pad = "  " * depth
    if node.stage in listed:
        return [f"{pad}- {node.stage} (see above)"]
    listed.add(node.stage)
    run = node.mlflow_run or "none (run-cache hit or not run here): lineage from dvc.lock alone"
    lines = [f"{pad}- {node.stage}: `{node.cmd}`", f"{pad}    mlflow run: {run}"]
    for key, value in node.params.items():
        lines.append(f"{pad}    param {key} = {json.dumps(value, sort_keys=True)}")
    for dep, md5 in node.code.items():
        lines.append(f"{pad}    code  {dep}  {md5}")
    for dep, md5 in node.inputs.items():
        lines.append(f"{pad}    input {dep}  {md5}")
    for up in node.upstream:
        lines.extend(render(up, depth + 1, listed))
    return lines


# --------------------------------------------------------------------------------------------
# one record


def _parquet_rows(folder: Path, column: str, value: str) -> list[tuple[Path, dict[str, Any]]]:
    import polars as pl

    hits = []
    for path in sorted(folder.rglob("*.parquet")) if folder.is_dir() else []:
        frame = pl.read_parquet(path)
        if column in frame.columns:
            for row in frame.filter(pl.col(column) == value).iter_rows(named=True):
                hits.append((path, row))
    return hits


def _short(row: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: (str(row[k])[:120] if isinstance(row.get(k), str) else row.get(k)) for k in keys if k in row}


def trace_row(row_id: str, root: Path | None = None) -> dict[str, Any]:
    """A record's path back to its tree nodes, instruction and source row (what exists of it)."""
    root = root or workspace_root()
    out: dict[str, Any] = {"id": row_id, "views": [], "nodes": [], "instruction": None, "evaluations": []}
    for path, _row in _parquet_rows(root / "data/tree", "id", row_id):
        view = path.relative_to(root).as_posix()
        if view not in out["views"]:  # the kto view holds a chosen and a rejected row per id
            out["views"].append(view)
    node_ids = [part for part in row_id.split("+")]
    nodes: list[dict[str, Any]] = []
    for part in node_ids:
        key = "node_id" if part.endswith(("_c", "_r")) else "pair_id"
        nodes += [row for _, row in _parquet_rows(root / "data/interact", key, part)]
    keep = ("node_id", "pair_id", "turn", "role", "correct", "origin", "actor", "mode", "instruction_id")
    out["nodes"] = [_short(n, keep) for n in nodes]
    instruction = nodes[0]["instruction_id"] if nodes else row_id.split("_")[0]
    selected = _parquet_rows(root / "data/selected", "id", instruction)
    if selected:
        path, row = selected[0]
        out["instruction"] = {
            "file": path.relative_to(root).as_posix(),
            **_short(row, ("id", "task", "dataset", "source_row", "problem_id", "instruction")),
        }
    by_file: dict[str, dict[str, Any]] = {}
    for path, row in _parquet_rows(root / "data/eval", "id", instruction):
        entry = by_file.setdefault(path.relative_to(root).as_posix(), {})
        if "turn" in row:  # multi-turn episode: one row per turn
            entry.update(turns=max(entry.get("turns", 0), row["turn"]), solved_turn=row["solved_turn"])
        else:
            entry.setdefault("verdicts", []).append({"mode": row["mode"], "correct": row["correct"]})
    out["evaluations"] = [{"file": f, **e} for f, e in by_file.items()]
    if not (out["views"] or out["nodes"] or out["instruction"]):
        raise KeyError(f"{row_id}: not found in data/tree, data/interact or data/selected")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", help="a model folder, data file or metrics file of this repo")
    parser.add_argument("--row", help="follow one record id back to its tree node, instruction and source row")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    if not args.path and not args.row:
        parser.error("give a PATH, --row ID, or both")
    try:
        result: dict[str, Any] = {}
        text: list[str] = []
        if args.path:
            node = lineage(args.path)
            result["lineage"] = as_dict(node)
            text += [f"{args.path} <- stage {node.stage}", *render(node)]
        if args.row:
            row = trace_row(args.row)
            result["row"] = row
            text += [f"row {args.row}"]
            text += [f"  in {v}" for v in row["views"]]
            text += [f"  node {json.dumps(n)}" for n in row["nodes"]]
            if row["instruction"]:
                i = row["instruction"]
                text.append(f"  instruction {i['id']} ({i['file']}): task {i.get('task')}, {i.get('instruction')!r}")
                text.append(f"  source: dataset {i.get('dataset')!r}, row {i.get('source_row')}")
            for e in row["evaluations"]:
                detail = {k: v for k, v in e.items() if k != "file"}
                text.append(f"  evaluated in {e['file']}: {json.dumps(detail)}")
    except (FileNotFoundError, KeyError) as err:
        print(f"lineage: error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=1, default=str) if args.json else "\n".join(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
