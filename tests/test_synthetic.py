"""Synthetic problems: determinism, schema, pools, and that rendered solutions are (in)correct when executed."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
import pytest

from preftree.schema import INSTRUCTION_SCHEMA, TASKS, make_instruction, record_ids
from preftree.sources.synthetic import problems as synthetic
from preftree.sources.synthetic.problems import MISTAKES, applicable_mistakes, generate, in_pool, pretraining_documents
from preftree.sources.synthetic.problems import render_solution as render

FENCE = re.compile(r"```python\n(.*?)\n```", re.DOTALL)
BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
LETTER = re.compile(r"Answer:\n([A-E])\s*$")
RUNNER = r"""
import contextlib, io, json, sys
results = []
for code in json.load(sys.stdin):
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            exec(compile(code, "<job>", "exec"), {"__name__": "__main__"})
        results.append([True, buf.getvalue()])
    except BaseException as exc:  # a wrong solution may raise anything
        results.append([False, repr(exc)])
print(json.dumps(results))
"""


def run_batch(codes: Sequence[str]) -> list[tuple[bool, str]]:
    """Execute each snippet in a fresh namespace inside one subprocess: (ran without error, stdout)."""
    if not codes:
        return []
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(list(codes)),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [(ok, out) for ok, out in json.loads(proc.stdout.splitlines()[-1])]


def verdicts(records: Sequence[Mapping[str, Any]], responses: Sequence[str]) -> list[bool]:
    """Is each response correct? PoT: the fenced code's printed value; CoT: the last \\boxed{};
    Coding: the fenced function passes every test; Logic: the letter after "Answer:"."""
    out: list[bool | None] = [None] * len(records)
    jobs: list[tuple[int, str]] = []
    for i, (rec, resp) in enumerate(zip(records, responses, strict=True)):
        fence = FENCE.search(resp)
        if rec["task"] in ("Math_PoT", "Coding"):
            assert fence is not None, resp
            code = fence.group(1) + ("\n" + "\n".join(rec["tests"]) if rec["task"] == "Coding" else "")
            jobs.append((i, code))
        elif rec["task"] == "Math_CoT":
            assert fence is None and resp.rstrip().endswith("}"), resp
            out[i] = BOXED.findall(resp)[-1] == rec["answer"]
        else:
            match = LETTER.search(resp)
            assert match is not None, resp
            out[i] = match.group(1) == rec["answer"]
    for (i, _), (ok, stdout) in zip(jobs, run_batch([c for _, c in jobs]), strict=True):
        rec = records[i]
        out[i] = ok and (rec["task"] == "Coding" or stdout.strip() == rec["answer"])
    return [bool(v) for v in out]


@pytest.fixture(scope="module")
def sample() -> dict[str, list[dict[str, Any]]]:
    """40 problems per task, steps 1..6."""
    frame = generate(160, seed=11, tasks=dict.fromkeys(TASKS, 1.0), min_steps=1, max_steps=6)
    return {t: [r for r in frame.iter_rows(named=True) if r["task"] == t] for t in TASKS}


def test_deterministic_and_seeded() -> None:
    a = generate(80, seed=1, min_steps=1, max_steps=5)
    b = generate(80, seed=1, min_steps=1, max_steps=5)
    assert a.equals(b)
    c = generate(80, seed=2, min_steps=1, max_steps=5)
    assert not set(a["id"]) & set(c["id"])
    d = generate(80, seed=1, min_steps=2, max_steps=5)
    assert not a.equals(d)


def test_schema_and_fields() -> None:
    frame = generate(120, seed=3)
    assert frame.schema == INSTRUCTION_SCHEMA
    assert frame["source_row"].to_list() == list(range(120))
    assert set(frame["dataset"]) == {"synthetic"} and set(frame["split"]) == {"instruct"}
    for row in frame.iter_rows(named=True):
        assert (row["id"], row["problem_id"]) == record_ids(row["task"], "synthetic", row["problem"])
        assert row["instruction"] == make_instruction(row["task"], row["problem"])
        ref = json.loads(row["reference"])
        family, template = row["pattern"].split(":")
        assert ref["family"] == family and ref["template"] == template
        if row["task"] == "Coding":
            assert family == "coding" and row["answer"] == ""
            assert 4 <= len(row["tests"]) <= 6 and all(
                t.startswith(f"assert {ref['entry_point']}(") for t in row["tests"]
            )
            assert {"entry_point", "signature", "steps", "body", "slots", "cases"} <= set(ref)
        elif row["task"] == "Logic":
            assert family == "logic" and re.fullmatch(r"[A-E]", row["answer"]) and row["tests"] == []
            assert "ABCDE"[ref["answer_index"]] == row["answer"] and ref["steps"]
        else:
            assert family == "math" and re.fullmatch(r"[1-9][0-9]*", row["answer"]) and row["tests"] == []
            assert str(ref["answer"]) == row["answer"]
            assert all({"text", "expr", "var", "value"} <= set(s) for s in ref["steps"])
    assert frame.filter(pl.col("task") == "Logic")["answer"].n_unique() >= 3  # the letter varies
    assert generate(0, seed=0).schema == INSTRUCTION_SCHEMA


def test_task_proportions() -> None:
    frame = generate(200, seed=4)
    assert dict(Counter(frame["task"])) == {"Math_CoT": 60, "Math_PoT": 60, "Coding": 50, "Logic": 30}
    # largest remainder: 10 / 3 each -> the leftover goes to the first task in TASKS order
    assert synthetic.task_counts(10, {"Logic": 1, "Math_CoT": 1, "Coding": 1}) == {
        "Coding": 4,
        "Math_CoT": 3,
        "Logic": 3,
    }
    assert synthetic.task_counts(7, {"Math_PoT": 0.9, "Logic": 0.1}) == {"Math_PoT": 6, "Logic": 1}
    only = generate(30, seed=4, tasks={"Logic": 2.0, "Coding": 0.0})
    assert set(only["task"]) == {"Logic"} and only.height == 30
    with pytest.raises(ValueError, match="unknown task"):
        generate(5, seed=0, tasks={"Chess": 1.0})
    with pytest.raises(ValueError):
        generate(5, seed=0, tasks={"Logic": -1.0})


def test_difficulty_range_and_distinct_ids() -> None:
    frame = generate(400, seed=5, min_steps=3, max_steps=4)
    for task in TASKS:
        steps = set(frame.filter(pl.col("task") == task)["difficulty"])
        assert steps == {3, 4}, (task, steps)
    wide = generate(300, seed=5, min_steps=1, max_steps=6)
    assert set(wide["difficulty"]) == set(range(1, 7))
    for row in wide.iter_rows(named=True):  # the difficulty is the number of steps the solution takes
        ref = json.loads(row["reference"])
        if row["task"] in ("Coding", "Logic") and ref.get("kind") != "syllogism":
            n_steps = len(ref["steps"]) - (2 if row["task"] == "Logic" else 0)
            assert n_steps == row["difficulty"], row["pattern"]
    for df in (frame, wide):
        assert df["id"].n_unique() == df.height and df["problem_id"].n_unique() == df.height
    with pytest.raises(ValueError):
        generate(5, seed=0, min_steps=3, max_steps=2)


def test_many_coding_templates() -> None:
    coding = generate(400, seed=6, tasks={"Coding": 1.0})
    templates = Counter(coding["pattern"])
    assert len(templates) >= 15, templates
    assert len(synthetic.coding.TEMPLATES) >= 20
    themes = Counter(json.loads(r)["theme"] for r in generate(200, seed=6, tasks={"Math_CoT": 1.0})["reference"])
    assert len(themes) >= 6
    kinds = Counter(generate(100, seed=6, tasks={"Logic": 1.0})["pattern"])
    assert "logic:syllogism" in kinds and sum(k.startswith("logic:ordering") for k in kinds) >= 3


def test_pools_are_disjoint() -> None:
    pre = generate(300, seed=7, pool="pretrain", min_steps=1, max_steps=5)
    ins = generate(300, seed=7, pool="instruct", min_steps=1, max_steps=5)
    ins2 = generate(300, seed=8, pool="instruct")
    assert set(pre["split"]) == {"pretrain"}
    assert all(in_pool(p, "pretrain") and not in_pool(p, "instruct") for p in pre["problem_id"])
    assert all(in_pool(p, "instruct") and not in_pool(p, "pretrain") for p in ins["problem_id"])
    instruct_ids = set(ins["problem_id"]) | set(ins2["problem_id"])
    instruct_texts = set(ins["problem"]) | set(ins2["problem"])
    assert not set(pre["problem_id"]) & instruct_ids
    assert not set(pre["problem"]) & instruct_texts
    docs = pretraining_documents(200, seed=7, min_steps=1, max_steps=5, correct_fraction=0.5)
    doc_texts = {d["instruction"] for d in docs}
    assert not doc_texts & set(ins["instruction"]) and not doc_texts & set(ins2["instruction"])
    assert in_pool("00000008" + "f" * 56, "pretrain") and in_pool("00000009" + "f" * 56, "instruct")
    with pytest.raises(ValueError, match="unknown pool"):
        in_pool("0" * 64, "test")
    with pytest.raises(ValueError, match="unknown pool"):
        generate(3, seed=0, pool="test")


def test_correct_solutions_are_correct(sample: dict[str, list[dict[str, Any]]]) -> None:
    for task, records in sample.items():
        assert len(records) == 40
        responses = [render(r, rng=random.Random(i)) for i, r in enumerate(records)]
        assert all(resp is not None and resp.startswith("Step 1: ") for resp in responses)
        assert all(verdicts(records, responses)), task  # type: ignore[arg-type]
        if task in ("Math_PoT", "Coding"):
            assert all("# Step 1: " in FENCE.search(r).group(1) for r in responses)  # type: ignore[union-attr,operator]
        if task == "Math_CoT":
            assert all(re.search(r"\n\nAnswer:\n\\boxed\{\d+\}$", r) for r in responses)  # type: ignore[arg-type]


def test_mistakes_make_wrong_solutions(sample: dict[str, list[dict[str, Any]]]) -> None:
    rates: dict[tuple[str, str], float] = {}  # share of problems (3+ steps) that accept the mistake
    for task, records in sample.items():
        correct = [render(r, rng=random.Random(0)) for r in records]
        for mistake in MISTAKES:
            made = [
                (rec, render(rec, mistake=mistake, rng=random.Random(i)), good)
                for i, (rec, good) in enumerate(zip(records, correct, strict=True))
            ]
            made = [m for m in made if m[1] is not None]
            assert all(resp != good for _, resp, good in made)
            assert not any(verdicts([m[0] for m in made], [m[1] for m in made])), (task, mistake)  # type: ignore[misc]
            hard = [r["id"] for r in records if r["difficulty"] >= 3]
            rates[(task, mistake)] = sum(m[0]["id"] in hard for m in made) / len(hard)
    print("\napplicability (3+ steps):", {f"{t}/{m}": round(r, 2) for (t, m), r in sorted(rates.items())})
    for task in ("Math_CoT", "Math_PoT"):
        for mistake in ("wrong_operator", "off_by_one", "wrong_variable", "dropped_step"):
            assert rates[(task, mistake)] >= 0.9, (task, mistake)
        assert rates[(task, "wrong_formula")] >= 0.6
    assert rates[("Coding", "wrong_operator")] >= 0.8 and rates[("Coding", "off_by_one")] >= 0.8
    for mistake in ("wrong_variable", "dropped_step", "wrong_formula"):
        assert rates[("Coding", mistake)] >= 0.5, mistake
    assert rates[("Logic", "wrong_formula")] >= 0.7 and rates[("Logic", "wrong_operator")] >= 0.7
    for task, records in sample.items():  # every problem admits some mistake
        assert all(applicable_mistakes(r) for r in records), task


def test_logic_restates_its_numbered_sentences_verbatim() -> None:
    """A correct Logic solution restates every clue / premise as the context numbers and words it (a copy),
    and a misread one differs from the context's sentence of that number."""
    frame = generate(120, seed=11, min_steps=1, max_steps=3, tasks={"Logic": 1.0})
    kinds: Counter[str] = Counter()
    for row in frame.iter_rows(named=True):
        ref = json.loads(row["reference"])
        kinds[ref["kind"]] += 1
        sentences = dict(re.findall(r"((?:Clue|Premise) \d+): ([^.]+)\.", row["problem"]))
        numbered = ref["clues"] if ref["kind"] == "ordering" else ref["premises"]
        assert len(sentences) == len(numbered), row["problem"]
        restated = dict(re.findall(r"Step \d+: ((?:Clue|Premise) \d+): ([^.]+)\.", render(row, rng=random.Random(0))))
        assert restated == sentences, (row["problem"], restated)
        flipped = render(row, mistake="wrong_operator", rng=random.Random(0))
        if flipped is not None:
            misread = dict(re.findall(r"Step \d+: ((?:Clue|Premise) \d+): ([^.]+)\.", flipped))
            assert len([k for k in misread if misread[k] != sentences[k]]) == 1, flipped
    assert kinds["ordering"] >= 30 and kinds["syllogism"] >= 20, kinds


def test_render_is_deterministic_and_validates(sample: dict[str, list[dict[str, Any]]]) -> None:
    for records in sample.values():
        rec = records[5]
        for mistake in (None, *MISTAKES):
            assert render(rec, mistake=mistake, rng=random.Random(3)) == render(
                rec, mistake=mistake, rng=random.Random(3)
            )
        listed = applicable_mistakes(rec)
        assert listed == [m for m in MISTAKES if render(rec, mistake=m, rng=random.Random(9)) is not None]
    with pytest.raises(ValueError, match="unknown mistake"):
        render(sample["Logic"][0], mistake="typo", rng=random.Random(0))


def test_pretraining_documents() -> None:
    kw: dict[str, Any] = {"seed": 9, "min_steps": 1, "max_steps": 5}
    docs = pretraining_documents(240, correct_fraction=0.5, **kw)
    assert docs == pretraining_documents(240, correct_fraction=0.5, **kw)
    assert len(docs) == 240 and all(set(d) == {"task", "instruction", "response", "correct"} for d in docs)
    share = sum(d["correct"] for d in docs) / len(docs)
    assert abs(share - 0.5) < 0.1, share
    assert set(Counter(d["task"] for d in docs)) == set(TASKS)
    frame = generate(240, pool="pretrain", **kw)  # the documents' own problems, with ground truth
    by_instruction = {r["instruction"]: r for r in frame.iter_rows(named=True)}
    records = [by_instruction[d["instruction"]] for d in docs]
    assert verdicts(records, [d["response"] for d in docs]) == [d["correct"] for d in docs]
    assert all(d["correct"] for d in pretraining_documents(40, correct_fraction=1.0, **kw))
    assert sum(d["correct"] for d in pretraining_documents(40, correct_fraction=0.0, **kw)) <= 2
    mixed = pretraining_documents(100, correct_fraction=0.5, tasks={"Logic": 3, "Coding": 1}, **kw)
    mix = Counter(d["task"] for d in mixed)
    assert mix == {"Logic": 75, "Coding": 25}  # model.pretrain.tasks: the corpus follows the shares
