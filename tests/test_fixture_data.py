"""fixtures/sources/ and fixtures/benchmarks/ (sources=ultrainteract_cpu, experiment=eurus7b_cpu): every
file loads through its adapter or benchmark loader with nothing rejected, select keeps every row, the
reference programs pass in the sandbox, and the writer scripts reproduce the committed bytes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

from preftree.compose import composed, from_conf
from preftree.config.params import Params, validate_all
from preftree.config.sandbox import SandboxParams
from preftree.config.select import SelectParams
from preftree.env import evaluate_actions
from preftree.evaluate.check_references import check
from preftree.evaluate.registry import load_benchmark
from preftree.select import run_select
from preftree.sources.collect import collect, eval_sets
from preftree.sources.load import load_source

from .conftest import REPO

SOURCES = REPO / "fixtures" / "sources"
BENCHMARKS = REPO / "fixtures" / "benchmarks"
WRITERS = {
    SOURCES: REPO / "tools" / "write_source_fixtures.py",
    BENCHMARKS: REPO / "tools" / "write_benchmark_fixtures.py",
}
# registry name -> file: the paper's benchmarks (paper §4) and MINT's code and math subsets
BENCH_FILES = {
    "humaneval": "humaneval.jsonl",
    "mbpp": "mbpp.jsonl",
    "mbpp_eurus": "mbpp_eurus.json",
    "gsm8k": "gsm8k_test.jsonl",
    "gsm_plus": "gsm_plus_test.jsonl",
    "math500": "math500_test.jsonl",
    "svamp": "svamp.json",
    "theoremqa": "theoremqa_test.json",
    "mint_humaneval": "mint_humaneval_test_prompts.json",
    "mint_math": "mint_math_test_prompts.json",
}
MAX_BYTES = 200_000


@pytest.fixture(scope="module")
def params() -> Params:
    return validate_all(composed(REPO, ["sources=ultrainteract_cpu"]))


@pytest.fixture(scope="module")
def limits() -> SandboxParams:
    return from_conf(SandboxParams, "sandbox")


def _writer(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_source_reads_a_local_fixture(params: Params) -> None:
    paper = validate_all(composed(REPO, ["sources=ultrainteract"])).sources
    assert set(params.sources.files) == set(paper.files) and set(params.sources.eval) == set(paper.eval)
    for name, spec in {**params.sources.files, **params.sources.eval}.items():
        assert spec.hf_id is None and str(spec.path).startswith("fixtures/"), name
        assert (REPO / str(spec.path)).is_file(), name
        paper_spec = paper.files.get(name) or paper.eval[name]
        assert (spec.adapter, spec.split, spec.tasks, spec.fields) == (
            paper_spec.adapter, paper_spec.split, paper_spec.tasks, paper_spec.fields)  # fmt: skip


def test_each_fixture_source_loads_with_nothing_rejected(params: Params) -> None:
    for name, spec in params.sources.files.items():
        records, rejected = load_source(name, spec)  # as select reads them (the training contract checked)
        assert rejected.height == 0, (name, rejected.to_dicts()[:3])
        assert 12 <= records["source_row"].n_unique() <= 25, name
    for name, spec in params.sources.eval.items():
        records, rejected = load_source(name, spec, training=False)
        assert rejected.height == 0 and records.height >= 10, (name, rejected.to_dicts()[:3])


@pytest.mark.parametrize("preset", [[], ["experiment=eurus7b"]])
def test_select_keeps_every_fixture_row(params: Params, preset: list[str]) -> None:
    """No duplicates, no 8-gram overlap with the benchmark files (paper App. A.3), and with the paper's
    filters (experiment=eurus7b: MathQA's formula cap, TabMWP grades 4-5) nothing is dropped either."""
    select = from_conf(SelectParams, "select", overrides=preset)
    collected = collect(params.sources, seed=0)
    result = run_select(collected.instructions, collected.rejected, params=select,
                        eval_sets=eval_sets(params.sources, None), solved_ids=set(), seed=0,
                        n_rows_by_dataset=collected.rows_read)  # fmt: skip
    assert result.removed.height == 0, result.removed.select("dataset", "reason", "detail").to_dicts()[:5]
    assert result.train.height + result.heldout.height == collected.instructions.height


def _fenced(code: str) -> str:
    return f"Here is my solution.\n```python\n{code.rstrip()}\n```\n"


def test_reference_programs_pass_their_tests(params: Params, limits: SandboxParams) -> None:
    for name in ("codecontests", "taco"):
        records, _ = load_source(name, params.sources.files[name])
        for record in records.to_dicts():
            code = json.loads(record["reference"])["code"]
            [obs] = evaluate_actions(record, [_fenced(code)], limits=limits)
            assert obs.correct, (name, record["source_row"], obs.text)


def test_table_answers_are_what_the_sql_returns(params: Params, limits: SandboxParams) -> None:
    """Each WikiTableQuestions answer is judged correct for the query it was computed with."""
    writer = _writer(WRITERS[SOURCES])
    name = "wikitablequestions_train.parquet"
    queries = [sql for *_, sql in writer.wtq_questions(writer.rng_for(name))]
    records, _ = load_source("wikitablequestions", params.sources.files["wikitablequestions"])
    assert records.height == len(queries)
    for record, sql in zip(records.sort("source_row").to_dicts(), queries, strict=True):
        [obs] = evaluate_actions(record, [_fenced(f"print(conn.execute({sql!r}).fetchall())")], limits=limits)
        assert obs.correct, (record["answer"], sql, obs.text)


def test_hotpot_answers_are_in_the_supporting_paragraphs(params: Params) -> None:
    records, _ = load_source("hotpotqa", params.sources.files["hotpotqa"])
    for record in records.to_dicts():
        assert record["answer"] in ("yes", "no") or record["answer"] in record["problem"].split("Question:")[0]


@pytest.mark.parametrize("benchmark", sorted(BENCH_FILES))
def test_benchmark_file_loads_and_its_references_pass(benchmark: str, limits: SandboxParams) -> None:
    items = load_benchmark(benchmark, BENCHMARKS / BENCH_FILES[benchmark])
    assert 10 <= len(items) <= 20
    result = check(items, limits=limits)
    assert (result.accepted, result.skipped) == (len(items), 0), result.failures


@pytest.mark.parametrize("folder", sorted(WRITERS))
def test_writer_reproduces_the_committed_files(folder: Path, tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(WRITERS[folder]), "--out", str(tmp_path)], check=True, capture_output=True)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in folder.iterdir())
    for name in written:
        data = (folder / name).read_bytes()
        assert (tmp_path / name).read_bytes() == data, f"{folder.name}/{name} differs from what its writer writes"
        assert len(data) < MAX_BYTES, name
    if folder == SOURCES:  # the parquet files hold the datasets' nesting (structs and lists), as published
        cc = pl.read_parquet(folder / "code_contests_train.parquet")
        assert isinstance(cc.schema["public_tests"], pl.Struct) and isinstance(cc.schema["solutions"], pl.Struct)


def test_scripted_actor_acts_on_every_source(params: Params, limits: SandboxParams) -> None:
    """experiment=eurus7b_cpu grows trees with the offline actor on all twelve sources: its correct actions
    are judged correct by the environment (tests, answers, the table) or, for Magicoder, by the offline
    judge (interact.judge=critic); the weak actor's mutations are unverified (a mutated branch the tests
    never reach still passes, and is then a correct action), so most, not all, are judged wrong."""
    from preftree.agents.base import ActRequest
    from preftree.agents.judge import ScriptedJudge
    from preftree.agents.scripted_actor import ScriptedActor
    from preftree.config.agents import AgentParams

    actor = ScriptedActor(from_conf(AgentParams, "actor", mistake_rate=0.0))
    weak = ScriptedActor(from_conf(AgentParams, "actor", weak=True), name="weak")
    judge = ScriptedJudge()
    wrong: dict[str, list[bool]] = {}
    for name, spec in params.sources.files.items():
        records, _ = load_source(name, spec)
        for record in records.head(3).to_dicts():
            messages = [{"role": "user", "content": record["instruction"]}]
            ask = ActRequest(record=record, messages=messages, turn=1, n=1, seed=0, guided=False)
            good, bad = actor.act([ask])[0][0].text, weak.act([ask])[0][0].text
            if name == "magicoder":
                verdicts = [judge.verdict(record, good).correct, judge.verdict(record, bad).correct]
            else:
                verdicts = [o.correct for o in evaluate_actions(record, [good, bad], limits=limits)]
            assert verdicts[0], (name, good)
            wrong.setdefault(name, []).append(not verdicts[1])
    assert len(wrong) == 12
    share = sum(sum(v) for v in wrong.values()) / sum(len(v) for v in wrong.values())
    assert share >= 0.8, wrong
