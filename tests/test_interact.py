"""The tree protocol on hand-made agents (exact node layouts), and the resumable sharded runner."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from preftree.agents.base import Action, CritiqueRequest
from preftree.compose import from_conf
from preftree.config.interact import InteractParams
from preftree.interact import Agents, TreeBuilder, derive_seed, table1
from preftree.schema import NODE_SCHEMA
from preftree.shards import run_sharded


@dataclass(frozen=True)
class Obs:
    text: str
    correct: bool
    mode: str = "cot"
    code: str = ""
    status: str = "ok"
    syntax_ok: bool = True


class ListActor:
    """Writes 'ok' / 'bad' / 'syntax' actions from a per-(record, turn) script."""

    def __init__(self, script: dict[tuple[str, int], list[str]], identity: str = "fake:actor") -> None:
        self.script, self.identity, self.requests = script, identity, []

    def act(self, requests):  # noqa: ANN001, ANN201
        out = []
        for r in requests:
            self.requests.append(r)
            plan = self.script.get((r.record["id"], r.turn), ["ok"])
            if r.guided:
                plan = ["ok"]
            texts = [plan[i % len(plan)] for i in range(r.n)]
            out.append(
                [
                    Action(text=f"{t}#{r.turn}#{i}#{r.guided}", actor=self.identity, sampling={"i": i})
                    for i, t in enumerate(texts)
                ]
            )
        return out


class WeakActor:
    identity = "fake:weak"

    def act(self, requests):  # noqa: ANN001, ANN201
        return [[Action(text=f"bad#weak#{r.turn}", actor=self.identity)] for r in requests]


class EchoCritic:
    identity = "fake:critic"

    def __init__(self) -> None:
        self.seen: list[CritiqueRequest] = []

    def critique(self, requests):  # noqa: ANN001, ANN201
        self.seen.extend(requests)
        return [f"fix turn {r.turn}" for r in requests]


def evaluate(record, texts, prior):  # noqa: ANN001, ANN201
    return [
        Obs(
            text=f"Your answer is {'correct' if t.startswith('ok') else 'wrong'}.",
            correct=t.startswith("ok"),
            syntax_ok=not t.startswith("syntax"),
        )
        for t in texts
    ]


def record(i: int, task: str = "Math_CoT", dataset: str = "synthetic", rationale: str | None = "Step 1: 2 + 2") -> dict:
    return {
        "id": f"{i:064x}",
        "problem_id": f"p{i}",
        "task": task,
        "dataset": dataset,
        "source_row": i,
        "instruction": f"problem {i}",
        "answer": "4",
        "reference": json.dumps({"kind": "rationale", "rationale": rationale}) if rationale else "",
    }


def build(script, params: InteractParams, records):  # noqa: ANN001, ANN201
    actor, critic = ListActor(script), EchoCritic()
    builder = TreeBuilder(Agents(actor, WeakActor(), critic), evaluate, params, seed=0)
    nodes, trees = builder.build(records)
    return nodes, trees, actor, critic


P = from_conf(
    InteractParams,
    "interact",
    max_turns=5,
    samples_per_turn=2,
    escalation_rounds=1,
    guided=True,
    limit=None,
    shard_size=10,
)


def test_correct_first_action_ends_at_turn_one_with_a_weak_rejected() -> None:
    nodes, trees, _, critic = build({}, P, [record(1)])
    assert nodes.schema == NODE_SCHEMA
    rid = record(1)["id"]
    assert nodes["node_id"].to_list() == [f"{rid}_1_1_c", f"{rid}_1_1_r"]
    assert nodes["origin"].to_list() == ["sample", "weak"]
    assert nodes["expanded"].to_list() == [False, False] and critic.seen == []
    tree = trees.row(0, named=True)
    assert (tree["end_turn"], tree["solved"], tree["pairs"], tree["depth"]) == (1, True, 1, 1)


def test_wrong_actions_are_expanded_with_observation_and_critique_until_correct() -> None:
    rid = record(2)["id"]
    script = {(rid, 1): ["bad", "ok"], (rid, 2): ["bad", "bad"], (rid, 3): ["ok"]}
    nodes, trees, actor, critic = build(script, P, [record(2)])
    assert trees["end_turn"].to_list() == [3] and trees["depth"].to_list() == [3]
    by_id = {r["node_id"]: r for r in nodes.to_dicts()}
    assert set(by_id) == {f"{rid}_3_{t}_{s}" for t in (1, 2, 3) for s in "cr"}
    # turn 1: own action wrong (expanded), a correct sibling sample is chosen
    assert by_id[f"{rid}_3_1_r"]["expanded"] and by_id[f"{rid}_3_1_r"]["critique"] == "fix turn 1"
    assert by_id[f"{rid}_3_1_c"]["action"].startswith("ok#1#1")
    # turn 2: no correct sample -> escalation also fails -> guided
    assert by_id[f"{rid}_3_2_c"]["origin"] == "guided"
    assert by_id[f"{rid}_3_2_r"]["parent_id"] == f"{rid}_3_1_r"
    assert by_id[f"{rid}_3_3_c"]["parent_id"] == f"{rid}_3_2_r"
    # the history the actor saw at turn 3: instruction, then (action, observation + critique) twice
    turn3 = [r for r in actor.requests if r.turn == 3][0]
    assert [m["role"] for m in turn3.messages] == ["user", "assistant", "user", "assistant", "user"]
    assert turn3.messages[2]["content"] == "Your answer is wrong.\nfix turn 1"
    assert [r.turn for r in critic.seen] == [1, 2]
    assert trees["escalations"].to_list() == [1] and trees["guided"].to_list() == [1]


def test_cap_at_max_turns_and_syntax_errors_are_never_kept() -> None:
    rid = record(3)["id"]
    script = {(rid, t): ["syntax", "bad"] for t in range(1, 6)}
    params = from_conf(
        InteractParams,
        "interact",
        max_turns=3,
        samples_per_turn=2,
        escalation_rounds=0,
        guided=False,
        limit=None,
        shard_size=10,
    )
    nodes, trees, _, critic = build(script, params, [record(3)])
    assert trees["end_turn"].to_list() == [3] and trees["solved"].to_list() == [False]
    assert nodes.filter(pl.col("action").str.starts_with("syntax")).height == 0
    assert nodes["role"].to_list() == ["rejected"] * 3  # no correct action was ever found
    assert trees["pairs"].to_list() == [0] and trees["syntax_dropped"].to_list() == [3]
    assert len(critic.seen) == 2  # the capped last turn needs no critique


def test_seeds_depend_on_the_instruction_not_its_shard_neighbours() -> None:
    rid = record(4)["id"]
    alone = build({}, P, [record(4)])[2].requests
    crowd = build({}, P, [record(9), record(4), record(7)])[2].requests
    seeds = lambda reqs: [r.seed for r in reqs if r.record["id"] == rid]  # noqa: E731
    assert seeds(alone) == seeds(crowd)
    assert derive_seed(0, rid, 1, 0, "sample") != derive_seed(1, rid, 1, 0, "sample")


def test_table1_counts_trajectories_by_end_turn() -> None:
    rid = record(5)["id"]
    nodes, trees, _, _ = build({(rid, 1): ["bad"], (rid, 2): ["ok"]}, P, [record(5), record(6, "Coding")])
    stats = table1(nodes, trees, 5)
    assert stats["Math_CoT"]["T2"] == 1 and stats["Coding"]["T1"] == 1
    assert stats["all"]["instructions"] == 2 and stats["all"]["pairs"] == 3
    assert stats["all"]["correct_actions"] == 3


def test_sharded_runner_resumes_without_duplicates(tmp_path: Path) -> None:
    items = pl.DataFrame({"x": list(range(23))})
    calls: list[int] = []

    def fn(shard: pl.DataFrame) -> dict[str, pl.DataFrame]:
        calls.append(shard["x"][0])
        if len(calls) == 3 and not (tmp_path / "crashed").exists():
            (tmp_path / "crashed").touch()
            raise KeyboardInterrupt  # a crash in the middle of the third shard
        return {"out": shard.with_columns(y=pl.col("x") * 2)}

    with pytest.raises(KeyboardInterrupt):
        run_sharded(items, shard_size=5, ckpt_dir=tmp_path / "ck", fn=fn, names=("out",), progress=False)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir() if p.is_dir()) == ["shard-00000", "shard-00001"]
    merged, counts = run_sharded(items, shard_size=5, ckpt_dir=tmp_path / "ck", fn=fn, names=("out",), progress=False)
    assert merged["out"]["x"].to_list() == list(range(23))
    assert counts == {"shards": 5, "resumed": 2, "computed": 3}
    assert calls == [0, 5, 10, 10, 15, 20]


def test_plan_reads_the_first_limit_records_and_checks_the_sandbox_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import preftree.interact_run as interact_run
    from preftree.config.agents import AgentParams
    from preftree.config.load import StageParams
    from preftree.config.runtime import RuntimeParams
    from preftree.config.sandbox import SandboxParams
    from preftree.sources.synthetic.problems import generate

    selected = tmp_path / "train.parquet"
    generate(6, seed=0).write_parquet(selected)
    checked: list[str] = []
    monkeypatch.setattr(interact_run, "check_available", checked.append)
    typed = {
        "interact": from_conf(InteractParams, "interact", limit=4),
        "sandbox": from_conf(SandboxParams, "sandbox"),
        "critic": from_conf(AgentParams, "critic"),
    }
    params = StageParams(stage="interact", keys=tuple(typed), raw={}, typed=typed)
    runtime = from_conf(RuntimeParams, "runtime")
    plan = interact_run.plan_interact(params, runtime, root=tmp_path, cache=tmp_path / "cache", selected=selected)
    assert checked == [typed["sandbox"].isolation]
    assert plan.records.equals(pl.read_parquet(selected).head(4))
    assert plan.judge is None and plan.needs == {} and plan.selected == selected
    assert not (tmp_path / "cache").exists()  # no model call, no call cache yet


def test_result_metrics_keep_the_default_layout_without_a_judge() -> None:
    from preftree.interact_run import InteractResult

    empty = pl.DataFrame()
    calls = {"actor": {"calls": 1, "cache_hits": 0}}
    result = InteractResult(empty, empty, empty, {"all": {}}, {"shards": 1, "resumed": 0, "computed": 1}, calls, None)
    assert list(result.metrics) == ["tasks", "shards", "model_calls"]
    judged = InteractResult(empty, empty, empty, {}, {}, calls, {"identity": "scripted:judge"})
    assert judged.metrics["judge"] == {"identity": "scripted:judge"}


# ------------------------------------------------------------------------------------------------
# the paper's weak actors, escalation models and answer-only datasets (§2.3 / App. A.2)


def test_rejected_weak_takes_the_weak_action_never_the_actors_own_and_expands_it() -> None:
    rid = record(11)["id"]
    params = from_conf(
        InteractParams, "interact", max_turns=3, samples_per_turn=2, escalation_rounds=0, rejected="weak"
    )
    nodes, trees, actor, critic = build({(rid, 1): ["bad", "ok"], (rid, 2): ["ok"]}, params, [record(11)])
    rejected = nodes.filter(pl.col("role") == "rejected")
    assert rejected["origin"].to_list() == ["weak", "weak"] and rejected["actor"].unique().to_list() == ["fake:weak"]
    assert not nodes.filter(pl.col("action").str.starts_with("bad#1")).height  # the actor's wrong sample: not kept
    assert rejected["expanded"].to_list() == [True, False] and trees["end_turn"].to_list() == [2]
    assert critic.seen[0].messages[-1]["content"] == "bad#weak#1"  # the critic reviews the expanded weak action
    turn2 = [r for r in actor.requests if r.turn == 2][0]
    assert turn2.messages[1]["content"] == "bad#weak#1"  # ... and the trajectory continues from it
    own = build({(rid, 1): ["bad", "ok"], (rid, 2): ["ok"]}, P, [record(11)])[0]
    assert own.filter(pl.col("role") == "rejected")["origin"].to_list() == ["sample", "weak"]  # rejected=own


class Member:
    """A pool member that writes wrong actions and records what it was asked."""

    def __init__(self, name: str) -> None:
        self.identity, self.requests = f"fake:{name}", []

    def act(self, requests):  # noqa: ANN001, ANN201
        self.requests.extend(requests)
        return [[Action(text=f"bad#{self.identity}#{r.seed}", actor=self.identity)] * r.n for r in requests]


def test_pool_draws_one_weak_model_per_request_from_its_seed() -> None:
    from preftree.agents.pool import PoolActor

    members = [Member("a"), Member("b"), Member("c")]
    pool = PoolActor(members)
    params = from_conf(
        InteractParams, "interact", max_turns=1, samples_per_turn=1, escalation_rounds=0, rejected="weak"
    )
    records = [record(i) for i in range(20, 44)]
    builder = TreeBuilder(Agents(ListActor({}), pool, EchoCritic()), evaluate, params, seed=0)
    nodes, _ = builder.build(records)
    writers = nodes.filter(pl.col("role") == "rejected").select("instruction_id", "actor")
    assert set(writers["actor"]) == {"fake:a", "fake:b", "fake:c"} and writers.height == 24
    assert all(len(m.requests) < 24 for m in members)  # each member got only its own draws, in one call
    again = TreeBuilder(Agents(ListActor({}), PoolActor([Member(x) for x in "abc"]), EchoCritic()), evaluate, params,
                        seed=0).build(list(reversed(records)))[0]  # fmt: skip
    assert writers.sort("instruction_id").equals(
        again.filter(pl.col("role") == "rejected").select("instruction_id", "actor").sort("instruction_id")
    )  # the draw depends on the request, not on the order or the neighbours
    assert "fake:a" in pool.identity and pool.calls == 0  # plain members have no call counts


def test_escalation_rounds_switch_to_the_configured_stronger_models() -> None:
    rid = record(12)["id"]
    strong1, strong2 = ListActor({(rid, 1): ["bad"]}, "fake:strong1"), ListActor({(rid, 1): ["ok"]}, "fake:strong2")
    params = from_conf(InteractParams, "interact", max_turns=1, samples_per_turn=2, escalation_rounds=3, guided=True)
    actor = ListActor({(rid, 1): ["bad"]})
    builder = TreeBuilder(Agents(actor, WeakActor(), EchoCritic(), (strong1, strong2)), evaluate, params, seed=0)
    nodes, trees = builder.build([record(12)])
    chosen = nodes.filter(pl.col("role") == "chosen").row(0, named=True)
    assert (chosen["origin"], chosen["actor"]) == ("escalation", "fake:strong2")
    assert len(strong1.requests) == 1 and len(strong2.requests) == 1 and len(actor.requests) == 1
    assert trees["escalations"].to_list() == [2] and trees["guided"].to_list() == [0]
    assert Agents(actor, WeakActor(), EchoCritic(), (strong1, strong2)).escalator(5) is strong2
    assert Agents(actor, WeakActor(), EchoCritic()).escalator(1) is actor  # none configured: the actor itself


@pytest.mark.parametrize("dataset", ["numglue", "reclor", "hotpotqa", "strategyqa"])
def test_answer_only_datasets_get_no_guided_step(dataset: str) -> None:
    params = from_conf(InteractParams, "interact", max_turns=1, samples_per_turn=1, escalation_rounds=1, guided=True)
    assert dataset in params.answer_only
    records = [record(30, dataset=dataset), record(31), record(32, rationale=None)]
    script = {(r["id"], 1): ["bad"] for r in records}
    actor = ListActor(script)
    _, trees = TreeBuilder(Agents(actor, WeakActor(), EchoCritic()), evaluate, params, seed=0).build(records)
    guided = [r.record["id"] for r in actor.requests if r.guided]
    assert guided == [records[1]["id"]]  # only the record with a worked solution from a dataset with rationales
    assert trees["guided"].to_list() == [0, 1, 0] and trees["escalations"].to_list() == [1, 1, 1]
