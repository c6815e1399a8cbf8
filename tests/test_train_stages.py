"""The training stages (sft, align@{dpo,kto,nca}, rm) in the real dvc.yaml on the smoke config:
what they write, what reruns when their params change, and the accelerate launcher."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from .conftest import sh

pytestmark = pytest.mark.slow

ALIGN_COLUMNS = "step,loss,rewards_chosen,rewards_rejected,margins"


def _status(root: Path) -> dict:
    return json.loads(sh(root, "dvc", "status", "--json").stdout or "{}")


def _edit(root: Path, edits: dict[str, object]) -> None:
    path = root / "params.yaml"
    data = yaml.safe_load(path.read_text())
    for key, value in edits.items():
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _metrics(root: Path, name: str) -> dict:
    """Everything the stage logged (metrics/info/; metrics/<name>.json holds the numeric results only)."""
    return json.loads((root / "metrics" / "info" / f"{name}.json").read_text())


def test_model_cards_record_params_and_the_md5_of_the_inputs_read_equal_to_dvc_lock(smoke_project: Path) -> None:
    lock = yaml.safe_load((smoke_project / "dvc.lock").read_text())["stages"]
    for stage, folder, inputs in [
        ("sft", "models/sft", ("models/base", "data/tree/sft")),
        ("align@kto", "models/kto", ("models/sft", "data/tree/kto", "data/tree/pairs")),
        ("rm@bt", "models/rm/bt", ("models/sft", "data/tree/rm")),
        ("rm@bt_dr", "models/rm/bt_dr", ("models/sft", "data/tree/rm")),
    ]:
        card = json.loads((smoke_project / folder / "card.json").read_text())
        assert card["stage"] == stage
        deps = {d["path"]: d["md5"] for d in lock[stage]["deps"]}  # hashed by DVC; the card's by the stage
        assert card["upstream_md5"] == {path: deps[path] for path in inputs}, stage
        assert (smoke_project / folder / "README.md").is_file()
        assert (smoke_project / folder / "model.safetensors").is_file()
    sft_card = json.loads((smoke_project / "models/sft/card.json").read_text())
    assert sft_card["params"]["sft"]["optim"]["max_steps"] == 6
    assert sft_card["weights_sha256"] == _metrics(smoke_project, "sft")["weights_sha256"]
    kto_card = json.loads((smoke_project / "models/kto/card.json").read_text())
    assert kto_card["params"]["align"]["kto"]["desirable_weight"] == 1.33
    assert not any("seconds" in k for k in kto_card["align"])  # cards hold no wall-clock figures


def test_align_writes_reward_curves_for_each_method(smoke_project: Path) -> None:
    from mlflow.tracking import MlflowClient

    for key, algorithm in (("dpo", "DPO"), ("kto", "KTO"), ("nca", "NCA")):
        lines = (smoke_project / "metrics/align" / f"{key}.csv").read_text().splitlines()
        assert lines[0] == ALIGN_COLUMNS
        assert len(lines) == 1 + 2  # max_steps 2, logging_steps 1
        metrics = _metrics(smoke_project, f"align/{key}")
        assert metrics["algorithm"] == algorithm and metrics["steps"] == 2 and metrics["beta"] == 0.1
        chosen = [line.split(",")[2] for line in lines[1:] if line.split(",")[2]]  # empty: no chosen row in the batch
        assert metrics["rewards_chosen_final"] == pytest.approx(float(chosen[-1]))
    assert _metrics(smoke_project, "align/kto")["desirable_weight"] == 1.33
    client = MlflowClient(f"sqlite:///{smoke_project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("preftree").experiment_id
    group = sh(smoke_project, "git", "rev-list", "--max-parents=0", "HEAD").stdout.strip()[:12]  # the first repro
    query = f"tags.`dvc.stage` = 'align@dpo' and tags.`preftree.group` = '{group}'"
    (run,) = client.search_runs([experiment], filter_string=query)
    history = client.get_metric_history(run.info.run_id, "align/dpo/rewards_chosen")
    assert [m.step for m in history] == [1, 2]
    plots = sh(smoke_project, "dvc", "plots", "show", "--json").stdout
    assert "align_rewards_chosen" in plots and "metrics/align/nca.csv" in plots


def test_reward_model_stages_have_a_bias_free_head_accuracy_by_task_and_pair_scores(smoke_project: Path) -> None:
    from safetensors import safe_open

    for key, loss in (("bt", "bt"), ("bt_dr", "bt+dr")):
        metrics = _metrics(smoke_project, f"rm/{key}")
        assert metrics["loss_kind"] == loss and metrics["steps"] == 3
        assert metrics["heldout_pairs"] > 0 and 0.0 <= metrics["heldout_accuracy"] <= 1.0
        assert 0.0 <= metrics["heldout_accuracy_init"] <= 1.0  # the untrained-head baseline
        assert set(metrics["heldout_accuracy_by_task"]) <= {"Coding", "Math_CoT", "Math_PoT", "Logic"}
        assert sum(metrics["heldout_pairs_by_task"].values()) == metrics["heldout_pairs"]
        folder = smoke_project / "models/rm" / key
        config = json.loads((folder / "config.json").read_text())
        assert config["architectures"] == ["LlamaForSequenceClassification"] and len(config["id2label"]) == 1
        assert config["pad_token_id"] != config["eos_token_id"]
        with safe_open(folder / "model.safetensors", "pt") as weights:
            keys = set(weights.keys())
        assert "score.weight" in keys and "score.bias" not in keys and "lm_head.weight" not in keys
        assert (smoke_project / "metrics/rm" / f"{key}.csv").read_text().startswith("step,loss,accuracy,margin")
        scores = pl.read_parquet(smoke_project / "data/rm" / key / "heldout_scores.parquet")
        assert scores.height == metrics["heldout_pairs"] and scores["pair_id"].n_unique() == scores.height
        assert (scores["chosen_reward"] > scores["rejected_reward"]).mean() == pytest.approx(
            metrics["heldout_accuracy"]
        )
        dvc_metrics = json.loads((smoke_project / "metrics/rm" / f"{key}.json").read_text())
        assert "loss_kind" not in dvc_metrics and "seconds" not in dvc_metrics and "weights_sha256" not in dvc_metrics
        assert dvc_metrics["heldout_accuracy"] == metrics["heldout_accuracy"]
    bt, dr = (_metrics(smoke_project, f"rm/{k}")["weights_sha256"] for k in ("bt", "bt_dr"))
    assert bt != dr  # two objectives, two models


def test_changing_align_kto_reruns_align_kto_and_its_readers_only(smoke_project: Path) -> None:
    original = (smoke_project / "params.yaml").read_text()
    before = {k: _metrics(smoke_project, f"align/{k}")["weights_sha256"] for k in ("dpo", "kto", "nca")}
    try:
        _edit(smoke_project, {"align.kto.beta": 0.15})  # a value no other test runs (no run-cache hit)
        out = sh(smoke_project, "dvc", "repro").stdout
        ran = [line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")]
        assert ran == ["align@kto", "eval@kto", "report"]  # not sft, rm, the other methods or their evals
        after = {k: _metrics(smoke_project, f"align/{k}")["weights_sha256"] for k in ("dpo", "kto", "nca")}
        assert after["kto"] != before["kto"] and after["dpo"] == before["dpo"] and after["nca"] == before["nca"]
        assert _metrics(smoke_project, "align/kto")["beta"] == 0.15
    finally:
        (smoke_project / "params.yaml").write_text(original)
        sh(smoke_project, "dvc", "repro")  # back to the committed state (restored from the run-cache)
    assert _status(smoke_project) == {}


def test_accelerate_launcher_trains_the_same_weights_and_reruns_nothing(smoke_project: Path) -> None:
    original = (smoke_project / "params.yaml").read_text()
    before = _metrics(smoke_project, "align/dpo")["weights_sha256"]
    try:
        _edit(smoke_project, {"runtime.launcher": "accelerate"})
        assert _status(smoke_project) == {}  # a runtime setting: nothing is stale
        proc = sh(smoke_project, sys.executable, "-m", "stages.align", "dpo", check=False)
        assert proc.returncode != 0
        assert proc.stderr.strip().splitlines()[-1] == (
            "align: error: runtime.launcher=accelerate needs runtime.accelerate_config "
            "(e.g. conf/accelerate/zero3.yaml)"
        )
        _edit(smoke_project, {"runtime.accelerate_config": "conf/accelerate/cpu.yaml", "runtime.progress": False})
        proc = sh(smoke_project, sys.executable, "-m", "stages.align", "dpo")
        assert "launch: " in proc.stdout and "accelerate.commands.launch" in proc.stdout
        assert _metrics(smoke_project, "align/dpo")["weights_sha256"] == before
    finally:
        (smoke_project / "params.yaml").write_text(original)
        # the card names the new git rev; metrics/info/ (DVC-cached, not in git) holds the new timings
        sh(smoke_project, "dvc", "checkout", "--force", "align@dpo")
        sh(smoke_project, "git", "checkout", "--", "metrics")
    assert _status(smoke_project) == {}
