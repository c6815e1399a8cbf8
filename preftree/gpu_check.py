"""Does the ``gpu`` extra install beside the project's pins? Asked of pip without installing anything.

    python -m preftree.gpu_check                       # make gpu-check: this interpreter's pip
    python -m preftree.gpu_check --python python3.13   # another Python (the GPU machine's)

Runs ``<python> -m pip install --dry-run --ignore-installed --report <tmp> '.[gpu]'`` in the repository
(PyPI metadata only: no GPU, nothing installed; pip does download the wheels it weighs, as the index
serves no separate metadata files here), then prints the version pip chose for every pinned dependency
and every package of the extra, and fails when one differs from its pin. When pip finds no solution, it
prints pip's lines naming the conflicting requirements and exits 1.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

EXTRA = "gpu"
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;,]+)\s*(;.*)?$")


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them (case, ``-``, ``_`` and ``.`` alike)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def exact_pins(requirements: Iterable[str], environment: Mapping[str, str] | None = None) -> dict[str, str]:
    """``name -> version`` of the requirements pinned with ``==`` (others, e.g. ``pyyaml>=6.0``, skipped).
    With ``environment`` (pip's report's marker values), a pin whose marker is false there is skipped;
    without, every pin counts."""
    from packaging.markers import Marker  # pip's and transformers' own dependency

    pins: dict[str, str] = {}
    for req in requirements:
        m = PIN.match(req)
        if not m:
            continue
        marker = m.group(3)
        if environment is not None and marker and not Marker(marker[1:]).evaluate(dict(environment)):
            continue
        pins[canonical(m.group(1))] = m.group(2)
    return pins


def project_pins(pyproject: Path, extra: str = EXTRA, environment: Mapping[str, str] | None = None) -> dict[str, str]:
    """The exact pins of the core dependencies and of ``extra`` in ``pyproject`` (markers as in exact_pins)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project.get("optional-dependencies", {})
    if extra not in extras:
        raise KeyError(f"{pyproject}: no [project.optional-dependencies] {extra}")
    return exact_pins([*project["dependencies"], *extras[extra]], environment)


def resolved_versions(report: Mapping[str, Any]) -> dict[str, str]:
    """``name -> version`` of what a pip ``--report`` would install."""
    return {canonical(x["metadata"]["name"]): x["metadata"]["version"] for x in report["install"]}


def same_version(pin: str, version: str) -> bool:
    """``==pin`` matches ``version``: equal, or equal up to a local label (``2.13.0`` and ``2.13.0+cpu``)."""
    return version == pin or ("+" not in pin and version.split("+", 1)[0] == pin)


def pin_mismatches(pins: Mapping[str, str], resolved: Mapping[str, str]) -> list[str]:
    """One line per pin that pip resolved to another version, or left out."""
    out = []
    for name, pin in sorted(pins.items()):
        got = resolved.get(name)
        if got is None or not same_version(pin, got):
            out.append(f"{name}: pinned {pin}, resolved {got or 'nothing'}")
    return out


def conflict_lines(stderr: str) -> list[str]:
    """pip's explanation of a failed resolution: the ``ERROR:`` lines and the ``conflict is caused by``
    block (its ``depends on`` lines, de-duplicated), without pip's generic advice."""
    lines = stderr.splitlines()
    out: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("ERROR:"):
            out.append(line)
        if "The conflict is caused by" in line:
            for follow in lines[i + 1 :]:
                if not follow.strip() or follow.startswith("To fix this"):
                    break
                text = re.sub(r" \(from .*$", "", follow.strip())
                if text not in out:
                    out.append(text)
    return out


def summary(pins: Mapping[str, str], resolved: Mapping[str, str]) -> list[str]:
    """The lines printed after a resolution: each pinned package (the core's and the extra's) as resolved."""
    return [f"{n}=={resolved.get(n, '(not resolved)')}" for n in sorted(pins)] + [f"{len(resolved)} packages in all"]


def run_check(root: Path, python: str) -> int:
    """Resolve ``.[gpu]`` in ``root`` with ``python``'s pip; print the outcome; 0 when every pin holds."""
    project_pins(root / "pyproject.toml")  # fails at once when the extra is missing
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--report", str(report)]
        print("$ " + " ".join(cmd + [f"'.[{EXTRA}]'"]), flush=True)
        start = time.monotonic()
        proc = subprocess.run([*cmd, f".[{EXTRA}]"], cwd=root, capture_output=True, text=True)
        took = time.monotonic() - start
        if proc.returncode != 0:
            print(f"gpu-check: pip found no installation of .[{EXTRA}] beside the pins ({took:.0f} s):")
            output = proc.stdout + "\n" + proc.stderr  # pip explains a conflict on stdout, fails on stderr
            for line in conflict_lines(output) or output.splitlines()[-20:]:
                print("  " + line)
            return 1
        data = json.loads(report.read_text())
    resolved = resolved_versions(data)
    pins = project_pins(root / "pyproject.toml", environment=data.get("environment"))  # the target's markers
    for line in summary(pins, resolved):
        print("  " + line)
    bad = pin_mismatches(pins, resolved)
    for line in bad:
        print("gpu-check: " + line)
    print(f"gpu-check: {'FAILED' if bad else 'ok'}: .[{EXTRA}] resolved in {took:.0f} s")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter whose pip resolves (default: this)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: the current folder)")
    args = parser.parse_args(argv)
    return run_check(args.root, args.python)


if __name__ == "__main__":
    sys.exit(main())
