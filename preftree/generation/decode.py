"""Batched incremental decoding with a KV cache, in which a row leaves the batch as soon as it finishes.

``model.generate`` runs every row of a batch until the last one finishes: a row that stopped after 40
tokens keeps costing attention, MLP and cache copies for the 300 steps another row takes. :func:`decode`
runs the same forward passes (left-padded prefill, one token per step, position ids from the attention
mask, ``logits_to_keep=1``, float32 logits) but drops finished rows from the batch and the cache
(``Cache.batch_select_indices``) before the next step. What a row generates depends only on its own
prompt and picker, as with ``model.generate``: tests/test_generate.py checks greedy texts token for
token against unbatched ``model.generate``.

The caller decides how a token is picked (greedy argmax, or per-row Gumbel noise: :func:`gumbel_scores`)
and when a row is done (eos, a stop string: :func:`stop_hit`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

Picker = Callable[[list[int], torch.Tensor], torch.Tensor]  # (active rows, float32 logits [rows, vocab]) -> ids
Finished = Callable[[int, list[int]], bool]  # (row, its new ids so far) -> done


def greedy(_rows: list[int], logits: torch.Tensor) -> torch.Tensor:
    """The argmax token of every row (ties: the lowest id, as ``torch.argmax``)."""
    return logits.argmax(dim=-1)


def gumbel_scores(
    scores: torch.Tensor, generators: Sequence[torch.Generator], temperature: float, top_p: float
) -> torch.Tensor:
    """scores / temperature, top-p filtered, + Gumbel(0, 1) noise drawn from each row's own generator.

    The argmax of the result is an exact sample from the tempered, top-p-truncated distribution (the
    Gumbel-max trick); each row's draw depends on its generator only, not on the other rows."""
    scores = scores.float() / temperature
    if top_p < 1.0:
        probs = torch.softmax(scores, dim=-1)
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass of the tokens ranked above
        drop_sorted = before >= top_p
        drop_sorted[..., 0] = False
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        scores = scores.masked_fill(drop, float("-inf"))
    noise = torch.stack(
        [torch.rand(scores.shape[-1], generator=g, device=scores.device, dtype=torch.float32) for g in generators]
    )
    gumbel = -torch.log(-torch.log(noise.clamp(min=1e-20, max=1.0 - 1e-7)))
    return scores + gumbel


def stop_hit(decode_ids: Callable[[list[int]], str], new: list[int], stop: Sequence[str]) -> bool:
    """Whether the text of ``new`` contains a stop string. Only a tail window (enough tokens for the
    longest stop string at 4 tokens per character) is decoded each call; a hit there is confirmed on the
    whole text, so a row never stops on text its final decode would not contain."""
    if not stop:
        return False
    window = 4 * max(len(s) for s in stop) + 4
    if not any(s in decode_ids(new[-window:]) for s in stop):
        return False
    full = decode_ids(new)
    return any(s in full for s in stop)


@torch.no_grad()
def decode(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    pad_id: int,
    max_new_tokens: int,
    pick: Picker = greedy,
    finished: Finished,
) -> list[list[int]]:
    """The new token ids of every prompt, the finishing token included (at most ``max_new_tokens``).

    Each step, ``pick(active_rows, logits)`` chooses one token per active row; a row whose ids then
    satisfy ``finished(row, ids)`` leaves the batch."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("decode needs at least one prompt, and no empty prompt")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    from transformers import DynamicCache

    device = model.device
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (width - len(p)) + list(p) for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)  # as generate derives them
    cache = DynamicCache(config=model.config)
    out = model(
        input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True,
        logits_to_keep=1,
    )  # fmt: skip
    logits = out.logits[:, -1, :].float()
    next_position = positions[:, -1:] + 1
    active = list(range(len(prompts)))
    new: list[list[int]] = [[] for _ in prompts]
    for step in range(max_new_tokens):
        tokens = pick(active, logits)
        keep = []
        for k, (row, token) in enumerate(zip(active, tokens.tolist(), strict=True)):
            new[row].append(token)
            if not finished(row, new[row]):
                keep.append(k)
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            mask, tokens, next_position = mask[index], tokens[index], next_position[index]
            active = [active[k] for k in keep]
        mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
        out = model(
            input_ids=tokens[:, None], attention_mask=mask, position_ids=next_position, past_key_values=cache,
            use_cache=True, logits_to_keep=1,
        )  # fmt: skip
        logits = out.logits[:, -1, :].float()
        next_position = next_position + 1
    return new
