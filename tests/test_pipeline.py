"""The real dvc.yaml on a reduced config: no-op repro, invalidation, experiments, MLflow lineage,
and the two stages' user-facing failure modes. Each test works in a temp copy of the project."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from .conftest import copy_project, file_source, sh

pytestmark = pytest.mark.slow


TRAIN = ("sft", "align@dpo", "align@kto", "align@nca", "rm@bt", "rm@bt_dr")
EVAL = ("eval@base", "eval@sft", "eval@dpo", "eval@kto", "eval@nca")
ALL_STAGES = ("base", "select", "interact", "tree", *TRAIN, *EVAL, "rerank", "report")


def _status(root: Path) -> dict:
    return json.loads(sh(root, "dvc", "status", "--json").stdout or "{}")


def _edit(root: Path, key: str, value: object) -> None:
    path = root / "params.yaml"
    data = yaml.safe_load(path.read_text())
    node = data
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_second_repro_does_nothing(smoke_project: Path) -> None:
    out = sh(smoke_project, "dvc", "repro").stdout
    assert "Running stage" not in out
    assert _status(smoke_project) == {}
    assert "Data and pipelines are up to date" in sh(smoke_project, "dvc", "status").stdout


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [  # the stages whose own params change (the README contract table covers one key per section)
        ("select.dedup.near_threshold", 0.9, {"select"}),
        ("model.arch.hidden_size", 32, {"base"}),
        ("seed", 1, {"base", "select", "interact", "tree", *TRAIN, *EVAL, "rerank", "report"}),
        ("sandbox.timeout_s", 3.0, {"interact", *EVAL, "rerank"}),
        ("tree.rm.max_pairs", 4, {"tree"}),
        ("sft.packing", True, {"sft"}),
        ("align.kto.desirable_weight", 1.0, {"align@kto"}),
        ("align.nca.beta", 0.05, {"align@nca"}),
        ("eval.multiturn.max_turns", 2, set(EVAL)),
        ("eval.policies", ["base", "sft", "dpo", "kto", "nca"][::-1], {"report"}),
        ("runtime.workers", 1, set()),
        ("runtime.threads", 1, set()),
        ("runtime.engine", "vllm", set()),
        ("runtime.gradient_checkpointing", True, set()),
    ],
)
def test_a_param_change_invalidates_exactly_its_readers(
    smoke_project: Path, key: str, value: object, expected: set[str]
) -> None:
    original = (smoke_project / "params.yaml").read_text()
    try:
        _edit(smoke_project, key, value)
        assert set(_status(smoke_project)) == expected
    finally:
        (smoke_project / "params.yaml").write_text(original)


def test_changing_select_really_reruns_select_only(smoke_project: Path) -> None:
    original = (smoke_project / "params.yaml").read_text()
    try:
        _edit(smoke_project, "select.heldout.fraction", 0.3)
        out = sh(smoke_project, "dvc", "repro", "select").stdout  # (downstream stages: the contract tests)
        assert "Running stage 'select'" in out and "Running stage 'base'" not in out
        held = pl.read_parquet(smoke_project / "data/selected/heldout.parquet")
        train = pl.read_parquet(smoke_project / "data/selected/train.parquet")
        share = held["problem_id"].n_unique() / (held["problem_id"].n_unique() + train["problem_id"].n_unique())
        assert 0.25 < share < 0.35
    finally:
        (smoke_project / "params.yaml").write_text(original)
        sh(smoke_project, "dvc", "repro", "select")  # back to the committed state (restored from the run-cache)
    assert _status(smoke_project) == {}


def test_mlflow_holds_one_parent_and_a_tagged_child_per_stage(smoke_project: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{smoke_project / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("preftree").experiment_id])
    rev = sh(smoke_project, "git", "rev-list", "--max-parents=0", "HEAD").stdout.strip()
    group = [r for r in runs if r.data.tags.get("preftree.group") == rev[:12]]
    parents = [r for r in group if r.data.tags["preftree.role"] == "pipeline"]
    children = [r for r in group if r.data.tags["preftree.role"] == "stage"]
    assert len(parents) == 1
    assert sorted(r.data.tags["dvc.stage"] for r in children) == sorted(ALL_STAGES)
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert child.data.tags["git.rev"] == rev
        assert len(child.data.tags["params.sha256"]) == 16
        name, _, key = child.data.tags["dvc.stage"].partition("@")
        assert child.data.tags["dvc.cmd"] == f"python -m stages.{name}" + (f" {key}" if key else "")
    base = next(r for r in children if r.data.tags["dvc.stage"] == "base")
    assert base.data.metrics["loss_heldout"] < base.data.metrics["loss_initial_heldout"]
    assert "model.pretrain.steps" in base.data.params and "select.heldout.fraction" not in base.data.params
    assert len(client.get_metric_history(base.info.run_id, "train/loss")) >= 10


def test_exp_run_in_a_temp_dir_is_listed_and_logs_to_the_root_db(smoke_project: Path) -> None:
    sh(
        smoke_project,
        "dvc",
        "exp",
        "run",
        "--temp",
        "-n",
        "frac35",
        "-S",
        "experiment=smoke",
        "-S",
        "select.heldout.fraction=0.35",  # far from the default (0.253): a new split at smoke size
        "tree",  # the stages up to the tree views (the training stages after it: tests/test_sweep.py)
    )
    shown = json.loads(sh(smoke_project, "dvc", "exp", "show", "--json").stdout)
    found = {}
    for entry in shown:
        for exp in entry.get("experiments") or []:
            for rev in exp.get("revs", []):
                data = rev.get("data") or {}
                found[rev.get("name") or data.get("name")] = data
    assert "frac35" in found, list(found)
    params = found["frac35"]["params"]["params.yaml"]["data"]
    assert params["select"]["heldout"]["fraction"] == 0.35
    total = found["frac35"]["metrics"]["metrics/select.json"]["data"]["total"]
    assert total["heldout_problems"] / (total["heldout_problems"] + total["train_problems"]) > 0.3
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{smoke_project / 'mlflow.db'}")
    runs = client.search_runs(
        [client.get_experiment_by_name("preftree").experiment_id], filter_string="tags.`preftree.group` = 'frac35'"
    )
    assert {r.data.tags["preftree.role"] for r in runs} == {"pipeline", "stage"}
    stages = sorted(r.data.tags["dvc.stage"] for r in runs if r.data.tags["preftree.role"] == "stage")
    assert stages == ["interact", "select", "tree"]  # base is untouched; the rest reads the new selection
    interact = next(r for r in runs if r.data.tags.get("dvc.stage") == "interact")
    assert interact.data.tags["dep.data/selected"].endswith(".dir")  # md5 of the input read, as DVC hashes it


def _with_params(tmp_path: Path, edits: dict[str, object]) -> Path:
    root = copy_project(tmp_path / "proj", ["experiment=smoke"])
    for key, value in edits.items():
        _edit(root, key, value)
    return root


def _file_entry(path: Path) -> dict:
    """A sources.files entry (every key) reading a local gsm8k-format file."""
    return dataclasses.asdict(file_source(adapter="gsm8k", path=str(path)))


def test_select_writes_malformed_rows_to_the_rejected_file(tmp_path: Path) -> None:
    bad = tmp_path / "mixed.jsonl"
    good = [
        {"question": f"Ann has {i} apples and buys {i + 2} more. How many now?", "answer": f"add\n#### {2 * i + 2}"}
        for i in range(30)
    ]
    lines = [json.dumps(r) for r in good] + [
        '{"question": "no answer field"}',
        "{not json",
        json.dumps({"question": 7, "answer": "#### 1"}),
    ]
    bad.write_text("\n".join(lines) + "\n")
    root = _with_params(tmp_path, {"sources.files": {"mine": _file_entry(bad)}, "select.max_reject_rate": 0.2})
    sh(root, sys.executable, "-m", "stages.select")
    rejected = pl.read_parquet(root / "data/selected/rejected.parquet").sort("source_row")
    assert rejected["source_row"].to_list() == [31, 32, 33]  # the file's line numbers
    assert rejected["field"].to_list() == ["answer", "", "question"]
    assert rejected["reason"][0] == "missing" and "invalid JSON" in rejected["reason"][1]
    assert rejected["reason"][2].startswith("wrong type")
    stats = json.loads((root / "metrics/info/select.json").read_text())["datasets"]["mine"]
    assert stats["rejected"] == 3 and stats["source_rows"] == 33


def test_select_fails_above_the_rejection_rate_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q1", "answer": "#### 1"}\n{"question": ""}\n{"answer": "#### 2"}\n')
    root = _with_params(tmp_path, {"sources.files": {"mine": _file_entry(bad)}})
    proc = sh(root, sys.executable, "-m", "stages.select", check=False)
    assert proc.returncode != 0
    message = proc.stderr.strip().splitlines()[-1]
    assert f"source 'mine' ({bad}): 2 of 3 rows malformed (66.7%); top reasons: " in message
    assert message.endswith("data/selected/rejected.parquet")
    assert pl.read_parquet(root / "data/selected/rejected.parquet").height == 2
    assert [p.name for p in (root / "data/selected").iterdir()] == ["rejected.parquet"]  # no train/heldout


def test_unknown_param_stops_a_stage_before_work(tmp_path: Path) -> None:
    root = _with_params(tmp_path, {"select.dedup.near_treshold": 0.5})
    proc = sh(root, sys.executable, "-m", "stages.select", check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        "select: error: params.yaml: unknown key 'select.dedup.near_treshold' "
        "(known here: exact, near, near_threshold, num_perm, shingle)"
    )
    assert not (root / "data").exists()


def test_base_with_a_local_checkpoint_records_it_without_copying(tmp_path: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    from preftree.compose import from_conf
    from preftree.config.model import TokenizerParams
    from preftree.models.tokenizer import train_tokenizer

    ckpt = tmp_path / "ckpt"
    tok = train_tokenizer(
        ["some text to learn merges from " * 20], from_conf(TokenizerParams, "model.tokenizer", vocab_size=300)
    )
    LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
        )
    ).save_pretrained(ckpt)
    tok.save_pretrained(ckpt)
    root = _with_params(
        tmp_path, {"model": {"name": "local", "path": str(ckpt), "tokenizer": None, "arch": None, "pretrain": None}}
    )
    sh(root, sys.executable, "-m", "stages.base")
    pointer = json.loads((root / "models/base/checkpoint.json").read_text())
    assert pointer["path"] == str(ckpt.resolve()) and pointer["model_type"] == "llama"
    assert sorted(p.name for p in (root / "models/base").iterdir()) == ["README.md", "card.json", "checkpoint.json"]
    assert json.loads((root / "metrics/info/base.json").read_text())["identity_digest"] == pointer["identity"]["digest"]

    _edit(root, "model.path", str(tmp_path / "nowhere"))
    proc = sh(root, sys.executable, "-m", "stages.base", check=False)
    assert proc.returncode != 0
    expected = f"base: error: params.yaml: model.path: no such dir: {tmp_path / 'nowhere'}"  # checked at start
    assert proc.stderr.strip().splitlines()[-1] == expected


def _views(root: Path) -> dict[str, pl.DataFrame]:
    return {
        f"{view}/{split}": pl.read_parquet(root / "data/tree" / view / f"{split}.parquet")
        for view in ("sft", "pairs", "kto", "rm")
        for split in ("train", "heldout")
    }


def test_tree_views_load_with_datasets_and_reimport_exactly(smoke_project: Path, tmp_path: Path) -> None:
    import datasets

    from preftree.release import write_release

    features = datasets.load_dataset(
        "parquet", data_files=str(smoke_project / "data/tree/pairs/train.parquet"), split="train"
    ).features
    assert features == datasets.Features(
        {
            "id": datasets.Value("string"),
            "parent_id": datasets.Value("string"),
            "task": datasets.Value("string"),
            "dataset": datasets.Value("string"),
            "trajectory": datasets.List({"from": datasets.Value("string"), "value": datasets.Value("string")}),
            "chosen": datasets.Value("string"),
            "rejected": datasets.Value("string"),
        }
    )
    before = _views(smoke_project)
    assert before["pairs/train"].height > 0 and before["rm/train"]["augmented"].any()
    release = tmp_path / "release"
    write_release({v: {s: before[f"{v}/{s}"] for s in ("train", "heldout")} for v in ("sft", "pairs")}, release)
    original = (smoke_project / "params.yaml").read_text()
    try:
        _edit(smoke_project, "tree.source", "release")
        _edit(smoke_project, "tree.input", str(release))
        _edit(smoke_project, "tree.release.sft", "0000_sft.parquet")
        sh(smoke_project, sys.executable, "-m", "stages.tree")
        after = _views(smoke_project)
        for name, frame in before.items():
            assert after[name].equals(frame), name
    finally:
        (smoke_project / "params.yaml").write_text(original)
        sh(smoke_project, "dvc", "checkout", "data/tree")
        sh(smoke_project, "git", "checkout", "--", "metrics")
    assert _status(smoke_project) == {}


def test_a_bad_release_file_stops_tree_naming_file_row_and_field(smoke_project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "rel"
    bad.mkdir()
    rows = [
        {
            "id": "a" * 64 + "_1_1",
            "parent_id": "a" * 64,
            "task": "Coding",
            "dataset": "x",
            "trajectory": [{"from": "user", "value": "q"}],
            "chosen": "c",
            "rejected": 3,
        }
    ]
    (bad / "pairs.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    root = _with_params(
        tmp_path, {"tree.source": "release", "tree.input": str(bad), "tree.release.pairs": "pairs.jsonl"}
    )
    proc = sh(root, sys.executable, "-m", "stages.tree", check=False)
    assert proc.returncode != 0
    assert (
        proc.stderr.strip().splitlines()[-1]
        == "tree: error: pairs.jsonl: row 0: field 'rejected': expected str, got int"
    )


def _contract_rows() -> list[tuple[str, str]]:
    """(first cell, second cell) of each row of the README's invalidation-contract table."""
    from .conftest import REPO

    text = (REPO / "README.md").read_text()
    start = text.index("| change (the example the test applies) | reruns |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        change, reruns = (cell.strip() for cell in line.strip("|").split("|"))
        rows.append((change, reruns))
    return rows


def _expected(reruns: str, rows: list[tuple[str, str]], stages: set[str]) -> set[str]:
    import fnmatch

    if reruns.startswith("the same as "):
        target = re.findall(r"`([^`]+)`", reruns)[0]
        (other,) = [r for c, r in rows if f"`{target}`" in c and not r.startswith("the same as")]
        return _expected(other, rows, stages)
    if reruns == "nothing":
        return set()
    named = {s for token in re.findall(r"`([^`]+)`", reruns) for s in stages if fnmatch.fnmatchcase(s, token)}
    if reruns.startswith("every stage but"):
        return stages - named
    if reruns == "every stage":
        return set(stages)
    return named


CONTRACT = [
    (example, reruns) for change, reruns in _contract_rows() for example in re.findall(r"`([^`=]+=[^`]+)`", change)
]


@pytest.mark.parametrize(("example", "reruns"), CONTRACT, ids=[e for e, _ in CONTRACT])
def test_the_readme_invalidation_contract_holds(smoke_project: Path, example: str, reruns: str) -> None:
    from preftree.lineage import downstream, read_lock

    lock = read_lock(smoke_project)
    expected = _expected(reruns, _contract_rows(), set(lock))
    key, value = example.split("=", 1)
    original = (smoke_project / "params.yaml").read_text()
    try:
        _edit(smoke_project, key, yaml.safe_load(value))
        changed = set(_status(smoke_project))
    finally:
        (smoke_project / "params.yaml").write_text(original)
    assert downstream(changed, lock) == expected
