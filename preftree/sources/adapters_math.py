"""UltraInteract source adapters (math): MathQA, NumGLUE and TabMWP; see conf/sources/ultrainteract.yaml.

``mathqa`` (Math_CoT, Math_PoT): Hugging Face ``allenai/math_qa`` rows ``Problem``, ``Rationale``,
``options`` (one string, ``"a ) 38 , b ) 27.675 , c ) 30 , d ) data inadequate , e ) none of these"``;
a list of ``"a ) 38"`` items or its ``repr`` is read too), ``correct`` (``"a"``..``"e"``),
``annotated_formula``, ``linear_formula`` (``"multiply(n0,n1)|divide(#0,const_100)|"``), ``category``.
Verified: the column names and types against the dataset card (docs search) and ``math_qa.py``.
UltraInteract poses the problem WITHOUT its options and judges a number, so the answer is the value of
the correct option: currency words/signs (``rs .``, ``$``) and unit words dropped, thousands separators
removed (``"rs . 1,200"`` -> ``"1200"``), ``"5 / 8"`` -> ``"5/8"``, ``"25 %"`` -> ``"25%"``. An option that
is not exactly one number plus unit words (``"none of these"``, ``"2 : 3"``, ``"5 and 6"``, ``"2 √ 3"``,
a variable such as ``"x"``, or a number whose meaning hangs on a word such as ``loss`` / ``gain``,
``more`` / ``less``, ``am`` / ``pm``) cannot be judged without the options: the row is skipped
(``RowSkipped("correct", ...)``). pattern = ``annotated_formula`` (the paper's <= 5 per formula cap,
``select.caps.per_pattern_by_dataset``; "" when absent, i.e. uncapped); difficulty = the number of
operations in ``linear_formula`` (its non-empty ``|``-separated steps; None when absent); reference =
the rationale (one enclosing pair of double quotes, as MathQA stores it, removed). ``category`` unused.

``numglue`` (Math_CoT, Math_PoT): ``NumGLUE_{train,dev,test}.json`` from github.com/allenai/numglue,
JSON Lines despite the suffix (``files.read_rows`` reads that). Every row has ``type``
(``"Type_1"``..``"Type_8"``). Verified (code search: two independent NumGLUE loaders, ``num_glue_input``
/ ``num_glue_output``, and a dataset-analysis docstring quoting a raw Type_7 row): Type_1/2/4/8
``question`` + ``answer``; Type_3 ``question`` + ``Option1`` + ``Option2`` + ``answer`` naming the option
(``"Option 1"``, read as ``row[answer.replace(" ", "")]``); Type_5/6 ``passage`` + ``question`` + ``answer``
object (``number`` / ``spans``; ``date``); Type_7 ``statement1`` + ``statement2`` + ``options``
(``" Entailment or contradiction or neutral?"``) + ``answer``. Not verified: whether numeric answers are
JSON numbers or strings (both read; a non-numeric string is kept as text, any other type rejected) and
the exact Type_3 answer spelling (``"Option 1"``, ``"Option1"``, ``1``/``2`` or the option text itself
are accepted; anything else is rejected naming ``answer``). Types 5, 6, 7 are skipped (the paper drops
them) before their fields are read. Type_3's problem is the question followed by
``Options: "<Option1>" or "<Option2>"`` (no letters, since Math answers are not judged by letter) and its
answer is the option text. pattern = the type (``"Type_3"``); difficulty None; no reference.

``tabmwp`` (Math_PoT only, "w/ tool"): ``problems_{train,dev,test}.json`` from github.com/lupantech/PromptPG
``data/tabmwp/``: one JSON object keyed by problem id (``"1"``, ``"2"``, ...), each value ``question``,
``choices`` (list or null), ``answer`` (str), ``unit`` (str or null), ``table_title``, ``table`` (pipe
text), ``table_for_pd``, ``row_num``, ``column_num``, ``solution``, ``ques_type`` (``free_text`` /
``multi_choice``), ``ans_type`` (``integer_number``, ``decimal_number``, ``extractive_text``,
``boolean_text``, ``other_text``), ``grade`` (1-8), ``split``. Verified: field names and an example row
(a dataset provenance note found by code search) and PromptPG's ``run_gpt3_rl/base_prompt.py`` /
``utilities.py`` (read from the stored repository). ``files.read_rows`` reads the id-keyed object as
pandas ``orient="index"``: rows in numeric id order, the id itself is not passed to the adapter (the
record keeps ``source_row``). The problem is PromptPG's ``TQ`` input without the trailing ``Answer:``:
``Table: [TITLE]: <title>\\n<table>\\nQuestion: <question> (Unit: <unit>)\\nOptions: (A) x (B) y``
(title, unit and options only when present). answer = the answer string; a number loses a leading
``$`` and its thousands separators and is made canonical (``"$1,000.50"`` -> ``"1000.5"``), fractions
(``"3/4"``) and text (``"7:25 P.M."``, ``"yes"``) stay as written; a multi_choice answer must be one of
the choices. difficulty = ``grade`` (the select stage's per-dataset filter keeps the paper's levels);
pattern = ``ans_type`` (finer than ``ques_type``, which it implies); reference = ``solution``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping

from preftree.answers.core import canonical_number
from preftree.sources.adapters import (
    Adapter,
    Item,
    Row,
    RowRejected,
    RowSkipped,
    difficulty_level,
    get_field,
    is_undecodable,
    optional_text,
    reference_json,
    required_text,
)

# ---------------------------------------------------------------------------------------------
# MathQA

_MQ_MARKER = re.compile(r"(?:^|(?<=,))\s*['\"]?([a-eA-E])\s*\)\s*")
_MQ_ITEM = re.compile(r"\s*([a-eA-E])\s*\)\s*(.*?)\s*", re.DOTALL)
_CURRENCY = re.compile(r"\b(?:rs|inr|usd|dollars?|rupees?|euros?)\b\s*\.?|[$€£¥₹]")
_NUM_TOKEN = r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+"
_NUM = re.compile(rf"(?:{_NUM_TOKEN})(?:/(?:{_NUM_TOKEN}))?")
_UNIT_TOKEN = re.compile(r"[a-z]+\.?|\.|/|'s?|°[cf]?")
# words that make a lone number ambiguous or not the answer (a variable, a direction, a time of day)
_BLOCKED = {
    "x", "y", "z", "n", "k", "a", "b", "c", "p", "q", "r", "t", "e", "i", "pi", "sqrt", "root", "log",
    "loss", "gain", "profit", "increase", "decrease", "more", "less", "faster", "slower", "older", "younger",
    "greater", "smaller", "above", "below", "upstream", "downstream", "before", "after", "am", "pm", "a.m.",
    "p.m.", "noon", "midnight", "north", "south", "east", "west", "left", "right", "none", "not",
}  # fmt: skip


def _mathqa_options(row: Row) -> dict[str, str]:
    """``{letter: option text}`` from ``options`` (the string form, a list of items, or its repr)."""
    value = get_field(row, "options")
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            raise RowRejected("options", "no options found") from None
    if isinstance(value, (list, tuple)):
        if not all(isinstance(v, str) for v in value):
            raise RowRejected("options", "wrong type: expected list of str, got list with non-str items")
        items = [_MQ_ITEM.fullmatch(v) for v in value]
        if not value or any(m is None for m in items):
            raise RowRejected("options", "no options found")
        pairs = [(m.group(1), m.group(2)) for m in items if m is not None]
    elif isinstance(value, str):
        marks = list(_MQ_MARKER.finditer(value))
        if not marks:
            raise RowRejected("options", "no options found")
        ends = [m.start() for m in marks[1:]] + [len(value)]
        pairs = [(m.group(1), value[m.end() : end]) for m, end in zip(marks, ends, strict=True)]
    else:
        raise RowRejected("options", f"wrong type: expected str, got {type(value).__name__}")
    if any(is_undecodable(text) for _, text in pairs):
        raise RowRejected("options", "undecodable text")
    options: dict[str, str] = {}
    for letter, text in pairs:
        key = letter.lower()
        if key in options:
            raise RowRejected("options", f"option {key!r} given twice")
        options[key] = text.strip().rstrip(",").strip().strip("'\"[]").strip()
    if len(options) < 2:
        raise RowRejected("options", "no options found")
    return options


def _canonical_fraction(token: str) -> str | None:
    if "/" not in token:
        return canonical_number(token)
    num, den = (canonical_number(part) for part in token.split("/", 1))
    if num is None or den is None or float(den) == 0:
        return None
    return f"{num}/{den}"


def option_value(text: str) -> str | None:
    """The number a MathQA option states ("rs . 1,200" -> "1200", "5 / 8" -> "5/8", "25 %" -> "25%"),
    or None when it is not exactly one number plus unit words."""
    s = _CURRENCY.sub(" ", text.lower())
    percent = "%" in s or re.search(r"\bper\s*cent\b|\bpercent\b", s) is not None
    s = re.sub(r"%|\bper\s*cent\b|\bpercent\b", " ", s)
    s = re.sub(r"(\d)\s*/\s*(-?\s*[\d.])", r"\1/\2", s)  # "5 / 8" -> "5/8"
    s = re.sub(r"(^|\s)-\s+(?=[\d.])", r"\1-", s)  # "- 5" -> "-5"
    s = re.sub(r"(\d)([a-z])", r"\1 \2", s)  # "12km" -> "12 km"
    if re.search(r"\.\s+\d", s):  # ". 5": a split decimal point or a sentence end: unclear
        return None
    numbers: list[str] = []
    for token in s.split():
        if _NUM.fullmatch(token):
            numbers.append(token)
        elif not _UNIT_TOKEN.fullmatch(token) or token.rstrip(".") in _BLOCKED or token in _BLOCKED:
            return None
    if len(numbers) != 1:
        return None
    value = _canonical_fraction(numbers[0].replace(",", ""))
    if value is None:
        return None
    return value + "%" if percent else value


def _mathqa(row: Row, _fields: Mapping[str, str]) -> Item:
    problem = required_text(row, "Problem")
    options = _mathqa_options(row)
    correct = required_text(row, "correct").strip().lower().strip("()").strip()
    if correct not in options:
        raise RowRejected("correct", f"no option {correct!r} in options ({', '.join(options)})")
    answer = option_value(options[correct])
    if answer is None:
        raise RowSkipped("correct", f"option {correct} {options[correct]!r} is not a single number: needs the options")
    rationale = optional_text(row, "Rationale").strip()
    if len(rationale) >= 2 and rationale[0] == rationale[-1] == '"':
        rationale = rationale[1:-1].strip()
    linear = optional_text(row, "linear_formula")
    steps = [s for s in linear.split("|") if s.strip()]
    reference = reference_json("rationale", rationale=rationale) if rationale else ""
    return Item(problem=problem, answer=answer, reference=reference,
                pattern=optional_text(row, "annotated_formula").strip(), difficulty=len(steps) or None)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# NumGLUE

NUMGLUE_DROPPED = {
    5: "reading comprehension + explicit numerical reasoning",
    6: "reading comprehension + implicit numerical reasoning",
    7: "quantitative NLI",
}


def _numglue_type(row: Row) -> int:
    raw = required_text(row, "type")
    m = re.fullmatch(r"\s*type[_ ]?([1-8])\s*", raw, flags=re.IGNORECASE)
    if m is None:
        raise RowRejected("type", f"unknown NumGLUE type {raw!r}; expected Type_1..Type_8")
    return int(m.group(1))


def _numglue_answer(row: Row) -> str:
    value = get_field(row, "answer")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        answer = canonical_number(value)
        if answer is None:
            raise RowRejected("answer", "no answer found")
        return answer
    if isinstance(value, str):
        text = required_text(row, "answer").strip()
        return canonical_number(text) or text
    raise RowRejected("answer", f"wrong type: expected number or str, got {type(value).__name__}")


def _numglue_option(row: Row, options: dict[str, str]) -> str:
    value = get_field(row, "answer")
    if isinstance(value, int) and not isinstance(value, bool) and value in (1, 2):
        return options[f"Option{value}"]
    if not isinstance(value, str):
        raise RowRejected("answer", f"wrong type: expected str, got {type(value).__name__}")
    key = re.sub(r"\s+", "", value).lower()
    for name, text in options.items():
        if key in (name.lower(), name[-1]) or value.strip().casefold() == text.casefold():
            return text
    raise RowRejected("answer", f"not an option: {value!r} (expected 'Option 1' or 'Option 2')")


def _numglue(row: Row, _fields: Mapping[str, str]) -> Item:
    kind = _numglue_type(row)
    pattern = f"Type_{kind}"
    if kind in NUMGLUE_DROPPED:
        raise RowSkipped("type", f"NumGLUE {pattern} ({NUMGLUE_DROPPED[kind]}) is dropped by the paper")
    question = required_text(row, "question")
    if kind == 3:
        options = {key: required_text(row, key).strip() for key in ("Option1", "Option2")}
        answer = _numglue_option(row, options)
        problem = f'{question}\nOptions: "{options["Option1"]}" or "{options["Option2"]}"'
        return Item(problem=problem, answer=answer, pattern=pattern)
    return Item(problem=question, answer=_numglue_answer(row), pattern=pattern)


# ---------------------------------------------------------------------------------------------
# TabMWP

TABMWP_OPTION_INDS = ("A", "B", "C", "D", "E", "F")  # PromptPG's default --option_inds
_TAB_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+")


def tabmwp_answer(text: str) -> str:
    """A TabMWP answer for ``answers_match``: numbers canonical without ``$`` / thousands separators."""
    s = text.strip()
    core = re.sub(r"^([+-]?)\$\s*", r"\1", s)
    if _TAB_NUMBER.fullmatch(core):
        return canonical_number(core) or s
    return s


def _tabmwp_choices(row: Row) -> list[str]:
    value = row.get("choices")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        got = type(value).__name__ if not isinstance(value, list) else "list with non-str items"
        raise RowRejected("choices", f"wrong type: expected list of str, got {got}")
    if any(is_undecodable(c) for c in value):
        raise RowRejected("choices", "undecodable text")
    if len(value) > len(TABMWP_OPTION_INDS):
        raise RowRejected("choices", f"{len(value)} choices; at most {len(TABMWP_OPTION_INDS)} expected")
    return [c.strip() for c in value]


def _tabmwp(row: Row, _fields: Mapping[str, str]) -> Item:
    question = required_text(row, "question")
    table = required_text(row, "table")
    title = optional_text(row, "table_title").strip()
    unit = optional_text(row, "unit").strip()
    ques_type = required_text(row, "ques_type").strip()
    if ques_type not in ("free_text", "multi_choice"):
        raise RowRejected("ques_type", f"unknown value {ques_type!r}; expected free_text or multi_choice")
    choices = _tabmwp_choices(row)
    if ques_type == "multi_choice" and not choices:
        raise RowRejected("choices", "missing" if row.get("choices") is None else "empty")
    raw_answer = required_text(row, "answer").strip()
    if choices and raw_answer not in choices:
        raise RowRejected("answer", f"not one of the choices: {raw_answer!r}")
    grade = get_field(row, "grade")
    difficulty = difficulty_level(grade)
    if difficulty is None:
        raise RowRejected("grade", f"wrong type: expected int, got {type(grade).__name__}")
    parts = [f"Table: [TITLE]: {title}\n{table}" if title else f"Table: {table}"]
    parts.append(f"Question: {question}" + (f" (Unit: {unit})" if unit else ""))
    if choices:
        parts.append("Options: " + " ".join(f"({i}) {c}" for i, c in zip(TABMWP_OPTION_INDS, choices, strict=False)))
    solution = optional_text(row, "solution").strip()
    return Item(problem="\n".join(parts), answer=tabmwp_answer(raw_answer),
                reference=reference_json("rationale", rationale=solution) if solution else "",
                pattern=optional_text(row, "ans_type").strip(), difficulty=difficulty)  # fmt: skip


ADAPTERS: dict[str, Adapter] = {
    "mathqa": Adapter("mathqa", ("Math_CoT", "Math_PoT"), _mathqa),
    "numglue": Adapter("numglue", ("Math_CoT", "Math_PoT"), _numglue),
    "tabmwp": Adapter("tabmwp", ("Math_PoT",), _tabmwp),
}
