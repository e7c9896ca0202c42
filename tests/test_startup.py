"""Light commands start without importing heavy libraries: checked on ``python -X importtime``'s report.

Speed itself is measured by ``benchmarks/startup.py``, never asserted here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_FLAGS

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "ray", "plotly")
LIGHT_COMMANDS = [
    ["count", "--preset", "resnext50_32x4d"],
    ["space", "search_spaces/digits_demo.yaml"],
    ["tradeoff", "--plan", "--preset", "resnet50", "--cardinalities", "1,2,4"],
    ["--help"],
    *(
        [command, "--help"]
        for command in ("count", "space", "tradeoff", "train", "search", "report", "export", "retrain")
    ),
]


def imported_modules(importtime_report: str) -> list[str]:
    """Module names from ``-X importtime`` lines: ``import time: self | cumulative | <indent>name``."""
    modules = []
    for line in importtime_report.splitlines():
        if not line.startswith("import time:"):
            continue
        name = line.rsplit("|", 1)[-1].strip()
        if name != "imported package":  # the report's header line
            modules.append(name)
    return modules


def heavy_modules(modules: list[str], heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """The modules that are one of ``heavy`` or inside one of them (``torch.nn``, not ``torchlike``)."""
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in heavy)]


def modules_imported_by(argv: list[str]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nas_resnext.cli", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return imported_modules(result.stderr)


def test_the_report_parser_finds_modules_and_tells_heavy_ones_from_look_alikes() -> None:
    report = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       120 |        120 |   torchlike",
            "import time:       300 |     900000 |     torch.nn.functional",
            "import time:        80 |         80 | rayon",
            "import time:        90 |         90 |       plotly",
        ]
    )
    modules = imported_modules(report)
    assert modules == ["torchlike", "torch.nn.functional", "rayon", "plotly"]
    assert heavy_modules(modules) == ["torch.nn.functional", "plotly"]


@pytest.mark.parametrize("argv", LIGHT_COMMANDS, ids=" ".join)
def test_light_command_imports_no_heavy_library(argv: list[str]) -> None:
    modules = modules_imported_by(argv)
    # The report lists the package's own modules: an empty or unparsed report cannot pass as "light".
    assert "nas_resnext.cli" in modules
    assert heavy_modules(modules) == []


def test_the_check_sees_a_heavy_import() -> None:
    # A control: the same check on a command that needs torch must find it.
    modules = modules_imported_by(["count", *TINY_FLAGS, "--method", "fvcore"])
    assert "torch" in heavy_modules(modules)


def test_importing_the_package_is_light_and_every_public_name_still_loads() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import nas_resnext, nas_resnext.data"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert heavy_modules(imported_modules(result.stderr)) == []

    import nas_resnext
    import nas_resnext.data

    for package in (nas_resnext, nas_resnext.data):
        assert set(package.__all__) <= set(dir(package))
        for name in package.__all__:
            assert getattr(package, name) is not None, name
    with pytest.raises(AttributeError):
        _ = nas_resnext.no_such_name
