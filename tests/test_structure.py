"""The house rules that keep the package's layering: each checked on the real modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nas_resnext
from nas_resnext import rundir

PACKAGE = Path(nas_resnext.__file__).parent


def test_search_never_imports_tradeoff() -> None:
    # Importing every search module (as the search loop does) must leave the trade-off package unloaded.
    code = (
        "import sys, pkgutil, importlib, nas_resnext.search as s\n"
        "for m in pkgutil.iter_modules(s.__path__): importlib.import_module('nas_resnext.search.' + m.name)\n"
        "print(sorted(n for n in sys.modules if n.startswith('nas_resnext.tradeoff')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    for path in (PACKAGE / "search").glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = [
            node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
        ]
        assert not [name for name in imported if name.startswith("nas_resnext.tradeoff")], path.name


def test_only_the_run_directory_names_its_files() -> None:
    names = {
        rundir.SPACE_FILE,
        rundir.RUN_FILE,
        rundir.STUDY_FILE,
        rundir.TRIALS_FILE,
        rundir.PLAN_FILE,
        rundir.RAY_DIR,
    }
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "rundir.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.value!r}")
    assert offenders == []
