"""IFEval loader: rows of ``input_data.jsonl`` (Google's release, as Eurus ships it) or of the Hugging
Face dataset ``google/IFEval`` (``key, prompt, instruction_id_list, kwargs``; the dataset fills every
unused kwarg with null, which the checks ignore) become ``ifeval`` items, scored by
:mod:`preftree.evaluate.ifeval` (prompt-level loose accuracy)."""

from __future__ import annotations

from collections.abc import Sequence

from preftree.evaluate.ifeval import CHECKS
from preftree.evaluate.items import BenchmarkFormatError, Item
from preftree.evaluate.loaders import Row, field_value, nonempty_field, str_list_field

HF_ID = "google/IFEval"


def parse_ifeval(rows: Sequence[Row], source: str, *, benchmark: str = "ifeval") -> list[Item]:
    items = []
    for i, row in enumerate(rows):
        ids = str_list_field(row, "instruction_id_list", source, i)
        kwargs = field_value(row, "kwargs", source, i)
        if hasattr(kwargs, "tolist"):
            kwargs = kwargs.tolist()
        if not isinstance(kwargs, list) or len(kwargs) != len(ids) or not all(isinstance(k, dict) for k in kwargs):
            raise BenchmarkFormatError(source, i, "kwargs", f"expected {len(ids)} objects, one per instruction")
        unknown = [x for x in ids if x not in CHECKS]
        if unknown:
            raise BenchmarkFormatError(source, i, "instruction_id_list", f"unknown instructions {unknown}")
        items.append(
            Item(
                id=str(field_value(row, "key", source, i, default=i)),
                benchmark=benchmark,
                kind="ifeval",
                family="Instruction",
                prompt=nonempty_field(row, "prompt", source, i),
                meta={"instruction_ids": ids, "kwargs": [dict(k) for k in kwargs], "row": i},
            )
        )
    return items
