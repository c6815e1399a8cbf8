"""experiment=eurus7b: UltraInteract's sources, the GPU runtime, and clear failures where a GPU setup is missing."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from preftree.compose import composed, from_conf
from preftree.config.agents import AgentParams
from preftree.config.params import Params, validate_all
from preftree.config.runtime import RuntimeParams
from preftree.config.select import SelectParams
from preftree.config.sources import FileSourceParams
from preftree.config.tree import TreeParams
from preftree.config.workspace import ParamsError
from preftree.launch import launch_command
from preftree.release import PAIR_FILE, SFT_FILE
from preftree.sources.files import SourceUnavailableError
from preftree.sources.load import load_source, resolve
from preftree.sources.registry import ADAPTERS

from .conftest import REPO, copy_project, file_source, run_env
from .test_adapters_code import cc_row, taco_row, wtq_row
from .test_adapters_logic import HOTPOT_ROW, MAGICODER_ROW, RECLOR_ROW, STRATEGY_ROW
from .test_adapters_math import NUMGLUE_ROWS, mathqa_row, tab_row


@pytest.fixture(scope="module")
def paper() -> Params:
    return validate_all(composed(REPO, ["experiment=eurus7b"]))


# One row shaped like each source's Hugging Face dataset (its real column names and value types), so
# a field mapping that does not match the dataset fails here rather than on the GPU machine.
GSM8K_ROW = {"question": "Tom has 3 boxes of 4 pens and buys 5 more pens. How many pens does he have now?",
             "answer": "He has 3 * 4 = <<3*4=12>>12 pens.\nThen 12 + 5 = <<12+5=17>>17.\n#### 17"}  # fmt: skip
MATH_ROW = {"problem": "What is the value of $x$ if $2x + 3 = 11$ and $x$ is a real number?", "level": "Level 2",
            "type": "Algebra", "solution": "Subtract 3 and divide by 2: $x = \\boxed{4}$."}  # fmt: skip
SVAMP_ROW = {"ID": "chal-2", "Body": "Dan had $ 3 left with him after he bought a candy bar. If he had $ 4 at first",
             "Question": "How much did the candy bar cost?", "Equation": "( 4.0 - 3.0 )", "Answer": 1.0,
             "Type": "Subtraction", "question_concat": "Dan had $ 3 left ... How much did the bar cost?"}  # fmt: skip
ROWS: dict[str, dict[str, Any]] = {
    "openai/gsm8k": GSM8K_ROW,
    "DigitalLearningGmbH/MATH-lighteval": MATH_ROW,
    "qintongli/GSM-Plus": {"question": "Tom has 3 boxes of 4 pens and buys 6 more pens. How many pens does he have?",
                           "solution": "3 * 4 + 6 = 18", "answer": "18", "perturbation_type": "numerical substitution",
                           "seed_question": GSM8K_ROW["question"], "seed_solution": "", "seed_answer": "17"},
    "TIGER-Lab/TheoremQA": {"Question": "How many labeled trees are there on 6 vertices according to Cayley's formula?",
                            "Answer": 1296, "Answer_type": "integer", "Picture": None},
    "ChilleD/SVAMP": SVAMP_ROW,
    "openai/openai_humaneval": {
        "task_id": "HumanEval/0", "prompt": 'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n',
        "canonical_solution": "    return a + b\n", "entry_point": "add",
        "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n"},
    "google-research-datasets/mbpp": {
        "source_file": "Benchmark Questions Verification V2.ipynb", "task_id": 2,
        "prompt": "Write a function to find the shared elements from the given two lists.",
        "code": "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n", "test_imports": [],
        "test_list": ["assert set(similar_elements((3, 4, 5, 6), (5, 7, 4, 10))) == set((4, 5))"]},
}  # fmt: skip
# UltraInteract's other sources: the rows the adapter tests use, in each dataset's layout
ROWS |= {
    "allenai/math_qa": mathqa_row(),
    "/data/ultrainteract/numglue/NumGLUE_train.json": NUMGLUE_ROWS[0],
    "/data/ultrainteract/tabmwp/problems_train.json": tab_row(),
    "deepmind/code_contests": cc_row(),
    "BAAI/TACO": taco_row(),
    "stanfordnlp/wikitablequestions": wtq_row(),
    "ise-uiuc/Magicoder-Evol-Instruct-110K": MAGICODER_ROW,
    "metaeval/reclor": RECLOR_ROW,
    "hotpotqa/hotpot_qa": HOTPOT_ROW,
    "ChilleD/StrategyQA": STRATEGY_ROW,
}
TRAINING = {"gsm8k", "math", "mathqa", "numglue", "tabmwp", "codecontests", "taco", "wikitablequestions",
            "magicoder", "reclor", "hotpotqa", "strategyqa"}  # fmt: skip


def _all_sources(params: Params) -> dict[str, FileSourceParams]:
    return {**params.sources.files, **{f"eval.{k}": v for k, v in params.sources.eval.items()}}


def _origin(spec: FileSourceParams) -> str:
    return str(spec.hf_id if spec.hf_id is not None else spec.path)


def test_preset_reads_ultrainteract_sources_only(paper: Params) -> None:
    sources = paper.sources
    assert sources.synthetic is None  # real data only
    assert set(sources.files) == TRAINING  # the twelve §1.2 datasets
    # the tasks of the paper's Table 7 (TabMWP with the tool only; HotpotQA / StrategyQA are Logic)
    tasks = {name: set(resolve(name, spec)[1]) for name, spec in sources.files.items()}
    math_both = {"Math_CoT", "Math_PoT"}
    assert tasks == {"gsm8k": math_both, "math": math_both, "mathqa": math_both, "numglue": math_both,
                     "tabmwp": {"Math_PoT"}, "codecontests": {"Coding"}, "taco": {"Coding"},
                     "wikitablequestions": {"Coding"}, "magicoder": {"Coding"}, "reclor": {"Logic"},
                     "hotpotqa": {"Logic"}, "strategyqa": {"Logic"}}  # fmt: skip
    # NumGLUE and TabMWP have no canonical Hub id: local files; every other source is a Hub id
    local = {name for name, spec in sources.files.items() if spec.path is not None}
    assert local == {"numglue", "tabmwp"}
    # the paper's per-dataset filters (App. A.1) and Magicoder's judge and SFT-only rule
    assert paper.select.caps.per_pattern is None and paper.select.caps.per_pattern_by_dataset == {"mathqa": 5}
    bounds = paper.select.difficulty.per_dataset
    assert set(bounds) == {"tabmwp"} and (bounds["tabmwp"].min_steps, bounds["tabmwp"].max_steps) == (4, 5)
    assert paper.interact.judge == "critic" and paper.tree.sft_only == ["magicoder"]
    # decontamination against the paper's test sets of the same tasks (App. A.3), all of them
    assert paper.select.decontaminate.ngram == 8 and paper.select.decontaminate.against is None
    assert {"gsm8k_test", "gsm_plus_test", "math_test", "theoremqa_test", "svamp_train", "svamp_test",
            "humaneval_test", "mbpp_sanitized_test"} <= set(sources.eval)  # fmt: skip
    for name, spec in _all_sources(paper).items():
        adapter, tasks_, origin = resolve(name, spec)  # valid adapter, tasks and field mapping
        assert origin == _origin(spec), name
        assert name in local or (spec.hf_id and spec.path is None), name
    # a training split is never also a decontamination target
    train = {(s.hf_id, s.hf_config, s.split) for s in sources.files.values() if s.hf_id}
    assert not train & {(s.hf_id, s.hf_config, s.split) for s in sources.eval.values()}
    # the paper's interaction budget, over every selected instruction
    assert (paper.interact.samples_per_turn, paper.interact.max_turns, paper.interact.limit) == (20, 5, None)


def test_ultrainteract_group_composes_on_its_own() -> None:
    params = validate_all(composed(REPO, ["sources=ultrainteract"]))
    assert params.sources.synthetic is None and set(params.sources.files) == TRAINING
    assert params.model.name == "tiny"  # only the sources changed


@pytest.mark.parametrize("name", [*sorted(TRAINING), *[f"eval.{k}" for k in composed(REPO, ["experiment=eurus7b"])
                                                        ["sources"]["eval"]]])  # fmt: skip
def test_each_source_reads_its_datasets_columns(name: str, paper: Params, tmp_path: Path) -> None:
    """Every configured source, pointed at a local file with one row in its dataset's layout, loads it."""
    spec = _all_sources(paper)[name]
    assert _origin(spec) in ROWS, f"add a sample row of {_origin(spec)} to ROWS"
    data = tmp_path / "rows.jsonl"
    data.write_text(json.dumps(ROWS[_origin(spec)]) + "\n")
    local = dataclasses.replace(spec, hf_id=None, hf_config=None, path=str(data))
    records, rejected = load_source(name, local, training=not name.startswith("eval."))  # as select reads them
    assert rejected.height == 0, rejected.to_dicts()
    tasks = spec.tasks or list(ADAPTERS[spec.adapter].default_tasks)
    assert sorted(records["task"].to_list()) == sorted(tasks)
    assert records["problem"].str.len_chars().min() > 20  # the problem text, not an id or a letter
    if spec.adapter == "magicoder_evol_instruct":  # no tests, no answer: judged by an LLM (interact.judge)
        assert records["reference"].str.contains('"kind": "text"').all()
    elif spec.adapter != "generic":  # generic eval sets only need the problem text (8-gram decontamination)
        assert all(records["answer"]) or all(records["tests"].list.len() > 0)


def test_preset_runs_on_gpus_with_the_paper_setup(paper: Params) -> None:
    rt = paper.runtime
    assert (rt.device, rt.bf16, rt.gradient_checkpointing) == ("cuda", True, True)
    assert (rt.launcher, rt.engine) == ("accelerate", "vllm")
    config = REPO / str(rt.accelerate_config)
    assert config.is_file() and "distributed_type: DEEPSPEED" in config.read_text()
    assert "zero_stage: 3" in config.read_text()
    assert paper.model.path == "/models/Mistral-7B-v0.1"
    assert paper.actor.backend == paper.critic.backend == "openai"
    assert paper.actor.api_key_env and paper.critic.api_key_env  # names of env vars, never keys


def test_preset_trains_on_every_instruction_with_the_papers_budgets() -> None:
    """No held-out split of the training data (evaluation uses the benchmarks), the release's SFT file
    read as the SFT view, and generation budgets for the paper's 1-2K-token trajectories."""
    overrides = ["experiment=eurus7b"]
    select = from_conf(SelectParams, "select", overrides=overrides)
    tree = from_conf(TreeParams, "tree", overrides=overrides)
    assert select.heldout.fraction == 0.0 and tree.heldout_fraction == 0.0
    assert (tree.release.sft, tree.release.pairs) == (SFT_FILE, PAIR_FILE)
    agents = {name: from_conf(AgentParams, name, overrides=overrides) for name in ("actor", "weak", "critic")}
    assert agents["actor"].max_new_tokens >= 2048 and agents["weak"].max_new_tokens >= 2048
    assert agents["critic"].max_new_tokens >= 1024
    defaults = {name: from_conf(AgentParams, name) for name in agents}  # the tiny defaults stay as they are
    assert defaults["actor"].max_new_tokens == defaults["weak"].max_new_tokens == 512
    assert from_conf(TreeParams, "tree").release.sft is None


# one row of each benchmark's Hugging Face dataset, in its own layout (the preset's eval.benchmarks)
BENCHMARK_ROWS: dict[str, dict[str, Any]] = {
    "openai/openai_humaneval": ROWS["openai/openai_humaneval"],
    "google-research-datasets/mbpp": {  # the `full` config
        "task_id": 11, "text": "Write a python function to remove first and last occurrence of a given character.",
        "code": "def remove_Occ(s, ch):\n    return s.strip(ch)\n", "test_setup_code": "",
        "test_list": ['assert remove_Occ("hello","l") == "heo"'], "challenge_test_list": []},
    "openai/gsm8k": GSM8K_ROW,
    "HuggingFaceH4/MATH-500": {"problem": "What is $2x$ if $x = 3$?", "solution": "$2x = \\boxed{6}$.", "answer": "6",
                               "subject": "Algebra", "level": 1, "unique_id": "test/algebra/1.json"},
}  # fmt: skip


def test_preset_evaluates_on_the_papers_benchmarks(tmp_path: Path) -> None:
    """Nothing is held out of training, so eval@* and rerank read benchmarks, never data/selected/heldout."""
    from preftree.config.evaluate import EvalParams, RerankParams
    from preftree.evaluate.registry import BENCHMARKS, load_benchmark

    overrides = ["experiment=eurus7b"]
    evals, rerank = (
        from_conf(EvalParams, "eval", overrides=overrides),
        from_conf(RerankParams, "rerank", overrides=overrides),
    )
    assert set(evals.benchmarks) == {"humaneval", "mbpp", "gsm8k", "math500"}
    assert set(evals.multiturn.benchmarks) <= set(evals.benchmarks)
    assert {name: source.path for name, source in rerank.sources().items()} == {  # paper Figure 4
        name: evals.benchmarks[name].path for name in ("humaneval", "mbpp", "gsm8k", "math500")
    }
    for name, source in evals.benchmarks.items():
        assert name in BENCHMARKS and source.path in BENCHMARK_ROWS, name
        data = tmp_path / f"{name}.jsonl"
        data.write_text(json.dumps(BENCHMARK_ROWS[source.path]) + "\n")
        assert len(load_benchmark(name, data)) == 1, name  # the dataset's columns parse
    assert list(from_conf(EvalParams, "eval").benchmarks) == ["tiny"]  # the tiny default keeps select's held-out set


# ------------------------------------------------------------------------------------------------
# clear failures on a machine that is not (yet) set up for the preset


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None, reason="deepspeed is installed")
def test_zero3_launcher_without_deepspeed_names_the_package(paper: Params) -> None:
    with pytest.raises(ParamsError) as info:
        launch_command("stages.sft", [], paper.runtime, root=REPO)
    message = str(info.value)
    assert "'deepspeed'" in message and "pip install deepspeed" in message and "zero3.yaml" in message
    assert "\n" not in message


def test_accelerate_launcher_with_a_missing_config_names_it(tmp_path: Path) -> None:
    runtime = from_conf(RuntimeParams, "runtime", launcher="accelerate", accelerate_config=str(tmp_path / "nope.yaml"))
    with pytest.raises(ParamsError, match=r"runtime\.accelerate_config: no such file .*nope\.yaml"):
        launch_command("stages.sft", [], runtime, root=REPO)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_engine_without_vllm_gives_the_install_hint(tmp_path: Path) -> None:
    from preftree.generation.factory import make_generator
    from preftree.generation.vllm import VLLMUnavailableError

    with pytest.raises(VLLMUnavailableError, match=r"pip install -e '\.\[gpu\]'"):
        make_generator(tmp_path, engine="vllm")


def test_uncached_hf_source_fails_naming_the_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    hf_id = f"preftree-test/not-cached-{uuid.uuid4().hex[:12]}"
    spec = file_source(adapter="gsm8k", hf_id=hf_id, hf_config="main", split="train")
    with pytest.raises(SourceUnavailableError) as info:
        load_source("gsm8k", spec)
    message = str(info.value)
    assert message.startswith("source 'gsm8k': ")  # the config key, then the dataset
    assert f"Hugging Face dataset {hf_id!r} (config='main', split='train') is not available offline" in message
    assert f"hf download --repo-type dataset {hf_id}" in message and "set `path`" in message
    assert "\n" not in message


@pytest.fixture(scope="module")
def eurus_copy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """A project copy composed with experiment=eurus7b, a missing model.path and an empty HF cache."""
    tmp = tmp_path_factory.mktemp("eurus7b")
    missing = tmp / "missing"
    # composing for another machine (its files are not here): the stages' own checks are what these tests see
    root = copy_project(tmp / "proj", ["--no-path-check", "experiment=eurus7b", f"model.path={missing}"])
    env = run_env(root)
    env.update({"HF_HOME": str(tmp / "hf"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    env.pop("HF_DATASETS_CACHE", None)
    env.pop("HF_HUB_CACHE", None)
    return root, missing, env


def _stage(root: Path, env: dict[str, str], name: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"stages.{name}"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def _last_line(stderr: str) -> str:
    return [line for line in stderr.splitlines() if line.strip()][-1]


def test_base_with_a_missing_model_path_fails_in_one_line(eurus_copy: tuple[Path, Path, dict[str, str]]) -> None:
    root, missing, env = eurus_copy
    proc = _stage(root, env, "base")
    assert proc.returncode != 0
    assert _last_line(proc.stderr) == f"base: error: params.yaml: model.path: no such dir: {missing}", proc.stderr[
        -2000:
    ]
    assert "Traceback" not in proc.stderr
    assert not (root / "models" / "base").exists()


def test_select_without_the_datasets_fails_naming_the_first_one(
    eurus_copy: tuple[Path, Path, dict[str, str]],
) -> None:
    root, _, env = eurus_copy
    proc = _stage(root, env, "select")
    assert proc.returncode != 0
    line = _last_line(proc.stderr)
    # local files named in params are checked when the stage starts, before any dataset is read
    assert line == (
        "select: error: params.yaml: sources.files.numglue.path: no such file or folder: "
        "/data/ultrainteract/numglue/NumGLUE_train.json"
    )
    assert "Traceback" not in proc.stderr
    assert not (root / "data" / "selected").exists()


def test_select_applies_the_papers_per_dataset_filters_to_all_sources(paper: Params, tmp_path: Path) -> None:
    """All twelve sources through collect + run_select with the preset's filters, on rows in their layouts."""
    from preftree.select import run_select
    from preftree.sources.collect import collect

    speed = "a train runs {} km in {} hours . what is its speed in km / hr ?"
    words = ["zebra", "kiwi", "mango", "lemon", "plum", "fig", "pear", "lime"]
    rows: dict[str, list[dict[str, Any]]] = {
        "numglue": NUMGLUE_ROWS,  # types 5-7 skipped
        "mathqa": [mathqa_row(Problem=speed.format(i, i + 1)) for i in range(8)],  # one formula: 5 kept
        "tabmwp": [
            tab_row(
                grade=g,
                question=" ".join([*words[g - 1 :], "total", str(g), "?"]),
                table_title=f"T{g}",
                table=f"a | b\n{g} | {g * 7}",
            )
            for g in range(1, 9)
        ],  # fmt: skip
        "codecontests": [cc_row(), cc_row(description="Print hello.", solutions={"language": [2], "solution": ["x"]})],
        "taco": [taco_row(), taco_row(question="Read a and print a.", input_output="")],
    }
    files = {}
    for name, spec in paper.sources.files.items():
        data = tmp_path / f"{name}.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows.get(name, [ROWS[_origin(spec)]])))
        files[name] = dataclasses.replace(spec, hf_id=None, hf_config=None, path=str(data))
    collected = collect(dataclasses.replace(paper.sources, files=files, eval={}), seed=0)
    result = run_select(collected.instructions, collected.rejected, params=paper.select, eval_sets={},
                        solved_ids=set(), seed=0, n_rows_by_dataset=collected.rows_read)  # fmt: skip
    stats = result.stats["datasets"]
    got = {ds: (s["skipped"], s["rejected"], s["removed_cap"], s["removed_difficulty"], s["train"] + s["heldout"])
           for ds, s in stats.items()}  # fmt: skip
    assert got == {
        "gsm8k": (0, 0, 0, 0, 2), "math": (0, 0, 0, 0, 2), "mathqa": (0, 0, 6, 0, 10), "numglue": (3, 0, 0, 0, 10),
        "tabmwp": (0, 0, 0, 6, 2), "codecontests": (1, 0, 0, 0, 1), "taco": (1, 0, 0, 0, 1),
        "wikitablequestions": (0, 0, 0, 0, 1), "magicoder": (0, 0, 0, 0, 1), "reclor": (0, 0, 0, 0, 1),
        "hotpotqa": (0, 0, 0, 0, 1), "strategyqa": (0, 0, 0, 0, 1),
    }  # fmt: skip
    kept_grades = set(pl.concat([result.train, result.heldout]).filter(pl.col("dataset") == "tabmwp")["difficulty"])
    assert kept_grades == {4, 5}
    assert set(result.train["task"]) | set(result.heldout["task"]) == {"Math_CoT", "Math_PoT", "Coding", "Logic"}
