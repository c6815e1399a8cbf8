"""preftree.generation.decode: finished rows leave the batch; what a row decodes depends on its prompt only."""

from __future__ import annotations

import pytest
import torch

from preftree.generation.decode import decode, greedy, gumbel_scores, stop_hit


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=128, pad_token_id=0, eos_token_id=1, bos_token_id=2,
    )  # fmt: skip
    torch.manual_seed(0)
    net = LlamaForCausalLM(config)
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() == 2:
                p.normal_(std=0.3)  # at the default std greedy text repeats one token
    return net.eval()


PROMPTS = [[5, 6, 7, 8, 9, 10], [11, 12], [13, 14, 15, 16], [17]]


def never(_row: int, _ids: list[int]) -> bool:
    return False


def test_greedy_rows_equal_each_prompt_alone_and_plain_generate(model: torch.nn.Module) -> None:
    together = decode(model, PROMPTS, pad_id=0, max_new_tokens=9, finished=never)
    assert [len(r) for r in together] == [9] * 4
    assert len({tuple(r) for r in together}) > 1  # the prompts matter
    for prompt, row in zip(PROMPTS, together, strict=True):
        assert decode(model, [prompt], pad_id=0, max_new_tokens=9, finished=never) == [row]
        out = model.generate(torch.tensor([prompt]), do_sample=False, max_new_tokens=9, eos_token_id=None)
        assert out[0, len(prompt) :].tolist() == row


def test_a_finished_row_leaves_the_batch_and_keeps_its_last_token(model: torch.nn.Module) -> None:
    full = decode(model, PROMPTS, pad_id=0, max_new_tokens=8, finished=never)
    sizes: list[int] = []
    hook = model.register_forward_hook(lambda _m, args, kwargs, _out: sizes.append(kwargs["input_ids"].shape[0]),
                                       with_kwargs=True)  # fmt: skip
    try:
        stop_after = {0: 2, 1: 5, 2: 8, 3: 1}
        rows = decode(model, PROMPTS, pad_id=0, max_new_tokens=8, finished=lambda r, ids: len(ids) >= stop_after[r])
    finally:
        hook.remove()
    assert rows == [full[r][: stop_after[r]] for r in range(4)]  # the same tokens, cut where each finished
    assert sizes == [4, 3, 2, 2, 2, 1, 1, 1]  # prefill, then rows 3 (1), 0 (2) and 1 (5) leave


def test_the_picker_sees_the_active_rows_only(model: torch.nn.Module) -> None:
    seen: list[list[int]] = []

    def pick(rows: list[int], logits: torch.Tensor) -> torch.Tensor:
        assert logits.dtype == torch.float32 and logits.shape[0] == len(rows)
        seen.append(list(rows))
        return greedy(rows, logits)

    decode(model, PROMPTS, pad_id=0, max_new_tokens=3, pick=pick, finished=lambda r, ids: r == 1)
    assert seen == [[0, 1, 2, 3], [0, 2, 3], [0, 2, 3]]


def test_bad_input_is_refused(model: torch.nn.Module) -> None:
    with pytest.raises(ValueError, match="empty prompt"):
        decode(model, [[3], []], pad_id=0, max_new_tokens=2, finished=never)
    with pytest.raises(ValueError, match="max_new_tokens"):
        decode(model, [[3]], pad_id=0, max_new_tokens=0, finished=never)


def test_gumbel_rows_use_their_own_generator_and_top_p_cuts_the_tail() -> None:
    scores = torch.tensor([[4.0, 3.0, -2.0, -9.0], [0.0, 0.0, 0.0, 0.0]])

    def gens(*seeds: int) -> list[torch.Generator]:
        return [torch.Generator().manual_seed(s) for s in seeds]

    both = gumbel_scores(scores, gens(1, 2), 0.7, 1.0)
    alone = gumbel_scores(scores[1:], gens(2), 0.7, 1.0)
    assert torch.equal(both[1:], alone)  # row 1 does not depend on row 0
    cut = gumbel_scores(scores, gens(1, 2), 1.0, 0.9)
    assert torch.isinf(cut[0, 2:]).all() and torch.isfinite(cut[0, :2]).all()  # 0.9 of the mass: two tokens
    assert torch.isfinite(cut[1]).all()  # flat: the 4th token starts at 0.75 < 0.9 of the mass, so all stay
    picks = [int(gumbel_scores(scores[:1], gens(s), 1.0, 1.0).argmax()) for s in range(2000)]
    share = picks.count(0) / len(picks)
    assert abs(share - torch.softmax(scores[0], -1)[0].item()) < 0.03  # the Gumbel-max trick samples softmax


def test_stop_hit_decodes_a_tail_and_confirms_on_the_whole_text() -> None:
    calls: list[int] = []

    def text(ids: list[int]) -> str:
        calls.append(len(ids))
        return "".join(chr(96 + i) for i in ids)

    ids = list(range(1, 27)) * 2  # "ab...z" twice: 52 tokens
    assert not stop_hit(text, ids, ())
    assert stop_hit(text, ids, ("xyz",)) and calls == [16, 52]  # window 4 * 3 + 4, then the whole text
    calls.clear()
    assert not stop_hit(text, ids, ("zz",)) and calls == [12]  # no hit in the tail: nothing more decoded
