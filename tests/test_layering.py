"""The layers hold: import-linter's contracts in pyproject.toml (layers, no cycles, storage
importing nothing above it) are kept, and ``storage`` loads nothing of kcli, typer or rich
(nor click) when it runs."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import storage

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {"kcli", "typer", "rich", "click"}
STORAGE_DIR = Path(storage.__file__).parent
MODULES = sorted(STORAGE_DIR.rglob("*.py"))


def imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value))
    return names


def test_import_linter_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    if not lint_imports.exists():
        pytest.fail("lint-imports is missing: install the test extra (pip install -e '.[test]')")
    out = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_storage_sources_import_nothing_from_the_layers_above():
    assert len(MODULES) >= 10
    offenders = {
        str(path.relative_to(STORAGE_DIR)): sorted(
            n for n in imported_names(path) if n.split(".")[0] in FORBIDDEN
        )
        for path in MODULES
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_every_storage_module_loads_none_of_them():
    names = [
        "storage." + ".".join(p.relative_to(STORAGE_DIR).with_suffix("").parts)
        for p in MODULES
        if p.name != "__init__.py"
    ]
    script = (
        "import importlib, json, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(out.stdout) == []
