"""Code deps of every stage, derived from imports: the files a stage's module can execute.

    python -m preftree.deps             print each stage's code deps
    python -m preftree.deps --check     exit 1, naming the files, when dvc.yaml's code deps differ
    python -m preftree.deps --write     rewrite the code-dep lines of dvc.yaml (other deps untouched)

A stage ``cmd: python -m stages.<name>`` runs ``stages/<name>.py``; its code deps are the transitive
closure of the ``preftree`` modules that file imports, at top level *and* inside functions (a lazy
import runs too), plus every package ``__init__.py`` that importing them executes, plus the package
data files a module declares in a module-level ``PACKAGE_DATA`` tuple (program texts read at run time,
paths relative to that module's folder). The walk is static (``ast``), so it sees an import that a
branch never takes: a dep too many reruns a stage once, a dep too few reports a stale result.

:data:`EXCLUDED` lists the modules that cannot change any output byte, each with its reason; they are
left out of the deps but still walked (what *they* import is listed).

In dvc.yaml a code dep is any dep under ``stages/`` or ``preftree/``; ``--write`` replaces exactly
those lines of each stage (``foreach`` stages included) and keeps data deps, comments and order
otherwise.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from preftree.dvcinfo import CODE_ROOTS, is_code_dep

PACKAGE = "preftree"
STAGES = "stages"

# Modules that cannot change an output byte: left out of every stage's deps (still walked).
EXCLUDED: Mapping[str, str] = {
    "preftree/tracking.py": "MLflow logging only: the run, its tags and params live in mlflow.db, never in an output",
    "preftree/tracking_data.py": "MLflow logging only: a stage's inputs as MLflow datasets (mlflow.db)",
    "preftree/tracking_git.py": "MLflow logging only: the git.dirty tag (mlflow.db)",
    "preftree/tracking_model.py": "MLflow logging only: logged models in mlflow.db and the artifacts store",
    "preftree/tracking_store.py": "MLflow logging only: where MLflow artifacts are written (mlruns/)",
}

_CMD = re.compile(r"python\s+-m\s+(stages\.[A-Za-z_][A-Za-z_0-9]*)")


@dataclass(frozen=True)
class ModuleFile:
    name: str  # dotted module name, e.g. preftree.evaluate.runner
    path: Path  # relative to the repository root
    is_package: bool  # an __init__.py


def module_file(name: str, root: Path) -> ModuleFile | None:
    """The source file of a dotted module inside the repository, or None when it is not one."""
    rel = Path(*name.split("."))
    if (root / rel / "__init__.py").is_file():
        return ModuleFile(name, rel / "__init__.py", True)
    if (root / rel.with_suffix(".py")).is_file():
        return ModuleFile(name, rel.with_suffix(".py"), False)
    return None


def _absolute(node: ast.ImportFrom, current: ModuleFile) -> str:
    """The module an ``ImportFrom`` names, with relative levels resolved against ``current``."""
    if not node.level:
        return node.module or ""
    package = current.name.split(".") if current.is_package else current.name.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imported_modules(current: ModuleFile, root: Path) -> set[str]:
    """Every dotted module name that executing ``current`` may import (any depth in the file)."""
    tree = ast.parse((root / current.path).read_text(encoding="utf-8"), filename=str(current.path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, current)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
    return {n for n in names if n.split(".")[0] in CODE_ROOTS}


def package_data(current: ModuleFile, root: Path) -> list[Path]:
    """Files named by a module-level ``PACKAGE_DATA = (...)`` (relative to the module's folder)."""
    tree = ast.parse((root / current.path).read_text(encoding="utf-8"), filename=str(current.path))
    found: list[Path] = []
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if not any(isinstance(t, ast.Name) and t.id == "PACKAGE_DATA" for t in targets) or node.value is None:
            continue
        value = ast.literal_eval(node.value)
        for item in (value,) if isinstance(value, str) else value:
            path = current.path.parent / item
            if not (root / path).is_file():
                raise FileNotFoundError(f"{current.path}: PACKAGE_DATA names {item!r}, but {path} does not exist")
            found.append(path)
    return found


def _parents(name: str, root: Path) -> list[ModuleFile]:
    """The package ``__init__`` files that importing ``name`` executes, outermost first."""
    parts = name.split(".")
    found = [module_file(".".join(parts[:i]), root) for i in range(1, len(parts))]
    return [m for m in found if m is not None and m.is_package]


def closure(module: str, root: Path) -> list[Path]:
    """Sorted repository paths a ``python -m <module>`` can execute or read, :data:`EXCLUDED` removed."""
    start = module_file(module, root)
    if start is None:
        raise FileNotFoundError(f"module {module} has no file under {root}")
    seen: dict[Path, ModuleFile] = {}
    data: set[Path] = set()
    todo = [*_parents(module, root), start]
    while todo:
        current = todo.pop()
        if current.path in seen:
            continue
        seen[current.path] = current
        data.update(package_data(current, root))
        for name in imported_modules(current, root):
            found = module_file(name, root)
            todo.extend(_parents(name, root))
            if found is not None:
                todo.append(found)
    paths = set(seen) | data
    return sorted(p for p in paths if p.as_posix() not in EXCLUDED)


def stage_modules(dvc_yaml: Path) -> dict[str, str]:
    """Stage name in dvc.yaml (a foreach stage by its group name) -> the module its cmd runs."""
    spec = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))
    modules: dict[str, str] = {}
    for name, stage in spec.get("stages", {}).items():
        body = stage.get("do", stage)
        match = _CMD.search(str(body.get("cmd", "")))
        if match is None:
            raise ValueError(f"{dvc_yaml}: stage {name!r}: cmd is not `python -m stages.<name>`")
        modules[name] = match.group(1)
    return modules


def expected_deps(root: Path) -> dict[str, list[str]]:
    """Stage name -> its code deps as dvc.yaml should list them."""
    return {
        stage: [p.as_posix() for p in closure(module, root)]
        for stage, module in stage_modules(root / "dvc.yaml").items()
    }


def declared_deps(dvc_yaml: Path) -> dict[str, list[str]]:
    """Stage name -> the code deps dvc.yaml declares now (as written, before `${}` resolution)."""
    spec = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for name, stage in spec.get("stages", {}).items():
        body = stage.get("do", stage)
        deps = [next(iter(d)) if isinstance(d, dict) else str(d) for d in body.get("deps", [])]
        out[name] = [d for d in deps if is_code_dep(d)]
    return out


def differences(root: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Stage -> (missing, extra) code deps; only stages that differ.

    A declared folder covers the files under it for ``missing``, but is itself ``extra``: deps are
    listed file by file so that a change elsewhere in the folder reruns nothing."""
    expected = expected_deps(root)
    declared = declared_deps(root / "dvc.yaml")
    out: dict[str, tuple[list[str], list[str]]] = {}
    for stage, want in expected.items():
        have = declared.get(stage, [])
        missing = [p for p in want if not any(p == d or p.startswith(d.rstrip("/") + "/") for d in have)]
        extra = [d for d in have if d not in want]
        if missing or extra:
            out[stage] = (missing, extra)
    return out


def rewrite(text: str, expected: Mapping[str, Iterable[str]]) -> str:
    """dvc.yaml text with each stage's code-dep lines replaced by ``expected`` (at the first code dep)."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    stage: str | None = None
    in_deps = False
    deps_indent = -1
    written = False
    item = re.compile(r"^(\s*)-\s+(\S.*?)\s*(#.*)?$")
    for line in lines:
        stage_match = re.match(r"^  ([A-Za-z_][\w@-]*):\s*(#.*)?$", line)
        if stage_match and not line.startswith("   "):
            stage, in_deps, written = stage_match.group(1), False, False
        deps_match = re.match(r"^(\s*)deps:\s*$", line)
        if deps_match and stage is not None:
            in_deps, deps_indent, written = True, len(deps_match.group(1)), False
            out.append(line)
            continue
        if in_deps:
            m = item.match(line)
            if m and len(m.group(1)) > deps_indent:
                dep = m.group(2).strip("\"'")
                if is_code_dep(dep):
                    if not written and stage in expected:
                        out.extend(f"{m.group(1)}- {p}\n" for p in expected[stage])
                        written = True
                    continue
                out.append(line)
                continue
            if line.strip() and (len(line) - len(line.lstrip())) <= deps_indent:
                in_deps = False
        out.append(line)
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m preftree.deps", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 when dvc.yaml's code deps are not the closures")
    mode.add_argument("--write", action="store_true", help="rewrite the code-dep lines of dvc.yaml")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: cwd)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.write:
        path = root / "dvc.yaml"
        text = path.read_text(encoding="utf-8")
        new = rewrite(text, expected_deps(root))
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote the code deps of {path}")
        left = differences(root)
        for stage, (missing, extra) in left.items():
            print(f"deps: {stage}: could not rewrite (missing {missing}, extra {extra})", file=sys.stderr)
        return 1 if left else 0
    if args.check:
        diff = differences(root)
        for stage, (missing, extra) in diff.items():
            for p in missing:
                print(f"deps: {stage}: missing {p} (imported by stages/{stage}.py's closure)", file=sys.stderr)
            for p in extra:
                print(f"deps: {stage}: not imported {p}", file=sys.stderr)
        if diff:
            print("deps: run `python -m preftree.deps --write` to regenerate dvc.yaml's code deps", file=sys.stderr)
            return 1
        print(f"deps: the code deps of all {len(expected_deps(root))} stages match their import closures")
        return 0
    for stage, paths in expected_deps(root).items():
        print(f"{stage} ({len(paths)} files)")
        for p in paths:
            print(f"  {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
