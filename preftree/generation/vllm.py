"""Sampling on vLLM's offline engine (:class:`VLLMGenerator`), for CUDA machines.

vLLM is an optional extra (``pip install -e '.[vllm]'``); CI never installs it. It is imported when a
generator is constructed (:func:`import_vllm`), so importing this module is always safe; without vLLM the
constructor raises ``VLLMUnavailableError`` with the install hint.

The model folder follows the hf engine (:func:`preftree.generation.hf.resolve_model_folder`); identity
``vllm:<model>@<12 hex of checkpoint_identity>``. Chats are rendered and cut from the left as the hf
engine does (:class:`preftree.generation.chat.ChatRenderer`), then sent as token ids in one
``LLM.generate`` call with one ``SamplingParams(n, temperature, top_p, max_tokens, seed, stop)`` per
prompt; the seed mixes the prompt's seed with the chat, so each prompt's samples depend on its own seed
and chat only. Greedy prompts ask for one sample and copy it n times. vLLM cuts the text before a stop
string itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from preftree.generation.chat import ChatRenderer, prompt_budget
from preftree.generation.hf import model_identity, resolve_model_folder
from preftree.generation.sampling import GeneratorBase, Message, Sampling
from preftree.hashing import sha256_json, stable_seed

INSTALL_HINT = "runtime.engine / actor.backend=vllm needs the vllm extra: pip install -e '.[vllm]' on a CUDA machine"


class VLLMUnavailableError(RuntimeError):
    """vLLM is not installed (or cannot be imported) in this environment."""


def import_vllm() -> Any:
    """The ``vllm`` module; ``VLLMUnavailableError`` with the install hint when it cannot be imported."""
    try:
        import vllm  # type: ignore[import-not-found]
    except ImportError as err:
        raise VLLMUnavailableError(f"{INSTALL_HINT} (import failed: {err})") from None
    return vllm


class VLLMGenerator(GeneratorBase):
    """``vllm.LLM`` on a local model folder; one ``SamplingParams`` per prompt, one ``generate`` call."""

    def __init__(self, model: str | Path, *, dtype: str = "auto", progress: bool = True, **llm_kwargs: Any) -> None:
        self.vllm = import_vllm()
        self.model_name = str(model)
        self.folder = resolve_model_folder(self.model_name)
        self.identity = model_identity(self.model_name, self.folder, engine="vllm")
        self.progress = progress
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
            self.vllm.SamplingParams(
                n=1 if s.greedy else x.n,  # greedy samples are all alike (and older vLLM rejects n > 1)
                temperature=s.temperature,
                top_p=s.top_p,
                max_tokens=s.max_new_tokens,
                seed=stable_seed("vllm.request", x.seed, sha256_json(c)) % (2**31),
                stop=list(s.stop) or None,
            )
            for c, x in zip(chats, samplings, strict=True)
        ]
        outputs = self.llm.generate([{"prompt_token_ids": x} for x in ids], params, use_tqdm=self.progress)
        texts = [[o.text for o in out.outputs] for out in outputs]
        return [t * x.n if s.greedy else t for t, x in zip(texts, samplings, strict=True)]
