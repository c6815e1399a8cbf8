"""preftree.copy_probe: which digits are copies, how they are scored, and measure() with fake models whose
predictions the test controls (an oracle, an induction copier, a model that is always wrong); the probe
run inside pretrain's save hook leaves the trained weights as they are without it (bench/copy_onset.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from preftree.compose import from_conf
from preftree.config.model import TokenizerParams
from preftree.copy_probe import CopyCounts, DigitTarget, digit_targets, measure, number_runs, onset_step, score
from preftree.models.tiny import build_model, evaluate_loss, pack_documents, pretrain
from preftree.models.tokenizer import train_tokenizer

from .test_models import TINY_ARCH, TINY_PRETRAIN, state_sha256, synthetic_corpus

# numbers: 58 (new), 26 (new), 58 (copy), 26 (copy), 7 (one digit: not scored), 58 (copy), 851 (new)
DOC = "a 58 b 26 c 58 d 26 e 7 f 58 g 851"


class ScriptedLM(torch.nn.Module):
    """A causal 'LM' whose greedy next token at each position is ``rule(prefix)``."""

    def __init__(self, vocab_size: int, rule) -> None:
        super().__init__()
        self.vocab_size, self.rule = vocab_size, rule

    def forward(self, input_ids: torch.Tensor, use_cache: bool = False) -> SimpleNamespace:
        ids = input_ids[0].tolist()
        logits = torch.zeros(1, len(ids), self.vocab_size)
        for t in range(len(ids)):
            logits[0, t, self.rule(ids[: t + 1])] = 1.0
        return SimpleNamespace(logits=logits)


def induction(prefix: list[int]) -> int:
    """Predict what followed the latest earlier occurrence of the last token (0 when it is new)."""
    last = prefix[-1]
    for j in range(len(prefix) - 2, -1, -1):
        if prefix[j] == last:
            return prefix[j + 1]
    return 0


@pytest.fixture(scope="module")
def tokenizer():
    texts = [DOC, *synthetic_corpus(60)]
    return train_tokenizer(
        texts, from_conf(TokenizerParams, "model.tokenizer", vocab_size=300, split_digits=True, digits_per_token=1)
    )


def test_number_runs_are_maximal_digit_runs():
    assert number_runs(["x", "1", "2", " ", "3", "a", "4", "5", "6"]) == [(1, 3), (4, 5), (6, 9)]
    assert number_runs(["7", "8"]) == [(0, 2)]
    assert number_runs(["12", " 3", "a"]) == [(0, 1)]  # a spaced piece is not a digit token
    assert number_runs(["12", "34", "5", " ", "x7"]) == [(0, 3)]  # chunks of digits (digits_per_token 2)


def test_digit_targets_mark_copies_of_whole_earlier_numbers():
    pieces = ["a", " ", "5", "8", " b", " ", "5", "8", " ", "7", " ", "5", "8", "3", " ", "8", "5"]
    targets = digit_targets(pieces)
    assert targets == [
        DigitTarget(2, False, True, 0), DigitTarget(3, False, False, 0),  # 58: first time
        DigitTarget(6, True, True, 1), DigitTarget(7, True, False, 1),  # 58 again: a copy
        # 7 (number 2): one digit, not scored
        DigitTarget(11, False, True, 3), DigitTarget(12, False, False, 3), DigitTarget(13, False, False, 3),  # 583
        DigitTarget(15, False, True, 4), DigitTarget(16, False, False, 4),  # 85: new (digits reversed)
    ]  # fmt: skip


def test_digit_targets_never_score_position_zero():
    assert digit_targets(["4", "2", " ", "4", "2"]) == [
        DigitTarget(1, False, False, 0),
        DigitTarget(3, True, True, 1),
        DigitTarget(4, True, False, 1),
    ]


def test_digit_targets_with_two_digits_per_token():
    pieces = ["a", "58", " ", "58", " ", "7", " ", "12", "3", " ", "12", "3"]
    assert digit_targets(pieces) == [
        DigitTarget(1, False, True, 0),  # 58: first time, one token
        DigitTarget(3, True, True, 1),  # 58 again: a copy of one token
        # 7: one digit, not scored
        DigitTarget(7, False, True, 3), DigitTarget(8, False, False, 3),  # 123: first time
        DigitTarget(10, True, True, 4), DigitTarget(11, True, False, 4),  # 123 again
    ]  # fmt: skip


def test_score_counts_by_group():
    targets = [DigitTarget(1, False, True, 0), DigitTarget(3, True, True, 1), DigitTarget(4, True, False, 1)]
    ids = [9, 4, 0, 4, 2]
    counts = score(ids, [-1, 4, 0, 5, 2], targets)  # right on 1 (non-copy) and 4 (later copy), wrong on 3
    assert counts == CopyCounts(1, 2, 1, 1, 1, 1, 0, 1)  # the copied number is not right as a whole
    assert counts.number_accuracy == 0.0
    two = [*targets, DigitTarget(6, True, True, 2), DigitTarget(7, True, False, 2)]
    assert score([*ids, 0, 4, 2], [-1, 4, 0, 5, 2, 0, 4, 2], two).number_accuracy == 0.5  # 1 of 2 numbers
    assert counts.copy_accuracy == 0.5 and counts.noncopy_accuracy == 1.0 and counts.later_accuracy == 1.0
    assert CopyCounts().copy_accuracy is None
    with pytest.raises(ValueError, match="4 predictions for 5 tokens"):
        score(ids, [0, 0, 0, 0], targets)


def test_onset_step_is_the_first_step_at_the_threshold():
    points = [(300, 0.7), (0, 0.2), (100, None), (200, 0.49)]
    assert onset_step(points, 0.5) == 300
    assert onset_step(points, 0.49) == 200
    assert onset_step(points, 0.8) is None


def test_measure_with_fake_models(tokenizer):
    pieces = [tokenizer.decode([i]) for i in tokenizer(DOC, add_special_tokens=False)["input_ids"]]
    assert "".join(pieces) == DOC and [p for p in pieces if p.strip().isdigit()] == list("58265826758851")
    vocab = len(tokenizer)
    ids = tokenizer(DOC, add_special_tokens=False)["input_ids"]

    oracle = ScriptedLM(vocab, lambda prefix: ids[len(prefix)] if len(prefix) < len(ids) else 0)
    got = measure(oracle, tokenizer, [DOC])
    assert (got.copy_correct, got.copy_total, got.noncopy_correct, got.noncopy_total) == (6, 6, 7, 7)
    assert got.copy_accuracy == 1.0 and got.later_accuracy == 1.0

    never = ScriptedLM(vocab, lambda prefix: tokenizer.pad_token_id)
    assert measure(never, tokenizer, [DOC]).as_dict()["copy_accuracy"] == 0.0

    # the copier gets every second digit of a copied number (after "5" came "8" before), no first digit
    # (after " " came a letter's number of another kind), and no digit of a new number: 3/6, 3/3, 0/7
    copier = measure(ScriptedLM(vocab, induction), tokenizer, [DOC])
    assert (copier.copy_correct, copier.later_correct, copier.later_total, copier.noncopy_correct) == (3, 3, 3, 0)


def test_measure_restores_train_mode_and_needs_copies(tokenizer):
    model = ScriptedLM(len(tokenizer), induction)
    model.train()
    measure(model, tokenizer, [DOC, "no digits here"])
    assert model.training
    with pytest.raises(ValueError, match="no copied number"):
        measure(model, tokenizer, ["a 12 b 34", "only 5 once"])


def test_probing_inside_pretrain_leaves_the_weights_unchanged(tokenizer):
    """bench/copy_onset.py probes through pretrain's save hook: the same weights and losses as without it."""
    corpus = synthetic_corpus(120)
    blocks = pack_documents(tokenizer, corpus, TINY_PRETRAIN.seq_len)
    held = synthetic_corpus(8, seed=1)
    plain = build_model(TINY_ARCH, tokenizer, seed=3)
    plain_records = pretrain(plain, blocks, TINY_PRETRAIN, seed=7, progress=False)

    probed = build_model(TINY_ARCH, tokenizer, seed=3)
    seen: list[int] = []

    def probe(state) -> None:
        measure(probed, tokenizer, held)
        evaluate_loss(probed, blocks[:4], batch_size=2)
        seen.append(state.step)

    probed_records = pretrain(probed, blocks, TINY_PRETRAIN, seed=7, progress=False, save=probe, save_every=10)
    assert seen == [10, 20]
    assert state_sha256(probed) == state_sha256(plain)
    assert [r["loss"] for r in probed_records] == [r["loss"] for r in plain_records]
