"""``nas-resnext train``: the documented digits command, JSON keys, progress output and bad input."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import sys
from pathlib import Path

import pytest
import torch

from nas_resnext.architecture import Architecture
from nas_resnext.cli import main
from nas_resnext.complexity import count_analytic
from nas_resnext.data.catalog import DATASETS
from nas_resnext.settings import TrainSettings

# The README's command: a small cifar-template ResNeXt on the bundled digits, trained as the digits data set
# recommends (no training flags).
DIGITS_COMMAND = [
    *("train", "--template", "cifar", "--depths", "1,1,1", "--width", "16", "-C", "4", "-d", "4"),
    *("--stem-width", "16"),
]
DIGITS_TRAINING = DATASETS["digits"].recommended_training
TINY = [
    "train",
    "--template",
    "cifar",
    "--depths",
    "1,1,1",
    "--width",
    "4",
    "-C",
    "2",
    "-d",
    "2",
    "--stem-width",
    "8",
]
JSON_KEYS = {"val_accuracy", "params", "flops", "latency_ms", "epochs", "train_seconds", "state"}


def test_documented_digits_command_reaches_97_percent_on_the_data_sets_defaults(capsys) -> None:
    assert main([*DIGITS_COMMAND, "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert captured.err == ""  # no progress bar with --json
    assert result.keys() >= JSON_KEYS
    epochs = DIGITS_TRAINING["epochs"]
    assert result["state"] == "complete" and result["epochs"] == epochs
    # 98.62% measured (seed 0; 97.93-99.31% over seeds 0-3); the trainer's own defaults reach 90.34% here.
    assert result["val_accuracy"] >= 0.97
    assert result["dataset"] == "digits" and result["val_images"] == 145
    assert result["architecture"]["in_channels"] == 1 and result["architecture"]["resolution"] == 16
    assert result["params"] == 91066 and result["flops"] > 0 and result["latency_ms"] > 0
    arch = Architecture.from_dict(result["architecture"])
    assert result["activations"] == count_analytic(arch).activations
    assert len(result["history"]) == epochs
    assert result["settings"] == TrainSettings(**DIGITS_TRAINING).to_dict()
    assert result["settings_source"] == {
        f.name: "dataset" if f.name in DIGITS_TRAINING else "default"
        for f in dataclasses.fields(TrainSettings)
    }


@pytest.mark.slow
def test_train_without_flags_gives_a_good_model_of_the_digits(capsys) -> None:
    """The first command a user types: the default architecture (the cifar template's X-29-1x64d, 4.9M
    params at 16 px) on the default data set with its recommended training."""
    assert main(["train", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["name"] == "X-29-1x64d-r16-i1" and result["epochs"] == DIGITS_TRAINING["epochs"]
    # 98.62% measured (seed 0); TrainSettings' defaults reached 91.72% in 10 epochs.
    assert result["state"] == "complete" and result["val_accuracy"] >= 0.97


PROGRESS_LINE = re.compile(
    r"epoch (\d+)/2  train loss \d+\.\d{3}  val loss \d+\.\d{3}  val acc \d+\.\d{2}%  [\d,]+ img/s  \d+ s"
)


def test_text_output_and_progress_bar(capsys) -> None:
    argv = [*TINY, "--dataset", "synthetic", "--resolution", "8", "--epochs", "2", "--num-classes", "3"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    # Not a terminal: one plain line per epoch, no carriage returns to run the lines together in a log.
    assert "\r" not in captured.err
    lines = captured.err.splitlines()
    assert [PROGRESS_LINE.fullmatch(line).group(1) for line in lines] == ["1", "2"], captured.err
    for label in (
        "val accuracy",
        "params",
        "FLOPs",
        "activations",
        "latency",
        "ms at batch 1",
        "training",
        "total time",
    ):
        assert label in captured.out
    assert captured.out.startswith("X-11-2x2d-w4-s8-r8-k3  on synthetic")

    assert main([*argv, "-q"]) == 0
    assert capsys.readouterr().err == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_one_live_bar(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("COLUMNS", "160")
    argv = [*TINY, "--dataset", "synthetic", "--resolution", "8", "--epochs", "2", "--num-classes", "3"]
    assert main(argv) == 0
    drawn = terminal.getvalue()
    assert drawn.count("\n") == 1 and drawn.endswith("\n")  # every redraw returns to the start of one line
    final = drawn.rstrip("\n").split("\r")[-1]
    assert final.startswith("[####################] epoch 2/2  train loss ") and " img/s " in final
    assert "val acc" in final and final.endswith(" s")
    assert capsys.readouterr().out.startswith("X-11-2x2d-w4-s8-r8-k3  on synthetic")


def help_entries(text: str) -> dict[str, str]:
    """``--help`` entries by their first option, with wrapped help lines joined."""
    entries: dict[str, str] = {}
    option = None
    for line in text.splitlines():
        if line.startswith("  -"):
            option = line.split()[0].rstrip(",")
            entries[option] = line.strip()
        elif option and line.startswith("   ") and line.strip():
            entries[option] += " " + line.strip()
        else:
            option = None
    return entries


def _shown(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def test_help_shows_the_trainers_defaults_and_the_data_sets(capsys) -> None:
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "training (defaults: the data set's recommendations, else the trainer's)" in out
    entries = help_entries(out)
    defaults = TrainSettings()
    for field in dataclasses.fields(TrainSettings):
        value = getattr(defaults, field.name)
        if value is None or isinstance(value, (bool, tuple)):  # switches, lists, unset paths: no default
            continue
        flag = "--" + field.name.replace("_", "-")
        shown = " ".join(entries[flag].split())
        recommended = DIGITS_TRAINING.get(field.name, value)
        if recommended == value:
            assert f"(default {_shown(value)})" in shown, shown
        else:  # e.g. "(default 0.1; digits: 0.2)"
            assert f"(default {_shown(value)}; digits: {_shown(recommended)})" in shown, shown


def test_training_flags_reach_the_trainer(capsys) -> None:
    argv = [
        *TINY, "--dataset", "synthetic", "--resolution", "8", "--epochs", "2", "--batch-size", "16",
        "--lr", "0.02", "--momentum", "0.8", "--no-nesterov", "--weight-decay", "0.001", "--schedule", "step",
        "--step-milestones", "1", "--step-gamma", "0.5", "--warmup-epochs", "0", "--label-smoothing", "0.1",
        "--val-fraction", "0.2", "--seed", "3", "--device", "cpu", "--autotune", "on", "--threads", "2",
        "--latency-batch", "4", "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["settings"] == {
        "epochs": 2, "batch_size": 16, "lr": 0.02, "momentum": 0.8, "nesterov": False, "weight_decay": 0.001,
        "schedule": "step", "warmup_epochs": 0, "step_milestones": [1], "step_gamma": 0.5,
        "label_smoothing": 0.1, "val_fraction": 0.2, "seed": 3, "device": "cpu", "compile": False,
        "autotune": "on", "init": None,
    }  # fmt: skip
    assert result["history"][1]["lr"] == pytest.approx(0.01)
    assert {name for name, source in result["settings_source"].items() if source != "flag"} == {
        "compile",
        "init",
    }
    assert result["latency_batch_size"] == 4 and result["latency"]["batch_size"] == 4


def test_flags_beat_the_data_sets_recommendations(capsys) -> None:
    assert {"epochs", "lr", "batch_size"} <= DIGITS_TRAINING.keys()
    assert main([*TINY, "--resolution", "8", "--epochs", "1", "--lr", "0.01", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    settings, sources = result["settings"], result["settings_source"]
    assert (settings["epochs"], settings["lr"], sources["epochs"], sources["lr"]) == (1, 0.01, "flag", "flag")
    assert (settings["batch_size"], sources["batch_size"]) == (DIGITS_TRAINING["batch_size"], "dataset")
    assert (settings["seed"], sources["seed"]) == (0, "default")


def test_cifar_directory_from_the_command_line(tmp_path: Path, capsys) -> None:
    from test_data import write_cifar10

    write_cifar10(tmp_path, per_batch=20)
    argv = [*TINY, "--dataset", "cifar10", "--data-dir", str(tmp_path), "--epochs", "1", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["train_images"] + result["val_images"] == 100
    assert result["architecture"]["in_channels"] == 3 and result["architecture"]["resolution"] == 32


def test_a_diverged_candidate_exits_1_with_its_state(capsys) -> None:
    argv = [*TINY, "--dataset", "synthetic", "--resolution", "8", "--epochs", "2", "--lr", "1e30", "--json"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["state"] == "diverged"
    assert captured.err.startswith("nas-resnext train: diverged: non-finite loss")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--epochs", "0"], "--epochs: got 0; allowed: an integer >= 1"),
        (["--lr", "-1"], "--lr: got -1.0; allowed: a number > 0"),
        (["--in-channels", "3"], "--in-channels: got 3; allowed: 1 (what the digits data set holds)"),
        (["--num-classes", "5"], "--num-classes: got 5; allowed: 10 (what the digits data set holds)"),
        (["--cardinality", "0"], "--cardinality: got 0; allowed: an integer >= 1"),
        (["--dataset", "cifar10"], "--data-dir: got None; allowed: a path for the cifar10 data set"),
        (["--dataset", "cifar10", "--data-dir", "/no/such/dir"], "--data-dir: got '/no/such/dir'"),
        (["--dataset", "imagefolder", "--data-dir", "/no/such/dir"], "train/<class>/<image>"),
        (["--step-milestones", "x"], "--step-milestones: got 'x'"),
        (["--threads", "0"], "--threads: got 0"),
        (["--dataset", "mnist"], "argument --dataset: invalid choice: 'mnist'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, extra: list[str], message: str) -> None:
    assert main([*TINY, *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_bad_input(capsys) -> None:
    assert main([*TINY, "--device", "cuda"]) == 2
    assert (
        "--device: got 'cuda'; allowed: auto | cpu (no CUDA device is available here)"
        in capsys.readouterr().err
    )
