"""How a sandbox is launched: the command lines and the two isolation modes (see :mod:`preftree.sandbox`).

``bwrap`` (``BwrapMode``): setpriv (as root) -> bwrap -> prlimit -> python3, the program passed in a
memfd; after the run, waits until the sandbox's PID 1 is gone. ``process`` (``ProcessMode``): setpriv
(as root) -> prlimit -> python3 in a fresh temp dir, and a /proc sweep for leftovers carrying the
run's marker variable.
"""

from __future__ import annotations

import os
import secrets
import select
import shutil
import signal
import time

from preftree.config.sandbox import SandboxParams
from preftree.sandbox_env import PYTHON, SITE_MOUNT, check

SANDBOX_UID = 65534
SANDBOX_GID = 65534
PROGRAM_PATH = "/code/main.py"  # read-only inside the sandbox
SERVER_PATH = "/opt/preftree/zygote.py"  # the fork server (preftree.sandbox_zygote), read-only
WORKDIR = "/tmp"  # the private, size-capped tmpfs
NOFILE = 64
SETPRIV = "/usr/bin/setpriv"
PRLIMIT = "/usr/bin/prlimit"
MARKER_VAR = "PREFTREE_SANDBOX_RUN"  # process mode: tags the run's processes for the leftover sweep


# --------------------------------------------------------------------------------------------
# the command line


def _env(home: str, site: str | None = None) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    if site:  # sandbox.packages: the pinned scientific packages, ahead of Debian's dist-packages
        env["PYTHONPATH"] = site
    return env


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


def bwrap_argv(
    bwrap: str, lim: SandboxParams, code_fd: int, info_fd: int, server: list[str] | None = None
) -> list[str]:
    """The bwrap command line. `code_fd` is read to EOF during bwrap's setup, after the namespaces and
    mounts exist: a memfd holding the program, or the read end of a pipe that a pre-started sandbox
    (``preftree.sandbox_pool``) blocks on until its program comes.

    `server` (``preftree.sandbox_zygote``): the same sandbox for a fork server instead of one program:
    `code_fd` holds the server's source, mounted at :data:`SERVER_PATH` and run with the arguments
    `server`, without rlimits (the server applies them to each program) and without
    ``--disable-userns`` (it gives each program its own user namespace, in which nesting is then
    disabled); ``/code`` is an empty folder each program's tmpfs is mounted on."""
    site = check(lim.packages)
    argv = [
        *_drop_argv(),
        bwrap,
        "--unshare-all",
        "--unshare-user",
        *(["--disable-userns"] if server is None else []),
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
    if site is not None:
        argv += ["--ro-bind", str(site), SITE_MOUNT]
    if lim.tmpfs_mb > 0:
        argv += ["--size", str(lim.tmpfs_mb << 20)]
    argv += ["--tmpfs", WORKDIR, "--chdir", WORKDIR]
    if server is None:
        argv += ["--perms", "0444", "--ro-bind-data", str(code_fd), PROGRAM_PATH]
    else:
        argv += ["--dir", os.path.dirname(PROGRAM_PATH), "--perms", "0444", "--ro-bind-data", str(code_fd), SERVER_PATH]
    argv += ["--remount-ro", "/dev", "--remount-ro", "/", "--clearenv"]
    for key, value in _env(WORKDIR, SITE_MOUNT if site is not None else None).items():
        argv += ["--setenv", key, value]
    if server is None:
        return [*argv, "--", *_prlimit_argv(lim), PYTHON, "-s", "-P", PROGRAM_PATH]
    return [*argv, "--", PYTHON, "-s", "-P", SERVER_PATH, *server]


def rlimit_values(lim: SandboxParams) -> list[int]:
    """What :func:`_prlimit_argv` sets, as numbers for the fork server (0 = unlimited): cpu_s, memory_mb,
    nproc, fsize_mb, tmpfs_mb, nofile."""
    cpu = max(1, int(lim.cpu_s)) if lim.cpu_s > 0 else 0
    return [cpu, max(0, lim.memory_mb), max(0, lim.nproc), max(0, lim.fsize_mb), max(0, lim.tmpfs_mb), NOFILE]


# --------------------------------------------------------------------------------------------
# the two isolation modes


class Mode:
    """What differs between the two isolation levels: the command line, fds to pass, the cleanup."""

    bwrap_rc: bool = False  # exit status comes from bwrap (128 + signal for a signal death)
    marker: bytes | None = None  # process mode: tags the run's processes for the leftover sweep
    cwd = "/"

    def prepare(self, lim: SandboxParams, code: bytes | None) -> list[str]:
        """argv; may open fds listed in self.pass_fds. `code` None: the program is written later to
        ``self.program_w`` (bwrap only; see :attr:`late_program`)."""
        raise NotImplementedError

    late_program: bool = False  # prepare(lim, None) is supported: the program can come after the launch
    program_w: int | None = None  # the pipe end to write the program to, when prepared without it

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


class BwrapMode(Mode):
    bwrap_rc = True
    late_program = True

    def __init__(self, bwrap: str) -> None:
        self.bwrap = bwrap
        self.info_r: int | None = None

    def prepare(self, lim, code):
        if code is None:  # bwrap blocks in its setup reading this pipe until the program is written
            code_fd, self.program_w = os.pipe2(os.O_CLOEXEC)
        else:
            code_fd = os.memfd_create("preftree-program", os.MFD_CLOEXEC)
            view = memoryview(code)
            while view:
                view = view[os.write(code_fd, view) :]
            os.lseek(code_fd, 0, os.SEEK_SET)
        self.info_r, info_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self.pass_fds = (code_fd, info_w)
        return bwrap_argv(self.bwrap, lim, code_fd, info_w)

    def after(self) -> None:
        """Wait until the sandbox's PID 1 is gone, i.e. the kernel has killed every process in it.

        Killing (or the exit of) the outer bwrap only makes its PID 1 receive SIGKILL through
        --die-with-parent; the PID namespace teardown then finishes asynchronously. bwrap's --info-fd
        tells us PID 1's host pid; a pidfd on it becomes readable once it has exited, which the kernel
        allows only after every other process of the namespace is dead.
        """
        if self.program_w is not None:
            os.close(self.program_w)
            self.program_w = None
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


class ProcessMode(Mode):
    def __init__(self) -> None:
        self.dir: str | None = None
        self.site: str | None = None
        self.marker = secrets.token_hex(12).encode()

    def prepare(self, lim, code):
        if code is None:
            raise ValueError("isolation=process needs the program at launch")
        import tempfile

        sweep_stale_dirs(tempfile.gettempdir())
        self.dir = self.cwd = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-")
        path = os.path.join(self.dir, "main.py")
        with open(path, "wb") as f:
            f.write(code)
        os.chmod(path, 0o444)
        if os.geteuid() == 0:
            os.chown(self.dir, SANDBOX_UID, SANDBOX_GID)
        os.chmod(self.dir, 0o700)
        site = check(lim.packages)
        self.site = str(site) if site is not None else None
        return [*_drop_argv(), *_prlimit_argv(lim), PYTHON, "-s", "-P", path]

    def env(self) -> dict[str, str]:
        assert self.dir is not None and self.marker is not None
        return {**_env(self.dir, self.site), MARKER_VAR: self.marker.decode()}

    def after(self) -> None:
        sweep(self.marker)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


TEMP_PREFIX = "preftree-sandbox-"
_SWEPT: set[str] = set()


def sweep_stale_dirs(tmp: str) -> list[str]:
    """Process mode: remove the ``preftree-sandbox-<pid>-*`` folders that a killed harness left in
    `tmp` (their pid is gone), once per process and folder; returns the removed paths."""
    if tmp in _SWEPT:
        return []
    _SWEPT.add(tmp)
    removed = []
    for name in os.listdir(tmp):
        pid = name[len(TEMP_PREFIX) :].split("-")[0] if name.startswith(TEMP_PREFIX) else ""
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # its harness still runs
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)
        removed.append(os.path.join(tmp, name))
    return removed


def sweep(marker: bytes | None) -> None:
    """Process mode: SIGKILL leftovers of this run that left its process group (they carry the marker)."""
    if not marker:
        return
    needle = f"{MARKER_VAR}=".encode() + marker
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
