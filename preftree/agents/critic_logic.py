"""The scripted critic on synthetic logic: the clue that was misread, swapped or ignored, or a wrong pick
from a correct order; for rule chains, a rule used backwards, a rule applied whose if-part is not known, or
a stop before the last rule."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from preftree.agents.scripted_common import prose_steps


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().rstrip(".")).lower()


def logic_feedback(ref: Mapping[str, Any], action: str) -> str:
    got = prose_steps(action)
    want = list(ref["steps"])
    if not got:
        return (
            "Your answer is wrong, and the reasoning is not laid out in numbered steps. Go through the context "
            "one statement at a time."
        )
    for k, w in enumerate(want, start=1):
        g = got.get(k)
        if g is None:
            return (
                f"Step {k} is missing: your reasoning stops before it reaches a conclusion the options can be "
                "checked against."
            )
        if _norm(g) == _norm(w):
            continue
        if re.sub(r"option [a-e]\b", "option", _norm(g)) == re.sub(r"option [a-e]\b", "option", _norm(w)):
            return (
                f"Step {k} names the wrong option: your conclusion is right, so give the letter of the option "
                "that states it."
            )
        if ref["kind"] == "ordering":
            return f"Step {k} is incorrect. " + _ordering_hint(ref, g, w)
        return f"Step {k} is incorrect. " + _rules_hint(ref, g, w)
    if ref["kind"] == "rules":
        return "Your final conclusion is right, but the answer is not it: answer with the option that states it."
    return f"Step {len(want)} picks the wrong option: check which letter matches your conclusion."


CLUE_RE = re.compile(r"Clue (\d+): (\w+) is (\w+) than (\w+)", re.I)
CHAIN_RE = re.compile(r"^chain: ([\w ]+)$")


def _stated_clue(attr: Sequence[str], got: re.Match[str]) -> tuple[int, str, str] | None:
    """(clue number, more, less) as a restated clue reads, in either wording; None for another relation."""
    first, rel, second = got.group(2), got.group(3).lower(), got.group(4)
    if rel == attr[2]:
        return int(got.group(1)), first, second
    if rel == attr[3]:
        return int(got.group(1)), second, first
    return None


def _ordering_hint(ref: Mapping[str, Any], got: str, want: str) -> str:
    g, w = CLUE_RE.search(got), CLUE_RE.search(want)
    attr, clues = ref["attribute"], ref["clues"]
    stated = _stated_clue(attr, g) if g is not None else None
    if stated is not None and 1 <= stated[0] <= len(clues):
        j, more, less = stated
        clue = clues[j - 1]
        if {more, less} == {clue["more"], clue["less"]} and more != clue["more"]:
            return (
                f'You read clue {j} backwards: "{clue["text"]}" means {clue["more"]} is {attr[2]} than '
                f"{clue['less']}, not the other way round. Redo the order with it."
            )
        if {more, less} != {clue["more"], clue["less"]}:
            return (
                f'Clue {j} ("{clue["text"]}") is about {clue["more"]} and {clue["less"]}, not the people '
                "you named. Redo the order with it."
            )
    if w is not None:
        i = int(w.group(1))
        return f'You skipped clue {i} ("{clues[i - 1]["text"]}"); every clue is needed to pin down the order.'
    if want.lower().startswith("combining"):
        return "The order you derive does not follow from the clues; place each person using all the clues."
    q = ref["question"]
    end = attr[4] if q["end"] == "top" else attr[5]
    return (
        f"Your order is right, but you picked the wrong person from it: the question asks for position "
        f"{q['rank'] + 1} counted from the {end} end, so count again from that end of your order."
    )


def _rule_number(ref: Mapping[str, Any], if_part: str, then_part: str) -> int | None:
    found = [i for i, r in enumerate(ref["rules"], start=1) if (r["if"], r["then"]) == (if_part, then_part)]
    return found[0] if found else None


def _rules_hint(ref: Mapping[str, Any], got: str, want: str) -> str:
    fact = ref["fact"]
    g, w = CHAIN_RE.match(_norm(got)), CHAIN_RE.match(_norm(want))
    if g is not None and w is not None:
        walk, right = g.group(1).split(), w.group(1).split()
        if walk[:1] != [fact]:
            return f"Start the chain from the fact the context gives: {fact}."
        i = next((i for i, (a, b) in enumerate(zip(walk, right, strict=False)) if a != b), min(len(walk), len(right)))
        if i < len(walk) and i < len(right):
            prev, said = walk[i - 1], walk[i]
            j = _rule_number(ref, said, prev)
            if j is not None:
                return (
                    f"You used rule {j} backwards: it says that where there are {said}, there are {prev}. Knowing "
                    f"{prev} does not tell you {said}; a rule only goes from its first word to its second."
                )
            return (
                f"No rule takes {prev} to {said}. From {prev}, follow the rule whose first word is {prev}: "
                f"rule {_rule_number(ref, prev, right[i])}."
            )
        if len(walk) < len(right):
            return (
                f"You stopped too early: rule {_rule_number(ref, walk[-1], right[len(walk)])} starts from "
                f"{walk[-1]}, which you have established, so apply it and go on until no rule applies."
            )
        return f"You went on past the final conclusion: no rule starts from {right[-1]}."
    if _norm(want).startswith("fact:"):
        return f"Start from the fact the context gives: {fact}."
    return (
        f"Start from the fact ({fact}) and apply the rule whose first word it is, again and again, until no rule "
        "starts from what you have; that last conclusion is the answer."
    )
