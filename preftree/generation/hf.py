"""Batched sampling from a local causal LM on Hugging Face transformers (:class:`HFBatchGenerator`, any machine).

* Loading: a model folder (``models/<stage>`` pointers followed and re-checked) or a hub id already in
  the local HF cache, ``local_files_only``; identity ``hf:<model>@<12 hex of checkpoint_identity>``
  (config, tokenizer and weights), so new weights never hit old cache entries. ``dtype="auto"``:
  float32 on CPU, the checkpoint's dtype elsewhere.
* Each chat is rendered by :class:`preftree.generation.chat.ChatRenderer` (chat template, system role
  folded when the template rejects it, prompts over ``max_position_embeddings - max_new_tokens`` tokens
  cut from the left).
* Rows (one per prompt and sample) are sorted by prompt length, longest first, and run ``batch_size``
  rows at a time through :func:`preftree.generation.decode.decode` (left padding, KV cache, a finished
  row leaves the batch), so little compute goes to padding or to rows that are done; results come back
  in input order. A tqdm bar counts batches (``progress``).
* Sampling is per sample: sample i of a prompt draws its Gumbel noise (``decode.gumbel_scores``) from a
  ``torch.Generator`` seeded by (seed, i, the chat), added to the temperature-scaled, top-p-filtered
  logits, and the argmax is taken (the Gumbel-max trick: an exact draw from the same distribution as
  multinomial sampling). So it depends on nothing else: not on the other prompts, their order, the batch
  size or n. temperature == 0 is greedy decoding (one row per prompt, copied n times), token for token
  what an unbatched greedy ``model.generate`` gives.
* A row finishes at eos or once its text contains a stop string; a batch ends when all its rows have
  finished (or after max_new_tokens). The text is decoded without special tokens and cut before the first
  occurrence of any stop string. A prefilled chat (ending with an assistant message) returns the
  continuation, decoded after the prompt's last tokens so its first word keeps its leading space.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from preftree.generation.chat import ChatRenderer, continuation_text, prompt_budget, split_prefill
from preftree.generation.decode import decode, greedy, gumbel_scores, stop_hit
from preftree.generation.device import resolve_device
from preftree.generation.sampling import GeneratorBase, Message, Sampling, cut_at_stop
from preftree.hashing import sha256_json, stable_seed
from preftree.models.vocab_file import prepare_chat_tokenizer, report

PREFILL_CONTEXT = 8  # prompt tokens a prefilled reply is decoded after
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


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


def model_identity(model: str, folder: Path, engine: str = "hf") -> str:
    """``<engine>:<model as configured>@<12 hex of the checkpoint identity of folder>``."""
    from preftree.models.checkpoint import checkpoint_identity

    return f"{engine}:{model}@{checkpoint_identity(folder)['digest'][:12]}"


class HFBatchGenerator(GeneratorBase):
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
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.progress = progress
        self.tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        report(prepare_chat_tokenizer(self.tokenizer, source=str(self.folder), require_pad=False))
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:  # generation only: left padding is masked, eos will do
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

    def sample_chats(self, chats: list[list[Message]], samplings: Sequence[Sampling], s: Sampling) -> list[list[str]]:
        """Per chat, ``samplings[i].n`` texts: length-sorted batches of ``batch_size`` rows."""
        ids = self.render.token_ids(chats, prompt_budget(self.max_positions, s.max_new_tokens))
        # a prefilled chat's reply is decoded after the prompt's last tokens (chat.continuation_text)
        context = [ids[i][-PREFILL_CONTEXT:] if split_prefill(c)[1] else [] for i, c in enumerate(chats)]
        per_prompt = [1 if s.greedy else x.n for x in samplings]  # greedy samples are all alike: decode once
        order = sorted(range(len(chats)), key=lambda i: -len(ids[i]))  # stable: ties keep input order
        rows = [(i, j) for i in order for j in range(per_prompt[i])]
        digests = [] if s.greedy else [sha256_json(c) for c in chats]
        texts: dict[tuple[int, int], str] = {}
        batches = [rows[k : k + self.batch_size] for k in range(0, len(rows), self.batch_size)]
        for batch in tqdm(batches, desc="generate", unit="batch", disable=not self.progress, leave=False):
            seeds = None if s.greedy else [stable_seed("hf.sample", samplings[i].seed, j, digests[i]) for i, j in batch]
            run = self._run([ids[i] for i, _ in batch], seeds, s, [context[i] for i, _ in batch])
            for row, text in zip(batch, run, strict=True):
                texts[row] = text
        return [[texts[i, j if not s.greedy else 0] for j in range(x.n)] for i, x in enumerate(samplings)]

    def _run(
        self, prompt_ids: list[list[int]], seeds: list[int] | None, s: Sampling, context: list[list[int]]
    ) -> list[str]:
        """One batch through :func:`preftree.generation.decode.decode`; seeds: one per row (None: greedy);
        context: per row, the prompt tokens its text is decoded after (empty: none)."""
        pick = greedy
        if seeds is not None:
            gens = [torch.Generator(device=self.device).manual_seed(seed) for seed in seeds]

            def pick(rows: list[int], logits: torch.Tensor) -> torch.Tensor:
                return gumbel_scores(logits, [gens[r] for r in rows], s.temperature, s.top_p).argmax(dim=-1)

        def text(ids: list[int]) -> str:
            return self.tokenizer.decode(ids, skip_special_tokens=True)

        def finished(_row: int, new: list[int]) -> bool:
            return new[-1] in self.eos_ids or stop_hit(text, new, s.stop)

        rows = decode(
            self.model, prompt_ids, pad_id=self.pad_id, max_new_tokens=s.max_new_tokens, pick=pick, finished=finished
        )
        texts = []
        for new, before in zip(rows, context, strict=True):
            cut = next((p for p, t in enumerate(new) if t in self.eos_ids), len(new))
            texts.append(cut_at_stop(continuation_text(self.tokenizer, before, new[:cut]), s.stop))
        return texts
