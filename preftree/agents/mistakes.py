"""Mistakes the scripted actor makes when no synthetic ``render_solution`` mistake applies: a nearby
wrong answer, another option, a restated last step, and single-token code mutations (``wrong_operator``,
``off_by_one``)."""

from __future__ import annotations

import io
import random
import re
import tokenize
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from preftree.agents.arithmetic import normalize_number

LETTERS = "ABCDE"


def perturb_answer(answer: str, rng: random.Random) -> str:
    """A nearby wrong answer: a number moved by one, the last integer inside an expression moved by one."""
    num = normalize_number(answer)
    if num is not None:
        delta = rng.choice((1, -1))
        moved = normalize_number(str(Decimal(num) + delta))
        return moved if moved is not None and moved != num else str(Decimal(num) + 1)
    found = list(re.finditer(r"\d+", answer))
    if found:
        m = found[-1]
        return answer[: m.start()] + str(int(m.group()) + 1) + answer[m.end() :]
    return f"{answer} + 1" if answer else "1"


def perturb_synthetic(record: Mapping[str, Any], ref: Mapping[str, Any], correct: str, rng: random.Random) -> str:
    """A wrong action when no weighted mistake applies: move the final answer / pick another option."""
    family, task = ref["family"], record.get("task")
    if family == "math":
        if task == "Math_CoT":
            bad = perturb_answer(str(ref["answer"]), rng)
            return re.sub(r"\\boxed\{[^{}]*\}\s*$", lambda _: f"\\boxed{{{bad}}}", correct.rstrip())
        return re.sub(r"print\((\w+)\)\n```$", r"print(\1 + 1)\n```", correct.rstrip())
    if family == "logic":
        n = len(ref.get("options") or LETTERS)
        letters = [x for x in LETTERS[:n] if x != ref["answer"]]
        bad = rng.choice(letters)
        text = re.sub(r"which is option [A-E]\.", f"which is option {bad}.", correct)
        return re.sub(r"Answer:\n[A-E]\s*$", f"Answer:\n{bad}", text.rstrip())
    if family == "coding":
        from preftree.sources.synthetic.common import passes

        fence = re.search(r"```python\n(.*?)\n```", correct, re.S)
        assert fence is not None
        tests = list(record.get("tests") or [])
        mutated = code_mutations(fence.group(1), "wrong_operator") + code_mutations(fence.group(1), "off_by_one")
        rng.shuffle(mutated)
        for code in mutated:
            if not passes(code, tests):
                return correct[: fence.start(1)] + code + correct[fence.end(1) :]
        return correct  # pragma: no cover - every synthetic coding problem admits some mistake
    raise ValueError(f"unknown synthetic family {family!r}")


def restate_last(steps: list[str], answer: str, bad: str) -> list[str]:
    """Change the last step that states ``answer`` so that it states ``bad`` (keeps the text consistent)."""
    pattern = re.compile(rf"(?<![\w.]){re.escape(answer)}(?![\w]|\.\d)")
    out = list(steps)
    for i in range(len(out) - 1, -1, -1):
        hits = list(pattern.finditer(out[i]))
        if hits:
            m = hits[-1]
            out[i] = out[i][: m.start()] + bad + out[i][m.end() :]
            break
    return out


def other_answer(answer: str, rng: random.Random) -> str:
    if re.fullmatch(r"[A-E]", answer):
        return rng.choice([x for x in LETTERS if x != answer])
    flips = {"yes": "no", "no": "yes", "true": "false", "false": "true"}
    if answer.lower() in flips:
        flipped = flips[answer.lower()]
        return flipped.capitalize() if answer[:1].isupper() else flipped
    return perturb_answer(answer, rng)


OP_SWAPS = {
    "+": "-",
    "-": "+",
    "*": "+",
    "//": "/",
    "/": "//",
    "%": "//",
    "<": "<=",
    "<=": "<",
    ">": ">=",
    ">=": ">",
    "==": "!=",
    "!=": "==",
    "+=": "-=",
    "-=": "+=",
    "and": "or",
    "or": "and",
}


def code_mutations(code: str, kind: str) -> list[str]:
    """Every single-token mutation of ``kind`` (wrong_operator | off_by_one) in the body of the first ``def``
    (anywhere in a program without a ``def``: a stdin/stdout script)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return []
    header_end, depth, in_def = None, 0, False
    for t in tokens:
        if not in_def:
            in_def = t.type == tokenize.NAME and t.string == "def"
        elif t.type == tokenize.OP and t.string in ("(", "[", "{"):
            depth += 1
        elif t.type == tokenize.OP and t.string in (")", "]", "}"):
            depth -= 1
        elif t.type == tokenize.OP and t.string == ":" and depth == 0:
            header_end = t.end
            break
    if header_end is None:
        if in_def:
            return []
        header_end = (1, 0)
    lines = code.splitlines(keepends=True)
    out = []
    for t in tokens:
        if t.start < header_end or t.start[0] != t.end[0]:
            continue
        news: list[str] = []
        if kind == "wrong_operator" and t.type in (tokenize.OP, tokenize.NAME) and t.string in OP_SWAPS:
            news = [OP_SWAPS[t.string]]
        elif kind == "off_by_one" and t.type == tokenize.NUMBER and re.fullmatch(r"\d+", t.string):
            value = int(t.string)
            news = [str(value + 1)] + ([str(value - 1)] if value > 0 else [])
        row, col = t.start[0] - 1, t.start[1]
        for new in news:
            changed = list(lines)
            changed[row] = changed[row][:col] + new + changed[row][col + len(t.string) :]
            out.append("".join(changed))
    return out
