"""params.yaml as `make params` writes it: a one-line header recording how it was composed.

    # preftree.compose: {"body": "<sha256[:16]>", "conf": "<sha256[:16]>", "overrides": ["experiment=smoke"]}

The header lets ``make repro`` keep a composition the user made (``make params OVERRIDES=...``)
instead of silently recomposing the defaults: it recomposes only when conf/ changed (with the same
overrides, printing what changed), and keeps a params.yaml written by ``dvc exp run`` or edited by
hand. ``split_overrides`` turns the one OVERRIDES string of the Makefile into Hydra overrides with
braces, brackets, spaces and quotes intact.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

HEADER = "# preftree.compose: "


def split_overrides(text: str) -> list[str]:
    """Hydra overrides from one string: split on whitespace outside quotes and outside {} [] ();
    a token wholly wrapped in matching quotes (shell style) loses them."""
    tokens: list[str] = []
    current: list[str] = []
    depth = 0
    quote = ""
    for char in text:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
            continue
        if char in "'\"":
            quote = char
        elif char in "{[(":
            depth += 1
        elif char in "}])":
            depth = max(0, depth - 1)
        elif char.isspace() and depth == 0:
            if current:
                tokens.append("".join(current))
                current = []
            continue
        current.append(char)
    if quote or depth:
        raise ValueError(f"OVERRIDES: unbalanced {'quote ' + quote if quote else 'brackets'} in {text!r}")
    if current:
        tokens.append("".join(current))
    return [t[1:-1] if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"" else t for t in tokens]


def sha(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


def conf_digest(conf: Path) -> str:
    """One digest of every file under conf/ (path and bytes)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in conf.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(conf).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def with_header(body: str, conf: str, overrides: list[str]) -> str:
    meta = {"body": sha(body), "conf": conf, "overrides": list(overrides)}
    return HEADER + json.dumps(meta, sort_keys=True) + "\n" + body


def read_header(text: str) -> tuple[dict[str, Any] | None, str]:
    """(header, body) of a params.yaml text; header None when `make params` did not write it."""
    first, sep, rest = text.partition("\n")
    if not first.startswith(HEADER):
        return None, text
    try:
        meta = json.loads(first[len(HEADER) :])
    except json.JSONDecodeError:
        return None, text
    return (meta if isinstance(meta, dict) else None), rest if sep else ""


@dataclass(frozen=True)
class Refresh:
    """What ``make repro`` does with params.yaml before ``dvc repro``."""

    action: Literal["compose", "keep", "conflict"]
    overrides: list[str]
    reason: str


def plan_refresh(current: str | None, conf: str) -> Refresh:
    """Decide from the current params.yaml text (None: absent) and the conf/ digest now."""
    if current is None:
        return Refresh("compose", [], "params.yaml is missing: composing conf/ defaults")
    meta, body = read_header(current)
    if meta is None:
        return Refresh(
            "keep", [], "params.yaml was not written by `make params` (dvc exp run or a hand edit): kept as is"
        )
    overrides = [str(o) for o in meta.get("overrides", [])]
    edited = meta.get("body") != sha(body)
    if meta.get("conf") == conf:
        why = "edited by hand since `make params`" if edited else "current"
        return Refresh("keep", overrides, f"params.yaml is {why} (overrides {overrides}): kept")
    if edited:
        return Refresh(
            "conflict",
            overrides,
            "conf/ changed and params.yaml was edited by hand since `make params`: recompose explicitly with "
            f'`make params OVERRIDES="{" ".join(overrides)}"` (your hand edits would be lost) or revert conf/',
        )
    return Refresh("compose", overrides, f"conf/ changed since `make params`: recomposing with overrides {overrides}")


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two params trees, as 'key: old -> new'."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            full = f"{prefix}.{key}" if prefix else str(key)
            out += changed_keys(old.get(key), new.get(key), full)
        return out
    return [] if old == new else [f"{prefix}: {old!r} -> {new!r}"]
