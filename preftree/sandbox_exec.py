"""Running one program in a launched sandbox: feed stdin, read stdout / stderr up to the cap, enforce
the wall clock, kill the process group, and name the outcome (see :mod:`preftree.sandbox`, Statuses).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import IO, Literal

from preftree.config.sandbox import SandboxParams
from preftree.sandbox_modes import Mode, sweep

Status = Literal["ok", "error", "timeout", "memory", "output_limit", "killed"]

_DRAIN_AFTER_EXIT_S = 0.5  # after the program exits, how long to wait for its pipes to reach EOF
_MEMORY_SIGNS = ("MemoryError", "Cannot allocate memory", "out of memory", "std::bad_alloc")


@dataclass(frozen=True)
class ExecResult:
    status: Status
    returncode: int | None  # negative = killed by that signal
    stdout: str  # at most max_output_bytes bytes, decoded with errors="replace"
    stderr: str
    wall_s: float


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


def _feed(fd: int, pending: bytes, events: int) -> tuple[bytes, bool]:
    """Write what a non-blocking pipe takes of ``pending`` (64 KiB at most); return the rest and whether
    the pipe is done with (all written, or the reader gone: the rest is dropped)."""
    try:
        sent = os.write(fd, pending[: 1 << 16]) if not events & select.POLLERR else 0
        pending = pending[sent:]
    except BlockingIOError:
        pass
    except OSError:
        pending = pending[:0]
    return pending, not pending or bool(events & (select.POLLERR | select.POLLHUP))


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


@dataclass
class Launched:
    """A started sandbox that has not been given its stdin (nor, when prepared without it, its program).

    :func:`supervise` talks to it through the methods below: a launcher process here
    (``preftree.sandbox_zygote.ServerRun`` overrides them for a program forked by a fork server)."""

    mode: Mode
    proc: subprocess.Popen[bytes]
    program_w: int | None  # write the program here, then close (a sandbox launched before its program)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def streams(self) -> tuple[IO[bytes], IO[bytes], IO[bytes]]:
        """The program's stdin, stdout and stderr pipes (our ends)."""
        proc = self.proc
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        return proc.stdin, proc.stdout, proc.stderr

    def exit_fd(self) -> int | None:
        """A new fd that becomes readable when the sandbox has ended (None: poll :meth:`exited`)."""
        try:
            return os.pidfd_open(self.proc.pid)
        except (AttributeError, OSError):
            return None

    def exited(self) -> bool:
        return _exited(self.proc.pid)

    def kill(self) -> None:
        """SIGKILL what is left of the run (start_new_session: the launcher leads its own group)."""
        _killpg(self.proc.pid)

    def reap(self) -> int | None:
        """Wait for the killed sandbox and clean up after it; its exit status (see :attr:`Mode.bwrap_rc`)."""
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL'd processes do not linger
            pass
        self.mode.after()
        return self.proc.returncode

    def discard(self) -> None:
        """Kill an unused sandbox and clean up after it (as a finished run does)."""
        if self.program_w is not None:
            os.close(self.program_w)
            self.program_w = None
        self.kill()
        self.reap()
        _close(self.streams())


def _close(streams: tuple[IO[bytes], ...]) -> None:
    for stream in streams:
        try:
            stream.close()
        except OSError:
            pass


def launch(mode: Mode, lim: SandboxParams, code: str | None) -> Launched:
    """Start a sandbox for `code` under `lim`'s rlimits; `code` None (modes with ``late_program``): the
    sandbox waits in its setup until :func:`supervise` writes the program. Nothing is read or written
    yet: the program's own startup proceeds while the caller does other things."""
    try:
        argv = mode.prepare(lim, None if code is None else code.encode("utf-8", errors="surrogatepass"))
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
    program_w, mode.program_w = mode.program_w, None
    return Launched(mode, proc, program_w)


def execute(mode: Mode, code: str, stdin: str, timeout_s: float, cap: int, lim: SandboxParams) -> ExecResult:
    """Launch a sandbox for `code` and :func:`supervise` it."""
    return supervise(launch(mode, lim, code), None, stdin, timeout_s, cap)


def supervise(run: Launched, code: str | None, stdin: str, timeout_s: float, cap: int) -> ExecResult:
    """Give a launched sandbox its program (when it was launched without one) and its stdin, read its
    stdout / stderr up to `cap` bytes each, enforce the wall clock from now, kill what is left, and
    name the outcome."""
    t0 = time.monotonic()
    deadline = t0 + max(0.0, timeout_s)
    mode = run.mode
    stdin_w, stdout_r, stderr_r = run.streams()
    bufs: dict[int, bytearray] = {}
    reason: Status | None = None
    pidfd = None
    rc: int | None = None
    try:
        poller = select.poll()
        for stream in (stdout_r, stderr_r):
            fd = stream.fileno()
            os.set_blocking(fd, False)
            bufs[fd] = bytearray()
            poller.register(fd, select.POLLIN)
        readers = set(bufs)
        order = list(bufs)
        program_fd = run.program_w
        if program_fd is not None:
            assert code is not None, "a sandbox launched without its program needs one"
            program = memoryview(code.encode("utf-8", errors="surrogatepass"))
            os.set_blocking(program_fd, False)
            poller.register(program_fd, select.POLLOUT)
        data = memoryview(stdin.encode("utf-8", errors="surrogatepass"))
        in_fd: int | None = stdin_w.fileno()
        if data:
            os.set_blocking(in_fd, False)
            poller.register(in_fd, select.POLLOUT)
        else:
            stdin_w.close()
            in_fd = None
        pidfd = run.exit_fd()
        if pidfd is not None:
            poller.register(pidfd, select.POLLIN)
        exited_at: float | None = None
        while readers:
            now = time.monotonic()
            if exited_at is None and pidfd is None and run.exited():
                exited_at = now
                run.kill()
                sweep(mode.marker)
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
                    run.kill()  # leftovers in the group (process mode); the sandbox is gone already
                    sweep(mode.marker)
                elif fd == program_fd:
                    program, done = _feed(program_fd, program, ev)
                    if done:
                        poller.unregister(program_fd)
                        os.close(program_fd)
                        program_fd = run.program_w = None
                elif fd == in_fd:
                    data, done = _feed(in_fd, data, ev)
                    if done:
                        poller.unregister(in_fd)
                        stdin_w.close()
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
        run.kill()  # always before reaping, while the group id cannot have been reused
        if pidfd is not None:
            os.close(pidfd)
        if run.program_w is not None:
            os.close(run.program_w)
            run.program_w = None
        rc = run.reap()
        for fd, buf in bufs.items():  # what was written before the end and not yet read
            while len(buf) <= cap and _read_into(fd, buf, cap) == "data":
                pass
        _close((stdin_w, stdout_r, stderr_r))
    wall = time.monotonic() - t0
    out, err = (bytes(bufs[fd][:cap]) for fd in order)
    if reason is None and any(len(bufs[fd]) > cap for fd in order):
        reason = "output_limit"
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
