"""The finished smoke run, read as a researcher reads it: `mlflow server` on its mlflow.db, through
the REST API, from a copy of the project in another folder (a moved clone). For the sft stage:
`git.dirty` false (the pipeline's own writes do not count), its inputs as datasets whose digests are
dvc.lock's md5s, a logged model pointing at models/sft with the card served as an artifact."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from preftree.dvcinfo import is_code_dep

pytestmark = pytest.mark.slow

STARTUP_S = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(base: str, route: str, **query: str) -> bytes:
    url = f"{base}{route}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.read()


def get_json(base: str, route: str, **query: str) -> dict[str, Any]:
    return json.loads(get(base, route, **query))


def post_json(base: str, route: str, body: dict[str, Any]) -> dict[str, Any]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(f"{base}{route}", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def wait_until_up(base: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if get(base, "/health").strip() == b"OK":
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"mlflow server not up after {STARTUP_S}s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (it forks workers), SIGKILL what is left after 20 s."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def moved(smoke_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The finished smoke project copied to another folder, as a moved clone (the original untouched)."""
    dest = tmp_path_factory.mktemp("moved") / "elsewhere"
    shutil.copytree(smoke_project, dest, symlinks=True)
    return dest


@pytest.fixture(scope="module")
def server(moved: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1 as README's "Opening the results" starts it (from the repo root)."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "mlflow-server.log"
    mlflow_bin = str(Path(sys.executable).with_name("mlflow"))
    cmd = [mlflow_bin, "server", "--backend-store-uri", "sqlite:///mlflow.db", "--artifacts-destination", "mlruns"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=moved, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc, log)
        yield base
    finally:
        stop(proc)


def lock_stage(root: Path, stage: str) -> dict[str, Any]:
    return yaml.safe_load((root / "dvc.lock").read_text())["stages"][stage]


def experiment(base: str) -> dict[str, Any]:
    return get_json(base, "/api/2.0/mlflow/experiments/get-by-name", experiment_name="preftree")["experiment"]


def stage_runs(base: str, stage: str | None = None) -> list[dict[str, Any]]:
    query = "tags.`preftree.role` = 'stage'" + (f" and tags.`dvc.stage` = '{stage}'" if stage else "")
    body = {"experiment_ids": [experiment(base)["experiment_id"]], "filter": query, "max_results": 1000}
    return post_json(base, "/api/2.0/mlflow/runs/search", body).get("runs", [])


def tags_of(entity: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in entity.get("tags", [])}


def test_sft_run_reads_clean_with_dvc_digests_and_a_logged_model_at_models_sft(server: str, moved: Path) -> None:
    (listed,) = stage_runs(server, "sft")
    run = get_json(server, "/api/2.0/mlflow/runs/get", run_id=listed["info"]["run_id"])["run"]
    tags = tags_of(run["data"])
    assert tags["git.dirty"] == "false", tags.get("git.dirty_paths")
    lock = lock_stage(moved, "sft")
    data_deps = {d["path"]: d["md5"] for d in lock["deps"] if not is_code_dep(d["path"])}
    inputs = run["inputs"]["dataset_inputs"]
    assert {i["dataset"]["name"]: i["dataset"]["digest"] for i in inputs} == data_deps
    contexts = {i["dataset"]["name"]: tags_of(i)["mlflow.data.context"] for i in inputs}
    assert contexts == {"models/base": "model", "data/tree/sft": "training"}
    sft_data = next(i["dataset"] for i in inputs if i["dataset"]["name"] == "data/tree/sft")
    assert json.loads(sft_data["source"]) == {"uri": "data/tree/sft"}
    assert json.loads(sft_data["profile"])["num_rows"] > 0 and "mlflow_colspec" in json.loads(sft_data["schema"])
    (output,) = run["outputs"]["model_outputs"]
    model = get_json(server, f"/api/2.0/mlflow/logged-models/{output['model_id']}")["model"]
    info = model["info"]
    model_tags = tags_of(info)
    out_md5 = next(o["md5"] for o in lock["outs"] if o["path"] == "models/sft")
    assert model_tags["preftree.model_dir"] == "models/sft" and model_tags["dvc.md5"] == out_md5
    assert model_tags["base_model"] == "models/base" and model_tags["mlflow.model.isExternal"] == "true"
    assert info["status"] == "LOGGED_MODEL_READY" and info["source_run_id"] == run["info"]["run_id"]
    served = get(
        server,
        f"/ajax-api/2.0/mlflow/logged-models/{output['model_id']}/artifacts/files",
        artifact_file_path="card.json",
    )
    assert served == (moved / "models" / "sft" / "card.json").read_bytes()
    front = (moved / "models" / "sft" / "README.md").read_text().split("---")[1]
    assert yaml.safe_load(front)["base_model"] == "models/base"  # HF model card lineage


def test_every_stage_ran_clean_and_the_moved_clone_serves_its_artifacts(
    server: str, moved: Path, smoke_project: Path
) -> None:
    exp = experiment(server)
    assert tags_of(exp)["mlflow.experimentKind"] == "custom_model_development"
    assert exp["artifact_location"] == "mlflow-artifacts:/preftree"
    runs = stage_runs(server)
    assert len(runs) >= 10
    assert {tags_of(r["data"])["git.dirty"] for r in runs} == {"false"}
    assert not any(str(smoke_project) in r["info"]["artifact_uri"] for r in runs)
    (base,) = stage_runs(server, "base")
    card = get(server, "/get-artifact", path="card.json", run_uuid=base["info"]["run_id"])
    assert card == (moved / "models" / "base" / "card.json").read_bytes()
