"""Actor and critic on vLLM's offline engine (``vllm.LLM`` + ``SamplingParams``), for CUDA machines.

vLLM is an optional extra (``pip install -e '.[vllm]'``); CI never installs it. It is imported when a
backend is constructed, so importing this module is always safe; without vLLM the constructor raises
``VLLMUnavailableError`` with the install hint.

Prompts are rendered with the tokenizer's chat template (``llm.get_tokenizer().apply_chat_template``
with ``add_generation_prompt=True``) and generated in one ``llm.generate(prompts, [SamplingParams,
...])`` call, one ``SamplingParams(n, temperature, top_p, max_tokens, seed)`` per request, the seed
mixing the request seed with its messages, so each request's samples depend on its own seed and
prompt only. The model folder and identity follow the hf backend
(``vllm:<model>@<12 hex of checkpoint_identity>``); weights are loaded from the resolved local folder.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from preftree.agents import prompts
from preftree.agents.base import Action, ActRequest, CritiqueRequest, Message
from preftree.config import AgentParams
from preftree.hashing import sha256_json, stable_seed

log = logging.getLogger(__name__)

INSTALL_HINT = "runtime.engine / actor.backend=vllm needs the vllm extra: pip install -e '.[vllm]' on a CUDA machine"


class VLLMUnavailableError(RuntimeError):
    """vLLM is not installed (or cannot be imported) in this environment."""


def _import_vllm() -> Any:
    try:
        import vllm  # type: ignore[import-not-found]
    except ImportError as err:
        raise VLLMUnavailableError(f"{INSTALL_HINT} (import failed: {err})") from None
    return vllm


class VLLMEngine:
    """One ``vllm.LLM`` on a local model folder (shared by an actor and a critic on the same model)."""

    def __init__(self, model: str, *, seed: int = 0, **llm_kwargs: Any) -> None:
        self._vllm = _import_vllm()
        from preftree.agents.hf import resolve_model_folder
        from preftree.models.checkpoint import checkpoint_identity

        self.folder = resolve_model_folder(model)
        self.identity = f"vllm:{model}@{checkpoint_identity(self.folder)['digest'][:12]}"
        self.llm = self._vllm.LLM(model=str(self.folder), seed=seed, **llm_kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self._fold_system = False

    def __repr__(self) -> str:
        return f"VLLMEngine({self.identity!r})"

    def render(self, messages: Sequence[Message]) -> str:
        convo = prompts.fold_system(messages) if self._fold_system else [dict(m) for m in messages]
        try:
            return self.tokenizer.apply_chat_template(convo, tokenize=False, add_generation_prompt=True)
        except Exception:  # noqa: BLE001 - a template without a system role
            if self._fold_system or not any(m["role"] == "system" for m in messages):
                raise
            self._fold_system = True
            return self.render(messages)

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
        sampling = [
            self._vllm.SamplingParams(
                n=n,
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_new_tokens,
                seed=stable_seed("vllm.request", s, sha256_json([dict(m) for m in c])) % (2**31),
            )  # fmt: skip
            for c, n, s in zip(chats, ns, seeds, strict=True)
        ]
        outputs = self.llm.generate([self.render(c) for c in chats], sampling, use_tqdm=False)
        return [[o.text for o in out.outputs] for out in outputs]


class VLLMActor:
    """``Actor`` on vLLM. ``system_prompt``: True / False / None = only for guided requests (as hf)."""

    def __init__(
        self,
        params: AgentParams,
        *,
        system_prompt: bool | None = None,
        engine: VLLMEngine | None = None,
        **llm_kwargs: Any,
    ) -> None:
        self.params = params
        self.engine = engine or VLLMEngine(params.model, **llm_kwargs)
        self.identity = self.engine.identity
        self.system_prompt = system_prompt

    def __repr__(self) -> str:
        return f"VLLMActor({self.identity!r})"

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
            [self.messages(r) for r in requests], [r.n for r in requests], [r.seed for r in requests], **s
        )
        return [
            [Action(text=t, actor=self.identity, sampling={**s, "seed": r.seed, "index": j}) for j, t in enumerate(ts)]
            for r, ts in zip(requests, texts, strict=True)
        ]


class VLLMCritic:
    """``Critic`` on vLLM, prompted with ``prompts.critic_messages``."""

    def __init__(self, params: AgentParams, *, engine: VLLMEngine | None = None, **llm_kwargs: Any) -> None:
        self.params = params
        self.engine = engine or VLLMEngine(params.model, **llm_kwargs)
        self.identity = self.engine.identity

    def __repr__(self) -> str:
        return f"VLLMCritic({self.identity!r})"

    def sampling(self) -> dict[str, Any]:
        p = self.params
        return {"temperature": p.temperature, "top_p": p.top_p, "max_new_tokens": p.max_new_tokens}

    def critique_key(self, request: CritiqueRequest) -> dict[str, Any]:
        return {"messages": prompts.critic_messages(request), "sampling": self.sampling(), "seed": request.seed, "n": 1}

    def critique(self, requests: Sequence[CritiqueRequest]) -> list[str]:
        texts = self.engine.generate(
            [prompts.critic_messages(r) for r in requests], [1] * len(requests), [r.seed for r in requests],
            **self.sampling(),
        )  # fmt: skip
        return [t[0].strip() for t in texts]
