"""Tree views at UltraInteract scale: preftree.tree (polars) against a pure-Python baseline, same run.

A vectorised generator makes ~1M nodes / ~230K instructions shaped like UltraInteract (the release schema,
Table 1: task mix, depth T1..T5 per task, a chosen + a rejected node per turn, ~4% of turns without the
chosen one, every turn but the last expanded with "Out: ...\\nYour answer is wrong." + a critique). Both
sides build sft / pairs / kto / rm (App. B) and the held-out split and must agree on row counts per view
and split, and row for row (sorted by id) on a --check-rows node subsample. Then polars' stages are
profiled, with a proposed faster with_trajectory (long_form_trajectory) timed and checked equal.

    .venv/bin/python bench/tree.py [--nodes 1000000] [--seed 0] [--check-rows 20000] [--fraction 0]

--fraction 0 (auto): a 1/20 pilot estimates the baseline; above ~3 min it runs on 1/4 of the trees and
its time is scaled linearly (printed as such). --profile-only: generation + polars profile only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from preftree import tree as T  # noqa: E402
from preftree.compose import from_conf  # noqa: E402
from preftree.config.tree import RMAugmentParams, TreeParams  # noqa: E402
from preftree.schema import NODE_SCHEMA  # noqa: E402

Row = dict[str, Any]
# Table 1 (interactive rows): instructions, T1..T5, and datasets (Logic = both Logic rows)
TASKS: dict[str, tuple[int, tuple[int, ...], tuple[str, ...]]] = {
    "Math_PoT": (22928, (10440, 4122, 1898, 904, 5564), ("gsm8k", "MATH", "mathqa", "numglue", "tabmwp")),
    "Math_CoT": (22639, (10708, 3521, 1459, 723, 6228), ("gsm8k", "MATH", "mathqa", "numglue")),
    "Coding": (20463, (13265, 2584, 987, 379, 3248), ("codecontest", "taco", "wikitablequestions")),
    "Logic": (6553, (4138, 1972, 412, 8, 23), ("reclor", "hotpotqa", "strategyqa")),
}
PREFIX = {
    "Math_PoT": "Tool available:\n[1] Python interpreter\nSolve the following math problem step-by-step.\n",
    "Math_CoT": "Solve the following math problem step-by-step.\nSimplify your answer as much as possible.\n",
    "Coding": "Write Python code to solve the task.\n",
    "Logic": "Solve the following problem step-by-step:\n",
}
MISS = 0.04  # share of turns without a chosen node (pairs != turns)
VOCAB = (
    "the value of x is we compute sum total number each step answer = + - * / ( ) 12 7 3.5 list "
    "for in range if else return def print result count price cost times minus plus so first then "
    "let n be array string index len check condition loop table row column find"
).split()


def _text(rng: np.random.Generator, chunks: pl.Series, n: int, lo: int, hi: int) -> pl.Series:
    """n strings of lo..hi characters: random slices of random-word chunks (views, then one copy)."""
    frame = pl.DataFrame(
        {
            "s": chunks.gather(rng.integers(0, len(chunks), n)),
            "o": rng.integers(0, 1000 - hi, n),
            "l": rng.integers(lo, hi, n),
        }
    )
    return frame.select(pl.col("s").str.slice("o", "l")).to_series()


def generate(n_nodes: int, seed: int) -> pl.DataFrame:
    """~n_nodes nodes (NODE_SCHEMA + instruction) in interact's order: tree, turn, chosen then rejected."""
    rng = np.random.default_rng(seed)
    chunks = pl.Series([" ".join(w) for w in rng.choice(VOCAB, size=(4096, 260))])
    names = list(TASKS)
    weight = np.array([TASKS[t][0] for t in names], float) / sum(TASKS[t][0] for t in names)
    probs = [np.array(TASKS[t][1], float) / sum(TASKS[t][1]) for t in names]
    mean_depth = sum(w * (p @ np.arange(1, 6)) for w, p in zip(weight, probs, strict=True))
    n = max(1, round(n_nodes / (mean_depth * (2 - MISS))))
    task = rng.choice(len(names), n, p=weight)
    depth, dataset, ds_all = np.zeros(n, np.int32), np.zeros(n, np.int64), [d for t in names for d in TASKS[t][2]]
    for k, p in enumerate(probs):
        m = int((task == k).sum())
        depth[task == k] = rng.choice(5, m, p=p) + 1
        dataset[task == k] = ds_all.index(TASKS[names[k]][2][0]) + rng.integers(0, len(TASKS[names[k]][2]), m)
    hexes = rng.bytes(32 * n).hex()
    trees = (
        pl.DataFrame(
            {
                "instruction_id": [hexes[i : i + 64] for i in range(0, 64 * n, 64)],
                "task": pl.Series(names).gather(task),
                "dataset": pl.Series(ds_all).gather(dataset),
                "depth": depth,
                "source_row": np.arange(n, dtype=np.int64),
                "_q": _text(rng, chunks, n, 200, 600),
            }
        )
        .with_columns(
            pl.concat_str(pl.col("task").replace_strict(PREFIX), "_q").alias("instruction"),
            pl.concat_str("dataset", pl.lit("/"), "source_row").alias("problem_id"),
        )
        .drop("_q")
    )
    tix = np.repeat(np.arange(n), depth)  # one entry per turn
    turn = (np.arange(len(tix)) - np.repeat(np.cumsum(depth) - depth, depth) + 1).astype(np.int32)
    miss = (rng.random(len(tix)) < MISS) & ((turn < depth[tix]) | (depth[tix] == 5))
    slot, role = np.repeat(np.arange(len(tix)), 2), np.tile(np.array([0, 1], np.int8), len(tix))
    keep = ~((role == 0) & miss[slot])
    slot, role, m = slot[keep], role[keep], int(keep.sum())
    iid, pot, chosen = pl.col("instruction_id"), pl.col("task").is_in(["Math_PoT", "Coding"]), pl.col("_role") == 0
    pair = pl.concat_str(iid, pl.lit("_"), "depth", pl.lit("_"), "turn")
    expanded = ~chosen & (pl.col("turn") < pl.col("depth"))
    u, lit = pl.col("_u"), pl.lit
    origin = (
        pl.when(u < 0.8)
        .then(lit("sample"))
        .when(chosen & (u < 0.95))
        .then(lit("escalation"))
        .when(chosen)
        .then(lit("guided"))
        .otherwise(lit("weak"))
    )
    nodes = pl.concat(
        [
            trees[tix[slot]],
            pl.DataFrame(
                {
                    "turn": turn[slot],
                    "_role": role,
                    "_u": rng.random(m),
                    "_k": rng.integers(0, 20, m),
                    "_s1": _text(rng, chunks, m, 80, 400),
                    "_s2": _text(rng, chunks, m, 60, 300),
                    "_code": _text(rng, chunks, m, 60, 300),
                    "_out": _text(rng, chunks, m, 10, 120),
                    "_crit": _text(rng, chunks, m, 100, 500),
                }
            ),
        ],
        how="horizontal",
    )
    nodes = nodes.with_columns(
        pl.concat_str(pair, pl.when(chosen).then(pl.lit("_c")).otherwise(pl.lit("_r"))).alias("node_id"),
        pair.alias("pair_id"),
        pl.when(pl.col("turn") > 1)
        .then(pl.concat_str(iid, pl.lit("_"), "depth", pl.lit("_"), pl.col("turn") - 1, pl.lit("_r")))
        .alias("parent_id"),
        iid.alias("tree_id"),
        pl.when(chosen).then(pl.lit("chosen")).otherwise(pl.lit("rejected")).alias("role"),
        chosen.alias("correct"),
        expanded.alias("expanded"),
        pl.when(pot)
        .then(
            pl.concat_str(
                pl.lit("Step 1: "),
                "_s1",
                pl.lit("\nStep 2: "),
                "_s2",
                pl.lit("\n```python\n# Step 3: compute\n"),
                "_code",
                pl.lit("\n```"),
            )
        )
        .otherwise(
            pl.concat_str(
                pl.lit("Step 1: "),
                "_s1",
                pl.lit("\nStep 2: "),
                "_s2",
                pl.lit("\n\nAnswer:\n\\boxed{"),
                "_k",
                pl.lit("}"),
            )
        )
        .alias("action"),
        pl.when(pot).then(pl.lit("pot")).otherwise(pl.lit("cot")).alias("mode"),
        pl.when(pot).then(pl.col("_code")).otherwise(pl.lit("")).alias("code"),
        pl.when(~chosen)
        .then(pl.concat_str(pl.lit("Out: "), "_out", pl.lit("\nYour answer is wrong.")))
        .when(pot)
        .then(pl.concat_str(pl.lit("Out: "), "_k", pl.lit("\nYour answer is correct.")))
        .otherwise(pl.lit("Your answer is correct."))
        .alias("observation"),
        pl.when(expanded).then(pl.col("_crit")).otherwise(pl.lit("")).alias("critique"),
        origin.alias("origin"),
        pl.when(origin == "weak").then(pl.lit("mistral-7b-instruct")).otherwise(pl.lit("gpt-3.5-turbo")).alias("actor"),
        pl.concat_str(
            pl.lit('{"index": '),
            "_k",
            pl.lit(', "seed": '),
            (u * 2**31).cast(pl.Int64),
            pl.lit(', "temperature": 1.0, "top_p": 1.0}'),
        ).alias("sampling"),
        pl.lit(None, pl.String).alias("mistake"),
    )
    schema = {**NODE_SCHEMA, "instruction": pl.String}
    return nodes.select(list(schema)).cast(schema)


# ------------------------------------------------------------------------------------------------
# baseline: the same views with dicts, lists and loops

NEED = [
    "node_id",
    "pair_id",
    "instruction_id",
    "tree_id",
    "task",
    "dataset",
    "turn",
    "role",
    "expanded",
    "action",
    "observation",
    "critique",
    "instruction",
]


def py_keys(strings: list[str], seed: int) -> list[int]:
    """The baseline's one polars call: the split and the RM sample are *defined* by polars' seeded
    string hash (preftree.tree._u64), which has no pure-Python equivalent; one batched call per use."""
    return pl.Series(strings, dtype=pl.String).hash(seed=seed).to_list()


def py_user_turn(n: Row) -> str | None:
    crit, obs = n["critique"], n["observation"]
    return obs if crit is None or crit == "" else None if obs is None else f"{obs}\n{crit}"


def _ids(n: Row) -> Row:
    return {"id": n["pair_id"], "parent_id": n["instruction_id"], "task": n["task"], "dataset": n["dataset"]}


def py_views(nodes: list[Row], rm: RMAugmentParams, seed: int) -> dict[str, list[Row]]:
    rejected: dict[tuple[str, int], list[Row]] = defaultdict(list)
    history: dict[str, list[tuple[int, Row, Row]]] = defaultdict(list)
    correct_by: dict[str, list[Row]] = defaultdict(list)
    wrong_by: dict[str, list[Row]] = defaultdict(list)
    for n in nodes:
        if n["role"] == "chosen":
            correct_by[n["instruction_id"]].append(n)
        elif n["role"] == "rejected":
            rejected[(n["tree_id"], n["turn"])].append(n)
            wrong_by[n["instruction_id"]].append(n)
        if n["expanded"]:
            history[n["tree_id"]].append(
                (n["turn"], {"from": "assistant", "value": n["action"]}, {"from": "user", "value": py_user_turn(n)})
            )
    for steps in history.values():
        steps.sort(key=lambda s: s[0])
    sft, pairs, kto = [], [], []
    for n in nodes:
        if n["role"] != "chosen":
            continue
        sft.append({**_ids(n), "instruction": n["instruction"], "response": n["action"]})
        for r in rejected.get((n["tree_id"], n["turn"]), ()):
            traj = [{"from": "user", "value": n["instruction"]}]
            for h_turn, act, user in history.get(n["tree_id"], ()):
                if h_turn < n["turn"]:
                    traj += [act, user]
            pairs.append({**_ids(n), "trajectory": traj, "chosen": n["action"], "rejected": r["action"]})
    for p in pairs:
        prompt = [{"role": m["from"], "content": m["value"]} for m in p["trajectory"]]
        ids = {k: p[k] for k in ("id", "parent_id", "task", "dataset")}
        for col, label in (("chosen", True), ("rejected", False)):
            kto.append(
                {**ids, "prompt": prompt, "completion": [{"role": "assistant", "content": p[col]}], "label": label}
            )
    rm_rows = [{**p, "augmented": False, "ultrainteract": True} for p in pairs]
    per_iid: list[tuple[str, list[tuple[Row, Row]]]] = []
    for iid in sorted(correct_by):
        cs, ws = correct_by[iid], wrong_by.get(iid)
        if ws and len(cs) * len(ws) <= rm.max_product:
            per_iid.append((iid, [(c, w) for c in cs for w in ws if c["turn"] != w["turn"]]))
    keys = iter(py_keys([f"{c['node_id']}\x1f{w['node_id']}" for _, cw in per_iid for c, w in cw], seed))
    for iid, cw in per_iid:
        cand = sorted(((next(keys), i, c, w) for i, (c, w) in enumerate(cw)), key=lambda x: x[0])
        uses_c: Counter[str] = Counter()
        uses_r: Counter[str] = Counter()
        kept = 0
        for _, _, c, w in cand:  # occurrences are counted over all candidates, as in the polars window
            ok = uses_c[c["node_id"]] < rm.max_uses and uses_r[w["node_id"]] < rm.max_uses
            uses_c[c["node_id"]] += 1
            uses_r[w["node_id"]] += 1
            if ok and kept < rm.max_pairs:
                kept += 1
                rm_rows.append(
                    {
                        "id": f"{c['node_id']}+{w['node_id']}",
                        "parent_id": iid,
                        "task": c["task"],
                        "dataset": c["dataset"],
                        "trajectory": [{"from": "user", "value": c["instruction"]}],
                        "chosen": c["action"],
                        "rejected": w["action"],
                        "augmented": True,
                        "ultrainteract": True,
                    }
                )
    return {"sft": sft, "pairs": pairs, "kto": kto, "rm": rm_rows}


def py_split(views: dict[str, list[Row]], fraction: float, seed: int) -> dict[str, dict[str, list[Row]]]:
    pids = sorted({r["parent_id"] for rows in views.values() for r in rows})
    held = {p: h / float(2**64) < fraction for p, h in zip(pids, py_keys(pids, seed), strict=True)}
    out = {}
    for name, rows in views.items():
        parts: dict[str, list[Row]] = {"train": [], "heldout": []}
        for r in rows:
            parts["heldout" if held[r["parent_id"]] else "train"].append(r)
        out[name] = parts
    return out


# ------------------------------------------------------------------------------------------------


def polars_run(nodes: pl.DataFrame, seed: int, fraction: float) -> dict[str, dict[str, pl.DataFrame]]:
    return T.split_views(
        T.build_views(nodes, rm=from_conf(RMAugmentParams, "tree.rm"), seed=seed), fraction=fraction, seed=seed
    )


def python_run(rows: list[Row], seed: int, fraction: float) -> dict[str, dict[str, list[Row]]]:
    return py_split(py_views(rows, from_conf(RMAugmentParams, "tree.rm"), seed), fraction, seed)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    return fn(), time.perf_counter() - t0


def trees_subset(nodes: pl.DataFrame, target_nodes: int, seed: int) -> pl.DataFrame:
    """Whole trees, drawn at random, until ~target_nodes nodes."""
    sizes = nodes.group_by("tree_id").len().sort("tree_id").sample(fraction=1.0, shuffle=True, seed=seed)
    pick = sizes.filter(pl.col("len").cum_sum() <= target_nodes)["tree_id"]
    return nodes.filter(pl.col("tree_id").is_in(pick.implode()))


def counts(out: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {f"{v}/{s}": len(out[v][s]) for v in T.VIEWS for s in ("train", "heldout")}


def key(r: Row) -> tuple[str, bool]:
    return r["id"], bool(r.get("label"))


def check_content(nodes: pl.DataFrame, seed: int, fraction: float) -> None:
    pol = polars_run(nodes, seed, fraction)
    py = python_run(nodes.select(NEED).to_dicts(), seed, fraction)
    for v in T.VIEWS:
        for s in ("train", "heldout"):
            a, b = sorted(pol[v][s].to_dicts(), key=key), sorted(py[v][s], key=key)
            if a != b:
                bad = (
                    (len(a), len(b)) if len(a) != len(b) else next((x, y) for x, y in zip(a, b, strict=True) if x != y)
                )
                raise SystemExit(f"content mismatch in {v}/{s}: {bad}")
    print(f"content check: {nodes.height:,} nodes, {counts(pol)} -- polars == python on every row")


def profile(nodes: pl.DataFrame, seed: int, fraction: float) -> None:
    """Stages of build_views one by one on the same nodes, then the proposed with_trajectory."""
    rm = from_conf(RMAugmentParams, "tree.rm")
    n = nodes.with_row_index("_order")
    chosen = n.filter(pl.col("role") == "chosen").select(
        "tree_id",
        "turn",
        "pair_id",
        "instruction_id",
        "task",
        "dataset",
        "instruction",
        "_order",
        pl.col("action").alias("chosen"),
    )
    rej = n.filter(pl.col("role") == "rejected").select("tree_id", "turn", pl.col("action").alias("rejected"))
    base, t_join = timed(lambda: chosen.join(rej, on=["tree_id", "turn"], how="inner").sort("_order"))
    st: dict[str, float] = {"pairs_view: join+sort": t_join}
    ref, st["pairs_view: with_trajectory"] = timed(lambda: T.with_trajectory(base, n))
    pairs, st["pairs_view (total)"] = timed(lambda: T.pairs_view(n))
    _, st["kto_view"] = timed(lambda: T.kto_view(pairs))
    _, st["augment_rm"] = timed(lambda: T.augment_rm(n, rm, seed=seed))
    _, st["rm_view (incl. augment_rm)"] = timed(lambda: T.rm_view(pairs, n, rm, seed=seed))
    _, st["sft_view"] = timed(lambda: T.sft_view(n, history=False))
    views, st["build_views (all)"] = timed(lambda: T.build_views(nodes, rm=rm, seed=seed))
    _, st["split_views"] = timed(lambda: T.split_views(views, fraction=fraction, seed=seed))
    print(f"\npolars stages on {nodes.height:,} nodes (s):\n" + "\n".join(f"  {k:<30} {v:7.2f}" for k, v in st.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check-rows", type=int, default=20_000, help="nodes in the row-for-row equality check")
    ap.add_argument("--fraction", type=float, default=0.0, help="baseline on this share of trees (0 = auto)")
    ap.add_argument("--profile-only", action="store_true")
    args, heldout = ap.parse_args(), from_conf(TreeParams, "tree").heldout_fraction
    nodes, t_gen = timed(lambda: generate(args.nodes, args.seed))
    pairs = (
        nodes.filter(pl.col("role") == "chosen")
        .join(nodes.filter(pl.col("role") == "rejected").select("tree_id", "turn"), on=["tree_id", "turn"])
        .height
    )
    depth = nodes.unique("tree_id")["depth"].value_counts().sort("depth")
    print(
        f"generated in {t_gen:.1f} s: {nodes.height:,} nodes, {nodes['tree_id'].n_unique():,} instructions, "
        f"{pairs:,} pairs, {nodes['turn'].filter(nodes['role'] == 'rejected').len():,} turns; depth T1..T5 = "
        f"{depth['count'].to_list()}; mean action {nodes['action'].str.len_chars().mean():.0f} chars, "
        f"instruction {nodes['instruction'].str.len_chars().mean():.0f}"
    )
    if args.profile_only:
        return profile(nodes, args.seed, heldout)
    check_content(trees_subset(nodes, args.check_rows, args.seed), args.seed, heldout)

    c0 = time.process_time()
    pol, t_pol = timed(lambda: polars_run(nodes, args.seed, heldout))
    cpu_pol = time.process_time() - c0
    frac = args.fraction
    if frac <= 0:  # pilot on 1/20 of the trees
        pilot = trees_subset(nodes, nodes.height // 20, args.seed + 1)
        _, t_pilot = timed(lambda: python_run(pilot.select(NEED).to_dicts(), args.seed, heldout))
        est = t_pilot * nodes.height / pilot.height
        frac = 1.0 if est <= 180 else 0.25
        print(f"baseline pilot: {t_pilot:.1f} s on {pilot.height:,} nodes -> ~{est:.0f} s estimated for all")
    part = nodes if frac >= 1 else trees_subset(nodes, int(nodes.height * frac), args.seed + 2)
    rows, t_conv = timed(lambda: part.select(NEED).to_dicts())
    c0 = time.process_time()
    py, t_py = timed(lambda: python_run(rows, args.seed, heldout))
    cpu_py = time.process_time() - c0
    scale = nodes.height / part.height
    ref = pol if frac >= 1 else polars_run(part, args.seed, heldout)
    if counts(ref) != counts(py):
        raise SystemExit(f"row counts differ: polars {counts(ref)} python {counts(py)}")
    total = lambda out: {v: sum(len(x) for x in out[v].values()) for v in T.VIEWS}  # noqa: E731
    pc, pyc = total(pol), total(py)
    rows.clear(), py.clear()  # free the baseline's ~5 GB before the profile
    print(f"row counts per view/split equal on {part.height:,} nodes" + ("" if frac >= 1 else " (the baseline's part)"))

    def line(label, sec, n, tail=""):
        return print(
            f"{label:<36} {sec:8.2f} "
            + " ".join(  # noqa: E731
                f"{n[v]:>9,}" for v in T.VIEWS
            )
            + tail
        )

    print(f"\n{'implementation':<36} {'seconds':>8} " + " ".join(f"{c:>9}" for c in T.VIEWS) + "  python/polars")
    line("polars build_views+split_views", t_pol, pc)
    line(
        "python baseline" + ("" if frac >= 1 else " (on part)"), t_py, pyc, "" if frac < 1 else f"  {t_py / t_pol:.1f}"
    )
    if frac < 1:
        line(
            f"python baseline, scaled x{scale:.2f}",
            t_py * scale,
            {v: round(c * scale) for v, c in pyc.items()},
            f"  {t_py * scale / t_pol:.1f} (linear scaling of a {part.height:,}-node part)",
        )
    print(
        f"(baseline input: to_dicts of {len(NEED)} columns took {t_conv:.1f} s, not counted; "
        f"polars threads: {pl.thread_pool_size()}; heldout fraction {heldout})\n"
        f"(CPU seconds, all threads: polars {cpu_pol:.2f}, python {cpu_py:.2f}{'' if frac >= 1 else ' on the part'};"
        f" load average {' '.join(f'{x:.1f}' for x in os.getloadavg())})"
    )
    profile(nodes, args.seed, heldout)


if __name__ == "__main__":
    main()
