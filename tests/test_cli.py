"""The command line: output, JSON shapes, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nas_resnext.architecture import Architecture
from nas_resnext.cli import main
from nas_resnext.cli.common import flag_name
from nas_resnext.errors import ConfigError
from nas_resnext.rundir import RunDirectory, RunOptions
from nas_resnext.settings import TrainSettings
from nas_resnext.space import DesignSpace
from nas_resnext.tradeoff import TradeoffPlan, runner
from nas_resnext.tradeoff.runner import create_tradeoff_run, resume_tradeoff

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
    assert json.loads(result.stdout)["activations"] == 14_401_512


def test_count_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "count", "--template", "imagenet", "--depths", "3,4,6,3", "-C", "32", "-d", "4"
    )
    assert code == 0
    assert out.splitlines()[0] == "X-50-32x4d"
    assert "25,028,904" in out and "4,259,381,248" in out
    assert "multiply-adds, fvcore convention" in out
    activations = next(line for line in out.splitlines() if line.strip().startswith("activations"))
    assert activations.split() == [
        *("activations", "14,401,512", "(14.40M,", "output", "elements", "of", "every", "conv", "and"),
        *("the", "classifier", "(pycls),", "batch", "1)"),
    ]


def test_count_json_has_name_complexity_and_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "count", "--preset", "resnext29_8x64d", "--num-classes", "100", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["name"] == "X-29-8x64d-k100"
    assert data["template"] == "cifar" and data["depths"] == [3, 3, 3] and data["num_classes"] == 100
    assert (data["cardinality"], data["bottleneck_width"], data["group_width"]) == (8, 64, 512)
    assert data["params"] > 34_400_000 and data["method"] == "analytic"


def test_count_json_keys_and_their_order(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_cli(capsys, "count", "--preset", "resnext50_32x4d", "--json")
    assert list(json.loads(out)) == [
        *("name", "template", "depths", "width", "cardinality", "bottleneck_width", "stem_width"),
        *("num_classes", "in_channels", "resolution", "group_width", "layers", "params", "flops"),
        *("activations", "activation_convention", "method"),
    ]


def test_count_json_carries_activations_and_their_convention(capsys: pytest.CaptureFixture[str]) -> None:
    from nas_resnext import count_analytic, get_preset
    from nas_resnext.complexity import ACTIVATION_CONVENTION

    _, out, _ = run_cli(capsys, "count", "--preset", "resnext29_8x64d", "--num-classes", "100", "--json")
    data = json.loads(out)
    arch = get_preset("resnext29_8x64d").architecture(num_classes=100)
    assert data["activations"] == count_analytic(arch).activations == 8_585_316
    assert data["activation_convention"] == ACTIVATION_CONVENTION


def test_flag_names_follow_field_names() -> None:
    assert flag_name("bottleneck_width") == "--bottleneck-width" and flag_name("lr") == "--lr"


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
    assert (a["flops"], a["params"], a["activations"]) == (f["flops"], f["params"], f["activations"])


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
        (
            ["tradeoff", "--plan", "--preset", "resnet50", "--cardinalities", "1,x"],
            "nas-resnext tradeoff: error: --cardinalities: got '1,x'; allowed: integers separated by ','",
        ),
        (
            [
                *(
                    "tradeoff",
                    "--plan",
                    "--dataset",
                    "digits",
                    "--preset",
                    "resnet50",
                    "--cardinalities",
                    "1,2",
                ),
                *("--in-channels", "3"),
            ],
            "nas-resnext tradeoff: error: --in-channels: got 3; allowed: 1 (what the digits data set holds)",
        ),
        (
            ["tradeoff", "--plan", DIGITS, "--cardinalities", "1,2", "--num-classes", "5"],
            "nas-resnext tradeoff: error: --num-classes: got 5; allowed: 10 (what the digits data set holds)",
        ),
        (
            ["tradeoff", "--plan", DIGITS, "--cardinalities", "1,2", "--width", "0"],
            "nas-resnext tradeoff: error: --width: got 0; allowed: an integer >= 1",
        ),
        (
            ["tradeoff", "--plan", DIGITS, "--preset", "resnet50", "--cardinalities", "1,2"],
            "nas-resnext tradeoff: error: --preset: got 'resnet50'; allowed: no preset with a space file",
        ),
        (
            ["tradeoff", "--resume", "/no/such/run"],
            "nas-resnext tradeoff: error: --resume: got '/no/such/run'; allowed: a run directory made by "
            "nas-resnext tradeoff",
        ),
        (
            ["search", "--resume", "/no/such/run"],
            "nas-resnext search: error: --resume: got '/no/such/run'; allowed: a run directory made by "
            "nas-resnext search or tradeoff",
        ),
        (
            ["train", "--dataset", "digits", "--num-classes", "3"],
            "nas-resnext train: error: --num-classes: got 3; allowed: 10 (what the digits data set holds)",
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
    assert data["smallest"]["activations"] < data["largest"]["activations"]


def test_space_shows_an_activation_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "acts.yaml"
    text = Path(DIGITS).read_text().replace("max_mparams: 1.0", "max_mparams: 1.0\n  max_mactivations: 0.2")
    path.write_text(
        text.replace("objectives: [val_accuracy, flops]", "objectives: [val_accuracy, activations]")
    )
    code, out, _ = run_cli(capsys, "space", str(path))
    assert code == 0
    assert "budget            GFLOPs <= 0.01, Mparams <= 1, Mactivations <= 0.2" in out
    assert "objectives        val_accuracy, activations" in out
    assert "(activations: output elements of every conv and the classifier (pycls), batch 1)" in out
    _, out, _ = run_cli(capsys, "space", str(path), "--json")
    data = json.loads(out)
    assert data["budget"] == {"max_gflops": 0.01, "max_mparams": 1.0, "max_mactivations": 0.2}
    assert data["space"]["objectives"] == ["val_accuracy", "activations"]
    _, out, _ = run_cli(capsys, "space", str(path), "--sample", "20", "--json")
    assert all(0 < row["activations"] <= 200_000 for row in json.loads(out))


def test_bad_space_file_names_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(Path(DIGITS).read_text().replace("cardinality: [1, 2, 4, 8]", "cardinality: [0, 2]"))
    code, out, err = run_cli(capsys, "space", str(path))
    assert code == 2 and out == ""
    assert (
        err.strip()
        == f"nas-resnext space: error: {path}: axes.cardinality.choices[0]: got 0; allowed: an integer >= 1"
    )


@pytest.mark.parametrize("command", ["count", "tradeoff", "space", "train", "search", "report"])
def test_help_has_examples(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0
    assert "examples:" in out and f"nas-resnext {command}" in out


# -- a space's reference -----------------------------------------------------------------------------


def test_a_spaces_reference_is_the_middle_of_each_axis_and_flags_override_it() -> None:
    space = DesignSpace.from_file(DIGITS)
    reference = space.reference_architecture()
    # depth 1,2 -> 1; width 8,16,24,32 -> 16; C 1,2,4,8 -> 2; d 2..16 (15 values) -> the 8th
    assert (reference.depths, reference.width, reference.cardinality) == ((1, 1, 1), 16, 2)
    assert reference.bottleneck_width == space.bottleneck_width.values[7]
    assert (reference.template, reference.in_channels, reference.resolution) == ("cifar", 1, 16)
    assert reference.stem_width == space.stem_width
    assert space.reference_architecture(width=32, cardinality=None).replace(width=16) == reference
    # A field the space leaves open follows the template, also a template given as an override.
    open_space = DesignSpace.from_dict({**space.to_dict(), "resolution": None, "num_classes": None})
    grown = open_space.reference_architecture(template="imagenet", depths=(1, 1, 1, 1))
    assert (grown.resolution, grown.num_classes) == (224, 1000)


def test_tradeoff_plan_on_a_space_starts_from_its_reference(capsys: pytest.CaptureFixture[str]) -> None:
    reference = DesignSpace.from_file(DIGITS).reference_architecture()
    code, out, _ = run_cli(capsys, "tradeoff", "--plan", DIGITS, "--cardinalities", "2,4", "--json")
    first = json.loads(out)["rows"][0]
    assert code == 0 and first["name"] == reference.name and first["width"] == 16
    code, out, _ = run_cli(
        capsys, "tradeoff", "--plan", DIGITS, "--cardinalities", "2,4", "--width", "8", "--json"
    )
    assert code == 0 and json.loads(out)["rows"][0]["name"] == reference.replace(width=8).name


# -- resuming a trade-off study (no training here: the bad input stops before it) ----------------------


def _study(tmp_path: Path, seeds: int = 2) -> Path:
    reference = Architecture("cifar", (1, 1, 1), width=4, bottleneck_width=2, stem_width=4, resolution=8)
    plan = TradeoffPlan.family(reference, "cardinality", [1, 2], "bottleneck_width", "flops", seeds=seeds)
    space = plan.design_space("study", "digits", None, TrainSettings(epochs=1))
    options = RunOptions(trials=plan.trials, sampler="grid", scheduler="fifo", seed=0)
    return create_tradeoff_run(tmp_path / "study", plan, space, options).path


def test_resume_tradeoff_grows_the_seeds_and_keeps_the_rest(tmp_path: Path) -> None:
    path = _study(tmp_path)
    run = RunDirectory(path)
    before = TradeoffPlan.load(run)
    plan, space, options = resume_tradeoff(run)
    assert plan == before and space == run.load_space() and options == run.load_options()
    plan, _, _ = resume_tradeoff(run, 3)
    assert plan.seeds == 3 and plan.members == before.members and TradeoffPlan.load(run) == plan
    with pytest.raises(ConfigError) as info:
        resume_tradeoff(run, 2)
    assert (info.value.field, info.value.value) == ("seeds", 2)
    assert TradeoffPlan.load(run).seeds == 3


def test_resume_tradeoff_refuses_a_search_run(tmp_path: Path) -> None:
    path = _study(tmp_path)
    RunDirectory(path).plan_file.unlink()  # what is left is a search's run directory
    with pytest.raises(ConfigError, match=r"--resume: got .*tradeoff\.json"):
        resume_tradeoff(RunDirectory(path))


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["tradeoff", "--resume", "{run}", "--seeds", "1"],
            "--seeds: got 1; allowed: at least the study's 2 seeds",
        ),
        (
            ["tradeoff", "--resume", "{run}", "--cardinalities", "1,2"],
            "--cardinalities: got '1,2'; allowed: only",
        ),
        (["tradeoff", "--resume", "{run}", "--cpus-per-trial", "-1"], "--cpus-per-trial: got -1.0"),
        (
            ["search", "--resume", "{run}", "--trials", "4"],
            "--trials: got 4; allowed: nothing for a trade-off",
        ),
        (["search", "--resume", "{run}", "--epochs", "4"], "--epochs: got 4; allowed: only --trials"),
    ],
)
def test_bad_resume_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    path = _study(tmp_path)
    files = {p.name: p.read_bytes() for p in path.iterdir()}
    code, out, err = run_cli(capsys, *(a.format(run=path) for a in argv))
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and line in err, err
    assert {p.name: p.read_bytes() for p in path.iterdir()} == files


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys)
    assert code == 2 and "COMMAND" in out


def test_run_tradeoff_leaves_the_callers_options_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _study(tmp_path)
    plan, space, options = resume_tradeoff(RunDirectory(path), 3)
    seen = []

    def fake_run_study(run, space, options, *args, **kwargs):  # records what the study would run with
        seen.append(options)
        return type("Outcome", (), {"trials": []})()

    monkeypatch.setattr(runner, "run_study", fake_run_study)
    runner.run_tradeoff(RunDirectory(path), plan, space, options, stream=None)
    assert seen[0].trials == plan.trials == 6 and options.trials == 4


# -- reachability of iso-complexity targets ------------------------------------------------------------

C3000 = ("tradeoff", "--plan", "--preset", "resnet50", "--cardinalities", "1,2,3000")
TINY = ("tradeoff", "--depths", "1,1,1", "--width", "16", "--stem-width", "16", "-C", "1", "-d", "16")


def test_tradeoff_plan_marks_unreachable_members_and_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, *C3000)
    assert code == 0
    assert out.splitlines() == [
        "Iso-complexity family of X-50-1x64d: vary cardinality, solve bottleneck_width, match params",
        "  reference X-50-1x64d: 25.56M params, 4.112 GFLOPs, 11.11M activations; target 25,557,032 params",
        "name          axis            C   d   C*d  width   depths   params  GFLOPs  activations       diff",
        "------------  -----------  ----  --  ----  -----  -------  -------  ------  -----------  ---------",
        "X-50-1x64d    cardinality     1  64    64     64  3,4,6,3   25.56M   4.112       11.11M     +0.00%",
        "X-50-2x40d    cardinality     2  40    80     64  3,4,6,3   25.43M   4.148       11.94M     -0.52%",
        "X-50-3000x1d  cardinality  3000   1  3000     64  3,4,6,3  452.58M  84.648      161.88M  +1670.87%!",
        "(diff: params relative to the target; GFLOPs: multiply-adds, fvcore convention, batch 1)",
        "! C=3000 cannot reach the target: bottleneck_width is at its minimum (1) and still +1670.87% from "
        "the target (tolerance 10%)",
    ]
    code, out, _ = run_cli(capsys, *C3000, "--tolerance", "17")
    assert code == 0 and "!" not in out and len(out.splitlines()) == 8


def test_tradeoff_plan_of_reachable_members_is_unmarked(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "tradeoff", "--plan", "--preset", "resnet50", "--cardinalities", "1,2,4,8,32"
    )
    assert code == 0 and "!" not in out
    assert out.splitlines()[-3:] == [
        "X-50-8x14d  cardinality   8  14  112     64  3,4,6,3  25.60M   4.295       13.58M  +0.18%",
        "X-50-32x4d  cardinality  32   4  128     64  3,4,6,3  25.03M   4.259       14.40M  -2.07%",
        "(diff: params relative to the target; GFLOPs: multiply-adds, fvcore convention, batch 1)",
    ]


def test_tradeoff_plan_json_says_which_members_are_reachable(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, *C3000, "--json")
    rows = json.loads(out)["rows"]
    assert code == 0 and [r["reachable"] for r in rows] == [True, True, False]
    assert list(rows[2]) == [
        *("name", "axis", "depths", "width", "cardinality", "bottleneck_width", "group_width"),
        *("params", "flops", "activations", "rel_diff", "reachable"),
    ]
    code, out, _ = run_cli(capsys, *C3000, "--json", "--tolerance", "17")
    assert code == 0 and all(r["reachable"] for r in json.loads(out)["rows"])
    code, out, _ = run_cli(
        capsys, "tradeoff", "--plan", "--preset", "resnet50", "--target", "1000000000", "--json"
    )
    assert code == 0 and [r["reachable"] for r in json.loads(out)["rows"]] == [False] * 4


def test_tradeoff_spending_plan_marks_axes_that_cannot_reach_the_target(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run_cli(capsys, "tradeoff", "--plan", "--preset", "resnet50", "--target", "1000000000")
    lines = out.splitlines()
    assert code == 0 and sum(line.endswith("%!") for line in lines) == 4
    assert lines[-1].startswith(
        "! bottleneck_width cannot reach the target: bottleneck_width is at its maximum"
    )


@pytest.mark.parametrize("value", ["-1", "abc", "nan"])
@pytest.mark.parametrize("plan", [True, False])
def test_bad_tolerance_is_one_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    plan: bool,
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = [*TINY, "--cardinalities", "1,2", "--tolerance", value, *(["--plan"] if plan else [])]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"nas-resnext tradeoff: error: --tolerance: got '{value}'; allowed: a number >= 0")
    assert list(tmp_path.iterdir()) == []


def test_tradeoff_refuses_to_train_unreachable_members(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *TINY, "--cardinalities", "1,2,300,400", "--run-dir", "study")
    assert code == 2 and out == "" and len(err.splitlines()) == 1, err
    assert err.startswith(
        "nas-resnext tradeoff: error: --cardinalities: got '300,400'; allowed: values whose members can "
        "reach the target within --tolerance 0.1 (C=300: bottleneck_width is at its minimum (1) and still "
        "+"
    ), err
    assert "C=400: bottleneck_width is at its minimum (1)" in err and "or --tolerance " in err
    assert list(tmp_path.iterdir()) == []
    # With the tolerance it names, the family passes and the next check speaks: the run directory is taken.
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "keep.txt").write_text("mine")
    needed = err.split("or --tolerance ")[1].split()[0]
    code, _, err = run_cli(
        capsys, *TINY, "--cardinalities", "1,2,300,400", "--run-dir", "study", "--tolerance", needed
    )
    assert code == 2 and err.startswith("nas-resnext tradeoff: error: --run-dir: got 'study'"), err


def test_tradeoff_refuses_a_spending_plan_that_misses_its_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, *TINY, "--target", "1000000000", "--run-dir", str(tmp_path / "s"))
    assert code == 2 and out == "" and len(err.splitlines()) == 1, err
    assert err.startswith("nas-resnext tradeoff: error: --target: got '1000000000'; allowed: "), err
    assert "depth: depth is at its maximum" in err and not (tmp_path / "s").exists()
