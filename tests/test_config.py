"""Composition, freshness of params.yaml, typed validation and the runtime/param boundary."""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import preftree.config
from preftree.compose import composed, from_conf
from preftree.config.agents import AgentParams
from preftree.config.load import load_runtime, load_stage_params, stage_params_from
from preftree.config.params import SECTIONS, Params, validate_all
from preftree.config.runtime import RuntimeParams
from preftree.config.sandbox import SandboxParams
from preftree.config.train import MixtureSourceParams
from preftree.config.validate import build
from preftree.config.workspace import ParamsError

from .conftest import REPO

CONF = REPO / "conf"
# conf/accelerate holds accelerate launcher files (runtime.accelerate_config), not a Hydra group; conf/mixture
# is only ever appended (+mixture@sft.mixture.<name>=...), never chosen; conf/benchmarks fills eval.benchmarks
# alone (benchmarks@eval.benchmarks), so its options are composed one by one below, not in every combination.
NOT_CHOSEN = ("accelerate", "mixture", "benchmarks")
GROUPS = {
    g.name: sorted(p.stem for p in g.glob("*.yaml")) for g in CONF.iterdir() if g.is_dir() and g.name not in NOT_CHOSEN
}
# The *_smoke options are experiment=smoke's reduced groups: composed by every combination with it.
CHOICES = {group: [o for o in options if not o.endswith("_smoke")] for group, options in GROUPS.items()}
# Options that need a value from the user to validate (the composed file carries '???' until set).
NEEDS = {("model", "local"): ["model.path=/ckpt"]}


def test_params_yaml_is_fresh() -> None:
    """Fails when conf/ was edited without `make params`, or an -S override was left behind."""
    on_disk = yaml.safe_load((REPO / "params.yaml").read_text())
    assert on_disk == composed(REPO), "params.yaml is stale: run `make params` and commit it"


def test_compose_check_command_detects_staleness(tmp_path: Path) -> None:
    shutil.copytree(CONF, tmp_path / "conf")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")

    def run(*a):
        return subprocess.run(
            [sys.executable, "-m", "preftree.compose", *a],
            cwd=tmp_path,  # noqa: E731
            capture_output=True,
            text=True,
        )

    assert run().returncode == 0
    assert run("--check").returncode == 0
    text = (tmp_path / "params.yaml").read_text().replace("seed: 0", "seed: 7")
    (tmp_path / "params.yaml").write_text(text)
    stale = run("--check")
    assert stale.returncode == 1 and "stale" in stale.stderr


def _merged(base: dict, patch: dict) -> dict:
    out = dict(base)
    for key, value in patch.items():
        out[key] = _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


COMBINATIONS = [dict(zip(CHOICES, combo, strict=True)) for combo in itertools.product(*CHOICES.values())]


@pytest.mark.parametrize("choice", COMBINATIONS, ids=str)
def test_every_group_combination_composes_and_validates(choice: dict[str, str]) -> None:
    overrides = [f"{group}={option}" for group, option in choice.items()]
    for key in choice.items():
        overrides += NEEDS.get(key, [])
    params = validate_all(composed(REPO, overrides))
    assert isinstance(params, Params)


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF / "benchmarks").glob("*.yaml")))
def test_every_benchmarks_option_composes_and_validates(option: str) -> None:
    names = list(yaml.safe_load((CONF / "benchmarks" / f"{option}.yaml").read_text()))
    overrides = [f"benchmarks@eval.benchmarks={option}", f"eval.multiturn.benchmarks=[{names[0]}]"]
    params = validate_all(composed(REPO, overrides))
    assert list(params.eval.benchmarks) == names  # the option replaces the default set, never merges into it


def test_local_model_without_path_fails_naming_the_key() -> None:
    with pytest.raises(ParamsError, match=r"model\.path: is required"):
        validate_all(composed(REPO, ["model=local"]))


def test_experiment_smoke_reduces_the_run() -> None:
    smoke = validate_all(composed(REPO, ["experiment=smoke"]))
    default = validate_all(composed(REPO))
    assert smoke.model.pretrain.steps < default.model.pretrain.steps
    assert smoke.sources.synthetic and default.sources.synthetic
    assert smoke.sources.synthetic.n < default.sources.synthetic.n
    # a preset overrides the sections of config.yaml itself (`_self_` comes before `experiment`)
    assert smoke.interact.limit == 40 and default.interact.limit > smoke.interact.limit


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"select": {"dedup": {"near_treshold": 0.9}}}, "unknown key 'select.dedup.near_treshold'"),
        ({"select": {"dedup": {"near_threshold": "high"}}}, "select.dedup.near_threshold: expected float, got str"),
        ({"model": {"pretrain": {"steps": 1.5}}}, "model.pretrain.steps: expected int, got float"),
        ({"seed": True}, "seed: expected int, got bool"),
        ({"runtime": {"engine": "tgi"}}, "runtime.engine: expected one of"),
        ({"sources": {"files": {"g": {"path": "x.jsonl"}}}}, "missing required key 'sources.files.g.adapter'"),
        ({"sources": {"synthetic": {"tasks": {"Math_CoT": "a lot"}}}}, "sources.synthetic.tasks.Math_CoT"),
        ({"model": {"pretrain": {"tasks": {"Chess": 1.0}}}}, "model.pretrain.tasks"),
    ],
)
def test_bad_values_fail_with_one_line_naming_the_key(data: dict, message: str) -> None:
    with pytest.raises(ParamsError) as info:
        build(Params, _merged(composed(REPO), data))  # the whole file, with one bad value
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_stage_params_are_exactly_the_declared_keys() -> None:
    full = composed(REPO)
    params = stage_params_from("select", ["seed", "sources", "select"], full, SECTIONS)
    assert set(params.raw) == {"seed", "sources", "select"}
    assert params["select"].dedup.near_threshold == full["select"]["dedup"]["near_threshold"]
    with pytest.raises(KeyError, match="does not declare 'model'"):
        params["model"]
    partial = stage_params_from("x", ["model.pretrain.lr"], full, SECTIONS)
    assert partial.raw == {"model": {"pretrain": {"lr": full["model"]["pretrain"]["lr"]}}}
    assert partial["model.pretrain.lr"] == pytest.approx(full["model"]["pretrain"]["lr"])


def test_a_stage_reads_only_the_sections_it_names() -> None:
    full = composed(REPO)
    with pytest.raises(ParamsError, match="declares 'model', which the stage does not read"):
        stage_params_from("select", ["seed", "model"], full, {"seed": int, "select": SECTIONS["select"]})


def _dvc_project(tmp_path: Path, params: dict) -> Path:
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "dvc.yaml").write_text(
        yaml.safe_dump(
            {
                "stages": {
                    "select": {"cmd": "true", "params": ["seed", "select"], "outs": ["out"]},
                    "align": {
                        "foreach": ["kto", "nca"],
                        "do": {"cmd": "true", "params": ["seed", "select.dedup.${item}"], "outs": ["o_${item}"]},
                    },
                }
            }
        )
    )
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def test_load_stage_params_reads_dvc_yaml(tmp_path: Path) -> None:
    full = composed(REPO)
    root = _dvc_project(tmp_path, full)
    params = load_stage_params("select", SECTIONS, root=root)
    assert params.keys == ("seed", "select")
    assert params["seed"] == full["seed"]
    assert load_runtime(root) == build(RuntimeParams, full["runtime"])


def test_load_stage_params_rejects_unknown_key_before_work(tmp_path: Path) -> None:
    full = composed(REPO)
    full["select"]["caps"]["per_patern"] = 3
    root = _dvc_project(tmp_path, full)
    with pytest.raises(ParamsError, match=r"unknown key 'select\.caps\.per_patern'"):
        load_stage_params("select", SECTIONS, root=root)


def test_runtime_is_never_a_stage_param() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        body = stage.get("do", stage)
        for key in body.get("params", []):
            key = key if isinstance(key, str) else next(iter(key))
            assert not key.startswith("runtime"), f"stage {name} declares {key}"


def test_stages_declare_their_own_code_and_run_as_modules() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        body = stage.get("do", stage)
        module = name.split("@")[0]
        assert body["cmd"].startswith(f"python -m stages.{module}"), name
        assert f"stages/{module}.py" in body["deps"], name
        assert body.get("desc"), name
        for dep in body["deps"]:
            if "${" in dep:  # templated from params.yaml, e.g. ${tree.input}
                continue
            if dep.startswith(("data/", "models/", "metrics/info/")):  # produced by another stage (not in git)
                continue
            assert (REPO / dep).exists(), f"stage {name}: dep {dep} does not exist"


def test_experiment_eurus7b_holds_the_paper_hyperparameters() -> None:
    paper = validate_all(composed(REPO, ["experiment=eurus7b"]))
    assert paper.model.path and paper.model.name == "local"
    assert (paper.sft.optim.lr, paper.sft.optim.epochs, paper.sft.optim.max_steps) == (2e-5, 1.0, -1)
    assert (paper.sft.optim.warmup_ratio, paper.sft.optim.scheduler) == (0.1, "cosine")
    assert sorted(paper.align) == ["dpo", "kto", "nca"]
    assert {k: m.loss for k, m in paper.align.items()} == {"dpo": "sigmoid", "kto": "kto", "nca": "nca_pair"}
    for method in paper.align.values():
        assert (method.optim.lr, method.beta, method.optim.epochs, method.optim.max_steps) == (5e-7, 0.1, 1.0, -1)
    assert paper.align["kto"].desirable_weight / paper.align["kto"].undesirable_weight == pytest.approx(1.33)
    assert {k: (v.optim.lr, v.loss) for k, v in paper.rm.items()} == {"bt": (1e-5, "bt"), "bt_dr": (1e-5, "bt+dr")}
    assert paper.runtime.bf16 and paper.runtime.gradient_checkpointing and paper.runtime.launcher == "accelerate"
    assert (REPO / paper.runtime.accelerate_config).is_file()
    assert paper.actor.backend == "openai" and paper.critic.backend == "openai"


# ----------------------------------------------------------------------------- conf/ is the only source of values


def _config_dataclasses() -> list[type]:
    found = []
    for info in pkgutil.iter_modules(preftree.config.__path__):
        module = importlib.import_module(f"preftree.config.{info.name}")
        if info.name == "validate":  # the rule types (Range, Pattern, InputPath), not params sections
            continue
        found += [v for v in vars(module).values() if dataclasses.is_dataclass(v) and v.__module__ == module.__name__]
    return found


def test_params_types_declare_no_defaults() -> None:
    classes = _config_dataclasses()
    assert Params in classes and RuntimeParams in classes and len(classes) > 25
    for cls in classes:
        for f in dataclasses.fields(cls):
            assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING, (
                f"{cls.__name__}.{f.name} has a default: set its value in conf/ instead"
            )


def test_a_missing_key_fails_naming_it() -> None:
    runtime = composed(REPO)["runtime"]
    del runtime["bf16"]
    with pytest.raises(ParamsError, match=r"missing required key 'runtime\.bf16'"):
        build(RuntimeParams, runtime, "runtime")


@pytest.mark.parametrize("option", GROUPS["runtime"])
def test_each_runtime_option_sets_every_field_itself(option: str) -> None:
    """Not through another option's defaults list: each runtime file reads as the whole section."""
    data = yaml.safe_load((CONF / "runtime" / f"{option}.yaml").read_text())
    assert "defaults" not in data
    assert list(data) == [f.name for f in dataclasses.fields(RuntimeParams)]
    build(RuntimeParams, data, "runtime")


def test_weak_composes_from_the_actor_group() -> None:
    config = yaml.safe_load((CONF / "config.yaml").read_text())
    assert "actor@weak" in [next(iter(d)) for d in config["defaults"] if isinstance(d, dict)]
    assert config["weak"] == {"mistake_rate": 1.0, "mistake_decay": 1.0, "weak": True}  # only what differs
    default = validate_all(composed(REPO))
    assert default.weak == dataclasses.replace(default.actor, mistake_rate=1.0, mistake_decay=1.0, weak=True)
    # choosing the actor leaves the weak actor alone; choosing the weak actor's backend keeps the weak keys
    assert validate_all(composed(REPO, ["actor=hf"])).weak == default.weak
    hf = validate_all(composed(REPO, ["actor@weak=hf"])).weak
    assert (hf.backend, hf.model, hf.weak, hf.mistake_rate) == ("hf", "models/base", True, 1.0)


def test_mixture_entry_composes_with_every_field() -> None:
    params = validate_all(composed(REPO, ["+mixture@sft.mixture.ultrachat=ultrachat"]))
    entry = params.sft.mixture["ultrachat"]
    assert entry.hf_id == "HuggingFaceH4/ultrachat_200k" and entry.path is None


def test_from_conf_builds_a_section_with_changes() -> None:
    sandbox = from_conf(SandboxParams, "sandbox", timeout_s=2.0)
    assert sandbox == dataclasses.replace(validate_all(composed(REPO)).sandbox, timeout_s=2.0)
    assert from_conf(AgentParams, "weak").weak
    mixture = from_conf(
        MixtureSourceParams, "sft.mixture.ultrachat", overrides=["+mixture@sft.mixture.ultrachat=ultrachat"]
    )
    assert mixture.split == "train_sft"
    with pytest.raises(ParamsError, match="not SandboxParams"):
        from_conf(SandboxParams, "interact")
    with pytest.raises(ParamsError, match="no key 'sft.mixture.nope'"):
        from_conf(MixtureSourceParams, "sft.mixture.nope")
