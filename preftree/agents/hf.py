"""Actor and critic on a local Hugging Face causal LM folder (e.g. ``models/base``), with ``generate``.

* Loading: ``AutoModelForCausalLM`` / ``AutoTokenizer`` with ``local_files_only=True`` from the folder
  (a ``models/<stage>`` pointer written by ``base`` is followed to its checkpoint and re-checked); a
  hub id is accepted when it is already in the local HF cache. float32 on CPU, the checkpoint's
  dtype elsewhere.
* Identity: ``hf:<model as configured>@<12 hex of checkpoint_identity>`` (config, tokenizer and
  weights), so new weights never hit old cache entries.
* Prompts: the chat template of the tokenizer, left padding, prompts batched (``batch_size`` at a
  time, each repeated n times). A prompt longer than ``max_position_embeddings - max_new_tokens`` is
  cut from the left (with a warning). Generation stops at eos; the text is decoded without special
  tokens.
* Sampling is per sample, not per batch: each row draws its own Gumbel noise from a
  ``torch.Generator`` seeded by (request seed, sample index, the chat), added to the temperature-scaled,
  top-p-filtered logits, and the argmax is taken (the Gumbel-max trick: an exact draw from the same
  distribution as multinomial sampling). So sample i of a request depends on (seed, i, its messages)
  and not on which other requests share its batch (two prompts with the same seed do not share
  noise). temperature=0 is greedy decoding.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessor, LogitsProcessorList

from preftree.agents import prompts
from preftree.agents.base import Action, ActRequest, CritiqueRequest, Message
from preftree.config import AgentParams
from preftree.hashing import sha256_json, stable_seed

log = logging.getLogger(__name__)


def resolve_device(name: str | torch.device) -> torch.device:
    """runtime.device -> a torch device ("auto": cuda, then mps, then cpu)."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def resolve_model_folder(model: str) -> Path:
    """A local folder for ``model``: a folder (pointers followed) or a hub id already in the HF cache."""
    if not model:
        raise ValueError("the hf backend needs `model`: a local model folder such as models/base")
    path = Path(model).expanduser()
    if path.is_dir():
        from preftree.models.checkpoint import resolve_model_dir

        return resolve_model_dir(path).resolve()
    if path.exists():
        raise ValueError(f"model={model!r} is a file; expected a Hugging Face model folder")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=model, local_files_only=True))
    except Exception as err:  # noqa: BLE001 - any failure means "not available offline"
        raise FileNotFoundError(
            f"model={model!r} is neither a local folder nor a model in the local Hugging Face cache "
            f"({type(err).__name__}); download it first or point `model` at a folder"
        ) from None


def model_identity(model: str, folder: Path) -> str:
    from preftree.models.checkpoint import checkpoint_identity

    return f"hf:{model}@{checkpoint_identity(folder)['digest'][:12]}"


class GumbelSampler(LogitsProcessor):
    """Per-row sampling noise: scores/T, top-p filter, + Gumbel(0, 1) from each row's own generator."""

    def __init__(self, generators: Sequence[torch.Generator], temperature: float, top_p: float) -> None:
        self.generators = list(generators)
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.float() / self.temperature
        if self.top_p < 1.0:
            probs = torch.softmax(scores, dim=-1)
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass of the tokens ranked above
            drop_sorted = before >= self.top_p
            drop_sorted[..., 0] = False
            drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
            scores = scores.masked_fill(drop, float("-inf"))
        noise = torch.stack(
            [
                torch.rand(scores.shape[-1], generator=g, device=scores.device, dtype=torch.float32)
                for g in self.generators
            ]
        )
        gumbel = -torch.log(-torch.log(noise.clamp(min=1e-20, max=1.0 - 1e-7)))
        return scores + gumbel


class HFGenerator:
    """A loaded model + tokenizer that turns chats into sampled continuations."""

    def __init__(self, model: str, *, device: str | torch.device = "cpu", batch_size: int = 8) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_name = model
        self.folder = resolve_model_folder(model)
        self.identity = model_identity(model, self.folder)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(f"the tokenizer in {self.folder} has no chat template; the hf backend needs one")
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        kwargs: dict[str, Any] = {"local_files_only": True}
        kwargs["dtype"] = torch.float32 if self.device.type == "cpu" else "auto"
        self.model = AutoModelForCausalLM.from_pretrained(self.folder, **kwargs).to(self.device)
        self.model.eval()
        self.max_positions = getattr(self.model.config, "max_position_embeddings", None)
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        self._warned = False
        self._fold_system = False

    def __repr__(self) -> str:
        return f"HFGenerator({self.identity!r}, device={str(self.device)!r})"

    def _encode(self, chats: Sequence[Sequence[Message]]) -> Any:
        convs = [prompts.fold_system(c) if self._fold_system else [dict(m) for m in c] for c in chats]
        try:
            return self.tokenizer.apply_chat_template(
                convs, add_generation_prompt=True, tokenize=True, padding=True, return_tensors="pt", return_dict=True
            )
        except Exception as err:  # noqa: BLE001 - jinja raises TemplateError for an unsupported system role
            if self._fold_system or not any(m["role"] == "system" for c in chats for m in c):
                raise
            log.warning("%s: chat template rejected the system role (%s); folding it into the user turn", self, err)
            self._fold_system = True
            return self._encode(chats)

    @torch.no_grad()
    def generate(
        self,
        chats: Sequence[Sequence[Message]],
        ns: Sequence[int],
        seeds: Sequence[int],
        *,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
    ) -> list[list[str]]:
        """For each chat, ns[i] continuations; sample j of chat i uses the stream of (seeds[i], j, chat)."""
        out: list[list[str]] = [[] for _ in chats]
        for start in range(0, len(chats), self.batch_size):
            idx = list(range(start, min(start + self.batch_size, len(chats))))
            idx = [i for i in idx if ns[i] > 0]
            if not idx:
                continue
            enc = self._encode([chats[i] for i in idx])
            input_ids, mask = enc["input_ids"], enc["attention_mask"]
            if self.max_positions and input_ids.shape[1] + max_new_tokens > self.max_positions:
                keep = max(1, self.max_positions - max_new_tokens)
                if keep < input_ids.shape[1]:
                    if not self._warned:
                        log.warning("%s: prompts longer than %d tokens are cut from the left", self, keep)
                        self._warned = True
                    input_ids, mask = input_ids[:, -keep:], mask[:, -keep:]
            repeats = torch.tensor([ns[i] for i in idx])
            input_ids = input_ids.repeat_interleave(repeats, dim=0).to(self.device)
            mask = mask.repeat_interleave(repeats, dim=0).to(self.device)
            rows = [(i, j) for i in idx for j in range(ns[i])]
            kwargs: dict[str, Any] = {
                "max_new_tokens": max_new_tokens,
                "do_sample": False,
                "num_beams": 1,
                "pad_token_id": self.tokenizer.pad_token_id,
                "eos_token_id": sorted(self.eos_ids),
            }
            if temperature > 0:
                gens = []
                digests = {i: sha256_json([dict(m) for m in chats[i]]) for i in idx}
                for i, j in rows:
                    g = torch.Generator(device=self.device)
                    g.manual_seed(stable_seed("hf.sample", seeds[i], j, digests[i]))
                    gens.append(g)
                kwargs["logits_processor"] = LogitsProcessorList([GumbelSampler(gens, temperature, top_p)])
            generated = self.model.generate(input_ids=input_ids, attention_mask=mask, **kwargs)
            new = generated[:, input_ids.shape[1] :].tolist()
            for (i, _), ids in zip(rows, new, strict=True):
                cut = next((p for p, t in enumerate(ids) if t in self.eos_ids), len(ids))
                out[i].append(self.tokenizer.decode(ids[:cut], skip_special_tokens=True))
        return out


_SHARED: dict[tuple[str, str, str, int], HFGenerator] = {}
_SHARED_LOCK = threading.Lock()


def shared_generator(model: str, *, device: str | torch.device = "cpu", batch_size: int = 8) -> HFGenerator:
    """One loaded model per (model, its current weights, device, batch size) in this process, so that an
    actor and a critic on the same folder share it; new weights on disk load afresh."""
    identity = model_identity(model, resolve_model_folder(model))
    key = (model, identity, str(resolve_device(device)), batch_size)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = HFGenerator(model, device=device, batch_size=batch_size)
        return _SHARED[key]


class HFActor:
    """``Actor`` on a local HF model. ``system_prompt``: True / False / None = only for guided requests."""

    def __init__(
        self,
        params: AgentParams,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 8,
        system_prompt: bool | None = None,
        generator: HFGenerator | None = None,
    ) -> None:
        self.params = params
        self.engine = generator or shared_generator(params.model, device=device, batch_size=batch_size)
        self.identity = self.engine.identity
        self.system_prompt = system_prompt

    def __repr__(self) -> str:
        return f"HFActor({self.identity!r})"

    def sampling(self) -> dict[str, Any]:
        p = self.params
        return {"temperature": p.temperature, "top_p": p.top_p, "max_new_tokens": p.max_new_tokens}

    def messages(self, request: ActRequest) -> list[Message]:
        return prompts.actor_messages(request, system_prompt=self.system_prompt)

    def act_key(self, request: ActRequest) -> dict[str, Any]:
        return {"messages": self.messages(request), "sampling": self.sampling(), "seed": request.seed, "n": request.n}

    def act(self, requests: Sequence[ActRequest]) -> list[list[Action]]:
        s = self.sampling()
        texts = self.engine.generate(
            [self.messages(r) for r in requests],
            [r.n for r in requests],
            [r.seed for r in requests],
            **s,
        )
        return [
            [Action(text=t, actor=self.identity, sampling={**s, "seed": r.seed, "index": j}) for j, t in enumerate(ts)]
            for r, ts in zip(requests, texts, strict=True)
        ]


class HFCritic:
    """``Critic`` on a local HF model, prompted with ``prompts.critic_messages`` (one sample per request)."""

    def __init__(
        self,
        params: AgentParams,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 8,
        generator: HFGenerator | None = None,
    ) -> None:
        self.params = params
        self.engine = generator or shared_generator(params.model, device=device, batch_size=batch_size)
        self.identity = self.engine.identity

    def __repr__(self) -> str:
        return f"HFCritic({self.identity!r})"

    def sampling(self) -> dict[str, Any]:
        p = self.params
        return {"temperature": p.temperature, "top_p": p.top_p, "max_new_tokens": p.max_new_tokens}

    def critique_key(self, request: CritiqueRequest) -> dict[str, Any]:
        return {"messages": prompts.critic_messages(request), "sampling": self.sampling(), "seed": request.seed, "n": 1}

    def critique(self, requests: Sequence[CritiqueRequest]) -> list[str]:
        texts = self.engine.generate(
            [prompts.critic_messages(r) for r in requests],
            [1] * len(requests),
            [r.seed for r in requests],
            **self.sampling(),
        )
        return [t[0].strip() for t in texts]
