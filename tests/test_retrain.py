"""Final retraining: a real search's trial trained again on the whole training split and scored once on the
test split; the Wilson interval; bad input refused before anything is written."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import NAS, write_tiny_space
from test_export import accuracy, run_cli

import nas_resnext
from nas_resnext.architecture import Architecture
from nas_resnext.data.registry import load_dataset
from nas_resnext.retrain import trial_settings, wilson_interval
from nas_resnext.rundir import RunDirectory
from nas_resnext.training import train_candidate


@pytest.mark.parametrize(
    ("correct", "total", "confidence", "expected"),
    [
        # Values from the closed form (Wilson 1927; Newcombe 1998, Table I: 81/263 -> 0.2553-0.3662).
        (81, 263, 0.95, (0.2553, 0.3662)),
        (15, 148, 0.95, (0.0624, 0.1605)),
        (0, 20, 0.95, (0.0, 0.1611)),
        (20, 20, 0.95, (0.8389, 1.0)),
    ],
)
def test_wilson_interval_matches_published_values(
    correct: int, total: int, confidence: float, expected: tuple[float, float]
) -> None:
    low, high = wilson_interval(correct, total, confidence)
    assert (low, high) == pytest.approx(expected, abs=1e-4)


def test_wilson_interval_narrows_with_more_images_and_widens_with_confidence() -> None:
    few, many = wilson_interval(90, 100), wilson_interval(900, 1000)
    assert few[0] < many[0] < 0.9 < many[1] < few[1]
    assert wilson_interval(90, 100, 0.99)[0] < few[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real two-trial search of the tiny digits space (local Ray)."""
    folder = tmp_path_factory.mktemp("retrain")
    run = folder / "run"
    argv = [NAS, "search", str(write_tiny_space(folder)), "--trials", "2", "--run-dir", str(run), "--json"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False, cwd=folder)
    assert result.returncode == 0, result.stderr
    yield run


@pytest.mark.ray
def test_retrain_trains_on_the_whole_training_split_and_scores_the_test_split_once(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "final"
    argv = ["retrain", str(run_dir), "--trial", "1", "--epochs", "3", "-o", str(out_dir), "--json"]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    report = json.loads(out)
    run = RunDirectory.open(run_dir, flag="RUN")
    trial = run.load_trials()[1]
    arch = Architecture.from_dict(trial.user_attrs["architecture"])
    settings = trial_settings(run, 1).replace(epochs=3)
    assert report["name"] == arch.name and report["settings"] == settings.to_dict()
    assert report["interval_method"].startswith("Wilson") and report["confidence"] == 0.95
    # All 1,438 training images (the validation part included) trained; the 359 test images scored.
    whole = load_dataset(
        "digits", None, arch.resolution, settings, include_test=True, hold_out_validation=False
    )
    assert (
        (report["train_images"], report["test_images"]) == (len(whole.train), len(whole.test)) == (1438, 359)
    )
    # The weights are those of the same training done here, and score the reported test accuracy.
    model = nas_resnext.load_model(out_dir)
    reference = train_candidate(arch, whole, settings, measure=False, keep_model=True, validate=False)
    for name, tensor in reference.model.state_dict().items():
        assert torch.equal(tensor.cpu(), model.state_dict()[name]), name
    assert accuracy(model, whole.test) == pytest.approx(report["test_accuracy"], abs=1e-12)
    correct = round(report["test_accuracy"] * 359)
    assert report["test_interval"] == pytest.approx(list(wilson_interval(correct, 359)))
    card = (out_dir / "README.md").read_text()
    assert "Wilson interval" in card and "scored once after the final retraining" in card
    assert "validation accuracy: none" in card
    assert json.loads((out_dir / "preprocessing.json").read_text())["mean"] == pytest.approx(list(whole.mean))
    assert report["onnx_max_abs_diff"] < 1e-3


@pytest.mark.ray
def test_retrain_writes_to_the_run_by_default_and_says_what_it_reads(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys, "retrain", str(run_dir), "--trial", "0", "--epochs", "1", "--format", "pt"
    )
    assert code == 0, err
    assert "The test split is read once, after training (no other command reads it)" in out
    assert "95% Wilson interval" in out
    (directory,) = (run_dir / "retrained").iterdir()
    assert directory.name.startswith("trial_00000_")
    assert sorted(p.name for p in directory.iterdir()) == [
        "README.md",
        "architecture.json",
        "preprocessing.json",
        "weights.pt",
    ]


@pytest.mark.ray
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--trial", "7"], "--trial: got 7; allowed: a trial of"),
        (["--trial", "0", "--format", "pt,tflite"], "--format: got 'pt,tflite'"),
        (["--trial", "0", "--confidence", "1.5"], "--confidence: got 1.5"),
        (["--trial", "0", "--init", "missing.pt"], "--init: got 'missing.pt'"),
        (["--trial", "0", "--lr", "-1"], "--lr: got -1"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    before = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*"))
    out_dir = tmp_path / "out"
    code, _, err = run_cli(capsys, "retrain", str(run_dir), *flags, "-o", str(out_dir))
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not out_dir.exists()
    assert sorted(p.relative_to(run_dir) for p in run_dir.rglob("*")) == before


@pytest.mark.ray
def test_a_non_empty_output_directory_is_refused(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    code, _, err = run_cli(capsys, "retrain", str(run_dir), "--trial", "0", "-o", str(tmp_path / "taken"))
    assert code == 2 and "--output" in err and "a new or empty directory" in err
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]
