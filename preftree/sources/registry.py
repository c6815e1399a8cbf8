"""Every adapter by name: the core ones (``adapters``) and the UltraInteract source families."""

from __future__ import annotations

from preftree.sources import adapters, adapters_code, adapters_logic, adapters_math, adapters_table
from preftree.sources.adapters import Adapter


def _merge(*families: dict[str, Adapter]) -> dict[str, Adapter]:
    merged: dict[str, Adapter] = {}
    for family in families:
        clash = set(merged) & set(family)
        if clash:
            raise RuntimeError(f"adapter name(s) defined twice: {', '.join(sorted(clash))}")
        merged.update(family)
    return merged


ADAPTERS: dict[str, Adapter] = _merge(
    adapters.ADAPTERS, adapters_math.ADAPTERS, adapters_code.ADAPTERS, adapters_table.ADAPTERS, adapters_logic.ADAPTERS
)
