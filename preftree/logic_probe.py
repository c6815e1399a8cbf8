"""Where does the tiny model lose a Logic item? Teacher-forced accuracy at each decision of a correct
solution (docs/tiny-world.md, trial O).

A correct Logic solution is a chain of small decisions, each made at one token of the response:

* ordering: the first and the second name of every restated clue (``clue_first``: the name right
  after "Clue i:", found only by locating clue i in the context; ``clue_second``), every name of the
  combined order (``order``), the person picked (``pick``) and the option's letter (``letter``);
* syllogism: the first category of the chain (``chain``), the conclusion's two categories
  (``conclusion``) and the option's letter (``letter``).

Fed the correct solution as one chat document, the model's greedy prediction at the decision's token
(argmax of the logits at the position before it) is right or wrong; everything before it is the
correct text, so each slot measures one decision on its own. ``letter`` has a chance level of one
over the options, ``clue_first`` one over the people.

:func:`decision_slots` is pure; :func:`measure` runs the model. ``python -m preftree.logic_probe
MODEL_DIR HELDOUT_PARQUET`` prints one row per (kind, clues, slot) for a model folder and a
``data/selected/heldout.parquet``.

A teacher-forced slot measures a decision *given a correct prefix*; free-running, errors compound (trial
R: syllogism slots at 65-97 % teacher-forced, 3 of 66 syllogisms right). :func:`own_answers` tallies the
model's own answers by kind: right, naming no option (a letter past the options, or text that is none of
them) and the chance level. ``python -m preftree.logic_probe --answers RESPONSES_PARQUET HELDOUT_PARQUET``
prints it for an evaluation's ``data/eval/<policy>/responses.parquet``.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from preftree.answers.match import logic_answer
from preftree.copy_probe import greedy_predictions

CLUE_STEP = re.compile(r"Step \d+: Clue \d+: (\w+) is \w+ than (\w+)\.")
ORDER_STEP = re.compile(r"the order from \w+ to \w+ is ([^.\n]+)\.")
PICK_STEP = re.compile(r"So the [\w ]+ is (\w+), which is option (\w)")
CHAIN_STEP = re.compile(r"the chain is (\w+)")
CONCLUSION_STEP = re.compile(r"Therefore all (\w+) are (\w+), which is option (\w)")


@dataclass(frozen=True)
class Slot:
    """One decision: the character offset in the response of the token that makes it, and its name."""

    start: int
    name: str  # clue_first | clue_second | order | pick | letter | chain | conclusion
    chance: float | None = None  # for a choice among known alternatives: 1 / their number


def decision_slots(response: str, reference: Mapping[str, Any]) -> list[Slot]:
    """The decisions of a correct Logic ``response`` to the item whose reference is ``reference``."""
    options = len(reference.get("options", [])) or 1
    out: list[Slot] = []
    if reference.get("kind") == "ordering":
        people = len(reference["people"])
        for m in CLUE_STEP.finditer(response):
            out += [Slot(m.start(1), "clue_first", 1 / people), Slot(m.start(2), "clue_second")]
        order = ORDER_STEP.search(response)
        if order:
            pos = order.start(1)
            for name in order.group(1).split(", "):
                out.append(Slot(pos, "order"))
                pos += len(name) + 2
        pick = PICK_STEP.search(response)
        if pick:
            out += [Slot(pick.start(1), "pick"), Slot(pick.start(2), "letter", 1 / options)]
    elif reference.get("kind") == "syllogism":
        chain = CHAIN_STEP.search(response)
        if chain:
            out.append(Slot(chain.start(1), "chain"))
        end = CONCLUSION_STEP.search(response)
        if end:
            out += [Slot(end.start(1), "conclusion"), Slot(end.start(2), "conclusion")]
            out.append(Slot(end.start(3), "letter", 1 / options))
    return out


@dataclass(frozen=True)
class SlotCounts:
    correct: int = 0
    total: int = 0
    chance_sum: float = 0.0  # sum of the chance levels of the counted slots that have one

    def __add__(self, other: SlotCounts) -> SlotCounts:
        return SlotCounts(self.correct + other.correct, self.total + other.total, self.chance_sum + other.chance_sum)


Key = tuple[str, int, str]  # (kind, clues or premises, slot name)


def score(
    slots: Sequence[Slot], token_at: Sequence[int], ids: Sequence[int], predicted: Sequence[int]
) -> list[tuple[str, SlotCounts]]:
    """Per slot: its name and whether ``predicted[t] == ids[t]`` at its token ``t = token_at[k]``."""
    return [
        (slot.name, SlotCounts(int(predicted[t] == ids[t]), 1, slot.chance or 0.0))
        for slot, t in zip(slots, token_at, strict=True)
    ]


def measure(
    model: Any, tokenizer: Any, rows: Iterable[tuple[str, str, Mapping[str, Any]]], *, device: str = "cpu"
) -> dict[Key, SlotCounts]:
    """Slot accuracy over ``rows`` of (instruction, correct response, reference), each as one chat document."""
    from preftree.base_model import chat_document

    training = model.training
    model.eval()
    out: dict[Key, SlotCounts] = {}
    with torch.no_grad():
        for instruction, response, ref in rows:
            slots = decision_slots(response, ref)
            if not slots:
                continue
            doc = chat_document(tokenizer, instruction, response)
            base = doc.rindex(response)
            enc = tokenizer(doc, add_special_tokens=False, return_offsets_mapping=True)
            ids, offsets = enc["input_ids"], enc["offset_mapping"]
            token_at = [next(t for t, (s, e) in enumerate(offsets) if s <= base + slot.start < e) for slot in slots]
            size = len(ref.get("clues", ref.get("premises", [])))
            for name, counts in score(slots, token_at, ids, greedy_predictions(model, ids, device)):
                key = (str(ref["kind"]), size, name)
                out[key] = out.get(key, SlotCounts()) + counts
    model.train(training)
    return out


def table(counts: Mapping[Key, SlotCounts]) -> str:
    """Markdown rows: kind, clues, slot, right / n, accuracy and chance (where the slot has one)."""
    lines = ["| kind | clues | slot | right / n | % | chance % |", "|---|---|---|---|---|---|"]
    for (kind, size, name), c in sorted(counts.items()):
        chance = f"{100 * c.chance_sum / c.total:.1f}" if c.chance_sum else ""
        lines.append(
            f"| {kind} | {size} | {name} | {c.correct} / {c.total} | {100 * c.correct / c.total:.1f} | {chance} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class AnswerCounts:
    """The model's own answers to some Logic items: how many, right, naming no option, summed chance."""

    n: int = 0
    right: int = 0
    no_option: int = 0
    chance_sum: float = 0.0

    def __add__(self, other: AnswerCounts) -> AnswerCounts:
        return AnswerCounts(
            self.n + other.n,
            self.right + other.right,
            self.no_option + other.no_option,
            self.chance_sum + other.chance_sum,
        )


def own_answers(rows: Iterable[tuple[Mapping[str, Any], str, str, bool]]) -> dict[tuple[str, int], AnswerCounts]:
    """Per (kind, clues or premises): rows of (reference, problem text, the model's response, the judge's
    verdict). An answer names no option when the grader reads none from it, or a letter past the options."""
    out: dict[tuple[str, int], AnswerCounts] = {}
    for ref, problem, response, correct in rows:
        options = len(ref["options"])
        said = logic_answer(response, problem)
        named = said is not None and said in "ABCDEFGH"[:options]
        key = (str(ref["kind"]), len(ref.get("clues", ref.get("premises", []))))
        out[key] = out.get(key, AnswerCounts()) + AnswerCounts(1, int(correct), int(not named), 1 / options)
    return out


def answers_table(counts: Mapping[tuple[str, int], AnswerCounts]) -> str:
    """Markdown rows: kind, clues, n, right (%), answers naming no option, chance %; then all kinds."""
    lines = ["| kind | clues | n | right | names no option | chance % |", "|---|---|---|---|---|---|"]
    rows = sorted(counts.items())
    total = sum((c for _, c in rows), AnswerCounts())
    for (kind, size), c in [*rows, (("all", 0), total)]:
        lines.append(
            f"| {kind} | {size if kind != 'all' else ''} | {c.n} | {c.right} ({100 * c.right / max(c.n, 1):.1f} %) "
            f"| {c.no_option} | {100 * c.chance_sum / max(c.n, 1):.1f} |"
        )
    return "\n".join(lines)


def read_answers(responses: str, heldout: str) -> list[tuple[Mapping[str, Any], str, str, bool]]:
    """The Logic rows of an evaluation's responses file joined on ``id`` with the held-out problems."""
    import polars as pl

    frame = pl.read_parquet(responses)
    missing = {"id", "family", "response", "correct"} - set(frame.columns)
    if missing:
        raise SystemExit(f"{responses}: no column(s) {sorted(missing)} (expected an evaluation's responses.parquet)")
    problems = {r["id"]: r for r in pl.read_parquet(heldout).filter(pl.col("task") == "Logic").to_dicts()}
    out = []
    for i, r in enumerate(frame.filter(pl.col("family") == "Logic").to_dicts()):
        rec = problems.get(r["id"])
        if rec is None:
            raise SystemExit(f"{responses}: Logic row {i} (id {r['id']!r}) is not a Logic problem of {heldout}")
        out.append((json.loads(rec["reference"]), rec["problem"], r["response"] or "", bool(r["correct"])))
    return out


def main(argv: Sequence[str]) -> None:
    if len(argv) == 3 and argv[0] == "--answers":
        answers = read_answers(argv[1], argv[2])
        print(f"{argv[1]}, the model's own answers to {len(answers)} Logic items:\n")
        print(answers_table(own_answers(answers)))
        return
    if len(argv) != 2:
        raise SystemExit(
            "usage: python -m preftree.logic_probe MODEL_DIR HELDOUT_PARQUET\n"
            "       python -m preftree.logic_probe --answers RESPONSES_PARQUET HELDOUT_PARQUET"
        )
    import polars as pl
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from preftree.sources.synthetic.problems import render_solution

    model_dir, heldout = argv
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    rows = []
    for r in pl.read_parquet(heldout).filter(pl.col("task") == "Logic").to_dicts():
        response = render_solution(r, rng=random.Random(0))  # a correct solution draws nothing from rng
        if response is not None:
            rows.append((r["instruction"], response, json.loads(r["reference"])))
    print(f"{model_dir}, {len(rows)} Logic items, teacher-forced on their correct solutions:\n")
    print(table(measure(model, tokenizer, rows)))


if __name__ == "__main__":
    main(sys.argv[1:])
