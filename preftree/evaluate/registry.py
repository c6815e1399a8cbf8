"""The benchmark registry and ``load_benchmark(name, path_or_hf_id, limit=None)``.

Execution timeouts follow the paper's setup (paper §4, App. C): HumanEval / MBPP 3 s, LeetCode
10 s, program-of-thought 5 s; MINT's code tasks 10 s. ``hf_id`` / ``hf_config`` / ``hf_split`` are the
defaults used when ``path_or_hf_id`` is not a local file (``datasets.load_dataset``; nothing bundled
with the project is needed at run time).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preftree.evaluate import loaders
from preftree.evaluate.items import Item
from preftree.evaluate.loaders_code import parse_humaneval, parse_leetcode, parse_mbpp, parse_mbpp_eurus
from preftree.evaluate.loaders_math import (
    parse_asdiv,
    parse_gsm8k,
    parse_gsm_plus,
    parse_math,
    parse_svamp,
    parse_theoremqa,
)
from preftree.evaluate.loaders_mint import parse_mint_code, parse_mint_mmlu, parse_mint_reasoning, parse_mint_theoremqa
from preftree.evaluate.loaders_tiny import parse_tiny

Loader = Callable[[Sequence[loaders.Row], str], list[Item]]
_FILE_SUFFIXES = (".json", ".jsonl", ".gz", ".parquet")


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    loader: Loader  # rows -> items
    kind: str  # the scorer: an Item kind (see preftree.evaluate.items)
    family: str  # Coding | Math | Reasoning | (tiny: per record)
    timeout_s: float  # sandbox wall clock for code / PoT programs
    modes: tuple[str, ...]  # prompt styles the runner evaluates (math: cot and pot, the better is reported)
    hf_id: str | None = None
    hf_config: str | None = None
    hf_split: str = "test"
    description: str = ""


def _spec(name: str, loader: Loader, kind: str, family: str, timeout_s: float, **kw: Any) -> BenchmarkSpec:
    modes = ("cot", "pot") if kind in ("math", "numeric", "theoremqa") else ("cot",)
    return BenchmarkSpec(name, functools.partial(loader, benchmark=name), kind, family, timeout_s, modes, **kw)


_SPECS: list[BenchmarkSpec] = [
    _spec("humaneval", parse_humaneval, "code", "Coding", 3.0, hf_id="openai_humaneval",
          description="HumanEval (164), pass@1, 3 s"),
    _spec("mbpp", parse_mbpp, "code", "Coding", 3.0, hf_id="mbpp", hf_config="full",
          description="MBPP full schema (974 rows; test split = task_id 11-510), 3 s"),
    _spec("mbpp_eurus", parse_mbpp_eurus, "code", "Coding", 3.0,
          description="Eurus's 399-row sanitized MBPP (new_mbpp.json), 3 s"),
    _spec("leetcode", parse_leetcode, "code", "Coding", 10.0,
          description="LeetCode contest problems as Eurus ships them (180), 10 s"),
    _spec("gsm8k", parse_gsm8k, "numeric", "Math", 5.0, hf_id="openai/gsm8k", hf_config="main",
          description="GSM8K test (1,319)"),
    _spec("svamp", parse_svamp, "numeric", "Math", 5.0, description="SVAMP (1,000)"),
    _spec("math", parse_math, "math", "Math", 5.0, description="MATH test (also PRIME's column JSON)"),
    _spec("math500", parse_math, "math", "Math", 5.0, hf_id="HuggingFaceH4/MATH-500",
          description="MATH-500 (500)"),
    _spec("theoremqa", parse_theoremqa, "theoremqa", "Math", 5.0, description="TheoremQA (800), 4% tolerance"),
    _spec("asdiv", parse_asdiv, "numeric", "Math", 5.0, description="ASDiv, Lila layout, split == test (618)"),
    _spec("gsm_plus", parse_gsm_plus, "numeric", "Math", 5.0, description="GSM-Plus perturbations"),
    _spec("mint_humaneval", parse_mint_code, "code", "Coding", 10.0, description="MINT HumanEval (45)"),
    _spec("mint_mbpp", parse_mint_code, "code", "Coding", 10.0, description="MINT MBPP (91)"),
    _spec("mint_gsm8k", parse_mint_reasoning, "numeric", "Math", 5.0, description="MINT GSM8K (48)"),
    _spec("mint_math", parse_mint_reasoning, "numeric", "Math", 5.0, description="MINT MATH (100)"),
    _spec("mint_theoremqa", parse_mint_theoremqa, "theoremqa", "Math", 5.0, description="MINT TheoremQA (49)"),
    _spec("mint_mmlu", parse_mint_mmlu, "multiple-choice", "Math", 5.0, description="MINT MMLU math (76)"),
    _spec("mint_hotpotqa", parse_mint_reasoning, "text", "Reasoning", 5.0, description="MINT HotpotQA (43)"),
    _spec("tiny", parse_tiny, "tiny", "tiny", 5.0, description="the tiny world's held-out set"),
]  # fmt: skip
BENCHMARKS: dict[str, BenchmarkSpec] = {s.name: s for s in _SPECS}

# Eurus's MINT subsets: code = HumanEval + MBPP (136), math = MATH + TheoremQA + MMLU (225).
MINT_CODE = ("mint_humaneval", "mint_mbpp")
MINT_MATH = ("mint_math", "mint_theoremqa", "mint_mmlu")


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or text.endswith(_FILE_SUFFIXES) or "\\" in text


def _hf_rows(spec: BenchmarkSpec, hf_id: str, config: str | None, split: str | None) -> list[dict[str, Any]]:
    import datasets

    ds = datasets.load_dataset(hf_id, config or (spec.hf_config if hf_id == spec.hf_id else None),
                               split=split or spec.hf_split)  # fmt: skip
    return [dict(row) for row in ds]


def load_benchmark(
    name: str,
    path_or_hf_id: str | Path | None = None,
    limit: int | None = None,
    *,
    config: str | None = None,
    split: str | None = None,
) -> list[Item]:
    """Items of benchmark ``name`` from a local file, else (only when no such path exists) a Hugging Face
    dataset id (``datasets.load_dataset(id, config, split=split)``; default: the spec's ``hf_id``).
    ``limit`` keeps the first N items. Something that looks like a file path but does not exist is a
    FileNotFoundError, never a download attempt."""
    if name not in BENCHMARKS:
        raise KeyError(f"unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))}")
    spec = BENCHMARKS[name]
    target = str(path_or_hf_id) if path_or_hf_id is not None else spec.hf_id
    if target is None:
        raise ValueError(f"{name}: no path given and no default Hugging Face dataset id")
    path = Path(target).expanduser()
    if path.exists():
        rows: list[Any] = loaders.read_records(path)
        source = str(path)
    elif _looks_like_path(target):
        raise FileNotFoundError(f"{name}: benchmark file not found: {target}")
    else:
        rows = _hf_rows(spec, target, config, split)
        source = f"hf:{target}"
    items = spec.loader(rows, source)
    return items[:limit] if limit is not None else items
