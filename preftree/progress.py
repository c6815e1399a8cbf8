"""A progress bar for model-calling work: items done, with the agents' model calls, tokens and the share of
requests served by the call cache in its postfix (``calls=1,204 tok=2.3M cached=41%``).

The counts come from the agents' ``usage()`` (:func:`preftree.agents.pool.sum_usage`): ``misses`` are
the requests a model answered, ``hits`` those the cache answered, ``prompt_tokens`` /
``completion_tokens`` what OpenAI-compatible servers reported (absent for local engines). The postfix
is refreshed at each tick and every ``every_s`` seconds by a thread while the bar is open, so a long
turn of a big shard still shows its calls and tokens growing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import TracebackType

from tqdm import tqdm


def human(n: float) -> str:
    """1234 -> '1.2k', 2_300_000 -> '2.3M'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:g}"


def usage_text(usage: Mapping[str, int]) -> str:
    """``calls=<model requests> tok=<tokens> cached=<share of requests from the cache>``; parts whose
    counts are absent are left out."""
    hits, misses = usage.get("hits", 0), usage.get("misses", 0)
    parts = [f"calls={misses:,}"]
    tokens = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
    if tokens:
        parts.append(f"tok={human(tokens)}")
    if hits + misses:
        parts.append(f"cached={hits / (hits + misses):.0%}")
    return " ".join(parts)


class UsageBar:
    """``with UsageBar(total, usage) as bar: ... bar.tick(k)``: a tqdm bar over items whose postfix is
    ``usage_text(usage())``."""

    def __init__(
        self, total: int, usage: Callable[[], Mapping[str, int]], *, enabled: bool, desc: str, every_s: float = 2.0
    ) -> None:
        self.bar = tqdm(total=total, desc=desc, unit="item", disable=not enabled)
        self.usage = usage
        self.enabled = enabled
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        if self.enabled:
            self.bar.set_postfix_str(usage_text(self.usage()), refresh=True)

    def tick(self, n: int) -> None:
        if n:
            self.bar.update(n)
        self.refresh()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.refresh()

    def __enter__(self) -> UsageBar:
        if self.enabled:
            self._thread = threading.Thread(target=self._loop, name="usage-bar", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.refresh()
        self.bar.close()
