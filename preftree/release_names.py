"""The release's spelling of each source dataset's name, for the ``dataset`` column of exported files.

The project names a source by its key in ``conf/sources/`` (``math``, ``codecontests``, ...); the
public UltraInteract files (the ``openbmb/UltraInteract_sft`` and ``UltraInteract_pair`` dataset
cards, "Dataset Format") spell some of them differently. :data:`RELEASE_DATASET_NAMES` holds the
spellings the dataset cards show; any other name (``gsm8k``, ``taco``, the tiny world's
``synthetic``, ...) is written unchanged, because the cards document no other spelling.

=================  ===============
project (source)   release
=================  ===============
``math``           ``MATH``
``codecontests``   ``codecontest``
``mathqa``         ``mathqa``
``hotpotqa``       ``hotpotqa``
=================  ===============
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import polars as pl

RELEASE_DATASET_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {"math": "MATH", "codecontests": "codecontest", "mathqa": "mathqa", "hotpotqa": "hotpotqa"}
)


def release_dataset_name(name: str) -> str:
    """The release's spelling of source ``name`` (unchanged when the table has no entry for it)."""
    return RELEASE_DATASET_NAMES.get(name, name)


def with_release_dataset_names(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its ``dataset`` column in the release's spelling (other columns untouched)."""
    return frame.with_columns(pl.col("dataset").replace(dict(RELEASE_DATASET_NAMES)))
