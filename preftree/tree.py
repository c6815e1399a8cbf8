"""Preference trees -> the datasets every training stage reads, in the UltraInteract release schema.

Views (the UltraInteract release; paper §2.3, §3), built with polars expressions from tree nodes
(``preftree.schema.NODE_SCHEMA`` plus the instruction text):

* ``sft``   -- UltraInteract_sft: every correct action, without interaction history (the paper's
  choice; ``sft_history=True`` prefixes the trajectory text instead).
* ``pairs`` -- UltraInteract_pair: at each turn that has both, the correct and the incorrect action,
  with the trajectory: the instruction, then each earlier expanded incorrect action and the user
  turn that followed it (observation + critique).
* ``kto``   -- unpaired rows for KTO: each pair's chosen (label True) and rejected (label False)
  completion after the same prompt messages.
* ``rm``    -- the pairs plus the paper's cross-turn augmentation (App. B): each correct action
  matched with incorrect actions of *other* turns of the same instruction (same-turn pairs are
  already in ``pairs``), only for instructions with #correct x #incorrect <= max_product, at most
  max_pairs per instruction, each action used at most max_uses times. ``ultrainteract`` marks rows
  derived from UltraInteract trees (the reward loss applies its direct term to those only).

Rows keep the release's ids: ``id = <parent_id>_<depth>_<turn>``, ``parent_id`` = the instruction.

``drop_sft_only`` then removes the preference rows (pairs, kto, rm) of the ``tree.sft_only``
datasets, which contribute SFT rows only (the paper's Magicoder: judged by GPT-4 Turbo, 0 pairs),
and counts what it removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

from preftree.config.tree import RMAugmentParams
from preftree.schema import KTO_SCHEMA, PAIR_SCHEMA, RM_SCHEMA, SFT_SCHEMA

VIEWS: Final = ("sft", "pairs", "kto", "rm")
TOKEN_PATTERN: Final = r"\w+|[^\w\s]"  # word and punctuation tokens: a tokenizer-free length measure


def _user_turn() -> pl.Expr:
    """The user message after an expanded action: observation, then the critique when there is one."""
    return (
        pl.when(pl.col("critique") != "")
        .then(pl.concat_str("observation", pl.lit("\n"), "critique"))
        .otherwise(pl.col("observation"))
    )


def _msg(role: str, value: pl.Expr) -> pl.Expr:
    return pl.struct(pl.lit(role).alias("from"), value.alias("value"))


def with_trajectory(frame: pl.DataFrame, nodes: pl.DataFrame) -> pl.DataFrame:
    """Add `trajectory` to rows keyed by (tree_id, turn): the instruction, then for every earlier
    turn of the tree its expanded action and the user turn that followed it.

    Messages are handled as flat rows (row, earlier turn, position, from, value), sorted once and
    gathered with one group_by: about 6x faster at 1M nodes than concatenating nested lists
    (bench/tree.py)."""
    history = (
        nodes.lazy()
        .filter(pl.col("expanded"))
        .select("tree_id", pl.col("turn").alias("h_turn"), "action", _user_turn().alias("user"))
    )
    seq = lambda k: pl.lit(k, dtype=pl.Int8).alias("seq")  # noqa: E731 - message position within a turn
    messages = pl.concat(
        [
            history.select(
                "tree_id", "h_turn", seq(0), pl.lit("assistant").alias("from"), pl.col("action").alias("value")
            ),
            history.select("tree_id", "h_turn", seq(1), pl.lit("user").alias("from"), pl.col("user").alias("value")),
        ]
    )
    rows = frame.lazy().select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_i"), "tree_id", "turn", "instruction")
    first = rows.select(
        "_i",
        pl.lit(0, dtype=pl.Int32).alias("h_turn"),
        seq(0),
        pl.lit("user").alias("from"),
        pl.col("instruction").alias("value"),
    )
    earlier = (
        rows.select("_i", "tree_id", "turn")
        .join(messages, on="tree_id")
        .filter(pl.col("h_turn") < pl.col("turn"))
        .select("_i", pl.col("h_turn").cast(pl.Int32), "seq", "from", "value")
    )
    trajectory = (
        pl.concat([first, earlier])
        .sort("_i", "h_turn", "seq")
        .group_by("_i", maintain_order=True)
        .agg(pl.struct("from", "value").alias("trajectory"))
        .collect()
    )
    return frame.with_columns(trajectory["trajectory"])


def _ids() -> list[pl.Expr]:
    return [
        pl.col("pair_id").alias("id"),
        pl.col("instruction_id").alias("parent_id"),
        pl.col("task"),
        pl.col("dataset"),
    ]


def pairs_view(nodes: pl.DataFrame) -> pl.DataFrame:
    chosen = nodes.filter(pl.col("role") == "chosen").select(
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
    rejected = nodes.filter(pl.col("role") == "rejected").select("tree_id", "turn", pl.col("action").alias("rejected"))
    pairs = chosen.join(rejected, on=["tree_id", "turn"], how="inner").sort("_order")
    return with_trajectory(pairs, nodes).select(*_ids(), "trajectory", "chosen", "rejected")


def sft_view(nodes: pl.DataFrame, *, history: bool) -> pl.DataFrame:
    chosen = nodes.filter(pl.col("role") == "chosen").sort("_order")
    if history:
        chosen = with_trajectory(chosen, nodes).with_columns(
            pl.col("trajectory").list.eval(pl.element().struct.field("value")).list.join("\n\n").alias("instruction")
        )
    return chosen.select(*_ids(), "instruction", pl.col("action").alias("response"))


def kto_view(pairs: pl.DataFrame) -> pl.DataFrame:
    prompt = pl.col("trajectory").list.eval(
        pl.struct(pl.element().struct.field("from").alias("role"), pl.element().struct.field("value").alias("content"))
    )
    base = pairs.with_row_index("_i").with_columns(prompt.alias("prompt"))

    def side(column: str, label: bool) -> pl.DataFrame:
        completion = pl.concat_list(pl.struct(pl.lit("assistant").alias("role"), pl.col(column).alias("content")))
        return base.select(
            "_i",
            "id",
            "parent_id",
            "task",
            "dataset",
            "prompt",
            completion.alias("completion"),
            pl.lit(label).alias("label"),
        )

    return pl.concat([side("chosen", True), side("rejected", False)]).sort("_i", "label", descending=[False, True])


def _u64(*columns: str, seed: int) -> pl.Expr:
    """A seeded 64-bit hash of the columns. polars' hash is stable within one polars version, which
    pyproject pins exactly; a polars upgrade may reshuffle the split and the RM sample."""
    return pl.concat_str([pl.col(c).cast(pl.String) for c in columns], separator="\x1f").hash(seed=seed)


def augment_rm(nodes: pl.DataFrame, params: RMAugmentParams, *, seed: int) -> pl.DataFrame:
    """Cross-turn single-turn pairs (App. B), with prompt = the instruction alone."""
    cols = ["instruction_id", "turn", "node_id", "action", "task", "dataset", "instruction", "depth"]
    correct = nodes.filter(pl.col("role") == "chosen").select(cols)
    wrong = nodes.filter(pl.col("role") == "rejected").select("instruction_id", "turn", "node_id", "action")
    counts = (
        correct.group_by("instruction_id")
        .len("n_c")
        .join(wrong.group_by("instruction_id").len("n_r"), on="instruction_id")
    )
    eligible = counts.filter(pl.col("n_c") * pl.col("n_r") <= params.max_product).select("instruction_id")
    cand = (
        correct.join(eligible, on="instruction_id")
        .join(wrong, on="instruction_id", suffix="_r")
        .filter(pl.col("turn") != pl.col("turn_r"))
        .with_columns(_u64("node_id", "node_id_r", seed=seed).alias("_key"))
        .sort("instruction_id", "_key")
    )
    # greedy in the shuffled order, within each instruction: each action at most max_uses times, then the cap
    cand = cand.with_columns(
        pl.int_range(pl.len()).over("instruction_id", "node_id").alias("_uses_c"),
        pl.int_range(pl.len()).over("instruction_id", "node_id_r").alias("_uses_r"),
    ).filter((pl.col("_uses_c") < params.max_uses) & (pl.col("_uses_r") < params.max_uses))
    cand = cand.filter(pl.int_range(pl.len()).over("instruction_id") < params.max_pairs)
    return cand.select(
        pl.concat_str("node_id", pl.lit("+"), "node_id_r").alias("id"),
        pl.col("instruction_id").alias("parent_id"),
        "task",
        "dataset",
        pl.concat_list(_msg("user", pl.col("instruction"))).alias("trajectory"),
        pl.col("action").alias("chosen"),
        pl.col("action_r").alias("rejected"),
    )


def rm_view(pairs: pl.DataFrame, nodes: pl.DataFrame, params: RMAugmentParams, *, seed: int) -> pl.DataFrame:
    flags = {"ultrainteract": pl.lit(True)}
    multi = pairs.with_columns(pl.lit(False).alias("augmented"), **flags)
    single = augment_rm(nodes, params, seed=seed).with_columns(pl.lit(True).alias("augmented"), **flags)
    return pl.concat([multi, single]).select(list(RM_SCHEMA))


def build_views(
    nodes: pl.DataFrame, *, sft: pl.DataFrame | None = None, sft_history: bool = False, rm: RMAugmentParams, seed: int
) -> dict[str, pl.DataFrame]:
    """All views from nodes (NODE_SCHEMA + `instruction`); `sft` replaces the derived SFT view
    (an imported UltraInteract_sft file)."""
    missing = [c for c in ("tree_id", "instruction") if c not in nodes.columns or nodes[c].null_count()]
    if missing:
        raise ValueError(f"tree nodes lack {', '.join(missing)} on some rows: the views would merge trees")
    nodes = nodes.with_row_index("_order")
    pairs = pairs_view(nodes)
    views = {
        "sft": sft if sft is not None else sft_view(nodes, history=sft_history),
        "pairs": pairs,
        "kto": kto_view(pairs).select(list(KTO_SCHEMA)),
        "rm": rm_view(pairs, nodes, rm, seed=seed),
    }
    schemas = {"sft": SFT_SCHEMA, "pairs": PAIR_SCHEMA, "kto": KTO_SCHEMA, "rm": RM_SCHEMA}
    return {name: frame.select(list(schemas[name])).cast(dict(schemas[name])) for name, frame in views.items()}


PREFERENCE_VIEWS: Final = ("pairs", "kto", "rm")


def drop_sft_only(
    views: dict[str, pl.DataFrame], datasets: Sequence[str]
) -> tuple[dict[str, pl.DataFrame], dict[str, dict[str, int]]]:
    """The views without the preference rows (pairs, kto, rm) of ``datasets``, and the rows dropped per
    view and dataset (every listed dataset appears, 0 included). SFT rows are kept. Without datasets
    the views are returned as they are, with no counts."""
    if not datasets:
        return views, {}
    names = sorted(set(datasets))
    out, dropped = dict(views), {}
    for view in PREFERENCE_VIEWS:
        if view not in views:
            continue
        frame = views[view]
        gone = frame.filter(pl.col("dataset").is_in(names))["dataset"].value_counts()
        counts = dict(zip(gone["dataset"].to_list(), gone["count"].to_list(), strict=True))
        dropped[view] = {name: int(counts.get(name, 0)) for name in names}
        out[view] = frame.filter(~pl.col("dataset").is_in(names))
    return out, dropped


def heldout_mask(fraction: float, seed: int) -> pl.Expr:
    """True for instructions (by parent_id) in the held-out split: the same ones in every view."""
    return _u64("parent_id", seed=seed).cast(pl.Float64) / float(2**64) < fraction


def split_views(views: dict[str, pl.DataFrame], *, fraction: float, seed: int) -> dict[str, dict[str, pl.DataFrame]]:
    out = {}
    for name, frame in views.items():
        mask = heldout_mask(fraction, seed)
        out[name] = {"train": frame.filter(~mask), "heldout": frame.filter(mask)}
    return out


def tree_stats(nodes: pl.DataFrame, max_turns: int = 5) -> dict[str, dict[str, float]]:
    """The paper's Table 1 per task: instructions, T1..Tk (trees ending at each turn), average
    tokens per trajectory (word/punctuation tokens), trajectories per instruction, pairs, correct
    actions."""
    tokens = lambda c: pl.col(c).str.count_matches(TOKEN_PATTERN)  # noqa: E731
    per_node = nodes.with_columns(
        pl.when(pl.col("expanded"))
        .then(tokens("action") + _user_turn().str.count_matches(TOKEN_PATTERN))
        .when((pl.col("turn") == pl.col("depth")) & (pl.col("role") == "chosen"))
        .then(tokens("action"))
        .otherwise(0)
        .alias("_tok"),
        pl.col("instruction").str.count_matches(TOKEN_PATTERN).alias("_itok"),
    )
    trees = per_node.group_by("tree_id").agg(
        pl.first("task"),
        pl.first("instruction_id"),
        pl.first("depth"),
        (pl.col("_tok").sum() + pl.first("_itok")).alias("tokens"),
    )
    pairs = nodes.filter(pl.col("role") == "chosen").join(
        nodes.filter(pl.col("role") == "rejected").select("tree_id", "turn"), on=["tree_id", "turn"]
    )
    out: dict[str, dict[str, float]] = {}
    for task in [*sorted(trees["task"].unique().to_list()), "all"]:
        pick = (lambda f: f) if task == "all" else (lambda f, t=task: f.filter(pl.col("task") == t))
        t, n, p = pick(trees), pick(nodes), pick(pairs)
        instructions = t["instruction_id"].n_unique()
        row: dict[str, float] = {"instructions": instructions}
        for k in range(1, max_turns + 1):
            hit = pl.col("depth") == k if k < max_turns else pl.col("depth") >= k  # the last column includes deeper
            row[f"T{k}"] = t.filter(hit).height
        row["tokens_per_trajectory"] = round(float(t["tokens"].mean()), 1) if t.height else 0.0
        row["trajectories_per_instruction"] = round(t.height / instructions, 2) if instructions else 0.0
        row["pairs"] = p.height
        row["correct_actions"] = n.filter(pl.col("role") == "chosen").height
        out[task] = row
    return out


def stats_markdown(stats: dict[str, dict[str, float]]) -> str:
    """Table 1 as a markdown table."""
    cols = list(next(iter(stats.values())))
    head = "| task | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols) + "\n"
    fmt = lambda v: f"{v:,.1f}" if isinstance(v, float) else f"{int(v):,}"  # noqa: E731
    return head + "".join(f"| {task} | " + " | ".join(fmt(r[c]) for c in cols) + " |\n" for task, r in stats.items())
