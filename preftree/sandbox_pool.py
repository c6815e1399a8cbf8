"""Pre-started sandboxes: a fresh, isolated process per program, launched before the program is known.

Starting a sandbox costs more than most programs take to run: bwrap creates six namespaces and the
mounts, then Debian's ``python3`` starts (~10 ms of CPU on its own). Inside a :func:`pooled` block the
harness keeps ``depth`` sandboxes per kind started ahead, from one launcher thread, so a run finds one
waiting and only hands it its input. Each sandbox serves exactly one run and is then torn down as an
unpooled one is: nothing is reused between programs, and no module is imported ahead of the program.

Two kinds of waiting sandbox, with the same command line, namespaces, mounts, rlimits and
environment as an unpooled run (:func:`preftree.sandbox_exec.launch`):

* **a fixed program** (the drivers of ``run_tests`` / ``run_stdio``, which read the program under test
  from stdin): the interpreter has started and the driver waits on its stdin for the nonce and the
  program; what it then runs is byte for byte what it would run unpooled.
* **any program** (``sandbox.run(code)``, ``isolation=bwrap`` only): bwrap has created the namespaces
  and mounts and waits in its setup on the pipe that becomes ``/code/main.py``; the interpreter starts
  once the program is written, exactly as unpooled. (``isolation=process`` has nothing to start before
  the program: such runs are launched when they come.)

What differs: the wall clock (``timeout_s``) starts when the run is handed its input, so a
pre-started interpreter's startup (~10-20 ms) is not charged to it; the CPU limit (RLIMIT_CPU counts
from the interpreter's start) is the same. A waiting sandbox uses no CPU.

Lifetime: the launcher is one daemon thread that lives as long as the process, because bwrap's
``--die-with-parent`` is tied to the *thread* that started it. Waiting sandboxes die with the harness
(``--die-with-parent``; in process mode their stdin closes), and are killed when they have waited
unused for :data:`IDLE_S`, when the last :func:`pooled` block ends (so nothing is left running after
it) and at interpreter exit.
A forked child (multiprocessing, DataLoader workers) closes its copies of their pipes and starts
with an empty pool, so a parent's waiting sandbox never sees a child's open stdin.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from preftree.config.sandbox import SandboxParams
from preftree.sandbox_exec import Launched, launch
from preftree.sandbox_modes import Mode

IDLE_S = 30.0  # a waiting sandbox unused this long is killed
AHEAD_PER_WORKER = 2  # pool_depth(): sandboxes kept waiting per worker thread

Key = tuple[object, ...]


@dataclass(frozen=True)
class Spec:
    """How to start one more sandbox of a kind."""

    make_mode: Callable[[], Mode]
    limits: SandboxParams
    code: str | None  # None: the program comes at the run (bwrap's late program)


def key_of(mode_name: str, lim: SandboxParams, code: str | None) -> Key:
    """Sandboxes are interchangeable when they were started with the same program (or none) and the
    same launch-time limits; timeout_s and max_output_bytes apply at the run, so they are not part of it."""
    packages = tuple(sorted(lim.packages.items()))
    return (mode_name, code, lim.isolation, lim.cpu_s, lim.memory_mb, lim.nproc, lim.fsize_mb, lim.tmpfs_mb, packages)


class Pool:
    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._ready: dict[Key, deque[tuple[Launched, float]]] = {}
        self._specs: dict[Key, Spec] = {}
        self._launching: dict[Key, int] = {}
        self._todo: deque[Key] = deque()
        self._depths: list[int] = []
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._drain_hooks: list[Callable[[], None]] = getattr(self, "_drain_hooks", [])
        self.started = 0  # sandboxes launched ahead (for tests and the bench)
        self.served = 0  # runs that found one waiting

    # -- blocks -------------------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        return max(self._depths, default=0)

    def open(self, depth: int) -> None:
        with self._cond:
            self._depths.append(depth)
            self._cond.notify_all()

    def close(self, depth: int) -> None:
        with self._cond:
            self._depths.remove(depth)
            last = not self._depths
            self._cond.notify_all()
        if last:  # nothing may outlive the last block: the sandboxes still waiting go now
            self.drain()

    def waiting(self) -> int:
        """How many sandboxes are started and waiting for a run."""
        with self._cond:
            return sum(len(ready) for ready in self._ready.values())

    # -- runs ----------------------------------------------------------------------------------------
    def take(self, key: Key, spec: Spec) -> Launched | None:
        """A waiting sandbox of this kind (None: none is waiting, or no pooled() block is open); asks the
        launcher for replacements up to the current depth."""
        dead: list[Launched] = []
        got: Launched | None = None
        with self._cond:
            depth = self.depth
            if depth <= 0:
                return None
            self._specs[key] = spec
            ready = self._ready.setdefault(key, deque())
            while ready and got is None:
                launched, _ = ready.popleft()
                if launched.alive():
                    got = launched
                else:
                    dead.append(launched)
            if got is not None:
                self.served += 1
            missing = depth - len(ready) - self._launching.get(key, 0)
            for _ in range(max(0, missing)):
                self._todo.append(key)
                self._launching[key] = self._launching.get(key, 0) + 1
            if missing > 0:
                self._ensure_thread()
                self._cond.notify_all()
        for launched in dead:
            launched.discard()
        return got

    # -- the launcher thread ---------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="sandbox-launcher", daemon=True)
            self._thread.start()

    def _expired(self, now: float) -> list[Launched]:
        """Waiting sandboxes to kill now (called with the lock held): unused for IDLE_S, or no block open."""
        out: list[Launched] = []
        for ready in self._ready.values():
            keep = deque((w, t) for w, t in ready if self._depths and now - t < IDLE_S)
            out += [w for w, t in ready if not self._depths or now - t >= IDLE_S]
            ready.clear()
            ready.extend(keep)
        return out

    def _loop(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                stale = self._expired(now)
                key = self._todo.popleft() if self._todo and self.depth > 0 else None
                if key is None and not stale:
                    self._todo.clear()  # no block open: pending launches are not needed
                    self._launching.clear()
                    waiting = any(self._ready.values())
                    self._cond.wait(timeout=IDLE_S / 4 if waiting else None)
                    continue
                spec = self._specs.get(key) if key is not None else None
            for launched in stale:
                launched.discard()
            if key is None or spec is None:
                continue
            unwanted = None
            # a fork, and drain(), wait for this: no child inherits a half-made sandbox's pipes, and none is
            # added after the last block ended
            with _LAUNCH_LOCK:
                try:
                    launched: Launched | None = launch(spec.make_mode(), spec.limits, spec.code)
                except Exception:  # noqa: BLE001 - the run that needs it launches (and reports) by itself
                    launched = None
                with self._cond:
                    self._launching[key] = max(0, self._launching.get(key, 0) - 1)
                    if launched is not None and self._depths:
                        self.started += 1
                        self._ready.setdefault(key, deque()).append((launched, time.monotonic()))
                    else:
                        unwanted = launched
            if unwanted is not None:
                unwanted.discard()

    # -- shutdown ------------------------------------------------------------------------------------------
    def on_drain(self, hook: Callable[[], None]) -> None:
        """Call `hook` whenever :meth:`drain` runs (``preftree.sandbox_zygote``: its idle fork servers)."""
        self._drain_hooks.append(hook)

    def drain(self) -> None:
        """Kill every waiting sandbox (interpreter exit; tests), and what the drain hooks hold."""
        if os.getpid() != self._pid:
            return
        for hook in self._drain_hooks:
            hook()
        with _LAUNCH_LOCK, self._cond:
            waiting = [w for ready in self._ready.values() for w, _ in ready]
            for ready in self._ready.values():
                ready.clear()
            if not self._depths:  # no launch is under way (we hold its lock): nothing is pending
                self._todo.clear()
                self._launching.clear()
        for launched in waiting:
            launched.discard()

    def forget_in_child(self) -> None:
        """After fork: close this process's copies of the waiting sandboxes' pipes; start empty."""
        for ready in self._ready.values():
            for launched, _ in ready:
                for stream in (launched.proc.stdin, launched.proc.stdout, launched.proc.stderr):
                    try:
                        if stream is not None:
                            stream.close()
                    except OSError:
                        pass
                if launched.program_w is not None:
                    try:
                        os.close(launched.program_w)
                    except OSError:
                        pass
                launched.proc.returncode = 0  # not our child: never wait for it
        self._reset()


_LAUNCH_LOCK = threading.Lock()
POOL = Pool()
atexit.register(POOL.drain)


def _after_fork_in_child() -> None:
    _LAUNCH_LOCK.release()
    POOL.forget_in_child()


os.register_at_fork(
    before=_LAUNCH_LOCK.acquire, after_in_parent=_LAUNCH_LOCK.release, after_in_child=_after_fork_in_child
)


def pool_depth(workers: int) -> int:
    """How many sandboxes of a kind to keep waiting when `workers` threads run programs: two per worker,
    so one can start while the other's run is handed over (bench/sandbox.py measures 2 x workers)."""
    return AHEAD_PER_WORKER * max(1, workers)


@contextmanager
def pooled(depth: int) -> Iterator[None]:
    """Within this block (any thread), sandbox runs take pre-started sandboxes, ``depth`` kept waiting
    per kind; depth <= 0: no pre-starting. Blocks may nest or overlap; the largest open depth applies."""
    if depth <= 0:
        yield
        return
    POOL.open(depth)
    try:
        yield
    finally:
        POOL.close(depth)
