"""What the rerank stage reads, resolved and checked against its declared DVC deps (``rerank.inputs``).

* the policy (``rerank.policy``): a bare name (no ``/``, not starting with ``.`` or ``~``) is the pipeline's
  policy ``models/<name>``; anything else is a model folder when such a directory exists, else a Hugging
  Face id, loaded from the local HF cache by the generator;
* every benchmark path of ``rerank.benchmarks`` that exists on disk is a local file; anything else is a
  HF id (``preftree.evaluate.registry.load_benchmark``'s rule).

dvc.yaml declares ``rerank.inputs.policy`` and ``rerank.inputs.benchmarks`` as the stage's data deps (DVC
interpolates no list into ``deps``). :func:`check_inputs` stops the stage when a local policy folder or a
local benchmark file lies outside them, naming the key, so that no local input escapes ``dvc status``; a
HF id is tracked by its value in params.yaml, as the model path of ``base`` is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

MODELS = Path("models")


def resolve_policy(policy: str, models: Path = MODELS) -> str:
    """The model the policy names: ``models/<policy>`` for a bare name, else the folder, else the HF id."""
    if not policy.strip():
        raise ValueError("rerank.policy is empty: give a policy name, a model folder or a Hugging Face id")
    if "/" not in policy and "\\" not in policy and not policy.startswith((".", "~")):
        return str(models / policy)
    return policy


def is_local(path: str) -> bool:
    return Path(path).expanduser().exists()


def _inside(path: Path, root: Path) -> bool:
    path, root = path.expanduser().resolve(), root.expanduser().resolve()
    return path == root or root in path.parents


def check_inputs(
    model: str, benchmark_paths: Mapping[str, str], inputs_policy: str, inputs_benchmarks: str, models: Path = MODELS
) -> None:
    """Raise when a local input lies outside the stage's declared deps. ``model``: :func:`resolve_policy`'s
    answer (a ``models/`` path must exist: its stage has to run first); ``benchmark_paths``: name -> path."""
    if Path(model).parts[:1] == models.parts and not Path(model).is_dir():
        raise FileNotFoundError(f"{model} is missing: run `dvc repro` for the stage that writes it first")
    if is_local(model) and not _inside(Path(model), Path(inputs_policy)):
        raise ValueError(f"rerank.inputs.policy: {inputs_policy} does not hold the policy folder {model}: set "
                         f"rerank.inputs.policy={model} so that dvc.yaml declares it")  # fmt: skip
    outside = {name: path for name, path in benchmark_paths.items()
               if is_local(path) and not _inside(Path(path), Path(inputs_benchmarks))}  # fmt: skip
    if outside:
        listed = ", ".join(f"{name} ({path})" for name, path in outside.items())
        raise ValueError(f"rerank.inputs.benchmarks: {inputs_benchmarks} does not hold the local benchmark files of "
                         f"{listed}: set it to a folder holding every one, so that dvc.yaml declares them")  # fmt: skip
