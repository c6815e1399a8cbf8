"""Actor and critic on any OpenAI-compatible ``/v1/chat/completions`` endpoint, with ``requests``.

* Config: ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``), ``model``, and ``api_key_env``: the NAME
  of the environment variable that holds the key. The key is read at call time, sent only in the
  ``Authorization`` header, and never stored: it is absent from the identity, the cache keys, log
  lines, ``repr`` and every error message (messages are scrubbed of it). A missing or empty variable
  is a clear error naming the variable; ``api_key_env=""`` sends no key (local servers).
* One chat completion per request with ``n``, temperature, top_p, ``max_tokens`` and ``seed`` (the
  request seed mixed with the messages);
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

from preftree.agents import prompts
from preftree.agents.base import Action, ActRequest, CritiqueRequest, Message
from preftree.config import AgentParams, RuntimeParams
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


class ChatClient:
    """A minimal chat-completions client: retries, backoff, bounded concurrency, key hygiene."""

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

    def __repr__(self) -> str:
        return f"ChatClient(model={self.model!r}, url={self.url!r}, api_key_env={self.api_key_env!r})"

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
            except (requests.ConnectionError, requests.Timeout) as err:
                problem = f"{type(err).__name__}"
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

    def complete(
        self, jobs: Sequence[tuple[list[Message], int, int]], *, temperature: float, top_p: float, max_tokens: int
    ) -> list[list[str]]:
        """For each (messages, n, seed): n completion texts, requests bounded by ``concurrency``."""

        def payload(messages: list[Message], n: int, seed: int) -> dict[str, Any]:
            body: dict[str, Any] = {
                "model": self.model,
                "messages": messages,
                "temperature": temperature,
                "top_p": top_p,
                "max_tokens": max_tokens,
                "seed": seed,
            }
            if n != 1:
                body["n"] = n
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


class OpenAIAgent:
    """What the OpenAI-compatible actor, critic and judge share: one ``ChatClient`` on the agent's
    endpoint, its identity, its sampling settings and the completion call."""

    def __init__(self, params: AgentParams, runtime: RuntimeParams, **client_kwargs: Any) -> None:
        self.params = params
        self.client = ChatClient(
            base_url=params.base_url, model=params.model, api_key_env=params.api_key_env, runtime=runtime,
            **client_kwargs,
        )  # fmt: skip
        self.identity = f"openai:{params.model}@{self.client.url}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identity!r}, api_key_env={self.params.api_key_env!r})"

    def sampling(self) -> dict[str, Any]:
        p = self.params
        return {"temperature": p.temperature, "top_p": p.top_p, "max_new_tokens": p.max_new_tokens}

    def complete(self, jobs: Sequence[tuple[list[Message], int, int]]) -> list[list[str]]:
        """``(messages, n, seed)`` jobs through the client with this agent's sampling."""
        s = self.sampling()
        return self.client.complete(
            jobs, temperature=s["temperature"], top_p=s["top_p"], max_tokens=s["max_new_tokens"]
        )


class OpenAIActor(OpenAIAgent):
    """``Actor`` on an OpenAI-compatible chat-completions endpoint."""

    def __init__(
        self, params: AgentParams, runtime: RuntimeParams, *, system_prompt: bool = True, **client_kwargs: Any
    ) -> None:
        super().__init__(params, runtime, **client_kwargs)
        self.system_prompt = system_prompt

    def messages(self, request: ActRequest) -> list[Message]:
        return prompts.actor_messages(request, system_prompt=self.system_prompt)

    def act_key(self, request: ActRequest) -> dict[str, Any]:
        return {"messages": self.messages(request), "sampling": self.sampling(), "seed": request.seed, "n": request.n}

    def act(self, requests: Sequence[ActRequest]) -> list[list[Action]]:
        s = self.sampling()
        texts = self.complete([(m, r.n, request_seed(r.seed, m)) for r, m in ((r, self.messages(r)) for r in requests)])
        return [
            [Action(text=t, actor=self.identity, sampling={**s, "seed": r.seed, "index": j}) for j, t in enumerate(ts)]
            for r, ts in zip(requests, texts, strict=True)
        ]


class OpenAICritic(OpenAIAgent):
    """``Critic`` on an OpenAI-compatible chat-completions endpoint."""

    def critique_key(self, request: CritiqueRequest) -> dict[str, Any]:
        return {"messages": prompts.critic_messages(request), "sampling": self.sampling(), "seed": request.seed, "n": 1}

    def critique(self, requests: Sequence[CritiqueRequest]) -> list[str]:
        jobs = [(m, 1, request_seed(r.seed, m)) for r, m in ((r, prompts.critic_messages(r)) for r in requests)]
        return [t[0].strip() for t in self.complete(jobs)]
