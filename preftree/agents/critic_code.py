"""The scripted critic on code: synthetic problems (the first ``# Step k`` block that departs from the
reference step, with the offending tokens) and other datasets (the first line that departs from the
reference code), each followed by the failing test quoted in the observation."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from preftree.agents.scripted_common import CODE_STEP_RE, lower_first, prose_steps, split_action

FAIL_MARK = re.compile(r"^\s*(assert .+)$", re.M)


def failing_test(tests: Sequence[str], observation: str) -> str | None:
    """The first of the record's tests quoted in the observation, else the first assert line in it."""
    for test in tests:
        for line in test.strip().splitlines():
            if line.strip().startswith("assert") and line.strip() in observation:
                return line.strip()
    m = FAIL_MARK.search(observation)
    return m.group(1).strip() if m else None


def _error_line(observation: str) -> str | None:
    for line in reversed(observation.strip().splitlines()):
        if re.match(r"^\w*(Error|Exception)\b", line.strip()):
            return line.strip()
    return None


def _tokens(line: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]+", line)


def token_diff(got: str, want: str) -> str:
    """'`>` should be `>=`'-style notes for a small edit; '' when the lines differ too much to say so."""
    a, b = _tokens(got), _tokens(want)
    parts = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal" and max(i2 - i1, j2 - j1) > 6:
            return ""
        if tag == "replace":
            parts.append(f"`{' '.join(a[i1:i2])}` should be `{' '.join(b[j1:j2])}`")
        elif tag == "delete":
            parts.append(f"`{' '.join(a[i1:i2])}` does not belong there")
        elif tag == "insert":
            parts.append(f"`{' '.join(b[j1:j2])}` is missing")
    return "; ".join(parts[:2])


def code_blocks(code: str) -> dict[int, list[str]]:
    """'# Step k' blocks of a code fence: k -> stripped, non-empty code lines."""
    blocks: dict[int, list[str]] = {}
    current = 0
    for line in code.splitlines():
        m = CODE_STEP_RE.match(line)
        if m:
            current = int(m.group(1))
            blocks.setdefault(current, [])
        elif current and line.strip() and not line.strip().startswith("#"):
            blocks[current].append(line.strip())
    return blocks


def _test_sentence(tests: Sequence[str], observation: str) -> str:
    test = failing_test(tests, observation)
    if test:
        return f" That is why `{test}` fails."
    err = _error_line(observation)
    return f" That is why the run ends with `{err}`." if err else ""


def coding_feedback(ref: Mapping[str, Any], record: Mapping[str, Any], action: str, observation: str) -> str:
    tests = list(record.get("tests") or [])
    _, code = split_action(action)
    rsteps = ref["steps"]
    want = [[ln.strip() for ln in s["lines"] if ln.strip()] for s in rsteps]
    why = _test_sentence(tests, observation)
    if code is None:
        return (
            "Your answer is wrong: there is no ```python code block with the function. Write the whole function in one."
            + why
        )
    blocks = code_blocks(code)
    if blocks:
        n = len(rsteps)
        for k in range(1, n + 1):
            got = blocks.get(k)
            r = want[k - 1]
            text = lower_first(rsteps[k - 1]["text"])
            if got is None:
                return f"Step {k} is missing: the function still needs to {text}." + why
            if got == r:
                continue
            if k < n and got == want[k]:
                return f"Step {k} is incorrect: a step is missing before it. First you need to {text}." + why
            for g, w in zip(got, r, strict=False):
                if g != w:
                    diff = token_diff(g, w)
                    detail = f" In `{g}`, {diff}." if diff else ""
                    return f"Step {k} is incorrect.{detail} This step should {text}." + why
            return f"Step {k} is incorrect: it does not fully {text}." + why
        if len(blocks) > n:
            return f"Step {n + 1} is unnecessary: the function is complete after Step {n}; remove the extra code." + why
    flat = [re.sub(r"\s+", " ", ln.strip()) for ln in code.splitlines() if ln.strip()]
    for k, lines in enumerate(want, start=1):
        if not all(re.sub(r"\s+", " ", ln) in flat for ln in lines):
            return f"Your code gets this part of the logic wrong: it should {lower_first(rsteps[k - 1]['text'])}." + why
    return "Your answer is wrong. Check the function name, the signature and what it returns against the task." + why


def other_code_feedback(ref: Mapping[str, Any], record: Mapping[str, Any], action: str, observation: str) -> str:
    tests = list(record.get("tests") or [])
    why = _test_sentence(tests, observation)
    prose, code = split_action(action)
    said = prose_steps(prose)
    reference = str(ref.get("code") or "") if ref.get("kind") == "code" else ""
    if code is None:
        return "Your answer is wrong: there is no ```python code block with the solution." + why
    if reference:
        mine = [ln for ln in code.splitlines() if ln.strip()]
        theirs = [ln for ln in reference.splitlines() if ln.strip()]
        sm = difflib.SequenceMatcher(a=[ln.strip() for ln in mine], b=[ln.strip() for ln in theirs], autojunk=False)
        for tag, i1, _i2, j1, _j2 in sm.get_opcodes():
            if tag == "equal":
                continue
            step = 0
            for ln in mine[: i1 + 1]:
                m = CODE_STEP_RE.match(ln)
                if m:
                    step = int(m.group(1))
            step = step or (max(said) if said else 0)  # no step comments: the last step writes the code
            where = f"Step {step} is incorrect." if step else "Your code has an error."
            if tag == "replace" and i1 < len(mine) and j1 < len(theirs):
                diff = token_diff(mine[i1].strip(), theirs[j1].strip())
                if diff:
                    return f"{where} In `{mine[i1].strip()}`, {diff}." + why
            return f"{where} Check the logic around `{mine[min(i1, len(mine) - 1)].strip()}`." + why
    return (
        "Your answer is wrong. Trace the failing case by hand and compare each step with what the task requires." + why
    )
