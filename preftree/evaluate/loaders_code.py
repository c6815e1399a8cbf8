"""Code benchmark loaders: HumanEval, MBPP (full and Eurus's sanitized rows) and LeetCode.

Formats: see :mod:`preftree.evaluate.loaders`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from preftree.evaluate import prompts
from preftree.evaluate.items import BenchmarkFormatError, Item
from preftree.evaluate.loaders import Row, field_value, nonempty_field, str_field, str_list_field

# The official LeetCode harness's Python header (Eurus eval/Coding/leetcode/evaluation.py IMPORT_HELPER), in
# its order; numpy comes from the sandbox's pinned packages (sandbox.packages).
LEETCODE_PRELUDE = (
    "import math\nimport re\nimport sys\nimport copy\nimport datetime\nimport itertools\nimport collections\n"
    "import heapq\nimport functools\nimport hashlib\nimport numpy\nimport numpy as np\nimport string\n"
    "from typing import *\nfrom collections import *\nfrom functools import *\n"
)


def function_names(code: str) -> list[str]:
    return re.findall(r"^\s*def\s+(\w+)\s*\(", code, re.MULTILINE)


def tested_function(code: str, first_test: str) -> str | None:
    """The function of ``code`` that the first test calls (else the first one defined)."""
    names = function_names(code)
    for name in names:
        if re.search(rf"\b{re.escape(name)}\s*\(", first_test):
            return name
    wrappers = r"(?:(?:set|sorted|list|tuple|round|abs|math\.isclose)\s*\(\s*)*"
    called = re.search(r"assert\s+(?:not\s+)?(?:\(\s*)?" + wrappers + r"(\w+)\s*\(", first_test)
    if called:
        return called.group(1)
    return names[0] if names else None


# ----------------------------------------------------------------------------- code


def parse_humaneval(rows: Sequence[Row], source: str, *, benchmark: str = "humaneval") -> list[Item]:
    items = []
    for i, row in enumerate(rows):
        prompt = nonempty_field(row, "prompt", source, i)
        entry = nonempty_field(row, "entry_point", source, i)
        test = nonempty_field(row, "test", source, i)
        task_id = str(field_value(row, "task_id", source, i))
        items.append(
            Item(
                id=task_id,
                benchmark=benchmark,
                kind="code",
                family="Coding",
                prompt=prompts.humaneval_prompt(prompt, entry),
                tests=(test, f"check({entry})"),
                entry_point=entry,
                reference=str_field(row, "canonical_solution", source, i, default=None),
                meta={"code_prompt": prompt, "style": "humaneval", "row": i},
            )
        )
    return items


def _mbpp_item(
    row: Row, source: str, i: int, *, benchmark: str, description: str, extra: dict[str, Any], setup: str = ""
) -> Item:
    """An MBPP-style code item (both layouts): ``test_list`` asserts, run after ``setup`` when given; the
    prompt shows the first assert and the tested function's signature."""
    code = str_field(row, "code", source, i, default=None)
    tests = str_list_field(row, "test_list", source, i)
    if not tests:
        raise BenchmarkFormatError(source, i, "test_list", "empty")
    entry = tested_function(code or "", tests[0])
    sig = prompts.signature(code, entry) if code else None
    return Item(
        id=str(field_value(row, "task_id", source, i, default=i)),
        benchmark=benchmark,
        kind="code",
        family="Coding",
        prompt=prompts.mbpp_prompt(description, tests[0], sig or entry),
        tests=(*([setup] if setup.strip() else []), *tests),
        entry_point=entry,
        reference=code,
        meta={**extra, "style": "mbpp", "row": i},
    )


def parse_mbpp(rows: Sequence[Row], source: str, *, benchmark: str = "mbpp") -> list[Item]:
    """Full MBPP (``text, code, test_list, test_setup_code, challenge_test_list``)."""
    return [
        _mbpp_item(
            row,
            source,
            i,
            benchmark=benchmark,
            description=nonempty_field(row, "text", source, i),
            setup=str_field(row, "test_setup_code", source, i, default=""),
            extra={"challenge_tests": str_list_field(row, "challenge_test_list", source, i, required=False)},
        )
        for i, row in enumerate(rows)
    ]


def parse_mbpp_eurus(rows: Sequence[Row], source: str, *, benchmark: str = "mbpp_eurus") -> list[Item]:
    """Eurus's sanitized MBPP (``prompt, code, test_imports, test_list, instruction``)."""
    return [
        _mbpp_item(
            row,
            source,
            i,
            benchmark=benchmark,
            description=nonempty_field(row, ("prompt", "text"), source, i),
            extra={"preamble": "\n".join(str_list_field(row, "test_imports", source, i, required=False))},
        )
        for i, row in enumerate(rows)
    ]


def parse_leetcode(rows: Sequence[Row], source: str, *, benchmark: str = "leetcode") -> list[Item]:
    items = []
    for i, row in enumerate(rows):
        prompt = nonempty_field(row, ("prompt_sft", "prompt"), source, i)
        test = nonempty_field(row, "test", source, i)
        items.append(
            Item(
                id=str(field_value(row, "task_id", source, i)),
                benchmark=benchmark,
                kind="code",
                family="Coding",
                prompt=prompts.leetcode_prompt(prompt),
                tests=(test,),
                entry_point="Solution",
                reference=str_field(row, ("canonical_solution", "solution"), source, i, default=None),
                meta={"preamble": LEETCODE_PRELUDE, "style": "leetcode", "row": i, **_leetcode_meta(row)},
            )
        )
    return items


def _leetcode_meta(row: Row) -> dict[str, Any]:
    meta = row.get("meta")
    out: dict[str, Any] = {}
    if isinstance(meta, Mapping) and "difficulty" in meta:
        out["difficulty"] = meta["difficulty"]
    elif "difficulty" in row:
        out["difficulty"] = row["difficulty"]
    return out
