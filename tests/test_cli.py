"""The command line: output, JSON shapes, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nas_resnext.cli import main

ROOT = Path(__file__).resolve().parents[1]
DIGITS = str(ROOT / "search_spaces" / "digits_demo.yaml")
CONSOLE_SCRIPT = Path(sys.executable).parent / "nas-resnext"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_console_script_is_installed_and_counts() -> None:
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "count", "--preset", "resnext50_32x4d", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["flops"] == 4_259_381_248


def test_count_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "count", "--template", "imagenet", "--depths", "3,4,6,3", "-C", "32", "-d", "4"
    )
    assert code == 0
    assert out.splitlines()[0] == "X-50-32x4d"
    assert "25,028,904" in out and "4,259,381,248" in out
    assert "multiply-adds, fvcore convention" in out


def test_count_json_has_name_complexity_and_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "count", "--preset", "resnext29_8x64d", "--num-classes", "100", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["name"] == "X-29-8x64d-k100"
    assert data["template"] == "cifar" and data["depths"] == [3, 3, 3] and data["num_classes"] == 100
    assert (data["cardinality"], data["bottleneck_width"], data["group_width"]) == (8, 64, 512)
    assert data["params"] > 34_400_000 and data["method"] == "analytic"


def test_count_defaults_per_template(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_cli(capsys, "count", "--template", "cifar", "--json")
    data = json.loads(out)
    assert (data["resolution"], data["num_classes"], data["stem_width"], data["depths"]) == (
        32,
        10,
        64,
        [3, 3, 3],
    )


def test_count_methods_agree(capsys: pytest.CaptureFixture[str]) -> None:
    flags = [
        "count",
        "--template",
        "cifar",
        "--depths",
        "1,2,1",
        "--width",
        "8",
        "-C",
        "4",
        "-d",
        "2",
        "--stem-width",
        "8",
        "--resolution",
        "17",
        "--json",
    ]
    _, analytic, _ = run_cli(capsys, *flags)
    _, fvcore, _ = run_cli(capsys, *flags, "--method", "fvcore")
    a, f = json.loads(analytic), json.loads(fvcore)
    assert (a["flops"], a["params"]) == (f["flops"], f["params"])


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["count", "--cardinality", "0"],
            "nas-resnext count: error: --cardinality: got 0; allowed: an integer >= 1",
        ),
        (
            ["count", "--depths", "3,x,6,3"],
            "nas-resnext count: error: --depths: got '3,x,6,3'; allowed: integers",
        ),
        (
            ["count", "--template", "cifar", "--depths", "3,4,6,3"],
            "nas-resnext count: error: --depths: got [3, 4, 6, 3]",
        ),
        (
            ["count", "--preset", "resnext51"],
            "nas-resnext count: error: --preset: got 'resnext51'; allowed: resnet50",
        ),
        (
            ["count", "--template", "vgg"],
            "nas-resnext count: error: argument --template: invalid choice: 'vgg'",
        ),
        (["count", "--frobnicate"], "nas-resnext: error: unrecognized arguments: --frobnicate"),
        (
            ["tradeoff", "--preset", "resnet50", "--cardinalities", "1,2", "--seeds", "0"],
            "nas-resnext tradeoff: error: --seeds: got 0; allowed: an integer >= 1",
        ),
        (
            ["tradeoff", "--plan", "--cardinalities", "1,2", "--seeds", "2"],
            "nas-resnext tradeoff: error: --seeds: got 2; allowed: nothing with --plan",
        ),
        (
            ["tradeoff", "--plan", "--cardinalities", "1,2", "--widths", "32"],
            "nas-resnext tradeoff: error: --cardinalities/",
        ),
        (
            ["tradeoff", "--plan", "--cardinalities", "1,2", "--solve", "groups"],
            "nas-resnext tradeoff: error: --solve: got 'groups'",
        ),
        (
            ["tradeoff", "--plan", "--cardinalities", "1,2", "--solve", "C"],
            "nas-resnext tradeoff: error: --solve: got 'C'; allowed: an axis other",
        ),
        (
            ["tradeoff", "--plan", "--cardinalities", "1,2", "--target", "twice"],
            "nas-resnext tradeoff: error: target: got 'twice'",
        ),
        (
            ["space", "missing.yaml"],
            "nas-resnext space: error: space: got 'missing.yaml'; allowed: an existing YAML",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(line), err


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "count", "--cardinality", "0", "--debug")
    assert code == 2 and "Traceback" in err and "--cardinality: got 0" in err


def test_tradeoff_plan_json_reproduces_table2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "tradeoff", "--plan", "--preset", "resnet50", "--cardinalities", "1,2,4,8,32", "--json"
    )
    rows = json.loads(out)["rows"]
    assert code == 0
    assert [(r["cardinality"], r["bottleneck_width"]) for r in rows] == [
        (1, 64),
        (2, 40),
        (4, 24),
        (8, 14),
        (32, 4),
    ]
    assert {
        "cardinality",
        "bottleneck_width",
        "width",
        "depths",
        "name",
        "params",
        "flops",
        "rel_diff",
    } <= set(rows[0])
    assert rows[0]["rel_diff"] == 0.0 and rows[4]["name"] == "X-50-32x4d"


def test_tradeoff_plan_text_and_other_axes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys,
        "tradeoff",
        "--plan",
        "--preset",
        "resnext50_32x4d",
        "--depth-list",
        "2,2,2,2/3,4,23,3",
        "--solve",
        "width",
        "--match",
        "flops",
    )
    assert code == 0
    assert "vary depth, solve width, match flops" in out
    assert "2,2,2,2" in out and "3,4,23,3" in out


def test_tradeoff_spending_plan(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "tradeoff", "--plan", "--preset", "resnet50", "--target", "2x", "--match", "flops", "--json"
    )
    rows = json.loads(out)["rows"]
    assert code == 0
    assert [r["axis"] for r in rows] == ["depth", "width", "cardinality", "bottleneck_width"]
    assert all(abs(r["rel_diff"]) < 0.1 for r in rows)


def test_space_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "space", DIGITS)
    assert code == 0
    assert "480 architectures" in out and "in budget" in out and "X-11-1x2d-w8-s16-r16-i1" in out
    code, out, _ = run_cli(capsys, "space", DIGITS, "--json")
    data = json.loads(out)
    assert data["size"] == 480 and data["within_budget_exact"] is True
    assert 0 < data["within_budget"] < 1 and data["smallest"]["flops"] < data["largest"]["flops"]


def test_bad_space_file_names_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(Path(DIGITS).read_text().replace("cardinality: [1, 2, 4, 8]", "cardinality: [0, 2]"))
    code, out, err = run_cli(capsys, "space", str(path))
    assert code == 2 and out == ""
    assert (
        err.strip()
        == f"nas-resnext space: error: {path}: axes.cardinality.choices[0]: got 0; allowed: an integer >= 1"
    )


@pytest.mark.parametrize("command", ["count", "tradeoff", "space"])
def test_help_has_examples(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nas_resnext.cli", command, "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "examples:" in result.stdout and f"nas-resnext {command}" in result.stdout


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys)
    assert code == 2 and "COMMAND" in out
