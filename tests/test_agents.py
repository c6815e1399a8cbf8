"""Agents: the scripted teacher and critic, the call cache, and the openai / hf / vllm backends."""

from __future__ import annotations

import importlib.util
import json
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from preftree.agents import make_actor, make_critic
from preftree.agents.base import Action, ActRequest, CritiqueRequest
from preftree.agents.cache import CachedActor, CachedCritic, CallCache
from preftree.agents.llm import LLMActor, LLMCritic, make_engine
from preftree.agents.prompts import actor_messages, critic_messages
from preftree.agents.scripted_actor import ScriptedActor, UnsupportedRecord
from preftree.agents.scripted_critic import ScriptedCritic
from preftree.compose import from_conf
from preftree.config.agents import AgentParams
from preftree.config.runtime import RuntimeParams
from preftree.schema import TASKS, make_instruction, record_ids
from preftree.sources.adapters import ADAPTERS
from preftree.sources.synthetic.problems import applicable_mistakes, generate

ACTOR = from_conf(AgentParams, "actor")  # conf/actor/scripted.yaml
CRITIC = from_conf(AgentParams, "critic")  # conf/critic/scripted.yaml
RUNTIME = from_conf(RuntimeParams, "runtime")  # conf/runtime/cpu.yaml

# ------------------------------------------------------------------------------------------------
# judging actions (execution in a subprocess, like the synthetic tests)

FENCE = re.compile(r"```python\n(.*?)\n```", re.DOTALL)
BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
LETTER = re.compile(r"Answer:\n(\S+)\s*$")
RUNNER = r"""
import contextlib, io, json, sys
out = []
for code in json.load(sys.stdin):
    buf, env = io.StringIO(), {"__name__": "__main__"}
    try:
        with contextlib.redirect_stdout(buf):
            exec(compile(code, "<action>", "exec"), env)
        ints = {k: v for k, v in env.items() if isinstance(v, int) and not isinstance(v, bool)}
        out.append([True, buf.getvalue(), ints])
    except BaseException as exc:
        out.append([False, repr(exc), {}])
print(json.dumps(out))
"""


def execute(codes: Sequence[str]) -> list[tuple[bool, str, dict[str, int]]]:
    """Run each snippet in a fresh namespace in one subprocess: (ok, stdout, the int globals)."""
    if not codes:
        return []
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER], input=json.dumps(list(codes)), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [(ok, out, ints) for ok, out, ints in json.loads(proc.stdout.splitlines()[-1])]


def verdicts(records: Sequence[Mapping[str, Any]], texts: Sequence[str]) -> list[bool]:
    """Is each action correct? PoT: printed value; CoT: last \\boxed{}; Coding: the tests pass; Logic: letter."""
    out: list[bool | None] = [None] * len(records)
    jobs: list[tuple[int, str]] = []
    for i, (rec, text) in enumerate(zip(records, texts, strict=True)):
        fence = FENCE.search(text)
        if rec["task"] in ("Math_PoT", "Coding"):
            assert fence is not None, text
            jobs.append((i, fence.group(1) + ("\n" + "\n".join(rec["tests"]) if rec["task"] == "Coding" else "")))
        elif rec["task"] == "Math_CoT":
            assert fence is None, text
            out[i] = BOXED.findall(text)[-1] == rec["answer"]
        else:
            m = LETTER.search(text)
            assert m is not None, text
            out[i] = m.group(1) == rec["answer"]
    for (i, _), (ok, stdout, _) in zip(jobs, execute([c for _, c in jobs]), strict=True):
        out[i] = ok and (records[i]["task"] == "Coding" or stdout.strip() == records[i]["answer"])
    return [bool(v) for v in out]


def request(record: Mapping[str, Any], *, n: int = 1, seed: int = 0, turn: int = 1, guided: bool = False) -> ActRequest:
    return ActRequest(record=record, messages=[{"role": "user", "content": record["instruction"]}],
                      turn=turn, n=n, seed=seed, guided=guided)  # fmt: skip


def critique_request(record: Mapping[str, Any], action: str, observation: str = "") -> CritiqueRequest:
    messages = [{"role": "user", "content": record["instruction"]}, {"role": "assistant", "content": action}]
    return CritiqueRequest(record=record, messages=messages, observation=observation, turn=1, seed=0)


@pytest.fixture(scope="module")
def synth() -> dict[str, list[dict[str, Any]]]:
    """40 problems per task, 2..5 steps."""
    frame = generate(160, seed=21, tasks=dict.fromkeys(TASKS, 1.0), min_steps=2, max_steps=5)
    return {t: [r for r in frame.iter_rows(named=True) if r["task"] == t] for t in TASKS}


# ------------------------------------------------------------------------------------------------
# scripted actor


def test_scripted_format_and_identity(synth: dict[str, list[dict[str, Any]]]) -> None:
    actor = ScriptedActor(ACTOR)
    assert actor.identity == "scripted:teacher"
    assert ScriptedActor(from_conf(AgentParams, "actor", weak=True), name="mistral").identity == "scripted:mistral:weak"
    for task, records in synth.items():
        out = actor.act([request(r, n=2) for r in records])
        assert [len(o) for o in out] == [2] * len(records)
        for rec, actions in zip(records, out, strict=True):
            for a in actions:
                assert a.actor == "scripted:teacher" and a.sampling["turn"] == 1
                prose = a.text.split("```")[0]
                numbers = [int(k) for k in re.findall(r"^Step (\d+): \S", prose, flags=re.M)]
                assert numbers == list(range(1, len(numbers) + 1)) and numbers, a.text
                if task == "Math_CoT":
                    assert "```" not in a.text and re.search(r"\n\nAnswer:\n\\boxed\{-?\d+\}$", a.text), a.text
                elif task == "Math_PoT":
                    code = FENCE.search(a.text).group(1)  # type: ignore[union-attr]
                    assert "# Step 1: " in code and "print(" in code
                elif task == "Coding":
                    code = FENCE.search(a.text).group(1)  # type: ignore[union-attr]
                    entry = json.loads(rec["reference"])["entry_point"]
                    assert f"def {entry}(" in code and "# Step 1: " in code
                else:
                    assert re.search(r"\n\nAnswer:\n[A-E]$", a.text), a.text


def test_scripted_is_deterministic(synth: dict[str, list[dict[str, Any]]]) -> None:
    records = [r for rs in synth.values() for r in rs[:8]]
    reqs = [request(r, n=4, seed=7) for r in records]
    a = ScriptedActor(ACTOR).act(reqs)
    b = ScriptedActor(ACTOR).act(list(reversed(reqs)))[::-1]  # another instance, another order
    assert a == b
    alone = ScriptedActor(ACTOR).act(reqs[3:4])
    assert alone[0] == a[3]
    c = ScriptedActor(ACTOR).act([request(r, n=4, seed=8) for r in records])
    assert [x.mistake for xs in a for x in xs] != [x.mistake for xs in c for x in xs]
    other = ScriptedActor(ACTOR, name="other").act(reqs)
    assert [x.text for xs in a for x in xs] != [x.text for xs in other for x in xs]  # the name seeds too


def test_mistake_rate_matches_and_falls_with_turn(synth: dict[str, list[dict[str, Any]]]) -> None:
    params = from_conf(AgentParams, "actor", mistake_rate=0.6, mistake_decay=0.6)
    actor = ScriptedActor(params)
    records = [r for rs in synth.values() for r in rs[:25]]  # 100 problems x 4 samples = 400 per turn
    rates = {}
    for turn in (1, 2, 3):
        out = actor.act([request(r, n=4, seed=3, turn=turn) for r in records])
        flat = [(rec, a) for rec, actions in zip(records, out, strict=True) for a in actions]
        right = verdicts([rec for rec, _ in flat], [a.text for _, a in flat])
        assert len(right) == 400
        assert all(ok == (a.mistake is None) for ok, (_, a) in zip(right, flat, strict=True))  # labels are honest
        rates[turn] = 1 - sum(right) / len(right)
        expected = 0.6 * 0.6 ** (turn - 1)
        assert abs(rates[turn] - expected) < 0.08, (turn, rates[turn], expected)
    print("\nmeasured mistake rates:", {t: round(r, 3) for t, r in rates.items()})
    assert rates[1] > rates[2] > rates[3]


def test_weak_always_wrong_guided_always_right(synth: dict[str, list[dict[str, Any]]]) -> None:
    records = [r for rs in synth.values() for r in rs]
    weak = ScriptedActor(from_conf(AgentParams, "actor", weak=True), name="weak")
    out = weak.act([request(r, n=2, seed=1) for r in records])
    texts = [a.text for actions in out for a in actions]
    recs = [r for r in records for _ in range(2)]
    assert not any(verdicts(recs, texts))
    kinds = {a.mistake for actions in out for a in actions}
    assert {"wrong_operator", "off_by_one", "dropped_step"} <= kinds, kinds
    # only a weight on a kind that rarely applies: the answer is perturbed instead, still wrong
    narrow = ScriptedActor(from_conf(AgentParams, "actor", weak=True, mistakes={"wrong_formula": 1.0}), name="narrow")
    out = narrow.act([request(r, seed=2) for r in records])
    assert not any(verdicts(records, [o[0].text for o in out]))
    assert {o[0].mistake for o in out} <= {"wrong_formula", "perturbed_answer"}
    teacher = ScriptedActor(from_conf(AgentParams, "actor", mistake_rate=1.0))
    guided = teacher.act([request(r, n=2, seed=1, guided=True) for r in records])
    assert all(verdicts(recs, [a.text for actions in guided for a in actions]))
    assert all(a.mistake is None for actions in guided for a in actions)
    with pytest.raises(ValueError, match="unknown mistake"):
        ScriptedActor(from_conf(AgentParams, "actor", mistakes={"typo": 1.0}))


def _rows(adapter: str, rows: list[dict[str, Any]], task: str, dataset: str) -> list[dict[str, Any]]:
    out = []
    for i, row in enumerate(rows):
        item = ADAPTERS[adapter].adapt(row)
        rid, pid = record_ids(task, dataset, item.problem)  # type: ignore[union-attr]
        out.append({
            "id": rid, "problem_id": pid, "task": task, "dataset": dataset, "problem": item.problem,  # type: ignore[union-attr]
            "instruction": make_instruction(task, item.problem), "answer": item.answer,  # type: ignore[union-attr]
            "tests": item.tests, "reference": item.reference, "pattern": "", "difficulty": None,  # type: ignore[union-attr]
            "source_row": i, "split": "train",
        })  # fmt: skip
    return out


GSM8K = [
    {"question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
                 "How many clips did Natalia sell altogether in April and May?",
     "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips "
               "altogether in April and May.\n#### 72"},
    {"question": "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. "
                 "How much did she earn?",
     "answer": "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50 = "
               "$<<0.2*50=10>>10.\n#### 10"},
]  # fmt: skip
HUMANEVAL = [
    {"prompt": 'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n',
     "canonical_solution": "    return a + b\n", "entry_point": "add",
     "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-4, 4) == 0\n"},
    {"prompt": 'def count_small(xs: list, k: int) -> int:\n    """How many items are below k."""\n',
     "canonical_solution": "    n = 0\n    for x in xs:\n        if x < k:\n            n += 1\n    return n\n",
     "entry_point": "count_small",
     "test": "def check(candidate):\n    assert candidate([1, 5, 3], 3) == 1\n"
             "    assert candidate([2, 3, 4], 4) == 2\n"},
]  # fmt: skip


def test_scripted_on_real_dataset_shapes() -> None:
    cot = _rows("gsm8k", GSM8K, "Math_CoT", "gsm8k")
    pot = _rows("gsm8k", GSM8K, "Math_PoT", "gsm8k")
    code = _rows("humaneval", HUMANEVAL, "Coding", "humaneval")
    records = cot + pot + code
    good = ScriptedActor(from_conf(AgentParams, "actor", mistake_rate=0.0)).act([request(r) for r in records])
    texts = [o[0].text for o in good]
    assert all(verdicts(records, texts)), texts
    assert "<<" not in texts[0] and texts[0].startswith("Step 1: Natalia sold 48/2 = 24 clips in May.")
    weak = ScriptedActor(from_conf(AgentParams, "actor", weak=True), name="weak").act(
        [request(r, n=3, seed=s) for s, r in enumerate(records)]
    )
    wrong = [a.text for o in weak for a in o]
    assert not any(verdicts([r for r in records for _ in range(3)], wrong)), wrong
    assert {a.mistake for o in weak[:4] for a in o} == {"off_by_one"}
    assert {a.mistake for o in weak[4:] for a in o} <= {"wrong_operator", "off_by_one"}
    critic = ScriptedCritic()
    for rec, o in zip(records, weak, strict=True):
        text = critic.critique([critique_request(rec, o[0].text, "Out: 71\n")])[0]
        assert text.startswith("Step ") and (not rec["answer"] or rec["answer"] not in text), text
    with pytest.raises(UnsupportedRecord, match="no reference code"):
        ScriptedActor(ACTOR).act([request({**code[0], "reference": ""})])


# ------------------------------------------------------------------------------------------------
# scripted critic


def _expected_math_step(rec: Mapping[str, Any], text: str, ints: dict[str, int] | None) -> int:
    """First step (1-based) whose value differs from the reference, computed from the action itself."""
    ref = json.loads(rec["reference"])
    want = [s["value"] for s in ref["steps"]]
    if rec["task"] == "Math_CoT":
        got = [int(v) for v in re.findall(r"^Step \d+: .* = (-?\d+)\.$", text, flags=re.M)]
    else:
        code = FENCE.search(text).group(1)  # type: ignore[union-attr]
        got = []
        for block in re.split(r"^# Step \d+: .*$", code, flags=re.M)[1:]:
            names = re.findall(r"^(\w+) = ", block, flags=re.M)
            got.append(ints[names[-1]])  # type: ignore[index]
    for k, value in enumerate(want, start=1):
        if k > len(got) or got[k - 1] != value:
            return k
    raise AssertionError(f"no diverging step in\n{text}")


@pytest.mark.parametrize("mistake", ["dropped_step", "wrong_operator"])
def test_critic_names_the_first_wrong_math_step(synth: dict[str, list[dict[str, Any]]], mistake: str) -> None:
    records = [r for t in ("Math_CoT", "Math_PoT") for r in synth[t] if mistake in applicable_mistakes(r)][:30]
    assert len(records) == 30
    actor = ScriptedActor(from_conf(AgentParams, "actor", weak=True, mistakes={mistake: 1.0}), name="weak")
    actions = [o[0] for o in actor.act([request(r, seed=5) for r in records])]
    assert all(a.mistake == mistake for a in actions)
    pot = [(i, FENCE.search(a.text).group(1)) for i, a in enumerate(actions) if records[i]["task"] == "Math_PoT"]  # type: ignore[union-attr]
    ran = dict(zip([i for i, _ in pot], execute([c for _, c in pot]), strict=True))
    critic = ScriptedCritic()
    assert critic.identity == "scripted:critic"
    observations = [f"Out: {ran[i][1].strip()}" if i in ran else "" for i in range(len(records))]
    feedback = critic.critique(
        [critique_request(r, a.text, o) for r, a, o in zip(records, actions, observations, strict=True)]
    )
    for i, (rec, action, text) in enumerate(zip(records, actions, feedback, strict=True)):
        expected = _expected_math_step(rec, action.text, ran[i][2] if i in ran else None)
        named = re.search(r"Step (\d+)", text)
        assert named is not None and int(named.group(1)) == expected, (action.text, text)
        assert "\\boxed" not in text
        ref = json.loads(rec["reference"])
        intermediate = {str(s["value"]) for s in ref["steps"][:-1]}
        given = re.search(rf"(?<!\d){rec['answer']}(?!\d)", rec["problem"])  # one-digit answers can be givens
        if rec["answer"] not in intermediate and not given:  # never the final answer (unless shown elsewhere)
            unnumbered = re.sub(r"\b[Ss]teps? \d+|\(step \d+\)", "", text)  # step numbers are not answers
            assert not re.search(rf"(?<!\d){rec['answer']}(?!\d)", unnumbered), text
        if mistake == "dropped_step":
            assert "missing" in text, text
        else:
            assert re.search(r"You (added|subtracted|multiplied|divided)", text), text


def test_critic_on_code_and_logic(synth: dict[str, list[dict[str, Any]]]) -> None:
    critic = ScriptedCritic()
    coding = synth["Coding"][:12]
    actor = ScriptedActor(
        from_conf(AgentParams, "actor", weak=True, mistakes={"wrong_operator": 1.0, "off_by_one": 1.0}), name="weak"
    )
    for rec, out in zip(coding, actor.act([request(r, seed=9) for r in coding]), strict=True):
        action = out[0].text
        ref = json.loads(rec["reference"])
        blocks = re.split(r"^\s*# Step \d+: .*$", FENCE.search(action).group(1), flags=re.M)[1:]  # type: ignore[union-attr]
        got = [[ln.strip() for ln in b.splitlines() if ln.strip()] for b in blocks]
        want = [[ln.strip() for ln in s["lines"]] for s in ref["steps"]]
        expected = next(k for k, (g, w) in enumerate(zip(got, want, strict=False), start=1) if g != w)
        failing = rec["tests"][-1]
        text = critic.critique([critique_request(rec, action, f"Traceback ...\n    {failing}\nAssertionError")])[0]
        assert text.startswith(f"Step {expected} is incorrect"), (action, text)
        assert f"`{failing}` fails" in text and re.search(r"should be|does not belong|is missing", text), text
    logic = [r for r in synth["Logic"] if json.loads(r["reference"])["kind"] == "ordering"][:8]
    dropped = ScriptedActor(from_conf(AgentParams, "actor", weak=True, mistakes={"dropped_step": 1.0}), name="weak")
    for rec, out in zip(logic, dropped.act([request(r, seed=4) for r in logic]), strict=True):
        text = critic.critique([critique_request(rec, out[0].text)])[0]
        if out[0].mistake == "dropped_step":
            assert re.match(r"Step \d+ is incorrect\. You skipped clue \d+ \(", text), (out[0].text, text)
    flipped = ScriptedActor(from_conf(AgentParams, "actor", weak=True, mistakes={"wrong_operator": 1.0}), name="weak")
    for rec, out in zip(logic, flipped.act([request(r, seed=4) for r in logic]), strict=True):
        text = critic.critique([critique_request(rec, out[0].text)])[0]
        if out[0].mistake == "wrong_operator":
            assert "backwards" in text, (out[0].text, text)
    syllogisms = [r for r in synth["Logic"] if json.loads(r["reference"])["kind"] == "syllogism"][:8]
    assert syllogisms
    backwards = 0
    for rec, out in zip(syllogisms, flipped.act([request(r, seed=4) for r in syllogisms]), strict=True):
        text = critic.critique([critique_request(rec, out[0].text)])[0]
        if out[0].mistake == "wrong_operator":
            backwards += 1
            assert re.match(r"Step \d+ is incorrect\. You read premise \d+ backwards", text), (out[0].text, text)
    assert backwards >= 2, backwards
    generic = critic.critique([critique_request(synth["Math_CoT"][0], "I think it is 5.")])[0]
    assert "Step 1 should" in generic


# ------------------------------------------------------------------------------------------------
# prompts


def test_prompt_layouts(synth: dict[str, list[dict[str, Any]]]) -> None:
    rec = synth["Math_CoT"][0]
    plain = actor_messages(request(rec))
    assert plain[0]["role"] == "system" and "\\boxed" in plain[0]["content"] and plain[1]["role"] == "user"
    assert actor_messages(request(rec), system_prompt=None)[0]["role"] == "user"  # only when guided
    guided = actor_messages(request(rec, guided=True), system_prompt=None)[0]["content"]
    assert "Reference:" in guided and "[MASKED]" in guided and f"\\boxed{{{rec['answer']}}}" not in guided
    code = synth["Coding"][0]
    assert "def " in actor_messages(request(code, guided=True))[0]["content"]  # the full reference code
    crit = critic_messages(critique_request(rec, "Step 1: guess.\n\nAnswer:\n\\boxed{1}", "Your answer is wrong."))
    assert [m["role"] for m in crit] == ["system", "user"]
    body = crit[1]["content"]
    assert "do NOT disclose" in body and f"Final answer: {rec['answer']}" in body and "Step 1: guess." in body
    assert body.rstrip().endswith("Expert feedback:")


# ------------------------------------------------------------------------------------------------
# cache


class CountingActor:
    """The scripted teacher, counting the calls that reach it."""

    def __init__(self) -> None:
        self.calls = 0
        self.inner = ScriptedActor(ACTOR)
        self.identity = self.inner.identity

    def act_key(self, req: ActRequest) -> dict[str, Any]:
        return self.inner.act_key(req)

    def act(self, requests: Sequence[ActRequest]) -> list[list[Action]]:
        self.calls += 1
        return self.inner.act(requests)


def test_cache_replays_without_model_calls(tmp_path: Path, synth: dict[str, list[dict[str, Any]]]) -> None:
    db = tmp_path / "cache" / "calls.sqlite"
    records = [r for rs in synth.values() for r in rs[:5]]
    reqs = [request(r, n=3, seed=11) for r in records]
    backend = CountingActor()
    first = CachedActor(backend, CallCache(db))
    out1 = first.act(reqs)
    assert (first.hits, first.misses, first.calls, backend.calls) == (0, len(reqs), 1, 1)
    again = CountingActor()
    second = CachedActor(again, CallCache(db))  # a rerun: new process, same file
    assert second.act(reqs) == out1
    assert (second.hits, second.misses, second.calls, again.calls) == (len(reqs), 0, 0, 0)
    assert any(a.mistake for o in out1 for a in o)  # diagnostics survive the round trip
    second.act([request(records[0], n=3, seed=12)])  # another seed is another call
    assert (second.misses, second.calls) == (1, 1)
    tuned = CachedActor(ScriptedActor(from_conf(AgentParams, "actor", mistake_rate=0.1)), CallCache(db))
    tuned.act(reqs[:2])
    assert tuned.misses == 2  # the scripted params are part of the key
    # the factory wraps every backend, the scripted one included
    actor = make_actor(ACTOR, RUNTIME, cache_path=db, name="teacher")
    assert isinstance(actor, CachedActor) and actor.act(reqs) == out1 and actor.calls == 0
    critic = make_critic(CRITIC, RUNTIME, cache_path=db)
    assert isinstance(critic, CachedCritic)
    creqs = [critique_request(r, o[0].text) for r, o in zip(records, out1, strict=True)]
    c1 = critic.critique(creqs)
    critic2 = make_critic(CRITIC, RUNTIME, cache_path=db)
    assert critic2.critique(creqs) == c1 and (critic2.hits, critic2.calls) == (len(creqs), 0)  # type: ignore[attr-defined]
    assert make_actor(ACTOR, RUNTIME, cache_path=None, name="t").identity == "scripted:t"


def test_cache_is_thread_safe(tmp_path: Path, synth: dict[str, list[dict[str, Any]]]) -> None:
    records = [r for rs in synth.values() for r in rs[:6]]
    cached = CachedActor(ScriptedActor(ACTOR), CallCache(tmp_path / "c.sqlite"))
    results: dict[int, Any] = {}
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            results[t] = cached.act([request(r, n=2, seed=t % 3) for r in records])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(9)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert results[0] == results[3] == results[6] and results[1] == results[4]
    assert len(cached.cache) == 3 * len(records)
    assert cached.hits + cached.misses == 9 * len(records)


# ------------------------------------------------------------------------------------------------
# openai-compatible backend, against a loopback server

KEY = "sk-test-DO-NOT-LEAK-8d1f3c"


class FakeServer:
    """A chat-completions server on 127.0.0.1 that checks the key and counts concurrent requests."""

    def __init__(self, mode: str = "normal") -> None:
        self.mode = mode
        self.lock = threading.Lock()
        self.count = 0
        self.inflight = 0
        self.max_inflight = 0
        self.bad_auth = 0
        self.ns: list[int] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                auth = self.headers.get("Authorization", "")
                with server.lock:
                    server.count += 1
                    number = server.count
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                    server.ns.append(body.get("n", 1))
                try:
                    if self.path != "/v1/chat/completions":
                        self._send(404, {"error": self.path})
                    elif auth != f"Bearer {KEY}":
                        server.bad_auth += 1
                        self._send(401, {"error": "bad key"})
                    elif server.mode == "fail":
                        self._send(500, f"internal error while handling {auth}")  # a careless server echoes it
                    elif number == 1 and server.mode == "normal":
                        self._send(429, {"error": "slow down"}, {"Retry-After": "0"})
                    else:
                        time.sleep(0.05)
                        n = 1 if server.mode == "ignore_n" else body.get("n", 1)
                        user = body["messages"][-1]["content"][:30]
                        choices = [
                            {"index": i, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": f"#{i} seed={body['seed']} {user}"}}
                            for i in reversed(range(n))
                        ]  # fmt: skip
                        self._send(200, {"id": "x", "object": "chat.completion", "choices": choices})
                finally:
                    with server.lock:
                        server.inflight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_factory(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    servers: list[FakeServer] = []

    def start(mode: str = "normal") -> FakeServer:
        servers.append(FakeServer(mode))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def _openai_params(server: FakeServer) -> AgentParams:
    return from_conf(AgentParams, "actor", backend="openai", model="tiny-chat", base_url=server.base_url,
                     api_key_env="PREFTREE_TEST_OPENAI_KEY", max_new_tokens=16, temperature=0.7)  # fmt: skip


def openai_actor(params: AgentParams, runtime: RuntimeParams, **client_kwargs: Any) -> LLMActor:
    """The actor make_actor builds for backend=openai (uncached), with the client's backoff settings."""
    return LLMActor(params, make_engine("openai", params, runtime, **client_kwargs), system_prompt=True)


def test_openai_retries_parses_and_bounds_concurrency(
    server_factory: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, synth: dict[str, list[dict[str, Any]]]
) -> None:
    monkeypatch.setenv("PREFTREE_TEST_OPENAI_KEY", KEY)
    server = server_factory()
    runtime = from_conf(RuntimeParams, "runtime", concurrency=2, max_retries=3, request_timeout_s=10)
    actor = make_actor(_openai_params(server), runtime, cache_path=tmp_path / "calls.sqlite", name="teacher")
    records = synth["Math_CoT"][:6]
    out = actor.act([request(r, n=3, seed=4) for r in records])
    assert server.count == 7 and server.bad_auth == 0  # one 429 retried
    assert server.max_inflight == 2  # bounded by runtime.concurrency, and actually concurrent
    for rec, actions in zip(records, out, strict=True):
        assert [a.text.split(" ")[0] for a in actions] == ["#0", "#1", "#2"]  # sorted by index
        assert rec["instruction"][:30] in actions[0].text
        assert actions[0].sampling["temperature"] == 0.7
    assert actor.identity == f"openai:tiny-chat@{server.base_url}"
    actor.act([request(r, n=3, seed=4) for r in records])
    assert server.count == 7  # the rerun is served from the cache
    for text in (actor.identity, repr(actor), repr(actor.backend), repr(actor.backend.engine)):  # type: ignore[attr-defined]
        assert KEY not in text
    assert "PREFTREE_TEST_OPENAI_KEY" in repr(actor.backend)  # type: ignore[attr-defined]
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert stored and KEY.encode() not in stored
    direct = openai_actor(_openai_params(server), runtime)
    assert KEY not in repr(direct) and KEY not in str(vars(direct.engine))


def test_openai_server_ignoring_n(
    server_factory: Any, monkeypatch: pytest.MonkeyPatch, synth: dict[str, list[dict[str, Any]]]
) -> None:
    monkeypatch.setenv("PREFTREE_TEST_OPENAI_KEY", KEY)
    server = server_factory("ignore_n")
    actor = openai_actor(_openai_params(server), from_conf(RuntimeParams, "runtime", concurrency=3, max_retries=0))
    records = synth["Logic"][:2]
    out = actor.act([request(r, n=3, seed=1) for r in records])
    assert [len(o) for o in out] == [3, 3] and server.count == 6
    for actions in out:
        assert len({a.text for a in actions}) == 3  # each extra request has its own seed
    server.count = 0
    server.ns.clear()
    actor.act([request(records[0], n=2, seed=2)])
    assert server.count == 2 and server.ns == [1, 1]  # learned: n is ignored, so n requests at once


def test_openai_errors_are_clear_and_keyless(
    server_factory: Any, monkeypatch: pytest.MonkeyPatch, synth: dict[str, list[dict[str, Any]]]
) -> None:
    from preftree.generation.openai import MissingAPIKeyError, OpenAIError

    rec = synth["Math_PoT"][0]
    server = server_factory("fail")
    monkeypatch.delenv("PREFTREE_TEST_OPENAI_KEY", raising=False)
    actor = openai_actor(_openai_params(server), from_conf(RuntimeParams, "runtime", max_retries=2), backoff_s=0.001)
    with pytest.raises(MissingAPIKeyError, match="PREFTREE_TEST_OPENAI_KEY"):
        actor.act([request(rec)])
    assert server.count == 0
    monkeypatch.setenv("PREFTREE_TEST_OPENAI_KEY", KEY)
    with pytest.raises(OpenAIError) as info:
        actor.act([request(rec)])
    message = str(info.value)
    assert "500" in message and "3 attempts" in message and KEY not in message and "***" in message
    assert server.count == 3  # 1 + max_retries
    params = _openai_params(server)
    critic = LLMCritic(params, make_engine("openai", params, from_conf(RuntimeParams, "runtime", max_retries=0)))
    with pytest.raises(OpenAIError) as info:
        critic.critique([critique_request(rec, "Step 1: x")])
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    with pytest.raises(ValueError, match="base_url"):
        openai_actor(from_conf(AgentParams, "actor", backend="openai", model="m"), RUNTIME)


# ------------------------------------------------------------------------------------------------
# hf backend on a tiny random model


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from preftree.config.model import ArchParams, TokenizerParams
    from preftree.models.tiny import build_model
    from preftree.models.tokenizer import train_tokenizer

    texts = [r["instruction"] for r in generate(40, seed=1).iter_rows(named=True)]
    tok = train_tokenizer(
        texts, TokenizerParams(vocab_size=320, min_frequency=2, split_digits=True, digits_per_token=1)
    )
    arch = from_conf(ArchParams, "model.arch", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256)  # fmt: skip
    model = build_model(arch, tok, seed=0)
    folder = tmp_path_factory.mktemp("tiny") / "model"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_hf_actor_samples_n_and_is_deterministic(
    tiny_model: Path, synth: dict[str, list[dict[str, Any]]], caplog: pytest.LogCaptureFixture
) -> None:
    from preftree.generation.hf import HFBatchGenerator

    params = from_conf(
        AgentParams, "actor", backend="hf", model=str(tiny_model), max_new_tokens=10, temperature=1.0, top_p=0.95
    )
    engine = HFBatchGenerator(str(tiny_model), device="cpu", batch_size=2, progress=False)
    actor = LLMActor(params, engine)
    assert re.fullmatch(rf"hf:{re.escape(str(tiny_model))}@[0-9a-f]{{12}}", actor.identity)
    short = {**synth["Math_CoT"][0], "instruction": "Add 2 and 3."}
    long = synth["Logic"][0]  # longer than the context left for the prompt: cut from the left
    reqs = [request(short, n=3, seed=1), request(long, n=2, seed=1), request(synth["Coding"][0], n=1, seed=1)]
    with caplog.at_level("WARNING", logger="preftree.generation.chat"):
        out = actor.act(reqs)
    assert "cut from the left" in caplog.text
    assert [len(o) for o in out] == [3, 2, 1]
    assert all(isinstance(a.text, str) and a.actor == actor.identity for o in out for a in o)
    assert [a.sampling["index"] for a in out[0]] == [0, 1, 2]
    assert len({a.text for a in out[0]}) > 1  # n different samples
    assert actor.act(reqs) == out  # deterministic for a seed
    wide = HFBatchGenerator(str(tiny_model), device="cpu", batch_size=8, progress=False)
    assert LLMActor(params, wide).act(reqs[:1]) == out[:1]  # batch-invariant
    assert actor.act([request(short, n=3, seed=2)])[0] != out[0]
    greedy = LLMActor(
        from_conf(AgentParams, "actor", backend="hf", model=str(tiny_model), max_new_tokens=6, temperature=0.0), engine
    )
    g = greedy.act([request(short, n=2)])[0]
    assert g[0].text == g[1].text
    critic = LLMCritic(params, engine)
    texts = critic.critique([critique_request(short, "Step 1: 2 + 3 = 6.\n\nAnswer:\n\\boxed{6}", "wrong")])
    assert len(texts) == 1 and isinstance(texts[0], str)
    cached = make_actor(params, from_conf(RuntimeParams, "runtime", device="cpu"), cache_path=None, name="x")
    assert cached.identity == actor.identity


# ------------------------------------------------------------------------------------------------
# vllm backend


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_without_vllm_is_a_clear_error() -> None:
    from preftree.generation.vllm import VLLMGenerator, VLLMUnavailableError

    hint = r"needs the gpu extra: pip install -e '\.\[gpu\]' on a CUDA machine"
    with pytest.raises(VLLMUnavailableError, match=hint):
        VLLMGenerator("models/base")
    with pytest.raises(VLLMUnavailableError, match=hint):
        make_actor(
            from_conf(AgentParams, "actor", backend="hf", model="models/base"),
            from_conf(RuntimeParams, "runtime", engine="vllm"),
            cache_path=None,
            name="a",
        )
    with pytest.raises(VLLMUnavailableError, match=hint):
        make_critic(from_conf(AgentParams, "critic", backend="vllm", model="models/base"), RUNTIME, cache_path=None)


def test_factory_rejects_unknown_backend() -> None:
    with pytest.raises(ValueError, match="unknown actor backend"):
        make_actor(from_conf(AgentParams, "actor", backend="nope"), RUNTIME, cache_path=None, name="a")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown critic backend"):
        make_critic(from_conf(AgentParams, "critic", backend="nope"), RUNTIME, cache_path=None)  # type: ignore[arg-type]


def test_perturbed_answers_stay_wrong() -> None:
    from preftree.agents.mistakes import perturb_answer

    rng = random.Random(0)
    for answer in ("72", "0.5", "-3", "\\frac{1}{2}", "x^2", "1,234"):
        assert perturb_answer(answer, rng) not in (answer, answer.replace(",", ""))


def test_critic_reads_stdio_cases_as_input_and_output() -> None:
    from preftree.agents.prompts import ground_truth
    from preftree.schema import stdio_test

    record = {"task": "Coding", "answer": "", "reference": json.dumps({"kind": "code", "code": "print(3)"}),
              "tests": [stdio_test("1 2\n", "3\n"), stdio_test("x" * 400, "y\n")]}  # fmt: skip
    text = ground_truth(record)
    assert "Tests:\nInput:\n1 2\nExpected output:\n3\nInput:\n" + "x" * 300 + "...\nExpected output:\ny" in text
    assert "%%stdio" not in text and "```python\nprint(3)\n```" in text


@pytest.mark.parametrize(
    ("chain", "expected"),
    [
        ("80 + 29 = 109", ("80 + 29", "109")),
        ("5 * 5 = 25, 88 + 25 = 113", ("88 + (5 * 5)", "113")),
        ("100 + 5 = 105, 105 * 10 = 1050", ("(100 + 5) * 10", "1050")),
        ("4 * 2 = 8, 8 + 8 = 16", ("(4 * 2) + 8", "16")),  # an earlier result is put back once
        ("the total = 12", ("the total", "12")),  # not arithmetic: computed is None later
        ("x = y", None),
    ],
)
def test_cot_step_equations_chain_into_one_expression(chain, expected):
    from preftree.agents.critic_math import chain_expression

    assert chain_expression(chain) == expected
