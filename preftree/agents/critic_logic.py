"""The scripted critic on synthetic logic: the clue or premise that was misread, swapped or ignored,
or a wrong pick from a correct order / a reversed conclusion."""

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
        return f"Step {k} is incorrect. " + _syllogism_hint(ref, g, w)
    return f"Step {len(want)} picks the wrong option: check which letter matches your conclusion."


CLUE_RE = re.compile(r"Clue (\d+): (\w+) is (\w+) than (\w+)", re.I)
PREMISE_RE = re.compile(
    r"Premise (\d+): (?:all (\w+) are (\w+)|every one of the (\w+) is one of the (\w+)"
    r"|each of the (\w+) is also one of the (\w+))",
    re.I,
)


def _stated_clue(attr: Sequence[str], got: re.Match[str]) -> tuple[int, str, str] | None:
    """(clue number, more, less) as a restated clue reads, in either wording; None for another relation."""
    first, rel, second = got.group(2), got.group(3).lower(), got.group(4)
    if rel == attr[2]:
        return int(got.group(1)), first, second
    if rel == attr[3]:
        return int(got.group(1)), second, first
    return None


def _stated_premise(got: re.Match[str]) -> tuple[int, str, str]:
    """(premise number, subset, superset) as a restated premise reads, in any of its wordings."""
    sub, sup = (g for g in got.groups()[1:] if g is not None)
    return int(got.group(1)), sub, sup


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


def _syllogism_hint(ref: Mapping[str, Any], got: str, want: str) -> str:
    g, w = PREMISE_RE.search(got), PREMISE_RE.search(want)
    start, end = ref["chain"][0], ref["chain"][-1]
    premises = ref["premises"]
    stated = _stated_premise(g) if g is not None else None
    if stated is not None and 1 <= stated[0] <= len(premises):
        j, sub, sup = stated
        p = premises[j - 1]
        if (sub, sup) == (p["sup"], p["sub"]):
            return (
                f'You read premise {j} backwards: "{p["text"]}" says all {p["sub"]} are {p["sup"]}; '
                f"it does not say all {p['sup']} are {p['sub']}."
            )
        if (sub, sup) != (p["sub"], p["sup"]):
            return (
                f'Premise {j} ("{p["text"]}") links {p["sub"]} to {p["sup"]}; you used a different category '
                "in its place."
            )
    if w is not None:
        i = int(w.group(1))
        return f'You skipped premise {i} ("{premises[i - 1]["text"]}"); restate every premise before chaining them.'
    if want.lower().startswith("following"):
        return (
            f"The chain does not follow the premises: start from {start} and repeatedly move to the category "
            "that a premise says it belongs to."
        )
    if want.lower().startswith("therefore"):
        return (
            f"The conclusion is reversed or cut short: following the premises as a chain shows that all {start} "
            "belong to each later category; only that direction follows, never the converse."
        )
    return f"Follow the premises as a chain starting from {start} and state what must be true about {start} and {end}."
