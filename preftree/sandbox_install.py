"""Install the sandbox's pinned packages (``sandbox.packages``) into :func:`preftree.sandbox_env.site_dir`.

    python -m preftree.sandbox_install install [--params params.yaml]   # what `make sandbox-deps` runs
    python -m preftree.sandbox_install show                               # the installed identity, as JSON
    python -m preftree.sandbox_install check [--params params.yaml]     # exit 1 when it does not match

``pip install --target <folder>.new --no-deps --only-binary=:all: --python-version <sandbox python>``
with every pin exact (no resolution: the pins are the whole set), then ``/usr/bin/python3 -m compileall``
(the sandbox interpreter writes its own ``.pyc`` files; the folder is read-only in the sandbox), a
marker file naming the interpreter version and the pins, and a rename into place. A folder that already
matches is left alone. Kept apart from :mod:`preftree.sandbox_env` so the stages that run code do not
import the params composer.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from preftree.sandbox_env import (
    MARKER,
    PYTHON,
    SandboxEnvError,
    canonical,
    check,
    identity,
    installed,
    interpreter_version,
    mismatch,
    site_dir,
)


def pip_argv(packages: Mapping[str, str], target: Path, python_version: str) -> list[str]:
    """The pip command that installs exactly `packages` (no dependency resolution, wheels only)."""
    pins = [f"{name}=={version}" for name, version in sorted(packages.items())]
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
        "--only-binary=:all:", "--no-compile", "--target", str(target), "--python-version", python_version,
        "--implementation", "cp", *pins,
    ]  # fmt: skip


def install(packages: Mapping[str, str], site: Path | None = None, *, force: bool = False) -> bool:
    """Build `site` (default :func:`site_dir`) holding exactly `packages`; False when it already did.

    Installs into a fresh sibling folder and renames it into place, so a failed install leaves the old
    folder as it was.
    """
    site = site or site_dir()
    version = interpreter_version()
    if not force and mismatch(packages, site, version) is None:
        return False
    fresh = site.with_name(site.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    try:
        if packages:
            subprocess.run(pip_argv(packages, fresh, version), check=True)
            subprocess.run([PYTHON, "-m", "compileall", "-q", "-j", "0", str(fresh)], check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
        marker = {"python": version, "packages": {canonical(k): str(v) for k, v in packages.items()}}
        (fresh / MARKER).write_text(json.dumps(marker, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.chmod(fresh, 0o755)
        old = site.with_name(site.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if site.exists():
            site.rename(old)
        fresh.rename(site)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return True


def _pins_from(params: str | None) -> dict[str, str]:
    from preftree.config.sandbox import SandboxParams

    if params:
        import yaml

        from preftree.config.validate import coerce

        data = yaml.safe_load(Path(params).read_text(encoding="utf-8")) or {}
        return dict(coerce(data.get("sandbox"), SandboxParams, "sandbox").packages)
    from preftree.compose import from_conf

    return dict(from_conf(SandboxParams, "sandbox").packages)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m preftree.sandbox_install", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("install", "show", "check"))
    parser.add_argument("--params", help="read sandbox.packages from this params file (default: conf/ composed)")
    parser.add_argument("--force", action="store_true", help="install even when the folder already matches")
    args = parser.parse_args(argv)
    packages = _pins_from(args.params)
    if args.command == "install":
        did = install(packages, force=args.force)
        pins = ", ".join(f"{k}=={v}" for k, v in sorted(packages.items())) or "no packages"
        print(f"{site_dir()}: {'installed' if did else 'already holds'} {pins} for Python {interpreter_version()}")
        return 0
    if args.command == "check":
        try:
            check(packages)
        except SandboxEnvError as err:
            print(err, file=sys.stderr)
            return 1
        return 0
    print(json.dumps({**identity(packages), "site": str(site_dir()), "installed": installed(site_dir())}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
