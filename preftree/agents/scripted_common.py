"""What the scripted actor and critic share: the reference JSON of a
record, and the parsing of the UltraInteract action format (``Step k:`` lines, a ```python fence,
``# Step k`` comments in the code)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any


def parse_reference(record: Mapping[str, Any]) -> dict[str, Any]:
    text = record.get("reference") or ""
    if not text:
        return {}
    try:
        ref = json.loads(text)
    except json.JSONDecodeError:
        return {"kind": "text", "text": text}
    return ref if isinstance(ref, dict) else {}


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


STEP_RE = re.compile(r"^[ \t]*Step\s+(\d+)\s*:\s*(.*?)\s*$", re.M)
FENCE_RE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|\Z)", re.S)
CODE_STEP_RE = re.compile(r"^\s*#\s*Step\s+(\d+)\s*:?\s*(.*?)\s*$")


def split_action(text: str) -> tuple[str, str | None]:
    """(prose before the first code fence, the fenced code or None)."""
    m = FENCE_RE.search(text)
    if m is None:
        return text, None
    return text[: m.start()], m.group(1)


def prose_steps(prose: str) -> dict[int, str]:
    steps: dict[int, str] = {}
    for m in STEP_RE.finditer(prose):
        steps.setdefault(int(m.group(1)), m.group(2))
    return steps
