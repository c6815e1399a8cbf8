"""The LLM judge for Coding records without tests or answer (Magicoder-Evol-Instruct, paper §1.2):
dispatch between judge and environment, the syntax filter, fail-fast, the scripted and the
OpenAI-compatible judge (a loopback server), the call cache, and the `sft_only` tree views."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import preftree.judging as judging_mod
from preftree.agents import prompts
from preftree.agents.cache import CallCache
from preftree.agents.judge import CachedJudge, JudgeRequest, LLMJudge, ScriptedJudge, Verdict, make_judge
from preftree.agents.llm import make_engine
from preftree.agents.scripted_actor import ScriptedActor
from preftree.agents.scripted_critic import ScriptedCritic
from preftree.compose import from_conf
from preftree.config.agents import AgentParams
from preftree.config.interact import InteractParams
from preftree.config.runtime import RuntimeParams
from preftree.config.sandbox import SandboxParams
from preftree.config.workspace import ParamsError
from preftree.interact import Agents, EvalContext, TreeBuilder
from preftree.judging import JudgeRequired, judged_datasets, make_evaluate, needs_judge, require_judge
from preftree.observation import Observation
from preftree.schema import INSTRUCTION_SCHEMA
from preftree.tree import build_views, drop_sft_only

from .test_tree import FULL3, RM, frame, tree

LIMITS = from_conf(SandboxParams, "sandbox", timeout_s=3.0)
MAGIC = "magicoder_evol_instruct"
ADD = "def add(a, b):\n    return a + b"


def fence(code: str) -> str:
    return f"Step 1: Write the function.\n```python\n{code}\n```"


def magic(i: int = 1, reference: dict | None = None) -> dict[str, Any]:
    """A Magicoder-like record: Coding, no tests, no answer; the response as a text reference."""
    ref = reference or {"kind": "text", "text": f"Here you go:\n```python\n{ADD}\n```\nIt adds."}
    return {
        "id": f"{i:064x}",
        "problem_id": f"p{i}",
        "task": "Coding",
        "dataset": MAGIC,
        "problem": "Write add(a, b) returning the sum.",
        "instruction": "Write Python code to solve the task.\nWrite add(a, b) returning the sum.",
        "answer": "",
        "tests": [],
        "reference": json.dumps(ref),
        "pattern": "",
        "difficulty": None,
        "source_row": i,
        "split": "train",
    }


class Recording:
    """A judge that records its requests and answers from a function of the action."""

    identity = "fake:judge"

    def __init__(self, rule=lambda record, action: "good" in action) -> None:  # noqa: ANN001
        self.rule, self.requests = rule, []

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        self.requests.extend(requests)
        return [Verdict(bool(self.rule(r.record, r.action)), "because") for r in requests]


# ----------------------------------------------------------------------------- which records


def test_needs_judge_only_for_coding_without_tests_and_answer() -> None:
    assert needs_judge(magic())
    assert needs_judge({**magic(), "tests": None}) and needs_judge({**magic(), "tests": ["  "]})
    assert not needs_judge({**magic(), "tests": ["assert add(1, 2) == 3"]})
    assert not needs_judge({**magic(), "answer": "42"})  # a table problem: judged by its answer
    assert not needs_judge({**magic(), "task": "Math_CoT"})
    records = pl.DataFrame([magic(1), magic(2), {**magic(3), "dataset": "mbpp", "tests": ["assert 1"]}])
    assert judged_datasets(records.cast(dict(INSTRUCTION_SCHEMA))) == {MAGIC: 2}


# ----------------------------------------------------------------------------- dispatch


def test_scripted_judge_through_make_evaluate_right_and_wrong() -> None:
    evaluate = make_evaluate(LIMITS, ScriptedJudge(), workers=1)
    right = fence("# Step 1: add\ndef add(a,b):\n    return (a + b)  # same program, other layout")
    wrong = fence("def add(a, b):\n    return a - b")
    prose = "Just use the plus operator."
    obs = evaluate(magic(), [right, wrong, prose], ())
    assert [o.correct for o in obs] == [True, False, False]
    assert [o.text for o in obs] == ["Your answer is correct.", "Your answer is wrong.", "Your answer is wrong."]
    assert [o.mode for o in obs] == ["pot", "pot", "cot"] and obs[2].code == ""
    assert all(o.status == "judged" and o.syntax_ok for o in obs)
    assert obs[0].judge == "scripted:judge" and "line 2: 'return a - b'" in obs[1].reason
    assert evaluate.counts == {"judged": 3, "correct": 1, "wrong": 2, "unparseable": 0, "syntax_errors": 0}


def test_scripted_judge_on_a_prose_reference_and_without_one() -> None:
    judge = ScriptedJudge()
    rec = magic(reference={"kind": "text", "text": "Use a set to drop duplicates."})
    assert judge.verdict(rec, "Step 1: Think.\nUse a  SET to drop duplicates.").correct
    assert not judge.verdict(rec, "Sort the list.").correct
    assert not judge.verdict({**rec, "reference": ""}, fence(ADD)).correct


def test_a_syntax_error_is_wrong_without_asking_the_judge() -> None:
    judge = Recording()
    evaluate = make_evaluate(LIMITS, judge, workers=1)
    bad, good = fence("def add(a, b)\n    return a + b"), fence("# good\n" + ADD)
    obs = evaluate(magic(), [bad, good], ())
    assert (obs[0].correct, obs[0].syntax_ok, obs[0].status) == (False, False, "syntax_error")
    assert obs[0].text.startswith("Out: ") and obs[0].text.endswith("Your answer is wrong.")
    assert "SyntaxError" in obs[0].text
    assert [r.action for r in judge.requests] == [good] and obs[1].correct
    assert evaluate.counts["syntax_errors"] == 1 and evaluate.counts["judged"] == 1


def test_records_with_tests_or_an_answer_still_go_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple] = []
    sentinel = [Observation("Out: x\nYour answer is wrong.", False, "pot", "x", None, "failed", True)]

    def fake_env(record, texts, *, prior_code, limits, workers):  # noqa: ANN001, ANN202
        calls.append((record["id"], list(texts), tuple(prior_code), limits, workers))
        return sentinel

    monkeypatch.setattr(judging_mod, "evaluate_actions", fake_env)
    judge = Recording()
    evaluate = make_evaluate(LIMITS, judge, workers=3)
    with_tests = {**magic(1), "dataset": "mbpp", "tests": ["assert add(1, 2) == 3"]}
    table = {**magic(2), "answer": "7"}
    assert evaluate(with_tests, ["a"], ("p",)) is sentinel
    assert evaluate(table, ["b"], (), context=EvalContext(messages=(), turn=2, seed=1)) is sentinel
    assert calls == [(with_tests["id"], ["a"], ("p",), LIMITS, 3), (table["id"], ["b"], (), LIMITS, 3)]
    assert judge.requests == []


def test_a_record_with_tests_gets_exactly_the_environment_observation() -> None:
    from preftree.env import evaluate_actions

    rec = {**magic(), "dataset": "mbpp", "tests": ["assert add(1, 2) == 3"]}
    actions = [fence(ADD), fence("def add(a, b):\n    return a - b")]
    got = make_evaluate(LIMITS, None)(rec, actions, ())
    assert got == evaluate_actions(rec, actions, limits=LIMITS) and [o.correct for o in got] == [True, False]


# ----------------------------------------------------------------------------- fail fast


def test_no_judge_fails_naming_the_dataset_and_the_key() -> None:
    records = pl.DataFrame([magic(1), magic(2)]).cast(dict(INSTRUCTION_SCHEMA))
    with pytest.raises(JudgeRequired) as info:
        require_judge(records, None)
    message = str(info.value)
    assert MAGIC in message and "interact.judge=critic" in message and "2 selected" in message
    assert "\n" not in message and isinstance(info.value, ParamsError)
    assert require_judge(records, ScriptedJudge()) == {MAGIC: 2}
    assert require_judge(records.filter(pl.col("id") == ""), None) == {}
    with pytest.raises(JudgeRequired, match=MAGIC):
        make_evaluate(LIMITS, None)(magic(), [fence(ADD)], ())


def test_the_stage_fails_before_any_work(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import preftree.interact_run as interact_run
    import stages.interact as stage

    (tmp_path / "data/selected").mkdir(parents=True)
    pl.DataFrame([magic(1)]).cast(dict(INSTRUCTION_SCHEMA)).write_parquet(tmp_path / "data/selected/train.parquet")
    params = {"interact": from_conf(InteractParams, "interact"), "sandbox": LIMITS, "seed": 0}
    for key in ("actor", "weak", "critic"):
        params[key] = from_conf(AgentParams, key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(stage, "load_stage_params", lambda name, sections: params)
    monkeypatch.setattr(stage, "load_runtime", lambda: from_conf(RuntimeParams, "runtime"))
    monkeypatch.setattr(interact_run, "check_available", lambda isolation: None)
    monkeypatch.setattr(stage, "tracking_root", lambda: tmp_path)
    monkeypatch.setattr(stage, "stage_run", lambda p: pytest.fail("work started before the judge check"))
    with pytest.raises(JudgeRequired, match=MAGIC):
        stage.main()


# ----------------------------------------------------------------------------- make_judge


def test_make_judge_uses_the_critic_backend(tmp_path: Path) -> None:
    runtime = from_conf(RuntimeParams, "runtime")
    assert make_judge("none", from_conf(AgentParams, "critic"), runtime, cache_path=tmp_path / "c.sqlite") is None
    assert isinstance(
        make_judge("critic", from_conf(AgentParams, "critic", backend="scripted"), runtime, cache_path=None),
        ScriptedJudge,
    )
    cached = make_judge(
        "critic", from_conf(AgentParams, "critic", backend="scripted"), runtime, cache_path=tmp_path / "c.sqlite"
    )
    assert isinstance(cached, CachedJudge) and cached.identity == "scripted:judge"
    openai = from_conf(AgentParams, "critic", backend="openai", model="gpt-4-turbo", base_url="http://127.0.0.1:9/v1")
    assert make_judge("critic", openai, runtime, cache_path=None).identity == "openai:gpt-4-turbo@http://127.0.0.1:9/v1"
    with pytest.raises(ParamsError, match=r"critic\.backend='hf'"):
        make_judge("critic", from_conf(AgentParams, "critic", backend="hf", model="m"), runtime, cache_path=None)


# ----------------------------------------------------------------------------- the OpenAI judge


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("It adds correctly.\nVerdict: correct", (True, "It adds correctly.")),
        ("Off by one.\n\nverdict: WRONG.\n", (False, "Off by one.")),
        ("Fine.\n**Verdict: correct**", (True, "Fine.")),
        ("Verdict: correct\nbut on second thought it fails", (None, None)),
        ("Verdict: correct-ish", (None, None)),
        ("", (None, None)),
    ],
)
def test_parse_verdict_is_strict(reply: str, verdict: tuple) -> None:
    correct, reason = prompts.parse_verdict(reply)
    assert correct is verdict[0]
    assert reason == verdict[1] if verdict[1] is not None else reason.startswith("unparseable judge reply")


REPLIES = {
    "CASE-correct": "The function returns a + b for all inputs.\nVerdict: correct",
    "CASE-wrong": "It subtracts instead of adding.\nVerdict: wrong",
    "CASE-garbage": "Looks plausible to me, hard to say.",
}


class JudgeServer:
    """Chat completions on 127.0.0.1: the reply chosen by the CASE-* mark inside the judged response."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.bodies.append(body)
                user = body["messages"][-1]["content"]
                text = next(reply for mark, reply in REPLIES.items() if mark in user)
                choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                data = json.dumps({"id": "x", "object": "chat.completion", "choices": [choice]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server() -> Iterator[JudgeServer]:
    s = JudgeServer()
    yield s
    s.httpd.shutdown()


def test_openai_judge_verdicts_through_make_evaluate_and_the_cache(server: JudgeServer, tmp_path: Path) -> None:
    critic = from_conf(
        AgentParams,
        "critic",
        backend="openai",
        model="judge-model",
        base_url=server.url,
        api_key_env="",
        temperature=0.0,
    )
    runtime = from_conf(RuntimeParams, "runtime", max_retries=0, request_timeout_s=10.0, concurrency=2)
    judge = make_judge("critic", critic, runtime, cache_path=tmp_path / "calls.sqlite")
    evaluate = make_evaluate(LIMITS, judge)
    actions = [fence(f"# {mark}\n{ADD}") for mark in REPLIES]
    context = EvalContext(messages=({"role": "user", "content": magic()["instruction"]},), turn=1, seed=5)
    obs = evaluate(magic(), actions, (), context=context)
    assert [o.correct for o in obs] == [True, False, False]
    assert [o.status for o in obs] == ["judged", "judged", "judge_unparseable"]
    assert obs[0].reason == "The function returns a + b for all inputs." and "Looks plausible" in obs[2].reason
    assert evaluate.counts["unparseable"] == 1 and len(server.bodies) == 3
    body = server.bodies[0]
    assert body["model"] == "judge-model" and body["temperature"] == 0.0
    assert body["messages"][0]["content"] == prompts.JUDGE_SYSTEM
    assert "Write add(a, b)" in body["messages"][1]["content"] and "CASE-" in body["messages"][1]["content"]
    # the same requests again: served by the call cache, zero HTTP requests, the same verdicts
    judge_again = LLMJudge(critic, make_engine("openai", critic, runtime))
    again = make_evaluate(LIMITS, CachedJudge(judge_again, CallCache(tmp_path / "calls.sqlite")))
    assert again(magic(), actions, (), context=context) == obs and len(server.bodies) == 3
    assert again.judge.hits == 3 and again.judge.calls == 0


# ----------------------------------------------------------------------------- in the tree protocol


def test_tree_builder_with_the_scripted_judge_gives_judged_pairs() -> None:
    code = "def clip(x, lo, hi):\n    if x < lo:\n        return lo\n    return x if x <= hi else hi"
    records = [magic(i, {"kind": "code", "code": code, "entry_point": "clip"}) for i in range(1, 7)]
    judge = Recording(rule=lambda record, action: ScriptedJudge().verdict(record, action).correct)
    agents = Agents(
        actor=ScriptedActor(from_conf(AgentParams, "actor", mistake_rate=0.7, mistake_decay=0.5), name="teacher"),
        weak=ScriptedActor(from_conf(AgentParams, "actor", weak=True, mistake_rate=1.0), name="weak"),
        critic=ScriptedCritic(),
    )
    params = from_conf(
        InteractParams, "interact", max_turns=3, samples_per_turn=2, escalation_rounds=1, guided=True, limit=None
    )
    nodes, trees = TreeBuilder(agents, make_evaluate(LIMITS, judge), params, seed=0).build(records)
    chosen, rejected = nodes.filter(pl.col("role") == "chosen"), nodes.filter(pl.col("role") == "rejected")
    assert chosen.height and rejected.height and chosen["correct"].all() and not rejected["correct"].any()
    assert set(nodes["observation"]) <= {"Your answer is correct.", "Your answer is wrong."}
    assert set(nodes["mistake"].drop_nulls()) and trees.height == 6  # the actor's mistakes were judged wrong
    # the judge saw each turn's history: later turns carry the expanded action and its feedback
    turns = {r.turn: r for r in judge.requests}
    assert [m["role"] for m in turns[1].messages] == ["user"]
    assert [m["role"] for m in turns[2].messages] == ["user", "assistant", "user"]


# ----------------------------------------------------------------------------- sft_only views


def test_sft_only_dataset_gives_sft_rows_and_no_pairs() -> None:
    nodes = frame(tree(1, FULL3), tree(2, FULL3, "Coding"), tree(3, [(True, True)], "Coding"))
    nodes = nodes.with_columns(
        pl.when(pl.col("task") == "Coding").then(pl.lit(MAGIC)).otherwise(pl.col("dataset")).alias("dataset")
    )
    views = build_views(nodes, rm=RM, seed=0)
    kept, dropped = drop_sft_only(views, [MAGIC, "absent"])
    assert kept["sft"].equals(views["sft"]) and set(kept["sft"]["dataset"]) == {"synthetic", MAGIC}
    for view in ("pairs", "kto", "rm"):
        assert set(kept[view]["dataset"]) == {"synthetic"}
        assert kept[view].equals(views[view].filter(pl.col("dataset") == "synthetic"))
        assert dropped[view] == {"absent": 0, MAGIC: views[view].height - kept[view].height}
    assert dropped["pairs"][MAGIC] == 4 and dropped["kto"][MAGIC] == 8
    same, none = drop_sft_only(views, [])
    assert none == {} and all(same[v] is views[v] for v in views)
