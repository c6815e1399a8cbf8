"""preftree.lineage on the reproduced smoke pipeline: chains from dvc.lock (+ MLflow run ids), and one
record followed back to its tree nodes, instruction and source row (slow); and provenance from the
bytes: the md5s that cards and MLflow tags record are DVC's own hashes of what a stage read."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from preftree.config.load import StageParams
from preftree.dvchash import dvc_md5, input_digests
from preftree.provenance import lineage_card

from .conftest import sh

slow = pytest.mark.slow


def _stages(node: dict, found: dict | None = None) -> dict[str, dict]:
    found = {} if found is None else found
    if not node.get("see_above"):
        found[node["stage"]] = node
        for up in node["upstream"]:
            _stages(up, found)
    return found


@slow
def test_a_model_chain_reaches_the_sources_with_params_code_and_runs(smoke_project: Path) -> None:
    out = sh(smoke_project, sys.executable, "-m", "preftree.lineage", "models/kto", "--json").stdout
    chain = _stages(json.loads(out)["lineage"])
    assert set(chain) == {"align@kto", "sft", "base", "tree", "interact", "select"}
    kto = chain["align@kto"]
    assert kto["cmd"] == "python -m stages.align kto" and kto["params"]["align.kto"]["beta"] == 0.1
    code = (smoke_project / "stages/align.py").read_bytes()
    assert kto["code_md5"]["stages/align.py"] == hashlib.md5(code).hexdigest()
    lock = yaml.safe_load((smoke_project / "dvc.lock").read_text())["stages"]
    sft_out = next(o["md5"] for o in lock["sft"]["outs"] if o["path"] == "models/sft")
    assert kto["inputs_md5"]["models/sft"] == sft_out
    assert all(len(node["mlflow_run"] or "") == 32 for node in chain.values())
    text = sh(smoke_project, sys.executable, "-m", "preftree.lineage", "metrics/report.md").stdout
    assert text.startswith("metrics/report.md <- stage report")
    assert "- select: `python -m stages.select`" in text and "param seed = 0" in text


@slow
def test_without_mlflow_runs_the_chain_stands_on_dvc_lock(smoke_project: Path) -> None:
    db = smoke_project / "mlflow.db"
    db.rename(smoke_project / "mlflow.db.away")
    try:
        text = sh(smoke_project, sys.executable, "-m", "preftree.lineage", "models/sft").stdout
    finally:
        (smoke_project / "mlflow.db.away").rename(db)
    assert "mlflow run: none (run-cache hit or not run here): lineage from dvc.lock alone" in text
    assert "- base: `python -m stages.base`" in text


@slow
def test_a_pair_row_leads_back_to_its_nodes_instruction_and_source_row(smoke_project: Path) -> None:
    pairs = pl.read_parquet(smoke_project / "data/tree/pairs/train.parquet")
    row_id = pairs["id"][0]
    out = sh(smoke_project, sys.executable, "-m", "preftree.lineage", "--row", row_id, "--json").stdout
    row = json.loads(out)["row"]
    assert "data/tree/pairs/train.parquet" in row["views"]
    assert sorted(n["role"] for n in row["nodes"]) == ["chosen", "rejected"]
    assert {n["pair_id"] for n in row["nodes"]} == {row_id}
    instruction = row["instruction"]
    assert instruction["id"] == pairs["parent_id"][0] and instruction["file"] == "data/selected/train.parquet"
    selected = pl.read_parquet(smoke_project / "data/selected/train.parquet").filter(pl.col("id") == instruction["id"])
    assert (instruction["dataset"], instruction["source_row"]) == (selected["dataset"][0], selected["source_row"][0])
    proc = sh(smoke_project, sys.executable, "-m", "preftree.lineage", "--row", "nope", check=False)
    assert proc.returncode == 1 and "nope: not found" in proc.stderr


@slow
def test_end_to_end_artifacts_have_their_schemas_and_the_report_traces_to_source_rows(smoke_project: Path) -> None:
    """The smoke fixture is the whole pipeline run for real (all stages, real trainers, real sandbox)."""
    from transformers import AutoConfig

    from preftree.evaluate.suite import MULTITURN_SCHEMA, RESPONSE_SCHEMA
    from preftree.schema import INSTRUCTION_SCHEMA, KTO_SCHEMA, NODE_SCHEMA, PAIR_SCHEMA, RM_SCHEMA, SFT_SCHEMA

    def schema_of(path: str) -> dict:
        return dict(pl.read_parquet(smoke_project / path).schema)

    for split in ("train", "heldout"):
        assert schema_of(f"data/selected/{split}.parquet") == dict(INSTRUCTION_SCHEMA)
        for view, schema in (("sft", SFT_SCHEMA), ("pairs", PAIR_SCHEMA), ("kto", KTO_SCHEMA), ("rm", RM_SCHEMA)):
            assert schema_of(f"data/tree/{view}/{split}.parquet") == dict(schema), (view, split)
    assert schema_of("data/interact/nodes.parquet") == dict(NODE_SCHEMA)
    for policy in ("base", "sft", "dpo", "kto", "nca"):
        assert schema_of(f"data/eval/{policy}/responses.parquet") == RESPONSE_SCHEMA
        assert schema_of(f"data/eval/{policy}/multiturn.parquet") == MULTITURN_SCHEMA
    for folder, arch in [
        ("base", "LlamaForCausalLM"),
        ("sft", "LlamaForCausalLM"),
        ("dpo", "LlamaForCausalLM"),
        ("kto", "LlamaForCausalLM"),
        ("nca", "LlamaForCausalLM"),
        ("rm/bt", "LlamaForSequenceClassification"),
        ("rm/bt_dr", "LlamaForSequenceClassification"),
    ]:
        assert AutoConfig.from_pretrained(smoke_project / "models" / folder).architectures == [arch]
    # metrics/report.md -> eval@kto -> one evaluated item -> its instruction row -> the source row
    out = sh(smoke_project, sys.executable, "-m", "preftree.lineage", "metrics/report.md", "--json").stdout
    chain = _stages(json.loads(out)["lineage"])
    assert {"eval@kto", "align@kto", "select", "base"} <= set(chain)
    item = pl.read_parquet(smoke_project / "data/eval/kto/responses.parquet")["id"][0]
    row = json.loads(sh(smoke_project, sys.executable, "-m", "preftree.lineage", "--row", item, "--json").stdout)
    instruction = row["row"]["instruction"]
    assert instruction["file"] == "data/selected/heldout.parquet" and instruction["dataset"] == "synthetic"
    assert isinstance(instruction["source_row"], int)
    assert any(e["file"] == "data/eval/kto/responses.parquet" for e in row["row"]["evaluations"])


# ------------------------------------------------------------------------------------------------
# provenance from the bytes (fast)


def dvc(root: Path, *args: str) -> None:
    sh(root, sys.executable, "-m", "dvc", *args)


def test_dvc_md5_is_dvcs_own_hash_of_a_file_and_a_folder(tmp_path: Path) -> None:
    dvc(tmp_path, "init", "--no-scm", "-q")
    folder = tmp_path / "data" / "folder"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "empty_dir").mkdir()
    (folder / "a.txt").write_bytes(b"line one\r\nline two\n")  # CRLF: DVC 3 hashes the bytes as they are
    (folder / "sub" / "b.bin").write_bytes(bytes(range(256)) * 300)
    (folder / "sub" / "deeper" / "\u00fcn\u00ef c\u00f6de.json").write_text('{"k": 1}')
    (folder / ".hidden").write_text("dot files count")
    (folder / "empty").write_bytes(b"")
    (folder / "sub-a").write_text("sorts after sub/ by its relpath")
    single = tmp_path / "data" / "single.txt"
    single.write_bytes(b"x\r\n")
    dvc(tmp_path, "add", "-q", "data/folder", "data/single.txt")
    for path in (folder, single):
        (out,) = yaml.safe_load(path.with_name(path.name + ".dvc").read_text())["outs"]
        assert out["hash"] == "md5" and dvc_md5(path) == out["md5"], path.name


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-stage DVC project, reproduced: `use` reads data/made (made upstream) and source.jsonl."""
    root = tmp_path_factory.mktemp("bytes")
    dvc(root, "init", "--no-scm", "-q")
    (root / "stages").mkdir()
    (root / "stages" / "use.py").write_text("# a code dep: never in the cards\n")
    (root / "source.jsonl").write_text('{"q": 1}\n')
    make = "mkdir -p data/made/part && echo one > data/made/x && echo two > data/made/part/y"
    spec = {
        "stages": {
            "make": {"cmd": make, "outs": ["data/made"]},
            "use": {
                "cmd": "cat data/made/x source.jsonl > used.txt",
                "deps": ["data/made", "source.jsonl", "stages/use.py"],
                "outs": ["used.txt"],
            },
        }
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump(spec))
    dvc(root, "repro", "-q")
    return root


def locked_deps(root: Path, stage: str) -> dict[str, str]:
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"][stage]
    return {d["path"]: d["md5"] for d in lock["deps"]}


def test_under_dvc_repro_input_digests_equal_the_stages_deps_in_dvc_lock(reproduced: Path) -> None:
    lock = locked_deps(reproduced, "use")
    assert input_digests("use", reproduced) == {k: v for k, v in lock.items() if k != "stages/use.py"}


def test_a_hand_run_records_the_bytes_it_read_in_the_card_not_dvc_lock(
    reproduced: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(reproduced)
    made = reproduced / "data" / "made" / "x"
    made.write_text("changed by hand, dvc.lock not updated\n")
    try:
        card = lineage_card(StageParams(stage="use", keys=(), raw={}, typed={}))
        read = dvc_md5(reproduced / "data" / "made")
    finally:
        made.write_text("one\n")
    lock = locked_deps(reproduced, "use")
    assert card["upstream_md5"]["source.jsonl"] == lock["source.jsonl"]
    assert card["upstream_md5"]["data/made"] != lock["data/made"]
    assert card["upstream_md5"]["data/made"] == read
    assert set(card["upstream_md5"]) == {"data/made", "source.jsonl"}  # data deps only, no code
