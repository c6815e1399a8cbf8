"""A persistent call cache in front of any actor, critic or judge backend, keyed by stable digests.

Every model call is keyed by the sha256 of the canonical JSON of what determines its output: the
backend identity, the messages actually sent (after the prompt layout), the sampling params, the
seed and n (``act_key`` / ``critique_key`` on the backend; a default is derived from the request
when a backend has none). The value is the JSON list of texts, with a per-sample metadata list next
to it (sampling, the writer's identity, a scripted mistake) so that a hit rebuilds exactly the
``Action`` a miss returned.

The store is one sqlite file in WAL mode with a busy timeout: several threads share a connection
under a lock, several processes may open the same file. Rows are only ever inserted (first writer
wins), never updated, so a rerun with the same config is served entirely from the file and makes
zero model calls (``hits`` / ``misses`` / ``calls`` count that; ``usage()`` adds the backend's own
counts, e.g. an openai engine's requests and tokens, for the progress bar).

Secrets never reach the cache: identities and keys are built from model names, folders, URLs
without credentials and the messages; an API key is read at call time and never stored.

The cache is an optimisation (a rerun that misses it makes the model calls again), so a file sqlite
cannot read when it is opened (truncated, overwritten, not a database: ``PRAGMA quick_check``, about
0.1 s per 200 MB) is moved aside to ``<name>.corrupt-<time>`` (its ``-wal`` / ``-shm`` too) with one
warning naming both paths, and an empty cache is started in its place. Damage found later in a run
raises :class:`CacheCorruptError`, one line naming the file and the command that clears it; a row
whose stored JSON does not parse is dropped with a warning and counts as a miss.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from preftree.agents.base import Action, ActRequest, CritiqueRequest
from preftree.hashing import canonical_json, record_digest, sha256_json

SCHEMA_VERSION = 1
_CHUNK = 500  # keys per SELECT ... IN (...)
SIDECARS = ("", "-wal", "-shm")  # the sqlite file and its WAL-mode companions
CORRUPT = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})


class CacheCorruptError(RuntimeError):
    """A call cache found damaged during a run; the message names the file and how to clear it."""


def is_corrupt(err: sqlite3.Error) -> bool:
    """Damage to the file, as opposed to a lock timeout or a full disk."""
    return type(err) is sqlite3.DatabaseError or getattr(err, "sqlite_errorname", "") in CORRUPT


def clear_command(path: Path) -> str:
    return "rm -f " + " ".join(f"{path}{s}" for s in SIDECARS)


def corrupt_error(path: Path, err: sqlite3.Error) -> CacheCorruptError:
    return CacheCorruptError(f"{path}: the call cache is damaged ({err}); clear it with `{clear_command(path)}`")


def move_aside(path: Path, why: str) -> Path:
    """Rename ``path`` (and its -wal / -shm) to ``<name>.corrupt-<time>``, warning with both paths."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    for n in range(2, 1000):  # never over an earlier one moved aside in the same second
        if not any(Path(f"{aside}{s}").exists() for s in SIDECARS):
            break
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    for suffix in SIDECARS:
        if Path(f"{path}{suffix}").exists():
            os.replace(f"{path}{suffix}", f"{aside}{suffix}")
    print(
        f"warning: {path} is not a readable sqlite cache ({why}); moved it to {aside} and started an empty "
        "cache (its model calls are made again)",
        file=sys.stderr,
    )
    return aside


def connect(path: Path) -> sqlite3.Connection:
    """Open (create) the store at ``path`` and check it; raises sqlite3.DatabaseError when it is damaged."""
    conn = sqlite3.connect(path, timeout=60.0, check_same_thread=False, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS calls ("
            " key TEXT PRIMARY KEY, kind TEXT NOT NULL, identity TEXT NOT NULL,"
            " texts TEXT NOT NULL, meta TEXT NOT NULL, created REAL NOT NULL)"
        )
        conn.execute("CREATE TABLE IF NOT EXISTS info (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT OR IGNORE INTO info (name, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        (verdict,) = conn.execute("PRAGMA quick_check(1)").fetchone()
        if verdict != "ok":
            raise sqlite3.DatabaseError(verdict)
    except BaseException:
        conn.close()
        raise
    return conn


def open_store(path: Path) -> sqlite3.Connection:
    """:func:`connect`, moving a damaged file aside once and starting an empty store in its place."""
    try:
        return connect(path)
    except sqlite3.DatabaseError as err:
        if not is_corrupt(err):
            raise
        move_aside(path, str(err))
    return connect(path)


def decode_row(texts: str, meta: str) -> tuple[list[str], list[dict]] | None:
    """A stored value, or None when its JSON does not parse (or has the wrong shape)."""
    try:
        value = (json.loads(texts), json.loads(meta))
    except json.JSONDecodeError:
        return None
    return value if all(isinstance(v, list) for v in value) else None


def default_key(request: Any, **fields: Any) -> dict[str, Any]:
    """The key spec of a request whose backend has no ``<kind>_key``: its messages, the digest of its
    record, its turn and seed, and ``fields`` (keys are sorted when hashed, so order does not matter)."""
    return {
        "messages": [dict(m) for m in request.messages],
        "record": record_digest(request.record),
        "turn": request.turn,
        "seed": request.seed,
        **fields,
    }


def default_act_key(request: ActRequest) -> dict[str, Any]:
    return default_key(request, n=request.n, guided=request.guided)


def default_critique_key(request: CritiqueRequest) -> dict[str, Any]:
    return default_key(request, observation=request.observation)


class CallCache:
    """sqlite (WAL) store: key -> (JSON list of texts, JSON list of per-sample metadata)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = open_store(self.path)

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        """Run one statement (under the lock), damage reported as :class:`CacheCorruptError`."""
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as err:
            if is_corrupt(err):
                raise corrupt_error(self.path, err) from err
            raise

    def get_many(self, keys: Sequence[str]) -> dict[str, tuple[list[str], list[dict]]]:
        unique = list(dict.fromkeys(keys))
        found: dict[str, tuple[list[str], list[dict]]] = {}
        bad: list[str] = []
        with self._lock:
            for i in range(0, len(unique), _CHUNK):
                chunk = unique[i : i + _CHUNK]
                query = f"SELECT key, texts, meta FROM calls WHERE key IN ({','.join('?' * len(chunk))})"
                for key, texts, meta in self._execute(query, chunk):
                    value = decode_row(texts, meta)
                    if value is None:
                        bad.append(key)
                    else:
                        found[key] = value
            for key in bad:
                self._execute("DELETE FROM calls WHERE key = ?", (key,))
        if bad:
            print(f"warning: {self.path}: dropped {len(bad)} row(s) whose stored JSON does not parse "
                  f"(first key {bad[0]}); they are recomputed", file=sys.stderr)  # fmt: skip
        return found

    def put_many(self, rows: Sequence[tuple[str, str, str, list[str], list[dict]]]) -> None:
        """Insert (key, kind, identity, texts, meta) rows; existing keys are kept as they are."""
        if not rows:
            return
        now = time.time()
        data = [
            (k, kind, ident, canonical_json(texts), canonical_json(meta), now) for k, kind, ident, texts, meta in rows
        ]
        with self._lock:
            self._execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR IGNORE INTO calls (key, kind, identity, texts, meta, created) VALUES (?, ?, ?, ?, ?, ?)",
                    data,
                )
                self._execute("COMMIT")
            except BaseException as err:
                if self._conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                if isinstance(err, sqlite3.DatabaseError) and is_corrupt(err):
                    raise corrupt_error(self.path, err) from err
                raise

    def __len__(self) -> int:
        with self._lock:
            return int(self._execute("SELECT COUNT(*) FROM calls")[0][0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> CallCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CallCache({str(self.path)!r})"


class CountedBackend:
    """The base of the cached actor, critic and judge: a backend behind a ``CallCache``.

    hits: requests served from the cache; misses: requests sent to the backend; calls: backend calls."""

    def __init__(self, backend: Any, cache: CallCache) -> None:
        self.backend = backend
        self.cache = cache
        self.identity: str = backend.identity
        self.hits = 0
        self.misses = 0
        self.calls = 0
        self._lock = threading.Lock()

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "calls": self.calls}

    def usage(self) -> dict[str, int]:
        """:meth:`stats` plus the backend's own counts (an openai engine's requests and tokens)."""
        inner = getattr(self.backend, "usage", None)
        return {**(dict(inner()) if callable(inner) else {}), **self.stats()}

    def _count(self, hits: int, misses: int, calls: int) -> None:
        with self._lock:
            self.hits += hits
            self.misses += misses
            self.calls += calls

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identity!r}, {self.cache!r})"

    def cache_key(self, kind: str, request: Any, default: Callable[[Any], dict[str, Any]]) -> str:
        """The cache key of a request: the backend's ``<kind>_key`` spec (else ``default``'s), its kind
        and the backend identity."""
        make = getattr(self.backend, f"{kind}_key", None)
        spec = make(request) if make is not None else default(request)
        return sha256_json({"kind": kind, "identity": self.identity, "spec": spec})

    def through_cache(
        self,
        kind: str,
        requests: Sequence[Any],
        keys: Sequence[str],
        produce: Callable[[list[Any]], Sequence[Any]],
        encode: Callable[[Any], tuple[list[str], list[dict]]],
    ) -> list[tuple[list[str], list[dict]]]:
        """(texts, metas) per request: cache hits as stored, the misses (each distinct key once) from
        one ``produce`` call on the backend, stored as ``encode`` makes them."""
        found = self.cache.get_many(list(keys))
        todo: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key not in found and key not in todo:
                todo[key] = i
        if todo:
            batch = [requests[i] for i in todo.values()]
            produced = produce(batch)
            if len(produced) != len(batch):
                raise RuntimeError(
                    f"{self.identity}: {kind} returned {len(produced)} results for {len(batch)} requests"
                )
            rows = []
            for key, item in zip(todo, produced, strict=True):
                texts, metas = encode(item)
                rows.append((key, kind, self.identity, texts, metas))
                found[key] = (texts, metas)
            self.cache.put_many(rows)
        self._count(len(requests) - len(todo), len(todo), int(bool(todo)))
        return [found[key] for key in keys]


class CachedActor(CountedBackend):
    """An ``Actor`` that answers from the cache and sends only the misses to ``backend`` (one call)."""

    def key(self, request: ActRequest) -> str:
        return self.cache_key("act", request, default_act_key)

    def act(self, requests: Sequence[ActRequest]) -> list[list[Action]]:
        keys = [self.key(r) for r in requests]

        def produce(batch: list[ActRequest]) -> list[list[Action]]:
            produced = self.backend.act(batch)
            for request, actions in zip(batch, produced, strict=False):
                if len(actions) != request.n:
                    raise RuntimeError(f"{self.identity}: act returned {len(actions)} actions, expected n={request.n}")
            return produced

        def encode(actions: list[Action]) -> tuple[list[str], list[dict]]:
            meta = [{"actor": a.actor, "sampling": dict(a.sampling), "mistake": a.mistake} for a in actions]
            return [a.text for a in actions], json.loads(canonical_json(meta))

        return [
            [
                Action(
                    text=t,
                    actor=m.get("actor", self.identity),
                    sampling=m.get("sampling", {}),
                    mistake=m.get("mistake"),
                )  # fmt: skip
                for t, m in zip(texts, metas, strict=True)
            ]
            for texts, metas in self.through_cache("act", requests, keys, produce, encode)
        ]


class CachedCritic(CountedBackend):
    """A ``Critic`` that answers from the cache and sends only the misses to ``backend`` (one call)."""

    def key(self, request: CritiqueRequest) -> str:
        return self.cache_key("critique", request, default_critique_key)

    def critique(self, requests: Sequence[CritiqueRequest]) -> list[str]:
        keys = [self.key(r) for r in requests]
        stored = self.through_cache("critique", requests, keys, self.backend.critique, lambda text: ([text], [{}]))
        return [texts[0] for texts, _ in stored]
