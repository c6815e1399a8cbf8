"""Vectorised text hashing for ``select``: MinHash/LSH near-duplicate detection and n-gram indexes.

Everything works on :func:`preftree.text.words` tokens. Each distinct word is hashed once with
blake2b (stable across processes and Python versions), and word k-grams are combined in numpy, so
tens of thousands of texts hash in well under a second with no per-shingle Python work.

* :func:`near_duplicates` -- MinHash signatures over word shingles, LSH banding to find candidate
  pairs in linear time, a signature-estimate prefilter, then exact Jaccard verification. Greedy in
  input order: a text is a duplicate when it is similar enough to an earlier text that was kept.
* :func:`build_ngram_index` / :func:`ngram_hits` -- the decontamination rule of the paper (App. A.3):
  a text is contaminated when it shares any word n-gram with any evaluation text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from preftree.text import words

_U64 = np.uint64
# Estimated similarity may undershoot the true Jaccard; 0.2 is four standard errors at 64 perms.
_PREFILTER_MARGIN = 0.2
_MIN_RECALL_AT_THRESHOLD = 0.98
_BITMAP_MASK = (1 << 24) - 1


@dataclass(frozen=True)
class Tokenized:
    """Texts as word lists plus a flat array of their word hashes."""

    tokens: list[list[str]]
    hashes: np.ndarray  # uint64, all texts' word hashes concatenated
    lengths: np.ndarray  # int64, words per text
    starts: np.ndarray  # int64, offset of each text in ``hashes``


@dataclass(frozen=True)
class Shingles:
    """Flat shingle hashes with the text each belongs to and its word offset in that text."""

    hashes: np.ndarray  # uint64
    owner: np.ndarray  # int64, ascending
    offset: np.ndarray  # int64


@dataclass(frozen=True)
class NgramIndex:
    """Sorted hashes of every word n-gram of the eval sets, with the set each first came from."""

    n: int
    names: tuple[str, ...]
    hashes: np.ndarray  # uint64, sorted, unique
    owner: np.ndarray  # int64 index into ``names``
    bitmap: np.ndarray  # bool [2**24]: low hash bits present, a cheap prefilter before searchsorted

    def __len__(self) -> int:
        return int(self.hashes.size)


@dataclass(frozen=True)
class NearDuplicate:
    row: int  # index of the removed text
    kept: int  # index of the earlier kept text it matches
    similarity: float  # exact Jaccard of the two shingle sets


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijective, well-mixing uint64 -> uint64 hash."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
        return z ^ (z >> _U64(31))


def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def tokenize(texts: Sequence[str]) -> Tokenized:
    """Tokenise with :func:`words` and hash every distinct word once."""
    tokens = [words(t) for t in texts]
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    table = {w: _word_hash(w) for w in dict.fromkeys(chain.from_iterable(tokens))}
    total = int(lengths.sum())
    hashes = np.fromiter(map(table.__getitem__, chain.from_iterable(tokens)), dtype=_U64, count=total)
    starts = (np.cumsum(lengths) - lengths).astype(np.int64)
    return Tokenized(tokens=tokens, hashes=hashes, lengths=lengths, starts=starts)


def shingle_hashes(tok: Tokenized, k: int, *, whole_if_short: bool) -> Shingles:
    """Hashes of every k-word window of every text.

    A text shorter than ``k`` words yields one shingle of its whole text when ``whole_if_short``
    (MinHash), none otherwise (n-gram decontamination). Empty texts never yield a shingle.
    """
    if k < 1:
        raise ValueError(f"shingle / n-gram size must be >= 1, got {k}")
    lengths, starts = tok.lengths, tok.starts
    per_text = np.maximum(lengths - k + 1, 0)
    if whole_if_short:
        per_text = np.where(lengths > 0, np.maximum(per_text, 1), 0)
    owner = np.repeat(np.arange(lengths.size, dtype=np.int64), per_text)
    offset = np.arange(owner.size, dtype=np.int64) - np.repeat(np.cumsum(per_text) - per_text, per_text)
    hashes = np.empty(owner.size, dtype=_U64)
    if owner.size == 0:
        return Shingles(hashes=hashes, owner=owner, offset=offset)
    full = (lengths >= k)[owner]
    coeffs = _coefficients(k)
    with np.errstate(over="ignore"):
        if full.any():  # rolling sum over the flat array; only in-text windows are read back
            span = tok.hashes.size - k + 1
            acc = np.full(span, _U64(k), dtype=_U64)
            for j in range(k):
                acc += tok.hashes[j : j + span] * coeffs[j]
            hashes[full] = acc[(starts[owner] + offset)[full]]
        if not full.all():  # whole-text shingles of short texts, zero-padded to k words
            short = owner[~full]
            acc = np.full(short.size, _U64(k), dtype=_U64)
            for j in range(k):
                inside = j < lengths[short]
                idx = np.minimum(starts[short] + j, tok.hashes.size - 1)
                acc += np.where(inside, tok.hashes[idx], _U64(0)) * coeffs[j]
            hashes[~full] = acc
    return Shingles(hashes=_mix(hashes), owner=owner, offset=offset)


def _coefficients(k: int) -> np.ndarray:
    """Fixed odd multipliers, one per window position (never depend on a run's seed)."""
    return np.random.default_rng(0x5EED).integers(0, 2**63, size=k, dtype=np.uint64) * _U64(2) + _U64(1)


def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band): the fewest false positives among the layouts that still make a
    pair at exactly ``threshold`` a candidate with probability >= 0.98 (best recall otherwise)."""
    s = np.linspace(0.0, 1.0, 1001)
    best: tuple[float, float, int, int] | None = None
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        recall = 1.0 - (1.0 - threshold**rows) ** bands
        p = 1.0 - (1.0 - s**rows) ** bands
        false_pos = float(np.trapezoid(np.where(s < threshold, p, 0.0), s))
        key = (-min(recall, _MIN_RECALL_AT_THRESHOLD), false_pos, bands, rows)
        if best is None or key < best:
            best = key
    assert best is not None
    return best[2], best[3]


def minhash(sh: Shingles, n_texts: int, *, num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(signatures [m, num_perm], text indices [m]) for the m texts that have shingles."""
    if num_perm < 1:
        raise ValueError(f"num_perm must be >= 1, got {num_perm}")
    counts = np.bincount(sh.owner, minlength=n_texts)
    valid = np.flatnonzero(counts > 0)
    sig = np.empty((valid.size, num_perm), dtype=_U64)
    if valid.size == 0:
        return sig, valid
    bounds = (np.cumsum(counts) - counts)[valid]
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64) * _U64(2) + _U64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(num_perm):
            sig[:, i] = np.minimum.reduceat(sh.hashes * a[i] + b[i], bounds)
    return sig, valid


def candidate_pairs(sig: np.ndarray, groups: np.ndarray, *, bands: int, rows: int) -> np.ndarray:
    """Unique (i, j), i < j, row pairs of ``sig`` sharing a band bucket within the same group."""
    out: list[np.ndarray] = []
    group_salt = _mix(groups.astype(_U64) + _U64(0x9E3779B97F4A7C15))
    with np.errstate(over="ignore"):
        for band in range(bands):
            key = group_salt ^ _U64(band + 1)
            for col in range(band * rows, (band + 1) * rows):
                key = _mix(key * _U64(31) + sig[:, col])
            out.append(_bucket_pairs(key))
    if not out:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(out)
    return np.unique(pairs, axis=0) if pairs.size else pairs


def _bucket_pairs(key: np.ndarray) -> np.ndarray:
    """All (i, j), i < j, with equal keys (vectorised over buckets)."""
    order = np.argsort(key, kind="stable")
    sk = key[order]
    starts = np.flatnonzero(np.concatenate([[True], sk[1:] != sk[:-1]]))
    sizes = np.diff(np.append(starts, sk.size))
    chunks = []
    for size in np.unique(sizes[sizes > 1]):
        members = order[starts[sizes == size][:, None] + np.arange(size)]  # [buckets, size]
        ii, jj = np.triu_indices(int(size), k=1)
        a, b = members[:, ii].ravel(), members[:, jj].ravel()
        chunks.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    return np.concatenate(chunks) if chunks else np.zeros((0, 2), dtype=np.int64)


def near_duplicates(
    texts: Sequence[str],
    groups: Sequence[int],
    *,
    threshold: float,
    num_perm: int,
    shingle: int,
    seed: int,
) -> list[NearDuplicate]:
    """Texts whose shingle Jaccard with an earlier kept text of the same group is >= threshold."""
    tok = tokenize(texts)
    sh = shingle_hashes(tok, shingle, whole_if_short=True)
    sig, valid = minhash(sh, len(texts), num_perm=num_perm, seed=seed)
    bands, rows = lsh_bands(threshold, num_perm)
    pairs = candidate_pairs(sig, np.asarray(groups, dtype=np.int64)[valid], bands=bands, rows=rows)
    if pairs.size:
        estimate = (sig[pairs[:, 0]] == sig[pairs[:, 1]]).mean(axis=1)
        pairs = valid[pairs[estimate >= threshold - _PREFILTER_MARGIN]]
    partners: dict[int, list[int]] = {}
    for i, j in pairs.tolist():
        partners.setdefault(j, []).append(i)
    sets = _shingle_sets(sh, np.unique(pairs))
    removed: dict[int, NearDuplicate] = {}
    for j in sorted(partners):
        best: NearDuplicate | None = None
        for i in sorted(partners[j]):
            if i in removed:
                continue
            sim = len(sets[i] & sets[j]) / len(sets[i] | sets[j])
            if sim >= threshold and (best is None or sim > best.similarity):
                best = NearDuplicate(row=j, kept=i, similarity=sim)
        if best is not None:
            removed[j] = best
    return [removed[j] for j in sorted(removed)]


def _shingle_sets(sh: Shingles, rows: np.ndarray) -> dict[int, frozenset[int]]:
    wanted = np.isin(sh.owner, rows)
    owner, hashes = sh.owner[wanted], sh.hashes[wanted]
    cut = np.flatnonzero(np.diff(owner)) + 1
    return {
        int(o[0]): frozenset(h.tolist())
        for o, h in zip(np.split(owner, cut), np.split(hashes, cut), strict=True)
        if o.size
    }


def build_ngram_index(eval_sets: Mapping[str, Sequence[str]], n: int) -> NgramIndex:
    """Index every word n-gram of every eval text; a shared n-gram is credited to the first set."""
    names = tuple(eval_sets)
    parts, owners = [], []
    for k, name in enumerate(names):
        sh = shingle_hashes(tokenize(list(eval_sets[name])), n, whole_if_short=False)
        parts.append(sh.hashes)
        owners.append(np.full(sh.hashes.size, k, dtype=np.int64))
    hashes = np.concatenate(parts) if parts else np.zeros(0, dtype=_U64)
    owner = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
    uniq, first = np.unique(hashes, return_index=True)
    bitmap = np.zeros(_BITMAP_MASK + 1, dtype=bool)
    bitmap[(uniq & _U64(_BITMAP_MASK)).astype(np.int64)] = True
    return NgramIndex(n=n, names=names, hashes=uniq, owner=owner[first], bitmap=bitmap)


def ngram_hits(texts: Sequence[str], index: NgramIndex) -> dict[int, tuple[str, str]]:
    """{text index: (eval set name, first shared n-gram as text)} for every contaminated text."""
    if len(index) == 0 or not texts:
        return {}
    tok = tokenize(texts)
    sh = shingle_hashes(tok, index.n, whole_if_short=False)
    maybe = np.flatnonzero(index.bitmap[(sh.hashes & _U64(_BITMAP_MASK)).astype(np.int64)])
    pos = np.minimum(np.searchsorted(index.hashes, sh.hashes[maybe]), len(index) - 1)
    found = index.hashes[pos] == sh.hashes[maybe]
    hit, pos = maybe[found], pos[found]
    rows, first = np.unique(sh.owner[hit], return_index=True)
    out: dict[int, tuple[str, str]] = {}
    for row, h, p in zip(rows.tolist(), hit[first].tolist(), pos[first].tolist(), strict=True):
        off = int(sh.offset[h])
        gram = " ".join(tok.tokens[row][off : off + index.n])
        out[row] = (index.names[int(index.owner[p])], gram)
    return out
