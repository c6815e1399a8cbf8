"""Batched sampling from a local causal LM, on Hugging Face transformers or on vLLM, behind one interface.

    gen = make_generator("models/sft", engine="hf", device="auto", batch_size=16)
    texts = gen.generate(chats, Sampling(n=4, temperature=0.7, max_new_tokens=256, seed=1, stop=("```\\n",)))
    # texts[i]: the 4 continuations of chats[i] (chats: lists of {"role", "content"} messages)

The engine is a runtime setting (``runtime.engine``): it changes speed, never the meaning of a request.

``engine="hf"`` (:class:`HFBatchGenerator`, any machine):

* Loading follows the hf agent backend (:mod:`preftree.agents.hf`): a model folder (``models/<stage>``
  pointers followed and re-checked) or a hub id already in the local HF cache, ``local_files_only``;
  identity ``hf:<model>@<12 hex of checkpoint_identity>``. ``dtype="auto"``: float32 on CPU, the
  checkpoint's dtype elsewhere.
* Each chat is rendered with the tokenizer's chat template (``add_generation_prompt=True``; a system
  message is folded into the first user turn when the template rejects the system role). A prompt longer
  than ``max_position_embeddings - max_new_tokens`` tokens is cut from the left, with a warning.
* Rows (one per prompt and sample) are sorted by prompt length, longest first, and run ``batch_size``
  rows at a time through ``model.generate`` (left padding, KV cache), so little compute goes to padding;
  results come back in input order. A tqdm bar counts batches.
* Sampling is per sample (the Gumbel-max sampler of the hf agent backend): sample i of a prompt draws its
  noise from a generator seeded by (seed, i, the chat), so it depends on nothing else: not on the other
  prompts, their order, the batch size or n. temperature == 0 is greedy decoding (one row per prompt,
  copied n times), token for token what an unbatched greedy ``model.generate`` gives.
* A row finishes at eos or once its text contains a stop string; a batch ends when all its rows have
  finished (or after max_new_tokens). The text is decoded without special tokens and cut before the first
  occurrence of any stop string.

``engine="vllm"`` (:class:`VLLMGenerator`, CUDA machines with the optional extra
``pip install -e '.[vllm]'``): the same chat rendering and left cut, then one ``LLM.generate`` call with a
``SamplingParams(n, temperature, top_p, max_tokens, seed, stop)`` per prompt (the seed mixes the request
seed with the chat, as in :mod:`preftree.agents.vllm_backend`); vLLM cuts the text before a stop string
itself. Without vLLM, :func:`make_generator` raises ``VLLMUnavailableError`` with the install hint.

:func:`as_callable` adapts a generator to the plain function the evaluation runner calls:
``f(prompts, n, temperature, max_new_tokens, seed, stop) -> list[list[str]]``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from preftree.agents import prompts as agent_prompts
from preftree.agents.hf import GumbelSampler, model_identity, resolve_model_folder
from preftree.agents.vllm_backend import VLLMUnavailableError, _import_vllm
from preftree.base_model import resolve_device
from preftree.hashing import sha256_json, stable_seed

log = logging.getLogger(__name__)

Message = dict[str, str]  # {"role", "content"}
ENGINES = ("hf", "vllm")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

__all__ = [
    "ENGINES",
    "Generator",
    "HFBatchGenerator",
    "Message",
    "Sampling",
    "VLLMGenerator",
    "VLLMUnavailableError",
    "as_callable",
    "make_generator",
]


@dataclass(frozen=True)
class Sampling:
    """How to sample: n texts per prompt, temperature 0 = greedy, stop strings cut the text before them."""

    n: int = 1
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    max_new_tokens: int = 512
    seed: int = 0
    stop: tuple[str, ...] = ()  # stop strings: output is cut before the first occurrence

    def __post_init__(self) -> None:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        object.__setattr__(self, "stop", stop)
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if any(not isinstance(s, str) or not s for s in stop):
            raise ValueError(f"stop strings must be non-empty strings, got {stop!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


class Generator(Protocol):
    identity: str

    def generate(self, prompts: Sequence[Sequence[Message]], sampling: Sampling) -> list[list[str]]:
        """Per prompt, ``sampling.n`` texts."""
        ...


def make_generator(
    model: str | Path,
    *,
    engine: str = "hf",
    device: str = "auto",
    batch_size: int = 16,
    dtype: str = "auto",
    progress: bool = True,
) -> Generator:
    """A generator on ``model`` (a local model folder or a cached hub id) for ``engine`` ("hf" | "vllm").

    ``device`` and ``batch_size`` are for hf (vLLM places and batches by itself); ``dtype`` is "auto",
    "float32", "bfloat16" or "float16"."""
    if engine == "hf":
        return HFBatchGenerator(model, device=device, batch_size=batch_size, dtype=dtype, progress=progress)
    if engine == "vllm":
        return VLLMGenerator(model, dtype=dtype, progress=progress)
    raise ValueError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")


def as_callable(gen: Generator) -> Callable[..., list[list[str]]]:
    """``f(prompts, n, temperature, max_new_tokens, seed, stop) -> list[list[str]]`` on ``gen``
    (top_p 1.0); the function carries the generator's ``identity``."""

    def call(
        prompts: Sequence[Sequence[Message]],
        n: int = 1,
        temperature: float = 0.0,
        max_new_tokens: int = 512,
        seed: int = 0,
        stop: Sequence[str] | None = (),
    ) -> list[list[str]]:
        sampling = Sampling(
            n=n, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed, stop=tuple(stop or ())
        )
        return gen.generate(prompts, sampling)

    call.identity = gen.identity  # type: ignore[attr-defined]
    return call


# --------------------------------------------------------------------------------------------
# shared by both engines


def _as_chat(prompt: Sequence[Message] | str) -> list[Message]:
    """A chat as a list of plain dicts (a bare string is one user message)."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [dict(m) for m in prompt]


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` before the earliest occurrence of any stop string (unchanged when none occurs)."""
    hits = [p for p in (text.find(s) for s in stop) if p >= 0]
    return text[: min(hits)] if hits else text


class ChatRenderer:
    """Chat -> prompt text with the tokenizer's chat template (generation prompt appended). A template
    that rejects the system role gets it folded into the first user turn from then on."""

    def __init__(self, tokenizer: Any, name: str) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"the tokenizer of {name} has no chat template")
        self.tokenizer = tokenizer
        self.name = name
        self.fold_system = False

    def __call__(self, chat: list[Message]) -> str:
        convo = agent_prompts.fold_system(chat) if self.fold_system else chat
        try:
            return self.tokenizer.apply_chat_template(convo, tokenize=False, add_generation_prompt=True)
        except Exception as err:  # noqa: BLE001 - jinja raises TemplateError for an unsupported system role
            if self.fold_system or not any(m["role"] == "system" for m in chat):
                raise
            log.warning(
                "%s: chat template rejected the system role (%s); folding it into the user turn", self.name, err
            )
            self.fold_system = True
            return self(chat)

    def token_ids(self, chats: Sequence[list[Message]], max_len: int | None) -> list[list[int]]:
        """Token ids of each rendered chat, cut from the left to ``max_len`` tokens (with one warning)."""
        texts = [self(c) for c in chats]
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        if max_len is not None:
            long = sum(len(x) > max_len for x in ids)
            if long:
                log.warning(
                    "%s: %d of %d prompts over %d tokens (context less max_new_tokens) are cut from the left",
                    self.name, long, len(ids), max_len,
                )  # fmt: skip
                ids = [x[-max_len:] for x in ids]
        return [list(x) for x in ids]


def _prompt_budget(max_positions: int | None, max_new_tokens: int) -> int | None:
    """How many prompt tokens fit before max_new_tokens in the context (None: unknown, no cut)."""
    if not max_positions:
        return None
    return max(1, max_positions - max_new_tokens)


# --------------------------------------------------------------------------------------------
# Hugging Face transformers


class StopOnStrings(StoppingCriteria):
    """Per row: finished once the text generated after ``start`` contains a stop string.

    Each step decodes only a tail window of every unfinished row (enough tokens to hold the longest stop
    string even at 4 tokens per character); a hit there is confirmed on the row's whole decoded text, so
    a row never stops on text that its final decode would not contain."""

    def __init__(self, tokenizer: Any, stop: Sequence[str], start: int, finished_ids: set[int]) -> None:
        self.tokenizer = tokenizer
        self.stop = tuple(stop)
        self.start = start
        self.finished_ids = finished_ids  # eos and pad: a row ending in one is done already
        self.window = 4 * max(len(s) for s in self.stop) + 4
        self.hit: set[int] = set()

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool)
        new = input_ids[:, self.start :]
        if new.shape[1] == 0:
            return done.to(input_ids.device)
        last = new[:, -1].tolist()
        tails = new[:, -self.window :].tolist()
        for row, tail in enumerate(tails):
            if row in self.hit:
                done[row] = True
                continue
            if last[row] in self.finished_ids:
                continue
            if any(s in self.tokenizer.decode(tail, skip_special_tokens=True) for s in self.stop):
                full = self.tokenizer.decode(new[row].tolist(), skip_special_tokens=True)
                if any(s in full for s in self.stop):
                    self.hit.add(row)
                    done[row] = True
        return done.to(input_ids.device)


class HFBatchGenerator:
    """A model + tokenizer loaded from a local folder, sampling chats in length-sorted batches of rows."""

    def __init__(
        self,
        model: str | Path,
        *,
        device: str | torch.device = "auto",
        batch_size: int = 16,
        dtype: str = "auto",
        progress: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if dtype != "auto" and dtype not in DTYPES:
            raise ValueError(f"dtype must be auto or one of {', '.join(DTYPES)}, got {dtype!r}")
        self.model_name = str(model)
        self.folder = resolve_model_folder(self.model_name)
        self.identity = model_identity(self.model_name, self.folder)
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.batch_size = batch_size
        self.progress = progress
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.render = ChatRenderer(self.tokenizer, self.identity)
        if dtype == "auto":
            torch_dtype: Any = torch.float32 if self.device.type == "cpu" else "auto"
        else:
            torch_dtype = DTYPES[dtype]
        net = AutoModelForCausalLM.from_pretrained(self.folder, local_files_only=True, dtype=torch_dtype)
        self.model = net.to(self.device).eval()
        self.max_positions: int | None = getattr(self.model.config, "max_position_embeddings", None)
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self.eos_ids: set[int] = set(eos if isinstance(eos, list) else [eos]) - {None}
        self.pad_id: int = self.tokenizer.pad_token_id

    def __repr__(self) -> str:
        return f"HFBatchGenerator({self.identity!r}, device={str(self.device)!r}, batch_size={self.batch_size})"

    def generate(self, prompts: Sequence[Sequence[Message]], sampling: Sampling) -> list[list[str]]:
        """Per prompt, ``sampling.n`` texts, in input order."""
        chats = [_as_chat(p) for p in prompts]
        if not chats:
            return []
        s = sampling
        ids = self.render.token_ids(chats, _prompt_budget(self.max_positions, s.max_new_tokens))
        per_prompt = 1 if s.greedy else s.n  # greedy samples are all alike: decode once, copy
        order = sorted(range(len(chats)), key=lambda i: -len(ids[i]))  # stable: ties keep input order
        rows = [(i, j) for i in order for j in range(per_prompt)]
        digests = [] if s.greedy else [sha256_json(c) for c in chats]
        texts: dict[tuple[int, int], str] = {}
        batches = [rows[k : k + self.batch_size] for k in range(0, len(rows), self.batch_size)]
        for batch in tqdm(batches, desc="generate", unit="batch", disable=not self.progress, leave=False):
            seeds = None if s.greedy else [stable_seed("hf.sample", s.seed, j, digests[i]) for i, j in batch]
            for row, text in zip(batch, self._run([ids[i] for i, _ in batch], seeds, s), strict=True):
                texts[row] = text
        return [[texts[i, j if not s.greedy else 0] for j in range(s.n)] for i in range(len(chats))]

    @torch.no_grad()
    def _run(self, prompt_ids: list[list[int]], seeds: list[int] | None, s: Sampling) -> list[str]:
        """One ``model.generate`` call on left-padded rows; seeds: one per row (None: greedy)."""
        width = max(len(x) for x in prompt_ids)
        input_ids = torch.tensor([[self.pad_id] * (width - len(x)) + x for x in prompt_ids], device=self.device)
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in prompt_ids], device=self.device)
        kwargs: dict[str, Any] = {
            "max_new_tokens": s.max_new_tokens,
            "do_sample": False,
            "num_beams": 1,
            "use_cache": True,
            "pad_token_id": self.pad_id,
            "eos_token_id": sorted(self.eos_ids),
        }
        if seeds is not None:
            gens = [torch.Generator(device=self.device).manual_seed(seed) for seed in seeds]
            kwargs["logits_processor"] = LogitsProcessorList([GumbelSampler(gens, s.temperature, s.top_p)])
        if s.stop:
            finished = self.eos_ids | {self.pad_id}
            kwargs["stopping_criteria"] = StoppingCriteriaList([StopOnStrings(self.tokenizer, s.stop, width, finished)])
        out = self.model.generate(input_ids=input_ids, attention_mask=mask, **kwargs)
        texts = []
        for new in out[:, width:].tolist():
            cut = next((p for p, t in enumerate(new) if t in self.eos_ids), len(new))
            texts.append(cut_at_stop(self.tokenizer.decode(new[:cut], skip_special_tokens=True), s.stop))
        return texts


# --------------------------------------------------------------------------------------------
# vLLM (optional extra; import-guarded)


class VLLMGenerator:
    """``vllm.LLM`` on a local model folder; one ``SamplingParams`` per prompt, one ``generate`` call."""

    def __init__(self, model: str | Path, *, dtype: str = "auto", progress: bool = True, **llm_kwargs: Any) -> None:
        self._vllm = _import_vllm()
        from preftree.models.checkpoint import checkpoint_identity

        self.model_name = str(model)
        self.folder = resolve_model_folder(self.model_name)
        self.identity = f"vllm:{self.model_name}@{checkpoint_identity(self.folder)['digest'][:12]}"
        self.progress = progress
        self.llm = self._vllm.LLM(model=str(self.folder), dtype=dtype, **llm_kwargs)
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

    def generate(self, prompts: Sequence[Sequence[Message]], sampling: Sampling) -> list[list[str]]:
        chats = [_as_chat(p) for p in prompts]
        if not chats:
            return []
        s = sampling
        ids = self.render.token_ids(chats, _prompt_budget(self.max_positions, s.max_new_tokens))
        params = [
            self._vllm.SamplingParams(
                n=1 if s.greedy else s.n,  # greedy samples are all alike (and older vLLM rejects n > 1)
                temperature=s.temperature,
                top_p=s.top_p,
                max_tokens=s.max_new_tokens,
                seed=stable_seed("vllm.request", s.seed, sha256_json(c)) % (2**31),
                stop=list(s.stop) or None,
            )
            for c in chats
        ]
        outputs = self.llm.generate([{"prompt_token_ids": x} for x in ids], params, use_tqdm=self.progress)
        texts = [[o.text for o in out.outputs] for out in outputs]
        return [t * s.n if s.greedy else t for t in texts]
