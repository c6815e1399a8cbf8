"""The table of hostile and ordinary programs that both ways of serving pooled runs must judge exactly as a
sandbox launched per run does (tests/test_sandbox_pool.py: pre-started sandboxes; tests/test_sandbox_zygote.py:
fork servers)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from preftree import sandbox, sandbox_stdio
from preftree.compose import from_conf
from preftree.config.sandbox import SandboxParams

PROGRAMS = {
    "ok": "print('hello')",
    "assert_fails": "assert 1 + 1 == 3, 'wrong'",
    "raises": "raise ValueError('bad value')",
    "sys_exit_3": "import sys\nsys.exit(3)",
    "sleeps_past_timeout": "import time\ntime.sleep(60)",
    "spins_past_timeout": "while True:\n    pass",
    "cpu_limit": "while True:\n    pass",  # with cpu_s=1 and a long wall clock (outcome)
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
SLOW = {"cpu_limit", "scientific", "large_program", "fork_bomb"}  # run with a long wall clock (outcome)
STDIO = {
    "echo_ok": ("print(input()[::-1])", [("abc\n", "cba\n"), ("xy\n", "yx\n")]),
    "echo_wrong": ("print(input())", [("abc\n", "cba\n")]),
    "stdio_timeout": ("import time\ntime.sleep(60)", [("1\n", "1\n")]),
}


def limits(isolation: str) -> SandboxParams:
    # only the wall clock can end a spin here (a CPU limit near it would race it on a loaded machine)
    return from_conf(SandboxParams, "sandbox", isolation=isolation, timeout_s=1.5, cpu_s=60, nproc=64)


def usable(isolation: str) -> str | None:
    try:
        sandbox.check_available(isolation)
    except sandbox.SandboxUnavailable as err:
        return str(err)
    return None


def usable_isolation(name: str) -> str:
    """`name`, or a skip of the test when that isolation cannot run here."""
    problem = usable(name)
    if problem:
        pytest.skip(f"{name} unavailable: {problem}")
    return name


def children() -> set[int]:
    kids: set[int] = set()
    for tid in os.listdir("/proc/self/task"):
        try:
            kids |= {int(p) for p in Path(f"/proc/self/task/{tid}/children").read_text().split()}
        except OSError:
            pass
    return kids


def last(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def outcome(kind: str, name: str, lim: SandboxParams) -> tuple[object, ...]:
    if name in SLOW:  # a wall clock no loaded machine reaches: cpu_limit meets SIGXCPU after 1 s of CPU first
        cpu = 1 if name == "cpu_limit" else 60
        lim = from_conf(SandboxParams, "sandbox", isolation=lim.isolation, timeout_s=60.0, cpu_s=cpu, nproc=64)
    if kind == "run":
        res = sandbox.run(PROGRAMS[name], stdin="in\n", limits=lim)
        return (res.status, res.returncode, None, res.stdout[:200], last(res.stderr))
    if kind == "run_tests":
        passed, res = sandbox.run_tests(PROGRAMS[name], ["assert True"], limits=lim)
        return (res.status, res.returncode, passed, res.stdout[:200], last(res.stderr))
    program, cases = STDIO[name]
    got = sandbox_stdio.run_stdio(program, cases, limits=lim)
    outcomes = [(o.index, o.verdict, o.got) for o in got.outcomes]
    return (got.result.status, got.result.returncode, got.passed, outcomes, got.running)


def jobs() -> list[tuple[str, str]]:
    return [(k, n) for k in ("run", "run_tests") for n in PROGRAMS] + [("run_stdio", n) for n in STDIO]
