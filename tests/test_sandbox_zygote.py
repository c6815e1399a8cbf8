"""Fork servers (preftree.sandbox_zygote): the same verdicts, output and isolation as a sandbox per run.

The hostile table of tests/sandbox_table.py runs through ``sandbox.run``, ``sandbox.run_tests`` and
``run_stdio`` unpooled and then through fork servers from two threads; a second table of programs that
probe what a fresh interpreter does at exit, what PID 1 tolerates and what the process may touch must
give byte-identical stdout and stderr. Then what only a shared server could get wrong: nothing of one
program (files, daemons, environment, modules) reaches the next, a program cannot reach its PID 1, a
broken server is replaced without changing a verdict, and nothing outlives the pooled block.
"""

from __future__ import annotations

import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

from preftree import sandbox, sandbox_zygote
from preftree.sandbox_pool import POOL
from preftree.sandbox_zygote import SERVERS

from .sandbox_table import children, jobs, limits, outcome, usable_isolation

# byte for byte the same stdout and stderr, status and exit code as a sandbox launched for the program
EXACT = {
    "traceback": "def f():\n    raise ValueError('bad')\nf()",
    "syntax_error": "x = (",
    "sys_exit_text": "import sys\nsys.exit('bye')",
    "sys_exit_big": "import sys\nsys.exit(2**40 + 7)",
    "keyboard_interrupt": "raise KeyboardInterrupt",
    "del_at_exit": "class A:\n    def __del__(self):\n        print('deleted')\na = A()\nprint('end')",
    "unflushed_file": "w = open(1, 'w', closefd=False)\nw.write('buffered, never flushed')",
    "thread_outlives_main": (
        "import threading, time\n"
        "def f():\n    time.sleep(0.2)\n    print('thread done')\n"
        "threading.Thread(target=f).start()\nprint('main done')"
    ),
    "atexit": "import atexit\natexit.register(print, 'at exit')\nprint('main')",
    "signals_to_pid1": "import os, signal\nfor s in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):\n"
    "    os.kill(1, s)\nprint('alive')",
    "kills_itself": "import os\nos.kill(os.getpid(), 9)",
    "identity": "import os\nprint(os.getpid(), os.getppid(), os.getpgrp(), os.getsid(0), os.getuid(), os.getgid(), "
    "os.getcwd(), sorted(os.listdir('/proc'))[:3])",
    "limits": "import resource\nprint([resource.getrlimit(getattr(resource, 'RLIMIT_' + n)) for n in "
    "('AS', 'CPU', 'NPROC', 'FSIZE', 'NOFILE', 'CORE')])",
    "environment": "import os, sys\nprint(sorted(os.environ.items()), sys.path, sys.argv, __file__, __name__)",
    "capabilities": "print([l for l in open('/proc/self/status') if l.startswith(('Cap', 'NoNewPrivs'))])",
    "fds": "import os\nprint(sorted(os.listdir('/proc/self/fd')))",
    "tmp_and_code": "import os\nprint(oct(os.stat('/tmp').st_mode), os.stat('/tmp').st_uid, os.listdir('/tmp'), "
    "oct(os.stat('/code/main.py').st_mode))",
    "code_read_only": "open('/code/main.py', 'w')",
    "no_mount": "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "print(libc.mount(b'x', b'/tmp', b'tmpfs', 0, None), ctypes.get_errno())",
    "no_user_namespace": "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "print(libc.unshare(0x10000000), ctypes.get_errno())",
    "loopback_only": "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\nprint(s.getsockname()[0])\n"
    "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=1)\nexcept OSError as e:\n    print(type(e).__name__)",
    "random_differs": "import random\nprint(random.random() != random.random())",
    "reads_stdin": "import sys\nprint(repr(sys.stdin.read()))",
    "nul_byte": "x = 1\0\nprint(x)",
    "bad_encoding": "print('\udcff')",
    "latin1_declared": "# -*- coding: latin-1 -*-\nprint('\xe9')",
    "bom": "\ufeffprint('bom')",
    "recursion_depth": "import sys\ndef f(n):\n    try:\n        return f(n + 1)\n    except RecursionError:\n"
    "        return n\nprint(f(0))",
    "recursion_error": "def f():\n    return f()\nf()",
    "stdout_closed": "import os\nos.close(1)\nprint('x')",
    "warnings": "import warnings\nwarnings.warn('careful')\nprint(1 is 1)",
    "module_attributes": "import __main__\nprint(__main__.__file__, __spec__, __package__, __doc__, "
    "__loader__.__class__.__name__, __name__)",
    "inspect_source": "import inspect\ndef f():\n    pass\nprint(inspect.getsource(f))",
    "exit_in_thread": "import sys, threading\nt = threading.Thread(target=sys.exit, args=(3,))\nt.start()\n"
    "t.join()\nprint('ok')",
}


@pytest.fixture
def bwrap() -> str:
    return usable_isolation("bwrap")


def _result(program: str, lim) -> tuple[object, ...]:
    res = sandbox.run(program, stdin="in\n", limits=lim)
    return (res.status, res.returncode, res.stdout, res.stderr)


def test_server_verdicts_are_identical_to_a_sandbox_per_run(bwrap):
    lim = limits(bwrap)
    table = jobs()
    kids = children()
    unpooled = {job: outcome(*job, lim) for job in table}
    served = SERVERS.served
    with sandbox.pooled(2), ThreadPoolExecutor(2) as pool:
        forked = dict(zip(table, pool.map(lambda job: outcome(*job, lim), table), strict=True))
    assert children() == kids, "a fork server outlived the pooled block"
    assert SERVERS.idle() == 0 and POOL.waiting() == 0
    differ = {job: (unpooled[job], forked[job]) for job in table if unpooled[job] != forked[job]}
    assert not differ, differ
    statuses = {unpooled[job][0] for job in table}
    assert statuses >= {"ok", "error", "timeout", "memory", "killed", "output_limit"}, statuses
    assert SERVERS.served - served >= len(table) - 2, "the runs did not go to fork servers"


def test_server_output_is_byte_identical(bwrap):
    lim = limits(bwrap)
    unpooled = {name: _result(program, lim) for name, program in EXACT.items()}
    with sandbox.pooled(2):
        forked = {name: _result(program, lim) for name, program in EXACT.items()}
    differ = {name: (unpooled[name], forked[name]) for name in EXACT if unpooled[name] != forked[name]}
    assert not differ, differ
    # the table means something
    assert unpooled["del_at_exit"][2] == "end\ndeleted\n"
    assert unpooled["unflushed_file"][2] == "buffered, never flushed"
    assert unpooled["thread_outlives_main"][2] == "main done\nthread done\n"
    assert unpooled["keyboard_interrupt"][:2] == ("killed", -2)
    assert unpooled["sys_exit_big"][1] == 7 and unpooled["sys_exit_text"][3] == "bye\n"
    assert unpooled["signals_to_pid1"][2] == "alive\n"
    assert unpooled["no_mount"][2] == "-1 1\n" and unpooled["no_user_namespace"][2].startswith("-1 ")
    caps = unpooled["capabilities"][2]  # the repr of the lines
    assert r"NoNewPrivs:\t1" in caps and r"CapEff:\t0000000000000000" in caps, caps
    assert unpooled["loopback_only"][2].startswith("127.0.0.1\n") and "OSError" in unpooled["loopback_only"][2]
    assert int(unpooled["recursion_depth"][2]) > 900 and unpooled["stdout_closed"][1] == 120


def test_nothing_of_one_program_reaches_the_next(bwrap):
    lim = limits(bwrap)
    first = (
        "import os, subprocess, sys\n"
        "open('/tmp/left', 'w').write('x')\n"
        "os.environ['LEFT'] = '1'\n"
        "sys.modules['json'] = 'poisoned'\n"
        "if os.fork() == 0:\n    os.setsid()\n    import time\n    time.sleep(30)\n    os._exit(0)\n"
        "print('ok')"
    )
    second = (
        "import os, sys\n"
        "print(os.listdir('/tmp'), os.environ.get('LEFT'), type(sys.modules.get('json', None)).__name__, "
        "sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))"
    )
    with sandbox.pooled(1):
        launched = SERVERS.launched
        assert sandbox.run(first, limits=lim).stdout == "ok\n"
        res = sandbox.run(second, limits=lim)
        assert SERVERS.launched == launched + 1, "both programs should have used the same server"
    assert res.status == "ok", res
    assert res.stdout == "[] None NoneType [1, 2]\n", res.stdout


def test_a_program_cannot_reach_its_pid1(bwrap):
    lim = limits(bwrap)
    program = (
        "import os\n"
        "for path in ('/proc/1/mem', '/proc/1/environ'):\n"
        "    try:\n        open(path, 'rb').read(1)\n        print('read', path)\n"
        "    except OSError as e:\n        print(type(e).__name__)\n"
        "print([l.split()[1] for l in open('/proc/1/status') if l.startswith('CapEff')])\n"
        "print(sorted(os.listdir('/proc/1/fd')) if os.access('/proc/1/fd', os.R_OK) else 'no fds')"
    )
    with sandbox.pooled(1):
        res = sandbox.run(program, limits=lim)
    assert res.status == "ok", res
    lines = res.stdout.splitlines()
    assert lines[0] == "PermissionError" and lines[1] == "PermissionError", lines
    assert lines[2] == "['0000000000000000']" and lines[3] == "no fds", lines


def test_a_broken_server_changes_no_verdict(bwrap, monkeypatch):
    """A server killed between runs, and one that dies mid-run: the run still gets the right verdict."""
    lim = limits(bwrap)
    with sandbox.pooled(1):
        assert sandbox.run("print(1)", limits=lim).stdout == "1\n"
        (server,) = [s for servers in SERVERS._idle.values() for s in servers]  # noqa: SLF001 - the test's probe
        server.launched.kill()  # the whole server sandbox is gone
        server.launched.reap()
        res = sandbox.run("print(2)", limits=lim)
        assert (res.status, res.stdout) == ("ok", "2\n")

        real_status = sandbox_zygote.Server.status

        def dies(self):
            self.launched.kill()
            raise sandbox_zygote.ServerError("gone")

        monkeypatch.setattr(sandbox_zygote.Server, "status", dies)
        res = sandbox.run("print(3)", limits=lim)  # judged again by a sandbox launched for it
        monkeypatch.setattr(sandbox_zygote.Server, "status", real_status)
        assert (res.status, res.stdout) == ("ok", "3\n")
        assert sandbox.run("print(4)", limits=lim).stdout == "4\n"


def test_where_servers_cannot_start_runs_fall_back_with_a_warning(bwrap, monkeypatch):
    lim = limits(bwrap)
    monkeypatch.setattr(sandbox_zygote, "_server_source", lambda: b"import sys\nsys.exit(3)\n")
    monkeypatch.setattr(SERVERS, "_usable", {})
    with warnings.catch_warnings(record=True) as caught, sandbox.pooled(2):
        warnings.simplefilter("always")
        results = [sandbox.run_tests("x = 1", ["assert x == 1"], limits=lim)[0] for _ in range(3)]
    assert all(results)
    assert any("fork servers do not work" in str(w.message) for w in caught), [str(w.message) for w in caught]
    assert SERVERS._usable and not any(SERVERS._usable.values())  # noqa: SLF001


def test_a_timeout_kills_the_program_and_the_server_serves_on(bwrap):
    lim = limits(bwrap)
    with sandbox.pooled(1):
        launched = SERVERS.launched
        t0 = time.monotonic()
        res = sandbox.run("import os, time\nos.fork()\ntime.sleep(60)", limits=lim)
        assert res.status == "timeout" and time.monotonic() - t0 < lim.timeout_s + 5
        assert sandbox.run("print('next')", limits=lim).stdout == "next\n"
        assert SERVERS.launched == launched + 1


def test_a_forked_harness_child_does_not_disturb_the_servers(bwrap):
    lim = limits(bwrap)
    with sandbox.pooled(1):
        assert sandbox.run("print(1)", limits=lim).stdout == "1\n"
        pid = os.fork()
        if pid == 0:  # the child holds what it inherited for a while, then leaves without cleanup
            time.sleep(2)
            os._exit(0)
        try:
            t0 = time.monotonic()
            res = sandbox.run("import sys\nprint(sys.stdin.read())", stdin="abc", limits=lim)
            assert (res.status, res.stdout) == ("ok", "abc\n") and time.monotonic() - t0 < 1.5
        finally:
            os.waitpid(pid, 0)


def test_a_server_that_dies_before_taking_the_program_changes_no_verdict(bwrap, monkeypatch):
    """The server passes the liveness check, then is gone when the program is sent (a race)."""
    lim = limits(bwrap)
    with sandbox.pooled(1):
        assert sandbox.run("print(1)", limits=lim).stdout == "1\n"
        (server,) = [s for servers in SERVERS._idle.values() for s in servers]  # noqa: SLF001 - the test's probe
        server.launched.kill()
        server.launched.reap()  # returns once the server's sandbox is gone
        monkeypatch.setattr(sandbox_zygote.Server, "alive", lambda self: True)
        res = sandbox.run("print(2)", limits=lim)
        assert (res.status, res.stdout) == ("ok", "2\n")
