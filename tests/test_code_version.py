"""The scripted agents' cache version is the digest of their code: an edited template is a cache miss."""

from pathlib import Path

from preftree.code_version import code_version


def _package(root: Path, helper: str) -> None:
    pkg = root / "preftree"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "main.py").write_text("from preftree.helper import TEMPLATE\n")
    (pkg / "helper.py").write_text(helper)
    (pkg / "unrelated.py").write_text("X = 1\n")


def test_editing_an_imported_module_changes_the_version(tmp_path):
    _package(tmp_path / "a", "TEMPLATE = 'Step {k}: {a} + {b} = {c}'\n")
    _package(tmp_path / "b", "TEMPLATE = 'Step {k}: {a} + {b} = {c}.'\n")
    _package(tmp_path / "c", "TEMPLATE = 'Step {k}: {a} + {b} = {c}'\n")
    (tmp_path / "c" / "preftree" / "unrelated.py").write_text("X = 2\n")
    a = code_version("preftree.main", tmp_path / "a")
    assert a != code_version("preftree.main", tmp_path / "b")  # a template edit in an imported module
    assert a == code_version("preftree.main", tmp_path / "c")  # a module it does not import


def test_scripted_actor_closure_holds_the_solution_templates():
    from preftree.code_version import ROOT
    from preftree.deps import closure

    files = {p.as_posix() for p in closure("preftree.agents.scripted_actor", ROOT)}
    assert {"preftree/sources/synthetic/math_solutions.py", "preftree/agents/mistakes.py"} <= files
    assert len(code_version("preftree.agents.scripted_actor")) == 16
