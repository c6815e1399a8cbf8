"""The scripted critic on math: synthetic problems (the first step whose value departs from the
reference, and why) and other datasets (the first step whose result is not in the reference rationale)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from preftree.agents.arithmetic import expr_shape, normalize_number, safe_eval, tree_shape
from preftree.agents.scripted_common import CODE_STEP_RE, lower_first, prose_steps, split_action


@dataclass
class MathStep:
    k: int
    desc: str = ""  # the step's description (text before the computation)
    expr: str = ""  # CoT: the shown arithmetic; PoT: the right-hand side of the step's last assignment
    var: str = ""  # PoT: the variable the step assigns last
    value: Any = None  # the step's result (stated for CoT, evaluated for PoT)
    computed: Any = None  # CoT: the shown arithmetic evaluated
    givens: dict[str, Any] = field(default_factory=dict)  # PoT: literal assignments in this step


VERB_PAST = {
    "+": "added",
    "-": "subtracted",
    "*": "multiplied",
    "//": "divided",
    "/": "divided",
    "%": "took a remainder",
}
OP_NOUN = {"+": "an addition", "-": "a subtraction", "*": "a multiplication", "//": "a division", "/": "a division"}


def _label_of(desc: str) -> str:
    """'Add 15 to X to get the cookies after baking' -> 'the cookies after baking'."""
    if " to get " not in desc:
        return ""
    return desc.rsplit(" to get ", 1)[1].strip().rstrip(".").strip()


def chain_expression(chain: str) -> tuple[str, str] | None:
    """``5 * 5 = 25, 88 + 25 = 113`` -> (``88 + (5 * 5)``, ``113``): the equations of one CoT step as one
    expression and its stated value. Each earlier result is put back once, in the first later equation
    that uses it; a single ``a + b = c`` is returned as it is. None when a part is not ``expr = number``."""
    results: dict[str, str] = {}
    expr = value = ""
    for part in (p.strip() for p in chain.split(",")):
        m = re.fullmatch(r"(.+?)\s*=\s*(-?\d+(?:\.\d+)?)", part)
        if m is None:
            return None

        def put_back(num: re.Match[str]) -> str:
            sub = results.pop(num.group(), None)
            return f"({sub})" if sub is not None else num.group()

        expr, value = re.sub(r"(?<![\w.])\d+(?:\.\d+)?", put_back, m.group(1).strip()), m.group(2)
        results[value] = expr
    return (expr, value) if expr else None


def parse_math_action(action: str) -> tuple[list[MathStep], Any]:
    """The steps of a math action with their values, and the final answer it reports."""
    prose, code = split_action(action)
    texts = prose_steps(prose)
    steps: dict[int, MathStep] = {}
    final: Any = None
    if code is not None:
        env: dict[str, Any] = {}
        current = 0
        for line in code.splitlines():
            m = CODE_STEP_RE.match(line)
            if m:
                current = int(m.group(1))
                steps.setdefault(current, MathStep(current, desc=m.group(2) or texts.get(current, "")))
                continue
            a = re.match(r"^\s*([A-Za-z_]\w*)\s*=\s*(.+?)\s*(#.*)?$", line)
            if a:
                name, expr = a.group(1), a.group(2)
                value = safe_eval(expr, env)
                env[name] = value
                if current:
                    step = steps.setdefault(current, MathStep(current, desc=texts.get(current, "")))
                    if re.fullmatch(r"-?\d+(\.\d+)?", expr.strip()):
                        step.givens[name] = value
                    else:
                        step.expr, step.var, step.value = expr, name, value
                continue
            p = re.match(r"^\s*print\((.*)\)\s*$", line)
            if p:
                final = safe_eval(p.group(1), env)
        for k, text in texts.items():
            steps.setdefault(k, MathStep(k, desc=text))
        for step in steps.values():
            if not step.desc:
                step.desc = texts.get(step.k, "")
            if step.value is None and step.givens:
                step.value = list(step.givens.values())[-1]
    else:
        for k, text in texts.items():
            step = MathStep(k, desc=text)
            m = re.search(r":\s*([^:]*?=\s*-?\d+(?:\.\d+)?)\s*\.?\s*$", text)
            chained = chain_expression(m.group(1)) if m else None
            if m and chained is not None:
                step.desc = text[: m.start()].strip()
                step.expr = chained[0]
                step.value = safe_eval(chained[1])
                step.computed = safe_eval(chained[0].replace("×", "*").replace("÷", "/"))
            steps[k] = step
        boxed = re.findall(r"\\boxed\{([^{}]*)\}", action)
        if boxed:
            final = safe_eval(boxed[-1].replace(",", "")) if normalize_number(boxed[-1]) is not None else boxed[-1]
    return [steps[k] for k in sorted(steps)], final


def _ref_math(ref: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, str], set[str]]:
    values = {g["var"]: g["value"] for g in ref["givens"]} | {s["var"]: s["value"] for s in ref["steps"]}
    labels = {g["var"]: g["label"] for g in ref["givens"]} | {s["var"]: s["label"] for s in ref["steps"]}
    return list(ref["steps"]), values, labels, {g["var"] for g in ref["givens"]}


def first_math_divergence(ref: Mapping[str, Any], action: str) -> int | None:
    """1-based number of the first step whose value differs from (or is missing in) the reference;
    len(steps) + 1 for an unneeded extra step; None when every step and the final answer agree."""
    steps, final = parse_math_action(action)
    by_k = {s.k: s for s in steps}
    rsteps = ref["steps"]
    for k, r in enumerate(rsteps, start=1):
        a = by_k.get(k)
        if a is None or a.value is None or a.value != r["value"]:
            return k
    if any(s.k > len(rsteps) for s in steps):
        return len(rsteps) + 1
    return None if final == ref["answer"] else len(rsteps)


def math_feedback(ref: Mapping[str, Any], task: str, action: str) -> str:
    steps, final = parse_math_action(action)
    rsteps, values, labels, given_vars = _ref_math(ref)
    n = len(rsteps)
    if not steps:
        first = rsteps[0]
        how = "print the result of the last step" if task == "Math_PoT" else "end with the result in \\boxed{}"
        return (
            "Your answer is wrong, and the solution does not lay out numbered steps that can be checked. "
            f"Work step by step: start from the quantities in the problem, e.g. Step 1 should "
            f"{lower_first(first['text'])}, then compute each following quantity in turn and {how}."
        )
    k = first_math_divergence(ref, action)
    by_k = {s.k: s for s in steps}
    if k is None:
        return (
            f"Steps 1 to {n} compute the right quantities, but the answer was not accepted: make sure the final "
            "answer is given in the required format, as a plain number."
        )
    if k > n:
        return (
            f"Step {k} is unnecessary. Step {n} already gives {labels[ref['answer_var']]}, which is what the question "
            "asks for; stop there and report that value."
        )
    r = rsteps[k - 1]
    a = by_k.get(k)
    if k == n and a is not None and a.value == r["value"]:
        return (
            f"Step {n} is right, but the final answer you report is not the result of that step. Report exactly "
            "the value your last step computes."
        )
    describe = lower_first(r["text"].rsplit(" to get ", 1)[0])
    head = f"Step {k} is incorrect."
    tail = (
        f" This step should give {r['value']} for {r['label']}; carry that value through the remaining steps."
        if k < n
        else f" This step should give {r['label']}; fix it and recompute the final answer."
    )
    if a is None:
        last = steps[-1]
        done = _label_of(last.desc) or f"Step {last.k}"
        more = "" if k == n else ", and continue from there"
        return (
            f"Step {k} is missing. Your solution stops at {done}, but the question asks for "
            f"{labels[ref['answer_var']]}: you still need to {describe} to get {r['label']}{more}."
        )
    # a skipped step: this step already computes a later reference quantity
    later = {s["var"]: j for j, s in enumerate(rsteps, start=1) if j > k}
    later_labels = {s["label"]: j for j, s in enumerate(rsteps, start=1) if j > k}
    a_label = _label_of(a.desc)
    if (a.var and a.var in later) or (a_label and a_label in later_labels):
        return (
            f"{head} It already works out {a_label or labels.get(a.var, a.var)}, but a step is missing before it: "
            f"first you need {r['label']}, i.e. {describe}. Insert that step and redo the following steps with it."
        )
    # a misread given (PoT: a literal assignment that disagrees with the problem)
    for var, v in a.givens.items():
        if var in given_vars and v != values[var]:
            return (
                f"{head} You used {v} for {labels[var]}, but the problem states {values[var]}. "
                f"Re-read the problem statement.{tail}"
            )
    a_shape = expr_shape(a.expr) if a.expr else None
    r_ops, r_leaves = tree_shape(r["tree"])
    if a_shape is not None:
        a_ops, a_leaves = a_shape
        if len(a_ops) == len(r_ops) and a_ops != r_ops:
            i = next(i for i, (x, y) in enumerate(zip(a_ops, r_ops, strict=True)) if x != y)
            verb = VERB_PAST.get(a_ops[i], f"used `{a_ops[i]}`")
            need = OP_NOUN.get(r_ops[i], "another operation")
            return f"{head} You {verb} where this step needs {need}: it should {describe}.{tail}"
        if len(a_leaves) == len(r_leaves):
            for x, y in zip(a_leaves, r_leaves, strict=True):
                msg = _leaf_message(x, y, values, labels, given_vars, code=task == "Math_PoT")
                if msg:
                    return f"{head} {msg} This step should {describe}.{tail}"
            if a.computed is not None and a.value is not None and a.computed != a.value:
                return f"{head} The arithmetic is off: {a.expr} is not {a.value}.{tail}"
            if a_ops == r_ops:
                return (
                    f"{head} The operations are grouped the wrong way: this step should {describe}; "
                    f"mind the order of operations.{tail}"
                )
    if a.computed is not None and a.value is not None and a.computed != a.value:
        return f"{head} The arithmetic is off: {a.expr} is not {a.value}.{tail}"
    return f"{head} This step should {describe}.{tail}"


def _leaf_message(
    got: Any, want: Any, values: Mapping[str, Any], labels: Mapping[str, str], given_vars: set[str], *, code: bool
) -> str | None:
    """A sentence for a wrong operand, or None when the operand is right."""
    if code:  # names against names, numbers against numbers
        if got == want:
            return None
        if isinstance(want, str) and isinstance(got, str):
            return f"You used {labels.get(got, got)} where {labels.get(want, want)} is needed."
        if isinstance(want, int) and isinstance(got, (int, float)):
            return f"The number {got} is wrong here: the problem gives {want}."
        if isinstance(want, str):
            return f"You used {got} where {labels.get(want, want)} ({values.get(want)}) is needed."
        return f"You used {labels.get(got, got)} where the number {want} from the problem is needed."
    want_value = values.get(want) if isinstance(want, str) else want
    if got == want_value:
        return None
    if isinstance(want, str):
        if want in given_vars and isinstance(got, (int, float)) and abs(got - want_value) == 1:
            return f"You used {got} for {labels[want]}, but the problem states {want_value}."
        other = next((v for v, x in values.items() if x == got and v != want), None)
        if other is not None:
            return f"You used {labels[other]} ({got}) where {labels[want]} ({want_value}) is needed."
        return f"You used {got} for {labels[want]}, which is {want_value}."
    return f"The number {got} is wrong here: the problem gives {want_value}."


def _numbers(text: str) -> list[str]:
    return [n for n in (normalize_number(x) for x in re.findall(r"-?\d[\d,]*\.?\d*", text)) if n is not None]


def other_math_feedback(ref: Mapping[str, Any], record: Mapping[str, Any], action: str) -> str:
    prose, code = split_action(action)
    steps = prose_steps(prose)
    known = set(_numbers(str(record.get("problem") or record.get("instruction") or "")))
    if ref.get("kind") == "rationale":
        known |= set(_numbers(re.sub(r"<<([^<>]*)>>", r" \1 ", str(ref.get("rationale") or ""))))
    elif ref.get("kind") == "expression":
        known |= set(_numbers(str(ref.get("expression") or "")))
    answer = normalize_number(str(record.get("answer") or ""))
    if answer:
        known.add(answer)
    if ref.get("kind") in ("rationale", "expression"):
        for k in sorted(steps):
            results = [normalize_number(x) for x in re.findall(r"=\s*\$?(-?\d[\d,]*\.?\d*)", steps[k])]
            bad = [x for x in results if x is not None and x not in known]
            if bad:
                return (
                    f"Step {k} is incorrect: the value {bad[0]} does not follow from the problem. Re-check the "
                    "quantities this step combines and the operation it applies, then redo the later steps."
                )
    if steps:
        last = max(steps)
        return (
            f"Step {last} is incorrect: your steps do not lead to the answer you report. Re-check the last "
            "computation and make sure the final answer is exactly the result it produces."
        )
    return (
        "Your answer is wrong. Lay out the solution in numbered steps and check each computation against the problem."
    )
