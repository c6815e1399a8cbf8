"""The tiny world's loader: rows of ``data/selected/{train,heldout}.parquet`` as benchmark items."""

from __future__ import annotations

import json
from collections.abc import Sequence

from preftree.evaluate.items import BenchmarkFormatError, Item
from preftree.evaluate.loaders import Row, nonempty_field, str_field, str_list_field


def parse_tiny(rows: Sequence[Row], source: str, *, benchmark: str = "tiny") -> list[Item]:
    """Rows of ``data/selected/{train,heldout}.parquet``; scored with ``preftree.env``'s verdict logic."""
    from preftree.schema import TASKS

    items = []
    for i, row in enumerate(rows):
        task = nonempty_field(row, "task", source, i)
        if task not in TASKS:
            raise BenchmarkFormatError(source, i, "task", f"unknown task {task!r}; expected one of {TASKS}")
        instruction = nonempty_field(row, "instruction", source, i)
        tests = str_list_field(row, "tests", source, i, required=False)
        record = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in row.items()}
        record["tests"] = tests
        reference, entry = _tiny_reference(row)
        items.append(
            Item(
                id=nonempty_field(row, "id", source, i),
                benchmark=benchmark,
                kind="tiny",
                family=task,
                prompt=instruction,
                answer=str_field(row, "answer", source, i, default=""),
                tests=tuple(tests),
                entry_point=entry,
                reference=reference,
                meta={"record": record, "row": i},
            )
        )
    return items


def _tiny_reference(row: Row) -> tuple[str | None, str | None]:
    """Coding records: the reference program (signature + body) and entry point from ``reference`` JSON."""
    try:
        ref = json.loads(row.get("reference") or "{}")
    except (TypeError, json.JSONDecodeError):
        return None, None
    if not isinstance(ref, dict) or row.get("task") != "Coding":
        return None, None
    sig, body = ref.get("signature"), ref.get("body")
    if not isinstance(sig, str) or not isinstance(body, list):
        return None, ref.get("entry_point")
    return sig + "\n" + "\n".join("    " + line for line in body) + "\n", ref.get("entry_point")
