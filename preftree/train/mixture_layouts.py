"""One row of a public chat or preference dataset -> the project's training rows (pure functions).

The paper mixes general data into every training stage (paper §3, App. B): UltraChat, ShareGPT and
OpenOrca into SFT; UltraFeedback pairs into preference learning; UltraFeedback and UltraSafety into
the reward model. Each dataset keeps its published column names, read here as they are:

=========================  =====================================================================
layout                     columns read (published layout)
=========================  =====================================================================
``ultrachat``              ``messages``: ``[{role, content}]`` (HuggingFaceH4/ultrachat_200k)
``sharegpt``               ``conversations``: ``[{from: human|gpt|system, value}]`` (ShareGPT dumps,
                           openchat/openchat_sharegpt4_dataset)
``openorca``               ``system_prompt``, ``question``, ``response`` (Open-Orca/OpenOrca)
``custom``                 ``fields`` maps ``messages``, or ``prompt`` + ``response`` (+ ``system``)
                           to the file's own columns
``ultrafeedback``          ``instruction``, ``completions: [{response, fine-grained_score, ...}]``
                           (openbmb/UltraFeedback): every pair of completions whose scores differ
``ultrafeedback_binarized`` ``chosen`` / ``rejected``: ``[{role, content}]`` conversations sharing
                           their prompt (HuggingFaceH4/ultrafeedback_binarized)
``ultrasafety``            ``prompt`` (the jailbreak-wrapped instruction; ``instruction`` when empty),
                           ``completions: [{response, annotations: {harmlessness: [{Rating}],
                           helpfulness: [{Rating}]}}]`` (openbmb/UltraSafety): one pair per instruction
=========================  =====================================================================

Pairs from UltraFeedback: the paper uses "all UltraFeedback pairs (340K)" without saying how they
were formed; here every two completions of one instruction whose ``fine-grained_score`` (the mean of
the four aspect ratings) differ make a pair, the higher one chosen, ties dropped. UltraSafety: the
paper keeps one pair per instruction; here the completion ranked first by (harmlessness rating,
helpfulness rating) is chosen and the one ranked last rejected, no pair when they tie. Ratings
``"N/A"`` or missing leave a completion out. Every function raises ``ValueError`` (without the row's
location, which the caller adds) on a malformed row.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from preftree.config.train import Layout

SFT_LAYOUTS: Final = ("ultrachat", "sharegpt", "openorca", "custom")
PAIR_LAYOUTS: Final = ("ultrafeedback", "ultrafeedback_binarized", "ultrasafety")
FIELD_KEYS: Final = ("messages", "prompt", "response", "system")  # what `fields` may map (layout custom)
ROLE_ALIASES: Final = {
    "system": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "chatgpt": "assistant",
}

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Pair:
    """A preference pair: the prompt conversation (ending with a user turn) and two assistant replies."""

    prompt: Messages
    chosen: str
    rejected: str


# --------------------------------------------------------------------------------------------
# small readers


def text(value: Any, what: str) -> str:
    """``value`` if it is a string, else ValueError naming ``what``."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    return value


def column(row: Mapping[str, Any], name: str) -> Any:
    """``row[name]``, or ValueError listing the row's columns."""
    if name not in row:
        raise ValueError(f"no column {name!r} (columns: {', '.join(map(str, row))})")
    return row[name]


def as_list(value: Any, what: str) -> list:
    """A list (numpy arrays from parquet included) or ValueError naming ``what``."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list, got {type(value).__name__}")
    return value


def chat(prompt: str, response: str, system: str | None = None) -> Messages:
    """One single-turn conversation (an optional system message first)."""
    head = [{"role": "system", "content": system}] if system else []
    return [*head, {"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def messages(raw: Any, name: str) -> Messages:
    """``[{role, content}]`` or ``[{from, value}]`` messages as ``[{role, content}]`` (roles normalised)."""
    items = as_list(raw, f"column {name!r}")
    if not items:
        raise ValueError(f"column {name!r} must be a non-empty list of messages")
    out = []
    for i, message in enumerate(items):
        if not isinstance(message, Mapping):
            raise ValueError(f"{name}[{i}] must be a mapping with role/content, got {type(message).__name__}")
        role = message.get("role", message.get("from"))
        content = message.get("content", message.get("value"))
        if role not in ROLE_ALIASES:
            raise ValueError(f"{name}[{i}] has unknown role {role!r} (known: {', '.join(ROLE_ALIASES)})")
        out.append({"role": ROLE_ALIASES[role], "content": text(content, f"{name}[{i}].content")})
    return out


# --------------------------------------------------------------------------------------------
# SFT layouts


def _with_answer(conversation: Messages, name: str) -> Messages:
    if not any(m["role"] == "assistant" and m["content"].strip() for m in conversation):
        raise ValueError(f"column {name!r} has no non-empty assistant message")
    return conversation


def _custom(row: Mapping[str, Any], fields: Mapping[str, str]) -> Messages:
    unknown = sorted(set(fields) - set(FIELD_KEYS))
    if unknown:
        raise ValueError(f"fields: unknown key(s) {unknown} (known: {', '.join(FIELD_KEYS)})")
    if ("prompt" in fields) != ("response" in fields):
        raise ValueError("fields: map both `prompt` and `response`, or neither")
    if "prompt" not in fields:
        name = fields.get("messages", "messages")
        return _with_answer(messages(column(row, name), name), name)
    system = row.get(fields["system"]) if "system" in fields else None
    if system is not None:
        system = text(system, f"column {fields['system']!r}")
    prompt = text(column(row, fields["prompt"]), f"column {fields['prompt']!r}")
    response = text(column(row, fields["response"]), f"column {fields['response']!r}")
    if not response.strip():
        raise ValueError(f"column {fields['response']!r} is empty")
    return chat(prompt, response, system or None)


def sft_messages(row: Mapping[str, Any], layout: str, fields: Mapping[str, str]) -> Messages:
    """One SFT conversation from a row of an SFT layout (:data:`SFT_LAYOUTS`)."""
    if layout != "custom" and fields:
        raise ValueError(f"`fields` is only read with layout custom (layout {layout!r} names its own columns)")
    if layout == "ultrachat":
        return _with_answer(messages(column(row, "messages"), "messages"), "messages")
    if layout == "sharegpt":
        return _with_answer(messages(column(row, "conversations"), "conversations"), "conversations")
    if layout == "openorca":
        fields = {"system": "system_prompt", "prompt": "question", "response": "response"}
        return _custom(row, fields)
    if layout == "custom":
        return _custom(row, fields)
    raise ValueError(f"layout {layout!r} gives preference pairs, not SFT rows (SFT layouts: {', '.join(SFT_LAYOUTS)})")


# --------------------------------------------------------------------------------------------
# preference layouts


def _score(value: Any) -> float | None:
    """A numeric rating (numbers or numeric strings); None for N/A, missing or NaN."""
    if value is None or isinstance(value, bool):
        return None
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(score) else score


def _ultrafeedback(row: Mapping[str, Any]) -> list[Pair]:
    prompt = [{"role": "user", "content": text(column(row, "instruction"), "column 'instruction'")}]
    scored = []
    for i, completion in enumerate(as_list(column(row, "completions"), "column 'completions'")):
        if not isinstance(completion, Mapping):
            raise ValueError(f"completions[{i}] must be a mapping, got {type(completion).__name__}")
        response = text(completion.get("response"), f"completions[{i}].response")
        score = _score(completion.get("fine-grained_score"))
        if score is not None and response.strip():
            scored.append((score, response))
    return [
        Pair(prompt, a[1], b[1]) if a[0] > b[0] else Pair(prompt, b[1], a[1])
        for a, b in itertools.combinations(scored, 2)
        if a[0] != b[0]
    ]


def _ultrafeedback_binarized(row: Mapping[str, Any]) -> list[Pair]:
    chosen = messages(column(row, "chosen"), "chosen")
    rejected = messages(column(row, "rejected"), "rejected")
    for name, conv in (("chosen", chosen), ("rejected", rejected)):
        if len(conv) < 2 or conv[-1]["role"] != "assistant" or conv[-2]["role"] != "user":
            raise ValueError(f"column {name!r} must end with a user turn then an assistant turn")
    if chosen[:-1] != rejected[:-1]:
        raise ValueError("columns 'chosen' and 'rejected' have different prompts")
    return [Pair(chosen[:-1], chosen[-1]["content"], rejected[-1]["content"])]


def _rating(annotations: Any, aspect: str) -> float | None:
    if not isinstance(annotations, Mapping):
        return None
    value = annotations.get(aspect)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list):
        value = value[0] if value else None
    return _score(value.get("Rating")) if isinstance(value, Mapping) else None


def _ultrasafety(row: Mapping[str, Any]) -> list[Pair]:
    prompt_text = row.get("prompt") or column(row, "instruction")
    prompt = [{"role": "user", "content": text(prompt_text, "column 'prompt'")}]
    ranked = []
    for i, completion in enumerate(as_list(column(row, "completions"), "column 'completions'")):
        if not isinstance(completion, Mapping):
            raise ValueError(f"completions[{i}] must be a mapping, got {type(completion).__name__}")
        response = text(completion.get("response"), f"completions[{i}].response")
        harmless = _rating(completion.get("annotations"), "harmlessness")
        helpful = _rating(completion.get("annotations"), "helpfulness")
        if harmless is not None and helpful is not None and response.strip():
            ranked.append(((harmless, helpful), i, response))
    if len(ranked) < 2:
        return []
    best = max(ranked, key=lambda r: (r[0], -r[1]))  # the first of the best-ranked
    worst = min(ranked, key=lambda r: (r[0], r[1]))  # the first of the worst-ranked
    return [] if best[0] == worst[0] else [Pair(prompt, best[2], worst[2])]


_PAIRS: Final = {
    "ultrafeedback": _ultrafeedback,
    "ultrafeedback_binarized": _ultrafeedback_binarized,
    "ultrasafety": _ultrasafety,
}


def row_pairs(row: Mapping[str, Any], layout: str) -> list[Pair]:
    """The preference pairs one row of a preference layout (:data:`PAIR_LAYOUTS`) gives (maybe none)."""
    if layout not in _PAIRS:
        raise ValueError(
            f"layout {layout!r} gives SFT rows, not preference pairs (pair layouts: {', '.join(PAIR_LAYOUTS)})"
        )
    return _PAIRS[layout](row)


def pair_messages(pairs: Sequence[Pair]) -> tuple[list[Messages], list[Messages], list[Messages]]:
    """``prompt``, ``chosen`` and ``rejected`` columns of a trl conversational preference dataset."""
    return (
        [p.prompt for p in pairs],
        [[{"role": "assistant", "content": p.chosen}] for p in pairs],
        [[{"role": "assistant", "content": p.rejected}] for p in pairs],
    )


__all__ = [
    "FIELD_KEYS",
    "PAIR_LAYOUTS",
    "ROLE_ALIASES",
    "SFT_LAYOUTS",
    "Layout",
    "Messages",
    "Pair",
    "chat",
    "messages",
    "pair_messages",
    "row_pairs",
    "sft_messages",
    "text",
]
