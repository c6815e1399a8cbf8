"""What a generation request is, and the interface every engine implements.

    texts = gen.generate(chats, Sampling(n=4, temperature=0.7, max_new_tokens=256, seed=1, stop=("```\\n",)))
    # texts[i]: the 4 continuations of chats[i] (chats: lists of {"role", "content"} messages)
    texts = gen.generate_each(chats, [Sampling(n=2, seed=7, ...), Sampling(n=3, seed=9, ...)])
    # one Sampling per chat: its own n and seed; the other settings are the same for all

An engine's sample i of a chat depends on (its seed, i, the chat) only: not on the other chats, their
order, the batch size or n. :func:`as_callable` adapts a generator to the plain function the evaluation
runner calls: ``f(prompts, n, temperature, max_new_tokens, seed, stop) -> list[list[str]]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

Message = dict[str, str]  # {"role": "user" | "assistant" | "system", "content": str}


@dataclass(frozen=True)
class Sampling:
    """How to sample: n texts per prompt, temperature 0 = greedy, stop strings cut the text before them."""

    n: int = 1
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    max_new_tokens: int = 512
    seed: int = 0
    stop: tuple[str, ...] = ()  # stop strings: output is cut before the first occurrence

    def __post_init__(self) -> None:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        object.__setattr__(self, "stop", stop)
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if any(not isinstance(s, str) or not s for s in stop):
            raise ValueError(f"stop strings must be non-empty strings, got {stop!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def shared_settings(samplings: Sequence[Sampling]) -> Sampling:
    """The settings one batch shares (temperature, top_p, max_new_tokens, stop): ``samplings[0]``, once
    every other entry is checked to differ from it in n and seed only."""
    first = samplings[0]
    for s in samplings[1:]:
        if replace(s, n=first.n, seed=first.seed) != first:
            raise ValueError(f"one generate_each call takes one temperature, top_p, max_new_tokens and stop: {s}")
    return first


class Generator(Protocol):
    identity: str

    def generate(self, prompts: Sequence[Sequence[Message]], sampling: Sampling) -> list[list[str]]:
        """Per prompt, ``sampling.n`` texts."""
        ...

    def generate_each(self, prompts: Sequence[Sequence[Message]], samplings: Sequence[Sampling]) -> list[list[str]]:
        """Per prompt, ``samplings[i].n`` texts drawn with ``samplings[i].seed``."""
        ...


def as_chat(prompt: Sequence[Message] | str) -> list[Message]:
    """A chat as a list of plain dicts (a bare string is one user message)."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [dict(m) for m in prompt]


class GeneratorBase:
    """``generate`` and ``generate_each`` for an engine that implements ``sample_chats``: prompts become
    plain chats, no prompt gives no call, and one call shares one set of settings."""

    identity: str

    def generate(self, prompts: Sequence[Sequence[Message]], sampling: Sampling) -> list[list[str]]:
        """Per prompt, ``sampling.n`` texts, in input order."""
        return self.generate_each(prompts, [sampling] * len(prompts))

    def generate_each(self, prompts: Sequence[Sequence[Message]], samplings: Sequence[Sampling]) -> list[list[str]]:
        """Per prompt, ``samplings[i].n`` texts drawn with ``samplings[i].seed``, in input order."""
        chats = [as_chat(p) for p in prompts]
        if not chats:
            return []
        return self.sample_chats(chats, samplings, shared_settings(samplings))

    def sample_chats(self, chats: list[list[Message]], samplings: Sequence[Sampling], s: Sampling) -> list[list[str]]:
        """Per chat (at least one), ``samplings[i].n`` texts; ``s``: the settings all samplings share."""
        raise NotImplementedError


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` before the earliest occurrence of any stop string (unchanged when none occurs)."""
    hits = [p for p in (text.find(s) for s in stop) if p >= 0]
    return text[: min(hits)] if hits else text


def as_callable(gen: Generator) -> Callable[..., list[list[str]]]:
    """``f(prompts, n, temperature, max_new_tokens, seed, stop) -> list[list[str]]`` on ``gen``
    (top_p 1.0); the function carries the generator's ``identity``."""

    def call(
        prompts: Sequence[Sequence[Message]],
        n: int = 1,
        temperature: float = 0.0,
        max_new_tokens: int = 512,
        seed: int = 0,
        stop: Sequence[str] | None = (),
    ) -> list[list[str]]:
        sampling = Sampling(
            n=n, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed, stop=tuple(stop or ())
        )
        return gen.generate(prompts, sampling)

    call.identity = gen.identity  # type: ignore[attr-defined]
    return call
