"""Compose conf/ into params.yaml exactly as DVC's Hydra integration does on `dvc exp run`.

    python -m preftree.compose                        # what `make params` runs
    python -m preftree.compose experiment=smoke seed=3
    python -m preftree.compose --check                # exit 1 when params.yaml is stale
    python -m preftree.compose --env OVERRIDES        # overrides from one string (make params OVERRIDES=...)
    python -m preftree.compose --refresh              # make repro: keep params.yaml unless conf/ changed

`dvc repro` never composes (docs/pipeline.md#dvc-hydra-traps), so after editing conf/ run
`make params` (or use `dvc exp run`, which composes itself). The output is validated against the
typed params before it is written, so a typo in conf/ fails here, naming the key; a value out of its
declared range and a missing input file (one outside data/ and models/) fail here too. Hydra's own
errors (an override of a key that does not exist, a group option that does not exist, bad override
syntax) are shown as one line with the nearest known keys or options.

Tests and benchmarks that need one params object with a few values changed use
``from_conf(SandboxParams, "sandbox", timeout_s=2.0)``: the section as conf/ composes it (composed
once per process), then the changes. The params types declare no defaults, so this is the one way
to get a value that nobody passed.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import difflib
import functools
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from preftree.config.load import lookup
from preftree.config.params import params_type_at, validate_all
from preftree.config.validate import checking_paths, coerce
from preftree.config.workspace import PARAMS_FILE, ParamsError, workspace_root
from preftree.params_file import changed_keys, conf_digest, plan_refresh, read_header, split_overrides, with_header

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


def flat_keys(tree: Any, prefix: str = "") -> list[str]:
    """Every dotted key of a nested mapping, parents included."""
    keys: list[str] = []
    if isinstance(tree, dict):
        for name, value in tree.items():
            full = f"{prefix}.{name}" if prefix else str(name)
            keys.append(full)
            keys.extend(flat_keys(value, full))
    return keys


def hydra_error_line(err: Exception, root: Path) -> str:
    """One line for a Hydra composition error, with the nearest known keys or group options."""
    text = str(err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    if match := re.search(r"Could not override '([^']+)'", text):
        key = match.group(1)
        near = difflib.get_close_matches(key, flat_keys(composed(root)), n=3, cutoff=0.6)
        hint = f"nearest known keys: {', '.join(near)}" if near else "no similar key"
        return f"unknown key '{key}' ({hint}; to add a new key use +{key}=...)"
    if match := re.search(r"Could not find '([^'/]+)/([^']+)'", text):
        group, option = match.groups()
        options = sorted(p.stem for p in (root / "conf" / group).glob("*.yaml"))
        near = difflib.get_close_matches(option, options, n=3, cutoff=0.5)
        return f"no option '{option}' in config group '{group}' (available: {', '.join(options)}" + (
            f"; nearest: {', '.join(near)})" if near else ")"
        )
    return f"bad override: {first}"


class ComposeError(ValueError):
    """A composition that failed: Hydra's error or a params error, as one line."""


def compose_checked(root: Path, overrides: list[str], *, check_paths: bool = True) -> str:
    """The composed YAML, validated (input files outside pipeline outputs must exist unless
    `check_paths` is False: composing here for a run on another machine)."""
    import yaml
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        text = compose_yaml(root, overrides)
    except (HydraException, OmegaConfBaseException) as err:
        raise ComposeError(hydra_error_line(err, root)) from None
    try:
        with checking_paths(root, outputs=False) if check_paths else contextlib.nullcontext():
            validate_all(yaml.safe_load(text))  # files the pipeline writes are checked by their readers
    except ParamsError as err:
        raise ComposeError(str(err)) from None
    return text


def write_params(root: Path, overrides: list[str], previous: str | None = None, *, check_paths: bool = True) -> None:
    """Compose, validate and write params.yaml with its header; print what changed from `previous`."""
    import yaml

    text = compose_checked(root, overrides, check_paths=check_paths)
    target = root / PARAMS_FILE
    target.write_text(with_header(text, conf_digest(root / "conf"), overrides), encoding="utf-8")
    print(f"wrote {target}" + (f" with overrides {overrides}" if overrides else ""))
    if previous is not None:
        changes = changed_keys(yaml.safe_load(read_header(previous)[1]), yaml.safe_load(text))
        for line in changes[:20]:
            print(f"  {line}")
        if len(changes) > 20:
            print(f"  ... and {len(changes) - 20} more changed keys")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model.pretrain.steps=50")
    parser.add_argument("--check", action="store_true", help="only check that params.yaml is up to date")
    parser.add_argument(
        "--env", metavar="NAME", help="also read overrides from this environment variable (the Makefile's OVERRIDES)"
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="what `make repro` runs: keep params.yaml unless conf/ changed since `make params` (then recompose "
        "with the same overrides); with overrides given, compose them",
    )
    parser.add_argument(
        "--no-path-check",
        action="store_true",
        help="do not check that input files exist (composing here for a run on another machine; each stage "
        "still checks its files when it starts)",
    )
    args = parser.parse_args(argv)
    check_paths = not args.no_path_check
    root = workspace_root()
    target = root / PARAMS_FILE
    try:
        overrides = list(args.overrides) + (split_overrides(os.environ.get(args.env, "")) if args.env else [])
        if args.check:
            import yaml

            text = compose_checked(root, overrides, check_paths=check_paths)
            current = target.read_text(encoding="utf-8") if target.exists() else ""
            if yaml.safe_load(current) != yaml.safe_load(text):
                print(f"{target} is stale: run `make params` (or `dvc exp run`) and commit it", file=sys.stderr)
                return 1
            print(f"{target} is up to date")
            return 0
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if args.refresh and not overrides:
            plan = plan_refresh(current, conf_digest(root / "conf"))
            print(plan.reason, file=sys.stderr if plan.action == "conflict" else sys.stdout)
            if plan.action == "conflict":
                return 2
            if plan.action == "compose":
                write_params(root, plan.overrides, current, check_paths=check_paths)
            return 0
        write_params(root, overrides, check_paths=check_paths)
    except (ComposeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
