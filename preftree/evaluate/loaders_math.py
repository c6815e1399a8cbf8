"""Math benchmark loaders: GSM8K, SVAMP, MATH / MATH-500, TheoremQA, ASDiv and GSM-Plus.

Formats: see :mod:`preftree.evaluate.loaders`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from preftree.answers.core import canonical_number, gsm8k_final, last_boxed
from preftree.evaluate import prompts
from preftree.evaluate.items import BenchmarkFormatError, Item
from preftree.evaluate.loaders import Row, field_value, nonempty_field, number_text, str_field

THEOREMQA_TYPES = ("integer", "float", "bool", "option", "list of integer", "list of float")


def math_item(benchmark: str, id_: str, question: str, answer: str | None, kind: str, **extra: Any) -> Item:
    cot, pot = prompts.math_prompts(question)
    return Item(
        id=id_,
        benchmark=benchmark,
        kind=kind,  # type: ignore[arg-type]
        family="Math",
        prompt=cot,
        pot_prompt=pot,
        answer=answer,
        meta={"question": question, **extra},
    )


def parse_gsm8k(rows: Sequence[Row], source: str, *, benchmark: str = "gsm8k") -> list[Item]:
    items = []
    for i, row in enumerate(rows):
        question = nonempty_field(row, "question", source, i)
        rationale = nonempty_field(row, "answer", source, i)
        final = gsm8k_final(rationale, to_end=True)
        if final is None:
            raise BenchmarkFormatError(source, i, "answer", "no '#### <number>' final answer")
        answer = number_text(final.replace(",", "").replace("$", ""), source, i, "answer")
        item = math_item(benchmark, str(row.get("id", i)), question, answer, "numeric", row=i)
        items.append(replace(item, reference=rationale))
    return items


def parse_svamp(rows: Sequence[Row], source: str, *, benchmark: str = "svamp") -> list[Item]:
    items = []
    for i, row in enumerate(rows):
        body = nonempty_field(row, "Body", source, i).strip()
        question = nonempty_field(row, "Question", source, i).strip()
        joiner = " " if body[-1:] in ".?!" else ". "
        answer = number_text(field_value(row, "Answer", source, i), source, i, "Answer")
        items.append(math_item(benchmark, str(row.get("ID", i)), body + joiner + question, answer, "numeric", row=i))
    return items


def parse_math(rows: Sequence[Row], source: str, *, benchmark: str = "math") -> list[Item]:
    """MATH / MATH-500 rows (``answer`` or the solution's last ``\\boxed{}``) or the PRIME layout."""
    items = []
    for i, row in enumerate(rows):
        problem = nonempty_field(row, "problem", source, i)
        answer = str_field(row, ("answer", "expected_answer"), source, i, default=None)
        solution = str_field(row, "solution", source, i, default=None)
        if answer is None and solution is not None:
            answer = last_boxed(solution)
        if answer is None or not answer.strip():
            raise BenchmarkFormatError(source, i, "answer", "missing, and no \\boxed{} answer in 'solution'")
        id_ = str(field_value(row, ("unique_id", "id", "idx"), source, i, default=i))
        extra = {k: row[k] for k in ("level", "subject", "type") if k in row}
        item = math_item(benchmark, id_, problem, answer.strip(), "math", row=i, **extra)
        items.append(replace(item, reference=solution))
    return items


def theoremqa_answer(value: Any, answer_type: str, source: str, i: int, key: str = "Answer") -> str:
    """The reference answer as a string of its type (lists as JSON, bools as True/False)."""
    if answer_type not in THEOREMQA_TYPES:
        raise BenchmarkFormatError(source, i, "Answer_type", f"unknown type {answer_type!r}")
    if isinstance(value, str):
        text = value.strip()
        if answer_type.startswith("list"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise BenchmarkFormatError(source, i, key, f"not a list: {value!r}") from exc
        elif answer_type == "bool":
            if text.lower() not in ("true", "false"):
                raise BenchmarkFormatError(source, i, key, f"not a bool: {value!r}")
            return "True" if text.lower() == "true" else "False"
        elif answer_type == "option":
            return text
        else:
            return number_text(text, source, i, key)
    if answer_type.startswith("list"):
        if not isinstance(value, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        ):
            raise BenchmarkFormatError(source, i, key, f"expected a list of numbers, got {value!r}")
        return json.dumps(value)
    if answer_type == "bool":
        if not isinstance(value, bool):
            raise BenchmarkFormatError(source, i, key, f"expected a bool, got {value!r}")
        return str(value)
    if answer_type == "option":
        raise BenchmarkFormatError(source, i, key, f"expected an option string such as '(c)', got {value!r}")
    return number_text(value, source, i, key)


def parse_theoremqa(rows: Sequence[Row], source: str, *, benchmark: str = "theoremqa") -> list[Item]:
    items = []
    for i, row in enumerate(rows):
        question = nonempty_field(row, ("Question", "question"), source, i)
        answer_type = nonempty_field(row, ("Answer_type", "answer_type"), source, i).strip()
        answer = theoremqa_answer(field_value(row, ("Answer", "answer"), source, i), answer_type, source, i)
        cot, pot = prompts.theoremqa_prompts(question)
        items.append(
            Item(
                id=str(field_value(row, ("id", "ID"), source, i, default=i)),
                benchmark=benchmark,
                kind="theoremqa",
                family="Math",
                prompt=cot,
                pot_prompt=pot,
                answer=answer,
                meta={"answer_type": answer_type, "question": question, "picture": row.get("Picture"), "row": i},
            )
        )
    return items


def parse_asdiv(rows: Sequence[Row], source: str, *, benchmark: str = "asdiv") -> list[Item]:
    """Lila-layout ASDiv; only rows whose ``split`` is ``test`` (Eurus scores those 618)."""
    items = []
    for i, row in enumerate(rows):
        split = str_field(row, "split", source, i)
        if split != "test":
            continue
        question = nonempty_field(row, "Input", source, i)
        answers = field_value(row, "Output Answer", source, i)
        if not isinstance(answers, list) or not answers:
            raise BenchmarkFormatError(source, i, "Output Answer", f"expected a non-empty list, got {answers!r}")
        raw = str(answers[0]).strip()
        raw = re.sub(r"\s*\(.*\)\s*$", "", raw)  # ASDiv units in parentheses: "9 (apples)"
        answer = canonical_number(raw.replace(",", "")) or raw
        items.append(math_item(benchmark, str(row.get("id", i)), question, answer, "numeric", row=i))
    return items


def parse_gsm_plus(rows: Sequence[Row], source: str, *, benchmark: str = "gsm_plus") -> list[Item]:
    items = []
    for i, row in enumerate(rows):
        question = nonempty_field(row, "question", source, i)
        value = row.get("answer")
        if "answer" not in row:
            raise BenchmarkFormatError(source, i, "answer", "missing")
        answer: str | None
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "")):
            answer = None
        else:
            answer = number_text(str(value).replace(",", ""), source, i, "answer")
        kind_of = str(row.get("perturbation_type", ""))
        items.append(
            math_item(benchmark, str(row.get("id", i)), question, answer, "numeric", row=i, perturbation_type=kind_of)
        )
    return items
