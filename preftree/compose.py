"""Compose conf/ into params.yaml exactly as DVC's Hydra integration does on `dvc exp run`.

    python -m preftree.compose                        # what `make params` runs
    python -m preftree.compose experiment=smoke seed=3
    python -m preftree.compose --check                # exit 1 when params.yaml is stale

`dvc repro` never composes (docs/pipeline.md#dvc-hydra-traps), so after editing conf/ run
`make params` (or use `dvc exp run`, which composes itself). The output is validated against the
typed params before it is written, so a typo in conf/ fails here, naming the key.

Tests and benchmarks that need one params object with a few values changed use
``from_conf(SandboxParams, "sandbox", timeout_s=2.0)``: the section as conf/ composes it (composed
once per process), then the changes. The params types declare no defaults, so this is the one way
to get a value that nobody passed.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from preftree.config.load import lookup
from preftree.config.params import params_type_at, validate_all
from preftree.config.validate import coerce
from preftree.config.workspace import PARAMS_FILE, ParamsError, workspace_root

T = TypeVar("T")
# The repository this module belongs to: from_conf composes its conf/ whatever the working directory.
REPO = Path(__file__).resolve().parents[1]


def compose_yaml(root: Path, overrides: list[str] | None = None) -> str:
    """The YAML text DVC would write for these overrides (same calls as dvc.utils.hydra)."""
    with initialize_config_dir(config_dir=str((root / "conf").resolve()), version_base=None):
        cfg = compose(config_name="config", overrides=list(overrides or []))
    OmegaConf.resolve(cfg)
    return OmegaConf.to_yaml(cfg)


def composed(root: Path, overrides: list[str] | None = None) -> dict:
    import yaml

    return yaml.safe_load(compose_yaml(root, overrides))


@functools.cache
def _composed_once(root: Path, overrides: tuple[str, ...]) -> dict:
    return composed(root, list(overrides))


def from_conf(cls: type[T], key: str, *, overrides: Sequence[str] = (), **changes: Any) -> T:
    """The params at `key` (e.g. "sandbox", "align.dpo", "model.arch") as conf/ composes them, built as
    `cls` and validated, with `changes` applied as :func:`dataclasses.replace` would.

    `overrides` are Hydra overrides for the composition, e.g. ``["sources=gsm8k"]`` to reach the
    documented ``sources.files.gsm8k`` entry. Each composition runs once per process.
    """
    try:
        data = lookup(_composed_once(REPO, tuple(overrides)), key)
    except ParamsError:
        raise ParamsError(f"conf/ composed with {list(overrides)} has no key '{key}'") from None
    value = coerce(copy.deepcopy(data), params_type_at(key), key)
    if not isinstance(value, cls):
        raise ParamsError(f"{PARAMS_FILE}: {key}: holds {type(value).__name__}, not {cls.__name__}")
    return dataclasses.replace(value, **changes)  # type: ignore[type-var]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model.pretrain.steps=50")
    parser.add_argument("--check", action="store_true", help="only check that params.yaml is up to date")
    args = parser.parse_args(argv)
    root = workspace_root()
    text = compose_yaml(root, args.overrides)
    import yaml

    try:
        validate_all(yaml.safe_load(text))
    except ParamsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    target = root / PARAMS_FILE
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if yaml.safe_load(current) != yaml.safe_load(text):
            print(f"{target} is stale: run `make params` (or `dvc exp run`) and commit it", file=sys.stderr)
            return 1
        print(f"{target} is up to date")
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}" + (f" with overrides {args.overrides}" if args.overrides else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
