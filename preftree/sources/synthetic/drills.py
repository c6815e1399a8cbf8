"""Copy drills: pretraining documents that ask to repeat a list of the world's numbers and names.

Every task family needs the model to copy from its context: PoT code and Coding tests restate the
problem's numbers, Logic answers restate people and made-up category words. A tiny model learns to
copy (an induction mechanism) in a phase transition whose timing varies with the seed
(docs/tiny-world.md, "The copying onset across seeds"); a few documents in which copying is the whole
task give it a direct signal. Each drill lists 3 to 8 items drawn from the world's vocabularies: numbers
of 2 or 3 digits (as the problems' quantities), people (``common.PEOPLE``) and syllogism categories
(``logic.CATEGORIES``); the response repeats them in order. Drills are always correct and carry the task
``"Copy"``: they are pretraining text only, never instructions or evaluation items.
"""

from __future__ import annotations

import random
from typing import Any

from preftree.sources.synthetic.common import PEOPLE
from preftree.sources.synthetic.logic import CATEGORIES

TASK = "Copy"
INSTRUCTION = "Repeat the following list exactly, in the same order:\n"


def drill_item(rng: random.Random) -> str:
    """One item: a number of 2 or 3 digits (half the items), a person or a category word."""
    kind = rng.random()
    if kind < 0.5:
        return str(rng.randint(10, 999))
    if kind < 0.75:
        return rng.choice(PEOPLE)[0]
    return rng.choice(CATEGORIES)


def copy_drills(n: int, *, seed: int) -> list[dict[str, Any]]:
    """n drill documents {"task", "instruction", "response", "correct"}, the same for the same seed."""
    if n < 0:
        raise ValueError(f"copy_drills: n must be >= 0, got {n}")
    rng = random.Random(f"preftree.drills|{seed}")
    docs = []
    for _ in range(n):
        items = ", ".join(drill_item(rng) for _ in range(rng.randint(3, 8)))
        docs.append({"task": TASK, "instruction": INSTRUCTION + items, "response": items, "correct": True})
    return docs


def interleave(docs: list[dict[str, Any]], drills: list[dict[str, Any]], *, seed: int) -> list[dict[str, Any]]:
    """``docs`` with ``drills`` inserted at seeded random positions (each drill after a random document);
    ``docs`` keep their order, and no drills leave the list unchanged."""
    if not drills:
        return list(docs)
    rng = random.Random(f"preftree.drills.interleave|{seed}")
    slots = sorted(rng.randrange(len(docs) + 1) for _ in drills)
    out: list[dict[str, Any]] = []
    k = 0
    for i, doc in enumerate(docs):
        while k < len(slots) and slots[k] == i:
            out.append(drills[k])
            k += 1
        out.append(doc)
    out.extend(drills[k:])
    return out
