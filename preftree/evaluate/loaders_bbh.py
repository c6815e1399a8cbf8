"""BIG-Bench Hard loaders: rows in either self-contained layout become ``bbh`` items, and
:func:`read_bbh` turns the BBH repository's folders (or the ``lukaemon/bbh`` dataset plus the
repository's ``cot-prompts/``) into such rows.

Row layouts :func:`parse_bbh` reads (one file, any format ``preftree.evaluate.loaders`` reads):

* Eurus's ``eval/Reasoning/bbh/test_prompts.json`` (JSONL): ``text`` (the 3-shot CoT prompt with the
  question), ``reference`` (the target), ``task_name``.
* preftree's combined file (what :func:`read_bbh` and ``python -m preftree.evaluate.bbh_file`` write):
  ``task``, ``input``, ``target``, ``cot_prompt`` (the task's ``cot-prompts/<task>.txt``).

Write the combined file from the BBH repository (``bbh/<task>.json`` with ``{"examples": [{"input",
"target"}]}`` and ``cot-prompts/<task>.txt``) or from the Hugging Face dataset::

    python -m preftree.evaluate.bbh_file ../shared/benchmarks/bbh --out data/bbh.jsonl
    python -m preftree.evaluate.bbh_file lukaemon/bbh --prompts BIG-Bench-Hard/cot-prompts --out data/bbh.jsonl
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from preftree.evaluate.bbh import bbh_prompt, question_text
from preftree.evaluate.items import BenchmarkFormatError, Item
from preftree.evaluate.loaders import Row, field_value, nonempty_field

HF_ID = "lukaemon/bbh"


def parse_bbh(rows: Sequence[Row], source: str, *, benchmark: str = "bbh") -> list[Item]:
    """``bbh`` items (``bbh_eurus``: scored by Eurus's substring rule, ``bbh``: by exact match)."""
    rule = "substring" if benchmark == "bbh_eurus" else "exact"
    items = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        if "text" in row:
            text = nonempty_field(row, "text", source, i)
            target = str(field_value(row, "reference", source, i))
            task = str(field_value(row, "task_name", source, i))
        else:
            target = str(field_value(row, "target", source, i))
            task = nonempty_field(row, "task", source, i)
            text = question_text(nonempty_field(row, "cot_prompt", source, i), nonempty_field(row, "input", source, i))
        if not target.strip():
            raise BenchmarkFormatError(source, i, "target", "empty")
        seen[task] = seen.get(task, -1) + 1
        items.append(
            Item(
                id=str(row.get("id", f"{task}/{seen[task]}")),
                benchmark=benchmark,
                kind="bbh",
                family="Reasoning",
                prompt=bbh_prompt(text),
                answer=target.strip(),
                meta={"task": task, "rule": rule, "row": i},
            )
        )
    return items


def _task_examples(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BenchmarkFormatError(str(path), None, None, f"cannot read: {exc}") from exc
    examples = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(examples, list):
        raise BenchmarkFormatError(str(path), None, "examples", "expected {'examples': [{'input', 'target'}]}")
    return examples


def _prompts_dir(source: Path, prompts_dir: str | Path | None) -> Path:
    if prompts_dir is not None:
        return Path(prompts_dir)
    for candidate in (source / "cot-prompts", source.parent / "cot-prompts"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"{source}: no cot-prompts/ beside it; pass the CoT prompts folder")


def _cot_prompt(folder: Path, task: str) -> str:
    path = folder / f"{task}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"BBH task {task}: no CoT prompt {path}")
    return path.read_text(encoding="utf-8")


def read_bbh(
    source: str | Path, *, prompts_dir: str | Path | None = None, tasks: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Combined rows (``task, input, target, cot_prompt``) of every task, in task-name order.

    ``source``: the BBH repository's data folder (or a folder holding ``data/`` or ``bbh/``), one task
    file, or a Hugging Face id (``lukaemon/bbh``: one config per task; ``tasks`` defaults to the CoT
    prompt files' names). ``prompts_dir``: the ``cot-prompts`` folder (default: beside the data)."""
    path = Path(source).expanduser()
    if path.exists():
        data = path
        for sub in ("data", "bbh"):
            if (path / sub).is_dir():
                data = path / sub
        files = [data] if data.is_file() else sorted(data.glob("*.json"))
        if not files:
            raise FileNotFoundError(f"{source}: no BBH task files (<task>.json)")
        folder = _prompts_dir(data.parent if data.is_file() else data, prompts_dir)
        chosen = [f for f in files if tasks is None or f.stem in tasks]
        return [
            {"task": f.stem, "input": ex["input"], "target": ex["target"], "cot_prompt": _cot_prompt(folder, f.stem)}
            for f in chosen
            for ex in _task_examples(f)
        ]
    if prompts_dir is None:
        raise ValueError(f"{source}: a Hugging Face id needs the CoT prompts folder (prompts_dir)")
    import datasets

    names = list(tasks) if tasks is not None else sorted(p.stem for p in Path(prompts_dir).glob("*.txt"))
    rows = []
    for task in names:
        prompt = _cot_prompt(Path(prompts_dir), task)
        for ex in datasets.load_dataset(str(source), task, split="test"):
            rows.append({"task": task, "input": ex["input"], "target": ex["target"], "cot_prompt": prompt})
    return rows
