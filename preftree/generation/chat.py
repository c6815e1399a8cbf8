"""Chats -> prompt tokens with the tokenizer's chat template, as every local engine (hf, vllm) renders them.

* A chat is rendered with ``apply_chat_template(add_generation_prompt=True)``. A template that rejects
  the system role (jinja raises) gets the system text folded into the first user turn (``fold_system``)
  from then on, with one warning.
* A chat that ends with an assistant message is a *prefill*: the chat before it is rendered with the
  generation prompt and the assistant text is appended as it is, so the model continues it (the
  returned text is the continuation only; evaluation scores prefill + continuation).
* A prompt longer than ``max_position_embeddings - max_new_tokens`` tokens is cut from the left, with a
  warning naming how many were.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from preftree.generation.sampling import Message

log = logging.getLogger(__name__)


def fold_system(messages: Sequence[Message]) -> list[Message]:
    """For chat templates without a system role: prepend the system text to the first user message."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    elif system:
        rest.insert(0, {"role": "user", "content": system})
    return rest


def split_prefill(chat: Sequence[Message]) -> tuple[list[Message], str]:
    """(the chat to render, the prefill): a trailing assistant message is the text the reply starts with."""
    if chat and chat[-1]["role"] == "assistant":
        if len(chat) == 1:
            raise ValueError("a chat cannot be only an assistant message (a prefill needs a prompt before it)")
        return list(chat[:-1]), chat[-1]["content"]
    return list(chat), ""


def continuation_text(tokenizer: Any, context: Sequence[int], new: Sequence[int]) -> str:
    """The text of ``new`` tokens as they read after ``context`` (the prompt's last tokens). A prefilled
    reply must be decoded in context: a SentencePiece tokenizer drops the leading space of a sequence
    decoded alone ("def" + "▁add" must read "def add", not "defadd"). Without context: plain decode."""
    alone = tokenizer.decode(list(new), skip_special_tokens=True)
    if not context:
        return alone
    head = tokenizer.decode(list(context), skip_special_tokens=True)
    full = tokenizer.decode([*context, *new], skip_special_tokens=True)
    return full[len(head) :] if full.startswith(head) else alone


def prompt_budget(max_positions: int | None, max_new_tokens: int) -> int | None:
    """How many prompt tokens fit before max_new_tokens in the context (None: unknown, no cut)."""
    if not max_positions:
        return None
    return max(1, max_positions - max_new_tokens)


class ChatRenderer:
    """Chat -> prompt text with the tokenizer's chat template (generation prompt appended, then the
    prefill of a chat ending with an assistant message). A template that rejects the system role gets it
    folded into the first user turn from then on."""

    def __init__(self, tokenizer: Any, name: str) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"the tokenizer of {name} has no chat template")
        self.tokenizer = tokenizer
        self.name = name
        self.fold_system = False
        self.truncated = 0  # prompts cut from the left so far (eval records it: a result must not rest on cut prompts)

    def __call__(self, chat: list[Message]) -> str:
        head, prefill = split_prefill(chat)
        convo = fold_system(head) if self.fold_system else head
        try:
            text = self.tokenizer.apply_chat_template(convo, tokenize=False, add_generation_prompt=True)
            return text + prefill
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
            self.truncated += long
            if long:
                log.warning(
                    "%s: %d of %d prompts over %d tokens (context less max_new_tokens) are cut from the left",
                    self.name, long, len(ids), max_len,
                )  # fmt: skip
                ids = [x[-max_len:] for x in ids]
        return [list(x) for x in ids]
