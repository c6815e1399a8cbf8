"""Copy accuracy: does a causal LM copy numbers from its context? (docs/tiny-world.md, "The copying onset")

Math_PoT and Coding solutions restate the problem's numbers (``books_start = 80``), so a policy can
solve them only once it copies a number it has already seen. This module measures that on held-out
documents, teacher-forced: for every digit token the model's greedy next-token prediction (argmax of
the logits at the previous position) is right or wrong, and digits fall into two groups:

* **copy** digits belong to a number of at least :data:`MIN_DIGITS` digits whose digit string
  already appeared, as a whole number, earlier in the same document;
* **non-copy** digits belong to a number of at least :data:`MIN_DIGITS` digits seen for the first
  time in the document (the baseline: what the model guesses without a source to copy from).

A number is a maximal run of consecutive tokens that are each made of digits only, so the probe needs a
tokenizer that cuts numbers into digit chunks (``model.tokenizer.split_digits``, one or more digits per
token: "digit" below means such a token); numbers of one digit are in neither group. ``later`` counts the
copy tokens after a number's first: once the model knows which number it copies, these need only the
copying itself (the first also needs the choice). Since tokenizers cut numbers differently, ``copy
numbers`` also counts whole copied numbers whose every token is predicted right, a figure that compares
across ``digits_per_token``.

The counting (:func:`digit_targets`, :func:`score`, :func:`onset_step`) is pure; :func:`measure`
runs the model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

MIN_DIGITS = 2  # a number shorter than this is neither a copy nor a baseline digit
DIGITS = frozenset("0123456789")


@dataclass(frozen=True)
class DigitTarget:
    """One scored digit token: its position in the document, whether its number is a copy, and
    whether it is the number's first digit."""

    position: int
    copy: bool
    first: bool
    number: int  # index of the number in its document: its tokens share it (required: a default merged numbers)


@dataclass(frozen=True)
class CopyCounts:
    """Correct greedy predictions over scored digit tokens, by group (counts add over documents)."""

    copy_correct: int = 0
    copy_total: int = 0
    noncopy_correct: int = 0
    noncopy_total: int = 0
    later_correct: int = 0  # copy digits after their number's first digit
    later_total: int = 0
    numbers_correct: int = 0  # copied numbers with every scored token right
    numbers_total: int = 0

    def __add__(self, other: CopyCounts) -> CopyCounts:
        return CopyCounts(
            self.copy_correct + other.copy_correct,
            self.copy_total + other.copy_total,
            self.noncopy_correct + other.noncopy_correct,
            self.noncopy_total + other.noncopy_total,
            self.later_correct + other.later_correct,
            self.later_total + other.later_total,
            self.numbers_correct + other.numbers_correct,
            self.numbers_total + other.numbers_total,
        )

    @property
    def copy_accuracy(self) -> float | None:
        return self.copy_correct / self.copy_total if self.copy_total else None

    @property
    def noncopy_accuracy(self) -> float | None:
        return self.noncopy_correct / self.noncopy_total if self.noncopy_total else None

    @property
    def later_accuracy(self) -> float | None:
        return self.later_correct / self.later_total if self.later_total else None

    @property
    def number_accuracy(self) -> float | None:
        return self.numbers_correct / self.numbers_total if self.numbers_total else None

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "copy_accuracy": self.copy_accuracy,
            "noncopy_accuracy": self.noncopy_accuracy,
            "later_copy_accuracy": self.later_accuracy,
            "copy_number_accuracy": self.number_accuracy,
            "copy_digits": self.copy_total,
            "noncopy_digits": self.noncopy_total,
            "later_copy_digits": self.later_total,
            "copy_numbers": self.numbers_total,
        }


def number_runs(pieces: Sequence[str]) -> list[tuple[int, int]]:
    """``(start, end)`` token spans (end exclusive) of the maximal runs of pieces made of digits only."""
    runs: list[tuple[int, int]] = []
    start = None
    for i, piece in enumerate(pieces):
        if piece and DIGITS.issuperset(piece):
            if start is None:
                start = i
        elif start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(pieces)))
    return runs


def digit_targets(pieces: Sequence[str]) -> list[DigitTarget]:
    """The scored digit tokens of one document given as its token strings, in order.

    Position 0 is never scored (nothing predicts it). A number is a copy when the same digit string
    was a whole earlier number of the document (its first appearance is a non-copy).
    """
    seen: set[str] = set()
    targets: list[DigitTarget] = []
    for number, (start, end) in enumerate(number_runs(pieces)):
        digits = "".join(pieces[start:end])
        if len(digits) >= MIN_DIGITS:
            copy = digits in seen
            targets.extend(DigitTarget(i, copy, i == start, number) for i in range(start, end) if i > 0)
        seen.add(digits)
    return targets


def score(token_ids: Sequence[int], predicted: Sequence[int], targets: Iterable[DigitTarget]) -> CopyCounts:
    """Count the targets whose token ``token_ids[t]`` equals ``predicted[t]`` (the model's greedy guess
    for position t from the tokens before it); ``predicted`` has one entry per token."""
    if len(predicted) != len(token_ids):
        raise ValueError(f"score: {len(predicted)} predictions for {len(token_ids)} tokens")
    c = {"copy": [0, 0], "noncopy": [0, 0], "later": [0, 0]}
    whole: dict[int, bool] = {}  # copied number -> every token right so far
    for t in targets:
        hit = int(predicted[t.position] == token_ids[t.position])
        if t.copy:
            whole[t.number] = whole.get(t.number, True) and bool(hit)
        groups = ("copy", "later") if t.copy and not t.first else ("copy",) if t.copy else ("noncopy",)
        for g in groups:
            c[g][0] += hit
            c[g][1] += 1
    return CopyCounts(
        c["copy"][0], c["copy"][1], c["noncopy"][0], c["noncopy"][1], c["later"][0], c["later"][1],
        sum(whole.values()), len(whole),
    )  # fmt: skip


def onset_step(points: Iterable[tuple[int, float | None]], threshold: float) -> int | None:
    """The first step (of ``(step, copy_accuracy)`` pairs, in any order) whose accuracy is at least
    ``threshold``; None when none is."""
    for step, accuracy in sorted(points, key=lambda p: p[0]):
        if accuracy is not None and accuracy >= threshold:
            return step
    return None


@torch.no_grad()
def greedy_predictions(model: Any, token_ids: Sequence[int], device: str | torch.device = "cpu") -> list[int]:
    """The model's argmax next token for every position of one sequence (-1 at position 0)."""
    ids = torch.tensor([list(token_ids)], dtype=torch.long, device=device)
    logits = model(input_ids=ids, use_cache=False).logits[0, :-1]
    return [-1, *(int(i) for i in logits.argmax(dim=-1).tolist())]


def measure(model: Any, tokenizer: Any, documents: Sequence[str], *, device: str | torch.device = "cpu") -> CopyCounts:
    """Copy and non-copy digit accuracy of ``model`` over ``documents`` (each tokenized on its own, no
    special tokens added, as ``pack_documents`` does); the model's train/eval mode is restored."""
    pieces = [tokenizer.decode([i]) for i in range(len(tokenizer))]
    was_training = bool(getattr(model, "training", False))
    if hasattr(model, "eval"):
        model.eval()
    total = CopyCounts()
    try:
        for n, ids in enumerate(tokenizer(list(documents), add_special_tokens=False)["input_ids"]):
            if len(ids) < 2:
                continue
            try:
                doc_pieces = [pieces[i] for i in ids]
            except IndexError as err:
                raise ValueError(f"measure: document {n} has a token id outside the tokenizer's vocabulary") from err
            targets = digit_targets(doc_pieces)
            if targets:
                total = total + score(ids, greedy_predictions(model, ids, device), targets)
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    if total.copy_total == 0:
        raise ValueError(
            f"measure: no copied number of >= {MIN_DIGITS} digits in {len(documents)} documents "
            "(the probe needs numbers cut into digit tokens: model.tokenizer.split_digits)"
        )
    return total
