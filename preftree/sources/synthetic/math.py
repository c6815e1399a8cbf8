"""Multi-step integer word problems for Math_CoT and Math_PoT (one generator, two solution styles).

A problem is a narrative ("Maria has 12 cookies. She then bakes 15 more cookies. ...") whose every
sentence is one *step*: a small expression tree over earlier quantities and constants. Difficulty is
the number of arithmetic operations (a step such as "sells 3 a day for 4 days" costs two).
Integer arithmetic only; every division is exact and every intermediate value is positive.

Reference JSON (``reference`` column)::

    {"family": "math", "template": "gain-lose_rate", "theme": "bakery", "name": "Maria",
     "givens": [{"var": "cookies_start", "label": "the cookies Maria starts with", "value": 12,
                 "step": 0}],                      # step: index of the first step that may use it
     "steps": [{"kind": "gain",
                "text": "Add 15 to the cookies Maria starts with to get the cookies after baking",
                "tree": ["+", "cookies_start", 15], # [op, left, right]; str = variable, int = constant
                "expr": "cookies_start + 15",       # the same tree as Python (ops + - * //)
                "var": "cookies_after_baking", "label": "the cookies after baking", "value": 27}],
     "answer_var": "cookies_after_baking", "answer": 27}

Solutions and mistakes are written by ``math_solutions``; the expression trees live in ``math_trees``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from preftree.sources.synthetic.common import PEOPLE, PRONOUNS, Problem, capitalize
from preftree.sources.synthetic.math_trees import Tree, describe, evaluate, render_tree


@dataclass(frozen=True)
class Theme:
    key: str
    items: str  # plural noun, also the variable stem
    unit: str  # a container, singular / plural
    units: str
    gain: tuple[tuple[str, str], ...]  # (verb, gerund)
    lose: tuple[tuple[str, str], ...]
    intro: str  # first sentence, with {name} and {a}


THEMES: tuple[Theme, ...] = (
    Theme(
        "bakery",
        "cookies",
        "box",
        "boxes",
        (("bakes", "baking"), ("buys", "buying")),
        (("sells", "selling"), ("eats", "eating"), ("gives away", "giving away")),
        "{name} runs a small bakery and has {a} cookies on the counter.",
    ),
    Theme(
        "orchard",
        "apples",
        "basket",
        "baskets",
        (("picks", "picking"), ("buys", "buying")),
        (("sells", "selling"), ("uses", "using"), ("gives away", "giving away")),
        "{name} has {a} apples from the family orchard.",
    ),
    Theme(
        "library",
        "books",
        "shelf",
        "shelves",
        (("buys", "buying"), ("receives", "receiving")),
        (("lends out", "lending"), ("donates", "donating"), ("sells", "selling")),
        "{name} keeps {a} books in a home library.",
    ),
    Theme(
        "farm",
        "eggs",
        "carton",
        "cartons",
        (("collects", "collecting"), ("buys", "buying")),
        (("sells", "selling"), ("uses", "using"), ("gives away", "giving away")),
        "On Monday, {name} has {a} eggs from the farm's hens.",
    ),
    Theme(
        "stamps",
        "stamps",
        "album",
        "albums",
        (("buys", "buying"), ("trades for", "trading")),
        (("trades away", "trading away"), ("sells", "selling"), ("gives away", "giving away")),
        "{name} has a collection of {a} stamps.",
    ),
    Theme(
        "marbles",
        "marbles",
        "bag",
        "bags",
        (("wins", "winning"), ("buys", "buying")),
        (("loses", "losing"), ("gives away", "giving away")),
        "{name} starts the school year with {a} marbles.",
    ),
    Theme(
        "garden",
        "seedlings",
        "tray",
        "trays",
        (("grows", "growing"), ("buys", "buying")),
        (("plants", "planting"), ("sells", "selling"), ("gives away", "giving away")),
        "{name} has {a} seedlings in the greenhouse.",
    ),
    Theme(
        "shop",
        "shirts",
        "crate",
        "crates",
        (("orders", "ordering"), ("receives", "receiving")),
        (("sells", "selling"), ("sends back", "sending back")),
        "{name}'s shop has {a} shirts in stock.",
    ),
)
COST = {
    "gain": 1,
    "lose": 1,
    "times": 1,
    "split": 1,
    "friend": 1,
    "lose_rate": 2,
    "gain_groups": 2,
    "aside_split": 2,
    "start_multiple": 2,
}
LIMIT = 5000  # keep every value small


@dataclass(frozen=True)
class Ranges:
    """The numbers a story draws (inclusive bounds)."""

    start: tuple[int, int]  # the first quantity
    gain: tuple[int, int]  # "buys c more"
    lose_max: int  # "sells c of them": c <= min(lose_max, value - 1)
    times: tuple[int, int]  # "c times as many"
    divisor: tuple[int, int]  # "packs them equally into c boxes"
    friend: tuple[int, int]  # "Tariq has b and gives all of them"
    rate: tuple[int, int]  # "sells c each day"
    days: tuple[int, int]  # "for the next d days"
    groups: tuple[int, int]  # "buys c boxes"
    per_group: tuple[int, int]  # "with d in each box"
    aside: tuple[int, int]  # "sets r aside"
    shares: tuple[int, int]  # "shares the rest equally among c boxes"
    multiple: tuple[int, int]  # "c times as many as at the start"


# PoT problems: two-digit quantities (the sandbox does the arithmetic).
WIDE = Ranges(
    start=(12, 90), gain=(2, 40), lose_max=30, times=(2, 4), divisor=(2, 9), friend=(3, 40), rate=(2, 9),
    days=(2, 6), groups=(2, 6), per_group=(2, 12), aside=(2, 12), shares=(2, 6), multiple=(2, 3),
)  # fmt: skip
# CoT problems: one-digit amounts on a start below 20, so every step is arithmetic a small model can do
# in text (sums under 40, products of one-digit numbers); the same stories and templates as WIDE.
SMALL = Ranges(
    start=(3, 19), gain=(1, 9), lose_max=9, times=(2, 3), divisor=(2, 5), friend=(1, 9), rate=(2, 4),
    days=(2, 3), groups=(2, 3), per_group=(2, 5), aside=(1, 5), shares=(2, 4), multiple=(2, 2),
)  # fmt: skip

# ----------------------------------------------------------------------------- generation


class _Story:
    """Mutable state while a narrative is drawn."""

    def __init__(self, rng: random.Random, ranges: Ranges) -> None:
        self.rng = rng
        self.ranges = ranges
        self.theme = rng.choice(THEMES)
        (self.name, sex), helper = rng.sample(PEOPLE, 2)
        self.helper = helper[0]
        self.pron = PRONOUNS[sex]
        a = rng.randint(*ranges.start)
        it = self.theme.items
        self.start = f"{it}_start"
        self.givens: list[dict[str, Any]] = [
            {"var": self.start, "label": f"the {it} {self.name} starts with", "value": a, "step": 0}
        ]
        self.env: dict[str, int] = {self.start: a}
        self.cur = self.start
        self.steps: list[dict[str, Any]] = []
        self.sentences = [self.theme.intro.format(name=self.name, a=a)]

    @property
    def value(self) -> int:
        return self.env[self.cur]

    def fresh(self, stem: str) -> str:
        name, k = stem, 2
        while name in self.env:
            name, k = f"{stem}_{k}", k + 1
        return name

    def add(self, kind: str, sentence: str, tree: Tree, stem: str, label: str) -> bool:
        value = evaluate(tree, self.env)
        if not 1 <= value <= LIMIT:
            return False
        var = self.fresh(f"{self.theme.items}_{stem}".replace(" ", "_").replace("'", ""))
        if label in {s["label"] for s in self.steps}:  # keep descriptions unambiguous
            label = f"{label} (step {len(self.steps) + 1})"
        self.steps.append({"kind": kind, "tree": tree, "var": var, "label": label})
        self.env[var] = value
        self.cur = var
        self.sentences.append(sentence)
        return True


def _build(story: _Story, kind: str) -> bool:
    rng, th, v, r = story.rng, story.theme, story.value, story.ranges
    he, him = capitalize(story.pron[0]), story.pron[1]
    cur, it = story.cur, th.items
    if kind == "gain":
        verb, ger = rng.choice(th.gain)
        c = rng.randint(*r.gain)
        return story.add(
            kind, f"{he} then {verb} {c} more {it}.", ["+", cur, c], f"after_{ger}", f"the {it} after {ger}"
        )
    if kind == "lose":
        if v < 3:
            return False
        verb, ger = rng.choice(th.lose)
        c = rng.randint(1, min(r.lose_max, v - 1))
        when = rng.choice(("After that", "Later", "The next day", "Then"))
        return story.add(
            kind, f"{when}, {story.pron[0]} {verb} {c} of them.", ["-", cur, c], f"after_{ger}", f"the {it} after {ger}"
        )
    if kind == "times":
        c = rng.randint(*r.times)
        if v * c > LIMIT // 2:
            return False
        return story.add(
            kind,
            f"By the end of the month, {story.pron[0]} has {c} times as many {it} as before.",
            ["*", cur, c],
            "end_of_month",
            f"the {it} at the end of the month",
        )
    if kind == "split":
        divisors = [d for d in range(r.divisor[0], r.divisor[1] + 1) if v % d == 0 and v // d >= 2]
        if not divisors:
            return False
        c = rng.choice(divisors)
        return story.add(
            kind,
            f"{he} packs them equally into {c} {th.units} and keeps only one {th.unit}.",
            ["//", cur, c],
            f"per_{th.unit}",
            f"the {it} in one {th.unit}",
        )
    if kind == "friend":
        if len(story.givens) > 1:
            return False
        b = rng.randint(*r.friend)
        fvar = f"{story.helper.lower()}_{it}"
        story.givens.append({"var": fvar, "label": f"{story.helper}'s {it}", "value": b, "step": len(story.steps)})
        story.env[fvar] = b
        ok = story.add(
            kind,
            f"{story.helper} has {b} {it} and gives all of them to {him}.",
            ["+", cur, fvar],
            f"with_{story.helper.lower()}",
            f"the {it} after {story.helper}'s gift",
        )
        if not ok:
            story.givens.pop()
            del story.env[fvar]
        return ok
    if kind == "lose_rate":
        verb, ger = rng.choice(th.lose)
        c, d = rng.randint(*r.rate), rng.randint(*r.days)
        if v <= c * d:
            return False
        return story.add(
            kind,
            f"For the next {d} days, {story.pron[0]} {verb} {c} {it} each day.",
            ["-", cur, ["*", c, d]],
            f"after_{d}_days",
            f"the {it} after {d} days of {ger}",
        )
    if kind == "gain_groups":
        verb, ger = rng.choice(th.gain)
        c, d = rng.randint(*r.groups), rng.randint(*r.per_group)
        return story.add(
            kind,
            f"{he} also {verb} {c} {th.units} with {d} {it} in each {th.unit}.",
            ["+", cur, ["*", c, d]],
            f"after_{ger}_{th.units}",
            f"the {it} after {ger} the {th.units}",
        )
    if kind == "aside_split":
        options = [
            (c, k)
            for c in range(r.shares[0], r.shares[1] + 1)
            for k in range(r.aside[0], r.aside[1] + 1)
            if v - k >= 2 * c and (v - k) % c == 0
        ]
        if not options:
            return False
        c, k = rng.choice(options)
        return story.add(
            kind,
            f"{he} sets {k} {it} aside, shares the rest equally among {c} {th.units}, and keeps one {th.unit}.",
            ["//", ["-", cur, k], c],
            f"in_kept_{th.unit}",
            f"the {it} in the kept {th.unit}",
        )
    if kind == "start_multiple":
        if not story.steps:
            return False
        c = rng.randint(*r.multiple)
        return story.add(
            kind,
            f"{story.helper} then gives {him} {c} times as many {it} as {story.name} had at the start.",
            ["+", cur, ["*", c, story.start]],
            f"after_{story.helper.lower()}_gift",
            f"the {it} after {story.helper}'s gift",
        )
    raise ValueError(f"unknown step kind {kind!r}")


def make(rng: random.Random, steps: int, ranges: Ranges = WIDE) -> Problem:
    """A word problem needing exactly ``steps`` arithmetic operations, with numbers from ``ranges``."""
    story = _Story(rng, ranges)
    left = steps
    while left > 0:
        kinds = [k for k in COST if COST[k] <= left]
        rng.shuffle(kinds)
        kind = next(k for k in [*kinds, "gain"] if _build(story, k))
        left -= COST[kind]
    it = story.theme.items
    question = f"How many {it} does {story.name} have now?"
    labels = {g["var"]: g["label"] for g in story.givens} | {s["var"]: s["label"] for s in story.steps}
    for s in story.steps:
        s["text"] = f"{describe(s['tree'], labels)} to get {s['label']}"
        s["expr"] = render_tree(s["tree"], str)
        s["value"] = story.env[s["var"]]
    answer = story.env[story.cur]
    ref = {
        "family": "math",
        "template": "-".join(s["kind"] for s in story.steps),
        "theme": story.theme.key,
        "name": story.name,
        "givens": story.givens,
        "steps": story.steps,
        "answer_var": story.cur,
        "answer": answer,
    }
    text = " ".join(story.sentences) + " " + question
    return Problem("math", ref["template"], text, str(answer), steps, ref)
