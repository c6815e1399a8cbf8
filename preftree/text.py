"""Text normalisation shared by ids, dedup and decontamination."""

from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"\s+")
_WORD = re.compile(r"[0-9a-z]+(?:[.,][0-9]+)*")


def normalize_text(text: str) -> str:
    """NFKC, unify line endings, strip trailing spaces per line, collapse runs of blank lines.

    Keeps line structure (code and step lists depend on it); used for the stored text.
    """
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return out.strip()


def canonical(text: str) -> str:
    """Lower-cased, whitespace-collapsed form used for hashing and exact dedup."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def words(text: str) -> list[str]:
    """Lower-cased alphanumeric tokens (numbers keep their decimal point / thousands comma)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    """All contiguous n-grams of a token list (empty when shorter than n)."""
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}
