"""Readers, adapters and ``load_source`` on the real benchmark files and on malformed fixtures."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import polars as pl
import pytest

from preftree.answers.core import canonical_number, last_boxed
from preftree.schema import INSTRUCTION_SCHEMA, REJECTED_SCHEMA
from preftree.sources.adapters import ADAPTERS, Item, Rejection, guess_entry_point
from preftree.sources.files import RowError, SourceUnavailableError, read_hf, read_rows
from preftree.sources.load import eval_texts, load_source

from .conftest import file_source

BENCH = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
HEX64 = re.compile(r"[0-9a-f]{64}")
needs_bench = pytest.mark.skipif(not BENCH.is_dir(), reason=f"benchmark files not present at {BENCH}")


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def load(adapter: str, path: Path | str, **kw: object) -> tuple[pl.DataFrame, pl.DataFrame]:
    name = str(kw.pop("name", adapter))
    return load_source(name, file_source(adapter=adapter, path=str(path), **kw))  # type: ignore[arg-type]


def check_frames(records: pl.DataFrame, rejected: pl.DataFrame) -> None:
    assert records.schema == INSTRUCTION_SCHEMA
    assert rejected.schema == REJECTED_SCHEMA
    assert all(HEX64.fullmatch(i) for i in records["id"]) and all(HEX64.fullmatch(i) for i in records["problem_id"])


# ---------------------------------------------------------------------------------------------
# real benchmark files


@needs_bench
def test_gsm8k_test_file() -> None:
    spec = file_source(adapter="gsm8k", path=str(BENCH / "gsm8k/test.jsonl"), split="test")
    records, rejected = load_source("gsm8k_test", spec)
    check_frames(records, rejected)
    assert rejected.height == 0
    assert records.height == 2 * 1319
    assert set(records["task"]) == {"Math_CoT", "Math_PoT"}
    assert records["answer"][0] == "18" and records["answer"][1] == "18"
    assert set(records["split"]) == {"test"} and set(records["dataset"]) == {"gsm8k_test"}
    assert records["id"].n_unique() == records.height
    per_problem = records.group_by("problem_id").agg(pl.col("task").n_unique(), pl.col("source_row").n_unique())
    assert per_problem.height == 1319 and (per_problem["task"] == 2).all() and (per_problem["source_row"] == 1).all()
    assert records["instruction"][0].startswith("Solve the following math problem step-by-step.")
    ref = json.loads(records["reference"][0])
    assert ref["kind"] == "rationale" and "<<16-3-4=9>>" in ref["rationale"] and "####" not in ref["rationale"]
    assert all(canonical_number(a) == a for a in records["answer"])
    again, _ = load_source("gsm8k_test", spec)
    assert again["id"].to_list() == records["id"].to_list()  # stable ids
    texts = eval_texts("gsm8k_test", spec)
    assert len(texts) == 1319 and texts[0].startswith("Janet")


@needs_bench
def test_gsm8k_limit_and_task_choice() -> None:
    records, _ = load("gsm8k", BENCH / "gsm8k/test.jsonl", limit=10, tasks=["Math_PoT"])
    assert records.height == 10 and set(records["task"]) == {"Math_PoT"}
    assert records["source_row"].to_list() == list(range(1, 11))  # JSONL: 1-based line numbers


@needs_bench
def test_humaneval() -> None:
    records, rejected = load("humaneval", BENCH / "humaneval/HumanEval.jsonl.gz")
    check_frames(records, rejected)
    assert (records.height, rejected.height) == (164, 0)
    assert set(records["task"]) == {"Coding"}
    first = records.row(0, named=True)
    ref = json.loads(first["reference"])
    assert ref["kind"] == "code" and ref["entry_point"] == "has_close_elements"
    assert ref["code"].startswith(first["problem"]) and first["problem"].startswith("from typing import List")
    assert len(first["tests"]) == 1 and first["tests"][0].endswith("\ncheck(has_close_elements)")


@needs_bench
def test_mbpp_full_and_eurus_variant() -> None:
    full, rejected = load("mbpp", BENCH / "mbpp/mbpp.jsonl")
    check_frames(full, rejected)
    assert (full.height, rejected.height) == (974, 0)
    row = full.row(0, named=True)
    assert row["problem"].endswith("\nassert min_cost([[1, 2, 3], [4, 8, 2], [1, 5, 3]], 2, 2) == 8")
    assert json.loads(row["reference"])["entry_point"] == "min_cost"
    assert all(t.startswith("assert") for t in row["tests"]) and len(row["tests"]) == 3
    with_setup = full.filter(pl.col("tests").list.first().str.starts_with("root = Node(1)"))
    assert with_setup.height == 2  # task_id 367 and 927: setup code first, then the asserts

    eurus, rejected = load("mbpp", BENCH / "mbpp/eurus_new_mbpp.json", name="mbpp_eurus")
    check_frames(eurus, rejected)
    assert (eurus.height, rejected.height) == (399, 0)
    first = eurus.row(0, named=True)
    assert first["problem"] == (
        "Write a function to find the shared elements from the given two lists.\n"
        "assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))"
    )
    assert json.loads(first["reference"])["entry_point"] == "similar_elements"
    imports_first = eurus.filter(pl.col("tests").list.first() == "import math")
    assert imports_first.height >= 1


@needs_bench
def test_svamp() -> None:
    records, rejected = load("svamp", BENCH / "svamp/SVAMP.json")
    check_frames(records, rejected)
    assert rejected.height == 0 and records.height == 2000 and records["problem_id"].n_unique() == 1000
    assert records["answer"][0] == "51"
    assert all(canonical_number(a) == a for a in records["answer"])
    first = records.row(0, named=True)
    assert first["problem"].endswith("on each pack. How much do you have to pay to buy each pack?")
    assert first["pattern"] == "Subtraction" and first["difficulty"] == 1
    assert json.loads(first["reference"]) == {"kind": "expression", "expression": "( 76.0 - 25.0 )"}


@needs_bench
def test_math500_both_layouts() -> None:
    plain, rejected = load("math", BENCH / "math500/math500_test.jsonl", tasks=["Math_CoT"])
    check_frames(plain, rejected)
    assert (plain.height, rejected.height) == (500, 0)
    source = [json.loads(line) for line in (BENCH / "math500/math500_test.jsonl").read_text().splitlines()]
    assert plain["answer"].to_list() == [r["answer"] for r in source]
    assert plain["difficulty"].to_list() == [r["level"] for r in source]
    assert plain["pattern"][0] == source[0]["subject"]

    prime, rejected = load("math", BENCH / "math500/prime_math500_test_cleaned.json", name="math500_prime")
    check_frames(prime, rejected)
    assert (prime.height, rejected.height) == (1000, 0)
    cot = prime.filter(pl.col("task") == "Math_CoT")
    assert cot["answer"].to_list()[:3] == ["4", "[-2,7]", "\\frac{11}{2}"]
    assert cot["difficulty"].to_list()[:3] == [1, 4, 5] and cot["pattern"][0] == "Algebra"
    assert cot["source_row"].to_list() == list(range(500))


@needs_bench
def test_mint_gsm8k_through_generic() -> None:
    spec = file_source(
        adapter="generic",
        path=str(BENCH / "mint/gsm8k_test_prompts.json"),
        tasks=["Math_CoT"],
        fields={"problem": "prompt", "answer": "reference"},
        split="test",
    )
    records, rejected = load_source("mint_gsm8k", spec)
    check_frames(records, rejected)
    assert (records.height, rejected.height) == (48, 0)
    assert records["answer"][0] == "6" and records["problem"][0].startswith("Marissa is hiking")


# ---------------------------------------------------------------------------------------------
# malformed input


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_malformed_gsm8k_rows_are_rejected_not_fatal(tmp_path: Path) -> None:
    good = {"question": "Tom has 2 apples and buys 3. How many?", "answer": "2+3=5\n#### 5"}
    lines = [
        json.dumps(good).encode(),  # line 1 good
        b'{"question": "broken", ',  # 2 not JSON
        b'{"question": "caf\xe9 \xff", "answer": "#### 1"}',  # 3 invalid UTF-8
        b"",  # 4 blank: skipped, but counted as a line
        json.dumps({"answer": "#### 1"}).encode(),  # 5 missing question
        json.dumps({"question": 7, "answer": "#### 1"}).encode(),  # 6 int question
        json.dumps({"question": "Q?", "answer": "   "}).encode(),  # 7 empty answer
        json.dumps({"question": "Q?", "answer": "the answer is 4"}).encode(),  # 8 no ####
        b'{"question": "bad \\ud800 text", "answer": "#### 2"}',  # 9 lone surrogate
        json.dumps({"question": "Q \ufffd?", "answer": "#### 2"}).encode(),  # 10 replacement char
        json.dumps({"question": "Sum 1000 and 234.", "answer": "1000+234=1234\n#### 1,234"}).encode(),  # 11 good
        b"[1, 2]",  # 12 not an object
    ]
    path = write_lines(tmp_path / "bad.jsonl", lines)
    records, rejected = load("gsm8k", path, name="bad")
    check_frames(records, rejected)
    assert records["source_row"].to_list() == [1, 1, 11, 11]  # the file's line numbers
    assert records["answer"].to_list() == ["5", "5", "1234", "1234"]
    got = {r["source_row"]: (r["field"], r["reason"]) for r in rejected.iter_rows(named=True)}
    assert set(got) == {2, 3, 5, 6, 7, 8, 9, 10, 12}
    assert got[2][0] == "" and got[2][1].startswith("invalid JSON")
    assert got[3][0] == "" and got[3][1].startswith("undecodable text")
    assert got[5] == ("question", "missing")
    assert got[6] == ("question", "wrong type: expected str, got int")
    assert got[7] == ("answer", "empty")
    assert got[8] == ("answer", "no answer found")
    assert got[9] == ("question", "undecodable text")
    assert got[10] == ("question", "undecodable text")
    assert got[12] == ("", "wrong type: expected object, got list")
    assert set(rejected["dataset"]) == {"bad"} and set(rejected["file"]) == {str(path)}
    raw = dict(zip(rejected["source_row"], rejected["raw"], strict=True))
    assert json.loads(raw[6]) == {"question": 7, "answer": "#### 1"} and "\\xff" in raw[3]
    rejected.write_parquet(tmp_path / "rejected.parquet")  # escaped surrogates still store as UTF-8
    long = write_lines(tmp_path / "long.jsonl", [json.dumps({"question": "x" * 5000, "answer": "no"}).encode()])
    assert len(load("gsm8k", long)[1]["raw"][0]) == 2000


def test_generic_adapter_requires_tasks_and_problem(tmp_path: Path) -> None:
    row = {"q": "Reverse a list.", "t": "assert f([1]) == [1]\n"}
    path = write_lines(tmp_path / "g.jsonl", [json.dumps(row).encode()])
    with pytest.raises(ValueError, match="needs `tasks`"):
        load("generic", path, fields={"problem": "q"})
    with pytest.raises(ValueError, match="must map `problem`"):
        load("generic", path, tasks=["Coding"], fields={"text": "q"})
    records, _ = load("generic", path, tasks=["Coding"], fields={"problem": "q", "tests": "t"})
    assert records["tests"].to_list() == [["assert f([1]) == [1]"]] and records["answer"][0] == ""


def test_spec_validation(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", [b"{}"])
    with pytest.raises(ValueError, match=r"unknown adapter 'nope'.*gsm8k.*humaneval"):
        load("nope", path)
    with pytest.raises(ValueError, match=r"unknown task\(s\) 'Chess'.*Coding.*Math_CoT"):
        load("gsm8k", path, tasks=["Chess"])
    with pytest.raises(ValueError, match="exactly one of `path`"):
        load_source("s", file_source(adapter="gsm8k"))
    with pytest.raises(ValueError, match="exactly one of `path`"):
        load_source("s", file_source(adapter="gsm8k", path=str(path), hf_id="openai/gsm8k"))


def test_missing_file_names_path_and_source(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "train.jsonl"
    with pytest.raises(FileNotFoundError) as err:
        load("gsm8k", missing, name="my_gsm8k")
    assert str(missing) in str(err.value) and "my_gsm8k" in str(err.value)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list(read_rows(missing))


# ---------------------------------------------------------------------------------------------
# file layouts and Hugging Face datasets

ROWS = [{"question": f"What is {i} plus {i}?", "answer": f"{i}+{i}={2 * i}\n#### {2 * i}"} for i in range(3)]


def test_json_layouts(tmp_path: Path) -> None:
    layouts = {
        "array.json": json.dumps(ROWS),
        "columns.json": json.dumps({k: {str(i): r[k] for i, r in enumerate(ROWS)} for k in ROWS[0]}),
        "index.json": json.dumps({str(i): r for i, r in enumerate(ROWS)}),
        "instances.json": json.dumps({"Definition": ["add"], "Instances": ROWS}),
        "misnamed_jsonl.json": "\n".join(json.dumps(r) for r in ROWS),
    }
    for name, text in layouts.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "rows.jsonl.gz").write_bytes(gzip.compress("\n".join(json.dumps(r) for r in ROWS).encode()))
    (tmp_path / "rows.json.gz").write_bytes(gzip.compress(json.dumps(ROWS).encode()))
    pl.DataFrame(ROWS).write_parquet(tmp_path / "rows.parquet")
    for name in [*layouts, "rows.jsonl.gz", "rows.json.gz", "rows.parquet"]:
        assert list(read_rows(tmp_path / name)) == list(enumerate(ROWS)), name
    records, rejected = load("gsm8k", tmp_path / "rows.parquet")
    assert records["answer"].to_list() == ["0", "0", "2", "2", "4", "4"] and rejected.height == 0
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        list(read_rows(tmp_path / "bad.json"))
    (tmp_path / "rows.csv").write_text("question,answer\n")
    with pytest.raises(ValueError, match="unsupported file type"):
        list(read_rows(tmp_path / "rows.csv"))
    assert isinstance(dict(read_rows(write_lines(tmp_path / "e.jsonl", [b"nope"])))[0], RowError)


def test_read_hf_local_folders_and_files(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    test_rows = [{"question": "How many legs do 2 cats have?", "answer": "2*4=8\n#### 8"}]
    saved = tmp_path / "saved"
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(ROWS), "test": datasets.Dataset.from_list(test_rows)}
    ).save_to_disk(str(saved))
    assert list(read_hf(str(saved), None, "test")) == [(0, test_rows[0])]
    records, rejected = load_source("hf", file_source(adapter="gsm8k", hf_id=str(saved), split="test"))
    assert records["answer"].to_list() == ["8", "8"] and set(records["split"]) == {"test"} and rejected.height == 0
    assert load_source("hf", file_source(adapter="gsm8k", path=str(saved), split="train"))[0].height == 6
    with pytest.raises(ValueError, match="no split 'dev'.*train"):
        list(read_hf(str(saved), None, "dev"))

    single = tmp_path / "single"
    datasets.Dataset.from_list(ROWS).save_to_disk(str(single))
    assert [r for _, r in read_hf(str(single))] == ROWS

    pl.DataFrame(ROWS).write_parquet(tmp_path / "rows.parquet")
    assert [r for _, r in read_hf(str(tmp_path / "rows.parquet"), None, "train")] == ROWS
    folder = tmp_path / "jsonl_folder"
    folder.mkdir()
    (folder / "train.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS))
    assert [r for _, r in read_hf(str(folder), None, "train")] == ROWS


def test_read_hf_unknown_hub_id_offline() -> None:
    with pytest.raises(SourceUnavailableError) as err:
        list(read_hf("no-such-org/no-such-dataset-xyz", None, "train"))
    message = str(err.value)
    assert "no-such-org/no-such-dataset-xyz" in message and "download it first" in message and "`path`" in message
    assert isinstance(err.value, FileNotFoundError)


# ---------------------------------------------------------------------------------------------
# adapter helpers


def test_canonical_number() -> None:
    cases = {"1,234": "1234", "5.0": "5", "0.50": "0.5", "-3": "-3", ".5": "0.5", "1e3": "1000", 51.0: "51", 7: "7"}
    for value, expected in cases.items():
        assert canonical_number(value) == expected, value
    assert canonical_number("abc") is None and canonical_number(True) is None and canonical_number("1.2.3") is None


def test_last_boxed_and_math_adapter() -> None:
    assert last_boxed(r"so \boxed{1} then \boxed{\frac{1}{\sqrt{2}}}.") == r"\frac{1}{\sqrt{2}}"
    assert last_boxed(r"$\boxed 5$") == "5" and last_boxed("no box") is None and last_boxed(r"\boxed{open") is None
    math = ADAPTERS["math"]
    item = math.adapt({"problem": "P", "solution": r"x \boxed{\{1, 2\}}", "type": "Algebra", "level": "Level 3"})
    assert isinstance(item, Item) and item.answer == r"\{1, 2\}" and item.difficulty == 3 and item.pattern == "Algebra"
    assert math.adapt({"problem": "P", "solution": "no box"}) == Rejection("solution", "no answer found")
    assert math.adapt({"problem": "P", "answer": ""}) == Rejection("answer", "empty")
    unknown_level = math.adapt({"problem": "P", "solution": r"\boxed{2}", "level": "Level ?"})
    assert isinstance(unknown_level, Item) and unknown_level.difficulty is None


def test_small_adapters() -> None:
    test = "def check(c):\n    assert c(1) == 1"
    he = ADAPTERS["humaneval"].adapt(
        {"prompt": "def f(x):\n", "canonical_solution": "    return x\n", "test": test, "entry_point": "f"}
    )
    assert isinstance(he, Item) and he.tests == ["def check(c):\n    assert c(1) == 1\ncheck(f)"]
    assert json.loads(he.reference) == {"kind": "code", "code": "def f(x):\n    return x\n", "entry_point": "f"}
    sv = ADAPTERS["svamp"].adapt({"Body": "Ann has 3 pens.", "Question": "How many?", "Answer": 3.0, "Equation": "3.0"})
    assert isinstance(sv, Item) and sv.problem == "Ann has 3 pens. How many?" and sv.answer == "3"
    assert ADAPTERS["svamp"].adapt({"Body": "B", "Question": "Q"}) == Rejection("Answer", "missing")
    assert guess_entry_point("assert sorted(my_sort([2, 1])) == [1, 2]") == "my_sort"
    assert guess_entry_point("assert set(g(1)) == f(2)", "def f(a):\n  pass") == "f"
    mb = ADAPTERS["mbpp"].adapt({"text": "Do it.", "code": "def g(): pass", "test_list": [], "test_setup_code": ""})
    assert mb == Rejection("test_list", "empty")


# ---------------------------------------------------------------------------------------------
# rows checked as users would check them: row numbers, answer types per task, the task contract

MATH_FIELDS = {"problem": "question", "answer": "final"}


def test_source_row_is_the_jsonl_line_number_and_the_record_index_elsewhere(tmp_path: Path) -> None:
    good = [json.dumps({"question": f"What is {i} plus {i}?", "final": 2 * i}).encode() for i in range(3)]
    bad = json.dumps({"question": "What is 9 times 9?", "final": ["81"]}).encode()
    lines = [good[0], b"", b"   ", good[1], b"", bad, good[2]]  # blank lines before the bad row
    jsonl = write_lines(tmp_path / "rows.jsonl", lines)
    records, rejected = load("generic", jsonl, tasks=["Math_CoT"], fields=MATH_FIELDS)
    assert records["source_row"].to_list() == [1, 4, 7]  # what `sed -n Np rows.jsonl` shows
    assert rejected.select("source_row", "field").rows() == [(6, "final")]
    assert json.loads(jsonl.read_text().splitlines()[6 - 1])["final"] == ["81"]
    crlf = tmp_path / "crlf.jsonl.gz"
    crlf.write_bytes(gzip.compress(b"\r\n".join(lines) + b"\r\n"))
    assert load("generic", crlf, tasks=["Math_CoT"], fields=MATH_FIELDS)[0]["source_row"].to_list() == [1, 4, 7]
    # a JSON document, parquet file or HF dataset: the 0-based record index, as rows[i] / df.row(i) take it
    rows = [json.loads(line) for line in (good[0], good[1], bad, good[2])]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    pl.DataFrame(rows[:2] + rows[3:]).write_parquet(tmp_path / "rows.parquet")
    records, rejected = load("generic", tmp_path / "rows.json", tasks=["Math_CoT"], fields=MATH_FIELDS)
    assert records["source_row"].to_list() == [0, 1, 3] and rejected["source_row"].to_list() == [2]
    records, _ = load("generic", tmp_path / "rows.parquet", tasks=["Math_CoT"], fields=MATH_FIELDS)
    assert records["source_row"].to_list() == [0, 1, 2]
    # read_rows itself keeps numbering rows (release and sft.mixture messages) unless asked for lines
    assert [i for i, _ in read_rows(jsonl)] == [0, 1, 2, 3]
    assert [i for i, _ in read_rows(jsonl, line_numbers=True)] == [1, 4, 6, 7]


def test_a_list_answer_is_rejected_naming_file_row_and_field(tmp_path: Path) -> None:
    rows = [
        {"question": "What is 9 times 9?", "final": ["81"]},  # line 1: a one-element list is not unwrapped
        {"question": "Name two primes.", "final": {"a": 2}},  # 2
        {"question": "What is 0 over 0?", "final": float("nan")},  # 3
        {"question": "Is 7 prime?", "final": True},  # 4: a bool is kept as "true" (judged as yes)
        {"question": "What is 1.50 plus 1?", "final": "2.50"},  # 5
    ]
    path = write_lines(tmp_path / "answers.jsonl", [json.dumps(r).encode() for r in rows])
    records, rejected = load("generic", path, name="mine", tasks=["Math_CoT", "Math_PoT"], fields=MATH_FIELDS)
    assert rejected.select("file", "source_row", "field", "reason").rows() == [
        (str(path), 1, "final", 'wrong type: expected str or number, got list ["81"]'),
        (str(path), 2, "final", 'wrong type: expected str or number, got dict {"a": 2}'),
        (str(path), 3, "final", "not a finite number: nan"),
    ]
    assert records["answer"].to_list() == ["true", "true", "2.5", "2.5"]


def test_each_task_gets_what_its_judge_needs(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "q.jsonl", [json.dumps({"question": "What is 2 plus 2?"}).encode()])
    spec = file_source(adapter="generic", path=str(path), tasks=["Math_CoT"], fields={"problem": "question"})
    records, rejected = load_source("no_answers", spec)
    assert records.height == 0
    assert rejected.select("source_row", "field", "reason").rows() == [
        (1, "answer", "empty: a Math_CoT record needs an answer to be judged")
    ]
    assert eval_texts("no_answers", spec) == ["What is 2 plus 2?"]  # an eval set needs only the problem
    _, rejected = load("generic", path, tasks=["Logic"], fields={"problem": "question"})
    assert rejected["reason"].to_list() == ["empty: a Logic record needs an answer to be judged"]

    cases = [
        {"q": "Echo the input.", "t": ["%%stdio\n{broken"]},
        {"q": "Echo it twice.", "t": ['%%stdio\n{"input": "a", "output": "a", "x": 1}']},
        {"q": "Echo it back.", "t": ['%%stdio\n{"input": "a\\n", "output": "a\\n"}']},
    ]
    code = write_lines(tmp_path / "code.jsonl", [json.dumps(c).encode() for c in cases])
    records, rejected = load("generic", code, tasks=["Coding"], fields={"problem": "q", "tests": "t"})
    assert rejected.select("source_row", "field").rows() == [(1, "tests"), (2, "tests")]
    assert rejected["reason"][0].startswith("test 1: malformed stdio test case: invalid JSON")
    assert rejected["reason"][1] == 'test 1: malformed stdio test case: expected {"input": str, "output": str}'
    assert records["source_row"].to_list() == [3]
    # neither tests nor an answer: kept, as only an LLM judge can grade it (interact.judge=critic, Magicoder)
    records, rejected = load("generic", code, tasks=["Coding"], fields={"problem": "q"})
    assert (records.height, rejected.height) == (3, 0)
