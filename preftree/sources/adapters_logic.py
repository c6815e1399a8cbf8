"""UltraInteract source adapters (logic, plus Magicoder-Evol-Instruct): see conf/sources/ultrainteract.yaml.

Each adapter below states the row layout it reads, how that layout was checked, and where the record
departs from the paper. Layouts were checked against public dataset cards, builder scripts and code
that reads the files (found with the project's search tools; no dataset was downloaded). Field names
that could not be checked are read defensively: an unknown shape becomes a ``RowRejected`` naming the field.

``reclor`` (Logic): ReClor, e.g. ``metaeval/reclor`` or the release's ``train.json`` / ``val.json`` /
``test.json``. Row: ``context`` (str), ``question`` (str), ``answers`` (list of 4 str), ``label``
(option index 0-3), ``id_string`` (str, unused).
  Verified: the Hugging Face card (``reclor`` / ``community-datasets/reclor``) lists exactly these five
  features with ``label`` typed *string*; its builder script (huggingface/datasets,
  ``datasets/reclor/reclor.py``) writes ``str(row.get("label", ""))``, so the release files hold an int
  label and ``test.json`` has none (an empty string on the Hub). Not verified: ``metaeval/reclor``'s
  own columns (assumed the same). The release has no question type per row; a ``question_type`` column,
  if a copy has one, becomes ``pattern``.
  Record: problem = context, a blank line, the question, then one option per line ``A. text`` ..
  ``D. text`` (each option folded onto one line, the layout ``preftree.answers.match.logic_answer`` reads to map
  an answer that repeats an option's text to its letter); answer = the letter. ``label`` may be an int,
  a digit string, or a letter A-D. No label (absent, None or "") -> ``RowSkipped`` ("no label (test
  split)"); a label outside 0-3 -> ``RowRejected("label", ...)``.

``hotpotqa`` (Logic): HotpotQA, ``hotpotqa/hotpot_qa`` config ``distractor`` (or ``fullwiki``). Row:
``id``, ``question``, ``answer`` (str), ``type`` ("comparison" / "bridge"), ``level`` ("easy" /
"medium" / "hard"), ``supporting_facts`` {``title``: [str], ``sent_id``: [int]}, ``context``
{``title``: [str], ``sentences``: [[str]]}. The original release JSON (``hotpot_train_v1.1.json``) is
read too: ``_id``, ``supporting_facts`` as ``[[title, sent_id], ...]`` and ``context`` as
``[[title, [sentences]], ...]``.
  Verified: the Hugging Face card / TFDS community catalog list the features above for ``distractor``
  (``sent_id`` int32, ``sentences`` a sequence of strings; train 90,447 / validation 7,405 rows); the
  pair layout of the release JSON from code that reads ``hotpot_train_v1.1.json`` (``for title,
  sentences in sample["context"]``, ``for title, idx in sample["supporting_facts"]``).
  DEPARTURE from the paper: UltraInteract uses MINT's setting, where the contexts are removed and the
  model answers with a Wikipedia search tool. The sandbox here has no network and ships no search
  tool, so the problem carries the *supporting paragraphs* instead: every context entry whose title
  appears in ``supporting_facts`` (in context order), written as ``Title: <title>`` followed by its
  sentences joined with "" (HotpotQA's sentences keep their leading spaces), then ``Question: ...``.
  The distractor paragraphs are left out. The task is therefore reading comprehension over the gold
  paragraphs, easier than the paper's retrieval setting.
  Record: answer = the answer text (judged by ``preftree.env`` with HotpotQA's exact match after
  ``normalize_text_answer``); pattern = ``type``; difficulty = ``level`` easy/medium/hard -> 1/2/3.
  A row without an answer (the fullwiki test split) -> ``RowSkipped``; a supporting title missing from
  ``context`` -> ``RowRejected("supporting_facts", ...)``.

``strategyqa`` (Logic): StrategyQA, e.g. ``ChilleD/StrategyQA``, ``wics/strategy-qa`` or the release's
``strategyqa_train.json``. Row: ``qid``, ``term``, ``description``, ``question`` (str), ``answer``
(bool), ``facts`` (list of str), ``decomposition`` (list of str).
  Verified: a Hub copy of the release train file (``havens2/strategyQA_train`` card: qid, term,
  description, question, answer bool, facts and decomposition as sequences of strings, 2,290 rows)
  and code that reads ``strategyqa_train.json`` with these fields; code that loads
  ``ChilleD/StrategyQA`` and ``wics/strategy-qa`` reads ``question`` and a bool ``answer``. Not
  verified: whether those two copies keep ``facts`` / ``decomposition`` as lists, so a string is
  accepted too (one paragraph of facts; the decomposition as is), and ``decomposition`` is optional.
  DEPARTURE from the paper: as for HotpotQA, MINT's setting answers with a Wikipedia search tool; here
  the annotated ``facts`` are put in the problem as the context (``Facts:`` then one ``- fact`` per
  line), then ``Question: ...`` and "Answer with yes or no.".
  Record: answer = "yes" / "no" (a bool, or the strings yes/no/true/false); reference =
  ``{"kind": "rationale", "rationale": <decomposition steps, one per line>}`` ("" without one);
  pattern = "", difficulty = None. A row without an answer (``strategyqa_test.json``) -> ``RowSkipped``.

``magicoder_evol_instruct`` (Coding): ``ise-uiuc/Magicoder-Evol-Instruct-110K``
(``data-evol_instruct-decontaminated.jsonl``). Row: ``instruction`` (str), ``response`` (str).
  Verified: the Hub repository holds that one jsonl file; code that reads it uses exactly
  ``line["instruction"]`` and ``line["response"]``.
  Record: problem = instruction; reference = ``{"kind": "text", "text": <response>}`` (the form the
  generic adapter gives free-text references); tests = []; answer = "". The paper has no tests for
  this dataset (GPT-4 Turbo judged correctness). ``preftree.env`` judges Coding only by running tests,
  so it cannot judge these records: every action on them is judged wrong. What to do with them is
  left to the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from preftree.sources.adapters import (
    Adapter,
    Item,
    Row,
    RowRejected,
    RowSkipped,
    get_field,
    is_undecodable,
    reference_json,
    required_text,
    type_name,
)
from preftree.text import normalize_text

LETTERS = "ABCDEFGH"
RECLOR_OPTIONS = 4
HOTPOT_LEVELS = {"easy": 1, "medium": 2, "hard": 3}


def _one_line(text: str) -> str:
    """Normalised text folded onto a single line (whitespace runs collapsed)."""
    return " ".join(normalize_text(text).split())


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# ---------------------------------------------------------------------------------------------
# ReClor


def _reclor_label(value: Any, n_options: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise RowRejected("label", f"wrong type: expected int, got {type_name(value)}")
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit():
            index = int(text)
        elif len(text) == 1 and text.upper() in LETTERS:
            index = LETTERS.index(text.upper())
        else:
            raise RowRejected("label", f"not an option index: {value!r}")
    else:
        index = value
    if not 0 <= index < n_options:
        raise RowRejected("label", f"out of range: {index} not in 0-{n_options - 1}")
    return index


def _reclor_options(row: Row) -> list[str]:
    value = get_field(row, "answers")
    if not isinstance(value, (list, tuple)):
        raise RowRejected("answers", f"wrong type: expected list of str, got {type_name(value)}")
    if not all(isinstance(v, str) for v in value):
        raise RowRejected("answers", "wrong type: expected list of str, got list with non-str items")
    if len(value) != RECLOR_OPTIONS:
        raise RowRejected("answers", f"wrong length: expected {RECLOR_OPTIONS} options, got {len(value)}")
    if any(is_undecodable(v) for v in value):
        raise RowRejected("answers", "undecodable text")
    options = [_one_line(v) for v in value]
    empty = [LETTERS[i] for i, opt in enumerate(options) if not opt]
    if empty:
        raise RowRejected("answers", f"empty option {', '.join(empty)}")
    return options


def _reclor(row: Row, _fields: Mapping[str, str]) -> Item:
    context = required_text(row, "context")
    question = required_text(row, "question")
    options = _reclor_options(row)
    if _blank(row.get("label")):
        raise RowSkipped("label", "no label (test split)")
    index = _reclor_label(row["label"], len(options))
    lines = [f"{LETTERS[i]}. {opt}" for i, opt in enumerate(options)]
    problem = f"{context}\n\n{question}\n" + "\n".join(lines)
    qtype = row.get("question_type")
    pattern = "" if qtype is None or isinstance(qtype, bool) else str(qtype).strip()
    return Item(problem=problem, answer=LETTERS[index], pattern=pattern)


# ---------------------------------------------------------------------------------------------
# HotpotQA


def _pairs(row: Row, key: str, first: str, second: str) -> list[tuple[Any, Any]]:
    """``{first: [...], second: [...]}`` (Hugging Face) or ``[[a, b], ...]`` (release JSON) as pairs."""
    value = get_field(row, key)
    if isinstance(value, Mapping):
        if first not in value or second not in value:
            missing = first if first not in value else second
            raise RowRejected(key, f"wrong shape: no {missing!r} list")
        a, b = value[first], value[second]
        if not isinstance(a, (list, tuple)) or not isinstance(b, (list, tuple)):
            raise RowRejected(key, f"wrong shape: {first!r} and {second!r} must be lists")
        if len(a) != len(b):
            raise RowRejected(key, f"wrong shape: {len(a)} {first} but {len(b)} {second}")
        return list(zip(a, b, strict=True))
    if isinstance(value, (list, tuple)):
        if not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
            raise RowRejected(key, f"wrong shape: expected [{first}, {second}] pairs")
        return [(p[0], p[1]) for p in value]
    raise RowRejected(key, f"wrong type: expected dict or list of pairs, got {type_name(value)}")


def _hotpot_paragraphs(row: Row) -> list[tuple[str, str]]:
    """(title, paragraph) for each context entry named by a supporting fact, in context order."""
    facts = _pairs(row, "supporting_facts", "title", "sent_id")
    if not facts:
        raise RowRejected("supporting_facts", "empty")
    if not all(isinstance(t, str) for t, _ in facts):
        raise RowRejected("supporting_facts", "wrong type: expected str titles")
    context: dict[str, str] = {}
    for title, sentences in _pairs(row, "context", "title", "sentences"):
        ok = isinstance(title, str) and isinstance(sentences, (list, tuple))
        if not ok or not all(isinstance(s, str) for s in sentences):
            raise RowRejected("context", "wrong type: expected str titles and lists of str sentences")
        if is_undecodable(title) or any(is_undecodable(s) for s in sentences):
            raise RowRejected("context", "undecodable text")
        context.setdefault(title, "".join(sentences))
    wanted = {t for t, _ in facts}
    absent = sorted(wanted - set(context))
    if absent:
        raise RowRejected("supporting_facts", f"title not in context: {', '.join(map(repr, absent))}")
    paragraphs = [(normalize_text(t), normalize_text(p)) for t, p in context.items() if t in wanted]
    empty = [t for t, p in paragraphs if not p]
    if empty:
        raise RowRejected("context", f"empty paragraph: {', '.join(map(repr, empty))}")
    return paragraphs


def _hotpotqa(row: Row, _fields: Mapping[str, str]) -> Item:
    question = required_text(row, "question")
    if _blank(row.get("answer")):
        raise RowSkipped("answer", "no answer (test split)")
    answer = required_text(row, "answer").strip()
    paragraphs = _hotpot_paragraphs(row)
    body = "\n\n".join(f"Title: {title}\n{text}" for title, text in paragraphs)
    pattern = required_text(row, "type").strip() if row.get("type") is not None else ""
    difficulty = None
    if row.get("level") is not None:
        level = required_text(row, "level").strip().lower()
        if level not in HOTPOT_LEVELS:
            raise RowRejected("level", f"unknown level {level!r}: expected easy, medium or hard")
        difficulty = HOTPOT_LEVELS[level]
    return Item(problem=f"{body}\n\nQuestion: {question}", answer=answer, pattern=pattern, difficulty=difficulty)


# ---------------------------------------------------------------------------------------------
# StrategyQA


_YES_NO = {"yes": "yes", "true": "yes", "no": "no", "false": "no"}


def _strategyqa_answer(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        if value.strip().lower() in _YES_NO:
            return _YES_NO[value.strip().lower()]
        raise RowRejected("answer", f"not a yes/no answer: {value!r}")
    raise RowRejected("answer", f"wrong type: expected bool, got {type_name(value)}")


def _text_or_list(row: Row, key: str) -> list[str]:
    """A list of str (empty items dropped) or a single str, as a list of normalised one-line items."""
    value = get_field(row, key)
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        items = list(value)
    else:
        got = "list with non-str items" if isinstance(value, (list, tuple)) else type_name(value)
        raise RowRejected(key, f"wrong type: expected list of str, got {got}")
    if any(is_undecodable(v) for v in items):
        raise RowRejected(key, "undecodable text")
    return [_one_line(v) for v in items if v.strip()]


def _strategyqa(row: Row, _fields: Mapping[str, str]) -> Item:
    question = required_text(row, "question")
    if row.get("answer") is None:
        raise RowSkipped("answer", "no answer (test split)")
    answer = _strategyqa_answer(row["answer"])
    facts = _text_or_list(row, "facts")
    if not facts:
        raise RowRejected("facts", "empty")
    steps = _text_or_list(row, "decomposition") if row.get("decomposition") is not None else []
    problem = "Facts:\n" + "\n".join(f"- {fact}" for fact in facts)
    problem += f"\n\nQuestion: {question}\nAnswer with yes or no."
    reference = reference_json("rationale", rationale="\n".join(steps)) if steps else ""
    return Item(problem=problem, answer=answer, reference=reference)


# ---------------------------------------------------------------------------------------------
# Magicoder-Evol-Instruct


def _magicoder_evol_instruct(row: Row, _fields: Mapping[str, str]) -> Item:
    problem = required_text(row, "instruction")
    response = required_text(row, "response", normalize=False)
    return Item(problem=problem, reference=reference_json("text", text=response))


ADAPTERS: dict[str, Adapter] = {
    "reclor": Adapter("reclor", ("Logic",), _reclor),
    "hotpotqa": Adapter("hotpotqa", ("Logic",), _hotpotqa),
    "strategyqa": Adapter("strategyqa", ("Logic",), _strategyqa),
    "magicoder_evol_instruct": Adapter("magicoder_evol_instruct", ("Coding",), _magicoder_evol_instruct),
}
