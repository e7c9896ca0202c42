"""``nas-resnext train``: the documented digits command, JSON keys, progress output and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nas_resnext.cli import main

# The README's command: a small cifar-template ResNeXt on the bundled digits.
DIGITS_COMMAND = [
    *("train", "--template", "cifar", "--depths", "1,1,1", "--width", "16", "-C", "4", "-d", "4"),
    *("--stem-width", "16", "--epochs", "8", "--batch-size", "32", "--lr", "0.05"),
]
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


def test_documented_digits_command_reaches_95_percent(capsys) -> None:
    assert main([*DIGITS_COMMAND, "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert captured.err == ""  # no progress bar with --json
    assert result.keys() >= JSON_KEYS
    assert result["state"] == "complete" and result["epochs"] == 8
    assert result["val_accuracy"] >= 0.95
    assert result["dataset"] == "digits" and result["val_images"] == 179
    assert result["architecture"]["in_channels"] == 1 and result["architecture"]["resolution"] == 16
    assert result["params"] == 91066 and result["flops"] > 0 and result["latency_ms"] > 0
    assert len(result["history"]) == 8


def test_text_output_and_progress_bar(capsys) -> None:
    argv = [*TINY, "--dataset", "synthetic", "--resolution", "8", "--epochs", "2", "--num-classes", "3"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "epoch 1/2" in captured.err and "epoch 2/2" in captured.err and "val acc" in captured.err
    for label in ("val accuracy", "params", "FLOPs", "latency", "ms at batch 1", "training", "total time"):
        assert label in captured.out
    assert captured.out.startswith("X-11-2x2d-w4-s8-r8-k3  on synthetic")

    assert main([*argv, "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_training_flags_reach_the_trainer(capsys) -> None:
    argv = [
        *TINY, "--dataset", "synthetic", "--resolution", "8", "--epochs", "2", "--batch-size", "16",
        "--lr", "0.02", "--momentum", "0.8", "--no-nesterov", "--weight-decay", "0.001", "--schedule", "step",
        "--step-milestones", "1", "--step-gamma", "0.5", "--warmup-epochs", "0", "--label-smoothing", "0.1",
        "--val-fraction", "0.2", "--seed", "3", "--device", "cpu", "--threads", "2", "--latency-batch", "4",
        "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["settings"] == {
        "epochs": 2, "batch_size": 16, "lr": 0.02, "momentum": 0.8, "nesterov": False, "weight_decay": 0.001,
        "schedule": "step", "warmup_epochs": 0, "step_milestones": [1], "step_gamma": 0.5,
        "label_smoothing": 0.1, "val_fraction": 0.2, "seed": 3, "device": "cpu", "compile": False,
    }  # fmt: skip
    assert result["history"][1]["lr"] == pytest.approx(0.01)
    assert result["latency_batch_size"] == 4 and result["latency"]["batch_size"] == 4


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
