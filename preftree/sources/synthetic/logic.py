"""Deduction puzzles with lettered options, exactly one correct (the Logic family).

Two kinds, the difficulty being the number of clues / rules the deduction chains:

* ``ordering-<attribute>``: k+1 people and k numbered comparison clues ("Clue 1: Dan is taller than
  Alice.") that fix a total order; the question asks for the r-th from one end ("Who is the second
  shortest?"). A solution first restates every clue in the context's order and in its own wording
  ("Clue 2: Bob is shorter than Alice."), so restating is copying the numbered sentence the step names;
  then it combines them and picks the option by its letter.
* ``rules`` (forward chaining, as in rule-based reasoning benchmarks such as ProofWriter; each
  proposition is one made-up word, like P and Q): k numbered rules written as two words, "P0 P1" (where
  there are P0, there are P1), ..., "P(k-1) Pk", a trap rule "Q P0" and a lone rule "R S", then
  "Fact: P0"; the question asks for the final conclusion of applying the rules to the fact for as long
  as one applies (Pk). The four options are Pk, P(k-1) (stopping one rule early; the fact itself when
  k = 1), Q (reading the trap rule backwards: affirming the consequent) and S (a rule whose if-part was
  never established). A solution restates the fact, writes the walk from it as one line of words
  ("Chain: P0 P1 ... Pk": every word after the first is the word that follows the one before it in a
  context rule, a copy keyed on the token right before it, the plain induction copy), states that no
  rule starts from its last word, and answers with the option's text (docs/tiny-world.md, trials S, T
  and U: the tiny model does not learn a copy keyed on a word further back than the previous token).

Solutions are produced by a small solver over the *facts as read*, so a mistake changes what follows
consistently: for orderings a misread relation, an ignored clue, a swapped name, an off-by-one or
wrong-end pick; for rules the trap rule used backwards (its if-part concluded from the fact), a rule
whose if-part is not known, or a stop one rule early.

Reference JSON (``reference`` column)::

    ordering:  {"family": "logic", "kind": "ordering", "template": "ordering-height",
                "attribute": ["height", "heights", "taller", "shorter", "tallest", "shortest"],
                "people": [...],             # mention order (the solver's tie-break)
                "order": [...],              # the hidden order, most to least
                "clues": [{"text": "Dan is taller than Alice.", "more": "Dan", "less": "Alice",
                           "more_first": true}],          # false: "Alice is shorter than Dan."
                "question": {"end": "top" | "bottom", "rank": 1},   # 0-based rank from that end
                "options": ["Bob", ...], "answer_index": 1, "answer": "B",
                "steps": ["Clue 1: Dan is taller than Alice", ..., "So the ... is Bob, which is option B"]}
    rules:     {"family": "logic", "kind": "rules", "template": "rules",
                "fact": "blorps", "chain": ["blorps", "zindles", ...], "trap": "quaffs", "lone": ["trovs", "plinks"],
                "rules": [{"if": "blorps", "then": "zindles", "text": "blorps zindles."}, ...],  # context order
                "options": ["zindles", ...], "answer_index": 0, "answer": "A",
                "steps": ["Fact: blorps", "Chain: blorps zindles",
                          "No rule starts from zindles, so the final conclusion is zindles"]}

A rules solution ends "Answer:" and the option's text ("zindles"); the grader maps it to the letter
(``preftree.answers.match.logic_answer``).
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
    "dorbs",
    "florns",
    "grelts",
    "wumps",
    "yarks",
    "tazzles",
    "fendrils",
    "pribbets",
    "skorns",
    "vints",
    "drulls",
    "nebbets",
    "quills",
)
LANDS = ("Zorvia", "Quellmark", "Andoria", "Pemberly Isle", "the valley of Tesk", "Orvane")
RULES_QUESTION = "Applying the rules to the fact for as long as one applies, what is the final conclusion?"
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


# ----------------------------------------------------------------------------- rules


def _rule_text(rule: Mapping[str, Any]) -> str:
    return f"{rule['if']} {rule['then']}."


def _make_rules(rng: random.Random, k: int) -> Problem:
    if k + 4 > len(CATEGORIES):
        raise ValueError(f"rule chains support at most {len(CATEGORIES) - 4} rules")
    props = rng.sample(CATEGORIES, k + 4)  # a proposition is one made-up word
    chain, trap, (lone_if, lone_then) = props[: k + 1], props[k + 1], props[k + 2 :]
    pairs = [(chain[i], chain[i + 1]) for i in range(k)] + [(trap, chain[0]), (lone_if, lone_then)]
    rules = [{"if": a, "then": b} for a, b in rng.sample(pairs, len(pairs))]
    for r in rules:
        r["text"] = _rule_text(r)
    final = [chain[-1], chain[-2], trap, lone_then]  # the answer; stopping early; the converse; another rule
    options = rng.sample(final, len(final))
    idx = options.index(chain[-1])
    land = rng.choice(LANDS)
    text = (
        f'Context:\nIn {land}, the following rules hold (a rule "P Q" says: where there are P, there are Q). '
        + " ".join(f"Rule {i}: {r['text']}" for i, r in enumerate(rules, start=1))
        + f" Fact: {chain[0]}.\n\nQuestion:\n{RULES_QUESTION}\n\nOptions:\n{_options_block(options)}"
    )
    ref = {
        "family": "logic",
        "kind": "rules",
        "template": "rules",
        "fact": chain[0],
        "chain": chain,
        "trap": trap,
        "lone": [lone_if, lone_then],
        "rules": rules,
        "options": options,
        "answer_index": idx,
        "answer": LETTERS[idx],
    }
    ref["steps"] = _rules_steps(chain[0], chain)
    return Problem("logic", "rules", text, LETTERS[idx], k, ref)


def _rules_steps(fact: str, walk: Sequence[str]) -> list[str]:
    """Restate the fact, write the walk from it as one line of words (each word after the first is the word
    that follows the one before it in a context rule: a copy keyed on the token right before it), then
    stop: the final conclusion is the walk's last word."""
    return [
        f"Fact: {fact}",
        "Chain: " + " ".join(walk),
        f"No rule starts from {walk[-1]}, so the final conclusion is {walk[-1]}",
    ]


def _rules_candidates(ref: Mapping[str, Any], mistake: str) -> list[list[str]]:
    """The walk a solution with ``mistake`` writes, from the fact."""
    chain, (lone_if, lone_then), trap = ref["chain"], ref["lone"], ref["trap"]
    if mistake == "off_by_one":  # stops one rule early
        return [chain[:-1]]
    if mistake == "wrong_operator":  # uses the rule into the fact backwards (affirming the consequent)
        return [[chain[0], trap]]
    if mistake == "wrong_variable":  # goes on with a rule whose if-part was never established
        return [[*chain[: i + 1], lone_if, lone_then] for i in range(len(chain) - 1)]
    return []


# ----------------------------------------------------------------------------- public to the package


def make(rng: random.Random, steps: int) -> Problem:
    if rng.random() < 0.5:
        return _make_ordering(rng, steps)
    return _make_rules(rng, steps)


def _format(steps: Sequence[str], letter: str) -> str:
    return f"{step_lines([capitalize(s) + '.' for s in steps])}\n\nAnswer:\n{letter}"


def _answer_text(ref: Mapping[str, Any], steps: Sequence[str]) -> str:
    """A rules solution: its steps, then the final conclusion as the option's text."""
    return _format(steps, steps[-1].rsplit("final conclusion is ", 1)[1])


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
        return _answer_text(ref, ref["steps"])
    rcands = _rules_candidates(ref, mistake)
    rng.shuffle(rcands)
    for walk in rcands:
        steps = _rules_steps(ref["fact"], walk)
        text = _answer_text(ref, steps)
        if text.rsplit("\n", 1)[1] != ref["options"][ref["answer_index"]]:
            return text
    return None
