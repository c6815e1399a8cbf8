"""The scientific packages that model-written code may import in the sandbox (``sandbox.packages``).

The official Eurus evaluation runs PoT programs with the harness's own ``python3``, whose environment
(``eval/requirements.txt``) has ``sympy==1.12`` and numpy, and LeetCode's prelude imports ``numpy``
(the rest of that prelude is standard library). So ``sandbox.packages`` pins numpy, sympy and mpmath
(sympy's one dependency) to exact versions. They are installed, once, into a dedicated folder that
belongs to no interpreter: ``<venv>/sandbox-site`` (:func:`site_dir`), with ``pip install --target
--no-deps --only-binary=:all:`` for the sandbox interpreter's Python version, then byte-compiled by
that interpreter (``/usr/bin/python3 -m compileall``), so an import inside the sandbox never compiles
(the folder is read-only there, and sympy without ``.pyc`` files takes seconds to import).

In the sandbox the folder is bind-mounted read-only at :data:`SITE_MOUNT` (``isolation=bwrap``) or used
in place (``isolation=process``) and put on ``PYTHONPATH``, ahead of Debian's ``dist-packages``, so the
pinned versions are the ones imported in both modes. The pins are stage params (``sandbox.*`` is
declared by every stage that executes code), so changing one reruns exactly those stages; before any
work, :func:`check` compares the installed versions with the params and fails naming the mismatch.

Installing is :mod:`preftree.sandbox_install` (``make sandbox-deps``); this module only reads.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

PYTHON = "/usr/bin/python3"  # Debian's interpreter: it lives under /usr, the only host tree in the sandbox
SITE_NAME = "sandbox-site"
SITE_MOUNT = "/opt/preftree/site-packages"  # where bwrap mounts the folder, read-only
MARKER = ".preftree-sandbox.json"  # in the folder: the interpreter it was built for and the pins
INSTALL_HINT = "run `make sandbox-deps` (or `python -m preftree.sandbox_install install`)"

_LOCK = threading.Lock()
_CHECKED: set[tuple[str, tuple[tuple[str, str], ...]]] = set()


class SandboxEnvError(RuntimeError):
    """The sandbox's package folder is missing or does not hold the pinned versions."""


def site_dir() -> Path:
    """``<prefix of the running interpreter>/sandbox-site``: the project's venv in every stage and test
    (also under ``dvc exp run --queue``, whose temp copy runs the same venv's python)."""
    return Path(sys.prefix) / SITE_NAME


def canonical(name: str) -> str:
    """A distribution name as PEP 503 normalises it (``Foo_Bar`` -> ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def interpreter_version(python: str = PYTHON) -> str:
    """``major.minor`` of the sandbox interpreter, from its file name (``/usr/bin/python3`` links to
    ``python3.11``); runs it only when the name does not say."""
    match = re.fullmatch(r"python(\d+\.\d+)", Path(os.path.realpath(python)).name)
    if match:
        return match.group(1)
    out = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def installed(site: Path) -> dict[str, str]:
    """{canonical name: version} of the distributions in `site` (from their ``*.dist-info`` folders)."""
    found: dict[str, str] = {}
    if not site.is_dir():
        return found
    for entry in site.iterdir():
        if entry.suffix == ".dist-info" and entry.is_dir() and "-" in entry.stem:
            name, version = entry.stem.rsplit("-", 1)
            found[canonical(name)] = version
    return found


def read_marker(site: Path) -> dict[str, object]:
    try:
        data = json.loads((site / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def mismatch(packages: Mapping[str, str], site: Path, python_version: str) -> str | None:
    """Why `site` cannot serve `packages` to an interpreter of `python_version` (None: it can)."""
    if not site.is_dir():
        return f"{site} does not exist"
    built_for = read_marker(site).get("python")
    if built_for != python_version:
        return f"{site} was built for Python {built_for}, the sandbox runs {PYTHON} (Python {python_version})"
    have = installed(site)
    want = {canonical(k): str(v) for k, v in packages.items()}
    wrong = [f"{name}=={version} (installed: {have.get(name, 'none')})" for name, version in sorted(want.items())
             if have.get(name) != version]  # fmt: skip
    extra = sorted(set(have) - set(want))
    if wrong or extra:
        parts = ([f"wants {', '.join(wrong)}"] if wrong else []) + ([f"also holds {', '.join(extra)}"] if extra else [])
        return f"{site} {'; '.join(parts)}"
    return None


def check(packages: Mapping[str, str]) -> Path | None:
    """The folder to put on the sandbox's PYTHONPATH for `packages` (None when no package is pinned).

    Raises :class:`SandboxEnvError` when it is missing or holds other versions than the params pin.
    Checked once per process and set of pins.
    """
    if not packages:
        return None
    site = site_dir()
    key = (str(site), tuple(sorted((canonical(k), str(v)) for k, v in packages.items())))
    with _LOCK:
        if key in _CHECKED:
            return site
        why = mismatch(packages, site, interpreter_version())
        if why:
            raise SandboxEnvError(f"sandbox.packages: {why}; {INSTALL_HINT}")
        _CHECKED.add(key)
    return site


def identity(packages: Mapping[str, str]) -> dict[str, object]:
    """What decides how sandboxed code behaves, for the record: interpreter, its version, the pins."""
    version = subprocess.run([PYTHON, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True,
                             text=True).stdout.strip()  # fmt: skip
    return {"interpreter": PYTHON, "python": version, "packages": {canonical(k): str(v) for k, v in packages.items()}}
