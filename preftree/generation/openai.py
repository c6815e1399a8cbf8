"""Sampling on OpenAI-compatible ``/v1/chat/completions`` endpoints (:class:`OpenAIGenerator`), through the
official ``openai`` client (``openai.AsyncOpenAI``) on an event loop of its own.

* Config: ``base_url``: one URL (e.g. ``http://127.0.0.1:8000/v1``) or a list of URLs serving the same
  model (several vLLM servers); ``model``; and ``api_key_env``: the NAME of the environment variable that
  holds the key. The key is read at call time, sent only in the ``Authorization`` header, and never
  stored: it is absent from the identity, the cache keys, log lines, ``repr`` and every error message
  (messages are scrubbed of it). A missing or empty variable is a clear error naming the variable;
  ``api_key_env=""`` sends no key (local servers; ``OPENAI_API_KEY`` is never read then).
* One chat completion per prompt with ``n``, temperature, top_p, ``max_tokens``, ``seed`` (the prompt's
  seed mixed with its messages, :func:`request_seed`) and ``stop`` (only when stop strings are given);
  when the server returns fewer than n choices (it ignores ``n``), the rest are fetched one request
  each, with seeds derived from (seed, index).
* Several endpoints: each request goes to the endpoint with the fewest requests in flight (ties: the one
  sent the fewest so far, then config order), at most ``runtime.concurrency`` in flight per endpoint.
  A response depends on the request only (messages, settings, seed), and results come back in request
  order, so which endpoint served a request never changes them.
* Failover: an endpoint that refuses the connection is taken out of rotation (for ``REVIVE_AFTER_S``,
  then tried again) and the request goes to another at once. When every endpoint is out, the request
  waits (backoff) and tries them again, up to ``runtime.max_retries`` times; then the error names every
  URL.
* Retries: timeouts, 408 / 409 / 425 / 429 and 5xx are retried up to ``runtime.max_retries`` times with
  exponential backoff and jitter; a ``Retry-After`` header (seconds or an HTTP date) instead pauses that
  endpoint for as long as it says, while the others keep serving. Other 4xx fail at once. The error
  names the URL, the status and the start of the body. (The client's own retries are off: these
  decide, per endpoint.)
* Usage: :meth:`OpenAIGenerator.usage`: requests sent, prompt and completion tokens (as the servers
  report them), requests per endpoint.
* Identity: ``openai:<model>@<base_url without credentials or query>`` (several: the URLs joined by ``,``).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import random
import threading
import time
from collections.abc import Awaitable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import openai

from preftree.config.runtime import RuntimeParams
from preftree.generation.sampling import GeneratorBase, Message, Sampling
from preftree.hashing import sha256_json, stable_seed

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 425, 429}  # plus every 5xx
REVIVE_AFTER_S = 30.0  # an endpoint that refused a connection is tried again after this long
T = TypeVar("T")


class OpenAIError(RuntimeError):
    """A chat-completions call failed (after the retries, where retrying applies)."""


class MissingAPIKeyError(OpenAIError):
    """The environment variable named by ``api_key_env`` is unset or empty."""


def public_url(url: str) -> str:
    """``url`` without user:password, query or fragment (what may appear in identities and logs)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def request_seed(seed: int, messages: Sequence[Message]) -> int:
    """The seed sent to the server: (seed, messages) mixed, so equal seeds on different prompts differ."""
    return stable_seed("openai.request", seed, sha256_json([dict(m) for m in messages])) % (2**31)


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (a number or an HTTP date); None when absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def endpoint_urls(base_url: str | Sequence[str] | None) -> list[str]:
    """The configured URLs as a list (one URL or several), checked: at least one, each http(s), no repeats."""
    urls = [base_url] if isinstance(base_url, str) else list(base_url or [])
    if not urls or not all(urls):
        raise ValueError("the openai backend needs `base_url` (one URL or a list), e.g. http://127.0.0.1:8000/v1")
    for url in urls:
        if not urlsplit(url).scheme.startswith("http"):
            raise ValueError(f"base_url must be an http(s) URL, got {public_url(url)!r}")
    seen = [public_url(u) for u in urls]
    if len(set(seen)) != len(seen):
        raise ValueError(f"base_url lists an endpoint twice: {seen}")
    return urls


class LoopThread:
    """An asyncio event loop on a daemon thread: synchronous callers run coroutines on it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt in the caller: stop what is still in flight
            raise


@dataclass
class EndpointState:
    """One server of a generator: its client (made on the loop), load and state."""

    index: int
    base_url: str  # as configured (may hold credentials): only ever given to the client
    url: str  # public_url(base_url): what messages show
    client: openai.AsyncOpenAI | None = None
    in_flight: int = 0
    sent: int = 0
    down_until: float = 0.0  # time.monotonic(): out of rotation (refused a connection) until then
    paused_until: float = 0.0  # time.monotonic(): asked to wait by Retry-After until then


class OpenAIGenerator(GeneratorBase):
    """Chat completions on one or several OpenAI-compatible endpoints as a generation engine: bounded
    concurrency per endpoint, failover, retries with backoff and ``Retry-After``, key hygiene."""

    def __init__(
        self,
        *,
        base_url: str | Sequence[str] | None,
        model: str,
        api_key_env: str,
        runtime: RuntimeParams,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
    ) -> None:
        urls = endpoint_urls(base_url)
        if not model:
            raise ValueError("the openai backend needs `model`: the model name the server expects")
        if runtime.concurrency < 1 or runtime.max_retries < 0 or runtime.request_timeout_s <= 0:
            raise ValueError("runtime.concurrency >= 1, runtime.max_retries >= 0 and request_timeout_s > 0 are needed")
        self.endpoints = [EndpointState(i, u.rstrip("/"), public_url(u)) for i, u in enumerate(urls)]
        self.url = ",".join(e.url for e in self.endpoints)
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = runtime.request_timeout_s
        self.max_retries = runtime.max_retries
        self.concurrency = runtime.concurrency
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._n_ignored = False  # learned: the server returns one choice whatever n is
        self._loop: LoopThread | None = None
        self._loop_lock = threading.Lock()
        self._cond: asyncio.Condition | None = None  # made on the loop
        self.requests_sent = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.identity = f"openai:{model}@{self.url}"

    def __repr__(self) -> str:
        return f"OpenAIGenerator({self.identity!r}, api_key_env={self.api_key_env!r})"

    def usage(self) -> dict[str, int]:
        """Requests sent (retries included), tokens the servers reported, and requests per endpoint."""
        per = {f"requests@{e.url}": e.sent for e in self.endpoints} if len(self.endpoints) > 1 else {}
        return {
            "requests": self.requests_sent,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            **per,
        }

    def _key(self) -> str | None:
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise MissingAPIKeyError(
                f"the environment variable {self.api_key_env} is not set (or empty); it must hold the API key for "
                f"{self.url} (set api_key_env to the name of the variable that holds it)"
            )
        return key

    @staticmethod
    def _scrub(text: str, key: str | None) -> str:
        return text.replace(key, "***") if key else text

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._loop_lock:
            if self._loop is None:
                self._loop = LoopThread(f"openai:{self.model}")
        return self._loop.run(coro)

    # -- endpoints ---------------------------------------------------------------------------
    def _client(self, endpoint: EndpointState, key: str | None) -> openai.AsyncOpenAI:
        if endpoint.client is None:
            # no key: a placeholder the client needs; each request then leaves the Authorization header out
            endpoint.client = openai.AsyncOpenAI(
                base_url=endpoint.base_url, api_key=key or "unused", max_retries=0, timeout=self.timeout
            )
        elif key and endpoint.client.api_key != key:
            endpoint.client = endpoint.client.with_options(api_key=key)  # the variable changed between calls
        return endpoint.client

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    async def _acquire(self) -> EndpointState | None:
        """A slot on the least-loaded endpoint in rotation (waiting while all are busy or paused); None
        when every endpoint is out of rotation."""
        cond = self._condition()
        async with cond:
            while True:
                now = time.monotonic()
                alive = [e for e in self.endpoints if e.down_until <= now]
                if not alive:
                    return None
                ready = [e for e in alive if e.paused_until <= now and e.in_flight < self.concurrency]
                if ready:
                    endpoint = min(ready, key=lambda e: (e.in_flight, e.sent, e.index))
                    endpoint.in_flight += 1
                    endpoint.sent += 1
                    self.requests_sent += 1
                    return endpoint
                wake = min((e.paused_until for e in alive if e.paused_until > now), default=None)
                try:
                    await asyncio.wait_for(cond.wait(), None if wake is None else wake - now)
                except TimeoutError:
                    pass

    async def _release(self, endpoint: EndpointState, *, down: bool = False, pause_s: float | None = None) -> None:
        cond = self._condition()
        async with cond:
            endpoint.in_flight -= 1
            now = time.monotonic()
            if down:
                endpoint.down_until = now + REVIVE_AFTER_S
            if pause_s:
                endpoint.paused_until = max(endpoint.paused_until, now + pause_s)
            cond.notify_all()

    async def _revive_all(self) -> None:
        cond = self._condition()
        async with cond:
            for e in self.endpoints:
                e.down_until = 0.0
            cond.notify_all()

    def _backoff(self, attempt: int) -> float:
        return min(self.max_backoff_s, self.backoff_s * 2**attempt) * (0.5 + random.random())

    # -- one request -------------------------------------------------------------------------
    async def _create(self, kwargs: dict[str, Any], key: str | None) -> Any:
        """One chat completion with failover and retries; the parsed response."""
        attempt = 0
        while True:
            endpoint = await self._acquire()
            pause: float | None = None
            if endpoint is None:
                urls = ", ".join(e.url for e in self.endpoints)
                where, problem = self.url, f"APIConnectionError: nothing answered at {urls} (is the server running?)"
            else:
                where = endpoint.url
                try:
                    no_key = {} if key else {"extra_headers": {"Authorization": openai.Omit()}}
                    response = await self._client(endpoint, key).chat.completions.create(**kwargs, **no_key)
                except openai.APITimeoutError:
                    await self._release(endpoint)
                    problem = f"APITimeoutError after {self.timeout} s"
                except openai.APIConnectionError as err:
                    await self._release(endpoint, down=True)
                    others = len(self.endpoints) > 1
                    log.warning("%s: %s; out of rotation for %.0f s%s", endpoint.url, type(err).__name__,
                                REVIVE_AFTER_S, ", the request goes to another endpoint" if others else "")  # fmt: skip
                    continue  # another endpoint at once; when none is left, _acquire says so
                except openai.APIStatusError as err:
                    body = self._scrub(err.response.text[:300], key)
                    problem = f"HTTP {err.status_code}: {body!r}"
                    retryable = err.status_code in RETRY_STATUS or err.status_code >= 500
                    pause = retry_after_s(err.response.headers.get("retry-after")) if retryable else None
                    await self._release(endpoint, pause_s=pause)
                    if not retryable:
                        raise OpenAIError(
                            f"{where}/chat/completions failed with HTTP {err.status_code}: {body!r}"
                        ) from None
                except openai.OpenAIError as err:
                    await self._release(endpoint)
                    text = self._scrub(str(err)[:300], key)
                    raise OpenAIError(f"{where}/chat/completions: {type(err).__name__}: {text}") from None
                else:
                    await self._release(endpoint)
                    usage = getattr(response, "usage", None)
                    self.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
                    self.completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
                    return response
            if attempt >= self.max_retries:
                raise OpenAIError(
                    f"{where}/chat/completions failed after {attempt + 1} attempts "
                    f"({self.max_retries} retries); last error: {problem}"
                )
            wait = pause if pause is not None else self._backoff(attempt)
            log.warning("%s: %s; retry %d/%d in %.2fs", where, problem, attempt + 1, self.max_retries, wait)
            if pause is None:  # Retry-After pauses only that endpoint: the next try may go elsewhere at once
                await asyncio.sleep(wait)
            if endpoint is None:
                await self._revive_all()
            attempt += 1

    def texts(self, response: Any) -> list[str]:
        """The choices' texts in index order ("" for a choice without text)."""
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list):
            raise OpenAIError(f"{self.url}/chat/completions returned no `choices`")
        ordered = sorted(choices, key=lambda c: getattr(c, "index", 0) or 0)
        out = []
        for c in ordered:
            content = getattr(getattr(c, "message", None), "content", None)
            out.append(content if isinstance(content, str) else "")
        return out

    # -- the engine ----------------------------------------------------------------------------
    def sample_chats(self, chats: list[list[Message]], samplings: Sequence[Sampling], s: Sampling) -> list[list[str]]:
        """Per chat, ``samplings[i].n`` completion texts, requests bounded by ``concurrency`` per endpoint.
        A prefill (a chat ending with an assistant message) is refused: the chat API answers after it
        instead of continuing it."""
        prefilled = [i for i, c in enumerate(chats) if c and c[-1]["role"] == "assistant"]
        if prefilled:
            raise ValueError(
                f"{self.identity}: chat {prefilled[0]} ends with an assistant message (a prefill), which an "
                "OpenAI-compatible chat endpoint does not continue; evaluate the prefilled benchmarks "
                "(humaneval, mbpp, mbpp_eurus, leetcode) with runtime.engine hf or vllm"
            )
        jobs = [(c, x.n, request_seed(x.seed, c)) for c, x in zip(chats, samplings, strict=True)]
        return self.complete(jobs, s)

    def complete(self, jobs: Sequence[tuple[list[Message], int, int]], s: Sampling) -> list[list[str]]:
        """For each (messages, n, seed sent): n completion texts with the settings of ``s``."""
        key = self._key()
        return self._run(self._complete(jobs, s, key))

    def payload(self, messages: list[Message], n: int, seed: int, s: Sampling) -> dict[str, Any]:
        """The keyword arguments of one ``chat.completions.create`` call."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_new_tokens,
            "seed": seed,
        }
        if n != 1:
            body["n"] = n
        if s.stop:
            body["stop"] = list(s.stop)
        return body

    async def _complete(
        self, jobs: Sequence[tuple[list[Message], int, int]], s: Sampling, key: str | None
    ) -> list[list[str]]:
        results: list[list[str]] = [[] for _ in jobs]
        first = [
            i for i, (_m, n, _s) in enumerate(jobs) if n > 0 and not (self._n_ignored and n > 1)
        ]  # fmt: skip
        answers = await in_order([self._create(self.payload(*jobs[i], s), key) for i in first])
        for i, response in zip(first, answers, strict=True):
            results[i] = self.texts(response)[: jobs[i][1]]
            if jobs[i][1] > 1 and len(results[i]) == 1:
                self._n_ignored = True
        extra = []
        for i, (messages, n, seed) in enumerate(jobs):
            for j in range(len(results[i]), n):
                seed_j = seed if j == 0 else stable_seed("openai.sample", seed, j) % (2**31)
                extra.append((i, self.payload(messages, 1, seed_j, s)))
        for (i, _), response in zip(extra, await in_order([self._create(p, key) for _, p in extra]), strict=True):
            got = self.texts(response)
            if not got:
                raise OpenAIError(f"{self.url}/chat/completions returned no choices")
            results[i].append(got[0])
        return results


async def in_order(calls: Sequence[Awaitable[T]]) -> list[T]:
    """Run ``calls`` concurrently, results in order; on the first failure the rest are cancelled."""
    tasks = [asyncio.ensure_future(c) for c in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
