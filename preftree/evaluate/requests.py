"""What one single-turn evaluation request is: the chat, the new-token budget, the stop strings and the
prefill of an (item, prompt style), as the item's benchmark protocol says (``preftree.evaluate.registry``).

* Messages: the item's prompt for the style as one user message; a benchmark with ``pot_system`` sends
  its PoT request as the tool text in a system message and the CoT prompt as the user's (Eurus's
  GSM-Plus / SVAMP / ASDiv PoT prompt). A benchmark with a ``prefill`` ends the chat with an assistant
  message holding it: the engines render the chat up to the assistant turn and continue that text
  (``preftree.generation.chat``).
* Budget: the registry's official max new tokens for the style, lowered to ``cap`` when one is set.
* Stops: the benchmark's stop strings go to the engine; an item's own stop (MBPP:
  ``"\\n\\nprint(<entry point>"``) cuts the continuation afterwards, which gives the same text.
* The scored response is the prefill followed by the (cut) continuation (:func:`scored_response`).
"""

from __future__ import annotations

from dataclasses import dataclass

from preftree.evaluate import prompts
from preftree.evaluate.items import Item
from preftree.evaluate.registry import BENCHMARKS, max_new_tokens_for
from preftree.generation.sampling import Message, cut_at_stop


@dataclass(frozen=True)
class Settings:
    """The generation settings requests can share in one engine call."""

    max_new_tokens: int
    stop: tuple[str, ...]


@dataclass(frozen=True)
class Request:
    messages: list[Message]
    settings: Settings
    prefill: str = ""  # the text the assistant turn starts with ("" = none)
    item_stop: tuple[str, ...] = ()  # cut the continuation before these (item-specific stops)


def messages_for(item: Item, mode: str) -> list[Message]:
    """The chat of an (item, prompt style), prefill included as a trailing assistant message."""
    spec = BENCHMARKS.get(item.benchmark)
    if spec is not None and mode == "pot" and spec.pot_system and item.pot_prompt is not None:
        chat: list[Message] = [
            {"role": "system", "content": prompts.SUBSET_POT_SYSTEM},
            {"role": "user", "content": item.prompt},
        ]
    else:
        chat = [{"role": "user", "content": item.prompt_for(mode)}]
    if spec is not None and spec.prefill:
        chat.append({"role": "assistant", "content": spec.prefill})
    return chat


def item_stops(item: Item) -> tuple[str, ...]:
    """The stops of this item alone (MBPP: the print of its own function)."""
    spec = BENCHMARKS.get(item.benchmark)
    if spec is not None and spec.stop_print_entry and item.entry_point:
        return (f"\n\nprint({item.entry_point}",)
    return ()


def request_for(item: Item, mode: str, *, cap: int | None = None, extra_stop: tuple[str, ...] = ()) -> Request:
    """The request for an (item, prompt style): registry settings, ``cap`` on the budget, ``extra_stop``
    added to the benchmark's stops. An item whose benchmark is not registered gets 1024 tokens (or cap)."""
    spec = BENCHMARKS.get(item.benchmark)
    if spec is None:
        budget = cap if cap is not None else 1024
        return Request(messages_for(item, mode), Settings(budget, tuple(extra_stop)))
    settings = Settings(max_new_tokens_for(spec.name, mode, cap), tuple(dict.fromkeys((*spec.stop, *extra_stop))))
    return Request(messages_for(item, mode), settings, spec.prefill, item_stops(item))


def scored_response(request: Request, continuation: str) -> str:
    """The response scored and recorded: the prefill, then the continuation cut at the item's stops."""
    return request.prefill + cut_at_stop(continuation, request.item_stop)
