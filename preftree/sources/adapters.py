"""Adapters from source rows to the unified instruction record.

An adapter turns one source row into an ``Item`` (the task-independent part of a record: problem,
answer, tests, reference, pattern, difficulty) or a ``Rejection`` naming the offending field and the
reason ("missing", "empty", "wrong type: expected str, got int", "undecodable text",
"no answer found"). ``sources.load`` expands an ``Item`` into one record per task. A row the adapter
leaves out on purpose (one of the paper's per-dataset filters) raises ``RowSkipped``: a ``Rejection`` whose
reason starts with ``SKIPPED``, recorded with the rejections but not counted as a failure.

This module holds the core adapters; the UltraInteract source families are in ``adapters_math``,
``adapters_code``, ``adapters_table`` and ``adapters_logic``, and ``registry.ADAPTERS`` names them all.

Reference JSON kinds: ``rationale`` (worked solution text), ``code`` (program + entry point),
``expression`` (SVAMP's equation), ``text`` (free text) and ``table`` (``adapters_table``).
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from preftree.answers.core import GSM8K_MARK, canonical_number, gsm8k_final, last_boxed
from preftree.text import normalize_text

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Item:
    """The task-independent content of one source row."""

    problem: str
    answer: str = ""
    tests: list[str] = field(default_factory=list)
    reference: str = ""  # JSON
    pattern: str = ""
    difficulty: int | None = None


@dataclass(frozen=True)
class Rejection:
    field: str  # "" when the whole row is bad
    reason: str


class RowRejected(Exception):
    def __init__(self, field_: str, reason: str) -> None:
        super().__init__(f"{field_}: {reason}")
        self.rejection = Rejection(field_, reason)


SKIPPED = "skipped: "  # reason prefix of rows an adapter leaves out on purpose (the paper's filters)


class RowSkipped(RowRejected):
    """A well-formed row the adapter leaves out on purpose (e.g. NumGLUE's tasks 5-7, a contest
    problem without a Python solution). Recorded like a rejection, with ``SKIPPED`` in front of the
    reason, and not counted against ``select.max_reject_rate``."""

    def __init__(self, field_: str, reason: str) -> None:
        super().__init__(field_, SKIPPED + reason)


def is_skip(rejection: Rejection) -> bool:
    return rejection.reason.startswith(SKIPPED)


Convert = Callable[[Row, Mapping[str, str]], Item]


@dataclass(frozen=True)
class Adapter:
    name: str
    default_tasks: tuple[str, ...]
    convert: Convert  # raises RowRejected; use ``adapt`` instead

    def adapt(self, row: Row, fields: Mapping[str, str] | None = None) -> Item | Rejection:
        try:
            return self.convert(row, fields or {})
        except RowRejected as rej:
            return rej.rejection


# ---------------------------------------------------------------------------------------------
# helpers


def is_undecodable(text: str) -> bool:
    """True for text with lone surrogates or U+FFFD replacement characters (a failed decode)."""
    return "\ufffd" in text or any("\ud800" <= ch <= "\udfff" for ch in text)


def type_name(value: Any) -> str:
    return type(value).__name__


def str_items(values: Any, field: str, what: str) -> list[str]:
    """``values`` as a list of str (undecodable text rejected)."""
    if not isinstance(values, (list, tuple)):
        raise RowRejected(field, f"wrong type: expected list of str for {what}, got {type_name(values)}")
    if not all(isinstance(v, str) for v in values):
        raise RowRejected(field, f"wrong type: expected list of str for {what}, got list with non-str items")
    if any(is_undecodable(v) for v in values):
        raise RowRejected(field, "undecodable text")
    return list(values)


def get_field(row: Row, key: str) -> Any:
    if key not in row or row[key] is None:
        raise RowRejected(key, "missing")
    return row[key]


def required_text(row: Row, key: str, *, allow_empty: bool = False, normalize: bool = True) -> str:
    value = get_field(row, key)
    if not isinstance(value, str):
        raise RowRejected(key, f"wrong type: expected str, got {type(value).__name__}")
    if is_undecodable(value):
        raise RowRejected(key, "undecodable text")
    if not allow_empty and not value.strip():
        raise RowRejected(key, "empty")
    return normalize_text(value) if normalize else value


def optional_text(row: Row, key: str, **kw: Any) -> str:
    return required_text(row, key, allow_empty=True, **kw) if row.get(key) is not None else ""


def _str_list(row: Row, key: str, *, required: bool = True) -> list[str]:
    if not required and row.get(key) is None:
        return []
    value = get_field(row, key)
    if isinstance(value, str):  # newline-separated snippets
        value = [line for line in value.splitlines() if line.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        got = type(value).__name__ if not isinstance(value, (list, tuple)) else "list with non-str items"
        raise RowRejected(key, f"wrong type: expected list of str, got {got}")
    if any(is_undecodable(v) for v in value):
        raise RowRejected(key, "undecodable text")
    return [v for v in value if v.strip()]


def difficulty_level(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(?:level\s*)?(\d+)\s*", value, flags=re.IGNORECASE)
        return int(m.group(1)) if m else None
    return None


def reference_json(kind: str, **payload: Any) -> str:
    return json.dumps({"kind": kind, **payload}, ensure_ascii=False)


def guess_entry_point(assertion: str, code: str = "") -> str:
    """The function a test calls: the first called name defined in ``code``, else the first non-builtin."""
    called = re.findall(r"([A-Za-z_]\w*)\s*\(", assertion)
    defined = set(re.findall(r"^\s*def\s+([A-Za-z_]\w*)", code, flags=re.MULTILINE))
    for name in called:
        if name in defined:
            return name
    return next((n for n in called if not hasattr(builtins, n) and n != "assert"), called[0] if called else "")


# ---------------------------------------------------------------------------------------------
# adapters


def _gsm8k(row: Row, _fields: Mapping[str, str]) -> Item:
    problem = required_text(row, "question")
    solution = required_text(row, "answer")
    final = gsm8k_final(solution, to_end=True)
    if final is None:
        raise RowRejected("answer", "no answer found")
    rationale = solution.rpartition(GSM8K_MARK)[0]
    answer = canonical_number(final) or final.replace(",", "")
    steps = [line for line in rationale.splitlines() if line.strip()]
    return Item(problem=problem, answer=answer, reference=reference_json("rationale", rationale=rationale.strip()),
                difficulty=len(steps) or None)  # fmt: skip


def _math(row: Row, _fields: Mapping[str, str]) -> Item:
    problem = required_text(row, "problem")
    solution = optional_text(row, "solution")
    key = next((k for k in ("answer", "expected_answer") if row.get(k) is not None), None)
    if key is not None:
        value = row[key]
        answer = canonical_number(value) if isinstance(value, (int, float)) else required_text(row, key)
        answer = (answer or "").strip()
    else:
        if not solution:
            raise RowRejected("solution", "missing" if row.get("solution") is None else "empty")
        answer = (last_boxed(solution) or "").strip()
        if not answer:
            raise RowRejected("solution", "no answer found")
    pattern = next((str(row[k]) for k in ("subject", "type") if isinstance(row.get(k), str)), "")
    reference = reference_json("rationale", rationale=solution) if solution else ""
    return Item(problem=problem, answer=answer, reference=reference, pattern=pattern,
                difficulty=difficulty_level(row.get("level")))  # fmt: skip


def _mbpp(row: Row, _fields: Mapping[str, str]) -> Item:
    asserts = _str_list(row, "test_list")
    if not asserts:
        raise RowRejected("test_list", "empty")
    code = required_text(row, "code", normalize=False)
    if "instruction" in row:  # Eurus variant: prompt followed by the first assert
        problem = required_text(row, "instruction")
    else:
        problem = required_text(row, "prompt" if "prompt" in row else "text") + "\n" + asserts[0].strip()
    setup = optional_text(row, "test_setup_code", normalize=False)
    imports = "\n".join(_str_list(row, "test_imports", required=False))
    tests = [s for s in (imports, setup) if s.strip()] + asserts
    entry = guess_entry_point(asserts[0], code)
    return Item(problem=problem, tests=tests, reference=reference_json("code", code=code, entry_point=entry))


def _humaneval(row: Row, _fields: Mapping[str, str]) -> Item:
    prompt = required_text(row, "prompt", normalize=False)
    solution = required_text(row, "canonical_solution", normalize=False)
    test = required_text(row, "test", normalize=False)
    entry = required_text(row, "entry_point").strip()
    return Item(problem=prompt, tests=[test + f"\ncheck({entry})"],
                reference=reference_json("code", code=prompt + solution, entry_point=entry))  # fmt: skip


def _svamp(row: Row, _fields: Mapping[str, str]) -> Item:
    body, question = required_text(row, "Body"), required_text(row, "Question")
    # Eurus joins Body + ". " + Question; add the period only where the body lacks end punctuation.
    problem = body + ("" if body[-1] in ".?!" else ".") + " " + question
    value = get_field(row, "Answer")
    answer = canonical_number(value)
    if answer is None:
        if not isinstance(value, (int, float, str)) or isinstance(value, bool):
            raise RowRejected("Answer", f"wrong type: expected number, got {type(value).__name__}")
        raise RowRejected("Answer", "no answer found")
    equation = optional_text(row, "Equation")
    ops = len(re.findall(r"(?<=\s)[-+*/](?=\s)|(?<=\d|\))[-+*/](?=\d|\()", equation))
    reference = reference_json("expression", expression=equation) if equation else ""
    return Item(problem=problem, answer=answer, reference=reference, pattern=optional_text(row, "Type"),
                difficulty=ops if equation else None)  # fmt: skip


def _generic(row: Row, fields: Mapping[str, str]) -> Item:
    if "problem" not in fields:
        raise ValueError("generic adapter: `fields` must map `problem` to a source column")
    problem = required_text(row, fields["problem"])
    answer = ""
    if "answer" in fields:
        key = fields["answer"]
        value = get_field(row, key)
        if isinstance(value, str):
            answer = required_text(row, key, allow_empty=True).strip()
            answer = canonical_number(answer) or answer
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            answer = canonical_number(value) or ""
            if not answer:
                raise RowRejected(key, f"not a finite number: {value!r}")
        elif isinstance(value, bool):
            answer = json.dumps(value)  # "true" / "false" (TheoremQA), judged as yes / no
        else:  # a list (even ["81"]) or an object is never unwrapped: the judge compares scalars
            shown = json.dumps(value, ensure_ascii=False, default=str)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise RowRejected(key, f"wrong type: expected str or number, got {type_name(value)} {shown}")
        if not answer:
            raise RowRejected(key, "empty")
    tests = _str_list(row, fields["tests"]) if "tests" in fields else []
    reference = ""
    if "reference" in fields:
        value = get_field(row, fields["reference"])
        if isinstance(value, str):  # free text (e.g. MINT's test code) becomes {"kind": "text", ...}
            reference = reference_json("text", text=required_text(row, fields["reference"], normalize=False))
        else:
            reference = json.dumps(value, ensure_ascii=False, default=str)
    pattern = str(get_field(row, fields["pattern"])) if "pattern" in fields else ""
    difficulty = difficulty_level(get_field(row, fields["difficulty"])) if "difficulty" in fields else None
    return Item(problem, answer, tests, reference, pattern, difficulty)


GENERIC_FIELDS = ("problem", "answer", "tests", "reference", "pattern", "difficulty")

ADAPTERS: dict[str, Adapter] = {
    "gsm8k": Adapter("gsm8k", ("Math_CoT", "Math_PoT"), _gsm8k),
    "math": Adapter("math", ("Math_CoT", "Math_PoT"), _math),
    "mbpp": Adapter("mbpp", ("Coding",), _mbpp),
    "humaneval": Adapter("humaneval", ("Coding",), _humaneval),
    "svamp": Adapter("svamp", ("Math_CoT", "Math_PoT"), _svamp),
    "generic": Adapter("generic", (), _generic),
}
