"""preftree.lineage on the reproduced smoke pipeline: chains from dvc.lock (+ MLflow run ids), and one
record followed back to its tree nodes, instruction and source row."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from .conftest import sh

pytestmark = pytest.mark.slow


def _stages(node: dict, found: dict | None = None) -> dict[str, dict]:
    found = {} if found is None else found
    if not node.get("see_above"):
        found[node["stage"]] = node
        for up in node["upstream"]:
            _stages(up, found)
    return found


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


def test_without_mlflow_runs_the_chain_stands_on_dvc_lock(smoke_project: Path) -> None:
    db = smoke_project / "mlflow.db"
    db.rename(smoke_project / "mlflow.db.away")
    try:
        text = sh(smoke_project, sys.executable, "-m", "preftree.lineage", "models/sft").stdout
    finally:
        (smoke_project / "mlflow.db.away").rename(db)
    assert "mlflow run: none (run-cache hit or not run here): lineage from dvc.lock alone" in text
    assert "- base: `python -m stages.base`" in text


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
