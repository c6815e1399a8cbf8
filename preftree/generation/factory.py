"""A generator on a local model for ``runtime.engine`` ("hf" | "vllm"): the engine changes speed, never the
meaning of a request.

    gen = make_generator("models/sft", engine="hf", device="auto", batch_size=16)
    texts = gen.generate(chats, Sampling(n=4, temperature=0.7, max_new_tokens=256, seed=1, stop=("```\\n",)))

``engine="hf"``: :class:`preftree.generation.hf.HFBatchGenerator` (any machine); ``engine="vllm"``:
:class:`preftree.generation.vllm.VLLMGenerator` (CUDA machines with the optional extra
``pip install -e '.[gpu]'``; without vLLM it raises ``VLLMUnavailableError`` with the install hint), set by
``vllm=runtime.vllm`` (tensor-parallel size, GPU memory share, context length, replicas; vLLM's defaults
and one engine when None). Every stage and agent that builds a generator passes ``runtime.vllm``.
:func:`shared_generator` keeps one loaded model per (engine, model, its current weights, settings) in
the process, so that an actor and a critic on the same folder share it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from preftree.config.runtime import VLLMRuntime
from preftree.generation.device import resolve_device
from preftree.generation.hf import HFBatchGenerator, model_identity, resolve_model_folder
from preftree.generation.sampling import Generator
from preftree.generation.vllm import VLLMGenerator, engine_kwargs, import_vllm

ENGINES = ("hf", "vllm")


def make_generator(
    model: str | Path,
    *,
    engine: str = "hf",
    device: str = "auto",
    batch_size: int = 16,
    dtype: str = "auto",
    progress: bool = True,
    vllm: VLLMRuntime | None = None,
) -> Generator:
    """A generator on ``model`` (a local model folder or a cached hub id) for ``engine`` ("hf" | "vllm").

    ``device`` and ``batch_size`` are for hf (vLLM places and batches by itself); ``dtype`` is "auto",
    "float32", "bfloat16" or "float16"; ``vllm`` is ``runtime.vllm`` (vllm only)."""
    if engine == "hf":
        return HFBatchGenerator(model, device=device, batch_size=batch_size, dtype=dtype, progress=progress)
    if engine == "vllm":
        if vllm is None:
            return VLLMGenerator(model, dtype=dtype, progress=progress)
        return VLLMGenerator(model, dtype=dtype, progress=progress, replicas=vllm.replicas, **engine_kwargs(vllm))
    raise ValueError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")


_SHARED: dict[tuple[Any, ...], Generator] = {}
_SHARED_LOCK = threading.Lock()


def shared_generator(
    model: str, *, engine: str, device: str, batch_size: int, progress: bool = False, vllm: VLLMRuntime | None = None
) -> Generator:
    """``make_generator(model, ...)`` loaded once per (engine, model, its current weights, device, batch
    size, progress, vLLM settings) in this process; new weights on disk load afresh. vLLM is checked for
    first, so a machine without it gets the install hint before anything else."""
    if engine == "vllm":
        import_vllm()
    identity = model_identity(model, resolve_model_folder(model), engine=engine)
    key = (engine, model, identity, str(resolve_device(device)), batch_size, progress, vllm)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = make_generator(
                model, engine=engine, device=device, batch_size=batch_size, progress=progress, vllm=vllm
            )
        return _SHARED[key]
