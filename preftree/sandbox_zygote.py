"""Fork servers: a fresh, isolated process per program without a fresh sandbox launch per program.

Launching a sandbox per program costs ~14 ms of CPU before the program's first line: bwrap creates the
namespaces and mounts, then Debian's ``python3`` starts. Inside a :func:`preftree.sandbox.pooled` block
(``isolation=bwrap``) runs go instead to a fork server: ``programs/zygote.py``, started once in a
sandbox of the usual command line (``preftree.sandbox_modes.bwrap_argv`` with ``server``), which forks
for every program a process that creates its *own* user, mount, PID, network, IPC, UTS and cgroup
namespaces, mounts a fresh size-capped ``/tmp`` (the cwd), a read-only ``/code/main.py`` and a fresh
``/proc``, disables nested user namespaces (bwrap's ``--disable-userns``), brings the loopback up (as
bwrap does), sets the rlimits that ``prlimit`` sets, drops every capability and sets no_new_privs; it
then runs the program as ``python3 -s -P /code/main.py`` would, as PID 2 under a PID 1 that reaps and
exits with its status the way bwrap's does (measured: ~3 ms a program instead of ~22 ms).

So each program still gets a fresh process (a fork of a server that has run no program), its own
namespaces, the same limits, the same environment, the same uid and read-only view of the system, and
the same verdict rules (tests/test_sandbox_zygote.py runs the hostile table of
tests/test_sandbox_pool.py both ways and compares statuses, exit codes and output). What differs, stated
in docs/sandbox.md: the program's interpreter was not started for it (modules the server imported --
ctypes, socket, resource, fcntl, struct -- are already in ``sys.modules``; ``sys.orig_argv`` is the
server's), the server process is shared by the programs it forks (none of them can reach it: they are in
child namespaces without capabilities), and the wall clock starts when the program's process exists.

The harness gives the server the program's stdin, stdout and stderr pipes (SCM_RIGHTS) and gets back a
pidfd of the program's PID 1, through which :func:`preftree.sandbox_exec.supervise` kills the run; the
exit status follows on the control socket. A server that fails (setup error, no answer) is discarded
and the run goes to a sandbox launched for it, so a verdict never depends on the server.

Availability: the first server of a process is probed with one program; where the kernel refuses a
nested namespace or mount (no proc mount allowed in a nested user namespace, e.g.), a one-time warning
says so and pooled runs use pre-started sandboxes (``preftree.sandbox_pool``) instead.
"""

from __future__ import annotations

import atexit
import functools
import os
import queue
import select
import signal
import socket
import struct
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO

from preftree.config.sandbox import SandboxParams
from preftree.sandbox_exec import Launched, launch
from preftree.sandbox_modes import BwrapMode, bwrap_argv, rlimit_values
from preftree.sandbox_pool import POOL

PACKAGE_DATA: tuple[str, ...] = ("programs/zygote.py",)  # the fork server, read as bytes
CHUNK = 1 << 16  # the server reads the program in messages of at most this size
REPLY_TIMEOUT_S = 10.0  # a server that takes longer to answer is broken
IDLE_S = 30.0  # an idle server unused this long is closed

Key = tuple[object, ...]


class ServerError(RuntimeError):
    """A fork server failed or did not answer; the run goes to a sandbox launched for it."""


@functools.cache
def _server_source() -> bytes:
    return (Path(__file__).parent / PACKAGE_DATA[0]).read_bytes()


def key_of(bwrap: str, lim: SandboxParams) -> Key:
    """Servers are interchangeable when started by the same bwrap with the same launch-time limits."""
    return (bwrap, *rlimit_values(lim), tuple(sorted(lim.packages.items())))


class ServerMode(BwrapMode):
    """The launch of a fork server: bwrap's command line for a server, its control socket passed in."""

    def __init__(self, bwrap: str, ctrl_fd: int) -> None:
        super().__init__(bwrap)
        self.ctrl_fd = ctrl_fd

    def prepare(self, lim, code):
        code_fd = os.memfd_create("preftree-zygote", os.MFD_CLOEXEC)
        os.write(code_fd, _server_source())
        os.lseek(code_fd, 0, os.SEEK_SET)
        self.info_r, info_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self.pass_fds = (code_fd, info_w, self.ctrl_fd)
        server = [str(self.ctrl_fd), *map(str, rlimit_values(lim))]
        return bwrap_argv(self.bwrap, lim, code_fd, info_w, server=server)

    def started(self) -> None:
        fds, self.pass_fds = self.pass_fds, ()
        for fd in fds[:2]:  # the control socket's server end is closed by the Server
            os.close(fd)


def _wait_readable(fd: int, timeout_s: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(int(timeout_s * 1000)))


class Server:
    """One fork server: serves one program at a time."""

    def __init__(self, bwrap: str, lim: SandboxParams) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        self.key = key_of(bwrap, lim)
        self.used_at = time.monotonic()
        try:
            self.launched: Launched = launch(ServerMode(bwrap, theirs.fileno()), lim, "")
        except OSError as err:
            ours.close()
            raise ServerError(f"the fork server could not be launched: {err}") from err
        finally:
            theirs.close()
        self.launched.streams()[0].close()  # the server reads nothing on stdin
        try:
            ready = self._recv()
        except ServerError:
            ready = b""
        if ready != b"R":
            why = self._stderr()
            self.close()
            raise ServerError("the fork server did not start" + why)

    def _stderr(self) -> str:
        err = self.launched.streams()[2]
        if not _wait_readable(err.fileno(), 0.5):
            return ""
        try:
            os.set_blocking(err.fileno(), False)
            text = err.read(4000) or b""
        except OSError:
            text = b""
        return f": {text.decode(errors='replace').strip()}" if text else ""

    def _recv(self, with_fd: bool = False) -> bytes:
        if not _wait_readable(self.sock.fileno(), REPLY_TIMEOUT_S):
            raise ServerError(f"the fork server did not answer in {REPLY_TIMEOUT_S:.0f} s")
        try:
            msg, fds, _, _ = socket.recv_fds(self.sock, 8192, 1)
        except OSError as err:
            raise ServerError(f"the fork server's socket failed: {err}") from err
        if with_fd and fds:
            self._fd = fds[0]
        else:
            for fd in fds:
                os.close(fd)
        if msg[:1] == b"E":
            raise ServerError(f"the fork server failed: {msg[1:].decode(errors='replace')}")
        return msg

    def start(self, code: str) -> ServerRun:
        """Hand the server a program; returns once the program's namespaces exist (before it runs)."""
        body = code.encode("utf-8", errors="surrogatepass")
        stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
        stdout_r, stdout_w = os.pipe2(os.O_CLOEXEC)
        stderr_r, stderr_w = os.pipe2(os.O_CLOEXEC)
        ours = (stdin_w, stdout_r, stderr_r)
        try:
            try:
                socket.send_fds(self.sock, [b"X" + len(body).to_bytes(8, "big")], [stdin_r, stdout_w, stderr_w])
                view = memoryview(body)
                for at in range(0, len(body), CHUNK):
                    self.sock.sendall(view[at : at + CHUNK])
            except OSError as err:  # the server is gone
                raise ServerError(f"the fork server did not take the program: {err}") from err
            finally:
                for fd in (stdin_r, stdout_w, stderr_w):
                    os.close(fd)
            self._fd = -1
            if self._recv(with_fd=True) != b"P" or self._fd < 0:
                raise ServerError("the fork server sent no process")
        except BaseException:
            for fd in ours:
                os.close(fd)
            raise
        self.used_at = time.monotonic()
        streams = (
            open(stdin_w, "wb", buffering=0),  # noqa: SIM115 - supervise closes them
            open(stdout_r, "rb", buffering=0),  # noqa: SIM115
            open(stderr_r, "rb", buffering=0),  # noqa: SIM115
        )
        return ServerRun(self.launched.mode, self.launched.proc, None, server=self, pidfd=self._fd, pipes=streams)

    def status(self) -> int:
        """The exit status of the program just run (bwrap's convention), once its PID 1 is gone."""
        msg = self._recv()
        if msg[:1] != b"S" or len(msg) != 5:
            raise ServerError(f"the fork server sent {msg[:16]!r} for a status")
        return struct.unpack(">i", msg[1:])[0]

    def alive(self) -> bool:
        return self.launched.alive()

    def close(self) -> None:
        self.sock.close()  # the server reads EOF and exits
        launched = self.launched
        if launched.proc.poll() is None:  # not reaped yet, so its group id cannot have been reused
            launched.kill()
        launched.reap()
        for stream in launched.streams():
            try:
                stream.close()
            except OSError:
                pass


class ServerRun(Launched):
    """A program forked by a :class:`Server`, seen by :func:`preftree.sandbox_exec.supervise` as a
    launched sandbox: its PID 1's pidfd says when it ended and kills it; the status comes from the server."""

    def __init__(self, mode, proc, program_w, *, server: Server, pidfd: int, pipes: tuple[IO[bytes], ...]) -> None:
        super().__init__(mode, proc, program_w)
        self.server = server
        self.pidfd = pidfd
        self.pipes = pipes
        self.broken: ServerError | None = None

    def alive(self) -> bool:
        return not _wait_readable(self.pidfd, 0)

    def streams(self):
        stdin_w, stdout_r, stderr_r = self.pipes
        return stdin_w, stdout_r, stderr_r

    def exit_fd(self) -> int | None:
        return os.dup(self.pidfd)

    def exited(self) -> bool:
        return not self.alive()

    def kill(self) -> None:
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except OSError:
            pass

    def reap(self) -> int | None:
        """Wait until the program's PID 1 is gone (the kernel then has killed every process of its
        namespace), then read its status from the server."""
        try:
            if not _wait_readable(self.pidfd, REPLY_TIMEOUT_S):
                self.broken = ServerError("a program's PID 1 outlived SIGKILL")
                return None
            try:
                return self.server.status()
            except ServerError as err:
                self.broken = err
                return None
        finally:
            os.close(self.pidfd)
            self.pidfd = -1

    def discard(self) -> None:  # pragma: no cover - never pooled
        self.kill()
        self.reap()


class Servers:
    """Idle fork servers by kind, launched on demand from one long-lived thread (bwrap's
    ``--die-with-parent`` follows the launching *thread*)."""

    def __init__(self) -> None:
        self.enabled = True  # False: pooled runs use pre-started sandboxes (bench/sandbox.py compares both)
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[Key, list[Server]] = {}
        self._requests: queue.SimpleQueue[tuple[Callable[[], Server], queue.SimpleQueue[object]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._usable: dict[str, bool] = {}
        self._pid = os.getpid()
        self.launched = 0  # servers started (tests, the bench)
        self.served = 0  # runs served by a server

    # -- the launcher thread -------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            make, reply = self._requests.get()
            try:
                reply.put(make())
            except BaseException as err:  # noqa: BLE001 - handed to the caller
                reply.put(err)

    def _launch(self, bwrap: str, lim: SandboxParams) -> Server:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="sandbox-servers", daemon=True)
                self._thread.start()
        reply: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._requests.put((functools.partial(Server, bwrap, lim), reply))
        got = reply.get()
        if isinstance(got, BaseException):
            raise got
        assert isinstance(got, Server)
        with self._lock:
            self.launched += 1
        return got

    # -- runs --------------------------------------------------------------------------------------------
    def take(self, bwrap: str, lim: SandboxParams) -> Server | None:
        """An idle server of this kind, or a new one; None where fork servers do not work on this host."""
        if self._usable.get(bwrap) is False:
            return None
        key = key_of(bwrap, lim)
        stale: list[Server] = []
        got: Server | None = None
        now = time.monotonic()
        with self._lock:
            idle = self._idle.setdefault(key, [])
            while idle and got is None:
                server = idle.pop()
                if server.alive() and now - server.used_at < IDLE_S:
                    got = server
                else:
                    stale.append(server)
        for server in stale:
            server.close()
        if got is not None:
            return got
        try:
            server = self._launch(bwrap, lim)
            if bwrap not in self._usable:
                self._probe(server, bwrap)
            return server
        except ServerError as err:
            if bwrap not in self._usable:
                self._usable[bwrap] = False
                warnings.warn(
                    f"sandbox fork servers do not work on this host ({err}); pooled runs use pre-started "
                    "sandboxes instead (same guarantees, slower)",
                    RuntimeWarning,
                    stacklevel=3,
                )
            return None

    def _probe(self, server: Server, bwrap: str) -> None:
        """One program through a new kind of server: it must exit 0 and print what it was given."""
        run = server.start("import sys\nprint(sys.stdin.read())")
        stdin_w, stdout_r, stderr_r = run.streams()
        stdin_w.write(b"probe")
        stdin_w.close()
        out = stdout_r.read()
        err = stderr_r.read()
        stdout_r.close()
        stderr_r.close()
        rc = run.reap()
        if run.broken or rc != 0 or out != b"probe\n":
            server.close()
            raise ServerError(f"probe program: exit {rc}, {(run.broken or err.decode(errors='replace')[-300:])}")
        self._usable[bwrap] = True

    def give_back(self, server: Server, run: ServerRun) -> None:
        if run.broken is not None or not server.alive() or os.getpid() != self._pid:
            server.close()
            return
        with self._lock:
            self.served += 1
            self._idle.setdefault(server.key, []).append(server)

    def drain(self) -> None:
        """Close every idle server (the last pooled() block ended; interpreter exit)."""
        if os.getpid() != self._pid:
            return
        with self._lock:
            idle = [s for servers in self._idle.values() for s in servers]
            self._idle.clear()
        for server in idle:
            server.close()

    def idle(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._idle.values())

    def forget_in_child(self) -> None:
        """After fork: close this process's copies of the servers' sockets and pipes; start empty."""
        for servers in self._idle.values():
            for server in servers:
                try:
                    server.sock.close()
                except OSError:
                    pass
                for stream in server.launched.streams():
                    try:
                        stream.close()
                    except OSError:
                        pass
                server.launched.proc.returncode = 0  # not our child: never wait for it
        self._reset()


SERVERS = Servers()
atexit.register(SERVERS.drain)
POOL.on_drain(SERVERS.drain)  # the last pooled() block ends: no server outlives it
os.register_at_fork(after_in_child=SERVERS.forget_in_child)
