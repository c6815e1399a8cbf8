"""What a training record of each task needs before it may be selected (checked by ``sources.load``).

An adapter checks the types of its source's fields; this checks the adapted ``Item`` against what the
environment (``preftree.env``) needs to judge an action for each task the source produces:

* ``Math_CoT`` / ``Math_PoT``: a non-empty answer (a str or number in the source; a list such as
  ``["81"]`` is rejected by the adapter, never unwrapped: the judge compares scalars).
* ``Logic``: a non-empty answer (an option letter or the free-text answer).
* ``Coding``: every test a non-empty string, and a stdin/stdout case (``schema.stdio_test``) well
  formed. A Coding record with neither tests nor an answer is allowed: only an LLM judge can grade it
  (``interact.judge=critic``, Magicoder), and ``interact`` stops on it otherwise.

Evaluation sets (decontamination targets) need only their problem text and are not checked.
"""

from __future__ import annotations

from collections.abc import Sequence

from preftree.schema import parse_stdio_test
from preftree.sources.adapters import Item, Rejection

ANSWER_TASKS = ("Math_CoT", "Math_PoT", "Logic")


def check_item(item: Item, tasks: Sequence[str]) -> Rejection | None:
    """The first way ``item`` fails the contract of one of ``tasks``, else None."""
    needs_answer = [t for t in tasks if t in ANSWER_TASKS]
    if needs_answer and not item.answer.strip():
        return Rejection("answer", f"empty: a {needs_answer[0]} record needs an answer to be judged")
    if "Coding" in tasks:
        for number, test in enumerate(item.tests, start=1):
            if not test.strip():
                return Rejection("tests", f"test {number} is empty")
            try:
                parse_stdio_test(test)
            except ValueError as err:
                return Rejection("tests", f"test {number}: {err}")
    return None
