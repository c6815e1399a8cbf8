"""The GPU path without a GPU: runtime.vllm reaching every vllm.LLM (a fake vllm package), data-parallel
replicas in processes of their own, the gpu extra's pins and its resolution report, and the accelerate
config files (single and multi-node) as accelerate reads them."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from preftree.compose import from_conf
from preftree.config.agents import AgentParams
from preftree.config.runtime import RuntimeParams, VLLMRuntime
from preftree.config.validate import build
from preftree.config.workspace import ParamsError
from preftree.generation.factory import make_generator, shared_generator
from preftree.generation.sampling import Sampling
from preftree.generation.vllm import VLLMGenerator, VLLMUnavailableError, engine_kwargs
from preftree.generation.vllm_replicas import ReplicaPool, replica_devices, split_evenly
from preftree.gpu_check import (
    conflict_lines,
    exact_pins,
    pin_mismatches,
    project_pins,
    resolved_versions,
    same_version,
    summary,
)
from preftree.launch import ENV_OPTIONS, env_options, launch_command

ROOT = Path(__file__).resolve().parents[1]
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()

# A stand-in for the vllm package with the surface preftree uses: LLM(**kwargs).get_tokenizer() /
# .generate(prompts, params, use_tqdm) and SamplingParams(**kwargs). Each LLM appends its kwargs and
# CUDA_VISIBLE_DEVICES to $FAKE_VLLM_LOG, and each generate call the number of prompts it served; a
# sample's text is "<sum of prompt ids>.<seed>.<j>", so it depends on the prompt and seed only.
FAKE_VLLM = """
import json, os

def _log(entry):
    with open(os.environ["FAKE_VLLM_LOG"], "a") as f:
        f.write(json.dumps(entry) + "\\n")

class SamplingParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs

class _Out:
    def __init__(self, texts):
        self.outputs = [type("O", (), {"text": t})() for t in texts]

class LLM:
    def __init__(self, **kwargs):
        if "broken" in kwargs["model"]:
            raise RuntimeError("no such engine: " + kwargs["model"])
        self.kwargs = kwargs
        self.devices = os.environ.get("CUDA_VISIBLE_DEVICES")
        _log({"llm": kwargs, "devices": self.devices, "pid": os.getpid()})

    def get_tokenizer(self):
        from transformers import AutoTokenizer
        return AutoTokenizer.from_pretrained(self.kwargs["model"], local_files_only=True)

    def generate(self, prompts, params, use_tqdm=True):
        _log({"served": len(prompts), "devices": self.devices, "pid": os.getpid()})
        out = []
        for p, sp in zip(prompts, params):
            k = sp.kwargs
            out.append(_Out([f"{sum(p['prompt_token_ids'])}.{k['seed']}.{j}" for j in range(k["n"])]))
        return out
"""


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny Llama with the project's chat tokenizer, saved as an HF folder."""
    from preftree.config.model import ArchParams, TokenizerParams
    from preftree.models.tiny import build_model
    from preftree.models.tokenizer import train_tokenizer

    tok = train_tokenizer(
        [" ".join(WORDS)] * 20, TokenizerParams(vocab_size=300, min_frequency=2, split_digits=True, digits_per_token=1)
    )
    arch = from_conf(ArchParams, "model.arch", hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                     num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128)  # fmt: skip
    folder = tmp_path_factory.mktemp("tiny") / "model"
    with torch.random.fork_rng(devices=[]):
        build_model(arch, tok, seed=0).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture()
def fake_vllm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The FAKE_VLLM package importable here and in spawned processes; yields its log file."""
    package = tmp_path / "fake" / "vllm"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(FAKE_VLLM))
    log = tmp_path / "vllm.log"
    monkeypatch.setenv("FAKE_VLLM_LOG", str(log))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "fake"))
    sys.modules.pop("vllm", None)
    yield log
    sys.modules.pop("vllm", None)


def log_entries(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def gpu_runtime(**vllm: Any) -> RuntimeParams:
    """runtime=gpu as conf/ composes it, with runtime.vllm changed."""
    runtime = from_conf(RuntimeParams, "runtime", overrides=["runtime=gpu"])
    return dataclasses.replace(runtime, engine="vllm", vllm=dataclasses.replace(runtime.vllm, **vllm))


def chat(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": " ".join(WORDS[i % 5 : i % 5 + 4])}]


# ---- runtime.vllm: the params type and conf/runtime


def test_conf_runtime_sets_vllm_for_cpu_and_gpu() -> None:
    for group in ("cpu", "gpu"):
        runtime = from_conf(RuntimeParams, "runtime", overrides=[f"runtime={group}"])
        assert runtime.vllm == VLLMRuntime(
            tensor_parallel_size=1, gpu_memory_utilization=0.9, max_model_len=None, replicas=1
        ), group


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [("gpu_memory_utilization", 1.5, r"\(0, 1\]"), ("tensor_parallel_size", 0, r"\[1, inf\)"),
     ("replicas", 0, r"\[1, inf\)"), ("max_model_len", 0, r"\[1, inf\)")],
)  # fmt: skip
def test_bad_vllm_settings_fail_naming_the_key(key: str, value: Any, allowed: str) -> None:
    data = {"tensor_parallel_size": 1, "gpu_memory_utilization": 0.9, "max_model_len": None, "replicas": 1, key: value}
    with pytest.raises(ParamsError, match=rf"runtime\.vllm\.{key}: {value} is out of range, allowed {allowed}"):
        build(VLLMRuntime, data, "runtime.vllm")


def test_runtime_is_never_a_stage_param() -> None:
    """Changing runtime.vllm reruns nothing: no stage of dvc.yaml declares a runtime key."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    declared = [p for s in stages.values() for p in (s.get("do", s).get("params") or []) if isinstance(p, str)]
    assert declared and not [p for p in declared if p == "runtime" or p.startswith("runtime.")]


def test_engine_kwargs() -> None:
    v = VLLMRuntime(tensor_parallel_size=2, gpu_memory_utilization=0.8, max_model_len=4096, replicas=3)
    assert engine_kwargs(v) == {"tensor_parallel_size": 2, "gpu_memory_utilization": 0.8, "max_model_len": 4096}
    assert "max_model_len" not in engine_kwargs(dataclasses.replace(v, max_model_len=None))


# ---- the settings reach vllm.LLM


def test_runtime_vllm_reaches_llm_and_sets_the_context(tiny_model: Path, fake_vllm: Path) -> None:
    runtime = gpu_runtime(tensor_parallel_size=2, gpu_memory_utilization=0.75, max_model_len=96)
    g = make_generator(tiny_model, engine="vllm", dtype="bfloat16", vllm=runtime.vllm)
    assert isinstance(g, VLLMGenerator) and g.pool is None
    (entry,) = log_entries(fake_vllm)
    assert entry["llm"] == {
        "model": str(tiny_model.resolve()), "dtype": "bfloat16",
        "tensor_parallel_size": 2, "gpu_memory_utilization": 0.75, "max_model_len": 96,
    }  # fmt: skip
    assert g.max_positions == 96  # prompts are cut to max_model_len - max_new_tokens
    default = make_generator(tiny_model, engine="vllm", vllm=gpu_runtime().vllm)
    assert "max_model_len" not in log_entries(fake_vllm)[-1]["llm"]
    assert default.max_positions == 128  # the model's own context


def test_agents_pass_runtime_vllm(tiny_model: Path, fake_vllm: Path) -> None:
    """actor.backend=vllm: the shared engine is built with runtime.vllm, one per distinct setting."""
    from preftree.agents.llm import make_engine

    params = from_conf(AgentParams, "actor", model=str(tiny_model), backend="vllm")
    first = make_engine("vllm", params, gpu_runtime(gpu_memory_utilization=0.55))
    assert make_engine("vllm", params, gpu_runtime(gpu_memory_utilization=0.55)) is first
    other = make_engine("vllm", params, gpu_runtime(gpu_memory_utilization=0.6))
    assert other is not first
    assert [e["llm"]["gpu_memory_utilization"] for e in log_entries(fake_vllm)] == [0.55, 0.6]


def test_every_engine_builder_passes_runtime_vllm() -> None:
    """Each call of make_generator / shared_generator in preftree/ and stages/ passes vllm=..., so no stage
    or agent builds a vLLM engine without runtime.vllm."""
    calls = []
    for path in [*(ROOT / "preftree").rglob("*.py"), *(ROOT / "stages").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                if name in ("make_generator", "shared_generator"):
                    calls.append((path.relative_to(ROOT).as_posix(), node.lineno, {k.arg for k in node.keywords}))
    where = {c[0] for c in calls}
    assert {"stages/eval.py", "stages/rerank.py", "preftree/agents/llm.py"} <= where
    missing = [f"{p}:{line}" for p, line, keys in calls if "vllm" not in keys]
    assert not missing, f"make_generator / shared_generator without vllm=: {missing}"


def test_without_vllm_the_error_names_the_gpu_extra(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError
    hint = r"runtime.engine / actor.backend=vllm needs the gpu extra: pip install -e '\.\[gpu\]' on a CUDA machine"
    with pytest.raises(VLLMUnavailableError, match=hint):
        make_generator(tiny_model, engine="vllm", vllm=gpu_runtime(replicas=2).vllm)
    with pytest.raises(VLLMUnavailableError, match=hint):
        shared_generator(str(tiny_model), engine="vllm", device="cuda", batch_size=8, vllm=gpu_runtime().vllm)


# ---- data-parallel replicas


def test_replica_devices() -> None:
    assert replica_devices(4, 2, None) == ["0,1", "2,3", "4,5", "6,7"]
    assert replica_devices(2, 1, "3, 5,7") == ["3", "5"]
    with pytest.raises(ValueError, match=r"3 replicas x tensor_parallel_size 2 need 6 GPUs; .* lists 4"):
        replica_devices(3, 2, "0,1,2,3")


def test_split_evenly() -> None:
    assert [list(r) for r in split_evenly(7, 3)] == [[0, 1, 2], [3, 4], [5, 6]]
    assert [len(r) for r in split_evenly(1, 3)] == [1, 0, 0]
    assert [i for r in split_evenly(100, 8) for i in r] == list(range(100))


def test_replicas_split_the_prompts_and_match_one_engine(tiny_model: Path, fake_vllm: Path) -> None:
    """replicas=2, tensor_parallel_size=2: two processes on GPUs 0,1 and 2,3, each serving a contiguous half;
    the texts are those of one engine, in the prompts' order."""
    prompts = [chat(i) for i in range(5)]
    s = Sampling(n=2, temperature=0.7, max_new_tokens=8, seed=3)
    one = make_generator(tiny_model, engine="vllm", vllm=gpu_runtime().vllm).generate(prompts, s)
    fake_vllm.unlink()
    settings = gpu_runtime(replicas=2, tensor_parallel_size=2, max_model_len=100).vllm
    g = make_generator(tiny_model, engine="vllm", vllm=settings)
    assert isinstance(g, VLLMGenerator) and g.pool is not None
    try:
        assert g.generate(prompts, s) == one
        assert g.identity.startswith("vllm:") and g.max_positions == 100
    finally:
        g.pool.close()
    entries = log_entries(fake_vllm)
    engines = [e for e in entries if "llm" in e]
    assert sorted(e["devices"] for e in engines) == ["0,1", "2,3"]
    assert {e["pid"] for e in engines}.isdisjoint({os.getpid()})  # not in this process
    for e in engines:
        assert {k: e["llm"][k] for k in ("tensor_parallel_size", "gpu_memory_utilization", "max_model_len")} == {
            "tensor_parallel_size": 2, "gpu_memory_utilization": 0.9, "max_model_len": 100
        }  # fmt: skip
    assert sorted((e["devices"], e["served"]) for e in entries if "served" in e) == [("0,1", 3), ("2,3", 2)]


def test_a_replica_that_fails_to_start_raises_here(tmp_path: Path, fake_vllm: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    with pytest.raises(
        RuntimeError, match=r"(?s)vLLM replica \d \(CUDA_VISIBLE_DEVICES=\d\) failed to start: .*no such engine"
    ):
        ReplicaPool(str(broken), 2, 1, {})


# ---- the gpu extra and make gpu-check


def test_gpu_extra_is_pinned_and_the_vllm_extra_gone() -> None:
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "vllm" not in extras
    assert exact_pins(extras["gpu"]) == {"vllm": "0.30.0", "deepspeed": "0.19.8"}
    assert len(extras["gpu"]) == 2  # every package of the extra is pinned
    pins = project_pins(ROOT / "pyproject.toml")
    assert pins["torch"] == "2.13.0" and pins["vllm"] == "0.30.0"


def test_pin_checks() -> None:
    assert exact_pins(["torch==2.13.0", "pyyaml>=6.0", "Mistral_Common==1.8.8", "x==1; python_version<'3.13'"]) == {
        "torch": "2.13.0", "mistral-common": "1.8.8", "x": "1"
    }  # fmt: skip
    marked = ["m==1.8.8; python_version < '3.13'", "m==1.11.7; python_version >= '3.13'"]
    assert exact_pins(marked, {"python_version": "3.11"}) == {"m": "1.8.8"}
    assert exact_pins(marked, {"python_version": "3.13"}) == {"m": "1.11.7"}
    assert same_version("2.13.0", "2.13.0+cpu") and not same_version("2.13.0", "2.13.1")
    report = {"install": [{"metadata": {"name": "torch", "version": "2.13.0+cu130"}},
                          {"metadata": {"name": "mistral_common", "version": "1.11.7"}}]}  # fmt: skip
    resolved = resolved_versions(report)
    pins = {"torch": "2.13.0", "mistral-common": "1.8.8", "vllm": "0.30.0"}
    assert pin_mismatches(pins, resolved) == [
        "mistral-common: pinned 1.8.8, resolved 1.11.7",
        "vllm: pinned 0.30.0, resolved nothing",
    ]
    assert summary(pins, resolved) == [
        "mistral-common==1.11.7", "torch==2.13.0+cu130", "vllm==(not resolved)", "2 packages in all"
    ]  # fmt: skip


def test_conflict_lines_keep_pips_reasons() -> None:
    stderr = textwrap.dedent("""\
        ERROR: Cannot install mistral-common[image]==1.11.6 and preftree==0.1.0 because these package versions have conflicting dependencies.

        The conflict is caused by:
            preftree 0.1.0 depends on mistral-common==1.8.8
            mistral-common[image] 1.11.6 depends on mistral-common 1.11.6 (from https://files.example/m.whl)
            preftree 0.1.0 depends on mistral-common==1.8.8

        To fix this you could try to:
        1. loosen the range of package versions you've specified
        ERROR: ResolutionImpossible: for help visit https://pip.pypa.io
        """)  # noqa: E501
    assert conflict_lines(stderr) == [
        stderr.splitlines()[0],
        "preftree 0.1.0 depends on mistral-common==1.8.8",
        "mistral-common[image] 1.11.6 depends on mistral-common 1.11.6",
        "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io",
    ]


# ---- accelerate configs


ACCELERATE_CONFIGS = sorted((ROOT / "conf" / "accelerate").glob("*.yaml"))


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=lambda p: p.name)
def test_accelerate_reads_every_config(path: Path) -> None:
    """accelerate's own loader accepts each file (it refuses unknown keys) with the values written there."""
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file

    config = load_config_from_file(str(path))
    raw = yaml.safe_load(path.read_text())
    assert isinstance(config, ClusterConfig)
    assert str(config.distributed_type).rsplit(".", 1)[-1] == raw["distributed_type"]
    assert (config.num_machines, config.num_processes) == (raw["num_machines"], raw["num_processes"])
    if path.stem.endswith("_multinode"):
        assert config.num_machines == 2 and config.num_processes == 16 and config.machine_rank == 0
        assert config.main_process_ip is None  # from the environment, never in the shared file
        assert config.same_network is False and config.rdzv_backend == "static"
        if raw["distributed_type"] == "DEEPSPEED":
            assert config.deepspeed_config["deepspeed_multinode_launcher"] == "standard"


def test_multinode_templates_cover_zero3_and_fsdp() -> None:
    kinds = {yaml.safe_load(p.read_text())["distributed_type"] for p in ACCELERATE_CONFIGS if "_multinode" in p.stem}
    assert kinds == {"DEEPSPEED", "FSDP"}


def test_multinode_launch_takes_the_node_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The launch command gets each machine's rank and the main node's address from the environment, and
    accelerate's own parser accepts it; without them a multi-node launch fails naming the variables."""
    from accelerate.commands.launch import launch_command_parser

    config = ROOT / "conf" / "accelerate" / "fsdp_multinode.yaml"
    runtime = dataclasses.replace(
        from_conf(RuntimeParams, "runtime", overrides=["runtime=gpu"]),
        launcher="accelerate", accelerate_config=str(config),
    )  # fmt: skip
    for var in ENV_OPTIONS:
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ParamsError, match="spans 2 machines: set PREFTREE_MACHINE_RANK and PREFTREE_MAIN_PROCESS_IP"):
        launch_command("stages.sft", [], runtime, root=ROOT)
    monkeypatch.setenv("PREFTREE_MACHINE_RANK", "1")
    monkeypatch.setenv("PREFTREE_MAIN_PROCESS_IP", "10.0.0.1")
    monkeypatch.setenv("PREFTREE_MAIN_PROCESS_PORT", "29511")
    cmd = launch_command("stages.align", ["dpo"], runtime, root=ROOT)
    i = cmd.index("accelerate.commands.launch")
    assert cmd[i + 1 :] == [
        "--config_file", str(config), "--machine_rank", "1", "--main_process_ip", "10.0.0.1",
        "--main_process_port", "29511", "-m", "stages.align", "dpo",
    ]  # fmt: skip
    args = launch_command_parser().parse_args(cmd[i + 1 :])
    assert (args.machine_rank, args.main_process_ip, args.main_process_port) == (1, "10.0.0.1", 29511)
    assert args.module and args.training_script == "stages.align" and args.training_script_args == ["dpo"]
    # one machine: no variable needed, none added
    assert env_options(ROOT / "conf" / "accelerate" / "fsdp.yaml", {}) == []
    assert env_options(config, {"PREFTREE_NUM_MACHINES": "1"}) == ["--num_machines", "1"]
