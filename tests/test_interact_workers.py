"""Data generation over several servers and several workers, on loopback OpenAI-compatible servers.

Each server (http.server on 127.0.0.1, HTTP/1.0: one connection per request) answers with a function of
the request alone (model, messages, seed, n: :func:`reply`), so which server answers never changes a
text. Checked: requests spread over both endpoints within the per-endpoint bound; a server killed mid-run
loses no request (they go to the other; the results are the same); every server down is one error naming
every URL; ``Retry-After`` pauses the server that sent it; `interact` split over two workers (0/2 and 1/2)
on two endpoints merges to the single worker's bytes of data/interact; the progress postfix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from preftree.compose import from_conf
from preftree.config.agents import AgentParams
from preftree.config.interact import InteractParams
from preftree.config.load import StageParams
from preftree.config.runtime import InteractWorker, RuntimeParams
from preftree.config.sandbox import SandboxParams
from preftree.generation.openai import OpenAIError, OpenAIGenerator, request_seed
from preftree.generation.sampling import Sampling
from preftree.progress import usage_text

KEY_ENV = "PREFTREE_WORKERS_TEST_KEY"
KEY = "sk-workers-test-0123456789abcdef"  # the servers check it; it must never be written anywhere
REPO = Path(__file__).resolve().parents[1]


def digest(*parts: Any) -> int:
    return int(hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12], 16)


def reply(body: Mapping[str, Any], answers: Mapping[str, str]) -> list[str]:
    """The texts of one request: a function of (model, messages, seed, n) only. The actor is right about
    half the time (``answers``: instruction -> answer), the weak model always wrong, the critic critiques."""
    model, messages, seed = body["model"], body["messages"], body["seed"]
    instruction = next((m["content"] for m in messages if m["role"] == "user"), "")
    texts = []
    for i in range(body.get("n", 1)):
        h = digest(model, messages, seed, i)
        if model == "critic":
            texts.append(f"Check step {h % 3 + 1}: the result does not follow from the givens.")
            continue
        answer = answers.get(instruction, "0")
        wrong = model == "weak" or h % 2 == 0
        value = str(int(answer) + 1 + h % 5) if wrong and answer.lstrip("-").isdigit() else answer
        texts.append(f"Step 1: work it out ({h % 97}).\n\nAnswer:\n\\boxed{{{value}}}")
    return texts


class LoopbackServer:
    """A minimal OpenAI-compatible /v1/chat/completions server on 127.0.0.1 (a thread)."""

    def __init__(self, answers: Mapping[str, str] | None = None, delay_s: float = 0.01) -> None:
        self.answers = dict(answers or {})
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.log: list[tuple[float, int]] = []  # (time.monotonic(), HTTP status) per request
        self.inflight = self.max_inflight = self.bad_auth = 0
        self.throttle = 0  # answer the next k requests with 429 and Retry-After: 1
        self.key: str | None = KEY  # None: answer whatever the Authorization header says
        self.auth: list[str | None] = []  # the Authorization header of each request
        self.dead = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def send(self, status: int, body: Any, headers: Mapping[str, str] = {}) -> None:  # noqa: B006
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                    throttled = server.throttle > 0
                    server.throttle -= throttled
                try:
                    time.sleep(server.delay_s)
                    if server.dead:  # killed while this request was in flight: no answer at all
                        self.close_connection = True
                        return
                    server.auth.append(self.headers.get("Authorization"))
                    if server.key is not None and self.headers.get("Authorization") != f"Bearer {server.key}":
                        server.bad_auth += 1
                        status, payload, headers = 401, {"error": "bad key"}, {}
                    elif throttled:
                        status, payload, headers = 429, {"error": "slow down"}, {"Retry-After": "1"}
                    else:
                        texts = reply(body, server.answers)
                        choices = [
                            {"index": i, "finish_reason": "stop", "message": {"role": "assistant", "content": t}}
                            for i, t in enumerate(texts)
                        ]
                        usage = {"prompt_tokens": len(json.dumps(body["messages"])) // 4,
                                 "completion_tokens": sum(len(t) for t in texts) // 4}  # fmt: skip
                        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                        status, headers = 200, {}
                        payload = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                   "choices": choices, "usage": usage}  # fmt: skip
                    with server.lock:
                        server.log.append((time.monotonic(), status))
                    self.send(status, payload, headers)
                finally:
                    with server.lock:
                        server.inflight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def answered(self) -> int:
        with self.lock:
            return sum(status == 200 for _, status in self.log)

    def kill(self) -> None:
        """Stop as a crash would: in-flight requests get no answer, new connections are refused."""
        if not self.dead:
            self.dead = True
            self.httpd.shutdown()
            self.httpd.server_close()


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[LoopbackServer]]:
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # never through a proxy
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    started: list[LoopbackServer] = []
    yield started
    for s in started:
        s.kill()


def runtime(**changes: Any) -> RuntimeParams:
    base = {"concurrency": 2, "max_retries": 2, "request_timeout_s": 20.0, "workers": 1, "progress": False}
    return from_conf(RuntimeParams, "runtime", **{**base, **changes})


def generator(urls: list[str], **changes: Any) -> OpenAIGenerator:
    return OpenAIGenerator(base_url=urls, model="actor", api_key_env=KEY_ENV, runtime=runtime(**changes),
                           backoff_s=0.01)  # fmt: skip


SETTINGS = {"temperature": 0.7, "top_p": 1.0, "max_new_tokens": 16}
ANSWERS = {f"problem {k}": str(k) for k in range(60)}


def chats(count: int) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"problem {k}"}] for k in range(count)]


def sample(gen: OpenAIGenerator, count: int, n: int = 1) -> list[list[str]]:
    return gen.generate_each(chats(count), [Sampling(n=n, seed=k, **SETTINGS) for k in range(count)])


def expected(count: int, n: int = 1) -> list[list[str]]:
    """What any server returns for each request of :func:`sample`."""
    return [
        reply({"model": "actor", "messages": chat, "seed": request_seed(k, chat), "n": n}, ANSWERS)
        for k, chat in enumerate(chats(count))
    ]


def test_requests_spread_over_both_endpoints_within_the_bound(servers: list[LoopbackServer]) -> None:
    servers += [LoopbackServer(ANSWERS, delay_s=0.03), LoopbackServer(ANSWERS, delay_s=0.03)]
    gen = generator([s.base_url for s in servers], concurrency=3)
    assert sample(gen, 40, n=2) == expected(40, n=2)  # in request order, whichever server answered
    counts = [s.answered() for s in servers]
    assert sum(counts) == 40 and min(counts) >= 12, counts  # least-in-flight: both get a fair share
    assert all(s.max_inflight <= 3 for s in servers) and max(s.max_inflight for s in servers) >= 2  # per endpoint
    usage = gen.usage()
    assert usage["requests"] == 40 and usage["completion_tokens"] > 0 and usage["prompt_tokens"] > 0
    assert [usage[f"requests@{s.base_url}"] for s in servers] == counts
    fresh = generator([s.base_url for s in servers])
    for k in range(6):  # one request at a time: every endpoint is idle, the one sent the fewest goes next
        fresh.generate_each(chats(1), [Sampling(n=1, seed=k, **SETTINGS)])
    assert [s.answered() - c for s, c in zip(servers, counts, strict=True)] == [3, 3]
    alone = generator([servers[0].base_url])
    assert sample(alone, 40, n=2) == expected(40, n=2)  # one server: the same texts
    assert gen.identity == f"openai:actor@{servers[0].base_url},{servers[1].base_url}"
    assert all(s.bad_auth == 0 for s in servers) and KEY not in repr(gen) + str(vars(gen))


def test_a_server_killed_mid_run_loses_no_request(
    servers: list[LoopbackServer], caplog: pytest.LogCaptureFixture
) -> None:
    servers += [LoopbackServer(ANSWERS, delay_s=0.02), LoopbackServer(ANSWERS, delay_s=0.02)]
    first, second = servers
    gen = generator([s.base_url for s in servers], max_retries=0)  # failover needs no retry

    def kill_after(k: int) -> None:
        while second.answered() < k:
            time.sleep(0.002)
        second.kill()

    killer = threading.Thread(target=kill_after, args=(6,))
    killer.start()
    with caplog.at_level("WARNING", logger="preftree.generation.openai"):
        out = sample(gen, 60)
    killer.join()
    assert out == expected(60)  # nothing lost, nothing changed
    assert 6 <= second.answered() < 30 and first.answered() + second.answered() == 60
    assert second.base_url in caplog.text and "out of rotation" in caplog.text
    assert sample(gen, 60) == out  # the dead server stays out of rotation: no error, same texts

    first.kill()
    with pytest.raises(OpenAIError) as err:
        sample(generator([s.base_url for s in servers], max_retries=1), 3)
    message = str(err.value)
    assert first.base_url in message and second.base_url in message and "is the server running" in message
    assert "2 attempts" in message and KEY not in message + repr(err.value)


def test_retry_after_pauses_the_server_that_sent_it(servers: list[LoopbackServer]) -> None:
    servers += [LoopbackServer(ANSWERS, delay_s=0.01)]
    (only,) = servers
    only.throttle = 1
    started = time.monotonic()
    assert sample(generator([only.base_url], max_retries=1), 1) == expected(1)
    (t429, s429), (t200, s200) = only.log
    assert (s429, s200) == (429, 200) and t200 - t429 >= 1.0 and time.monotonic() - started >= 1.0

    servers += [LoopbackServer(ANSWERS, delay_s=0.05), LoopbackServer(ANSWERS, delay_s=0.05)]
    slow, other = servers[1:]
    slow.throttle = 1
    assert sample(generator([slow.base_url, other.base_url], concurrency=1, max_retries=1), 30) == expected(30)
    t429 = next(t for t, status in slow.log if status == 429)
    assert not [t for t, _ in slow.log if t429 < t < t429 + 1.0]  # paused for Retry-After ...
    assert len([t for t, _ in other.log if t429 < t < t429 + 1.0]) >= 5  # ... while the other kept serving
    assert slow.answered() > 0 and slow.answered() + other.answered() == 30


def test_no_key_sends_no_authorization_header(servers: list[LoopbackServer], monkeypatch: pytest.MonkeyPatch) -> None:
    servers += [LoopbackServer(ANSWERS)]
    servers[0].key = None
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # never read when api_key_env is ""
    gen = OpenAIGenerator(base_url=servers[0].base_url, model="actor", api_key_env="", runtime=runtime())
    assert sample(gen, 2) == expected(2) and servers[0].auth == [None, None]


def test_progress_postfix_shows_calls_tokens_and_the_cache_share() -> None:
    assert usage_text({"hits": 3, "misses": 1, "prompt_tokens": 1500, "completion_tokens": 800}) == (
        "calls=1 tok=2.3k cached=75%"
    )
    assert usage_text({"hits": 0, "misses": 2_500}) == "calls=2,500 cached=0%"
    assert usage_text({}) == "calls=0"


# ------------------------------------------------------------------------------------------------
# interact split over two workers and two endpoints


def agent(section: str, model: str, urls: list[str]) -> AgentParams:
    group = {"actor": "actor", "weak": "actor@weak", "critic": "critic"}[section]
    params = from_conf(AgentParams, section, overrides=[f"{group}=openai"])
    return dataclasses.replace(params, model=model, base_url=urls, api_key_env=KEY_ENV, max_new_tokens=16)


def stage_params(urls: list[str]) -> StageParams:
    typed: dict[str, Any] = {
        "seed": 0,
        "sandbox": from_conf(SandboxParams, "sandbox"),
        "actor": agent("actor", "actor", urls),
        "weak": agent("weak", "weak", urls),
        "critic": agent("critic", "critic", urls),
        "interact": from_conf(
            InteractParams,
            "interact",
            max_turns=3,
            samples_per_turn=2,
            escalation_rounds=1,
            guided=False,
            limit=None,
            shard_size=2,
            rejected="own",
            judge="none",
        ),  # fmt: skip
    }
    raw = {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in typed.items()}
    return StageParams(stage="interact", keys=tuple(typed), raw=raw, typed=typed)


def test_interact_over_two_workers_and_two_endpoints_gives_the_single_worker_bytes(
    servers: list[LoopbackServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from preftree.interact_run import grow_interact, merge_interact, plan_interact, run_interact, write_interact
    from preftree.shards import MissingShardsError
    from preftree.sources.synthetic.problems import generate

    records = generate(80, seed=5).filter(pl.col("task") == "Math_CoT").head(11)  # 6 shards of 2 (one of 1)
    selected = tmp_path / "selected.parquet"
    records.write_parquet(selected)
    answers = dict(zip(records["instruction"], records["answer"], strict=True))
    servers += [LoopbackServer(answers, delay_s=0.005), LoopbackServer(answers, delay_s=0.005)]
    params = stage_params([s.base_url for s in servers])

    def plan(cache: str, worker: InteractWorker, merge: bool = False, **changes: Any) -> Any:
        rt = runtime(interact_worker=worker, **changes)
        return plan_interact(params, rt, root=REPO, cache=tmp_path / cache, selected=selected, merge=merge)

    # one process, every shard: the reference bytes (its progress bar shows calls, tokens, cache share)
    single = run_interact(plan("single", InteractWorker(0, 1, None), progress=True))
    write_interact(single, tmp_path / "single/data")
    assert "calls=" in capsys.readouterr().err and single.trees.height == 11
    assert single.trees["depth"].max() > 1 and single.nodes.filter(pl.col("role") == "rejected").height > 0
    assert min(s.answered() for s in servers) > 0  # both endpoints served

    # two workers ("machines": a call cache each) sharing one shard folder, then the merge
    shared = str(tmp_path / "shared")
    before = [s.answered() for s in servers]
    zero = grow_interact(plan("machine0", InteractWorker(0, 2, shared)))
    assert zero.counts == {"shards": 6, "owned": 3, "resumed": 0, "computed": 3}
    with pytest.raises(MissingShardsError, match=r"3 of 6 shards are not done \(shard 1, 3, 5;"):
        merge_interact(plan("merger", InteractWorker(0, 1, shared), merge=True))
    one = grow_interact(plan("machine1", InteractWorker(1, 2, shared)))
    assert one.counts["owned"] == 3 and one.folder == zero.folder and zero.folder.parent == tmp_path / "shared"
    assert all(s.answered() > b for s, b in zip(servers, before, strict=True))  # both endpoints, both workers
    merged = merge_interact(plan("merger", InteractWorker(0, 1, shared), merge=True))
    write_interact(merged, tmp_path / "merged/data")
    for name in ("nodes", "trees", "instructions"):
        a, b = (tmp_path / f"{run}/data/{name}.parquet" for run in ("single", "merged"))
        assert a.read_bytes() == b.read_bytes(), name
    assert merged.stats == single.stats and merged.shards == {"shards": 6, "resumed": 6, "computed": 0}

    # the stage with count 1 on the shared folder resumes every shard: no model call, the same bytes
    again = run_interact(plan("merger", InteractWorker(0, 1, shared)))
    assert all(c["calls"] == 0 and c["cache_hits"] == 0 for c in again.calls.values())
    assert again.nodes.equals(single.nodes) and again.shards["resumed"] == 6
    with pytest.raises(Exception, match="interact_worker.count is 2"):
        run_interact(plan("machine0", InteractWorker(0, 2, shared)))
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and not any(KEY.encode() in p.read_bytes() for p in written)


def test_the_stage_as_two_workers_then_merge_writes_the_single_process_bytes(
    servers: list[LoopbackServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m stages.interact` as worker 0/2 and 1/2, then `--merge`: the stage module's own paths (its
    data/selected and data/interact, MLflow stubbed), against one process's bytes."""
    import contextlib

    import stages.interact as stage
    from preftree.interact_run import plan_interact, run_interact, write_interact
    from preftree.shards import MissingShardsError
    from preftree.sources.synthetic.problems import generate

    records = generate(40, seed=6).filter(pl.col("task") == "Math_CoT").head(5)  # 3 shards of 2 (one of 1)
    (tmp_path / "data/selected").mkdir(parents=True)
    records.write_parquet(tmp_path / "data/selected/train.parquet")
    answers = dict(zip(records["instruction"], records["answer"], strict=True))
    servers += [LoopbackServer(answers, delay_s=0.002), LoopbackServer(answers, delay_s=0.002)]
    params = stage_params([s.base_url for s in servers])
    shared = str(tmp_path / "shared")
    logged: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def stage_run(p: StageParams) -> Iterator[Any]:
        yield type("Run", (), {"log_metrics": staticmethod(logged.append)})()

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(stage, "load_stage_params", lambda name, sections: params)
    monkeypatch.setattr(stage, "workspace_root", lambda: REPO)  # dvc.yaml: the stage's code deps
    monkeypatch.setattr(stage, "stage_run", stage_run)
    for index in (0, 1):
        monkeypatch.setattr(stage, "tracking_root", lambda index=index: tmp_path / f"machine{index}")
        monkeypatch.setattr(
            stage, "load_runtime", lambda index=index: runtime(interact_worker=InteractWorker(index, 2, shared))
        )
        if index == 1:
            with pytest.raises(MissingShardsError, match=r"1 of 3 shards are not done \(shard 1;"):
                stage.main(["--merge"])
        stage.main([])
        assert f"interact: worker {index} of 2: " in capsys.readouterr().out
        assert not (tmp_path / "data/interact").exists() and not logged  # a worker writes no result
    monkeypatch.setattr(stage, "load_runtime", lambda: runtime(interact_worker=InteractWorker(0, 1, shared)))
    stage.main(["--merge"])
    assert "(3 of 3 shards resumed)" in capsys.readouterr().out and logged[0]["tasks"]["all"]["instructions"] == 5

    rt = runtime(interact_worker=InteractWorker(0, 1, None))
    plan = plan_interact(params, rt, root=REPO, cache=tmp_path / "single", selected=Path("data/selected/train.parquet"))
    write_interact(run_interact(plan), tmp_path / "single/data")
    for name in ("nodes", "trees", "instructions"):
        assert (tmp_path / f"single/data/{name}.parquet").read_bytes() == (
            tmp_path / f"data/interact/{name}.parquet"
        ).read_bytes()
