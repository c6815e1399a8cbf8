"""ReClor, HotpotQA, StrategyQA and Magicoder-Evol-Instruct adapters on rows in their source layouts,
through ``load_source`` and through the environment's Logic judge."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from preftree.compose import from_conf
from preftree.config.sandbox import SandboxParams
from preftree.env import evaluate_actions
from preftree.schema import INSTRUCTION_SCHEMA, REJECTED_SCHEMA
from preftree.sources.adapters import Item, Rejection, is_skip
from preftree.sources.adapters_logic import ADAPTERS
from preftree.sources.load import load_source
from preftree.sources.registry import ADAPTERS as ALL_ADAPTERS

from .conftest import file_source

# ---------------------------------------------------------------------------------------------
# fixture rows, in the sources' own layouts

RECLOR_ROW: dict[str, Any] = {  # the release's train.json / val.json (int label)
    "context": "Every gardener in the club grows tomatoes. Maria grows no tomatoes.",
    "question": "Which one of the following must be true?",
    "answers": [
        "Maria grows peppers.",
        "Every tomato grower is a gardener.",
        "Maria is not a gardener in the club.",
        "Some gardeners in the club\ngrow peppers.",
    ],
    "label": 2,
    "id_string": "train_0",
}
RECLOR_OPTION_C = "Maria is not a gardener in the club."

HOTPOT_ROW: dict[str, Any] = {  # hotpotqa/hotpot_qa, config distractor
    "id": "5a7a06935542990198eaf050",
    "question": "Which landmark was designed by the company of the engineer born in Dijon?",
    "answer": "Eiffel Tower",
    "type": "bridge",
    "level": "hard",
    "supporting_facts": {"title": ["Gustave Eiffel", "Eiffel Tower"], "sent_id": [0, 1]},
    "context": {
        "title": ["Dijon", "Gustave Eiffel", "Eiffel Tower"],
        "sentences": [
            ["Dijon is a city in France.", " It is known for mustard."],
            ["Gustave Eiffel was an engineer born in Dijon.", " His company built many bridges."],
            ["The Eiffel Tower is in Paris.", " It was designed by Eiffel's company."],
        ],
    },
}

STRATEGY_ROW: dict[str, Any] = {  # strategyqa_train.json
    "qid": "8f1e3b",
    "term": "Hamster",
    "description": "subfamily of rodents",
    "question": "Do hamsters provide food for any animals?",
    "answer": True,
    "facts": ["Hamsters are prey animals.", "Prey animals provide food for predators."],
    "decomposition": ["What type of animal are hamsters?", "Do #1 provide food for any animals?"],
}

MAGICODER_ROW: dict[str, Any] = {
    "instruction": "Write a Python function that reverses a string.",
    "response": "```python\ndef reverse(s):\n    return s[::-1]\n```\n",
}


def item(adapter: str, row: dict[str, Any]) -> Item:
    result = ADAPTERS[adapter].adapt(row)
    assert isinstance(result, Item), result
    return result


def rejection(adapter: str, row: dict[str, Any]) -> Rejection:
    result = ADAPTERS[adapter].adapt(row)
    assert isinstance(result, Rejection), result
    return result


def changed(row: dict[str, Any], **updates: Any) -> dict[str, Any]:
    out = copy.deepcopy(row)
    for key, value in updates.items():
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def load_one(tmp_path: Path, adapter: str, rows: list[dict[str, Any]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    path = tmp_path / f"{adapter}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    records, rejected = load_source(adapter, file_source(adapter=adapter, path=str(path)))
    assert records.schema == INSTRUCTION_SCHEMA and rejected.schema == REJECTED_SCHEMA
    return records, rejected


def judge(record: dict[str, Any], action: str) -> bool:
    (obs,) = evaluate_actions(record, [action], limits=from_conf(SandboxParams, "sandbox"))
    assert obs.mode == "cot" and obs.status == "not_run"
    return obs.correct


def test_registered() -> None:
    for name in ("reclor", "hotpotqa", "strategyqa", "magicoder_evol_instruct"):
        assert ALL_ADAPTERS[name] is ADAPTERS[name]
    assert ADAPTERS["magicoder_evol_instruct"].default_tasks == ("Coding",)
    assert all(ADAPTERS[n].default_tasks == ("Logic",) for n in ("reclor", "hotpotqa", "strategyqa"))


# ---------------------------------------------------------------------------------------------
# ReClor


def test_reclor_record() -> None:
    got = item("reclor", RECLOR_ROW)
    assert got.problem == (
        "Every gardener in the club grows tomatoes. Maria grows no tomatoes.\n\n"
        "Which one of the following must be true?\n"
        "A. Maria grows peppers.\n"
        "B. Every tomato grower is a gardener.\n"
        "C. Maria is not a gardener in the club.\n"
        "D. Some gardeners in the club grow peppers."  # folded onto one line
    )
    assert (got.answer, got.pattern, got.difficulty, got.tests, got.reference) == ("C", "", None, [], "")


@pytest.mark.parametrize("label", [2, "2", "C", "c"])
def test_reclor_label_forms(label: Any) -> None:
    # the Hugging Face builder stores the label as a string
    assert item("reclor", changed(RECLOR_ROW, label=label)).answer == "C"


def test_reclor_question_type_is_pattern() -> None:
    assert item("reclor", changed(RECLOR_ROW, question_type="Necessary Assumptions")).pattern == (
        "Necessary Assumptions"
    )


@pytest.mark.parametrize("label", [..., None, "", "  "])
def test_reclor_test_split_is_skipped(label: Any) -> None:
    rej = rejection("reclor", changed(RECLOR_ROW, label=label))
    assert is_skip(rej) and rej.field == "label" and rej.reason.endswith("no label (test split)")


@pytest.mark.parametrize(
    ("updates", "field", "reason"),
    [
        ({"label": 4}, "label", "out of range: 4 not in 0-3"),
        ({"label": -1}, "label", "out of range: -1 not in 0-3"),
        ({"label": "7"}, "label", "out of range: 7 not in 0-3"),
        ({"label": "E"}, "label", "out of range: 4 not in 0-3"),
        ({"label": "first"}, "label", "not an option index: 'first'"),
        ({"label": True}, "label", "wrong type: expected int, got bool"),
        ({"label": 1.5}, "label", "wrong type: expected int, got float"),
        ({"answers": ["a", "b", "c"]}, "answers", "wrong length: expected 4 options, got 3"),
        ({"answers": "A. x"}, "answers", "wrong type: expected list of str, got str"),
        ({"answers": ["a", "b", 3, "d"]}, "answers", "wrong type: expected list of str, got list with non-str items"),
        ({"answers": ["a", " ", "c", "d"]}, "answers", "empty option B"),
        ({"answers": ["a", "b\ud800", "c", "d"]}, "answers", "undecodable text"),
        ({"answers": ...}, "answers", "missing"),
        ({"context": ...}, "context", "missing"),
        ({"question": ""}, "question", "empty"),
        ({"context": 3}, "context", "wrong type: expected str, got int"),
    ],
)
def test_reclor_rejects(updates: dict[str, Any], field: str, reason: str) -> None:
    rej = rejection("reclor", changed(RECLOR_ROW, **updates))
    assert not is_skip(rej) and (rej.field, rej.reason) == (field, reason)


def test_reclor_load_and_judge(tmp_path: Path) -> None:
    test_row = changed(RECLOR_ROW, label=..., id_string="test_0")
    records, rejected = load_one(tmp_path, "reclor", [RECLOR_ROW, test_row, changed(RECLOR_ROW, label=9)])
    assert records.height == 1 and set(records["task"]) == {"Logic"}
    record = records.row(0, named=True)
    assert record["answer"] == "C" and record["problem"] == item("reclor", RECLOR_ROW).problem
    assert record["instruction"].endswith(record["problem"])
    assert rejected.select("source_row", "field").rows() == [(2, "label"), (3, "label")]  # JSONL line numbers
    assert rejected["reason"][0].endswith("no label (test split)")
    assert rejected["reason"][1] == "out of range: 9 not in 0-3"

    assert judge(record, "The club's gardeners all grow tomatoes; Maria does not.\nAnswer: C")
    assert not judge(record, "Answer: A")
    assert judge(record, f"Maria cannot be one of them.\nAnswer: {RECLOR_OPTION_C}")
    assert not judge(record, "Answer: Maria grows peppers.")


# ---------------------------------------------------------------------------------------------
# HotpotQA


HOTPOT_PROBLEM = (
    "Title: Gustave Eiffel\n"
    "Gustave Eiffel was an engineer born in Dijon. His company built many bridges.\n\n"
    "Title: Eiffel Tower\n"
    "The Eiffel Tower is in Paris. It was designed by Eiffel's company.\n\n"
    "Question: Which landmark was designed by the company of the engineer born in Dijon?"
)


def test_hotpotqa_record() -> None:
    got = item("hotpotqa", HOTPOT_ROW)
    assert got.problem == HOTPOT_PROBLEM  # supporting paragraphs only, in context order; no distractor
    assert "Dijon is a city" not in got.problem
    assert (got.answer, got.pattern, got.difficulty, got.tests, got.reference) == ("Eiffel Tower", "bridge", 3, [], "")


def test_hotpotqa_release_json_layout() -> None:
    release = changed(
        HOTPOT_ROW,
        id=...,
        _id="5a7a06935542990198eaf050",
        supporting_facts=[["Gustave Eiffel", 0], ["Eiffel Tower", 1], ["Eiffel Tower", 0]],
        context=[list(pair) for pair in zip(*HOTPOT_ROW["context"].values(), strict=True)],
    )
    assert item("hotpotqa", release) == item("hotpotqa", HOTPOT_ROW)


@pytest.mark.parametrize(("level", "difficulty"), [("easy", 1), ("medium", 2), ("hard", 3), ("Hard", 3)])
def test_hotpotqa_levels(level: str, difficulty: int) -> None:
    assert item("hotpotqa", changed(HOTPOT_ROW, level=level)).difficulty == difficulty


@pytest.mark.parametrize("answer", [..., None, ""])
def test_hotpotqa_without_answer_is_skipped(answer: Any) -> None:
    rej = rejection("hotpotqa", changed(HOTPOT_ROW, answer=answer))
    assert is_skip(rej) and rej.field == "answer" and rej.reason.endswith("no answer (test split)")


@pytest.mark.parametrize(
    ("updates", "field", "reason"),
    [
        ({"level": "extreme"}, "level", "unknown level 'extreme': expected easy, medium or hard"),
        ({"level": 2}, "level", "wrong type: expected str, got int"),
        ({"answer": 5}, "answer", "wrong type: expected str, got int"),
        ({"question": ...}, "question", "missing"),
        ({"supporting_facts": ...}, "supporting_facts", "missing"),
        ({"supporting_facts": {"title": [], "sent_id": []}}, "supporting_facts", "empty"),
        (
            {"supporting_facts": {"title": ["Paris"], "sent_id": [0]}},
            "supporting_facts",
            "title not in context: 'Paris'",
        ),
        (
            {"supporting_facts": {"title": ["Eiffel Tower"], "sent_id": [0, 1]}},
            "supporting_facts",
            "wrong shape: 1 title but 2 sent_id",
        ),
        ({"supporting_facts": {"title": ["Eiffel Tower"]}}, "supporting_facts", "wrong shape: no 'sent_id' list"),
        (
            {"supporting_facts": "Eiffel Tower"},
            "supporting_facts",
            "wrong type: expected dict or list of pairs, got str",
        ),
        ({"context": [["Eiffel Tower"]]}, "context", "wrong shape: expected [title, sentences] pairs"),
        (
            {"context": {"title": ["Gustave Eiffel", "Eiffel Tower"], "sentences": ["x", "y"]}},
            "context",
            "wrong type: expected str titles and lists of str sentences",
        ),
    ],
)
def test_hotpotqa_rejects(updates: dict[str, Any], field: str, reason: str) -> None:
    rej = rejection("hotpotqa", changed(HOTPOT_ROW, **updates))
    assert not is_skip(rej) and (rej.field, rej.reason) == (field, reason)


def test_hotpotqa_load_and_judge(tmp_path: Path) -> None:
    other = changed(HOTPOT_ROW, id="b", answer="Notre-Dame de Paris", type="comparison", level="easy")
    bad = changed(HOTPOT_ROW, supporting_facts={"title": ["Lyon"], "sent_id": [0]})
    records, rejected = load_one(tmp_path, "hotpotqa", [HOTPOT_ROW, other, bad])
    assert records.height == 2 and set(records["task"]) == {"Logic"}
    first, second = (records.row(i, named=True) for i in range(2))
    assert (first["problem"], first["answer"], first["pattern"], first["difficulty"]) == (
        HOTPOT_PROBLEM,
        "Eiffel Tower",
        "bridge",
        3,
    )
    assert (second["answer"], second["pattern"], second["difficulty"]) == ("Notre-Dame de Paris", "comparison", 1)
    assert rejected.select("source_row", "field", "reason").rows() == [
        (3, "supporting_facts", "title not in context: 'Lyon'")
    ]

    assert judge(first, "Eiffel's company designed it.\nAnswer: the Eiffel Tower")
    assert not judge(second, "Answer: the Eiffel Tower")
    assert not judge(first, "Answer: Notre-Dame de Paris")


# ---------------------------------------------------------------------------------------------
# StrategyQA


STRATEGY_PROBLEM = (
    "Facts:\n"
    "- Hamsters are prey animals.\n"
    "- Prey animals provide food for predators.\n\n"
    "Question: Do hamsters provide food for any animals?\n"
    "Answer with yes or no."
)


def test_strategyqa_record() -> None:
    got = item("strategyqa", STRATEGY_ROW)
    assert got.problem == STRATEGY_PROBLEM
    assert (got.answer, got.pattern, got.difficulty, got.tests) == ("yes", "", None, [])
    assert json.loads(got.reference) == {
        "kind": "rationale",
        "rationale": "What type of animal are hamsters?\nDo #1 provide food for any animals?",
    }


@pytest.mark.parametrize(("answer", "expected"), [(True, "yes"), (False, "no"), ("Yes", "yes"), ("false", "no")])
def test_strategyqa_answers(answer: Any, expected: str) -> None:
    assert item("strategyqa", changed(STRATEGY_ROW, answer=answer)).answer == expected


def test_strategyqa_string_facts_and_no_decomposition() -> None:
    got = item(
        "strategyqa",
        changed(
            STRATEGY_ROW, facts="Hamsters are prey animals. Prey animals provide food for predators.", decomposition=...
        ),
    )
    assert got.problem.startswith("Facts:\n- Hamsters are prey animals. Prey animals provide food for predators.\n\n")
    assert got.reference == ""


def test_strategyqa_test_split_is_skipped() -> None:
    rej = rejection("strategyqa", {"qid": "x", "question": "Is the sky blue?"})  # strategyqa_test.json layout
    assert is_skip(rej) and rej.field == "answer" and rej.reason.endswith("no answer (test split)")


@pytest.mark.parametrize(
    ("updates", "field", "reason"),
    [
        ({"answer": 1}, "answer", "wrong type: expected bool, got int"),
        ({"answer": "maybe"}, "answer", "not a yes/no answer: 'maybe'"),
        ({"facts": ...}, "facts", "missing"),
        ({"facts": []}, "facts", "empty"),
        ({"facts": ["ok", 3]}, "facts", "wrong type: expected list of str, got list with non-str items"),
        ({"facts": {"a": 1}}, "facts", "wrong type: expected list of str, got dict"),
        ({"decomposition": 7}, "decomposition", "wrong type: expected list of str, got int"),
        ({"question": " "}, "question", "empty"),
    ],
)
def test_strategyqa_rejects(updates: dict[str, Any], field: str, reason: str) -> None:
    rej = rejection("strategyqa", changed(STRATEGY_ROW, **updates))
    assert not is_skip(rej) and (rej.field, rej.reason) == (field, reason)


def test_strategyqa_load_and_judge(tmp_path: Path) -> None:
    rows = [STRATEGY_ROW, {"qid": "t1", "question": "Is the sky blue?"}, changed(STRATEGY_ROW, answer="maybe")]
    records, rejected = load_one(tmp_path, "strategyqa", rows)
    assert records.height == 1 and set(records["task"]) == {"Logic"}
    record = records.row(0, named=True)
    assert (record["problem"], record["answer"]) == (STRATEGY_PROBLEM, "yes")
    assert json.loads(record["reference"])["kind"] == "rationale"
    assert rejected.select("source_row", "field").rows() == [(2, "answer"), (3, "answer")]

    assert judge(record, "Hamsters are prey, and prey feed predators.\nAnswer: Yes")
    assert not judge(record, "Answer: no")
    assert judge(record, "Answer: True")


# ---------------------------------------------------------------------------------------------
# Magicoder-Evol-Instruct


def test_magicoder_record_and_load(tmp_path: Path) -> None:
    got = item("magicoder_evol_instruct", MAGICODER_ROW)
    assert got.problem == MAGICODER_ROW["instruction"]
    assert (got.answer, got.tests, got.pattern, got.difficulty) == ("", [], "", None)
    assert json.loads(got.reference) == {"kind": "text", "text": MAGICODER_ROW["response"]}  # not normalised

    bad = [{"instruction": "Do X."}, {"instruction": "", "response": "y"}, {"instruction": 1, "response": "y"}]
    records, rejected = load_one(tmp_path, "magicoder_evol_instruct", [MAGICODER_ROW, *bad])
    assert records.height == 1 and records["task"].to_list() == ["Coding"]
    assert records["tests"].to_list() == [[]] and records["answer"].to_list() == [""]
    assert rejected.select("source_row", "field", "reason").rows() == [
        (2, "response", "missing"),
        (3, "instruction", "empty"),
        (4, "instruction", "wrong type: expected str, got int"),
    ]
