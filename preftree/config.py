"""Typed params: one dataclass per ``params.yaml`` section, and the per-stage loader.

``params.yaml`` is composed from ``conf/`` by Hydra (``make params`` or ``dvc exp run``). A stage calls
``load_stage_params(<stage>)``: it returns exactly the keys that ``dvc.yaml`` declares for that
stage, validated against these dataclasses; an unknown key or a wrong type fails before any work
with one line naming the key. Speed-only settings live in ``RuntimeParams`` and are read with
``load_runtime()``; they are never declared as stage params, so changing them reruns nothing.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

# --------------------------------------------------------------------------------------------
# model: the base policy (stage `base`)


@dataclass(frozen=True)
class TokenizerParams:
    vocab_size: int = 1024  # byte-level BPE vocabulary, special tokens included
    min_frequency: int = 2  # a merge needs this many occurrences in the corpus


@dataclass(frozen=True)
class ArchParams:
    """LlamaConfig fields of the tiny model trained from scratch."""

    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 1024
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = True


@dataclass(frozen=True)
class PretrainParams:
    """From-scratch pretraining on synthetic problems with mixed-quality solutions."""

    documents: int = 4000  # problems drawn from the pretraining pool (disjoint from `select`'s)
    heldout_documents: int = 200  # extra documents for the held-out loss
    correct_fraction: float = 0.5  # share of documents whose solution is correct
    min_steps: int = 1
    max_steps: int = 5
    steps: int = 300  # optimizer steps
    batch_size: int = 16
    seq_len: int = 256
    lr: float = 3e-3
    warmup_steps: int = 30
    weight_decay: float = 0.1
    grad_clip: float = 1.0


@dataclass(frozen=True)
class ModelParams:
    name: str = "tiny"
    # A local HF checkpoint. When set, `base` validates it (config + tokenizer load) and records its
    # identity instead of training; tokenizer/arch/pretrain are then unused.
    path: str | None = None
    tokenizer: TokenizerParams = field(default_factory=TokenizerParams)
    arch: ArchParams = field(default_factory=ArchParams)
    pretrain: PretrainParams = field(default_factory=PretrainParams)


# --------------------------------------------------------------------------------------------
# sources: where instructions come from (stage `select`)


@dataclass(frozen=True)
class SyntheticSourceParams:
    n: int = 1200  # instructions generated before selection
    tasks: dict[str, float] = field(
        default_factory=lambda: {"Math_CoT": 0.3, "Math_PoT": 0.3, "Coding": 0.25, "Logic": 0.15}
    )
    min_steps: int = 2  # difficulty knob: reasoning steps per problem
    max_steps: int = 5


@dataclass(frozen=True)
class FileSourceParams:
    """One real dataset: a local file (jsonl, json, json.gz, jsonl.gz, parquet) or a HF dataset id."""

    adapter: str  # gsm8k | math | mbpp | humaneval | svamp | generic
    path: str | None = None  # local file or folder
    hf_id: str | None = None  # Hugging Face dataset id or local dataset folder (offline cache)
    hf_config: str | None = None
    split: str = "train"
    tasks: list[str] = field(default_factory=list)  # [] = the adapter's default tasks
    fields: dict[str, str] = field(default_factory=dict)  # generic adapter: schema field -> source column
    limit: int | None = None  # read at most this many rows


@dataclass(frozen=True)
class SourcesParams:
    synthetic: SyntheticSourceParams | None = field(default_factory=SyntheticSourceParams)
    files: dict[str, FileSourceParams] = field(default_factory=dict)  # training sources by name
    eval: dict[str, FileSourceParams] = field(default_factory=dict)  # decontamination targets by name


# --------------------------------------------------------------------------------------------
# select


@dataclass(frozen=True)
class DedupParams:
    exact: bool = True
    near: bool = True
    near_threshold: float = 0.8  # Jaccard similarity of word shingles at or above which a row is a near-dup
    num_perm: int = 64  # MinHash permutations
    shingle: int = 5  # words per shingle


@dataclass(frozen=True)
class DecontaminateParams:
    ngram: int = 8  # paper App. A.3: drop any instruction sharing an 8-gram with an eval sample
    against: list[str] | None = None  # names from sources.eval; null = every configured eval set


@dataclass(frozen=True)
class DifficultyBounds:
    min_steps: int | None = None
    max_steps: int | None = None


@dataclass(frozen=True)
class DifficultyParams:
    min_steps: int | None = None
    max_steps: int | None = None
    # per dataset, bounds that replace min_steps/max_steps for it (the paper keeps TabMWP's levels 4-5)
    per_dataset: dict[str, DifficultyBounds] = field(default_factory=dict)
    # Hook for "drop what a policy solves": a file (parquet/jsonl/txt) of instruction ids a policy
    # solved, e.g. written by a later eval run. null = no policy filter.
    solved_ids: str | None = None


@dataclass(frozen=True)
class CapsParams:
    per_pattern: int | None = None  # at most k per (dataset, pattern), for every dataset
    per_pattern_by_dataset: dict[str, int] = field(default_factory=dict)  # overrides it per dataset (MathQA: 5)
    per_dataset: dict[str, int] = field(default_factory=dict)  # stratified sample of at most n per dataset


@dataclass(frozen=True)
class HeldoutParams:
    fraction: float = 0.1  # of each dataset's problems, by problem_id
    max_per_dataset: int | None = None


@dataclass(frozen=True)
class SelectParams:
    dedup: DedupParams = field(default_factory=DedupParams)
    decontaminate: DecontaminateParams = field(default_factory=DecontaminateParams)
    difficulty: DifficultyParams = field(default_factory=DifficultyParams)
    caps: CapsParams = field(default_factory=CapsParams)
    heldout: HeldoutParams = field(default_factory=HeldoutParams)
    max_reject_rate: float = 0.05  # fail when more than this share of a source's rows is rejected


# --------------------------------------------------------------------------------------------
# sandbox, agents and interact (stage `interact`)


@dataclass(frozen=True)
class SandboxParams:
    """Limits for model-written code. They can change a verdict, so they are stage params."""

    isolation: Literal["bwrap", "process"] = "bwrap"  # process = rlimits + process group only (weaker; warns)
    timeout_s: float = 5.0  # wall clock, the whole process tree is killed
    cpu_s: int = 5  # RLIMIT_CPU
    memory_mb: int = 512  # RLIMIT_AS
    max_output_bytes: int = 65536  # stdout/stderr read at most this much each, then the run is killed
    nproc: int = 64  # RLIMIT_NPROC (applies to the unprivileged uid the code runs as)
    fsize_mb: int = 16  # RLIMIT_FSIZE
    tmpfs_mb: int = 64  # size of the private writable /tmp


@dataclass(frozen=True)
class AgentParams:
    """An actor or critic backend. `scripted` is the offline default; the others call real models."""

    backend: Literal["scripted", "hf", "openai", "vllm"] = "scripted"
    # scripted actor: probability that an action contains a realistic mistake at turn 1; after each
    # critique it is multiplied by `mistake_decay` (mistakes fall after critique). `weak` = always wrong.
    mistake_rate: float = 0.6
    mistake_decay: float = 0.6
    weak: bool = False
    mistakes: dict[str, float] = field(
        default_factory=lambda: {
            "wrong_operator": 1.0,
            "off_by_one": 1.0,
            "dropped_step": 1.0,
            "wrong_variable": 1.0,
            "wrong_formula": 1.0,
        }
    )
    # hf / vllm / openai
    model: str = ""  # hf/vllm: a local folder (e.g. models/base) or hub id; openai: the model name
    base_url: str | None = None  # openai: e.g. http://127.0.0.1:8000/v1
    api_key_env: str = "OPENAI_API_KEY"  # openai: the NAME of the env var holding the key (never the key)
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 512


@dataclass(frozen=True)
class InteractParams:
    max_turns: int = 5  # paper: at most 5 turns
    samples_per_turn: int = 4  # K actions sampled from the actor per turn
    escalation_rounds: int = 2  # extra rounds of K samples when none is correct, before guided generation
    guided: bool = True  # last resort: the actor sees the ground truth (paper App. A.2 step 3)
    limit: int | None = 400  # process at most this many selected instructions (None = all)
    shard_size: int = 50  # instructions per shard: the unit of checkpointing and resume
    # who judges Coding problems without tests or answer (Magicoder): none (the stage fails on such
    # records) | critic (an LLM judge on the critic's backend settings; paper: GPT-4 Turbo)
    judge: Literal["none", "critic"] = "none"


# --------------------------------------------------------------------------------------------
# tree (stage `tree`)


@dataclass(frozen=True)
class ReleaseFilesParams:
    """File names inside `tree.input` when importing the public release (tree.source=release)."""

    sft: str | None = None  # UltraInteract_sft file (parquet/json/jsonl); null = derive SFT rows from the pairs
    pairs: str = "0000_pair.parquet"  # UltraInteract_pair file


@dataclass(frozen=True)
class RMAugmentParams:
    """Cross-turn augmentation of reward-model pairs (paper App. B)."""

    max_product: int = 10  # only instructions with (#correct x #incorrect) <= this
    max_pairs: int = 9  # at most this many augmented pairs per instruction
    max_uses: int = 3  # each action used at most this many times


@dataclass(frozen=True)
class TreeParams:
    source: Literal["interact", "release"] = "interact"
    input: str = "data/interact"  # the stage's data dependency: interact's output or a folder of release files
    release: ReleaseFilesParams = field(default_factory=ReleaseFilesParams)
    sft_history: bool = False  # paper: SFT on correct leaves without interaction history
    heldout_fraction: float = 0.05  # of instructions (parent_id), for held-out losses and RM accuracy
    rm: RMAugmentParams = field(default_factory=RMAugmentParams)
    # datasets whose trees give SFT rows but no pairs / KTO / RM rows (paper: Magicoder, 0 pairs)
    sft_only: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# training stages (sft, align@{dpo,kto,nca}, rm)


@dataclass(frozen=True)
class OptimParams:
    """What a trainer optimises; shared by every training stage (transformers TrainingArguments names)."""

    lr: float = 1e-3
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    warmup_ratio: float = 0.1
    scheduler: str = "cosine"
    batch_size: int = 8  # per device
    grad_accum: int = 1
    weight_decay: float = 0.0
    max_length: int = 512  # tokens per example (prompt + completion)
    logging_steps: int = 5


@dataclass(frozen=True)
class MixtureSourceParams:
    """An extra SFT dataset (the paper mixes UltraChat, ShareGPT, OpenOrca): a local file or HF id
    with a `messages` column (or prompt/response columns named in `fields`)."""

    path: str | None = None
    hf_id: str | None = None
    split: str = "train"
    weight: float = 1.0  # rows drawn = weight x the size of the sft view (with replacement when > 1)
    fields: dict[str, str] = field(default_factory=dict)  # prompt -> column, response -> column


@dataclass(frozen=True)
class SFTParams:
    optim: OptimParams = field(default_factory=OptimParams)
    packing: bool = False
    mixture: dict[str, MixtureSourceParams] = field(default_factory=dict)


@dataclass(frozen=True)
class AlignMethodParams:
    """One preference-learning run from models/sft (reference model = models/sft)."""

    loss: Literal["sigmoid", "nca_pair", "kto"] = "sigmoid"
    beta: float = 0.1  # paper: 0.1 for every algorithm
    desirable_weight: float = 1.33  # KTO: lambda_D / lambda_U = 1.33 as in the paper
    undesirable_weight: float = 1.0
    optim: OptimParams = field(default_factory=OptimParams)


@dataclass(frozen=True)
class RMParams:
    loss: Literal["bt", "bt+dr"] = "bt+dr"  # L_BT, or L_BT + L_DR (the direct term on UltraInteract rows)
    optim: OptimParams = field(default_factory=OptimParams)


# --------------------------------------------------------------------------------------------
# evaluation (eval@<policy>, rerank)


@dataclass(frozen=True)
class BenchmarkSource:
    path: str = ""  # a local file, or a Hugging Face dataset id (used only when no such path exists)
    limit: int | None = None  # the first N items (None = all)


@dataclass(frozen=True)
class EvalGenerationParams:
    max_new_tokens: int = 512
    batch_size: int = 32  # prompts per generate() call (hf engine)


@dataclass(frozen=True)
class MultiTurnParams:
    benchmarks: list[str] = field(default_factory=list)  # names from eval.benchmarks
    max_turns: int = 5  # paper (MINT): success after 5 turns
    limit: int | None = None  # items per benchmark


@dataclass(frozen=True)
class EvalParams:
    policies: list[str] = field(default_factory=lambda: ["base", "sft", "dpo", "kto", "nca"])
    benchmarks: dict[str, BenchmarkSource] = field(default_factory=dict)
    math_mode: Literal["cot", "pot", "both"] = "both"
    generation: EvalGenerationParams = field(default_factory=EvalGenerationParams)
    multiturn: MultiTurnParams = field(default_factory=MultiTurnParams)


@dataclass(frozen=True)
class RerankParams:
    policy: str = "sft"
    benchmark: str = "tiny"
    path: str = "data/selected/heldout.parquet"
    limit: int | None = None
    n: int = 16
    ns: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16])
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    reward_models: dict[str, str] = field(default_factory=lambda: {"eurus": "models/rm"})


# --------------------------------------------------------------------------------------------
# runtime: speed and placement only (never a DVC param)


@dataclass(frozen=True)
class RuntimeParams:
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    threads: int = 0  # torch intra-op threads; 0 = torch's default
    progress: bool = True  # progress bars
    workers: int = 2  # parallel sandbox runs / CPU workers
    launcher: Literal["python", "accelerate"] = "python"
    accelerate_config: str | None = None
    engine: Literal["hf", "vllm"] = "hf"
    request_timeout_s: float = 120.0  # openai backend: per request
    max_retries: int = 5  # openai backend: on 429 / 5xx / connection errors, with exponential backoff
    concurrency: int = 8  # openai backend: requests in flight
    bf16: bool = False  # mixed precision for training on GPUs
    gradient_checkpointing: bool = False  # trade compute for memory (same result)


@dataclass(frozen=True)
class Params:
    """The whole composed params.yaml."""

    seed: int = 0
    model: ModelParams = field(default_factory=ModelParams)
    sources: SourcesParams = field(default_factory=SourcesParams)
    select: SelectParams = field(default_factory=SelectParams)
    sandbox: SandboxParams = field(default_factory=SandboxParams)
    actor: AgentParams = field(default_factory=AgentParams)
    weak: AgentParams = field(default_factory=lambda: AgentParams(weak=True))
    critic: AgentParams = field(default_factory=AgentParams)
    interact: InteractParams = field(default_factory=InteractParams)
    tree: TreeParams = field(default_factory=TreeParams)
    sft: SFTParams = field(default_factory=SFTParams)
    align: dict[str, AlignMethodParams] = field(default_factory=dict)
    rm: RMParams = field(default_factory=RMParams)
    eval: EvalParams = field(default_factory=EvalParams)
    rerank: RerankParams = field(default_factory=RerankParams)
    runtime: RuntimeParams = field(default_factory=RuntimeParams)


# --------------------------------------------------------------------------------------------
# loading and validation

PARAMS_FILE = "params.yaml"


class ParamsError(ValueError):
    """A params.yaml problem, reported as one line naming the key."""


def workspace_root(start: Path | None = None) -> Path:
    """The folder holding dvc.yaml, walking up from `start` (default: cwd).

    Under `dvc exp run --temp` / the queue this is the experiment's temp copy, which holds that
    experiment's params.yaml and outputs; DVC_ROOT (the main repo) is only for the MLflow store.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").exists():
            return folder
    return here


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} ({text[:40]}{'...' if len(text) > 40 else ''})"


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check `value` against the type annotation `tp`; return it built (dataclasses) or converted."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None:
            if type(None) in options:
                return None
            raise ParamsError(f"{PARAMS_FILE}: {path}: must not be null")
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _coerce(value, option, path)
            except ParamsError as err:
                errors.append(err)
        raise errors[0]
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ParamsError(f"{PARAMS_FILE}: {path}: expected one of {list(allowed)}, got {_describe(value)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ParamsError(f"{PARAMS_FILE}: {path}: expected a list, got {_describe(value)}")
        (item_tp,) = typing.get_args(tp)
        return [_coerce(v, item_tp, f"{path}.{i}") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"{PARAMS_FILE}: {path}: expected a mapping, got {_describe(value)}")
        key_tp, item_tp = typing.get_args(tp)
        return {_coerce(k, key_tp, f"{path}.<key>"): _coerce(v, item_tp, f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path)
    if value is None:
        raise ParamsError(f"{PARAMS_FILE}: {path}: must not be null")
    if value == "???":
        raise ParamsError(f"{PARAMS_FILE}: {path}: is required: set it, e.g. `dvc exp run -S {path}=...`")
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamsError(f"{PARAMS_FILE}: {path}: expected float, got {_describe(value)}")
        return float(value)
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ParamsError(f"{PARAMS_FILE}: {path}: expected int, got {_describe(value)}")
    if tp in (str, bool) and not isinstance(value, tp):
        raise ParamsError(f"{PARAMS_FILE}: {path}: expected {tp.__name__}, got {_describe(value)}")
    return value


def build(cls: type, data: Any, path: str = "") -> Any:
    """Build dataclass `cls` from a mapping; unknown keys and wrong types raise ParamsError.

    Keys absent from the mapping take the dataclass default (a field without one is required).
    """
    where = path or "<root>"
    if not isinstance(data, dict):
        raise ParamsError(f"{PARAMS_FILE}: {where}: expected a mapping, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            full = f"{path}.{key}" if path else str(key)
            raise ParamsError(f"{PARAMS_FILE}: unknown key '{full}' (known here: {', '.join(known)})")
    kwargs = {}
    for name, fld in known.items():
        full = f"{path}.{name}" if path else name
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], full)
        elif fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
            raise ParamsError(f"{PARAMS_FILE}: missing required key '{full}'")
    return cls(**kwargs)


def type_at(key: str) -> Any:
    """The annotation of a dotted params key, e.g. 'select.dedup' -> DedupParams."""
    tp: Any = Params
    for part in key.split("."):
        if dataclasses.is_dataclass(tp):
            hints = typing.get_type_hints(tp)
            if part not in hints:
                raise ParamsError(f"{PARAMS_FILE}: unknown key '{key}' (no '{part}' in {tp.__name__})")
            tp = hints[part]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1 and dataclasses.is_dataclass(args[0]):
                tp = typing.get_type_hints(args[0]).get(part)
                if tp is None:
                    raise ParamsError(f"{PARAMS_FILE}: unknown key '{key}'")
            else:
                raise ParamsError(f"{PARAMS_FILE}: unknown key '{key}' ('{part}' is not a section)")
    return tp


def _lookup(tree: dict, key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ParamsError(f"{PARAMS_FILE}: missing key '{key}' (declared in dvc.yaml)")
        node = node[part]
    return node


def read_params_file(root: Path | None = None) -> dict:
    path = (root or workspace_root()) / PARAMS_FILE
    if not path.exists():
        raise ParamsError(f"{path} does not exist: run `make params` to compose it from conf/")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    return data


def validate_all(data: dict) -> Params:
    """Validate a whole composed params tree (used by `make params` and the tests)."""
    return build(Params, data)


def declared_params(stage: str, root: Path | None = None) -> list[str]:
    """The params keys that dvc.yaml declares for `stage` (foreach stages resolved by DVC)."""
    from preftree.dvcinfo import stage_info

    info = stage_info(stage, (root or workspace_root()).resolve())
    for name in info.params_files:
        if Path(name).name != PARAMS_FILE:
            raise ParamsError(f"stage {stage}: params from {name} are not supported; declare them from {PARAMS_FILE}")
    return list(info.params)


@dataclass(frozen=True)
class StageParams:
    """Exactly the params a stage declares: `raw` as in params.yaml, `typed[key]` validated."""

    stage: str
    keys: tuple[str, ...]
    raw: dict
    typed: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        if key not in self.typed:
            raise KeyError(
                f"stage {self.stage} does not declare '{key}' in dvc.yaml (declared: {', '.join(self.keys)})"
            )
        return self.typed[key]


def stage_params_from(stage: str, keys: list[str], data: dict) -> StageParams:
    raw: dict = {}
    typed: dict[str, Any] = {}
    for key in keys:
        value = _lookup(data, key)
        typed[key] = _coerce(value, type_at(key), key)
        node = raw
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return StageParams(stage=stage, keys=tuple(keys), raw=raw, typed=typed)


def load_stage_params(stage: str | None = None, *, root: Path | None = None) -> StageParams:
    """The declared params of `stage` (default: $DVC_STAGE), validated before any work."""
    stage = stage or os.environ.get("DVC_STAGE")
    if not stage:
        raise ParamsError("no stage given and DVC_STAGE is unset")
    root = root or workspace_root()
    return stage_params_from(stage, declared_params(stage, root), read_params_file(root))


def load_runtime(root: Path | None = None) -> RuntimeParams:
    """Speed-only settings (params.yaml `runtime:`), read directly: never a DVC param."""
    return _coerce(read_params_file(root).get("runtime", {}), RuntimeParams, "runtime")
