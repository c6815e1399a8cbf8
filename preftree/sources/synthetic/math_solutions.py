"""Solutions of the synthetic math problems (``math.make``), correct or with one mistake.

Mistakes edit the trees (operator, a constant +-1, a dropped step, a wrong variable, a precedence
error in a two-operation step) and recompute every later value, so text and code stay consistent.
The CoT style writes one ``Step k: ... = value.`` line per step and ``\\boxed{answer}``; the PoT style
repeats the steps as ``# Step k:`` comments in a Python fence that prints the answer.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from typing import Any

from preftree.sources.synthetic.common import capitalize, python_fence, step_lines
from preftree.sources.synthetic.math_trees import (
    Tree,
    at,
    describe,
    evaluate,
    first_var,
    paths,
    render_tree,
    replaced,
    rotated,
    substituted,
)

WRONG_OP = {"+": "-", "-": "+", "*": "+", "//": "*"}

Edit = tuple[list[dict[str, Any]], str, dict[str, int]]  # (steps, final variable, given values)


def _trace(
    ref: Mapping[str, Any], steps: list[dict[str, Any]], final: str, givens: Mapping[str, int]
) -> tuple[list[dict[str, Any]], int]:
    """Recompute values for (possibly edited) steps and givens; raises ZeroDivisionError."""
    env = dict(givens)
    labels = {g["var"]: g["label"] for g in ref["givens"]} | {s["var"]: s["label"] for s in ref["steps"]}
    out = []
    for s in steps:
        shown = render_tree(s["tree"], lambda t: str(env[t]) if isinstance(t, str) else str(t))
        env[s["var"]] = evaluate(s["tree"], env)
        out.append(
            {
                **s,
                "text": f"{describe(s['tree'], labels)} to get {s['label']}",
                "expr": render_tree(s["tree"], str),
                "shown": shown,
                "value": env[s["var"]],
            }
        )
    return out, env[final]


def _givens(ref: Mapping[str, Any]) -> dict[str, int]:
    return {g["var"]: g["value"] for g in ref["givens"]}


def _edits(ref: Mapping[str, Any], mistake: str) -> list[Edit]:
    """Every way to make ``mistake`` once: (edited steps, final variable, given values)."""
    steps, final, givens = ref["steps"], ref["answer_var"], _givens(ref)
    out: list[Edit] = []

    def with_tree(i: int, tree: Tree) -> None:
        edited = copy.deepcopy(steps)
        edited[i]["tree"] = tree
        out.append((edited, final, givens))

    if mistake == "off_by_one":  # a misread quantity in the statement
        out += [
            (copy.deepcopy(steps), final, {**givens, var: v + d})
            for var, v in givens.items()
            for d in (1, -1)
            if v + d > 0
        ]

    for i, s in enumerate(steps):
        tree = s["tree"]
        if mistake == "wrong_operator":
            for p in paths(tree, lambda t: isinstance(t, list)):
                node = at(tree, p)
                with_tree(i, replaced(tree, p, [WRONG_OP[node[0]], node[1], node[2]]))  # type: ignore[index]
        elif mistake == "off_by_one":
            for p in paths(tree, lambda t: isinstance(t, int)):
                for delta in (1, -1):
                    if at(tree, p) + delta > 0:  # type: ignore[operator]
                        with_tree(i, replaced(tree, p, at(tree, p) + delta))  # type: ignore[operator]
        elif mistake == "wrong_variable":
            avail = [g["var"] for g in ref["givens"] if g["step"] <= i] + [t["var"] for t in steps[:i]]
            for p in paths(tree, lambda t: isinstance(t, str)):
                for other in avail:
                    if other != at(tree, p):
                        with_tree(i, replaced(tree, p, other))
        elif mistake == "wrong_formula":
            rot = rotated(tree)
            if rot is not None:
                with_tree(i, rot)
        elif mistake == "dropped_step" and len(steps) > 1:
            keep = first_var(tree)
            if keep is None:
                continue
            rest = [{**t, "tree": substituted(t["tree"], s["var"], keep)} for t in steps[i + 1 :]]
            out.append((copy.deepcopy(steps[:i]) + rest, keep if final == s["var"] else final, givens))
    return out


def _format(
    ref: Mapping[str, Any], task: str, steps: list[dict[str, Any]], final: str, answer: int, givens: Mapping[str, int]
) -> str:
    if task == "Math_CoT":
        lines = [f"{capitalize(s['text'])}: {s['shown']} = {s['value']}." for s in steps]
        return f"{step_lines(lines)}\n\nAnswer:\n\\boxed{{{answer}}}"
    texts = [capitalize(s["text"]) + "." for s in steps]  # never empty: a lone step is never dropped
    code: list[str] = []
    assigned: set[str] = set()
    for k, s in enumerate(steps, start=1):
        code.append(f"# Step {k}: {texts[k - 1]}")
        for p in paths(s["tree"], lambda t: isinstance(t, str)):
            var = at(s["tree"], p)
            if var in givens and var not in assigned:
                code.append(f"{var} = {givens[var]}")
                assigned.add(var)  # type: ignore[arg-type]
        code.append(f"{s['var']} = {s['expr']}")
    if final in givens and final not in assigned:
        code.append(f"{final} = {givens[final]}")
    code.append(f"print({final})")
    return f"{step_lines(texts)}\n{python_fence(chr(10).join(code))}"


def render(ref: Mapping[str, Any], task: str, mistake: str | None, rng: random.Random) -> str | None:
    if mistake is None:
        givens = _givens(ref)
        steps, answer = _trace(ref, copy.deepcopy(ref["steps"]), ref["answer_var"], givens)
        return _format(ref, task, steps, ref["answer_var"], answer, givens)
    candidates = _edits(ref, mistake)
    rng.shuffle(candidates)
    for edited, final, givens in candidates:
        try:
            steps, answer = _trace(ref, edited, final, givens)
        except ZeroDivisionError:
            continue
        if answer != ref["answer"]:
            return _format(ref, task, steps, final, answer, givens)
    return None
