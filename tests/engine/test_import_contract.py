"""The engine is headless: nothing under engine/ imports Qt, PyVista or the app."""
import ast
import pathlib
import subprocess
import sys

FORBIDDEN = ("PySide6", "PySide2", "PyQt5", "PyQt6", "shiboken6", "pyvista", "pyvistaqt",
             "pyqtgraph", "vtk", "vtkmodules", "gdapp", "qtpy")
ENGINE = pathlib.Path(__file__).resolve().parents[2] / "engine"


def _imported_roots(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0], node.lineno
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            yield str(node.args[0].value).split(".")[0], node.lineno


def test_no_forbidden_import_statements_under_engine():
    offenders = [f"{p.relative_to(ENGINE.parent)}:{line} imports {root}"
                 for p in sorted(ENGINE.rglob("*.py"))
                 for root, line in _imported_roots(p) if root in FORBIDDEN]
    assert not offenders, "engine must stay headless:\n" + "\n".join(offenders)


def test_importing_every_engine_module_loads_no_gui_library():
    modules = sorted(".".join(p.relative_to(ENGINE.parent).with_suffix("").parts).removesuffix(".__init__")
                     for p in ENGINE.rglob("*.py") if p.name != "__main__.py")
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print('\\n'.join(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"GUI modules loaded by engine imports:\n{result.stdout}{result.stderr}"


def test_the_contract_test_catches_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom PySide6 import QtCore\n")
    assert ("PySide6", 2) in list(_imported_roots(bad))


def test_the_app_contract_names_every_engine_module_but_the_api():
    """pyproject.toml's import-linter contract forbids the app every engine module except
    engine.api; a new engine module must join that list (lint-imports runs in .ci/run)."""
    import tomllib

    config = tomllib.loads((ENGINE.parent / "pyproject.toml").read_text())
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["source_modules"] == ["gdapp"])
    children = {f"engine.{p.stem if p.is_file() else p.name}" for p in ENGINE.iterdir()
                if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").is_file()}
    assert set(contract["forbidden_modules"]) == children - {"engine.api"}
