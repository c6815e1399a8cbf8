"""Sampling on vLLM's offline engine (:class:`VLLMGenerator`), for CUDA machines.

vLLM is in the optional ``gpu`` extra (``pip install -e '.[gpu]'``, pinned; ``make gpu-check``); CI never
installs it. It is imported when a generator is constructed (:func:`import_vllm`), so importing this module
is always safe; without vLLM the constructor raises ``VLLMUnavailableError`` with the install hint.

``runtime.vllm`` (:class:`preftree.config.runtime.VLLMRuntime`) sets every engine: tensor-parallel size,
GPU memory share and context length go to ``vllm.LLM`` (:func:`engine_kwargs`); ``replicas`` > 1 runs that
many engines in processes of their own, each on its own GPUs (:mod:`preftree.generation.vllm_replicas`).

The model folder follows the hf engine (:func:`preftree.generation.hf.resolve_model_folder`); identity
``vllm:<model>@<12 hex of checkpoint_identity>``. Chats are rendered and cut from the left as the hf
engine does (:class:`preftree.generation.chat.ChatRenderer`; a chat ending with an assistant message is
continued from that prefill, and vLLM detokenizes the continuation after the prompt's tokens), then sent
as token ids in one ``LLM.generate`` call with one ``SamplingParams(n, temperature, top_p, max_tokens,
seed, stop)`` per prompt; the seed mixes the prompt's seed with the chat, so each prompt's samples
depend on its own seed and chat only. Greedy prompts ask for one sample and copy it n times. vLLM cuts
the text before a stop string itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from preftree.config.runtime import VLLMRuntime
from preftree.generation.chat import ChatRenderer, prompt_budget
from preftree.generation.hf import model_identity, resolve_model_folder
from preftree.generation.sampling import GeneratorBase, Message, Sampling
from preftree.generation.vllm_replicas import ReplicaPool
from preftree.hashing import sha256_json, stable_seed

INSTALL_HINT = "runtime.engine / actor.backend=vllm needs the gpu extra: pip install -e '.[gpu]' on a CUDA machine"


class VLLMUnavailableError(RuntimeError):
    """vLLM is not installed (or cannot be imported) in this environment."""


def import_vllm() -> Any:
    """The ``vllm`` module; ``VLLMUnavailableError`` with the install hint when it cannot be imported."""
    try:
        import vllm  # type: ignore[import-not-found]
    except ImportError as err:
        raise VLLMUnavailableError(f"{INSTALL_HINT} (import failed: {err})") from None
    return vllm


def engine_kwargs(settings: VLLMRuntime) -> dict[str, Any]:
    """``vllm.LLM`` keyword arguments of ``runtime.vllm`` (``max_model_len`` only when set; ``replicas`` is
    :class:`VLLMGenerator`'s own)."""
    kwargs: dict[str, Any] = {
        "tensor_parallel_size": settings.tensor_parallel_size,
        "gpu_memory_utilization": settings.gpu_memory_utilization,
    }
    if settings.max_model_len is not None:
        kwargs["max_model_len"] = settings.max_model_len
    return kwargs


class VLLMGenerator(GeneratorBase):
    """``vllm.LLM`` on a local model folder; one ``SamplingParams`` per prompt, one ``generate`` call."""

    def __init__(
        self, model: str | Path, *, dtype: str = "auto", progress: bool = True, replicas: int = 1, **llm_kwargs: Any
    ) -> None:
        """``replicas`` > 1: that many engines in processes of their own (:class:`ReplicaPool`), the tokenizer
        loaded here from the folder; ``llm_kwargs`` go to every ``vllm.LLM``."""
        self.vllm = import_vllm()
        self.model_name = str(model)
        self.folder = resolve_model_folder(self.model_name)
        self.identity = model_identity(self.model_name, self.folder, engine="vllm")
        self.progress = progress
        self.pool: ReplicaPool | None = None
        if replicas > 1:
            from transformers import AutoTokenizer

            tp = int(llm_kwargs.pop("tensor_parallel_size", 1))
            self.pool = ReplicaPool(str(self.folder), replicas, tp, {"dtype": dtype, **llm_kwargs})
            self.tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
            self.llm: Any = None
        else:
            self.llm = self.vllm.LLM(model=str(self.folder), dtype=dtype, **llm_kwargs)
            self.tokenizer = self.llm.get_tokenizer()
        self.render = ChatRenderer(self.tokenizer, self.identity)
        if llm_kwargs.get("max_model_len"):
            self.max_positions: int | None = int(llm_kwargs["max_model_len"])
        else:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(self.folder, local_files_only=True)
            self.max_positions = getattr(config, "max_position_embeddings", None)

    def __repr__(self) -> str:
        return f"VLLMGenerator({self.identity!r})"

    def sample_chats(self, chats: list[list[Message]], samplings: Sequence[Sampling], s: Sampling) -> list[list[str]]:
        """Per chat, ``samplings[i].n`` texts: one ``SamplingParams`` per chat, one ``LLM.generate`` call."""
        ids = self.render.token_ids(chats, prompt_budget(self.max_positions, s.max_new_tokens))
        params = [
            dict(
                n=1 if s.greedy else x.n,  # greedy samples are all alike (and older vLLM rejects n > 1)
                temperature=s.temperature,
                top_p=s.top_p,
                max_tokens=s.max_new_tokens,
                seed=stable_seed("vllm.request", x.seed, sha256_json(c)) % (2**31),
                stop=list(s.stop) or None,
            )
            for c, x in zip(chats, samplings, strict=True)
        ]
        prompts = [{"prompt_token_ids": x} for x in ids]
        if self.pool is not None:
            texts = self.pool.generate(prompts, params)
        else:
            requests = [self.vllm.SamplingParams(**x) for x in params]
            outputs = self.llm.generate(prompts, requests, use_tqdm=self.progress)
            texts = [[o.text for o in out.outputs] for out in outputs]
        return [t * x.n if s.greedy else t for t, x in zip(texts, samplings, strict=True)]
