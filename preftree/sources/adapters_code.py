"""UltraInteract source adapters (code): see conf/sources/ultrainteract.yaml.

Two Coding sources of UltraInteract (paper §2.1, Table 6), each registered with default task
``Coding`` (the third, WikiTableQuestions, is in ``adapters_table``):

``codecontests`` -- Hugging Face ``deepmind/code_contests``. Columns (verified against the dataset card's
  ``dataset_info`` and its "Data Fields" text): ``name``, ``description``, ``public_tests`` /
  ``private_tests`` / ``generated_tests`` (each ``{"input": [str], "output": [str]}``), ``source`` (class
  label 0 UNKNOWN_SOURCE, 1 CODECHEF, 2 CODEFORCES, 3 HACKEREARTH, 4 CODEJAM, 5 ATCODER, 6 AIZU),
  ``difficulty`` (class label 0 UNKNOWN_DIFFICULTY, 1 EASY, 2 MEDIUM, 3 HARD, 4 HARDER, 5 HARDEST,
  6 EXTERNAL, 7.. the Codeforces problem letters A, B, ...), ``solutions`` / ``incorrect_solutions``
  (each ``{"language": [int], "solution": [str]}``, language 0 UNKNOWN_LANGUAGE, 1 PYTHON (Python 2),
  2 CPP, 3 PYTHON3, 4 JAVA), ``cf_contest_id``, ``cf_index``, ``cf_points``, ``cf_rating``, ``cf_tags``,
  ``is_description_translated``, ``untranslated_description``, ``time_limit``, ``memory_limit_bytes``,
  ``input_file``, ``output_file``. Class labels may arrive as ints or as their names; a test or
  solution group may also arrive as a list of ``{"input", "output"}`` / ``{"language", "solution"}``
  rows. Item: problem = ``description``; tests = at most ``MAX_CASES`` stdio cases (``schema.stdio_test``),
  public first, then private, then generated, in source order, a repeated input kept once; reference
  = the first PYTHON3 solution, else the first PYTHON (2) one that compiles under Python 3, else the
  first PYTHON one (``{"kind": "code", "code", "entry_point": "", "language": "python3" | "python2"}``);
  pattern = the source name in lower case ("codeforces"; "" when unknown); difficulty = 1..5 for
  EASY..HARDEST, None otherwise (unknown, EXTERNAL, and the Codeforces letters, which rank problems
  within one contest only). Skipped (the paper keeps Python problems only): no PYTHON / PYTHON3
  solution; no test case at all.

``taco`` -- Hugging Face ``BAAI/TACO``. Columns (verified against the dataset card and its loading
  script): ``question``, ``solutions`` (a JSON string: a list of Python programs), ``starter_code``,
  ``input_output`` (a JSON string ``{"inputs": [...], "outputs": [...]}`` plus ``"fn_name"`` for
  call-based problems), ``difficulty`` (EASY, MEDIUM, MEDIUM_HARD, HARD, VERY_HARD; UNKNOWN_DIFFICULTY
  also occurs), ``raw_tags``, ``name``, ``source``, ``tags``, ``skill_types``, ``url``, ``Expected
  Auxiliary Space``, ``time_limit``, ``date``, ``picture_num``, ``memory_limit``, ``Expected Time
  Complexity``. Item: problem = ``question``, then the ``starter_code`` (if any) after a blank line,
  as TACO's own generation prompt appends it (``taco_starter``: a ``from typing import ...`` line is
  put first when it annotates with ``List[...]`` and the like without importing them, since TACO's
  judge pre-imports them and ours does not); reference = the first solution after ``TACO_PRELUDE``
  (the imports TACO's judge runs first, numpy left out; entry point = the ``fn_name``, "" for stdio
  problems); difficulty = 1..5 for EASY, MEDIUM, MEDIUM_HARD, HARD,
  VERY_HARD (None otherwise); pattern = ``source`` in lower case. Tests, at most ``MAX_CASES`` cases,
  in order:

  * stdio problems (no ``fn_name``): one ``schema.stdio_test`` per case; an input or output given as a
    list of lines is joined with "\\n" (TACO's ``testing_util`` does the same).
  * call-based problems: first a helper snippet defining ``_preftree_call``, then one line per case,
    ``_preftree_call("<fn_name>", <args>, <expected>)``. The helper calls ``Solution().<fn_name>(*args)``
    when the solution defines a class ``Solution`` with that method (LeetCode style), else the plain
    function ``<fn_name>(*args)``; tuples compare as lists, and a pass is ``result == expected`` or,
    when ``expected`` is a one-element list, ``result == expected[0]``: TACO wraps many outputs
    (Codewars) in a one-element list and its ``testing_util`` accepts both readings. A mismatch raises
    ``AssertionError: fn(args) returned X, expected Y`` (each part capped). Values are written as
    Python literals (JSON via ``json.loads`` when a value has no literal form, e.g. NaN).
    TACO's conversion of digit-string dict keys to ints is not applied.

  Skipped: no test cases (the paper had GPT-4 write tests for those; we cannot); no solution.
  Invalid JSON in ``solutions`` / ``input_output`` is a rejection (``invalid JSON: ...``).
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from preftree.schema import stdio_test
from preftree.sources.adapters import (
    Adapter,
    Item,
    Row,
    RowRejected,
    RowSkipped,
    get_field,
    is_undecodable,
    optional_text,
    reference_json,
    required_text,
    str_items,
    type_name,
)
from preftree.text import normalize_text

MAX_CASES = 10  # test cases kept per problem (CodeContests: public first; TACO: the first ones)
SHOW_VALUE = 300  # characters of a value shown in a call-based assertion message

CC_LANGUAGES = {0: "UNKNOWN_LANGUAGE", 1: "PYTHON", 2: "CPP", 3: "PYTHON3", 4: "JAVA"}
CC_SOURCES = {0: "", 1: "codechef", 2: "codeforces", 3: "hackerearth", 4: "codejam", 5: "atcoder", 6: "aizu"}
CC_DIFFICULTY = {"EASY": 1, "MEDIUM": 2, "HARD": 3, "HARDER": 4, "HARDEST": 5}
TACO_DIFFICULTY = {"EASY": 1, "MEDIUM": 2, "MEDIUM_HARD": 3, "HARD": 4, "VERY_HARD": 5}


# ---------------------------------------------------------------------------------------------
# shared helpers


def _pairs(value: Any, field: str, first: str, second: str) -> list[tuple[Any, Any]]:
    """A struct of two parallel lists (``{first: [...], second: [...]}``) or a list of
    ``{first, second}`` rows, as (first, second) pairs."""
    if isinstance(value, Mapping):
        if first not in value or second not in value:
            raise RowRejected(field, f"wrong type: expected keys {first!r} and {second!r}")
        a, b = value[first], value[second]
        a = [] if a is None else a
        b = [] if b is None else b
        if not isinstance(a, (list, tuple)) or not isinstance(b, (list, tuple)):
            raise RowRejected(field, f"wrong type: expected lists under {first!r} and {second!r}")
        if len(a) != len(b):
            raise RowRejected(field, f"{len(a)} {first} values but {len(b)} {second} values")
        return list(zip(a, b, strict=True))
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            if not isinstance(item, Mapping) or first not in item or second not in item:
                raise RowRejected(field, f"wrong type: expected rows with {first!r} and {second!r}")
            out.append((item[first], item[second]))
        return out
    raise RowRejected(field, f"wrong type: expected {{{first!r}: [...], {second!r}: [...]}}, got {type_name(value)}")


def _json_field(row: Row, key: str) -> Any:
    """A column holding a JSON string, decoded (an already-decoded list / dict is accepted)."""
    value = get_field(row, key)
    if isinstance(value, (list, dict)):
        return value
    if not isinstance(value, str):
        raise RowRejected(key, f"wrong type: expected str, got {type_name(value)}")
    if is_undecodable(value):
        raise RowRejected(key, "undecodable text")
    if not value.strip():
        return None
    try:
        return json.loads(value)
    except ValueError as err:
        raise RowRejected(key, f"invalid JSON: {err}") from None


def _compiles(code: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(code, "<solution>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True


# ---------------------------------------------------------------------------------------------
# CodeContests


def _cc_cases(row: Row) -> list[tuple[str, str]]:
    """public, private, generated cases in order; ``public_tests`` is required, the others optional."""
    cases: list[tuple[str, str]] = []
    for key in ("public_tests", "private_tests", "generated_tests"):
        value = get_field(row, key) if key == "public_tests" else row.get(key)
        if value is None:
            continue
        pairs = _pairs(value, key, "input", "output")
        stdin = str_items([p[0] for p in pairs], key, "input")
        stdout = str_items([p[1] for p in pairs], key, "output")
        cases.extend(zip(stdin, stdout, strict=True))
    return cases


def _cap_cases(cases: Sequence[tuple[str, str]], limit: int = MAX_CASES) -> list[tuple[str, str]]:
    """At most ``limit`` cases, in order, each input once (its first expected output kept)."""
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for stdin, stdout in cases:
        if stdin in seen:
            continue
        seen.add(stdin)
        out.append((stdin, stdout))
        if len(out) == limit:
            break
    return out


def _cc_language(value: Any) -> str:
    if isinstance(value, bool):
        raise RowRejected("solutions", f"wrong type: expected language int or name, got {type_name(value)}")
    if isinstance(value, int):
        return CC_LANGUAGES.get(value, "UNKNOWN_LANGUAGE")
    if isinstance(value, str):
        return value.strip().upper()
    raise RowRejected("solutions", f"wrong type: expected language int or name, got {type_name(value)}")


def _cc_reference(row: Row) -> tuple[str, str] | None:
    """(code, "python3" | "python2") of the reference solution; None when there is no Python one."""
    pairs = _pairs(get_field(row, "solutions"), "solutions", "language", "solution")
    languages = [_cc_language(lang) for lang, _ in pairs]
    codes = str_items([code for _, code in pairs], "solutions", "solution")
    py3 = [c for lang, c in zip(languages, codes, strict=True) if lang == "PYTHON3" and c.strip()]
    if py3:
        return py3[0], "python3"
    py2 = [c for lang, c in zip(languages, codes, strict=True) if lang == "PYTHON" and c.strip()]
    if py2:
        return next((c for c in py2 if _compiles(c)), py2[0]), "python2"
    return None


def _cc_enum(value: Any, names: Mapping[int, str] | None = None) -> str:
    """A class label (int, or its name) as its name; "" when absent."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return (names or {}).get(value, str(value))
    return str(value).strip()


def _codecontests(row: Row, _fields: Mapping[str, str]) -> Item:
    problem = required_text(row, "description")
    cases = _cap_cases(_cc_cases(row))
    reference = _cc_reference(row)
    if reference is None:
        raise RowSkipped("solutions", "no Python solution")
    if not cases:
        raise RowSkipped("public_tests", "no test cases")
    code, language = reference
    source = row.get("source")
    pattern = CC_SOURCES.get(source, "") if isinstance(source, int) and not isinstance(source, bool) else ""
    if isinstance(source, str):
        pattern = "" if source.strip().upper() in ("", "UNKNOWN_SOURCE") else source.strip().lower()
    difficulty = row.get("difficulty")
    level: int | None
    if isinstance(difficulty, int) and not isinstance(difficulty, bool):
        level = difficulty if 1 <= difficulty <= 5 else None
    else:
        level = CC_DIFFICULTY.get(_cc_enum(difficulty).upper())
    return Item(
        problem=problem,
        tests=[stdio_test(i, o) for i, o in cases],
        reference=reference_json("code", code=code, entry_point="", language=language),
        pattern=pattern,
        difficulty=level,
    )


# ---------------------------------------------------------------------------------------------
# TACO

_CALL_HELPER = """\
def _preftree_call(name, args, expected):
    \"\"\"One TACO call-based case: Solution().<name>(*args) if the solution has that method, else <name>(*args).\"\"\"
    holder = globals().get("Solution")
    if isinstance(holder, type) and hasattr(holder, name):
        fn = getattr(holder(), name)
    elif callable(globals().get(name)):
        fn = globals()[name]
    else:
        raise NameError(f"the solution defines no function {name!r} (nor a method of class Solution)")
    got = fn(*args)

    def norm(value):
        return [norm(v) for v in value] if isinstance(value, (list, tuple)) else value

    want = norm(expected)
    if norm(got) == want or (isinstance(want, list) and len(want) == 1 and norm(got) == want[0]):
        return

    def show(text):
        return text if len(text) <= SHOW_LIMIT else text[:SHOW_LIMIT] + "..."

    call = show(", ".join(repr(a) for a in args))
    raise AssertionError(f"{name}({call}) returned {show(repr(got))}, expected {show(repr(expected))}")
""".replace("SHOW_LIMIT", str(SHOW_VALUE))


def _literal(value: Any) -> str:
    """Python source for a JSON value: its repr when that reads back equal, else ``json.loads(...)``."""
    text = repr(value)
    try:
        if ast.literal_eval(text) == value:
            return text
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    return f"__import__('json').loads({json.dumps(value)!r})"


def _taco_text(value: Any, field: str) -> str:
    """A stdio input / output: a str, or a list of lines joined with "\\n"."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        text = "\n".join(value)
    else:
        raise RowRejected(field, f"wrong type: expected str or list of str per case, got {type_name(value)}")
    if is_undecodable(text):
        raise RowRejected(field, "undecodable text")
    return text


def taco_tests(io: Any) -> list[str]:
    """``Item.tests`` of a decoded TACO ``input_output`` (see the module docstring); [] when none."""
    if io is None:
        return []
    if not isinstance(io, dict):
        raise RowRejected("input_output", f"wrong type: expected a JSON object, got {type_name(io)}")
    inputs, outputs = io.get("inputs") or [], io.get("outputs") or []
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise RowRejected("input_output", "wrong type: expected lists under 'inputs' and 'outputs'")
    if len(inputs) != len(outputs):
        raise RowRejected("input_output", f"{len(inputs)} inputs but {len(outputs)} outputs")
    fn_name = io.get("fn_name")
    if fn_name is not None and not isinstance(fn_name, str):
        raise RowRejected("input_output", f"wrong type: expected str for 'fn_name', got {type_name(fn_name)}")
    if fn_name and not re.fullmatch(r"[A-Za-z_]\w*", fn_name.strip()):
        raise RowRejected("input_output", f"'fn_name' is not an identifier: {fn_name!r}")
    if not inputs:
        return []
    if not fn_name:
        cases = [
            (_taco_text(i, "input_output"), _taco_text(o, "input_output")) for i, o in zip(inputs, outputs, strict=True)
        ]
        return [stdio_test(i, o) for i, o in _cap_cases(cases)]
    name = fn_name.strip()
    lines = []
    for args, expected in list(zip(inputs, outputs, strict=True))[:MAX_CASES]:
        if not isinstance(args, list):
            raise RowRejected(
                "input_output", f"wrong type: expected a list of arguments per case, got {type_name(args)}"
            )
        lines.append(f"_preftree_call({name!r}, {_literal(args)}, {_literal(expected)})")
    return [_CALL_HELPER, *lines]


# TACO's judge (metrics/testing_util.py) runs every program after these imports (numpy left out here:
# the sandbox's interpreter need not have it); the reference gets them so it runs as it did there.
TACO_PRELUDE = (
    "import sys\nimport time\nimport itertools\nfrom itertools import accumulate, product, permutations, combinations\n"
    "import collections\nfrom collections import Counter, OrderedDict, deque, defaultdict, ChainMap\n"
    "from functools import lru_cache\nimport math\nfrom math import sqrt, sin, cos, tan, ceil, fabs, floor, gcd, exp, "
    "log, log2\nimport fractions\nfrom typing import List, Tuple\nimport random\nimport heapq\nfrom heapq import *\n"
)
_TYPING = re.compile(r"\b(List|Dict|Tuple|Set|Optional|Union|Deque|DefaultDict)\s*\[")


def taco_starter(starter: str) -> str:
    """The starter code as shown in the problem: normalised, and when it annotates with ``typing``
    names (``List[int]``) without importing anything, a ``from typing import ...`` line first (TACO's
    judge pre-imports them; ours runs the solution as written)."""
    text = normalize_text(starter)
    names = sorted(set(_TYPING.findall(text)))
    if names and not re.search(r"^\s*(?:from|import)\s", text, flags=re.MULTILINE):
        text = f"from typing import {', '.join(names)}\n\n{text}"
    return text


def _taco(row: Row, _fields: Mapping[str, str]) -> Item:
    question = required_text(row, "question")
    starter = optional_text(row, "starter_code", normalize=False)
    solutions = _json_field(row, "solutions")
    if solutions is not None and not isinstance(solutions, list):
        raise RowRejected("solutions", f"wrong type: expected a JSON list of str, got {type_name(solutions)}")
    codes = [c for c in str_items(solutions or [], "solutions", "solutions") if c.strip()]
    io = _json_field(row, "input_output")
    tests = taco_tests(io)
    if not tests:
        raise RowSkipped("input_output", "no test cases")
    if not codes:
        raise RowSkipped("solutions", "no solution")
    problem = question + ("\n\n" + taco_starter(starter) if starter.strip() else "")
    entry = str(io.get("fn_name") or "").strip() if isinstance(io, dict) else ""
    difficulty = row.get("difficulty")
    level = TACO_DIFFICULTY.get(difficulty.strip().upper()) if isinstance(difficulty, str) else None
    source = row.get("source")
    return Item(
        problem=problem,
        tests=tests,
        reference=reference_json("code", code=TACO_PRELUDE + "\n" + codes[0], entry_point=entry),
        pattern=source.strip().lower() if isinstance(source, str) else "",
        difficulty=level,
    )


ADAPTERS: dict[str, Adapter] = {
    "codecontests": Adapter("codecontests", ("Coding",), _codecontests),
    "taco": Adapter("taco", ("Coding",), _taco),
}
