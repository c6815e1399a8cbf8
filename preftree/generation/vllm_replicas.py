"""Data-parallel vLLM: ``replicas`` engines, each in its own process on its own GPUs, share one request.

vLLM's offline ``LLM`` refuses ``data_parallel_size > 1`` in one process, so :class:`ReplicaPool`
starts one process per replica (``spawn``; not daemonic, as vLLM starts processes of its own). Replica
r sees GPUs ``r * tensor_parallel_size`` .. ``(r + 1) * tensor_parallel_size - 1`` of the parent's
``CUDA_VISIBLE_DEVICES`` (all GPUs 0 .. N - 1 when unset) and builds ``vllm.LLM(model=folder, **llm_kwargs)``
there. :meth:`ReplicaPool.generate` splits the prompts into ``replicas`` contiguous slices in order, sends
each slice with its sampling settings (plain dicts, made into ``SamplingParams`` in the replica) and
joins the answers in the prompts' order. Each prompt carries its own seed, so which replica serves it
does not change what is sampled (only the batch it shares, as with any change of batch).

A replica that fails to start or to generate raises ``RuntimeError`` here with its traceback; a parent
that exits closes the pipes and the replicas leave their loop.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
import weakref
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

JOIN_TIMEOUT_S = 60.0  # a replica's engine shutdown before it is terminated


def replica_devices(replicas: int, tensor_parallel_size: int, visible: str | None) -> list[str]:
    """The ``CUDA_VISIBLE_DEVICES`` value of each replica: consecutive groups of ``tensor_parallel_size``
    of the ``visible`` devices (a comma list; None or "": 0 .. replicas * tensor_parallel_size - 1)."""
    need = replicas * tensor_parallel_size
    ids = [x.strip() for x in visible.split(",") if x.strip()] if visible else [str(i) for i in range(need)]
    if len(ids) < need:
        raise ValueError(
            f"runtime.vllm: {replicas} replicas x tensor_parallel_size {tensor_parallel_size} need {need} GPUs; "
            f"CUDA_VISIBLE_DEVICES={visible} lists {len(ids)}"
        )
    return [",".join(ids[r * tensor_parallel_size : (r + 1) * tensor_parallel_size]) for r in range(replicas)]


def split_evenly(n: int, parts: int) -> list[range]:
    """``parts`` contiguous ranges covering 0 .. n - 1 in order, sizes differing by at most one."""
    size, extra = divmod(n, parts)
    bounds = [r * size + min(r, extra) for r in range(parts + 1)]
    return [range(bounds[r], bounds[r + 1]) for r in range(parts)]


def reply(conn: Connection, answer: tuple[str, Any]) -> bool:
    """Send ``answer`` to the parent; False when it has closed the pipe or exited."""
    try:
        conn.send(answer)
    except OSError:
        return False
    return True


def serve(conn: Connection, devices: str, folder: str, llm_kwargs: dict[str, Any]) -> None:
    """A replica's process: build the engine on ``devices``, then answer ``(prompts, params)`` messages
    with the texts of each prompt's samples until ``None`` or a closed pipe."""
    os.environ["CUDA_VISIBLE_DEVICES"] = devices  # before vLLM (and torch's CUDA) starts here
    try:
        import vllm  # type: ignore[import-not-found]

        llm = vllm.LLM(model=folder, **llm_kwargs)
    except Exception:
        reply(conn, ("error", traceback.format_exc()))
        return
    answer: tuple[str, Any] = ("ready", None)
    while reply(conn, answer):
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        prompts, params = message
        try:
            outputs = llm.generate(prompts, [vllm.SamplingParams(**p) for p in params], use_tqdm=False)
            answer = ("ok", [[o.text for o in out.outputs] for out in outputs])
        except Exception:
            answer = ("error", traceback.format_exc())


def close_replicas(conns: list[Connection], procs: list[Any]) -> None:
    """Ask each replica to stop, wait for it (``JOIN_TIMEOUT_S``), terminate one that does not."""
    for conn in conns:
        try:
            conn.send(None)
            conn.close()
        except (OSError, ValueError):
            pass
    for proc in procs:
        proc.join(JOIN_TIMEOUT_S)
        if proc.is_alive():
            proc.terminate()
            proc.join()


class ReplicaPool:
    """``replicas`` vLLM engines on ``folder``, one process each; see the module docstring."""

    def __init__(self, folder: str, replicas: int, tensor_parallel_size: int, llm_kwargs: dict[str, Any]) -> None:
        self.devices = replica_devices(replicas, tensor_parallel_size, os.environ.get("CUDA_VISIBLE_DEVICES"))
        kwargs = {**llm_kwargs, "tensor_parallel_size": tensor_parallel_size}
        ctx = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for devices in self.devices:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=serve, args=(child, devices, folder, kwargs), name=f"vllm-replica-{devices}")
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)
        self.close = weakref.finalize(self, close_replicas, self.conns, self.procs)
        try:
            for r in range(replicas):
                self.receive(r, "start")
        except BaseException:
            self.close()
            raise

    def receive(self, r: int, doing: str) -> Any:
        """Replica r's answer; ``RuntimeError`` with its traceback when it failed or died."""
        try:
            status, value = self.conns[r].recv()
        except EOFError:
            status, value = "error", f"the process exited (code {self.procs[r].exitcode})"
        if status == "error":
            raise RuntimeError(f"vLLM replica {r} (CUDA_VISIBLE_DEVICES={self.devices[r]}) failed to {doing}: {value}")
        return value

    def generate(self, prompts: Sequence[Any], params: Sequence[dict[str, Any]]) -> list[list[str]]:
        """Per prompt, the texts of its samples: contiguous slices served by the replicas at once."""
        if len(prompts) != len(params):
            raise ValueError(f"{len(prompts)} prompts but {len(params)} sampling settings")
        slices = split_evenly(len(prompts), len(self.conns))
        for r, s in enumerate(slices):
            if len(s):
                self.conns[r].send(([prompts[i] for i in s], [params[i] for i in s]))
        texts: list[list[str]] = []
        try:
            for r, s in enumerate(slices):
                if len(s):
                    texts.extend(self.receive(r, "generate"))
        except BaseException:
            self.close()  # the other replicas' answers would be read by the next request
            raise
        return texts
