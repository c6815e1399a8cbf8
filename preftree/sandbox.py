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
4. **The interpreter**: Debian's ``/usr/bin/python3 -s -P /code/main.py``. The program travels through a
   memfd that bwrap copies to a read-only file (``--ro-bind-data``), so program size never meets the
   argv limit (128 KiB per argument), tracebacks show source lines, and the program cannot edit itself.
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
:func:`run_tests` appends Python test snippets to a program; :func:`run_stdio` runs a program as a
``__main__`` script once per (stdin, expected stdout) case inside one sandbox. Both prove that the
tests ran to the end with a fresh nonce on stdout.

Statuses
--------
``timeout`` (wall clock), ``output_limit``, ``ok`` (exit 0), ``memory`` (non-zero exit with ``MemoryError``
or an allocation failure message in stderr), ``killed`` (death by a signal: SIGKILL/SIGXCPU from the CPU
limit, SIGSEGV from a C stack overflow, ...), ``error`` (other non-zero exit). bwrap reports a signal
death as exit code ``128 + signal``; this module turns that back into ``-signal``, so a program that
itself calls ``sys.exit(137)`` reads as killed by SIGKILL (it cannot make a failure look like a pass).
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from preftree.config import SandboxParams

Status = Literal["ok", "error", "timeout", "memory", "output_limit", "killed"]

PYTHON = "/usr/bin/python3"  # Debian's interpreter: it lives under /usr, the only host tree in the sandbox
SANDBOX_UID = 65534
SANDBOX_GID = 65534
PROGRAM_PATH = "/code/main.py"  # read-only inside the sandbox
WORKDIR = "/tmp"  # the private, size-capped tmpfs
NOFILE = 64
BWRAP_CANDIDATES: tuple[str, ...] = ("/usr/bin/bwrap",)  # then `bwrap` on PATH
SETPRIV = "/usr/bin/setpriv"
PRLIMIT = "/usr/bin/prlimit"
INSTALL_HINT = (
    "install it as root with `apt-get install -y bubblewrap`, or set sandbox.isolation=process to accept "
    "weaker guarantees (no filesystem or network isolation)"
)
_DRAIN_AFTER_EXIT_S = 0.5  # after the program exits, how long to wait for its pipes to reach EOF
_MARKER_VAR = "PREFTREE_SANDBOX_RUN"  # process mode: tags the run's processes for the leftover sweep
_MEMORY_SIGNS = ("MemoryError", "Cannot allocate memory", "out of memory", "std::bad_alloc")


@dataclass(frozen=True)
class ExecResult:
    status: Status
    returncode: int | None  # negative = killed by that signal
    stdout: str  # at most max_output_bytes bytes, decoded with errors="replace"
    stderr: str
    wall_s: float


@dataclass(frozen=True)
class Job:
    code: str
    stdin: str = ""
    limits: SandboxParams | None = None


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox on this host."""


# --------------------------------------------------------------------------------------------
# the command line


def _env(home: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _limit(value: int) -> str:
    return str(value) if value > 0 else "unlimited"


def _prlimit_argv(lim: SandboxParams) -> list[str]:
    cpu = max(1, int(lim.cpu_s)) if lim.cpu_s > 0 else 0
    return [
        PRLIMIT,
        f"--as={_limit(lim.memory_mb << 20)}",
        f"--cpu={cpu}:{cpu + 1}" if cpu else "--cpu=unlimited",
        f"--nproc={_limit(lim.nproc)}",
        f"--fsize={_limit(lim.fsize_mb << 20)}",
        f"--nofile={NOFILE}",
        "--core=0",
        "--",
    ]


def _drop_argv() -> list[str]:
    """Prefix that drops root to the sandbox uid (nothing when not root: the code keeps our uid)."""
    if os.geteuid() != 0:
        return []
    return [SETPRIV, f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups", "--"]


_ROOT_LINKS: list[str] | None = None


def _root_links() -> list[str]:
    """/lib, /lib64, /bin, /sbin: symlinks into /usr on a merged-/usr host, read-only binds otherwise."""
    global _ROOT_LINKS
    if _ROOT_LINKS is None:
        args: list[str] = []
        for name in ("/lib", "/lib64", "/bin", "/sbin"):
            if os.path.islink(name):
                args += ["--symlink", os.readlink(name), name]
            elif os.path.isdir(name):
                args += ["--ro-bind", name, name]
        _ROOT_LINKS = args
    return _ROOT_LINKS


def _bwrap_argv(bwrap: str, lim: SandboxParams, code_fd: int, info_fd: int) -> list[str]:
    argv = [
        *_drop_argv(),
        bwrap,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--info-fd",
        str(info_fd),
        "--cap-drop",
        "ALL",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_GID),
        "--ro-bind",
        "/usr",
        "/usr",
        *_root_links(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
    ]
    if lim.tmpfs_mb > 0:
        argv += ["--size", str(lim.tmpfs_mb << 20)]
    argv += ["--tmpfs", WORKDIR, "--chdir", WORKDIR]
    argv += ["--perms", "0444", "--ro-bind-data", str(code_fd), PROGRAM_PATH]
    argv += ["--remount-ro", "/dev", "--remount-ro", "/", "--clearenv"]
    for key, value in _env(WORKDIR).items():
        argv += ["--setenv", key, value]
    argv += ["--", *_prlimit_argv(lim), PYTHON, "-s", "-P", PROGRAM_PATH]
    return argv


# --------------------------------------------------------------------------------------------
# availability


_LOCK = threading.Lock()
_BWRAP_OK: set[str] = set()  # bwrap paths whose probe sandbox worked
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
        res = _execute(_BwrapMode(bwrap), "pass", "", 10.0, 1 << 16, SandboxParams())
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
# running one program


class _Mode:
    """What differs between the two isolation levels: the command line, fds to pass, the cleanup."""

    bwrap_rc: bool = False  # exit status comes from bwrap (128 + signal for a signal death)
    marker: bytes | None = None  # process mode: tags the run's processes for the leftover sweep
    cwd = "/"

    def prepare(self, lim: SandboxParams, code: bytes) -> list[str]:
        """argv; may open fds listed in self.pass_fds."""
        raise NotImplementedError

    pass_fds: tuple[int, ...] = ()

    def env(self) -> dict[str, str]:
        return {"PATH": "/usr/bin:/bin"}

    def started(self) -> None:
        """The launcher runs: close our copies of the fds it inherited."""
        for fd in self.pass_fds:
            os.close(fd)
        self.pass_fds = ()

    def after(self) -> None:
        """The launcher is dead and reaped: make sure nothing of the run is left."""


class _BwrapMode(_Mode):
    bwrap_rc = True

    def __init__(self, bwrap: str) -> None:
        self.bwrap = bwrap
        self.info_r: int | None = None

    def prepare(self, lim, code):
        code_fd = os.memfd_create("preftree-program", os.MFD_CLOEXEC)
        self.pass_fds = (code_fd,)
        view = memoryview(code)
        while view:
            view = view[os.write(code_fd, view) :]
        os.lseek(code_fd, 0, os.SEEK_SET)
        self.info_r, info_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self.pass_fds = (code_fd, info_w)
        return _bwrap_argv(self.bwrap, lim, code_fd, info_w)

    def after(self) -> None:
        """Wait until the sandbox's PID 1 is gone, i.e. the kernel has killed every process in it.

        Killing (or the exit of) the outer bwrap only makes its PID 1 receive SIGKILL through
        --die-with-parent; the PID namespace teardown then finishes asynchronously. bwrap's --info-fd
        tells us PID 1's host pid; a pidfd on it becomes readable once it has exited, which the kernel
        allows only after every other process of the namespace is dead.
        """
        if self.info_r is None:
            return
        try:
            try:
                info = os.read(self.info_r, 4096)
            except OSError:
                info = b""
        finally:
            os.close(self.info_r)
            self.info_r = None
        pid = _json_int(info, b"child-pid")
        if not pid:
            return
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            return  # already gone (or no pidfd support: --die-with-parent still tears it down)
        try:
            try:
                if os.stat(f"/proc/{pid}/ns/pid").st_ino != _json_int(info, b"pid-namespace"):
                    return  # the pid was reused by an unrelated process
            except OSError:
                return
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            poller.poll(5000)
        finally:
            os.close(pidfd)


def _json_int(blob: bytes, key: bytes) -> int | None:
    """An integer member of bwrap's --info-fd JSON, without importing json."""
    at = blob.find(b'"' + key + b'"')
    if at < 0:
        return None
    digits = blob[blob.find(b":", at) + 1 :].lstrip().split(b",")[0].split(b"\n")[0].strip(b" }")
    return int(digits) if digits.isdigit() else None


class _ProcessMode(_Mode):
    def __init__(self) -> None:
        self.dir: str | None = None
        self.marker = secrets.token_hex(12).encode()

    def prepare(self, lim, code):
        import tempfile

        self.dir = self.cwd = tempfile.mkdtemp(prefix="preftree-sandbox-")
        path = os.path.join(self.dir, "main.py")
        with open(path, "wb") as f:
            f.write(code)
        os.chmod(path, 0o444)
        if os.geteuid() == 0:
            os.chown(self.dir, SANDBOX_UID, SANDBOX_GID)
        os.chmod(self.dir, 0o700)
        return [*_drop_argv(), *_prlimit_argv(lim), PYTHON, "-s", "-P", path]

    def env(self) -> dict[str, str]:
        assert self.dir is not None and self.marker is not None
        return {**_env(self.dir), _MARKER_VAR: self.marker.decode()}

    def after(self) -> None:
        _sweep(self.marker)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def _sweep(marker: bytes | None) -> None:
    """Process mode: SIGKILL leftovers of this run that left its process group (they carry the marker)."""
    if not marker:
        return
    needle = f"{_MARKER_VAR}=".encode() + marker
    uid = SANDBOX_UID if os.geteuid() == 0 else os.geteuid()
    me = os.getpid()
    for _ in range(10):
        found = False
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            try:
                if os.stat(f"/proc/{name}").st_uid != uid:
                    continue
                with open(f"/proc/{name}/environ", "rb") as f:
                    env = f.read()
            except OSError:
                continue
            if needle in env.split(b"\0"):
                try:
                    os.kill(int(name), signal.SIGKILL)
                    found = True
                except OSError:
                    pass
        if not found:
            return
        time.sleep(0.01)


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def _exited(pid: int) -> bool:
    """Whether `pid` has exited, without reaping it (so its pid, our process group id, stays reserved)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _read_into(fd: int, buf: bytearray, cap: int) -> Literal["data", "again", "eof", "overflow"]:
    """Read what is available into `buf`, which never grows past cap + 1 bytes."""
    try:
        chunk = os.read(fd, min(1 << 16, cap + 1 - len(buf)))
    except BlockingIOError:
        return "again"
    except OSError:
        return "eof"
    if not chunk:
        return "eof"
    buf += chunk
    return "overflow" if len(buf) > cap else "data"


def _execute(mode: _Mode, code: str, stdin: str, timeout_s: float, cap: int, lim: SandboxParams) -> ExecResult:
    t0 = time.monotonic()
    deadline = t0 + max(0.0, timeout_s)
    try:
        argv = mode.prepare(lim, code.encode("utf-8", errors="surrogatepass"))
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=mode.cwd,
            env=mode.env(),
            start_new_session=True,
            pass_fds=mode.pass_fds,
        )
    except BaseException:
        mode.started()
        mode.after()
        raise
    mode.started()
    pgid = proc.pid  # start_new_session: the launcher leads its own group
    bufs: dict[int, bytearray] = {}
    reason: Status | None = None
    pidfd = None
    try:
        poller = select.poll()
        for stream in (proc.stdout, proc.stderr):
            fd = stream.fileno()
            os.set_blocking(fd, False)
            bufs[fd] = bytearray()
            poller.register(fd, select.POLLIN)
        readers = set(bufs)
        order = list(bufs)
        data = memoryview(stdin.encode("utf-8", errors="surrogatepass"))
        in_fd: int | None = proc.stdin.fileno()
        if data:
            os.set_blocking(in_fd, False)
            poller.register(in_fd, select.POLLOUT)
        else:
            proc.stdin.close()
            in_fd = None
        try:
            pidfd = os.pidfd_open(proc.pid)
            poller.register(pidfd, select.POLLIN)
        except (AttributeError, OSError):
            pidfd = None
        exited_at: float | None = None
        while readers:
            now = time.monotonic()
            if exited_at is None and pidfd is None and _exited(proc.pid):
                exited_at = now
                _killpg(pgid)
                _sweep(mode.marker)
            if now >= deadline:
                if exited_at is None:
                    reason = "timeout"
                break
            if exited_at is not None and now - exited_at > _DRAIN_AFTER_EXIT_S:
                break  # something outside our reach still holds a pipe; the program itself is done
            wait_s = deadline - now
            if exited_at is not None:
                wait_s = min(wait_s, exited_at + _DRAIN_AFTER_EXIT_S - now)
            if pidfd is None:
                wait_s = min(wait_s, 0.02)
            for fd, ev in poller.poll(max(0, int(wait_s * 1000) + 1)):
                if fd == pidfd:
                    poller.unregister(pidfd)
                    exited_at = time.monotonic()
                    _killpg(pgid)  # leftovers in the group (process mode); the sandbox is gone already
                    _sweep(mode.marker)
                elif fd == in_fd:
                    try:
                        sent = os.write(in_fd, data[: 1 << 16]) if not ev & select.POLLERR else 0
                        data = data[sent:]
                    except BlockingIOError:
                        pass
                    except OSError:
                        data = data[:0]
                    if not data or ev & (select.POLLERR | select.POLLHUP):
                        poller.unregister(in_fd)
                        proc.stdin.close()
                        in_fd = None
                elif fd in readers:
                    got = _read_into(fd, bufs[fd], cap)
                    if got == "overflow":
                        reason = "output_limit"
                    elif got == "eof":
                        readers.discard(fd)
                        poller.unregister(fd)
            if reason:
                break
    finally:
        _killpg(pgid)  # always before reaping, while the group id cannot have been reused
        if pidfd is not None:
            os.close(pidfd)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL'd processes do not linger
            pass
        mode.after()
        for fd, buf in bufs.items():  # what was written before the end and not yet read
            while len(buf) <= cap and _read_into(fd, buf, cap) == "data":
                pass
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
    wall = time.monotonic() - t0
    out, err = (bytes(bufs[fd][:cap]) for fd in order)
    if reason is None and any(len(bufs[fd]) > cap for fd in order):
        reason = "output_limit"
    rc = proc.returncode
    if mode.bwrap_rc and rc is not None and 128 < rc <= 128 + 64:
        rc = 128 - rc  # bwrap's 128 + signal convention -> the subprocess convention
    stdout = out.decode("utf-8", errors="replace")
    stderr = err.decode("utf-8", errors="replace")
    return ExecResult(_status(reason, rc, stderr), rc, stdout, stderr, wall)


def _status(reason: Status | None, rc: int | None, stderr: str) -> Status:
    if reason:
        return reason
    if rc == 0:
        return "ok"
    if any(sign in stderr for sign in _MEMORY_SIGNS):
        return "memory"
    if rc is None or rc < 0:
        return "killed"
    return "error"


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
    limits: SandboxParams | None = None,
) -> ExecResult:
    """Run `code` as a fresh ``python3`` program in a sandbox and return what happened.

    `limits` supplies every limit (isolation, cpu_s, nproc, fsize_mb, tmpfs_mb and the rest); the
    keyword arguments, when given (not None), override its timeout_s / memory_mb / max_output_bytes.
    Without `limits` the SandboxParams defaults apply (5 s, 512 MiB, 64 KiB, isolation=bwrap).
    A value <= 0 for memory_mb, cpu_s, nproc, fsize_mb or tmpfs_mb means no such limit.
    """
    lim = limits or SandboxParams()
    overrides = {
        k: v
        for k, v in (("timeout_s", timeout_s), ("memory_mb", memory_mb), ("max_output_bytes", max_output_bytes))
        if v is not None
    }
    if overrides:
        lim = replace(lim, **overrides)
    check_available(lim.isolation)
    mode: _Mode = _BwrapMode(_find_bwrap()) if lim.isolation == "bwrap" else _ProcessMode()
    return _execute(mode, code, stdin, float(lim.timeout_s), max(0, int(lim.max_output_bytes)), lim)


def run_many(jobs: Sequence[Job], workers: int) -> list[ExecResult]:
    """Run `jobs` with up to `workers` sandboxes at a time; results in the order of `jobs`."""
    jobs = list(jobs)
    if workers <= 1 or len(jobs) <= 1:
        return [run(j.code, stdin=j.stdin, limits=j.limits) for j in jobs]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix="sandbox") as pool:
        return list(pool.map(lambda j: run(j.code, stdin=j.stdin, limits=j.limits), jobs))


def _with_tests(program: str, tests: Sequence[str], nonce: str) -> str:
    """`program`, then the tests, then a line that writes the nonce as the last line of stdout."""
    tail = (
        "import os as _preftree_os, sys as _preftree_sys\n"
        "for _preftree_stream in (_preftree_sys.stdout, _preftree_sys.__stdout__):\n"
        "    try:\n"
        "        _preftree_stream.flush()\n"
        "    except Exception:\n"
        "        pass\n"
        f"_preftree_os.write(1, b'\\n{nonce}\\n')\n"
    )
    return "\n".join([program, "", *tests, "", tail])


def run_tests(program: str, tests: Sequence[str], *, limits: SandboxParams | None = None) -> tuple[bool, ExecResult]:
    """Run `program` followed by `tests` (Python statements, e.g. asserts); True when they all pass.

    The verdict never comes from the exit code alone. After the tests the harness-appended code writes
    a fresh random nonce (``secrets.token_hex``) as the last stdout line; the run passes iff it exits 0
    AND that last line is the nonce. This defeats early exits (``os._exit(0)`` / ``sys.exit(0)`` /
    ``raise SystemExit`` before the tests run) and exit-code spoofing, since the program cannot know
    the nonce in advance. Threat model, honestly: the nonce is in the program's own source, so code that
    reads its own file (``/code/main.py``, ``__file__``, ``inspect``, ``/proc/self/cmdline`` and
    friends) can print it and exit 0 without running the tests; and code that tampers with what the
    tests check (returning an object whose ``__eq__`` is always True, a trace hook, patched builtins)
    can make the asserts pass. Against such deliberate reward hacking, judge from outside the process
    (e.g. outputs compared by the harness) or inspect the code.

    The returned result's stdout has the nonce line (and the newline written before it) removed.
    """
    nonce = secrets.token_hex(16)
    res = run(_with_tests(program, tests, nonce), limits=limits)
    lines = res.stdout.splitlines()
    passed = res.status == "ok" and res.returncode == 0 and bool(lines) and lines[-1] == nonce
    suffix = f"\n{nonce}\n"
    if res.stdout.endswith(suffix):
        res = replace(res, stdout=res.stdout[: -len(suffix)])
    return passed, res


# --------------------------------------------------------------------------------------------
# stdin/stdout test cases


@dataclass(frozen=True)
class CaseOutcome:
    """What one stdin/stdout test case did inside :func:`run_stdio`."""

    index: int  # 0-based position in the `cases` given
    verdict: Literal["ok", "wrong", "error"]  # error: the solution raised (or exited non-zero)
    got: str  # the solution's stdout for this case, at most `got_limit` characters
    error: str  # "error": the traceback (frames of the solution only) or "SystemExit: <code>"


@dataclass(frozen=True)
class StdioRun:
    """The result of :func:`run_stdio`.

    ``passed`` is True only when the process exited cleanly (status ``ok``), the driver reported its
    end, and every case reported ``ok``. ``outcomes`` holds the cases that reported, in order; the
    driver stops after the first case that is not ``ok``. ``running`` is the case that had started but
    not reported when the process ended (a timeout, memory / CPU limit or ``os._exit`` in that case);
    None when every started case reported. ``result.stdout`` is what reached the real stdout other than
    the driver's report lines (normally nothing: each case's stdout is captured).
    """

    passed: bool
    outcomes: tuple[CaseOutcome, ...]
    running: int | None
    finished: bool
    result: ExecResult


_STDIO_DRIVER = r"""
def _preftree_driver(_SOURCE, _CASES, _NONCE, _GOT_LIMIT):
    import builtins, json, linecache, math, os, re, sys, threading, traceback, types

    out_fd = os.dup(1)  # the real stdout: only the driver's report lines go there
    number = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
    integer = re.compile(r"[+-]?\d+")

    def report(event):
        data = (_NONCE + " " + json.dumps(event) + "\n").encode("utf-8", "surrogatepass")
        while data:
            data = data[os.write(out_fd, data):]

    def same_token(a, b):
        if a == b:
            return True
        if integer.fullmatch(a) and integer.fullmatch(b):
            try:
                return int(a) == int(b)
            except ValueError:  # more digits than int() converts
                return False
        if number.fullmatch(a) and number.fullmatch(b):
            x, y = float(a), float(b)
            return math.isfinite(x) and math.isfinite(y) and math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6)
        return False

    def same(got, want):
        a, b = got.split(), want.split()
        return len(a) == len(b) and all(same_token(x, y) for x, y in zip(a, b))

    def formatted(exc):
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != "<solution>":
            tb = tb.tb_next
        return "".join(traceback.format_exception(type(exc), exc, tb))

    def join_threads():
        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()

    def memfd(name, payload=b""):
        fd = os.memfd_create(name)
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
        return fd

    linecache.cache["<solution>"] = (len(_SOURCE), None, _SOURCE.splitlines(True), "<solution>")
    try:
        code = compile(_SOURCE, "<solution>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        report({"case": 0, "verdict": "error", "got": "", "error": formatted(exc)})
        report({"end": True})
        return
    for index, (data, want) in enumerate(_CASES):
        report({"start": index})
        in_fd = memfd("stdin", data.encode("utf-8", "surrogatepass"))
        case_out = memfd("stdout")
        os.dup2(in_fd, 0)
        os.close(in_fd)
        os.dup2(case_out, 1)
        sys.stdin = open(0, encoding="utf-8", errors="replace", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", errors="surrogatepass", closefd=False)
        main = types.ModuleType("__main__")
        main.__dict__["__builtins__"] = builtins
        sys.modules["__main__"] = main
        error = ""
        try:
            try:
                exec(code, main.__dict__)
            finally:
                join_threads()
        except SystemExit as exc:
            if exc.code is not None and exc.code != 0:
                error = "SystemExit: " + str(exc.code)
        except MemoryError:
            raise
        except BaseException as exc:
            error = formatted(exc) or type(exc).__name__
        for stream in (sys.stdout, sys.__stdout__):
            try:
                stream.flush()
            except Exception:
                pass
        size = os.fstat(case_out).st_size
        got = os.pread(case_out, size, 0).decode("utf-8", "replace") if size else ""
        os.close(case_out)
        verdict = "error" if error else ("ok" if same(got, want) else "wrong")
        report({"case": index, "verdict": verdict, "got": got[:_GOT_LIMIT], "error": error[-_GOT_LIMIT:]})
        if verdict != "ok":
            break
    os.dup2(out_fd, 1)
    report({"end": True})


_preftree_driver(*__import__("json").loads(_PREFTREE_ARGS))
"""


def stdio_program(program: str, cases: Sequence[tuple[str, str]], nonce: str, got_limit: int = 4000) -> str:
    """The driver program :func:`run_stdio` runs (a plain Python program; exposed for tests)."""
    args = json.dumps([program, [[i, o] for i, o in cases], nonce, int(got_limit)])
    return f"_PREFTREE_ARGS = {args!r}\n{_STDIO_DRIVER}"


def run_stdio(
    program: str,
    cases: Sequence[tuple[str, str]],
    *,
    limits: SandboxParams | None = None,
    got_limit: int = 4000,
) -> StdioRun:
    """Run `program` as a ``__main__`` script once per (stdin, expected stdout) case, in ONE sandbox.

    A driver compiles `program` once (as ``<solution>``) and, per case in order: puts the case's input
    on file descriptor 0 and a fresh in-memory file on descriptor 1 (``memfd``; so ``input()``,
    ``sys.stdin.buffer``, ``open(0)``, ``print``, ``sys.stdout.buffer`` and ``os.write(1, ...)`` all
    behave as in a real run), rebinds ``sys.stdin`` / ``sys.stdout``, execs the program in a fresh
    ``__main__`` module (``__name__ == "__main__"``), joins the non-daemon threads it started, and
    compares what it printed with the expected output token by token (whitespace-split; two tokens
    are equal when identical, when both are integers of equal value, or when both are decimal
    numbers within 1e-6 relative or absolute of each other). ``SystemExit`` with code None / 0
    (``exit()``, ``sys.exit(0)``) ends a case normally; another code is a runtime error of that case,
    as on a contest judge. The first case that fails ends the run. All cases share the time, CPU and
    memory limits of `limits`.

    The driver reports through a duplicate of the real stdout, one line per event, each prefixed with
    a fresh nonce, and a final end line; a pass needs the end line, so ``os._exit`` in the solution
    cannot pass. Threat model as :func:`run_tests`: the expected outputs and the nonce are in the
    program the sandbox runs, so code that inspects its caller's frames or reads ``/code/main.py``
    could forge a pass; judging outputs outside the process would close that at the price of shipping
    every output back through the output cap.
    """
    nonce = secrets.token_hex(16)
    res = run(stdio_program(program, cases, nonce, got_limit), limits=limits)
    outcomes: list[CaseOutcome] = []
    started: int | None = None
    finished = False
    rest: list[str] = []
    prefix = nonce + " "
    for line in res.stdout.splitlines(keepends=True):
        if not line.startswith(prefix):
            rest.append(line)
            continue
        try:
            event = json.loads(line[len(prefix) :])
        except ValueError:
            continue
        if event.get("end"):
            finished = True
        elif "start" in event:
            started = int(event["start"])
        elif "case" in event:
            outcomes.append(CaseOutcome(int(event["case"]), event["verdict"], str(event["got"]), str(event["error"])))
    running = started if started is not None and not any(o.index == started for o in outcomes) else None
    passed = (
        res.status == "ok"
        and finished
        and len(outcomes) == len(cases)
        and all(o.verdict == "ok" and o.index == i for i, o in enumerate(outcomes))
    )
    return StdioRun(passed, tuple(outcomes), running, finished, replace(res, stdout="".join(rest)))
