"""Benchmark loaders, the registry, code scoring through the sandbox, and check_references.

Bundled benchmark files are read from ../shared/benchmarks (skipped when absent); the formats
without bundled files use the fixtures in tests/fixtures/evaluate/.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from preftree import sandbox
from preftree.compose import from_conf
from preftree.config.sandbox import SandboxParams
from preftree.evaluate import BENCHMARKS, BenchmarkFormatError, load_benchmark, score, score_many
from preftree.evaluate import check_references as cr
from preftree.evaluate.loaders import read_records
from preftree.evaluate.loaders_mint import parse_options
from preftree.evaluate.scoring import build_code_program, extract_program, mbpp_strip

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO.parent / "shared" / "benchmarks"
FIX = REPO / "tests" / "fixtures" / "evaluate"
LIMITS = from_conf(SandboxParams, "sandbox", timeout_s=5.0)
WORKERS = 2

BUNDLED = {
    "humaneval": "humaneval/HumanEval.jsonl.gz",
    "mbpp": "mbpp/mbpp.jsonl",
    "mbpp_eurus": "mbpp/eurus_new_mbpp.json",
    "gsm8k": "gsm8k/test.jsonl",
    "svamp": "svamp/SVAMP.json",
    "math500": "math500/math500_test.jsonl",
    "math500_prime": "math500/prime_math500_test_cleaned.json",
    "mint_humaneval": "mint/humaneval_test_prompts.json",
    "mint_mbpp": "mint/mbpp_test_prompts.json",
    "mint_gsm8k": "mint/gsm8k_test_prompts.json",
    "mint_math": "mint/math_test_prompts.json",
    "mint_theoremqa": "mint/theoremqa_test_prompts.json",
    "mint_mmlu": "mint/mmlu_test_prompts.json",
    "mint_hotpotqa": "mint/hotpotqa_test_prompts.json",
}
ROWS = {"humaneval": 164, "mbpp": 974, "mbpp_eurus": 399, "gsm8k": 1319, "svamp": 1000, "math500": 500,
        "math500_prime": 500, "mint_humaneval": 45, "mint_mbpp": 91, "mint_gsm8k": 48, "mint_math": 100,
        "mint_theoremqa": 49, "mint_mmlu": 76, "mint_hotpotqa": 43}  # fmt: skip


def _sandbox_problem() -> str | None:
    if not os.access(sandbox.PYTHON, os.X_OK) or not os.access(sandbox.PRLIMIT, os.X_OK):
        return "no python3 / prlimit"
    try:
        sandbox.check_available("bwrap")
    except sandbox.SandboxUnavailable as err:
        return str(err)
    return None


PROBLEM = _sandbox_problem()
needs_sandbox = pytest.mark.skipif(PROBLEM is not None, reason=f"bwrap sandbox unavailable: {PROBLEM}")


def bundled(key: str) -> Path:
    path = BENCH / BUNDLED[key]
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


def _bench_name(key: str) -> str:
    return "math500" if key == "math500_prime" else key


def fence(code: str) -> str:
    return f"Here you go.\n```python\n{code}\n```\n"


# ----------------------------------------------------------------------------- loaders


@pytest.mark.parametrize("key", sorted(BUNDLED))
def test_bundled_loaders(key):
    items = load_benchmark(_bench_name(key), bundled(key))
    assert len(items) == ROWS[key]
    assert len({it.id for it in items}) == len(items)
    spec = BENCHMARKS[_bench_name(key)]
    for it in items:
        assert it.kind == spec.kind and it.benchmark == spec.name and it.prompt.strip()
        if it.kind == "code":
            assert it.tests and it.entry_point
        else:
            assert it.answer is not None


def test_loader_details():
    he = load_benchmark("humaneval", bundled("humaneval"), limit=1)[0]
    assert he.id == "HumanEval/0" and he.tests[-1] == "check(has_close_elements)"
    assert "`has_close_elements(numbers: List[float], threshold: float) -> bool`" in he.prompt
    assert he.prompt.startswith("Write Python code to solve the task.\n")
    eu = load_benchmark("mbpp_eurus", bundled("mbpp_eurus"), limit=1)[0]
    assert eu.entry_point == "similar_elements" and ">>> assert set(similar_elements(" in eu.prompt
    full = {it.id: it for it in load_benchmark("mbpp", bundled("mbpp"))}
    assert full["367"].tests[0].startswith("class Node") or "Node" in full["367"].tests[0]  # setup after the code
    gsm = load_benchmark("gsm8k", bundled("gsm8k"), limit=1)[0]
    assert gsm.answer == "18" and gsm.pot_prompt and "Present code in ```python```" in gsm.pot_prompt
    sv = load_benchmark("svamp", bundled("svamp"), limit=1)[0]
    assert sv.answer == "51" and "on each pack. How much do you have to pay" in sv.prompt
    m1 = load_benchmark("math500", bundled("math500"), limit=3)
    m2 = load_benchmark("math500", bundled("math500_prime"), limit=3)
    assert m1[0].answer == "\\left( 3, \\frac{\\pi}{2} \\right)" and m2[0].id == "test/algebra/4.json"
    mmlu = load_benchmark("mint_mmlu", bundled("mint_mmlu"), limit=1)[0]
    assert mmlu.answer == "C" and mmlu.meta["options"] == {"A": "6", "B": "121", "C": "18107", "D": "54,320"}
    tq = load_benchmark("mint_theoremqa", bundled("mint_theoremqa"), limit=1)[0]
    assert tq.answer == "[0, 5]" and tq.meta["answer_type"] == "list of integer"


def test_fixture_loaders():
    lc = load_benchmark("leetcode", FIX / "leetcode.jsonl")
    assert [it.id for it in lc] == ["two-sum", "top-k-frequent", "kth-smallest"]
    assert "class Solution" in lc[0].prompt and lc[0].tests[0].startswith("my_solution = Solution()")
    assert lc[0].meta["difficulty"] == "Easy"
    tq = load_benchmark("theoremqa", FIX / "theoremqa.json")
    assert [(it.answer, it.meta["answer_type"]) for it in tq] == [
        ("10", "integer"), ("1.12", "float"), ("False", "bool"), ("(c)", "option"),
        ("[0, 5]", "list of integer"), ("[0.5, 2.0]", "list of float"),
    ]  # fmt: skip
    assert tq[0].prompt.endswith("Question: How many edges does a complete graph on 5 vertices have?")
    asdiv = load_benchmark("asdiv", FIX / "asdiv.json")
    assert [it.answer for it in asdiv] == ["9", "15", "0.625"]  # the train row is left out
    gp = load_benchmark("gsm_plus", FIX / "gsm_plus.jsonl")
    assert [it.answer for it in gp] == ["18", None, "9", None]
    assert gp[1].meta["perturbation_type"] == "critical thinking"
    tiny = load_benchmark("tiny", FIX / "tiny_heldout.parquet")
    assert {it.family for it in tiny} == {"Coding", "Math_CoT", "Math_PoT", "Logic"}
    assert all(it.prompt == it.meta["record"]["instruction"] for it in tiny)


def test_read_records_formats(tmp_path):
    (tmp_path / "a.json").write_text('{"x": 1}\n{"x": 2}\n')  # JSONL with a .json suffix
    assert read_records(tmp_path / "a.json") == [{"x": 1}, {"x": 2}]
    (tmp_path / "b.json").write_text(json.dumps({"p": {"0": "a", "1": "b"}, "q": {"0": 1, "1": 2}}))
    assert read_records(tmp_path / "b.json") == [{"p": "a", "q": 1}, {"p": "b", "q": 2}]
    with pytest.raises(FileNotFoundError):
        read_records(tmp_path / "missing.jsonl")


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("humaneval", '{"task_id": "X", "prompt": "def f():\\n", "entry_point": "f"}\n', r"row 0: field 'test': miss"),
        ("gsm8k", '{"question": "q", "answer": "no hashes"}\n', r"row 0: field 'answer': no '#### <number>'"),
        ("gsm8k", '{"question": "q", "answer": "#### 5"}\n{"question": 3, "answer": "#### 5"}\n',
         r"row 1: field 'question': wrong type"),
        ("mbpp", '{"text": "t", "code": "c", "test_list": "assert f()"}\n', r"field 'test_list': wrong type"),
        ("svamp", '[{"Body": "b", "Question": "q", "Answer": "many"}]', r"row 0: field 'Answer': not a number"),
        ("theoremqa", '[{"Question": "q", "Answer": 3, "Answer_type": "complex"}]', r"unknown type 'complex'"),
        ("math500", '{"problem": "p", "solution": "no box"}\n', r"row 0: field 'answer'"),
        ("gsm8k", '{"question": "q", "answer": "#### 5"}\nnot json\n', r"row 1: line 2 is not valid JSON"),
    ],
)  # fmt: skip
def test_malformed_input_names_file_row_field(tmp_path, name, content, match):
    path = tmp_path / ("bad.jsonl" if content.lstrip().startswith("{") or "\n{" in content else "bad.json")
    path.write_text(content)
    with pytest.raises(BenchmarkFormatError, match=match) as err:
        load_benchmark(name, path)
    assert str(path) in str(err.value)


def test_load_benchmark_path_or_hf(monkeypatch, tmp_path):
    with pytest.raises(KeyError, match="unknown benchmark"):
        load_benchmark("nope", tmp_path / "x.jsonl")
    with pytest.raises(FileNotFoundError):
        load_benchmark("gsm8k", tmp_path / "missing.jsonl")
    import datasets

    calls = []

    def fake_load_dataset(hf_id, config=None, split=None):
        calls.append((hf_id, config, split))
        return [{"question": "1+1?", "answer": "1+1=2\n#### 2"}]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    items = load_benchmark("gsm8k", "openai/gsm8k")
    assert calls == [("openai/gsm8k", "main", "test")] and items[0].answer == "2"


def test_registry_timeouts():
    assert BENCHMARKS["humaneval"].timeout_s == 3.0 and BENCHMARKS["mbpp"].timeout_s == 3.0
    assert BENCHMARKS["leetcode"].timeout_s == 10.0 and BENCHMARKS["gsm8k"].timeout_s == 5.0
    assert BENCHMARKS["math500"].modes == ("cot", "pot") and BENCHMARKS["humaneval"].modes == ("cot",)
    expected = {"humaneval", "mbpp", "mbpp_eurus", "leetcode", "gsm8k", "svamp", "math", "math500", "theoremqa",
                "asdiv", "gsm_plus", "tiny"}  # fmt: skip
    assert expected <= set(BENCHMARKS) and any(n.startswith("mint_") for n in BENCHMARKS)


def test_parse_options():
    opts = parse_options("Q?\nOptions: A ) (-\\infty,-1)\\cup (1,\\infty) , B ) 0 , C ) [-1,1] , D ) (-1,1)")
    assert opts == {"A": "(-\\infty,-1)\\cup (1,\\infty)", "B": "0", "C": "[-1,1]", "D": "(-1,1)"}


# ----------------------------------------------------------------------------- code scoring


def test_extract_program():
    assert extract_program("text\n```python\nx = 1\n```\nmore\n```python\ny = 2\n```") == "y = 2\n"
    assert extract_program("def f():\n    return 1") == "def f():\n    return 1\n"
    assert extract_program("```python\ndef f():\n    return 1") == "def f():\n    return 1\n"  # unclosed
    assert extract_program("```bash\nls\n```\nx = 1") == "```bash\nls\n```\nx = 1\n"


@needs_sandbox
def test_humaneval_scoring_forms():
    (he,) = load_benchmark("humaneval", bundled("humaneval"), limit=1)
    body = he.reference
    restated = "def has_close_elements(numbers, threshold):\n" + body
    dedented_body = "\n".join(line[4:] for line in body.splitlines())
    wrong = "def has_close_elements(numbers, threshold):\n    return True\n"
    responses = [
        fence(body),
        fence(restated),
        fence(dedented_body),
        restated,
        fence(wrong),
        "I don't know.",
        fence("def broken(:"),
    ]
    verdicts = score_many([he] * len(responses), responses, workers=WORKERS, limits=LIMITS)
    assert [v.correct for v in verdicts] == [True, True, True, True, False, False, False]
    assert verdicts[4].feedback.startswith("Out: ") and verdicts[4].feedback.endswith("Your answer is wrong.")
    assert "AssertionError" in verdicts[4].feedback
    assert "has_close_elements(numbers: List[float], threshold: float)" in build_code_program(he, body)


@needs_sandbox
def test_mbpp_and_leetcode_scoring():
    eu = load_benchmark("mbpp_eurus", bundled("mbpp_eurus"), limit=1)[0]
    lc = load_benchmark("leetcode", FIX / "leetcode.jsonl")
    slow = replace(lc[0], meta={**lc[0].meta, "timeout_s": 1.0})  # LeetCode's own limit is 10 s
    items = [eu, eu, lc[0], lc[1], lc[2], slow]
    responses = [
        fence(eu.reference),
        fence("def similar_elements(a, b):\n    return (1,)"),
        fence(lc[0].reference),
        fence(lc[1].reference),  # uses Counter from the LeetCode prelude
        fence(lc[2].reference),  # uses heapq (imported by the prelude)
        fence("class Solution:\n    def twoSum(self, nums, target):\n        while True: pass"),
    ]
    verdicts = score_many(items, responses, workers=WORKERS, limits=LIMITS)
    assert [v.correct for v in verdicts] == [True, False, True, True, True, False]
    assert verdicts[-1].status == "timeout" and "TimeoutError: execution exceeded 1.0 s" in verdicts[-1].feedback


@needs_sandbox
def test_code_limits_follow_benchmark():
    from preftree.evaluate.scoring import limits_for

    (he,) = load_benchmark("humaneval", bundled("humaneval"), limit=1)
    lc = load_benchmark("leetcode", FIX / "leetcode.jsonl", limit=1)[0]
    assert limits_for(he, LIMITS).timeout_s == 3.0 and limits_for(he, LIMITS).cpu_s == 3
    assert limits_for(lc, LIMITS).timeout_s == 10.0


@needs_sandbox
def test_pot_scoring():
    gsm = load_benchmark("gsm_plus", FIX / "gsm_plus.jsonl")
    right = fence("eggs = 16 - 3 - 4\nprint(eggs * 2)")
    wrong = fence("print(16 * 2)")
    crash = fence("print(1/0)")
    no_print = fence("x = 18") + "\nThe answer is \\boxed{18}."
    display = fence("16 - 3 - 4\n(16 - 3 - 4) * 2")  # notebook display of the last expression
    none = fence("print(None)  # the eggs in the muffins are not given: the answer is None, as Eurus grades it")
    items = [gsm[0]] * 5 + [gsm[1]]
    verdicts = score_many(items, [right, wrong, crash, no_print, display, none], "pot", workers=WORKERS, limits=LIMITS)
    assert [v.correct for v in verdicts] == [True, False, False, True, True, True]
    assert verdicts[0].answer == "18" and verdicts[0].feedback == "Out: 18\nYour answer is correct."
    assert "ZeroDivisionError" in verdicts[2].feedback
    # cot mode never executes code
    cot = score(gsm[0], right, "cot", limits=LIMITS)
    assert not cot.correct or cot.status == "not_run"


@needs_sandbox
def test_tiny_items_use_env_verdicts():
    items = load_benchmark("tiny", FIX / "tiny_heldout.parquet")
    responses = [cr.reference_response(it) for it in items]
    verdicts = score_many(items, responses, workers=WORKERS, limits=LIMITS)
    assert all(v.correct for v in verdicts), [
        (it.family, v) for it, v in zip(items, verdicts, strict=True) if not v.correct
    ]
    wrong = score_many(items, ["Answer: \\boxed{-12345}"] * len(items), workers=WORKERS, limits=LIMITS)
    assert not any(v.correct for v in wrong)


# ----------------------------------------------------------------------------- check_references


SLICE = 20


@needs_sandbox
@pytest.mark.parametrize("key", ["humaneval", "mbpp", "mbpp_eurus", "gsm8k", "svamp", "math500", "math500_prime"])
def test_check_references_slices(key):
    items = load_benchmark(_bench_name(key), bundled(key), limit=SLICE)
    ok = cr.check(items, limits=LIMITS, workers=WORKERS)
    assert ok.total == len(items) == SLICE and ok.rate >= 0.99, ok.failures
    shuffled = cr.check(items, limits=LIMITS, shuffle=True, workers=WORKERS)
    assert shuffled.rate <= 0.10, shuffled.failures


@needs_sandbox
@pytest.mark.parametrize(
    "key", ["mint_humaneval", "mint_mbpp", "mint_gsm8k", "mint_math", "mint_theoremqa", "mint_mmlu", "mint_hotpotqa"]
)
def test_check_references_mint(key):
    items = load_benchmark(key, bundled(key), limit=10)
    assert cr.check(items, limits=LIMITS, workers=WORKERS).rate >= 0.99


@needs_sandbox
@pytest.mark.parametrize(
    ("name", "file"),
    [("leetcode", "leetcode.jsonl"), ("theoremqa", "theoremqa.json"), ("asdiv", "asdiv.json"),
     ("gsm_plus", "gsm_plus.jsonl"), ("tiny", "tiny_heldout.parquet")],
)  # fmt: skip
def test_check_references_fixtures(name, file):
    items = load_benchmark(name, FIX / file)
    assert cr.check(items, limits=LIMITS, workers=WORKERS).rate == 1.0
    assert cr.check(items, limits=LIMITS, workers=WORKERS, mode="pot").rate == 1.0
    # tiny sets: one coincidence allowed
    assert cr.check(items, limits=LIMITS, shuffle=True, workers=WORKERS).rate <= 0.34


@needs_sandbox
def test_check_references_pot_and_styles():
    items = load_benchmark("math500", bundled("math500"), limit=10)
    assert cr.check(items, limits=LIMITS, mode="pot", workers=WORKERS).rate == 1.0
    assert cr.check(items, limits=LIMITS, style="solution").rate == 1.0
    assert cr.check(items, limits=LIMITS, style="answer-is").rate == 1.0


@needs_sandbox
def test_check_references_cli(capsys):
    path = bundled("humaneval")
    assert cr.main(["humaneval", "--path", str(path), "--limit", "3", "--workers", "2"]) == 0
    assert "humaneval: accepted 3/3 (100.0%)" in capsys.readouterr().out
    cr.main(["humaneval", "--path", str(path), "--limit", "3", "--shuffle"])
    assert "shuffled accepted 0/3" in capsys.readouterr().out


def test_module_level_names_move_into_every_function_for_the_mbpp_harness():
    code = (
        "import math\nfrom heapq import heappush as push\nR = 3\n"
        "class Node:\n    def __init__(self, v):\n        self.v = v\n"
        "def f(x):\n\treturn Node(math.sqrt(x) + R).v\n"
        'def g(xs):\n    """doc"""\n    h = []\n    for x in xs:\n        push(h, x)\n    return h\n'
        "print(f(4))\n"
    )
    moved = cr.module_level_into_functions(code)
    assert mbpp_strip(moved).startswith("def f(x):\n\timport math\n\tfrom heapq import heappush as push\n\tR = 3\n")
    assert "print(f(4))" in moved and "\n    class Node:\n        def __init__" in moved  # other statements stay
    namespace: dict = {}
    exec(mbpp_strip(moved), namespace)  # what the harness keeps still defines working functions
    assert namespace["f"](4) == 5.0 and namespace["g"]([3, 1, 2])[0] == 1
    with pytest.raises(SyntaxError):  # as written, the harness drops `class Node:` and keeps its indented body
        exec(mbpp_strip(code), {})
    with pytest.raises(NameError):  # ... and drops the imports
        exec(mbpp_strip("import math\ndef f(x):\n    return math.sqrt(x)\n") + "\nf(4)\n", {})
    assert cr.module_level_into_functions("def f(): return 1\nimport os\n") == "def f(): return 1\nimport os\n"
    assert cr.module_level_into_functions("def f(:\n") == "def f(:\n"


def test_derangement():
    for n in (2, 3, 10):
        perm = cr.derangement(n, 7)
        assert sorted(perm) == list(range(n)) and all(i != p for i, p in enumerate(perm))
    assert cr.derangement(10, 7) == cr.derangement(10, 7)


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("key", ["humaneval", "mbpp", "mbpp_eurus", "gsm8k", "svamp", "math500", "math500_prime"])
def test_check_references_full(key):
    items = load_benchmark(_bench_name(key), bundled(key))
    assert cr.check(items, limits=LIMITS, workers=WORKERS).rate >= 0.99
    assert cr.check(items, limits=LIMITS, shuffle=True, workers=WORKERS).rate <= 0.05
