"""Bad values are refused before any work, in one line naming the key, the value and what is allowed."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import yaml

from preftree.compose import composed, main
from preftree.config.evaluate import EvalParams
from preftree.config.load import load_stage_params
from preftree.config.sandbox import SandboxParams
from preftree.config.sources import AdapterName, Task
from preftree.config.train import Scheduler
from preftree.config.validate import InputPath, Range, checking_paths, coerce
from preftree.config.workspace import ParamsError
from preftree.schema import TASKS

from .conftest import REPO

# The bad overrides the issue reported, each with the words its one-line error must contain.
BAD_OVERRIDES = [
    (["sandbox.timeout_s=0"], "sandbox.timeout_s: 0.0 is out of range, allowed [0.1, 3600]"),
    (["interact.max_turns=0"], "interact.max_turns: 0 is out of range, allowed [1, inf)"),
    (["sft.optim.batch_size=-4"], "sft.optim.batch_size: -4 is out of range, allowed [1, inf)"),
    (["interact.shard_size=0"], "interact.shard_size: 0 is out of range"),
    (["select.heldout.fraction=1.5"], "select.heldout.fraction: 1.5 is out of range, allowed [0, 1)"),
    (["align.dpo.beta=-0.1"], "align.dpo.beta: -0.1 is out of range, allowed (0, inf)"),
    (["rerank.ns=[1,32]"], "rerank.ns: [1, 32] must be a non-empty list of sizes <= rerank.n (16)"),
    (["model.arch.num_attention_heads=3"], "model.arch.hidden_size: 128 is not a multiple of num_attention_heads (3)"),
    (["runtime.device=gpu"], "runtime.device: 'gpu' is not a device"),
    (["sft.optim.scheduler=cosin"], "did you mean 'cosine'?"),
    (
        [
            "+sources.files.x={adapter:gsm9k,path:null,hf_id:openai/gsm8k,hf_config:null,split:train,"
            "tasks:[],fields:{},limit:null}"
        ],
        "sources.files.x.adapter: expected one of",
    ),
    (["+eval.benchmarks.humaneval={path:/nonexistent/HumanEval.jsonl.gz,limit:null}"], "no such file or folder"),
    (["interact.max_turn=3"], "unknown key 'interact.max_turn' (nearest known keys: interact.max_turns"),
    (
        ["experiment=smok"],
        "no option 'smok' in config group 'experiment' (available: eurus7b, eurus7b_cpu, smoke; nearest: smoke)",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), BAD_OVERRIDES, ids=[o[0][0][:40] for o in BAD_OVERRIDES])
def test_a_bad_override_fails_composition_in_one_line(
    overrides: list[str], expected: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    before = (REPO / "params.yaml").read_bytes()
    assert main(overrides) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert expected in err, err
    assert (REPO / "params.yaml").read_bytes() == before  # nothing written


def dvc_project(root: Path, data: dict) -> Path:
    """A folder DVC accepts as a project: the real dvc.yaml and `data` as params.yaml."""
    (root / ".dvc").mkdir()
    (root / ".dvc" / "config").write_text("[core]\n    no_scm = true\n")
    (root / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    (root / "params.yaml").write_text(yaml.safe_dump(data))
    return root


def test_a_stage_refuses_a_bad_value_in_params_yaml_before_any_work(tmp_path: Path) -> None:
    """A hand-edited params.yaml (no composition) is caught by the stage's own loader."""
    from stages.interact import SECTIONS

    data = composed(REPO)
    data["interact"]["max_turns"] = 0
    dvc_project(tmp_path, data)
    with pytest.raises(ParamsError, match=r"interact.max_turns: 0 is out of range, allowed \[1, inf\)"):
        load_stage_params("interact", SECTIONS, root=tmp_path)


def test_a_stage_refuses_a_missing_benchmark_file_before_loading_the_model(tmp_path: Path) -> None:
    """eval names data/ files the pipeline writes: composition skips them, the stage checks them."""
    dvc_project(tmp_path, composed(REPO))
    sections = {"seed": int, "sandbox": SandboxParams, "eval": EvalParams}
    with pytest.raises(ParamsError, match=r"eval.benchmarks.tiny.path: no such file or folder: .*heldout.parquet"):
        load_stage_params("eval@sft", sections, root=tmp_path)
    (tmp_path / "data/selected").mkdir(parents=True)
    (tmp_path / "data/selected/heldout.parquet").write_bytes(b"")
    assert load_stage_params("eval@sft", sections, root=tmp_path)["eval.benchmarks"]["tiny"].limit is None


def test_input_paths_accept_hub_ids_only_where_declared(tmp_path: Path) -> None:
    hub = typing.Annotated[str, InputPath("any", hub=True)]
    local = typing.Annotated[str, InputPath("file")]
    with checking_paths(tmp_path, outputs=True):
        assert coerce("openai/openai_humaneval", hub, "p") == "openai/openai_humaneval"
        with pytest.raises(ParamsError, match="no such file or folder"):
            coerce("benchmarks/HumanEval.jsonl.gz", hub, "p")  # a file name, not an id
        with pytest.raises(ParamsError, match="no such file"):
            coerce("ids.txt", local, "p")
        (tmp_path / "ids.txt").write_text("1\n")
        assert coerce("ids.txt", local, "p") == "ids.txt"
        (tmp_path / "folder").mkdir()
        with pytest.raises(ParamsError, match="is a folder, expected a file"):
            coerce("folder", local, "p")
    with checking_paths(tmp_path, outputs=False):
        assert coerce("data/not/yet.parquet", local, "p") == "data/not/yet.parquet"  # a pipeline output
    assert coerce("nowhere.txt", local, "p") == "nowhere.txt"  # no root active: types only


def test_ranges_describe_themselves() -> None:
    assert Range(ge=1).text() == "[1, inf)"
    assert Range(gt=0, le=1).text() == "(0, 1]"
    with pytest.raises(ParamsError, match=r"p: nan is out of range"):
        coerce(float("nan"), typing.Annotated[float, Range(ge=0)], "p")
    assert coerce(None, typing.Annotated[int, Range(ge=1)] | None, "p") is None


def test_choice_lists_match_what_the_code_accepts() -> None:
    from transformers.trainer_utils import SchedulerType

    from preftree.sources.registry import ADAPTERS

    assert set(typing.get_args(AdapterName)) == set(ADAPTERS)
    assert set(typing.get_args(Task)) == set(TASKS)
    assert set(typing.get_args(Scheduler)) == {s.value for s in SchedulerType} - {"greedy"}


def test_every_numeric_param_declares_a_range() -> None:
    """No int or float field of a params section is left unconstrained (seed excepted)."""
    import dataclasses

    from preftree.config.params import Params

    loose: list[str] = []

    def walk(tp: typing.Any, path: str) -> None:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            return
        if dataclasses.is_dataclass(tp):
            for name, sub in typing.get_type_hints(tp, include_extras=True).items():
                walk(sub, f"{path}.{name}" if path else name)
        elif origin in (dict, list):
            walk(typing.get_args(tp)[-1], f"{path}.*")
        elif origin is not None:  # a union
            for arg in typing.get_args(tp):
                if arg is not type(None):
                    walk(arg, path)
        elif tp in (int, float):
            loose.append(path)

    walk(Params, "")
    assert loose == ["seed"], loose
