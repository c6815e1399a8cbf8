"""Mixtures: extra data drawn into a training stage's view (paper §3, App. B).

``sft.mixture``, ``align.<key>.mixture`` and ``rm.<key>.mixture`` map a name to a
:class:`~preftree.config.train.MixtureSourceParams`: a local file (``path``) or a Hugging Face id /
dataset folder (``hf_id``, offline cache only), its ``layout`` (:mod:`preftree.train.mixture_layouts`)
and how much of it to draw: ``rows`` (a count of conversations or pairs), ``weight``
(``round(weight x`` the size of the stage's own view``)``: conversations for SFT, pairs for DPO / NCA /
RM, for KTO half its rows, each drawn pair giving a desirable and an undesirable completion), or,
with both null, every row once (the paper's "all UltraFeedback pairs").

Draws are seeded by ``(seed, crc32(name))``: the same params give the same rows, and adding a source
leaves the others' draws unchanged. A draw larger than the source makes whole passes over it, then
samples the remainder without replacement. Every malformed row raises, naming the params key, the
file (or id and split) and the row. A well-formed row may give no pair by its layout's rule (an
UltraFeedback prompt whose completions all tie): that rule is documented in
:mod:`preftree.train.mixture_layouts`, and the stage's metrics count the pairs each source gave.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from preftree.config.train import MixtureSourceParams
from preftree.train.mixture_layouts import Messages, Pair, row_pairs, sft_messages

T = TypeVar("T")


def _rows(key: str, spec: MixtureSourceParams) -> Iterator[tuple[int, Any]]:
    from preftree.sources.files import read_hf, read_rows

    if (spec.path is None) == (spec.hf_id is None):
        raise ValueError(f"{key}: set exactly one of `path` or `hf_id`")
    if spec.path is not None:
        yield from read_rows(spec.path, source=key)
    else:
        yield from read_hf(spec.hf_id, split=spec.split)


def _where(spec: MixtureSourceParams) -> str:
    return spec.path if spec.path is not None else f"{spec.hf_id} [{spec.split}]"


def _read(key: str, spec: MixtureSourceParams, convert: Any) -> list:
    from preftree.sources.files import RowError

    out: list = []
    for index, row in _rows(key, spec):
        try:
            if isinstance(row, RowError):
                raise ValueError(f"{row.reason}: {row.raw[:200]!r}")
            if not isinstance(row, Mapping):
                raise ValueError(f"expected an object, got {type(row).__name__}")
            out.append(convert(row))
        except ValueError as err:
            raise ValueError(f"{key}: row {index} of {_where(spec)} (layout {spec.layout}): {err}") from None
    return out


def read_sft_source(key: str, spec: MixtureSourceParams) -> list[Messages]:
    """Every row of an SFT-layout source as chat messages."""
    return _read(key, spec, lambda row: sft_messages(row, spec.layout, spec.fields))


def read_pair_source(key: str, spec: MixtureSourceParams) -> list[Pair]:
    """Every preference pair of a pair-layout source, in row order."""
    return [pair for pairs in _read(key, spec, lambda row: row_pairs(row, spec.layout)) for pair in pairs]


def draw_count(key: str, spec: MixtureSourceParams, view_size: int) -> int | None:
    """How many items to draw: ``rows``, or ``round(weight x view_size)``; None (both unset): every item once."""
    if spec.weight is not None and spec.rows is not None:
        raise ValueError(f"{key}: set `weight` or `rows`, not both (neither: every row once)")
    if spec.weight is None and spec.rows is None:
        return None
    if spec.rows is not None:
        return int(spec.rows)
    if spec.weight < 0:
        raise ValueError(f"{key}.weight must be >= 0, got {spec.weight}")
    return round(spec.weight * view_size)


def draw_indices(n_items: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices out of ``n_items``: whole passes, then a sample without replacement for the remainder
    (every item is used k or k+1 times when n > n_items)."""
    passes, rest = divmod(n, n_items)
    tail = np.sort(rng.choice(n_items, size=rest, replace=False))
    return np.concatenate([np.tile(np.arange(n_items), passes), tail]).astype(np.int64)


def _draw(key: str, name: str, items: list[T], n: int | None, seed: int) -> list[T]:
    if not items:
        raise ValueError(f"{key}: the source gives no rows")
    if n is None:
        return list(items)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
    return [items[i] for i in draw_indices(len(items), n, rng)]


def _mixture(
    section: str,
    mixture: Mapping[str, MixtureSourceParams],
    view_size: int,
    seed: int,
    read: Callable[[str, MixtureSourceParams], list[T]],
) -> list[tuple[str, T]]:
    out: list[tuple[str, T]] = []
    for name, spec in mixture.items():
        key = f"{section}.{name}"
        n = draw_count(key, spec, view_size)
        if n != 0:
            out.extend((name, item) for item in _draw(key, name, read(key, spec), n, seed))
    return out


def mixture_conversations(
    section: str, mixture: Mapping[str, MixtureSourceParams], view_size: int, seed: int
) -> list[tuple[str, Messages]]:
    """``(source name, conversation)`` drawn from every SFT source of ``mixture`` (``section`` names the
    params key in errors, e.g. ``sft.mixture``)."""
    return _mixture(section, mixture, view_size, seed, read_sft_source)


def mixture_pairs(
    section: str, mixture: Mapping[str, MixtureSourceParams], view_size: int, seed: int
) -> list[tuple[str, Pair]]:
    """``(source name, pair)`` drawn from every preference source of ``mixture``."""
    return _mixture(section, mixture, view_size, seed, read_pair_source)


def source_identity(spec: MixtureSourceParams) -> dict[str, Any]:
    """What a mixture source was, for lineage: the file's sha256, or the dataset id and split.

    DVC reruns a stage when a mixture's params change, not when a file at an unchanged path is
    rewritten; the digest in metrics/info and the model card shows which content was read."""
    if spec.path is None:
        return {"hf_id": spec.hf_id, "split": spec.split, "layout": spec.layout}
    digest = hashlib.sha256()
    with Path(spec.path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"path": spec.path, "sha256": digest.hexdigest(), "layout": spec.layout}


def mixture_identities(mixture: Mapping[str, MixtureSourceParams]) -> dict[str, dict[str, Any]]:
    """:func:`source_identity` of every source with a non-zero draw."""
    return {name: source_identity(spec) for name, spec in mixture.items() if spec.weight != 0}


__all__ = [
    "draw_count",
    "draw_indices",
    "mixture_conversations",
    "mixture_identities",
    "mixture_pairs",
    "read_pair_source",
    "read_sft_source",
    "source_identity",
]
