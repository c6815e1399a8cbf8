"""Data generation over a real server: `transformers serve` on 127.0.0.1 serves tiny local model folders,
and the interact stage's work runs on `actor=openai`, `critic=openai` and an openai `weak` pool through
the project's OpenAI-compatible client over real HTTP (tests/server_interact.py builds the params).

Checked: trees grow with the paper's weak actors (every incorrect action from a model drawn from
`weak.pool`, escalation on `actor.escalation`, no guided step for an answer-only dataset); a rerun is
served by the call cache (zero requests reach the server); a run killed with SIGKILL resumes to the
uninterrupted result; a stopped server gives one clear error naming the endpoint, never the key.
No network beyond 127.0.0.1; the server is skipped only when it cannot start for a reason outside
the project (no free port).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests

from .server_interact import REPO, grow

pytestmark = pytest.mark.slow

KEY_ENV = "PREFTREE_SERVER_TEST_KEY"
KEY = "sk-server-test-0123456789abcdef"  # the server ignores it; it must never be printed
START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_models(folder: Path) -> dict[str, str]:
    """Four random tiny Llamas sharing one tokenizer: the actor, two weak models, a strong one."""
    import torch

    from preftree.compose import from_conf
    from preftree.config.model import ArchParams, TokenizerParams
    from preftree.models.tiny import build_model
    from preftree.models.tokenizer import train_tokenizer

    words = "Step 1 : the answer is print ( x + 2 ) def return Answer".split()
    tok = train_tokenizer(
        [" ".join(words)] * 20, TokenizerParams(vocab_size=300, min_frequency=2, split_digits=True, digits_per_token=1)
    )
    arch = from_conf(ArchParams, "model.arch", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512)  # fmt: skip
    paths = {}
    for seed, name in enumerate(("actor", "weak_a", "weak_b", "strong")):
        model = build_model(arch, tok, seed=seed)
        with torch.random.fork_rng(devices=[]):  # at std 0.02 every model repeats one token
            torch.manual_seed(seed)
            for p in model.parameters():
                if p.dim() == 2:
                    torch.nn.init.normal_(p, std=0.2)
        model.save_pretrained(folder / name)
        tok.save_pretrained(folder / name)
        paths[name] = str(folder / name)
    return paths


class Server:
    """`transformers serve` (the `transformers[serving]` extra, pinned in the dev extra) on 127.0.0.1."""

    def __init__(self, log: Path) -> None:
        cli = Path(sys.executable).parent / "transformers"
        assert cli.exists(), f"{cli} is missing: `pip install -e '.[dev]'` installs transformers[serving]"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log = log
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        cmd = [str(cli), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu",
               "--log-level", "info", "--default-seed", "0"]  # fmt: skip
        with open(log, "w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def wait_ready(self) -> None:
        deadline = time.time() + START_TIMEOUT_S
        while time.time() < deadline:
            if self.proc.poll() is not None:
                text = self.log.read_text()
                if "address already in use" in text.lower():
                    pytest.skip(f"port {self.port} on 127.0.0.1 was taken before the server could bind it")
                pytest.fail(f"transformers serve exited {self.proc.returncode}:\n{text[-3000:]}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/health", timeout=2).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        self.stop()
        pytest.fail(
            f"transformers serve did not answer /health in {START_TIMEOUT_S} s:\n{self.log.read_text()[-3000:]}"
        )

    def requests_served(self) -> int:
        """Chat completions the server answered (its access log)."""
        return self.log.read_text().count('"POST /v1/chat/completions HTTP/1.1" 200')

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("serve") / "server.log")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def spec(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from preftree.sources.synthetic.problems import generate

    root = tmp_path_factory.mktemp("grow")
    records = generate(40, seed=3)
    picks = [records.filter(pl.col("task") == t).head(1) for t in ("Math_CoT", "Math_PoT", "Coding", "Logic")]
    picks.append(records.filter(pl.col("task") == "Logic").slice(1, 1).with_columns(dataset=pl.lit("strategyqa")))
    pl.concat(picks).write_parquet(root / "selected.parquet")
    return {
        "base_url": server.base_url,
        "key_env": KEY_ENV,
        "models": build_models(root / "models"),
        "selected": str(root / "selected.parquet"),
        "cache": str(root / "cache"),
    }


@pytest.fixture(autouse=True)
def local_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # never through a proxy
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def with_cache(spec: dict[str, Any], cache: Path) -> dict[str, Any]:
    return {**spec, "cache": str(cache)}


def test_trees_grow_over_http_cached_and_resumable(server: Server, spec: dict[str, Any], tmp_path: Path) -> None:
    started = time.time()
    first = grow(spec)
    served = server.requests_served()
    nodes, trees = first.nodes, first.trees
    assert trees.height == 5 and served > 0
    assert sum(c["calls"] for c in first.calls.values()) > 0 and set(first.calls) >= {"actor", "weak", "critic"}
    # every incorrect action came from one of the weak pool's models, both drawn; never the actor's own
    rejected = nodes.filter(pl.col("role") == "rejected")
    weak = {f"openai:{spec['models'][m]}@{spec['base_url']}" for m in ("weak_a", "weak_b")}
    assert set(rejected["origin"]) == {"weak"} and set(rejected["actor"]) == weak  # both drawn (seeded draws)
    assert first.calls["escalation_1"]["calls"] > 0  # escalation rounds ran on actor.escalation's model
    strong = f"openai:{spec['models']['strong']}@{spec['base_url']}"
    assert set(nodes.filter(pl.col("origin") == "escalation")["actor"]) <= {strong}
    by_dataset = dict(zip(trees["dataset"], trees["guided"], strict=True))
    assert by_dataset["strategyqa"] == 0 and trees["guided"].sum() > 0  # answer-only: never shown its answer
    assert trees["escalations"].sum() > 0  # the random models are never right: escalation ran

    # the same run again, its checkpoints gone: every call served by the cache, not one request sent
    shutil.rmtree(Path(spec["cache"]) / "interact")
    again = grow(spec)
    assert server.requests_served() == served
    assert all(c["calls"] == 0 and c["cache_hits"] > 0 for c in again.calls.values())
    assert again.nodes.equals(nodes) and again.trees.equals(trees)

    # a run killed with SIGKILL after its first shard resumes to the uninterrupted result
    killed = with_cache(spec, tmp_path / "cache")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.server_interact", json.dumps(killed)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    deadline = time.time() + 120
    while not list((tmp_path / "cache/interact").glob("*/shard-00000")):
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        assert time.time() < deadline, "no shard finished in 120 s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    resumed = grow(killed)
    assert resumed.shards["resumed"] >= 1 and resumed.shards["shards"] == 3
    assert resumed.nodes.equals(nodes) and resumed.trees.equals(trees)
    print(f"server test: {served} requests, {time.time() - started:.1f} s")


def test_a_stopped_server_is_one_clear_error_naming_the_endpoint(
    server: Server, spec: dict[str, Any], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from preftree.generation.openai import OpenAIError

    server.stop()
    with pytest.raises(OpenAIError) as err:
        grow(with_cache(spec, tmp_path / "cache"))
    message = str(err.value)
    assert spec["base_url"] in message and "is the server running" in message
    captured = capfd.readouterr()
    assert KEY not in message + captured.out + captured.err
    assert not any(KEY in p.read_bytes().decode(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
