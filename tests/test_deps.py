"""Code deps are derived from imports (preftree.deps), and the library's rooms stay small and closed."""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path

import pytest

from preftree import deps

from .conftest import REPO, sh

# Data tables, not logic: exempt from the module-size rule.
DATA_TABLES = {"preftree/sources/synthetic/coding_templates.py"}
MAX_LINES = 450


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


DVC_YAML = """\
stages:
  one:
    cmd: python -m stages.one
    deps:
      - stages/one.py
      - preftree/a.py
      - data/input
    outs:
      - data/one
  many:
    foreach: [x, y]
    do:
      cmd: python -m stages.many ${item}
      deps:
        - stages/many.py
        - preftree/pkg   # a folder
        - "data/${item}"
      outs:
        - "data/many/${item}"
"""


@pytest.fixture
def tiny_repo(tmp_path: Path) -> Path:
    _write(
        tmp_path,
        {
            "dvc.yaml": DVC_YAML,
            "stages/__init__.py": "",
            "stages/one.py": """\
                from preftree.a import run

                def main():
                    from preftree.pkg import lazy  # a function-level import runs too
                    return run(), lazy
                """,
            "stages/many.py": "import preftree.pkg.sub as s\n",
            "preftree/__init__.py": "",
            "preftree/a.py": "from . import b\nrun = b.run\n",
            "preftree/b.py": "import json\nrun = json.dumps\n",
            "preftree/pkg/__init__.py": "",
            "preftree/pkg/lazy.py": "PACKAGE_DATA = ('programs/driver.py',)\n",
            "preftree/pkg/programs/driver.py": "print('hi')\n",
            "preftree/pkg/sub.py": "from .lazy import PACKAGE_DATA\n",
            "preftree/unused.py": "",
        },
    )
    return tmp_path


def test_closure_follows_top_level_function_level_and_relative_imports(tiny_repo: Path) -> None:
    assert [p.as_posix() for p in deps.closure("stages.one", tiny_repo)] == [
        "preftree/__init__.py",
        "preftree/a.py",
        "preftree/b.py",
        "preftree/pkg/__init__.py",
        "preftree/pkg/lazy.py",
        "preftree/pkg/programs/driver.py",
        "stages/__init__.py",
        "stages/one.py",
    ]
    many = [p.as_posix() for p in deps.closure("stages.many", tiny_repo)]
    assert "preftree/pkg/sub.py" in many and "preftree/pkg/lazy.py" in many and "preftree/a.py" not in many


def test_check_names_a_module_a_stage_imports_outside_its_deps(tiny_repo: Path, capsys) -> None:
    # stages/one.py reaches preftree/b.py and the pkg files through imports dvc.yaml does not list
    assert deps.main(["--check", "--root", str(tiny_repo)]) == 1
    err = capsys.readouterr().err
    assert "one: missing preftree/b.py" in err
    assert "one: missing preftree/pkg/lazy.py" in err
    assert "many: not imported preftree/pkg" in err  # a folder dep is replaced by its files


def test_write_rewrites_only_code_deps_and_then_check_passes(tiny_repo: Path) -> None:
    assert deps.main(["--write", "--root", str(tiny_repo)]) == 0
    text = (tiny_repo / "dvc.yaml").read_text()
    assert "      - data/input\n" in text and '        - "data/${item}"\n' in text  # data deps kept
    assert "preftree/pkg   # a folder" not in text
    assert deps.main(["--check", "--root", str(tiny_repo)]) == 0
    assert deps.rewrite(text, deps.expected_deps(tiny_repo)) == text  # idempotent


def test_the_real_dvc_yaml_lists_exactly_each_stages_import_closure() -> None:
    assert deps.differences(REPO) == {}


def test_excluded_modules_are_few_and_give_a_reason() -> None:
    # only the MLflow logging family (preftree/tracking*.py): it writes mlflow.db and mlruns/, never an output
    assert len(deps.EXCLUDED) <= 6
    for path, reason in deps.EXCLUDED.items():
        assert path.startswith("preftree/tracking") and "MLflow" in reason
        assert (REPO / path).is_file() and len(reason) > 20


def test_closures_stay_narrow() -> None:
    closures = {stage: {p.as_posix() for p in paths} for stage, paths in _closures().items()}
    for stage, paths in closures.items():
        agents = sorted(p for p in paths if p.startswith("preftree/agents/"))
        if stage != "interact":  # the only stage that calls an actor or critic
            assert not agents, f"{stage} imports {agents}"
    assert "preftree/sandbox.py" not in closures["select"]
    assert "preftree/interact.py" not in closures["tree"]


def _closures() -> dict[str, list[Path]]:
    return {stage: deps.closure(module, REPO) for stage, module in deps.stage_modules(REPO / "dvc.yaml").items()}


def _library_files() -> list[Path]:
    return sorted(p for root in ("preftree", "stages") for p in (REPO / root).rglob("*.py"))


def test_no_module_imports_a_private_name_from_another_module() -> None:
    offenders = []
    for path in _library_files():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("preftree", "stages")):
                offenders += [
                    f"{path.relative_to(REPO)}: {node.module}.{a.name}" for a in node.names if a.name[0] == "_"
                ]
                if (
                    node.module
                    and node.module.split(".")[-1].startswith("_")
                    and node.module.split(".")[-1] != "__init__"
                ):
                    offenders.append(f"{path.relative_to(REPO)}: {node.module}")
    assert not offenders, offenders


def test_no_logic_module_is_over_the_size_limit() -> None:
    big = {
        p.relative_to(REPO).as_posix(): n
        for p in _library_files()
        if (n := len(p.read_text().splitlines())) > MAX_LINES and p.relative_to(REPO).as_posix() not in DATA_TABLES
    }
    assert not big, big


@pytest.mark.slow
def test_editing_a_leaf_module_marks_exactly_the_stages_whose_closure_contains_it(smoke_project: Path) -> None:
    leaf = "preftree/answers/match.py"  # the answer checker: eval@* and rerank grade with it
    closures = {
        stage: {p.as_posix() for p in deps.closure(module, smoke_project)}
        for stage, module in deps.stage_modules(smoke_project / "dvc.yaml").items()
    }
    before = json.loads(sh(smoke_project, "dvc", "status", "--json").stdout or "{}")
    assert before == {}, "the smoke project must be up to date before the edit"
    path = smoke_project / leaf
    original = path.read_text()
    try:
        path.write_text(original + "\n# an edit that changes no behaviour but the file's bytes\n")
        status = json.loads(sh(smoke_project, "dvc", "status", "--json").stdout)
    finally:
        path.write_text(original)
    marked = {
        stage
        for stage, entries in status.items()
        for entry in entries
        if isinstance(entry, dict) and entry.get("changed deps", {}).get(leaf) == "modified"
    }
    assert set(status) == marked  # nothing else changed
    expected = {name for name in _lock_stages(smoke_project) if leaf in closures[name.split("@")[0]]}
    assert marked == expected
    assert {"rerank", "eval@base", "eval@sft"} <= marked


def _lock_stages(root: Path) -> list[str]:
    import yaml

    return list(yaml.safe_load((root / "dvc.lock").read_text())["stages"])
