"""Import and export the public UltraInteract release files (paper §2; the Hugging Face release).

``read_release`` validates ``UltraInteract_pair`` (and optionally ``UltraInteract_sft``) rows and
rebuilds preference-tree nodes (``preftree.schema.NODE_SCHEMA`` plus ``instruction``) from which
``preftree.tree.build_views`` reproduces every pair row exactly: same order, same trajectory text.

Reconstruction rule. Rows with the same id prefix ``<parent_id>_<depth>`` are dealt, in file order,
into trees: a row joins the first tree of its prefix that has no pair at its turn yet and whose
history agrees with the row's trajectory (same messages where both have them, and the tree's
rejected actions equal the assistant messages of the row at those turns, and vice versa); otherwise
it starts a new tree. So the many depth-1 rows that share one id become one tree each, and a row
whose history contradicts an earlier row of its id keeps its own trajectory in a tree of its own.
``tree_id = <parent_id>_<depth>_<k>`` for the k-th tree of a prefix; node ids are ``<id>_c`` /
``<id>_r`` (``_c_<k>`` / ``_r_<k>`` for k > 0). In each tree the longest trajectory is the history:
the rejected node of turn t is ``expanded`` iff a later pair of the tree exists, and its
``observation`` holds the whole user message that follows it (critique ``""``). Turns below the last
pair that have no pair of their own get a rejected-only node (its action and the next user message
from that history), so ``build_views`` sees the full trajectory but makes no pair there.

``write_release`` writes ``0000_sft.parquet`` / ``0000_pair.parquet`` with plain arrow ``string`` /
``list`` types, so ``datasets`` loads them with the release's Features (polars would write
``large_string``), and the ``dataset`` column in the release's spelling (``math`` -> ``MATH``,
``codecontests`` -> ``codecontest``: ``preftree.release_names``). ``read_release`` keeps the names
as the files spell them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import polars as pl

from preftree.io import write_parquet
from preftree.release_names import with_release_dataset_names
from preftree.schema import NODE_SCHEMA, PAIR_SCHEMA, SFT_SCHEMA, TASKS
from preftree.sources.files import RowError, read_rows

SFT_FILE: Final = "0000_sft.parquet"
PAIR_FILE: Final = "0000_pair.parquet"
_ID_RE: Final = re.compile(r"([0-9a-f]{64})_([0-9]+)_([0-9]+)")
_STRINGS: Final = ("id", "parent_id", "task", "dataset")
_ROLES: Final = ("user", "assistant")
NODE_RELEASE_SCHEMA: Final = pl.Schema({**NODE_SCHEMA, "instruction": pl.String})


class ReleaseError(ValueError):
    """A release file row that does not follow the UltraInteract schema (one line: file, row, field)."""


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _show(value: str, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _check_string(row: Mapping[str, Any], name: str) -> str:
    if name not in row:
        raise ValueError(f"field {name!r}: missing")
    if not isinstance(row[name], str):
        raise ValueError(f"field {name!r}: expected str, got {_kind(row[name])}")
    return row[name]


def _check_ids(row: Mapping[str, Any]) -> tuple[str, int, int]:
    """Validate id, parent_id, task, dataset; return (hash, depth, turn)."""
    values = {name: _check_string(row, name) for name in _STRINGS}
    match = _ID_RE.fullmatch(values["id"])
    if match is None:
        raise ValueError(f"field 'id': expected '<64 hex>_<depth>_<turn>', got {_show(values['id'])}")
    digest, depth, turn = match[1], int(match[2]), int(match[3])
    if not depth >= turn >= 1:
        raise ValueError(f"field 'id': expected depth >= turn >= 1, got depth {depth} and turn {turn}")
    if values["parent_id"] != digest:
        raise ValueError(f"field 'parent_id': expected the id's hash {digest!r}, got {_show(values['parent_id'])}")
    if values["task"] not in TASKS:
        raise ValueError(f"field 'task': expected one of {', '.join(TASKS)}, got {_show(values['task'])}")
    return digest, depth, turn


def _check_trajectory(row: Mapping[str, Any], turn: int) -> list[tuple[str, str]]:
    if "trajectory" not in row:
        raise ValueError("field 'trajectory': missing")
    value = row["trajectory"]
    if not isinstance(value, list) or not value:
        got = "an empty list" if isinstance(value, list) else _kind(value)
        raise ValueError(f"field 'trajectory': expected a non-empty list of {{from, value}}, got {got}")
    messages = []
    for i, msg in enumerate(value):
        where = f"field 'trajectory': message {i}"
        if not isinstance(msg, dict):
            raise ValueError(f"{where}: expected a {{from, value}} object, got {_kind(msg)}")
        for key in ("from", "value"):
            if not isinstance(msg.get(key), str):
                got = "missing" if key not in msg else _kind(msg[key])
                raise ValueError(f"{where}: expected {key!r} to be a str, got {got}")
        if msg["from"] not in _ROLES:
            raise ValueError(f"{where}: expected 'from' to be 'user' or 'assistant', got {_show(msg['from'])}")
        if msg["from"] != _ROLES[i % 2]:
            raise ValueError(
                f"{where}: expected from {_ROLES[i % 2]!r} (user/assistant alternate, user first), got {msg['from']!r}"
            )
        messages.append((msg["from"], msg["value"]))
    if len(messages) != 2 * turn - 1:
        raise ValueError(
            f"field 'trajectory': expected {2 * turn - 1} messages at turn {turn} "
            f"(user first and last), got {len(messages)}"
        )
    return messages


@dataclass
class _Pair:
    index: int  # 0-based row of the file
    row: dict[str, Any]
    prefix: str  # <hash>_<depth>
    depth: int
    turn: int
    messages: list[tuple[str, str]]
    tree: _Tree | None = None


@dataclass
class _Tree:
    key: str  # tree_id
    k: int  # occurrence index within its id prefix
    history: _Pair  # the pair with the longest trajectory
    pairs: dict[int, _Pair] = field(default_factory=dict)  # turn -> pair

    def accepts(self, pair: _Pair) -> bool:
        if pair.turn in self.pairs:
            return False
        hist, own = self.history.messages, pair.messages
        n = min(len(hist), len(own))
        if hist[:n] != own[:n]:
            return False
        if len(hist) > 2 * pair.turn - 1 and hist[2 * pair.turn - 1][1] != pair.row["rejected"]:
            return False  # the tree already continued from another rejected action at this turn
        return all(len(own) <= 2 * t - 1 or own[2 * t - 1][1] == p.row["rejected"] for t, p in self.pairs.items())

    def add(self, pair: _Pair) -> None:
        self.pairs[pair.turn] = pair
        pair.tree = self
        if len(pair.messages) > len(self.history.messages):
            self.history = pair


def _scan(path: Path, check: Callable[[dict[str, Any]], Any]) -> list[tuple[int, dict[str, Any], Any]]:
    out = []
    for index, row in read_rows(path):
        where = f"{path.name}: row {index}"
        if isinstance(row, RowError):
            raise ReleaseError(f"{where}: unreadable row: {row.reason}")
        try:
            out.append((index, row, check(row)))
        except ValueError as err:
            raise ReleaseError(f"{where}: {err}") from None
    return out


def _check_pair(row: Mapping[str, Any]) -> tuple[int, int, list[tuple[str, str]]]:
    _, depth, turn = _check_ids(row)
    messages = _check_trajectory(row, turn)
    _check_string(row, "chosen")
    _check_string(row, "rejected")
    return depth, turn, messages


def _check_sft(row: Mapping[str, Any]) -> None:
    _check_ids(row)
    _check_string(row, "instruction")
    _check_string(row, "response")


def _node(pair: _Pair, turn: int, role: str, action: str, observation: str, expanded: bool) -> dict[str, Any]:
    tree, row = pair.tree, pair.row
    assert tree is not None
    suffix = "" if tree.k == 0 else f"_{tree.k}"
    pair_id = f"{pair.prefix}_{turn}" if turn != pair.turn else row["id"]
    parent = None
    if turn > 1:
        below = tree.pairs.get(turn - 1)
        parent = f"{below.row['id'] if below else f'{pair.prefix}_{turn - 1}'}_r{suffix}"
    return {
        "node_id": f"{pair_id}_{role[0]}{suffix}", "pair_id": pair_id, "parent_id": parent,
        "instruction_id": row["parent_id"], "tree_id": tree.key, "problem_id": row["parent_id"],
        "task": row["task"], "dataset": row["dataset"], "source_row": pair.index, "depth": pair.depth,
        "turn": turn, "role": role, "correct": role == "chosen", "expanded": expanded, "action": action,
        "mode": "", "code": "", "observation": observation, "critique": "", "origin": "release",
        "actor": "release", "sampling": "{}", "mistake": None, "instruction": pair.messages[0][1],
    }  # fmt: skip


def _nodes(pairs: list[_Pair], trees: list[_Tree]) -> pl.DataFrame:
    rows = []
    for pair in pairs:  # file order: build_views emits pairs in node order
        tree = pair.tree
        assert tree is not None
        hist = tree.history.messages
        expanded = len(hist) > 2 * pair.turn - 1
        rows.append(_node(pair, pair.turn, "chosen", pair.row["chosen"], "", False))
        rows.append(
            _node(
                pair, pair.turn, "rejected", pair.row["rejected"], hist[2 * pair.turn][1] if expanded else "", expanded
            )
        )
    for tree in trees:  # turns of the history that have no pair of their own
        hist = tree.history.messages
        for turn in range(1, (len(hist) + 1) // 2):
            if turn not in tree.pairs:
                rows.append(_node(tree.history, turn, "rejected", hist[2 * turn - 1][1], hist[2 * turn][1], True))
    return pl.DataFrame(rows, schema=NODE_RELEASE_SCHEMA) if rows else pl.DataFrame(schema=NODE_RELEASE_SCHEMA)


def read_release(pairs_path: Path, sft_path: Path | None = None) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Validate the release files and return (nodes with `instruction`, sft frame or None).

    Raises ``ReleaseError`` naming the file, the 0-based row and the field of the first bad row."""
    pairs_path = Path(pairs_path)
    pairs: list[_Pair] = []
    for index, row, (depth, turn, messages) in _scan(pairs_path, _check_pair):
        prefix = row["id"].rsplit("_", 1)[0]
        pairs.append(_Pair(index, row, prefix, depth, turn, messages))
    by_prefix: dict[str, list[_Tree]] = {}
    trees: list[_Tree] = []
    for pair in pairs:
        candidates = by_prefix.setdefault(pair.prefix, [])
        tree = next((t for t in candidates if t.accepts(pair)), None)
        if tree is None:
            tree = _Tree(key=f"{pair.prefix}_{len(candidates)}", k=len(candidates), history=pair)
            candidates.append(tree)
            trees.append(tree)
        tree.add(pair)
    nodes = _nodes(pairs, trees)
    sft = None
    if sft_path is not None:
        rows = [row for _, row, _ in _scan(Path(sft_path), _check_sft)]
        sft = pl.DataFrame([{k: r[k] for k in SFT_SCHEMA} for r in rows], schema=SFT_SCHEMA)
    return nodes, sft


def _write(frame: pl.DataFrame, schema: pl.Schema, path: Path) -> None:
    """Atomically write `frame` with plain arrow string/list types (what the HF release files use) and
    the release's dataset names."""
    write_parquet(with_release_dataset_names(frame.select(list(schema)).cast(dict(schema))), path, plain_types=True)


def _whole(view: pl.DataFrame | Mapping[str, pl.DataFrame], schema: pl.Schema) -> pl.DataFrame:
    frames = list(view.values()) if isinstance(view, Mapping) else [view]
    return pl.concat([f.select(list(schema)).cast(dict(schema)) for f in frames]) if frames else schema.to_frame()


def write_release(views: Mapping[str, pl.DataFrame | Mapping[str, pl.DataFrame]], folder: Path) -> dict[str, Path]:
    """Write the `sft` and `pairs` views (a frame, or splits such as train/heldout, concatenated in
    order) as ``0000_sft.parquet`` and ``0000_pair.parquet`` under `folder`, dataset names spelled as
    in the release (``preftree.release_names``); returns their paths."""
    folder = Path(folder)
    out: dict[str, Path] = {}
    for name, file, schema in (("sft", SFT_FILE, SFT_SCHEMA), ("pairs", PAIR_FILE, PAIR_SCHEMA)):
        if name in views:
            out[name] = folder / file
            _write(_whole(views[name], schema), schema, out[name])
    return out
