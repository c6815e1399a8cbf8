"""Coding problems: write one Python function, checked by ``assert`` tests.

Problems come from the templates in ``coding_templates.py``; the difficulty is the number of solution
steps, set by the template (some have an optional step) plus an optional composed preprocessing step
("ignore the negative numbers" for list inputs, "convert to lowercase first" for strings). The tests
are 4-6 asserts on sampled inputs (plus the template's edge cases), expected values coming from the
template's trusted reference implementation.

Reference JSON (``reference`` column)::

    {"family": "coding", "template": "sum_multiples", "entry_point": "sum_multiples",
     "signature": "def sum_multiples(nums: list[int]) -> int:",
     "params": {"k": 3}, "pre": false,              # template parameters; composed preprocessing step
     "steps": [{"text": "Start a running total `total` at 0", "lines": ["total = 0"], "droppable": false}],
     "body": ["total = 0", "for x in nums:", ...],  # function body (unindented by one level)
     "slots": {"zero": {"value": "0", "alternatives": {"off_by_one": ["1"]}}},
     "cases": [{"args": "[3, 4, 9]", "expected": "12"}]}

``slots`` lists every code fragment a mistake may rewrite (the same fragment appears in the step text),
``droppable`` marks steps that can be left out and still leave valid code.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from preftree.sources.synthetic.coding_templates import TEMPLATES, CodeTemplate, CStep, Params, S, Slot
from preftree.sources.synthetic.common import Problem, passes, python_fence, step_lines

BY_KEY: dict[str, CodeTemplate] = {t.key: t for t in TEMPLATES}
PRE_STEPS: dict[str, tuple[str, CStep, dict[str, Slot]]] = {
    "list": (
        " Ignore the negative numbers in `{arg}`.",
        CStep(
            "Drop the negative numbers, keeping each `x` of `{arg}` with `x {pre_cmp} 0`",
            ("{arg} = [x for x in {arg} if x {pre_cmp} 0]",),
            droppable=True,
        ),
        {"pre_cmp": S(">=", off_by_one=(">",), wrong_operator=("<",))},
    ),
    "str": (
        " Convert `{arg}` to lowercase before anything else.",
        CStep(
            "Convert `{arg}` to lowercase with `{arg}.{pre_case}()`", ("{arg} = {arg}.{pre_case}()",), droppable=True
        ),
        {"pre_case": S("lower", wrong_formula=("upper",))},
    ),
}


def _first_arg(t: CodeTemplate) -> str:
    return t.args.split(":")[0].strip()


def _count(t: CodeTemplate, params: Params, pre: bool) -> int:
    return sum(1 for s in t.steps if s.when is None or params[s.when]) + int(pre)


def step_range(t: CodeTemplate) -> tuple[int, int]:
    return sum(1 for s in t.steps if s.when is None), len(t.steps) + int(t.pre is not None)


MAX_STEPS = max(step_range(t)[1] for t in TEMPLATES)
MIN_STEPS = min(step_range(t)[0] for t in TEMPLATES)


def _assemble(t: CodeTemplate, params: Params, pre: bool) -> tuple[list[CStep], dict[str, Slot], dict[str, str]]:
    """The included steps, their slots, and the format values (params + correct slot values)."""
    steps = [s for s in t.steps if s.when is None or params[s.when]]
    slots = dict(t.slots(params))
    if pre and t.pre is not None:
        _, step, extra = PRE_STEPS[t.pre]
        steps.insert(0, step)
        slots |= extra
    values = {k: str(v) for k, v in params.items()} | {"arg": _first_arg(t)} | {k: s.value for k, s in slots.items()}
    return steps, slots, values


def _code(t: CodeTemplate, steps: Sequence[CStep], values: Mapping[str, str]) -> tuple[list[str], str]:
    """(step texts, function source) with the given slot values."""
    texts = [s.text.format(**values) for s in steps]
    code = [f"def {t.entry}({t.args}) -> {t.returns}:"]
    for k, (step, txt) in enumerate(zip(steps, texts, strict=True), start=1):
        lines = [line.format(**values) for line in step.lines]
        indent = " " * (4 + len(lines[0]) - len(lines[0].lstrip()))
        code.append(f"{indent}# Step {k}: {txt}.")
        code.extend("    " + line for line in lines)
    return texts, "\n".join(code)


def _cases(t: CodeTemplate, params: Params, pre: bool, rng: random.Random) -> list[tuple[Any, ...]]:
    target = rng.randint(4, 6)
    cases = [t.sample(rng, params)]
    for edge in t.edges:
        if repr(edge) not in map(repr, cases):
            cases.append(edge)
    for _ in range(200):
        if len(cases) >= target:
            break
        case = t.sample(rng, params)
        if repr(case) not in map(repr, cases):
            cases.append(case)
    return cases


def _expected(t: CodeTemplate, params: Params, pre: bool, args: tuple[Any, ...]) -> Any:
    if pre and t.pre == "list":
        args = ([x for x in args[0] if x >= 0], *args[1:])
    elif pre and t.pre == "str":
        args = (args[0].lower(), *args[1:])
    return t.solve(params, *args)


def make(rng: random.Random, steps: int) -> Problem:
    """A function-writing problem whose solution has ``steps`` steps (clamped to the templates' range)."""
    steps = min(max(steps, MIN_STEPS), MAX_STEPS)
    candidates = [t for t in TEMPLATES if step_range(t)[0] <= steps <= step_range(t)[1]]
    for _ in range(1000):
        t = rng.choice(candidates)
        params = t.params(rng)
        pre_options = [p for p in (False, True) if (not p or t.pre) and _count(t, params, p) == steps]
        if pre_options:
            break
    else:  # pragma: no cover - every step count in range has a template
        raise RuntimeError(f"no coding template with {steps} steps")
    pre = rng.choice(pre_options)
    body_steps, slots, values = _assemble(t, params, pre)
    cases = _cases(t, params, pre, rng)
    expected = [_expected(t, params, pre, args) for args in cases]
    call = [f"{t.entry}({', '.join(repr(a) for a in args)})" for args in cases]
    tests = [f"assert {c} == {e!r}" for c, e in zip(call, expected, strict=True)]
    statement = t.statement.format(**params)
    if pre and t.pre is not None:
        statement += PRE_STEPS[t.pre][0].format(arg=_first_arg(t))
    problem = (
        f"{statement}\n\nWrite a function `{t.entry}({t.args}) -> {t.returns}`.\n\n"
        f"Example: `{call[0]}` returns `{expected[0]!r}`."
    )
    texts, code = _code(t, body_steps, values)
    if not passes(code, tests):  # a template bug, never a data problem
        raise RuntimeError(f"coding template {t.key!r} fails its own tests:\n{code}\n{tests}")
    ref = {
        "family": "coding",
        "template": t.key,
        "entry_point": t.entry,
        "signature": code.split("\n", 1)[0],
        "params": params,
        "pre": pre,
        "steps": [
            {"text": txt, "lines": [ln.format(**values) for ln in s.lines], "droppable": s.droppable}
            for s, txt in zip(body_steps, texts, strict=True)
        ],
        "body": [ln.format(**values) for s in body_steps for ln in s.lines],
        "slots": {
            k: {"value": s.value, "alternatives": {m: list(a) for m, a in s.alts.items() if a}}
            for k, s in slots.items()
        },
        "cases": [
            {"args": ", ".join(repr(a) for a in args), "expected": repr(e)}
            for args, e in zip(cases, expected, strict=True)
        ],
    }
    return Problem("coding", t.key, problem, "", len(body_steps), ref, tests)


def _format(texts: Sequence[str], code: str) -> str:
    return f"{step_lines([txt + '.' for txt in texts])}\n{python_fence(code)}"


def render(ref: Mapping[str, Any], mistake: str | None, rng: random.Random, tests: Sequence[str]) -> str | None:
    t = BY_KEY[ref["template"]]
    steps, slots, values = _assemble(t, dict(ref["params"]), bool(ref["pre"]))
    if mistake is None:
        return _format(*_code(t, steps, values))
    candidates: list[tuple[str, str] | int] = []
    if mistake == "dropped_step" and len(steps) > 1:
        candidates += [i for i, s in enumerate(steps) if s.droppable]
    candidates += [(name, alt) for name, slot in slots.items() for alt in slot.alts.get(mistake, ())]
    rng.shuffle(candidates)
    for cand in candidates:
        if isinstance(cand, int):
            texts, code = _code(t, steps[:cand] + steps[cand + 1 :], values)
        else:
            texts, code = _code(t, steps, {**values, cand[0]: cand[1]})
        if not passes(code, tests):
            return _format(texts, code)
    return None
