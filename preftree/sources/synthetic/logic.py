"""Deduction puzzles with lettered options, exactly one correct (the Logic family).

Two kinds, the difficulty being the number of clues / premises the deduction chains:

* ``ordering-<attribute>``: k+1 people and k numbered comparison clues ("Clue 1: Dan is taller than
  Alice.") that fix a total order; the question asks for the r-th from one end ("Who is the second
  shortest?").
* ``syllogism``: a chain of k numbered premises "All C0 are C1", ..., "All C(k-1) are Ck" plus a
  distractor "All D are Cm"; the question asks which statement must be true ("All C0 are Ck").

A solution first restates every clue / premise in the context's order and in its own wording
("Clue 2: Bob is shorter than Alice."), so restating is copying the numbered sentence the step names;
then it combines them (the order, or the chain from C0) and picks the option. Solutions are produced
by a small solver over the *facts as read*, so a mistake (a misread relation, an ignored clue, a
swapped name, an off-by-one or wrong-end pick, a converted conclusion) changes the restated facts and,
consistently, the chosen option (docs/tiny-world.md, trial O: restated clues were where the tiny
model failed).

Reference JSON (``reference`` column)::

    ordering:  {"family": "logic", "kind": "ordering", "template": "ordering-height",
                "attribute": ["height", "heights", "taller", "shorter", "tallest", "shortest"],
                "people": [...],             # mention order (the solver's tie-break)
                "order": [...],              # the hidden order, most to least
                "clues": [{"text": "Dan is taller than Alice.", "more": "Dan", "less": "Alice",
                           "more_first": true}],          # false: "Alice is shorter than Dan."
                "question": {"end": "top" | "bottom", "rank": 1},   # 0-based rank from that end
                "options": ["Bob", ...], "answer_index": 1, "answer": "B",
                "steps": ["Clue 1: Dan is taller than Alice", ..., "So the ... is Bob, ..."]}
    syllogism: {"family": "logic", "kind": "syllogism", "template": "syllogism",
                "chain": ["blorps", ...], "distractor": "wumps",
                "premises": [{"text": "All blorps are zindles.", "sub": "blorps", "sup": "zindles",
                              "form": 0}],          # index into PREMISE_FORMS
                "options": [{"sub": "blorps", "sup": "trovs", "text": "All blorps are trovs."}],
                "answer_index": 0, "answer": "A",
                "steps": ["Premise 1: All blorps are zindles", ..., "Following the premises from blorps, ...",
                          "Therefore all blorps are trovs, which is option A"]}
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from preftree.sources.synthetic.common import PEOPLE, Problem, capitalize, step_lines

LETTERS = "ABCDE"
ATTRIBUTES = (
    ("height", "heights", "taller", "shorter", "tallest", "shortest"),
    ("age", "ages", "older", "younger", "oldest", "youngest"),
    ("speed", "running speeds", "faster", "slower", "fastest", "slowest"),
    ("weight", "weights", "heavier", "lighter", "heaviest", "lightest"),
    ("wealth", "savings", "richer", "poorer", "richest", "poorest"),
)
ORDINALS = ("", "second ", "third ", "fourth ", "fifth ", "sixth ", "seventh ", "eighth ", "ninth ", "tenth ")
COUNTS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
CATEGORIES = (
    "blorps",
    "zindles",
    "quaffs",
    "mibbles",
    "trovs",
    "plinks",
    "snargs",
    "vexils",
    "dorbs",
    "florns",
    "grelts",
    "wumps",
    "yarks",
    "clemms",
    "tazzles",
    "fendrils",
    "gloams",
    "pribbets",
    "skorns",
    "vints",
    "drulls",
    "nebbets",
    "humlocks",
    "quills",
)
LANDS = ("Zorvia", "Quellmark", "Andoria", "Pemberly Isle", "the valley of Tesk", "Orvane")
PREMISE_FORMS = (
    "All {a} are {b}.",
    "Every one of the {a} is one of the {b}.",
    "Each of the {a} is also one of the {b}.",
)
Fact = tuple[str, str, int]  # (more / subset, less / superset, clue index)


def _options_block(options: Sequence[str]) -> str:
    return "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))


# ----------------------------------------------------------------------------- ordering


def _make_ordering(rng: random.Random, k: int) -> Problem:
    n = k + 1
    if n > len(PEOPLE):
        raise ValueError(f"ordering puzzles support at most {len(PEOPLE) - 1} clues")
    attr = rng.choice(ATTRIBUTES)
    order = [p for p, _ in rng.sample(PEOPLE, n)]  # most to least
    people = rng.sample(order, n)
    clues = []
    for i in rng.sample(range(k), k):
        more, less = order[i], order[i + 1]
        more_first = rng.random() < 0.6
        clues.append({"text": _clue_text(attr, more, less, more_first) + ".", "more": more, "less": less,
                      "more_first": more_first})  # fmt: skip
    end, rank = rng.choice(["top", "bottom"]), rng.randrange((n + 1) // 2)  # "third tallest", not "sixth shortest"
    correct = order[rank] if end == "top" else order[n - 1 - rank]
    options = people if n <= len(LETTERS) else [correct, *rng.sample([p for p in people if p != correct], 4)]
    options = rng.sample(options, len(options))
    idx = options.index(correct)
    count = COUNTS[n] if n < len(COUNTS) else str(n)
    ordinal = ORDINALS[rank] if rank < len(ORDINALS) else f"number {rank + 1} "
    question = f"Who is the {ordinal}{attr[4] if end == 'top' else attr[5]}?"
    text = (
        f"Context:\n{capitalize(count)} friends, {', '.join(people[:-1])} and {people[-1]}, compare their "
        f"{attr[1]}; no two are the same. "
        + " ".join(f"Clue {i}: {c['text']}" for i, c in enumerate(clues, start=1))
        + f"\n\nQuestion:\n{question}\n\nOptions:\n{_options_block(options)}"
    )
    ref = {
        "family": "logic",
        "kind": "ordering",
        "template": f"ordering-{attr[0]}",
        "attribute": list(attr),
        "people": people,
        "order": order,
        "clues": clues,
        "question": {"end": end, "rank": rank},
        "options": options,
        "answer_index": idx,
        "answer": LETTERS[idx],
    }
    facts = [(c["more"], c["less"], i) for i, c in enumerate(clues)]
    ref["steps"] = _ordering_steps(ref, facts, rank, end)[0]
    return Problem("logic", ref["template"], text, LETTERS[idx], k, ref)


def _clue_text(attr: Sequence[str], more: str, less: str, more_first: bool) -> str:
    """A comparison in one of the two wordings: "Dan is taller than Alice" / "Alice is shorter than Dan"."""
    return f"{more} is {attr[2]} than {less}" if more_first else f"{less} is {attr[3]} than {more}"


def _solve_order(people: Sequence[str], facts: Sequence[Fact]) -> list[str]:
    """Topological order (most first), ties and cycles broken by mention order."""
    remaining, out = list(people), []
    while remaining:
        free = [p for p in remaining if not any(f[1] == p and f[0] in remaining and f[0] != p for f in facts)]
        pick = (free or remaining)[0]
        out.append(pick)
        remaining.remove(pick)
    return out


def _ordering_steps(ref: Mapping[str, Any], facts: Sequence[Fact], rank: int, end: str) -> tuple[list[str], str]:
    attr = ref["attribute"]
    order = _solve_order(ref["people"], facts)
    n = len(order)
    steps = [f"Clue {i + 1}: {_clue_text(attr, m, le, ref['clues'][i]['more_first'])}" for m, le, i in facts]
    steps.append(f"Combining the clues, the order from {attr[4]} to {attr[5]} is {', '.join(order)}")
    q = ref["question"]
    named = ORDINALS[q["rank"]] if q["rank"] < len(ORDINALS) else f"number {q['rank'] + 1} "
    pick = order[rank] if end == "top" else order[n - 1 - rank]
    sup = attr[4] if q["end"] == "top" else attr[5]
    letter = LETTERS[ref["options"].index(pick)] if pick in ref["options"] else ""
    steps.append(f"So the {named}{sup} is {pick}, which is option {letter}")
    return steps, letter


def _ordering_candidates(ref: Mapping[str, Any], mistake: str) -> list[tuple[list[Fact], int, str]]:
    facts = [(c["more"], c["less"], i) for i, c in enumerate(ref["clues"])]
    rank, end, n = ref["question"]["rank"], ref["question"]["end"], len(ref["people"])
    out: list[tuple[list[Fact], int, str]] = []
    for i, (m, le, j) in enumerate(facts):
        if mistake == "wrong_operator":
            out.append((facts[:i] + [(le, m, j)] + facts[i + 1 :], rank, end))
        elif mistake == "dropped_step":
            out.append((facts[:i] + facts[i + 1 :], rank, end))
        elif mistake == "wrong_variable":
            for other in ref["people"]:
                if other not in (m, le):
                    out.append((facts[:i] + [(other, le, j)] + facts[i + 1 :], rank, end))
                    out.append((facts[:i] + [(m, other, j)] + facts[i + 1 :], rank, end))
    if mistake == "off_by_one":
        out += [(facts, r, end) for r in (rank - 1, rank + 1) if 0 <= r < n]
    elif mistake == "wrong_formula":
        out.append((facts, rank, "bottom" if end == "top" else "top"))
    return out


# ----------------------------------------------------------------------------- syllogism


def _make_syllogism(rng: random.Random, k: int) -> Problem:
    if k + 2 > len(CATEGORIES):
        raise ValueError(f"syllogisms support at most {len(CATEGORIES) - 2} premises")
    *chain, dis = rng.sample(CATEGORIES, k + 2)
    m = rng.randint(1, k)
    pairs = [(chain[i], chain[i + 1]) for i in range(k)] + [(dis, chain[m])]
    premises = []
    for a, b in rng.sample(pairs, len(pairs)):
        form = rng.randrange(len(PREMISE_FORMS))
        premises.append({"text": PREMISE_FORMS[form].format(a=a, b=b), "sub": a, "sup": b, "form": form})
    stmts = [(chain[0], chain[-1]), (chain[-1], chain[0]), (chain[0], dis), (dis, chain[0])]
    options = [{"sub": a, "sup": b, "text": f"All {a} are {b}."} for a, b in rng.sample(stmts, len(stmts))]
    idx = next(i for i, o in enumerate(options) if (o["sub"], o["sup"]) == stmts[0])
    land = rng.choice(LANDS)
    text = (
        f"Context:\nIn {land}, the following is known. "
        + " ".join(f"Premise {i}: {p['text']}" for i, p in enumerate(premises, start=1))
        + f"\n\nQuestion:\nWhich of the following must be true?\n\nOptions:\n"
        f"{_options_block([o['text'] for o in options])}"
    )
    ref = {
        "family": "logic",
        "kind": "syllogism",
        "template": "syllogism",
        "chain": chain,
        "distractor": dis,
        "premises": premises,
        "options": options,
        "answer_index": idx,
        "answer": LETTERS[idx],
    }
    ref["steps"] = _syllogism_steps(ref, _premise_facts(ref), set(), False)[0]
    return Problem("logic", "syllogism", text, LETTERS[idx], k, ref)


def _premise_facts(ref: Mapping[str, Any]) -> list[Fact]:
    return [(p["sub"], p["sup"], i) for i, p in enumerate(ref["premises"])]


def _syllogism_steps(
    ref: Mapping[str, Any], facts: Sequence[Fact], misread: set[int], converse: bool
) -> tuple[list[str], str]:
    """Restate the facts in premise order and wording, then walk from the chain's first category along
    them (misread ones first, then premise order) and conclude."""
    forms = [p["form"] for p in ref["premises"]]
    steps = [
        f"Premise {i + 1}: {PREMISE_FORMS[forms[i]].format(a=a, b=b).rstrip('.')}"
        for a, b, i in sorted(facts, key=lambda f: f[2])
    ]
    start = cur = ref["chain"][0]
    walk = [start]
    while True:
        outs = sorted((f for f in facts if f[0] == cur and f[1] not in walk), key=lambda f: (f[2] not in misread, f[2]))
        if not outs:
            break
        cur = outs[0][1]
        walk.append(cur)
    steps.append(f"Following the premises from {start}, the chain is {', '.join(walk)}")
    claim = (cur, start) if converse else (start, cur)
    found = [i for i, o in enumerate(ref["options"]) if (o["sub"], o["sup"]) == claim]
    letter = LETTERS[found[0]] if found else ""
    steps.append(f"Therefore all {claim[0]} are {claim[1]}, which is option {letter}")
    return steps, letter


def _syllogism_candidates(ref: Mapping[str, Any], mistake: str) -> list[tuple[list[Fact], set[int], bool]]:
    facts = _premise_facts(ref)
    names = [*ref["chain"], ref["distractor"]]
    out: list[tuple[list[Fact], set[int], bool]] = []
    for i, (a, b, j) in enumerate(facts):
        if mistake == "wrong_operator":
            out.append((facts[:i] + [(b, a, j)] + facts[i + 1 :], {j}, False))
        elif mistake == "dropped_step":
            out.append((facts[:i] + facts[i + 1 :], set(), False))
        elif mistake == "wrong_variable":
            for other in names:
                if other not in (a, b):
                    out.append((facts[:i] + [(other, b, j)] + facts[i + 1 :], {j}, False))
                    out.append((facts[:i] + [(a, other, j)] + facts[i + 1 :], {j}, False))
    if mistake == "wrong_formula":
        out.append((facts, set(), True))
    return out


# ----------------------------------------------------------------------------- public to the package


def make(rng: random.Random, steps: int) -> Problem:
    if rng.random() < 0.65:
        return _make_ordering(rng, steps)
    return _make_syllogism(rng, steps)


def _format(steps: Sequence[str], letter: str) -> str:
    return f"{step_lines([capitalize(s) + '.' for s in steps])}\n\nAnswer:\n{letter}"


def render(ref: Mapping[str, Any], mistake: str | None, rng: random.Random) -> str | None:
    if ref["kind"] == "ordering":
        q = ref["question"]
        facts = [(c["more"], c["less"], i) for i, c in enumerate(ref["clues"])]
        if mistake is None:
            return _format(*_ordering_steps(ref, facts, q["rank"], q["end"]))
        cands = _ordering_candidates(ref, mistake)
        rng.shuffle(cands)
        for facts, rank, end in cands:
            steps, letter = _ordering_steps(ref, facts, rank, end)
            if letter and letter != ref["answer"]:
                return _format(steps, letter)
        return None
    if mistake is None:
        return _format(*_syllogism_steps(ref, _premise_facts(ref), set(), False))
    scands = _syllogism_candidates(ref, mistake)
    rng.shuffle(scands)
    for facts, misread, converse in scands:
        steps, letter = _syllogism_steps(ref, facts, misread, converse)
        if letter and letter != ref["answer"]:
            return _format(steps, letter)
    return None
