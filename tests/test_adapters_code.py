"""CodeContests / TACO / WikiTableQuestions adapters, and real sandboxed judging of their records.

Fixture rows are written inline in the Hugging Face column layouts (see ``preftree.sources.adapters_code``
and ``preftree.sources.adapters_table``).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from preftree import sandbox_stdio
from preftree.compose import from_conf
from preftree.config.sandbox import SandboxParams
from preftree.env import evaluate_actions
from preftree.observation import syntax_ok
from preftree.schema import parse_stdio_test, stdio_test
from preftree.sources.adapters import Item, Rejection
from preftree.sources.adapters_code import MAX_CASES, TACO_PRELUDE
from preftree.sources.adapters_table import render_table, table_columns
from preftree.sources.load import load_source
from preftree.sources.registry import ADAPTERS

from .conftest import file_source

LIMITS = from_conf(SandboxParams, "sandbox")


def fence(code: str, after: str = "") -> str:
    return f"Step 1: Solve it.\n```python\n{code}\n```\n{after}"


def as_record(item: Item) -> dict[str, Any]:
    return {"task": "Coding", "answer": item.answer, "tests": list(item.tests), "problem": item.problem,
            "reference": item.reference, "id": "t"}  # fmt: skip


def adapt(name: str, row: dict[str, Any]) -> Item:
    result = ADAPTERS[name].adapt(row)
    assert isinstance(result, Item), result
    return result


def rejection(name: str, row: dict[str, Any]) -> tuple[str, str]:
    result = ADAPTERS[name].adapt(row)
    assert isinstance(result, Rejection), result
    return result.field, result.reason


# ---------------------------------------------------------------------------------------------
# the stdio encoding


def test_stdio_encoding_round_trips_and_is_not_python() -> None:
    case = stdio_test("1 2\n", "3\n")
    assert case == '%%stdio\n{"input": "1 2\\n", "output": "3\\n"}'
    assert parse_stdio_test(case) == ("1 2\n", "3\n")
    assert parse_stdio_test("assert f(1) == 2") is None
    assert parse_stdio_test(stdio_test("é\n", "")) == ("é\n", "")
    assert not syntax_ok(case)  # a stdio case handed to a snippet runner fails, never passes as a no-op
    with pytest.raises(ValueError, match="malformed stdio test case"):
        parse_stdio_test('%%stdio\n{"input": "1"}')
    with pytest.raises(ValueError, match="invalid JSON"):
        parse_stdio_test("%%stdio\nnot json")


def test_mixed_snippets_and_stdio_cases_are_a_malformed_record() -> None:
    record = {"task": "Coding", "answer": "", "tests": ["assert True", stdio_test("1", "1")], "reference": "{}"}
    with pytest.raises(ValueError, match=r"mix 1 stdio case\(s\) with 1 Python snippet"):
        evaluate_actions(record, [fence("print(1)")], limits=LIMITS)


# ---------------------------------------------------------------------------------------------
# CodeContests

CC_PY3 = "import sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b)\nexit()\n"


def cc_row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": "1_A. A+B",
        "description": "Given two integers a and b, print a + b.\n\nInput\n\nOne line: a and b.\n\nOutput\n\na + b.",
        "public_tests": {"input": ["1 2\n"], "output": ["3\n"]},
        "private_tests": {"input": ["10 20\n", "1 2\n"], "output": ["30\n", "3\n"]},
        "generated_tests": {"input": [f"{i} {i}\n" for i in range(20)], "output": [f"{2 * i}\n" for i in range(20)]},
        "source": 2,
        "difficulty": 1,
        "solutions": {
            "language": [2, 1, 3, 3],
            "solution": ["#include <cstdio>\nint main(){}", "print sum(map(int, raw_input().split()))", CC_PY3, "x"],
        },
        "incorrect_solutions": {"language": [3], "solution": ["print(0)"]},
        "cf_contest_id": 1,
        "cf_index": "A",
        "cf_points": 500.0,
        "cf_rating": 800,
        "cf_tags": ["math"],
        "is_description_translated": False,
        "untranslated_description": "",
        "time_limit": {"seconds": 2, "nanos": 0},
        "memory_limit_bytes": 256000000,
        "input_file": "",
        "output_file": "",
    }
    row.update(over)
    return row


def test_codecontests_item() -> None:
    item = adapt("codecontests", cc_row())
    assert item.problem.startswith("Given two integers a and b, print a + b.\n\nInput")
    cases = [parse_stdio_test(t) for t in item.tests]
    # public first, then private (the repeated input "1 2" once), then generated, capped at MAX_CASES
    assert len(cases) == MAX_CASES == 10
    assert cases[:3] == [("1 2\n", "3\n"), ("10 20\n", "30\n"), ("0 0\n", "0\n")]
    assert cases[-1] == ("7 7\n", "14\n")
    assert json.loads(item.reference) == {"kind": "code", "code": CC_PY3, "entry_point": "", "language": "python3"}
    assert (item.pattern, item.difficulty, item.answer) == ("codeforces", 1, "")


def test_codecontests_enums_by_name_and_list_layout() -> None:
    row = cc_row(
        source="ATCODER",
        difficulty=9,  # the Codeforces letter C: not a global difficulty
        public_tests=[{"input": "5 5\n", "output": "10\n"}],
        private_tests=None,
        generated_tests={"input": [], "output": []},
        solutions=[{"language": "PYTHON", "solution": "print sum([1])"}, {"language": "PYTHON", "solution": CC_PY3}],
    )
    item = adapt("codecontests", row)
    assert [parse_stdio_test(t) for t in item.tests] == [("5 5\n", "10\n")]
    assert (item.pattern, item.difficulty) == ("atcoder", None)
    ref = json.loads(item.reference)
    assert ref["language"] == "python2" and ref["code"] == CC_PY3  # the Python 2 solution that compiles
    assert adapt("codecontests", cc_row(difficulty="HARDER", source=0)).difficulty == 4
    assert adapt("codecontests", cc_row(source=0)).pattern == ""


def test_codecontests_skips_and_rejections() -> None:
    cpp_only = cc_row(solutions={"language": [2, 4], "solution": ["int main(){}", "class A {}"]})
    assert rejection("codecontests", cpp_only) == ("solutions", "skipped: no Python solution")
    no_tests = cc_row(
        public_tests={"input": [], "output": []}, private_tests={"input": [], "output": []}, generated_tests=None
    )
    assert rejection("codecontests", no_tests) == ("public_tests", "skipped: no test cases")
    assert rejection("codecontests", cc_row(description=3)) == ("description", "wrong type: expected str, got int")
    assert rejection("codecontests", cc_row(description="  ")) == ("description", "empty")
    bad = cc_row(public_tests={"input": ["1\n", "2\n"], "output": ["1\n"]})
    assert rejection("codecontests", bad) == ("public_tests", "2 input values but 1 output values")
    assert rejection("codecontests", cc_row(public_tests=None)) == ("public_tests", "missing")
    field, reason = rejection("codecontests", cc_row(private_tests={"input": [1], "output": ["1"]}))
    assert (field, reason) == (
        "private_tests",
        "wrong type: expected list of str for input, got list with non-str items",
    )
    assert rejection("codecontests", cc_row(solutions="print(1)"))[0] == "solutions"
    assert rejection("codecontests", cc_row(generated_tests={"input": ["\ud800"], "output": ["1"]})) == (
        "generated_tests",
        "undecodable text",
    )


def test_codecontests_judging_right_wrong_timeout() -> None:
    record = as_record(adapt("codecontests", cc_row()))
    wrong = "a, b = map(int, input().split())\nprint(a + b + (a == 10))"
    error = "a, b = map(int, input().split())\nprint(a + b // (a - 1))"
    right, bad, crash = evaluate_actions(record, [fence(CC_PY3), fence(wrong), fence(error)], limits=LIMITS, workers=3)
    assert right.correct and (right.status, right.mode) == ("ok", "pot")
    assert right.text == "Out: Passed all 10 test cases.\nYour answer is correct."
    assert not bad.correct and bad.status == "failed"
    assert bad.text == (
        "Out: Wrong answer on test case 2 of 10.\nInput:\n10 20\nExpected output:\n30\nYour output:\n31\n"
        "Your answer is wrong."
    )
    assert not crash.correct and crash.status == "error"
    assert crash.text.startswith("Out: Runtime error on test case 1 of 10.\nInput:\n1 2\nTraceback")
    assert 'File "<solution>", line 2' in crash.text and "ZeroDivisionError" in crash.text
    assert crash.text.endswith("\nYour answer is wrong.")
    (slow,) = evaluate_actions(
        record, [fence("while True:\n    pass")], limits=from_conf(SandboxParams, "sandbox", timeout_s=1.0)
    )
    assert not slow.correct and slow.status == "timeout"
    assert slow.text == (
        "Out: TimeoutError: execution exceeded 1.0 s on test case 1 of 10\nInput:\n1 2\nYour answer is wrong."
    )


def test_stdio_judging_details() -> None:
    tests = [stdio_test("3\n", "0.333333333\n1 2 3\n"), stdio_test("", "YES\n")]
    record = {"task": "Coding", "answer": "", "tests": tests, "reference": "{}"}
    fine = (
        "import sys, threading\n"
        "def main():\n"
        "    data = sys.stdin.buffer.read().split()\n"
        "    if not data:\n"
        "        sys.stdout.write('YES')\n"
        "        sys.exit(0)\n"
        "    n = int(data[0])\n"
        "    print('%.7f' % (1 / n))\n"
        "    print(*range(1, n + 1), sep='   ')\n"
        "if __name__ == '__main__':\n"
        "    threading.Thread(target=main).start()\n"
    )
    early = "import os\nos._exit(0)"
    nonzero = "import sys\nprint(1)\nsys.exit(2)"
    silent = "pass"
    obs = evaluate_actions(record, [fence(fine), fence(early), fence(nonzero), fence(silent)], limits=LIMITS, workers=4)
    assert obs[0].correct, obs[0].text  # 1e-6 tolerance, any whitespace, threads joined, sys.exit(0)
    assert not obs[1].correct and obs[1].status == "failed"
    assert obs[1].text.startswith("Out: Error: the program stopped before all test cases ran (during test case 1 of 2)")
    assert not obs[2].correct and obs[2].status == "error"
    assert "Runtime error on test case 1 of 2." in obs[2].text and "Your output:\n1\nSystemExit: 2" in obs[2].text
    assert "Your output:\n(no output)\n" in obs[3].text and obs[3].status == "failed"


def test_run_stdio_captures_every_way_of_printing() -> None:
    program = (
        "import os, sys\nprint('a', end=' ')\nsys.stdout.flush()\nos.write(1, b'b ')\nsys.stdout.buffer.write(b'c')"
    )
    run = sandbox_stdio.run_stdio(program, [("", "a b c")], limits=LIMITS)
    assert run.passed and run.finished and run.running is None
    assert [(o.index, o.verdict, o.got) for o in run.outcomes] == [(0, "ok", "a b c")]
    assert run.result.stdout == ""  # only the driver's report lines reached the real stdout


# ---------------------------------------------------------------------------------------------
# TACO

TWO_SUM = (
    "class Solution:\n"
    "    def twoSum(self, nums: List[int], target: int) -> List[int]:\n"
    "        seen = {}\n"
    "        for i, x in enumerate(nums):\n"
    "            if target - x in seen:\n"
    "                return [seen[target - x], i]\n"
    "            seen[x] = i\n"
)


def taco_row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "question": "Read n and print n squared.\n\n-----Input-----\n\nOne integer n.",
        "solutions": json.dumps(["n = int(input())\nprint(n * n)\n", "print(int(input()) ** 2)"]),
        "starter_code": "",
        "input_output": json.dumps({"inputs": ["2\n", ["3"], "2\n"], "outputs": ["4\n", ["9"], "4\n"]}),
        "difficulty": "MEDIUM_HARD",
        "raw_tags": "['Math']",
        "name": None,
        "source": "codeforces",
        "tags": "['Mathematics']",
        "skill_types": "[]",
        "url": "https://codeforces.com/problemset/problem/1/A",
        "Expected Auxiliary Space": None,
        "time_limit": None,
        "date": "2020-01-01",
        "picture_num": "0",
        "memory_limit": None,
        "Expected Time Complexity": None,
    }
    row.update(over)
    return row


def leetcode_row() -> dict[str, Any]:
    return taco_row(
        question="Given an array nums and a target, return the indices of the two numbers adding up to target.",
        starter_code="class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        ",
        solutions=json.dumps([TWO_SUM]),
        input_output=json.dumps(
            {"fn_name": "twoSum", "inputs": [[[2, 7, 11, 15], 9], [[3, 2, 4], 6]], "outputs": [[0, 1], [1, 2]]}
        ),
        difficulty="EASY",
        source="leetcode",
    )


def codewars_row() -> dict[str, Any]:
    return taco_row(
        question="Write a function `add` returning the sum of its two arguments.",
        starter_code="def add(a, b):\n\t",
        solutions=json.dumps(["def add(a, b):\n    return a + b"]),
        input_output=json.dumps({"fn_name": "add", "inputs": [[1, 2], [[1], [2]]], "outputs": [[3], [[1, 2]]]}),
        difficulty="UNKNOWN_DIFFICULTY",
        source="codewars",
    )


def test_taco_stdio_item() -> None:
    item = adapt("taco", taco_row())
    assert item.problem == "Read n and print n squared.\n\n-----Input-----\n\nOne integer n."
    assert [parse_stdio_test(t) for t in item.tests] == [("2\n", "4\n"), ("3", "9")]  # lists joined, repeat dropped
    ref = json.loads(item.reference)
    assert ref == {"kind": "code", "code": TACO_PRELUDE + "\nn = int(input())\nprint(n * n)\n", "entry_point": ""}
    assert (item.pattern, item.difficulty) == ("codeforces", 3)
    (obs,) = evaluate_actions(as_record(item), [fence(ref["code"])], limits=LIMITS)
    assert obs.correct, obs.text


def test_taco_call_based_items() -> None:
    item = adapt("taco", leetcode_row())
    starter = "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:"
    assert item.problem.endswith("\n\nfrom typing import List\n\n" + starter)
    assert item.tests[0].startswith("def _preftree_call(name, args, expected):")
    assert item.tests[1:] == ["_preftree_call('twoSum', [[2, 7, 11, 15], 9], [0, 1])",
                              "_preftree_call('twoSum', [[3, 2, 4], 6], [1, 2])"]  # fmt: skip
    assert json.loads(item.reference)["entry_point"] == "twoSum" and item.difficulty == 1
    plain = adapt("taco", codewars_row())
    assert plain.tests[1:] == ["_preftree_call('add', [1, 2], [3])", "_preftree_call('add', [[1], [2]], [[1, 2]])"]
    assert plain.difficulty is None and plain.pattern == "codewars"
    assert plain.problem.endswith("\n\ndef add(a, b):")


def test_taco_call_based_judging() -> None:
    leet = as_record(adapt("taco", leetcode_row()))
    good = "from typing import List\n" + TWO_SUM
    as_tuple = good.replace("return [seen[target - x], i]", "return (seen[target - x], i)")
    wrong = good.replace("return [seen[target - x], i]", "return [i, seen[target - x]]")
    obs = evaluate_actions(leet, [fence(good), fence(as_tuple), fence(wrong)], limits=LIMITS, workers=3)
    assert [o.correct for o in obs] == [True, True, False]
    assert "AssertionError: twoSum([2, 7, 11, 15], 9) returned [1, 0], expected [0, 1]" in obs[2].text
    (ref_obs,) = evaluate_actions(leet, [fence(json.loads(leet["reference"])["code"])], limits=LIMITS)
    assert ref_obs.correct, ref_obs.text  # the reference runs after TACO's prelude (typing's List)

    add = as_record(adapt("taco", codewars_row()))
    right = "def add(a, b):\n    return a + b"
    obs = evaluate_actions(
        add, [fence(right), fence("def add(a, b):\n    return a - b"), fence("x = 1")], limits=LIMITS
    )
    assert [o.correct for o in obs] == [True, False, False]  # [3] reads as 3: the one-element wrapping
    assert "AssertionError: add(1, 2) returned -1, expected [3]" in obs[1].text
    assert "NameError: the solution defines no function 'add'" in obs[2].text


def test_taco_skips_and_rejections() -> None:
    no_tests = taco_row(input_output="")
    assert rejection("taco", no_tests) == ("input_output", "skipped: no test cases")
    empty_io = taco_row(input_output=json.dumps({"inputs": [], "outputs": []}))
    assert rejection("taco", empty_io) == ("input_output", "skipped: no test cases")
    assert rejection("taco", taco_row(solutions="[]")) == ("solutions", "skipped: no solution")
    field, reason = rejection("taco", taco_row(input_output="{'inputs': []"))
    assert field == "input_output" and reason.startswith("invalid JSON: ")
    field, reason = rejection("taco", taco_row(solutions="[print(1)]"))
    assert field == "solutions" and reason.startswith("invalid JSON: ")
    assert rejection("taco", taco_row(solutions=json.dumps([1]))) == (
        "solutions",
        "wrong type: expected list of str for solutions, got list with non-str items",
    )
    bad = taco_row(input_output=json.dumps({"inputs": ["1"], "outputs": []}))
    assert rejection("taco", bad) == ("input_output", "1 inputs but 0 outputs")
    bad = taco_row(input_output=json.dumps({"fn_name": "f", "inputs": [5], "outputs": [5]}))
    assert rejection("taco", bad) == ("input_output", "wrong type: expected a list of arguments per case, got int")
    assert rejection("taco", taco_row(question=None)) == ("question", "missing")


# ---------------------------------------------------------------------------------------------
# WikiTableQuestions

MEDALS = [
    ["1", "United States", "10", "5", "15"],
    ["2", "China", "8", "7", "15"],
    ["3", "Great Britain", "6", "4", "10"],
    ["4", "Russia", "4", "", "4"],
    ["5", "Germany", "2", "3", "5"],
    ["6", "France", "1", "1", "2"],
]


def wtq_row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "nt-0",
        "question": "which nation won the most gold medals?",
        "answers": ["United States"],
        "table": {"header": ["Rank", "Nation", "Gold", "Silver", "Total"], "rows": MEDALS, "name": "csv/203-csv/1.csv"},
    }
    row.update(over)
    return row


def test_wikitablequestions_item() -> None:
    item = adapt("wikitablequestions", wtq_row())
    assert item.problem == (
        "Given the following table (only the first 5 rows are shown):\n"
        "   Rank  Nation         Gold  Silver  Total\n"
        "0  1     United States  10    5       15\n"
        "1  2     China          8     7       15\n"
        "2  3     Great Britain  6     4       10\n"
        "3  4     Russia         4             4\n"
        "4  5     Germany        2     3       5\n\n"
        "Write a SQL query to find the answer to the question: which nation won the most gold medals?\n"
        "The SQLite3 database is preloaded for you and can be accessed within a ```python code block via the "
        "variable `conn` (SQLite3 connection object).\nThe table name is `data_table`."
    )
    assert (item.answer, item.tests, item.pattern, item.difficulty) == ("United States", [], "csv/203-csv/1.csv", None)
    ref = json.loads(item.reference)
    assert ref["kind"] == "table" and ref["answers"] == ["United States"]
    assert ref["table"] == {"name": "csv/203-csv/1.csv", "header": wtq_row()["table"]["header"], "rows": MEDALS}
    assert ref["types"] == ["INTEGER", "TEXT", "INTEGER", "INTEGER", "INTEGER"]
    namespace: dict[str, Any] = {}
    exec(ref["setup"], namespace)  # the setup is plain stdlib Python
    conn = namespace["conn"]
    assert isinstance(conn, sqlite3.Connection) and set(namespace) == {"__builtins__", "conn"}
    assert conn.execute("SELECT Nation FROM data_table WHERE Gold > 5 ORDER BY Gold").fetchall() == [
        ("Great Britain",),
        ("China",),
        ("United States",),
    ]
    assert conn.execute("SELECT Silver FROM data_table WHERE Nation = 'Russia'").fetchone() == (None,)


def test_wikitablequestions_columns_and_rejections() -> None:
    assert table_columns(["Year", "", "Notes", "year", "Notes\nextra", "Notes"]) == [
        "Year", "column_2", "Notes", "year_2", "Notes extra", "Notes_2"
    ]  # fmt: skip
    assert render_table(["a", "b"], [["x" * 60, "1"]]) == f"   a{' ' * 49}  b\n0  {'x' * 47}...  1"
    assert rejection("wikitablequestions", wtq_row(answers=[])) == ("answers", "empty")
    assert rejection("wikitablequestions", wtq_row(answers=[" "])) == ("answers", "empty")
    assert rejection("wikitablequestions", wtq_row(answers="x"))[0] == "answers"
    ragged = wtq_row(table={"header": ["a", "b"], "rows": [["1", "2"], ["3"]], "name": "t"})
    assert rejection("wikitablequestions", ragged) == ("table", "malformed: row 1 has 1 cells, the header 2")
    no_rows = wtq_row(table={"header": ["a"], "rows": [], "name": "t"})
    assert rejection("wikitablequestions", no_rows) == ("table", "empty")
    assert rejection("wikitablequestions", wtq_row(table="a|b")) == (
        "table",
        "wrong type: expected {header, rows, name}, got str",
    )
    assert rejection("wikitablequestions", wtq_row(question="")) == ("question", "empty")


def test_wikitablequestions_judging() -> None:
    record = as_record(adapt("wikitablequestions", wtq_row()))
    right = fence("print(conn.execute('SELECT Nation FROM data_table ORDER BY Gold DESC LIMIT 1').fetchone()[0])")
    wrong = fence("print(conn.execute('SELECT Nation FROM data_table ORDER BY Gold ASC LIMIT 1').fetchone()[0])")
    shown = fence("conn.execute('SELECT Nation FROM data_table ORDER BY Gold DESC LIMIT 1').fetchall()")
    stated = fence(
        "print(conn.execute('SELECT COUNT(*) FROM data_table').fetchone()[0])", "<solution>United States</solution>"
    )
    no_code = "The table shows it directly.\n<solution>China</solution>"
    obs = evaluate_actions(record, [right, wrong, shown, stated, no_code], limits=LIMITS, workers=4)
    assert [o.correct for o in obs] == [True, False, True, True, False]
    assert obs[0].text == "Out: United States\nYour answer is correct." and obs[0].mode == "pot"
    assert obs[1].text == "Out: France\nYour answer is wrong." and obs[1].answer == "France"
    assert obs[2].text == "Out: [('United States',)]\nYour answer is correct." and obs[2].answer == "United States"
    assert obs[3].text == "Out: 6\nYour answer is correct." and obs[3].answer == "United States"
    assert (obs[4].mode, obs[4].status, obs[4].answer, obs[4].text) == (
        "cot",
        "not_run",
        "China",
        "Your answer is wrong.",
    )
    (broken,) = evaluate_actions(record, [fence("print(conn.execute('SELECT Nope FROM data_table'))")], limits=LIMITS)
    assert not broken.correct and broken.status == "error" and "OperationalError: no such column: Nope" in broken.text
    assert 'File "<cell-2>", line 1' in broken.text  # the setup is the silent first cell


def test_wikitablequestions_several_answers_any_order_and_notebook_state() -> None:
    record = as_record(adapt("wikitablequestions", wtq_row(answers=["United States", "China"])))
    assert record["answer"] == "United States, China"
    query = "rows = conn.execute('SELECT Nation FROM data_table WHERE Total = 15 ORDER BY Nation').fetchall()"
    (first,) = evaluate_actions(record, [fence(query + "\nprint(rows)")], limits=LIMITS)
    assert first.correct and first.answer == "China, United States"
    (later,) = evaluate_actions(record, [fence("print(len(rows))", "Answer: China, United States")],
                                prior_code=[query], limits=LIMITS)  # fmt: skip
    assert later.correct and later.text == "Out: 2\nYour answer is correct."
    (missing,) = evaluate_actions(record, [fence("print(1)", "Answer: China")], limits=LIMITS)
    assert not missing.correct


def test_coding_record_without_tests_or_answer_stays_wrong() -> None:
    record = {"task": "Coding", "answer": "", "tests": [], "reference": json.dumps({"kind": "table", "setup": ""})}
    obs = evaluate_actions(record, [fence("print(1)", "Answer: 1"), "<solution>1</solution>"], limits=LIMITS)
    assert [o.correct for o in obs] == [False, False]
    assert obs[1].status == "no_code"


# ---------------------------------------------------------------------------------------------
# through load_source


def test_load_source_reads_all_three_and_records_skips(tmp_path: Path) -> None:
    rows = {
        "codecontests": [cc_row(), cc_row(solutions={"language": [2], "solution": ["int main(){}"]}), cc_row(name=5)],
        "taco": [taco_row(), leetcode_row(), taco_row(input_output="")],
        "wikitablequestions": [wtq_row(), wtq_row(answers=[])],
    }
    for name, data in rows.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in data) + "\n")
        records, rejected = load_source(name, file_source(adapter=name, path=str(path)))
        assert set(records["task"]) == {"Coding"}
        reasons = list(zip(rejected["field"], rejected["reason"], strict=True))
        if name == "codecontests":
            assert records.height == 2 and reasons == [("solutions", "skipped: no Python solution")]
        elif name == "taco":
            assert records.height == 2 and reasons == [("input_output", "skipped: no test cases")]
        else:
            assert records.height == 1 and reasons == [("answers", "empty")]
            assert records["answer"].to_list() == ["United States"] and records["tests"].to_list() == [[]]
