"""Benchmark evaluation: loaders for the public benchmarks' file formats, scorers, and runners.

* :mod:`preftree.evaluate.loaders` / :func:`load_benchmark` -> :class:`Item` records
* :mod:`preftree.evaluate.scoring` -> :func:`score` / :func:`score_many` (code through the sandbox)
* answer extraction and equivalence (math-verify, TheoremQA, ...): :mod:`preftree.answers`
* :mod:`preftree.evaluate.runner` -> :func:`evaluate` / :func:`summary` (pass@1) and
  :func:`evaluate_multiturn` / :func:`success_at_k`
* ``python -m preftree.evaluate.check_references`` -> the scorers accept every reference solution
"""

from __future__ import annotations

from preftree.evaluate.items import BenchmarkFormatError, Item
from preftree.evaluate.registry import BENCHMARKS, BenchmarkSpec, load_benchmark
from preftree.evaluate.runner import (
    MultiTurnResult,
    Result,
    evaluate,
    evaluate_multiturn,
    multiturn_summary,
    success_at_k,
    summary,
)
from preftree.evaluate.scoring import Verdict, score, score_many

__all__ = [
    "BENCHMARKS",
    "BenchmarkFormatError",
    "BenchmarkSpec",
    "Item",
    "MultiTurnResult",
    "Result",
    "Verdict",
    "evaluate",
    "evaluate_multiturn",
    "load_benchmark",
    "multiturn_summary",
    "score",
    "score_many",
    "success_at_k",
    "summary",
]
