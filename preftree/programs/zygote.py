# The fork server of preftree.sandbox_zygote. It runs inside one long-lived bwrap sandbox (the same
# read-only /usr, /dev, environment and uid as a sandbox launched per program) as
#     python3 -s -P /opt/preftree/zygote.py CTRL_FD CPU_S MEMORY_MB NPROC FSIZE_MB TMPFS_MB NOFILE
# (0 = unlimited) with CTRL_FD a SOCK_SEQPACKET socket to the harness, and serves one program at a time:
#
#   harness -> server   b"X" + len(program) (8 bytes) + the fds [stdin, stdout, stderr], then the program
#                       in chunks of at most CHUNK bytes
#   server forks C      C: unshare(user, mount, pid, net, ipc, uts, cgroup); uid/gid maps; a fresh tmpfs
#                       at /tmp (tmpfs_mb, the cwd) and one at /code holding main.py (0444, then
#                       remounted read-only); loopback up (as bwrap does); forks G
#   C -> harness        b"P" + a pidfd of G (SCM_RIGHTS): the harness kills the run through it
#   G (PID 1 of the     mounts a fresh /proc; user.max_user_namespaces = 0 (no nested namespaces: bwrap's
#   program's pid ns)   --disable-userns); forks H, reaps every orphan until H is gone, then exits with H's
#                       status as bwrap does (the code, or 128 + signal); its exit tears the namespace down
#   H (PID 2)           setsid; fds 0-2 = the run's pipes, every other fd closed; the rlimits; every
#                       capability dropped (bounding, ambient, effective/permitted) and no_new_privs;
#                       then runs the program as a fresh interpreter runs /code/main.py
#   C -> harness        b"S" + G's exit status (4 bytes, signed); C exits; the server reaps it
#
# A failure of the setup is reported as b"E" + text; the harness then treats this server as broken.
# Only os, sys and what the setup needs are imported here (no random, threading or tempfile), so a
# program starts with the interpreter state of a fresh `python3 -s -P`, bar those modules already in
# sys.modules; PYTHONHASHSEED and the environment are the sandbox's.
import _signal
import ctypes
import fcntl
import os
import resource
import socket
import struct
import sys
import types
from importlib.machinery import SourceFileLoader

CHUNK = 1 << 16
PROGRAM = "/code/main.py"
WORKDIR = "/tmp"

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x10000000, 0x20000000, 0x40000000
NAMESPACES = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 4, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SIGKILL = 9
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
LIBC.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
with open("/proc/sys/kernel/cap_last_cap", "rb") as _f:
    CAP_LAST = int(_f.read())


class SetupError(Exception):
    pass


def _ok(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)} (errno {err})")


def _write(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _mount_tmpfs(where, size, flags=MS_NOSUID | MS_NODEV):
    opts = f"size={size},mode=0755,uid={os.getuid()},gid={os.getgid()}".encode()
    _ok(LIBC.mount(b"tmpfs", where.encode(), b"tmpfs", flags, opts), f"mount tmpfs on {where}")


def _loopback_up():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    finally:
        s.close()


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_capabilities():
    for cap in range(CAP_LAST + 1):
        _ok(LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"drop capability {cap} from the bounding set")
    _ok(LIBC.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear the ambient capabilities")
    _ok(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs")
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3: two data structs
    data = (_CapData * 2)()
    _ok(LIBC.capset(ctypes.byref(header), data), "capset")


def _recv_exact(sock, n):
    parts, got = [], 0
    while got < n:
        chunk = sock.recv(CHUNK)  # one message (SOCK_SEQPACKET): never ask for less than a chunk
        if not chunk:
            raise EOFError("the harness closed the socket mid-program")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _exit_status(status):
    """bwrap's convention: the exit code, or 128 + the signal that killed it."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _report_error(sock, err):
    try:
        sock.send(b"E" + f"{type(err).__name__}: {err}".encode("utf-8", "replace")[:4000])
    except OSError:
        pass


def _program_side(fds, limits):
    """H: the program's process (no capabilities: G dropped them). Returns to the top level, which runs
    the program."""
    cpu_s, memory_mb, nproc, fsize_mb, _tmpfs_mb, nofile = limits
    LIBC.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
    _ok(LIBC.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(PR_SET_DUMPABLE, 1)")  # as a fresh process
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)  # the interpreter's KeyboardInterrupt
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    os.closerange(3, 1 << 20)
    for kind, soft, hard in (
        (resource.RLIMIT_AS, memory_mb << 20, memory_mb << 20),
        (resource.RLIMIT_CPU, cpu_s, cpu_s + 1),
        (resource.RLIMIT_NPROC, nproc, nproc),
        (resource.RLIMIT_FSIZE, fsize_mb << 20, fsize_mb << 20),
        (resource.RLIMIT_NOFILE, nofile, nofile),
    ):
        if soft <= 0:  # prlimit's "unlimited"
            soft = hard = resource.RLIM_INFINITY
        resource.setrlimit(kind, (soft, hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.chdir(WORKDIR)


def _init_side(sock, fds, limits):
    """G: PID 1 of the program's namespaces. Returns only in H."""
    LIBC.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
    try:
        os.setsid()  # the program's session and process group are PID 1's, as under bwrap --new-session
        _ok(LIBC.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "mount /proc")
        _write("/proc/sys/user/max_user_namespaces", b"0")
        # from here on G only reaps, and H needs no privilege: every capability dropped (H inherits
        # none), not dumpable (no ptrace or /proc/PID/mem from the program, which has the same uid),
        # SIGINT at its default like every other signal (PID 1 then ignores it, as bwrap's PID 1 does),
        # and the control socket closed before H exists
        _drop_capabilities()
        _ok(LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE, 0)")
        _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
    except BaseException as err:  # noqa: BLE001 - reported to the harness
        _report_error(sock, err)
        os._exit(127)
    sock.close()
    try:
        h = os.fork()
    except BaseException as err:  # noqa: BLE001
        os.write(2, f"preftree zygote: fork failed: {err}\n".encode())
        os._exit(127)
    if h == 0:
        try:
            _program_side(fds, limits)
        except BaseException as err:  # noqa: BLE001
            os.write(2, f"preftree zygote: setup failed: {err}\n".encode())
            os._exit(127)
        return
    try:
        while True:
            pid, status = os.waitpid(-1, 0)
            if pid == h:
                os._exit(_exit_status(status))
    except BaseException as err:  # noqa: BLE001 - G never returns into the server's code
        os.write(2, f"preftree zygote: {err}\n".encode())
    os._exit(127)


def _child_side(sock, fds, code, limits):
    """C: creates the program's namespaces and mounts, forks G, reports. Returns only in H."""
    LIBC.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
    try:
        uid, gid = os.getuid(), os.getgid()
        _ok(LIBC.unshare(NAMESPACES), "unshare")
        _write("/proc/self/setgroups", b"deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1".encode())
        _write("/proc/self/gid_map", f"{gid} {gid} 1".encode())
        tmpfs_mb = limits[4]
        _mount_tmpfs(WORKDIR, f"{tmpfs_mb}m" if tmpfs_mb > 0 else "50%")
        _mount_tmpfs("/code", len(code) + (64 << 10))
        fd = os.open(PROGRAM, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
        view = memoryview(code)
        while view:
            view = view[os.write(fd, view) :]
        os.close(fd)
        _ok(LIBC.mount(None, b"/code", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None), "remount /code")
        _loopback_up()
        g = os.fork()
    except BaseException as err:  # noqa: BLE001 - reported to the harness
        _report_error(sock, err)
        os._exit(127)
    if g == 0:
        _init_side(sock, fds, limits)
        return
    for fd in fds:
        os.close(fd)
    status = 127 << 8
    try:
        pidfd = os.pidfd_open(g)
        socket.send_fds(sock, [b"P"], [pidfd])
        os.close(pidfd)
        status = os.waitpid(g, 0)[1]
    finally:
        try:
            sock.send(b"S" + struct.pack(">i", _exit_status(status)))
        finally:
            os._exit(0)


def serve(ctrl_fd, limits):
    """The server loop. Returns only in a program's process (H), with the program's source."""
    sock = socket.socket(fileno=ctrl_fd)
    import gc

    gc.freeze()  # the server's objects: a program's collections never touch (and so copy) their pages
    sock.send(b"R")
    while True:
        try:
            head, fds, _, _ = socket.recv_fds(sock, 64, 3)
        except OSError:
            os._exit(0)
        if not head:  # the harness is done with us
            os._exit(0)
        if head[:1] != b"X" or len(head) != 9 or len(fds) != 3:
            _report_error(sock, SetupError(f"bad request {head[:16]!r} with {len(fds)} fds"))
            os._exit(2)
        try:
            code = _recv_exact(sock, int.from_bytes(head[1:], "big"))
        except (EOFError, OSError):
            os._exit(0)
        pid = os.fork()
        if pid == 0:
            _child_side(sock, fds, code, limits)
            return code
        for fd in fds:
            os.close(fd)
        os.waitpid(pid, 0)


def _main_module(code):
    """The program compiled as a fresh interpreter compiles the script /code/main.py, and the fresh
    ``__main__`` module to run it in. Code that does not compile (a syntax error, a NUL byte, bad
    encoding) goes to a real interpreter instead (exec, same command line as a sandbox per run), whose
    file reader words those errors its own way."""
    try:
        compiled = compile(code, PROGRAM, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        os.execv(sys.executable, [sys.executable, "-s", "-P", PROGRAM])
    import builtins

    main = types.ModuleType("__main__")
    main.__dict__.update(__file__=PROGRAM, __builtins__=builtins, __cached__=None)
    main.__loader__ = SourceFileLoader("__main__", PROGRAM)
    sys.modules["__main__"] = main
    sys.argv[:] = [PROGRAM]
    return main, compiled


def _exit_code(exit_):
    """The status of a SystemExit that ended the program, as the interpreter's handle_system_exit."""
    value = exit_.code
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF if -(1 << 63) <= value < 1 << 63 else 255
    try:
        print(value, file=sys.stderr)
    except BaseException:  # noqa: BLE001, S110 - the interpreter ignores it too
        pass
    return 1


def _uncaught(err):
    """Print an exception that ended the program as the interpreter prints it (without this server's
    frame); returns the exit status and whether it was a KeyboardInterrupt."""
    if isinstance(err, SystemExit):
        return _exit_code(err), False
    tb = err.__traceback__
    if tb is not None and tb.tb_frame.f_globals is globals():
        tb = tb.tb_next  # the frame that exec'd the program: not part of it
    err.__traceback__ = tb  # what the display reads (it ignores the argument while this is set)
    sys.excepthook(type(err), err, tb)
    return 1, isinstance(err, KeyboardInterrupt)


def _flushed(report):
    """Flush sys.stdout and sys.stderr as the interpreter does at exit; False when one failed (then its
    exit status is 120), and with `report` a failure of stdout is printed as the interpreter prints it."""
    ok = True
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and not stream.closed:
                stream.flush()
        except BaseException as err:  # noqa: BLE001 - the interpreter's exit status 120
            ok = False
            if report and stream is sys.stdout:
                try:
                    sys.unraisablehook(UNRAISABLE_ARGS((type(err), err, None, None, stream)))
                except BaseException:  # noqa: BLE001, S110 - as the interpreter, nothing more to do
                    pass
    return ok


def _finish(status, sigint):
    """The steps of the interpreter's exit (Py_FinalizeEx) that a program can observe, then _exit: wait
    for its non-daemon threads, run its atexit functions, flush stdout / stderr (status 120 on failure),
    clear its __main__ namespace as a module is cleared (underscore names first) and collect, so its
    objects' __del__ methods run and files it left open are flushed; flush again. The rest of a full
    teardown (every module of the interpreter) touches every page this forked process shares with the
    server, copying them: ~6 ms a program, with nothing a program can see."""
    threading = sys.modules.get("threading")
    if threading is not None:
        threading._shutdown()
    import atexit
    import gc

    atexit._run_exitfuncs()
    ok = _flushed(True)
    main = sys.modules.get("__main__")
    if main is not None:
        names = main.__dict__
        for underscore in (True, False):
            for name in list(names):
                if name != "__builtins__" and name.startswith("_") == underscore:
                    names[name] = None
    gc.collect()
    ok = _flushed(False) and ok
    if sigint:  # an uncaught KeyboardInterrupt: the interpreter dies of SIGINT
        import signal

        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(status if ok else 120)


def _unraisable_args_type():
    """sys.UnraisableHookArgs, which Python does not export: the type of what the hook is given."""
    seen = []

    class Raises:
        def __del__(self):
            raise RuntimeError

    hook, sys.unraisablehook = sys.unraisablehook, seen.append
    try:
        Raises()
    finally:
        sys.unraisablehook = hook
    return type(seen[0])


UNRAISABLE_ARGS = _unraisable_args_type()


def _depth(n=0):
    try:
        return _depth(n + 1)
    except RecursionError:
        return n


def _recursion_offset():
    """How much deeper than a fresh interpreter's a program exec'd from this module's level starts:
    the depth a recursion reaches from here, less the depth it reaches from an exec'd module."""
    scope = {"_depth": _depth}
    exec("_reached = _depth()", scope)
    return _depth() - scope["_reached"]


if __name__ == "__main__":
    _offset = _recursion_offset()
    _main, _compiled = _main_module(serve(int(sys.argv[1]), tuple(int(a) for a in sys.argv[2:8])))
    # the program runs one frame deeper than in a fresh interpreter (this module's): the recursion
    # limit grows by what that frame costs, so a RecursionError comes at the same depth (only
    # sys.getrecursionlimit() shows it)
    sys.setrecursionlimit(sys.getrecursionlimit() + _offset)
    try:
        exec(_compiled, _main.__dict__)
    except BaseException as _err:  # noqa: BLE001 - the program's end, as the interpreter reports it
        _finish(*_uncaught(_err))
    _finish(0, False)
