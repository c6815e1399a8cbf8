"""Sampling on any OpenAI-compatible ``/v1/chat/completions`` endpoint (:class:`OpenAIGenerator`), with ``requests``.

* Config: ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``), ``model``, and ``api_key_env``: the NAME
  of the environment variable that holds the key. The key is read at call time, sent only in the
  ``Authorization`` header, and never stored: it is absent from the identity, the cache keys, log
  lines, ``repr`` and every error message (messages are scrubbed of it). A missing or empty variable
  is a clear error naming the variable; ``api_key_env=""`` sends no key (local servers).
* One chat completion per prompt with ``n``, temperature, top_p, ``max_tokens``, ``seed`` (the prompt's
  seed mixed with its messages, :func:`request_seed`) and ``stop`` (only when stop strings are given);
  when the server returns fewer than n choices (it ignores ``n``), the rest are fetched one request
  each, with seeds derived from (seed, index).
* Robustness: ``runtime.request_timeout_s`` per request; 429, 5xx and connection errors / timeouts
  are retried up to ``runtime.max_retries`` times with exponential backoff and jitter, honouring a
  ``Retry-After`` header; other 4xx fail at once. Then the error names the URL, the status and the
  start of the body.
* Concurrency: at most ``runtime.concurrency`` requests in flight (a thread pool).
* Identity: ``openai:<model>@<base_url without credentials or query>``.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from preftree.config.runtime import RuntimeParams
from preftree.generation.sampling import GeneratorBase, Message, Sampling
from preftree.hashing import sha256_json, stable_seed

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 425, 429}  # plus every 5xx


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


def _retry_after(value: str | None) -> float | None:
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


class OpenAIGenerator(GeneratorBase):
    """A minimal chat-completions client as a generation engine: retries, backoff, bounded concurrency,
    key hygiene."""

    def __init__(
        self,
        *,
        base_url: str | None,
        model: str,
        api_key_env: str,
        runtime: RuntimeParams,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not base_url:
            raise ValueError("the openai backend needs `base_url`, e.g. http://127.0.0.1:8000/v1")
        if not model:
            raise ValueError("the openai backend needs `model`: the model name the server expects")
        if not urlsplit(base_url).scheme.startswith("http"):
            raise ValueError(f"base_url must be an http(s) URL, got {public_url(base_url)!r}")
        if runtime.concurrency < 1 or runtime.max_retries < 0 or runtime.request_timeout_s <= 0:
            raise ValueError("runtime.concurrency >= 1, runtime.max_retries >= 0 and request_timeout_s > 0 are needed")
        self._base_url = base_url.rstrip("/")
        self.url = public_url(base_url)
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = runtime.request_timeout_s
        self.max_retries = runtime.max_retries
        self.concurrency = runtime.concurrency
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._local = threading.local()
        self._n_ignored = False  # learned: the server returns one choice whatever n is
        self.requests_sent = 0
        self._count_lock = threading.Lock()
        self.identity = f"openai:{model}@{self.url}"

    def __repr__(self) -> str:
        return f"OpenAIGenerator({self.identity!r}, api_key_env={self.api_key_env!r})"

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

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    @staticmethod
    def _scrub(text: str, key: str | None) -> str:
        return text.replace(key, "***") if key else text

    def post(self, payload: dict[str, Any]) -> dict[str, Any]:
        """One chat-completions call with retries; the parsed JSON body."""
        key = self._key()
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = f"{self._base_url}/chat/completions"
        attempt = 0
        while True:
            with self._count_lock:
                self.requests_sent += 1
            status: int | None = None
            wait: float | None = None
            try:
                resp = self._session().post(url, json=payload, headers=headers, timeout=self.timeout)
            except requests.ConnectionError as err:
                problem = f"{type(err).__name__}: nothing answered at {self.url} (is the server running?)"
            except requests.Timeout as err:
                problem = f"{type(err).__name__} after {self.timeout} s"
            else:
                status = resp.status_code
                if status == 200:
                    try:
                        return resp.json()
                    except ValueError:
                        raise OpenAIError(
                            f"{self.url}/chat/completions returned a body that is not JSON: "
                            f"{self._scrub(resp.text[:200], key)!r}"
                        ) from None
                body = self._scrub(resp.text[:300], key)
                problem = f"HTTP {status}: {body!r}"
                if status not in RETRY_STATUS and status < 500:
                    raise OpenAIError(f"{self.url}/chat/completions failed with HTTP {status}: {body!r}")
                wait = _retry_after(resp.headers.get("Retry-After"))
            if attempt >= self.max_retries:
                raise OpenAIError(
                    f"{self.url}/chat/completions failed after {attempt + 1} attempts "
                    f"({self.max_retries} retries); last error: {problem}"
                )
            if wait is None:
                wait = min(self.max_backoff_s, self.backoff_s * 2**attempt) * (0.5 + random.random())
            log.warning("%s: %s; retry %d/%d in %.2fs", self.url, problem, attempt + 1, self.max_retries, wait)
            self._sleep(wait)
            attempt += 1

    def sample_chats(self, chats: list[list[Message]], samplings: Sequence[Sampling], s: Sampling) -> list[list[str]]:
        """Per chat, ``samplings[i].n`` completion texts, requests bounded by ``concurrency``."""
        jobs = [(c, x.n, request_seed(x.seed, c)) for c, x in zip(chats, samplings, strict=True)]
        return self.complete(jobs, s)

    def complete(self, jobs: Sequence[tuple[list[Message], int, int]], s: Sampling) -> list[list[str]]:
        """For each (messages, n, seed sent): n completion texts with the settings of ``s``."""

        def payload(messages: list[Message], n: int, seed: int) -> dict[str, Any]:
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

        def texts(body: dict[str, Any]) -> list[str]:
            choices = body.get("choices")
            if not isinstance(choices, list):
                raise OpenAIError(f"{self.url}/chat/completions returned no `choices`")
            choices = sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
            out = []
            for c in choices:
                message = c.get("message") if isinstance(c, dict) else None
                content = message.get("content") if isinstance(message, dict) else None
                out.append(content if isinstance(content, str) else "")
            return out

        results: list[list[str]] = [[] for _ in jobs]
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="openai")
        try:
            first = {}
            for i, (messages, n, seed) in enumerate(jobs):
                if n > 0 and not (self._n_ignored and n > 1):
                    first[i] = pool.submit(self.post, payload(messages, n, seed))
            for i, fut in first.items():
                results[i] = texts(fut.result())[: jobs[i][1]]
                if jobs[i][1] > 1 and len(results[i]) == 1:
                    self._n_ignored = True
            extra = {}
            for i, (messages, n, seed) in enumerate(jobs):
                for j in range(len(results[i]), n):
                    seed_j = seed if j == 0 else stable_seed("openai.sample", seed, j) % (2**31)
                    extra[(i, j)] = pool.submit(self.post, payload(messages, 1, seed_j))
            for (i, _j), fut in sorted(extra.items()):
                got = texts(fut.result())
                if not got:
                    raise OpenAIError(f"{self.url}/chat/completions returned no choices")
                results[i].append(got[0])
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # queued calls are dropped, running ones finish
            raise
        pool.shutdown(wait=True)
        return results
