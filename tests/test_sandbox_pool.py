"""Pre-started sandboxes (preftree.sandbox_pool): the same verdicts as a sandbox launched per run.

The same hostile and ordinary programs run through ``sandbox.run``, ``sandbox.run_tests`` and
``sandbox_stdio.run_stdio``, once unpooled and once inside ``sandbox.pooled`` from two threads, in both
isolation modes; every status, exit code, pass flag, stdout and last stderr line must match. The pool
must have served the pooled runs, and nothing may be left running after the block.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from preftree import sandbox
from preftree.sandbox_pool import POOL
from preftree.sandbox_zygote import SERVERS

from .sandbox_table import PROGRAMS, children, jobs, limits, outcome, usable, usable_isolation


@pytest.fixture(autouse=True)
def _no_fork_servers():
    """These tests are about pre-started sandboxes: the fork servers (tests/test_sandbox_zygote.py) are off."""
    SERVERS.enabled = False
    try:
        yield
    finally:
        SERVERS.enabled = True


@pytest.fixture(params=["bwrap", "process"])
def isolation(request) -> str:
    return usable_isolation(request.param)


def test_pooled_verdicts_are_identical_to_unpooled(isolation):
    lim = limits(isolation)
    table = jobs()
    kids = children()
    unpooled = {job: outcome(*job, lim) for job in table}
    served, started = POOL.served, POOL.started
    with sandbox.pooled(3), ThreadPoolExecutor(2) as pool:
        pooled = dict(zip(table, pool.map(lambda job: outcome(*job, lim), table), strict=True))
    assert children() == kids, "a pre-started sandbox outlived the pooled block"
    assert POOL.waiting() == 0
    differ = {job: (unpooled[job], pooled[job]) for job in table if unpooled[job] != pooled[job]}
    assert not differ, differ
    # the table means something: each kind of ending is in it
    statuses = {unpooled[(k, n)][0] for k, n in table}
    assert statuses >= {"ok", "error", "timeout", "memory", "killed", "output_limit"}, statuses
    assert unpooled[("run", "fork_bomb")][3] == "limited True\n"
    assert unpooled[("run", "reads_stdin")][3] == "'in\\n'\n"  # run_tests' driver gives the program no stdin
    assert unpooled[("run_tests", "ok")][2] is True and unpooled[("run_tests", "assert_fails")][2] is False
    assert unpooled[("run_stdio", "echo_ok")][2] is True
    # the pool did the pooled work: every fixed-driver run found a sandbox waiting, bar the first few
    fixed = sum(k != "run" for k, _ in table) + (len(PROGRAMS) if isolation == "bwrap" else 0)
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
    lim = limits("process" if usable("bwrap") else "bwrap")
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
    lim = limits("process" if usable("bwrap") else "bwrap")
    served = POOL.served
    sandbox.run_tests("x = 1", [], limits=lim)
    with sandbox.pooled(0):
        sandbox.run_tests("x = 1", [], limits=lim)
    assert POOL.served == served and POOL.waiting() == 0


def test_pool_depth_follows_the_workers():
    assert sandbox.pool_depth(1) == 2 and sandbox.pool_depth(4) == 8 and sandbox.pool_depth(0) == 2
