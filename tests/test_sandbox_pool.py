"""Pre-started sandboxes (preftree.sandbox_pool): the same verdicts as a sandbox launched per run.

The same hostile and ordinary programs run through ``sandbox.run``, ``sandbox.run_tests`` and
``sandbox_stdio.run_stdio``, once unpooled and once inside ``sandbox.pooled`` from two threads, in both
isolation modes; every status, exit code, pass flag, stdout and last stderr line must match. The pool
must have served the pooled runs, and nothing may be left running after the block.
"""

from __future__ import annotations

import os
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from preftree import sandbox, sandbox_stdio
from preftree.compose import from_conf
from preftree.config.sandbox import SandboxParams
from preftree.sandbox_pool import POOL

PROGRAMS = {
    "ok": "print('hello')",
    "assert_fails": "assert 1 + 1 == 3, 'wrong'",
    "raises": "raise ValueError('bad value')",
    "sys_exit_3": "import sys\nsys.exit(3)",
    "sleeps_past_timeout": "import time\ntime.sleep(60)",
    "spins_past_timeout": "while True:\n    pass",
    "cpu_limit": "while True:\n    pass",  # with cpu_s=1 and a long wall clock (_outcome)
    "memory": "x = bytearray(4 << 30)",
    "abort": "import os\nos.abort()",
    "segfault": "import ctypes\nctypes.string_at(0)",
    "infinite_output": "while True:\n    print('x' * 1000)",
    "fork_bomb": textwrap.dedent(
        """
        import os, time
        n = 0
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                n += 1
        except OSError:
            print('limited', n < 64)
        """
    ),
    "write_outside_tmp": "open('/usr/preftree-evil', 'w').write('x')",
    "write_in_tmp": "import os\nopen('pool-test', 'w').write('x')\nprint(os.listdir('.'))",
    "reads_stdin": "import sys\nprint(repr(sys.stdin.read()))",
    "scientific": "import numpy, sympy\nprint(sympy.factorint(360), int(numpy.arange(5).sum()))",
    "large_program": "x = 0\n" + "x += 1\n" * 30000 + "print(x)",  # ~210 KB: more than a pipe holds
}
SLOW = {"cpu_limit", "scientific", "large_program", "fork_bomb"}  # run with a long wall clock (_outcome)
STDIO = {
    "echo_ok": ("print(input()[::-1])", [("abc\n", "cba\n"), ("xy\n", "yx\n")]),
    "echo_wrong": ("print(input())", [("abc\n", "cba\n")]),
    "stdio_timeout": ("import time\ntime.sleep(60)", [("1\n", "1\n")]),
}


def limits(isolation: str) -> SandboxParams:
    # only the wall clock can end a spin here (a CPU limit near it would race it on a loaded machine)
    return from_conf(SandboxParams, "sandbox", isolation=isolation, timeout_s=1.5, cpu_s=60, nproc=64)


def _usable(isolation: str) -> str | None:
    try:
        sandbox.check_available(isolation)
    except sandbox.SandboxUnavailable as err:
        return str(err)
    return None


@pytest.fixture(params=["bwrap", "process"])
def isolation(request) -> str:
    problem = _usable(request.param)
    if problem:
        pytest.skip(f"{request.param} unavailable: {problem}")
    return request.param


def _children() -> set[int]:
    kids: set[int] = set()
    for tid in os.listdir("/proc/self/task"):
        try:
            kids |= {int(p) for p in Path(f"/proc/self/task/{tid}/children").read_text().split()}
        except OSError:
            pass
    return kids


def _last(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def _outcome(kind: str, name: str, lim: SandboxParams) -> tuple[object, ...]:
    if name in SLOW:  # a wall clock no loaded machine reaches: cpu_limit meets SIGXCPU after 1 s of CPU first
        cpu = 1 if name == "cpu_limit" else 60
        lim = from_conf(SandboxParams, "sandbox", isolation=lim.isolation, timeout_s=60.0, cpu_s=cpu, nproc=64)
    if kind == "run":
        res = sandbox.run(PROGRAMS[name], stdin="in\n", limits=lim)
        return (res.status, res.returncode, None, res.stdout[:200], _last(res.stderr))
    if kind == "run_tests":
        passed, res = sandbox.run_tests(PROGRAMS[name], ["assert True"], limits=lim)
        return (res.status, res.returncode, passed, res.stdout[:200], _last(res.stderr))
    program, cases = STDIO[name]
    got = sandbox_stdio.run_stdio(program, cases, limits=lim)
    outcomes = [(o.index, o.verdict, o.got) for o in got.outcomes]
    return (got.result.status, got.result.returncode, got.passed, outcomes, got.running)


def _jobs() -> list[tuple[str, str]]:
    return [(k, n) for k in ("run", "run_tests") for n in PROGRAMS] + [("run_stdio", n) for n in STDIO]


def test_pooled_verdicts_are_identical_to_unpooled(isolation):
    lim = limits(isolation)
    jobs = _jobs()
    kids = _children()
    unpooled = {job: _outcome(*job, lim) for job in jobs}
    served, started = POOL.served, POOL.started
    with sandbox.pooled(3), ThreadPoolExecutor(2) as pool:
        pooled = dict(zip(jobs, pool.map(lambda job: _outcome(*job, lim), jobs), strict=True))
    assert _children() == kids, "a pre-started sandbox outlived the pooled block"
    assert POOL.waiting() == 0
    differ = {job: (unpooled[job], pooled[job]) for job in jobs if unpooled[job] != pooled[job]}
    assert not differ, differ
    # the table means something: each kind of ending is in it
    statuses = {unpooled[(k, n)][0] for k, n in jobs}
    assert statuses >= {"ok", "error", "timeout", "memory", "killed", "output_limit"}, statuses
    assert unpooled[("run", "fork_bomb")][3] == "limited True\n"
    assert unpooled[("run", "reads_stdin")][3] == "'in\\n'\n"  # run_tests' driver gives the program no stdin
    assert unpooled[("run_tests", "ok")][2] is True and unpooled[("run_tests", "assert_fails")][2] is False
    assert unpooled[("run_stdio", "echo_ok")][2] is True
    # the pool did the pooled work: every fixed-driver run found a sandbox waiting, bar the first few
    fixed = sum(k != "run" for k, _ in jobs) + (len(PROGRAMS) if isolation == "bwrap" else 0)
    assert POOL.served - served >= fixed - 2 * 3 * 2, (POOL.served - served, fixed)
    assert POOL.started - started >= POOL.served - served


def test_a_waiting_sandbox_was_launched_before_its_run(isolation):
    """A pooled run's wall clock starts at the hand-over: the interpreter (fixed driver) had started."""
    lim = limits(isolation)
    with sandbox.pooled(2):
        sandbox.run_tests("x = 1", [], limits=lim)  # the first run launches its own; the pool fills behind it
        deadline = time.monotonic() + 20
        while POOL.waiting() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert POOL.waiting() == 2
        served = POOL.served
        passed, res = sandbox.run_tests("x = 1", ["assert x == 1"], limits=lim)
        assert passed and POOL.served == served + 1
    assert POOL.waiting() == 0


def test_a_forked_child_does_not_hold_a_waiting_sandbox_open():
    """A waiting driver reads stdin to EOF: a fork that kept a copy of its stdin would make it time out."""
    lim = limits("process" if _usable("bwrap") else "bwrap")
    with sandbox.pooled(2):
        sandbox.run_tests("x = 1", [], limits=lim)
        deadline = time.monotonic() + 20
        while POOL.waiting() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = os.fork()
        if pid == 0:  # the child: holds whatever it inherited for a while, then leaves without cleanup
            time.sleep(3)
            os._exit(0)
        try:
            t0 = time.monotonic()
            passed, res = sandbox.run_tests("x = 1", ["assert x == 1"], limits=lim)
            assert passed, res
            assert time.monotonic() - t0 < 1.4, "the run waited for the forked child"
        finally:
            os.waitpid(pid, 0)


def test_sandboxes_started_for_one_thread_serve_another(isolation):
    """bwrap's --die-with-parent follows the launching *thread*: the launcher thread outlives the callers."""
    lim = limits(isolation)
    with sandbox.pooled(2):
        worker = threading.Thread(target=lambda: sandbox.run_tests("x = 1", [], limits=lim))
        worker.start()
        worker.join()
        time.sleep(0.3)
        results = [sandbox.run_tests("y = 2", ["assert y == 2"], limits=lim)[0] for _ in range(4)]
    assert all(results)


def test_no_pool_outside_a_block_and_depth_zero_is_off():
    lim = limits("process" if _usable("bwrap") else "bwrap")
    served = POOL.served
    sandbox.run_tests("x = 1", [], limits=lim)
    with sandbox.pooled(0):
        sandbox.run_tests("x = 1", [], limits=lim)
    assert POOL.served == served and POOL.waiting() == 0


def test_pool_depth_follows_the_workers():
    assert sandbox.pool_depth(1) == 2 and sandbox.pool_depth(4) == 8 and sandbox.pool_depth(0) == 2
