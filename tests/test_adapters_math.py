"""MathQA, NumGLUE and TabMWP adapters on rows in their source layouts, end to end through ``load_source``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from preftree.answers.match import answers_match
from preftree.schema import INSTRUCTION_SCHEMA, REJECTED_SCHEMA
from preftree.sources.adapters import SKIPPED, Item, Rejection, is_skip
from preftree.sources.adapters_math import option_value, tabmwp_answer
from preftree.sources.load import load_source
from preftree.sources.registry import ADAPTERS

from .conftest import file_source


def adapt(adapter: str, row: dict[str, Any]) -> Item | Rejection:
    return ADAPTERS[adapter].adapt(row)


def item(adapter: str, row: dict[str, Any]) -> Item:
    result = adapt(adapter, row)
    assert isinstance(result, Item), result
    return result


def rejection(adapter: str, row: dict[str, Any]) -> Rejection:
    result = adapt(adapter, row)
    assert isinstance(result, Rejection), result
    return result


def load(adapter: str, path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    records, rejected = load_source(adapter, file_source(adapter=adapter, path=str(path)))
    assert records.schema == INSTRUCTION_SCHEMA and rejected.schema == REJECTED_SCHEMA
    return records, rejected


def test_registered_with_default_tasks() -> None:
    assert ADAPTERS["mathqa"].default_tasks == ("Math_CoT", "Math_PoT")
    assert ADAPTERS["numglue"].default_tasks == ("Math_CoT", "Math_PoT")
    assert ADAPTERS["tabmwp"].default_tasks == ("Math_PoT",)


# ---------------------------------------------------------------------------------------------
# MathQA (allenai/math_qa)


def mathqa_row(**kw: Any) -> dict[str, Any]:
    row = {
        "Problem": "the banker ' s gain of a certain sum due 3 years hence at 10 % per annum is rs . 36 . "
        "what is the present worth ?",
        "Rationale": '"explanation : t = 3 years r = 10 % td = ( bg × 100 ) / tr = ( 36 × 100 ) / ( 3 × 10 ) '
        "= 12 × 10 = rs . 120 td = ( pw × tr ) / 100 ⇒ 120 = ( pw × 3 × 10 ) / 100 ⇒ 1200 = pw × 3 pw = 1200 "
        '/ 3 = rs . 400 answer : option a"',
        "options": "a ) rs . 400 , b ) rs . 300 , c ) rs . 500 , d ) rs . 350 , e ) none of these",
        "correct": "a",
        "annotated_formula": "divide(multiply(const_100, divide(multiply(36, const_100), multiply(3, 10))), "
        "multiply(3, 10))",
        "linear_formula": "multiply(n2,const_100)|multiply(n0,n1)|divide(#0,#1)|multiply(#2,const_100)|divide(#3,#1)|",
        "category": "gain",
    }
    row.update(kw)
    return row


def test_mathqa_answer_is_the_correct_options_number() -> None:
    got = item("mathqa", mathqa_row())
    assert got.problem.startswith("the banker ' s gain") and "rs . 400" not in got.problem  # posed without options
    assert got.answer == "400"
    assert got.pattern.startswith("divide(multiply(const_100")
    assert got.difficulty == 5  # five operations in linear_formula
    ref = json.loads(got.reference)
    assert ref["kind"] == "rationale" and ref["rationale"].startswith("explanation :")
    assert not ref["rationale"].endswith('"')
    assert got.tests == []


@pytest.mark.parametrize(
    ("options", "correct", "answer"),
    [
        ("a ) 38 , b ) 27.675 , c ) 30 , d ) data inadequate , e ) none of these", "b", "27.675"),
        ("a ) rs . 1,200 , b ) rs . 1,500 , c ) rs . 1,800 , d ) rs . 2,000 , e ) rs . 2,100", "a", "1200"),
        ("a ) 1 / 8 , b ) 5 / 8 , c ) 3 / 8 , d ) 7 / 8 , e ) 1 / 2", "b", "5/8"),
        ("a ) 20 % , b ) 25 % , c ) 30 % , d ) 35 % , e ) 40 %", "b", "25%"),
        ("a ) 45 km / hr , b ) 50 km / hr , c ) 54 km / hr , d ) 60 km / hr , e ) 72 km / hr", "e", "72"),
        ("a ) - 4 , b ) - 2 , c ) 0 , d ) 2 , e ) 4", "A", "-4"),
        ("['a ) 38', 'b ) 27.675', 'c ) 30', 'd ) 12', 'e ) 10']", "c", "30"),  # list repr
    ],
)
def test_mathqa_option_values(options: str, correct: str, answer: str) -> None:
    assert item("mathqa", mathqa_row(options=options, correct=correct)).answer == answer


def test_mathqa_options_as_a_list() -> None:
    got = item("mathqa", mathqa_row(options=["a ) 12", "b ) 14", "c ) 16"], correct="b"))
    assert got.answer == "14"


@pytest.mark.parametrize(
    ("options", "correct", "what"),
    [
        ("a ) 38 , b ) 27.675 , c ) 30 , d ) data inadequate , e ) none of these", "e", "'none of these'"),
        ("a ) 38 , b ) 27.675 , c ) 30 , d ) data inadequate , e ) none of these", "d", "'data inadequate'"),
        ("a ) 2 : 3 , b ) 3 : 4 , c ) 4 : 5 , d ) 1 : 2 , e ) 5 : 6", "a", "'2 : 3'"),
        ("a ) 5 and 6 , b ) 6 and 7 , c ) 7 and 8 , d ) 8 and 9 , e ) 9 and 10", "c", "'7 and 8'"),
        ("a ) 2 √ 3 , b ) 3 √ 2 , c ) 6 , d ) 4 , e ) 8", "a", "'2 √ 3'"),
        ("a ) 5 % loss , b ) 5 % gain , c ) 10 % loss , d ) 10 % gain , e ) none", "b", "'5 % gain'"),
    ],
)
def test_mathqa_non_numeric_option_is_skipped(options: str, correct: str, what: str) -> None:
    rej = rejection("mathqa", mathqa_row(options=options, correct=correct))
    assert is_skip(rej) and rej.field == "correct"
    assert rej.reason == f"{SKIPPED}option {correct} {what} is not a single number: needs the options"


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"Problem": None}, "Problem", "missing"),
        ({"Problem": "  "}, "Problem", "empty"),
        ({"Problem": 7}, "Problem", "wrong type: expected str, got int"),
        ({"Problem": "bad \ud800 text"}, "Problem", "undecodable text"),
        ({"options": None}, "options", "missing"),
        ({"options": 5}, "options", "wrong type: expected str, got int"),
        ({"options": "38 , 27 , 30"}, "options", "no options found"),
        ({"options": "a ) 1 , a ) 2 , b ) 3"}, "options", "option 'a' given twice"),
        ({"options": [1, 2]}, "options", "wrong type: expected list of str, got list with non-str items"),
        ({"correct": "f"}, "correct", "no option 'f' in options (a, b, c, d, e)"),
        ({"correct": None}, "correct", "missing"),
        ({"Rationale": 3}, "Rationale", "wrong type: expected str, got int"),
        ({"annotated_formula": ["x"]}, "annotated_formula", "wrong type: expected str, got list"),
    ],
)
def test_mathqa_rejections_name_the_field(change: dict[str, Any], field: str, reason: str) -> None:
    rej = rejection("mathqa", mathqa_row(**change))
    assert (rej.field, rej.reason) == (field, reason) and not is_skip(rej)


def test_mathqa_optional_columns() -> None:
    got = item("mathqa", mathqa_row(Rationale=None, annotated_formula=None, linear_formula=None))
    assert (got.reference, got.pattern, got.difficulty) == ("", "", None)


def test_option_value_units_and_ambiguity() -> None:
    assert option_value("36 sq . m") == "36"
    assert option_value("$ 12.50") == "12.5"
    assert option_value("12km") == "12"
    assert option_value("3 x") is None  # a variable
    assert option_value("10 am") is None  # a time of day
    assert option_value(". 5") is None  # a split decimal point
    assert option_value("1 / 0") is None


def test_mathqa_answers_match_the_judge() -> None:
    rows = {
        "1200": mathqa_row(options="a ) rs . 1,200 , b ) rs . 1,500 , c ) 3 , d ) 4 , e ) 5", correct="a"),
        "5/8": mathqa_row(options="a ) 1 / 8 , b ) 5 / 8 , c ) 3 / 8", correct="b"),
        "25%": mathqa_row(options="a ) 20 % , b ) 25 % , c ) 30 %", correct="b"),
    }
    for expected, row in rows.items():
        truth = item("mathqa", row).answer
        assert truth == expected
    assert answers_match("1200", "1200") and answers_match("1,200", "1200") and answers_match("1200 rupees", "1200")
    assert answers_match("\\frac{5}{8}", "5/8") and answers_match("0.625", "5/8")
    assert answers_match("25", "25%") and answers_match("25\\%", "25%")
    assert not answers_match("1500", "1200") and not answers_match("\\frac{3}{8}", "5/8")
    assert not answers_match("30", "25%")


def test_mathqa_load_source_jsonl(tmp_path: Path) -> None:
    rows = [
        mathqa_row(),
        mathqa_row(options="a ) 38 , b ) 27.675 , c ) 30 , d ) data inadequate , e ) none of these", correct="e"),
        mathqa_row(correct="z"),
        mathqa_row(Problem="a train 120 m long passes a pole in 6 seconds . find its speed in km / hr .",
                   options="a ) 45 , b ) 50 , c ) 72 , d ) 80 , e ) 90", correct="c",
                   annotated_formula="multiply(divide(120, 6), const_3_6)",
                   linear_formula="divide(n0,n1)|multiply(#0,const_3_6)|"),
    ]  # fmt: skip
    path = tmp_path / "mathqa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    records, rejected = load("mathqa", path)
    assert records.height == 4 and records["source_row"].to_list() == [1, 1, 4, 4]  # JSONL: line numbers
    assert records["task"].to_list() == ["Math_CoT", "Math_PoT"] * 2
    assert records["answer"].to_list() == ["400", "400", "72", "72"]
    assert records["difficulty"].to_list() == [5, 5, 2, 2]
    assert records["pattern"][2] == "multiply(divide(120, 6), const_3_6)"
    assert records["instruction"][0].startswith("Solve the following math problem step-by-step.")
    assert records["instruction"][1].startswith("Tool available:")
    assert records["dataset"].unique().to_list() == ["mathqa"]
    got = {(r["source_row"], r["field"], r["reason"]) for r in rejected.iter_rows(named=True)}
    assert got == {
        (2, "correct", f"{SKIPPED}option e 'none of these' is not a single number: needs the options"),
        (3, "correct", "no option 'z' in options (a, b, c, d, e)"),
    }
    assert all(json.loads(raw)["Problem"] for raw in rejected["raw"])


# ---------------------------------------------------------------------------------------------
# NumGLUE (allenai/numglue, JSON Lines named .json)

NUMGLUE_ROWS: list[dict[str, Any]] = [
    {"question": "A man can lift one box in each of his hands. How many boxes can a group of 5 people hold in total?",
     "answer": 10, "type": "Type_1"},
    {"question": "Find molecular weight of BaO", "answer": "153.33", "type": "Type_2"},
    {"question": "Jeff and Marie both pushed a toy car with the same force. Jeff's car went 20 m and Marie's "
                 "went 12 m. Whose car was lighter?", "Option1": "Jeff's car", "Option2": "Marie's car",
     "answer": "Option 1", "type": "Type_3"},
    {"question": "John had 5 apples. He gave 3 to Peter. John has _____ apples now.", "answer": "2", "type": "Type_4"},
    {"passage": "The Bears scored 14 points in the first half and 7 in the second.",
     "question": "How many points did the Bears score?",
     "answer": {"number": "21", "date": {"day": "", "month": "", "year": ""}, "spans": []}, "type": "Type_5"},
    {"passage": "In 1990 the city had 1,000 people.", "question": "Which year was the count taken?",
     "answer": {"number": "", "date": {"day": "", "month": "", "year": ""}, "spans": ["1990"]}, "type": "Type_6"},
    {"statement1": "Patrick has a locker with a less than 8 number combination",
     "statement2": "Patrick has a locker with a 3 number combination",
     "options": " Entailment or contradiction or neutral?", "answer": "neutral", "type": "Type_7"},
    {"question": "Sam had 9 dimes in his bank. His dad gave him 7 dimes. How many dimes does Sam have now?",
     "answer": 16.0, "type": "Type_8"},
]  # fmt: skip


def test_numglue_numeric_types() -> None:
    got = {
        row["type"]: item("numglue", row)
        for row in NUMGLUE_ROWS
        if row["type"] in ("Type_1", "Type_2", "Type_4", "Type_8")
    }
    assert {t: i.answer for t, i in got.items()} == {"Type_1": "10", "Type_2": "153.33", "Type_4": "2", "Type_8": "16"}
    assert {t: i.pattern for t, i in got.items()} == {t: t for t in got}
    assert got["Type_4"].problem == "John had 5 apples. He gave 3 to Peter. John has _____ apples now."
    assert all(i.difficulty is None and i.reference == "" and i.tests == [] for i in got.values())


def test_numglue_option_type_lists_the_options_and_answers_with_text() -> None:
    got = item("numglue", NUMGLUE_ROWS[2])
    assert got.problem.endswith('Whose car was lighter?\nOptions: "Jeff\'s car" or "Marie\'s car"')
    assert got.answer == "Jeff's car" and got.pattern == "Type_3"
    for spelled in ("Option2", "option 2", 2, "Marie's car"):
        assert item("numglue", {**NUMGLUE_ROWS[2], "answer": spelled}).answer == "Marie's car"
    assert answers_match("Jeff's car", got.answer) and answers_match("\\text{Jeff's car}", got.answer)
    assert not answers_match("Marie's car", got.answer)


@pytest.mark.parametrize(
    ("index", "reason"),
    [
        (4, "NumGLUE Type_5 (reading comprehension + explicit numerical reasoning) is dropped by the paper"),
        (5, "NumGLUE Type_6 (reading comprehension + implicit numerical reasoning) is dropped by the paper"),
        (6, "NumGLUE Type_7 (quantitative NLI) is dropped by the paper"),
    ],
)
def test_numglue_types_5_to_7_are_skipped(index: int, reason: str) -> None:
    rej = rejection("numglue", NUMGLUE_ROWS[index])
    assert is_skip(rej) and (rej.field, rej.reason) == ("type", SKIPPED + reason)


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        ({"question": "q?", "answer": 1}, "type", "missing"),
        ({"question": "q?", "answer": 1, "type": 3}, "type", "wrong type: expected str, got int"),
        ({"question": "q?", "answer": 1, "type": "Type_9"}, "type",
         "unknown NumGLUE type 'Type_9'; expected Type_1..Type_8"),
        ({"answer": 1, "type": "Type_1"}, "question", "missing"),
        ({"question": "", "answer": 1, "type": "Type_1"}, "question", "empty"),
        ({"question": "q?", "type": "Type_1"}, "answer", "missing"),
        ({"question": "q?", "answer": " ", "type": "Type_8"}, "answer", "empty"),
        ({"question": "q?", "answer": {"number": "3"}, "type": "Type_1"}, "answer",
         "wrong type: expected number or str, got dict"),
        ({"question": "q?", "answer": True, "type": "Type_2"}, "answer",
         "wrong type: expected number or str, got bool"),
        ({**NUMGLUE_ROWS[2], "Option2": None}, "Option2", "missing"),
        ({**NUMGLUE_ROWS[2], "answer": "Option 3"}, "answer",
         "not an option: 'Option 3' (expected 'Option 1' or 'Option 2')"),
        ({**NUMGLUE_ROWS[2], "answer": 1.5}, "answer", "wrong type: expected str, got float"),
    ],
)  # fmt: skip
def test_numglue_rejections_name_the_field(row: dict[str, Any], field: str, reason: str) -> None:
    rej = rejection("numglue", row)
    assert (rej.field, rej.reason) == (field, reason) and not is_skip(rej)


def test_numglue_answers_match_the_judge() -> None:
    assert answers_match("10", item("numglue", NUMGLUE_ROWS[0]).answer)
    assert answers_match("\\boxed{153.33}", item("numglue", NUMGLUE_ROWS[1]).answer)
    assert answers_match("16 dimes", item("numglue", NUMGLUE_ROWS[7]).answer)
    assert not answers_match("15", item("numglue", NUMGLUE_ROWS[7]).answer)


def test_numglue_load_source_jsonl_named_json(tmp_path: Path) -> None:
    path = tmp_path / "NumGLUE_train.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in NUMGLUE_ROWS), encoding="utf-8")
    records, rejected = load("numglue", path)
    assert records["source_row"].unique(maintain_order=True).to_list() == [1, 2, 3, 4, 8]  # JSONL: line numbers
    assert records.height == 10 and set(records["task"]) == {"Math_CoT", "Math_PoT"}
    assert records.filter(pl.col("task") == "Math_CoT")["answer"].to_list() == ["10", "153.33", "Jeff's car", "2", "16"]
    assert records.filter(pl.col("task") == "Math_PoT")["pattern"].to_list() == [
        "Type_1",
        "Type_2",
        "Type_3",
        "Type_4",
        "Type_8",
    ]
    assert rejected["source_row"].to_list() == [5, 6, 7]
    assert rejected["field"].to_list() == ["type"] * 3
    assert all(r.startswith(SKIPPED + "NumGLUE Type_") for r in rejected["reason"])


# ---------------------------------------------------------------------------------------------
# TabMWP (PromptPG problems_*.json: an object keyed by problem id)


def tab_row(**kw: Any) -> dict[str, Any]:
    row = {
        "question": "Some friends discussed the sizes of their coin collections. What is the mean of the numbers?",
        "choices": None,
        "answer": "84",
        "unit": None,
        "table_title": "Coin collections",
        "table": "Name | Number of coins\nBraden | 76\nCamilla | 94\nRick | 86\nMary | 84\nHector | 80\n"
        "Devin | 83\nEmily | 82\nAvery | 87",
        "table_for_pd": {"Name": ["Braden", "Camilla"], "Number of coins": ["76", "94"]},
        "row_num": 9,
        "column_num": 2,
        "solution": "Read the numbers from the table.\n\n76, 94, 86, 84, 80, 83, 82, 87\n\n"
        "First, count how many numbers are in the group.\n\nThere are 8 numbers.\n\n672 ÷ 8 = 84\n\nThe mean is 84.",
        "ques_type": "free_text",
        "ans_type": "integer_number",
        "grade": 5,
        "split": "train",
    }
    row.update(kw)
    return row


def choice_row(**kw: Any) -> dict[str, Any]:
    row = tab_row(
        question="At a price of $325, is there a shortage or a surplus?",
        choices=["shortage", "surplus"],
        answer="shortage",
        table_title="",
        table="Price | Quantity demanded | Quantity supplied\n$325 | 10,600 | 7,900\n$405 | 9,100 | 9,900",
        solution="At the price of $325, the quantity demanded is greater than the quantity supplied. "
        "There is not enough of the good or service for sale at that price. So, there is a shortage.",
        ques_type="multi_choice",
        ans_type="extractive_text",
        grade=4,
    )
    row.update(kw)
    return row


def test_tabmwp_free_text_problem_as_promptpg_formats_it() -> None:
    got = item("tabmwp", tab_row())
    assert got.problem == (
        "Table: [TITLE]: Coin collections\nName | Number of coins\nBraden | 76\nCamilla | 94\nRick | 86\nMary | 84\n"
        "Hector | 80\nDevin | 83\nEmily | 82\nAvery | 87\n"
        "Question: Some friends discussed the sizes of their coin collections. What is the mean of the numbers?"
    )
    assert (got.answer, got.pattern, got.difficulty) == ("84", "integer_number", 5)
    ref = json.loads(got.reference)
    assert ref["kind"] == "rationale" and ref["rationale"].endswith("The mean is 84.")


def test_tabmwp_unit_and_multi_choice() -> None:
    with_unit = item("tabmwp", tab_row(question="How much money does Tina need?", unit="$", answer="$1,000.50",
                                       ans_type="decimal_number"))  # fmt: skip
    assert with_unit.problem.endswith("Question: How much money does Tina need? (Unit: $)")
    assert with_unit.answer == "1000.5" and with_unit.pattern == "decimal_number"
    got = item("tabmwp", choice_row())
    assert got.problem.startswith("Table: Price | Quantity demanded")  # no title
    assert got.problem.endswith(
        "Question: At a price of $325, is there a shortage or a surplus?\nOptions: (A) shortage (B) surplus"
    )
    assert (got.answer, got.pattern, got.difficulty) == ("shortage", "extractive_text", 4)


@pytest.mark.parametrize(
    ("raw", "answer"),
    [("84", "84"), ("1,000", "1000"), ("$56.40", "56.4"), ("-3", "-3"), ("3/4", "3/4"), ("7:25 P.M.", "7:25 P.M."),
     ("yes", "yes"), ("10,600", "10600")],
)  # fmt: skip
def test_tabmwp_answer_canonical(raw: str, answer: str) -> None:
    assert tabmwp_answer(raw) == answer


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        (tab_row(question=None), "question", "missing"),
        (tab_row(table=""), "table", "empty"),
        (tab_row(answer=84), "answer", "wrong type: expected str, got int"),
        (tab_row(grade=None), "grade", "missing"),
        (tab_row(grade="hard"), "grade", "wrong type: expected int, got str"),
        (tab_row(ques_type="essay"), "ques_type", "unknown value 'essay'; expected free_text or multi_choice"),
        (tab_row(ques_type="multi_choice"), "choices", "missing"),
        (tab_row(choices="yes or no"), "choices", "wrong type: expected list of str, got str"),
        (choice_row(answer="equilibrium"), "answer", "not one of the choices: 'equilibrium'"),
        (tab_row(unit=5), "unit", "wrong type: expected str, got int"),
    ],
)
def test_tabmwp_rejections_name_the_field(row: dict[str, Any], field: str, reason: str) -> None:
    rej = rejection("tabmwp", row)
    assert (rej.field, rej.reason) == (field, reason) and not is_skip(rej)


def test_tabmwp_answers_match_the_judge() -> None:
    assert answers_match("84", item("tabmwp", tab_row()).answer)
    assert answers_match("84.0", item("tabmwp", tab_row()).answer)
    money = item("tabmwp", tab_row(answer="$1,000.50")).answer
    assert answers_match("$1,000.50", money) and answers_match("1000.5", money) and not answers_match("1000", money)
    frac = item("tabmwp", tab_row(answer="3/4")).answer
    assert answers_match("0.75", frac) and answers_match("\\frac{3}{4}", frac)
    yes = item("tabmwp", choice_row(choices=["yes", "no"], answer="yes")).answer
    assert answers_match("yes", yes) and answers_match("Yes", yes) and not answers_match("no", yes)
    assert not answers_match("surplus", item("tabmwp", choice_row()).answer)


def test_tabmwp_load_source_id_keyed_object(tmp_path: Path) -> None:
    problems = {"16": tab_row(), "2": choice_row(), "7": tab_row(grade=None)}
    path = tmp_path / "problems_train.json"
    path.write_text(json.dumps(problems), encoding="utf-8")
    records, rejected = load("tabmwp", path)
    # rows come in numeric id order (2, 7, 16); the id itself is not a record column
    assert records["task"].to_list() == ["Math_PoT", "Math_PoT"]
    assert records["source_row"].to_list() == [0, 2]
    assert records["answer"].to_list() == ["shortage", "84"]
    assert records["difficulty"].to_list() == [4, 5]
    assert records["pattern"].to_list() == ["extractive_text", "integer_number"]
    assert records["instruction"][0].startswith("Tool available:") and records["problem"][1].startswith(
        "Table: [TITLE]"
    )
    assert rejected.select("source_row", "field", "reason").rows() == [(1, "grade", "missing")]
