"""Stable digests and seeds: canonical JSON, its sha256, and 63-bit seeds derived from it.

A leaf module (standard library only) shared by the call cache, the samplers and the stages: the
same content always gives the same digest and the same seed, on any machine and Python process
(never Python's salted ``hash``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): v for k, v in obj.items()}
    if isinstance(obj, (tuple, set, frozenset)):
        return sorted(obj) if isinstance(obj, (set, frozenset)) else list(obj)
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    raise TypeError(f"cannot put {type(obj).__name__} into a cache key")


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal content gives equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=plain)


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def stable_seed(*parts: Any) -> int:
    """A 63-bit seed from JSON-able parts (never Python's salted ``hash``)."""
    return int(sha256_json(["preftree.seed", *parts])[:16], 16) >> 1


def record_digest(record: Mapping[str, Any]) -> str:
    """Digest of what a record's ground truth consists of (a stale reference can never be served)."""
    fields = ("id", "task", "dataset", "instruction", "answer", "tests", "reference")
    return sha256_json({k: record.get(k) for k in fields})
