"""A digest of the code behind a module: the cache version of texts that code writes.

The scripted actor, critic and judge cache their outputs like LLM calls; a hand-bumped version
number in their keys goes stale the first time someone edits a template and forgets it (the cache
then returns the old texts while DVC reruns the stage). Keying on the source of the module and of
everything it imports from this repository (``preftree.deps.closure``, the same closure that
writes the stages' code deps) makes any such edit a cache miss by construction.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from preftree.deps import closure

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def code_version(module: str, root: Path = ROOT) -> str:
    """sha256 (16 hex digits) over the paths and bytes of ``module``'s import closure under ``root``."""
    h = hashlib.sha256()
    for rel in closure(module, root):
        h.update(rel.as_posix().encode("utf-8") + b"\x00")
        h.update((root / rel).read_bytes() + b"\x00")
    return h.hexdigest()[:16]
