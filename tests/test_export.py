"""Exported model directories: written whole or not at all, loaded back exactly, every format checked.

Models are really trained on the embedded digits data (8 px, a few thousand parameters); run directories
hold a real Optuna study and kept weights in the layout ``RunDirectory`` defines.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import optuna
import pytest
import torch
from conftest import NAS, write_tiny_space
from optuna.trial import TrialState

import nas_resnext
from nas_resnext import (
    Architecture,
    ConfigError,
    TrainSettings,
    count_analytic,
    load_dataset,
    train_candidate,
)
from nas_resnext.cli import main
from nas_resnext.data.datasets import Split, TrainingData
from nas_resnext.export import ExportCheckError, ExportResult, export_front, export_model, export_trial
from nas_resnext.export.bundle import FORMATS, parse_formats
from nas_resnext.export.formats import check_inputs
from nas_resnext.export.from_run import front_trials, numbers_text
from nas_resnext.rundir import RunDirectory, RunOptions
from nas_resnext.search.study import open_study
from nas_resnext.space import DesignSpace

ARCH = Architecture(
    "cifar",
    depths=(1, 1, 1),
    width=4,
    cardinality=2,
    bottleneck_width=2,
    stem_width=4,
    resolution=8,
    in_channels=1,
)
SETTINGS = TrainSettings(epochs=2, batch_size=64, lr=0.2, val_fraction=0.2, device="cpu")


@dataclass
class Trained:
    """A really trained model and what its training recorded."""

    arch: Architecture
    data: TrainingData
    settings: TrainSettings
    model: torch.nn.Module
    val_accuracy: float
    info: dict[str, Any]


def train(arch: Architecture, settings: TrainSettings, data: TrainingData) -> Trained:
    result = train_candidate(arch, data, settings, keep_model=True)
    assert result.state == "complete" and result.model is not None, result.error
    assert result.latency is not None and result.val_accuracy is not None
    # What a search keeps beside the weights (see nas_resnext.search.trial and kept_weights).
    info = {
        "name": arch.name,
        "architecture": arch.to_dict(),
        "dataset": data.name,
        "resolution": arch.resolution,
        "in_channels": arch.in_channels,
        "num_classes": arch.num_classes,
        "mean": list(data.mean),
        "std": list(data.std),
        "training": settings.to_dict(),
        "seed": settings.seed,
        "device": result.device,
        "latency_ms": result.latency.single_ms,
        "latency_batch_ms": result.latency.batch_ms,
        "latency_batch_size": result.latency.batch_size,
        "latency_device": f"{result.latency.device}, {result.latency.precision}",
        "epochs": result.epochs,
        "val_accuracy": result.val_accuracy,
        "flops": count_analytic(arch).flops,
        "params": count_analytic(arch).params,
    }
    return Trained(arch, data, settings, result.model.cpu().eval(), result.val_accuracy, info)


def accuracy(model: torch.nn.Module, split: Split) -> float:
    """Argmax accuracy in fp32 on the CPU, computed here rather than by the trainer."""
    with torch.no_grad():
        predicted = torch.cat([model(images).argmax(dim=1) for images in split.images.split(100)])
    return (predicted == split.labels).sum().item() / len(split)


@pytest.fixture(scope="module")
def digits() -> TrainingData:
    return load_dataset("digits", resolution=8, settings=SETTINGS, in_channels=1)


@pytest.fixture(scope="module")
def trained(digits: TrainingData) -> Trained:
    return train(ARCH, SETTINGS, digits)


@pytest.fixture(scope="module")
def exported(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    out = tmp_path_factory.mktemp("export") / "model"
    return export_model(out, trained.arch, trained.model.state_dict(), trained.info)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- one model directory ---------------------------------------------------------------------------------


def test_the_directory_holds_every_file_and_loads_in_eval_mode(
    exported: ExportResult, trained: Trained
) -> None:
    names = [p.name for p in exported.files]
    assert names == [
        "architecture.json",
        "weights.pt",
        "preprocessing.json",
        "model.torchscript.pt",
        "model.onnx",
        "README.md",
    ]
    assert sorted(p.name for p in exported.directory.iterdir()) == sorted(names)
    assert not [p for p in exported.directory.parent.iterdir() if p.name.startswith(".")]  # no staging left
    model = nas_resnext.load_model(exported.directory)
    assert not model.training and all(not m.training for m in model.modules())
    images = trained.data.val.images
    with torch.no_grad():
        # The trainer keeps its model channels-last; the loaded one is contiguous: other kernels, same sums.
        torch.testing.assert_close(model(images), trained.model(images), rtol=0, atol=1e-5)


def test_load_model_reproduces_the_accuracy_training_recorded(
    exported: ExportResult, trained: Trained
) -> None:
    model = nas_resnext.load_model(exported.directory)
    assert accuracy(model, trained.data.val) == trained.val_accuracy
    assert trained.val_accuracy > 0.2  # it learned something: ten classes are 0.1 by chance


def test_the_json_files_and_the_weights(exported: ExportResult, trained: Trained) -> None:
    directory = exported.directory
    architecture = json.loads((directory / "architecture.json").read_text())
    assert architecture == {"name": ARCH.name, "architecture": ARCH.to_dict()}
    assert Architecture.from_dict(architecture["architecture"]) == ARCH
    weights = torch.load(directory / "weights.pt", weights_only=True)
    expected = trained.model.state_dict()
    assert weights.keys() == expected.keys()
    assert all(torch.equal(weights[k], expected[k]) and weights[k].device.type == "cpu" for k in weights)
    prep = json.loads((directory / "preprocessing.json").read_text())
    assert prep["resolution"] == 8 and prep["in_channels"] == 1 and prep["num_classes"] == 10
    assert prep["dataset"] == "digits" and prep["layout"] == "NCHW"
    assert prep["mean"] == list(trained.data.mean) and prep["std"] == list(trained.data.std)
    for step in ("8 x 8", "[0, 1]", "subtract mean", "divide by std"):
        assert step in prep["description"]


def test_onnx_runtime_matches_torch_and_the_reported_difference(
    exported: ExportResult, trained: Trained
) -> None:
    session = onnxruntime.InferenceSession(
        str(exported.directory / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    assert [i.name for i in session.get_inputs()] == ["images"]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    assert session.get_inputs()[0].shape == ["batch", 1, 8, 8]
    # The reported figure, recomputed: the check's seeded batch of 4 through ONNX Runtime and torch.
    inputs = check_inputs(1, 8)
    assert inputs.shape == (4, 1, 8, 8)
    (logits,) = session.run(None, {"images": inputs.numpy()})
    with torch.no_grad():
        expected = nas_resnext.load_model(exported.directory)(inputs).numpy()
    difference = float(np.abs(logits.astype(np.float64) - expected).max())
    assert exported.onnx_max_abs_diff == pytest.approx(difference, abs=1e-9)
    assert exported.onnx_max_abs_diff < 1e-4
    # The batch axis is dynamic: the whole validation split in one call, predicting what torch predicts.
    (val_logits,) = session.run(None, {"images": trained.data.val.images.numpy()})
    with torch.no_grad():
        torch_logits = trained.model(trained.data.val.images).numpy()
    np.testing.assert_allclose(val_logits, torch_logits, atol=1e-4)
    predicted = torch.from_numpy(val_logits).argmax(dim=1)
    assert (predicted == trained.data.val.labels).float().mean().item() == pytest.approx(trained.val_accuracy)


def test_torchscript_matches_torch(exported: ExportResult, trained: Trained) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", DeprecationWarning
        )  # torch 2.9+ deprecates torch.jit for torch.export
        scripted = torch.jit.load(str(exported.directory / "model.torchscript.pt"))
    images = trained.data.val.images
    with torch.no_grad():
        torch.testing.assert_close(
            scripted(images), nas_resnext.load_model(exported.directory)(images), rtol=0, atol=1e-6
        )
    assert exported.torchscript_max_abs_diff is not None and exported.torchscript_max_abs_diff < 1e-6


def test_the_card_names_metrics_cost_latency_training_and_usage(
    exported: ExportResult, trained: Trained
) -> None:
    card = (exported.directory / "README.md").read_text()
    complexity = count_analytic(ARCH)
    assert card.startswith(f"# {ARCH.name}\n")
    assert f"validation accuracy {trained.val_accuracy:.4f}" in card
    assert "20% of each class held out of the digits training split" in card
    assert "test accuracy: not measured" in card
    assert f"{complexity.flops:,}" in card and "multiply-adds, fvcore convention" in card
    assert f"{complexity.params:,}" in card
    assert f"activations: {complexity.activations:,}" in card and "(pycls), batch 1" in card
    assert (
        f"{trained.info['latency_ms']:.3f} ms at batch 1" in card and trained.info["latency_device"] in card
    )
    assert "epochs trained: 2" in card and "- seed: 0" in card
    assert "ONNX Runtime (CPU) max abs difference" in card
    for name in ("architecture.json", "weights.pt", "preprocessing.json", "model.onnx"):
        assert f"`{name}`" in card
    # The usage example runs as written and loads this directory.
    code = re.search(r"```python\n(.*?)```", card, re.S)
    assert code is not None and len(code.group(1).strip().splitlines()) == 5
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)
    assert namespace["predicted"].shape == (4,)


def test_the_card_shows_test_accuracy_and_origin_when_given(trained: Trained, tmp_path: Path) -> None:
    info = {**trained.info, "test_accuracy": 0.875, "run": "runs/tiny", "trial": 7, "weights_trial": 3}
    result = export_model(tmp_path / "m", ARCH, trained.model.state_dict(), info, formats="pt")
    card = (result.directory / "README.md").read_text()
    assert "test accuracy 0.8750 (87.50%) on the digits test split" in card
    assert "run directory: runs/tiny" in card and "trial 7" in card
    assert "weights trained in trial 3 (trial 7 reused its result)" in card


def test_pt_alone_writes_no_deployable_files(trained: Trained, tmp_path: Path) -> None:
    result = export_model(tmp_path / "m", ARCH, trained.model.state_dict(), trained.info, formats=["pt"])
    assert [p.name for p in result.files] == [
        "architecture.json",
        "weights.pt",
        "preprocessing.json",
        "README.md",
    ]
    assert result.onnx_max_abs_diff is None and result.torchscript_max_abs_diff is None


@pytest.mark.parametrize(
    ("text", "formats"),
    [
        ("pt,torchscript,onnx", FORMATS),
        ("onnx", ("pt", "onnx")),
        ("onnx, PT", ("pt", "onnx")),
        ("torchscript,torchscript", ("pt", "torchscript")),
    ],
)
def test_formats_are_parsed_into_canonical_order(text: str, formats: tuple[str, ...]) -> None:
    assert parse_formats(text) == formats


@pytest.mark.parametrize("text", ["", "tflite", "pt,,onnx", "pt,safetensors"])
def test_unknown_formats_are_refused_naming_the_allowed_ones(text: str) -> None:
    with pytest.raises(ConfigError, match="pt, torchscript, onnx"):
        parse_formats(text)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"formats": "pt,tflite"}, "formats"),
        ({"info": {"dataset": "digits", "std": [0.3]}}, "info.mean"),
        ({"info": {"dataset": "digits", "mean": [0.1, 0.2], "std": [0.3, 0.4]}}, "info.mean"),
        ({"info": {"dataset": "digits", "mean": [0.1], "std": [0.0]}}, "info.std"),
        ({"info": {"dataset": "digits", "mean": [0.1], "std": [0.3], "resolution": 16}}, "info.resolution"),
        ({"arch": ARCH.replace(width=8)}, f"weights of {ARCH.replace(width=8).name}"),
    ],
)
def test_bad_input_is_a_config_error_and_writes_nothing(
    trained: Trained, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    arguments = {"arch": ARCH, "state_dict": trained.model.state_dict(), "info": trained.info, **change}
    with pytest.raises(ConfigError, match=re.escape(message)):
        export_model(tmp_path / "new" / "model", **arguments)
    assert leftovers(tmp_path) == []


def test_an_output_directory_with_files_is_refused(trained: Trained, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="a new or empty directory"):
        export_model(tmp_path, ARCH, trained.model.state_dict(), trained.info)
    assert leftovers(tmp_path) == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    result = export_model(empty, ARCH, trained.model.state_dict(), trained.info, formats="pt")
    assert result.directory == empty and (empty / "weights.pt").is_file()


def test_a_failed_check_leaves_nothing(trained: Trained, tmp_path: Path) -> None:
    # Weights whose outputs no runtime can match (NaN) fail the ONNX Runtime check after files were written.
    state = {k: v.clone() for k, v in trained.model.state_dict().items()}
    state["fc.weight"][0, 0] = float("nan")
    with pytest.raises(ExportCheckError, match="ONNX Runtime"):
        export_model(tmp_path / "a" / "b" / "model", ARCH, state, trained.info, formats="pt,onnx")
    assert leftovers(tmp_path) == []  # the staging directory and the parents made for it are gone


@pytest.mark.parametrize("damage", ["missing", "no weights", "bad json", "bad architecture", "other weights"])
def test_load_model_refuses_what_is_not_a_model_directory(
    exported: ExportResult, tmp_path: Path, damage: str, trained: Trained
) -> None:
    directory = tmp_path / "model"
    if damage != "missing":
        shutil.copytree(exported.directory, directory)
    if damage == "no weights":
        (directory / "weights.pt").unlink()
    elif damage == "bad json":
        (directory / "architecture.json").write_text("{not json")
    elif damage == "bad architecture":
        data = json.loads((directory / "architecture.json").read_text())
        data["architecture"]["cardinality"] = 0
        (directory / "architecture.json").write_text(json.dumps(data))
    elif damage == "other weights":
        other = replace(trained.model.arch, width=8)
        torch.save(nas_resnext.build_model(other).state_dict(), directory / "weights.pt")
    with pytest.raises(ConfigError):
        nas_resnext.load_model(directory)


# -- a run directory with kept weights ---------------------------------------------------------------------


@dataclass
class Run:
    run: RunDirectory
    data: TrainingData
    front: list[int]  # trial numbers on the front, all with kept weights
    trained: dict[int, Trained]


def _complete(arch: Architecture, accuracy_: float, seed: int, **attrs: Any) -> optuna.trial.FrozenTrial:
    complexity = count_analytic(arch)
    history = [{"epoch": 1, "val_accuracy": accuracy_}, {"epoch": 2, "val_accuracy": accuracy_}]
    return optuna.trial.create_trial(
        state=TrialState.COMPLETE,
        values=[accuracy_, complexity.flops],
        user_attrs={
            "name": arch.name,
            "architecture": arch.to_dict(),
            "flops": complexity.flops,
            "params": complexity.params,
            "val_accuracy": accuracy_,
            "seed": seed,
            "epochs": 2,
            "history": history,
            **attrs,
        },
    )


def _keep(run: RunDirectory, number: int, trained: Trained) -> None:
    """The kept weights of trial ``number``, as the search writes them (RunDirectory's paths and keys)."""
    run.weights_dir.mkdir(exist_ok=True)
    torch.save(trained.model.state_dict(), run.weights_file(number))
    info = {**trained.info, "trial": number, "state": "COMPLETE"}
    run.weights_info_file(number).write_text(json.dumps(info, indent=2))


@pytest.fixture(scope="module")
def run_with_weights(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Trials 0-5 of a tiny digits search: 0 and 1 trained for real and kept (the front, unless one
    dominates the other), 2 a dominated COMPLETE one, 3 PRUNED, 4 FAIL, 5 a reused copy of trial 1."""
    folder = tmp_path_factory.mktemp("runs")
    space = DesignSpace.from_file(write_tiny_space(folder))
    run = RunDirectory.create(
        folder / "run", space, RunOptions(trials=6, sampler="random", scheduler="fifo", seed=0)
    )
    data = load_dataset("digits", resolution=8, settings=space.training, in_channels=1)
    small, large = space.smallest(), space.largest()
    trained = {0: train(large, space.training, data), 1: train(small, space.training, data)}
    study = open_study(run.storage_url, space.name, space.objectives, sampler=None)
    study.add_trial(_complete(large, trained[0].val_accuracy, 0))
    study.add_trial(_complete(small, trained[1].val_accuracy, 0))
    middle = small.replace(width=4)
    assert middle.name not in (small.name, large.name)
    # Trained to nothing and larger than the small one: dominated, so its weights were not kept.
    study.add_trial(_complete(middle, 0.0, 0))
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.PRUNED,
            user_attrs={"name": large.name, "epochs": 1, "history": [{"epoch": 1, "val_accuracy": 0.1}]},
        )
    )
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.FAIL, user_attrs={"name": small.name, "error": "out of memory on cuda: ..."}
        )
    )
    study.add_trial(_complete(small, trained[1].val_accuracy, 0, reused_from=1))
    front = [t.number for t in front_trials(run)]
    assert 1 in front and 2 not in front and 5 not in front  # one per architecture: the trained one
    for number in front:
        _keep(run, number, trained[number])
    yield Run(run, data, front, trained)


def test_export_trial_reproduces_the_recorded_accuracy(run_with_weights: Run, tmp_path: Path) -> None:
    run = run_with_weights.run
    result = export_trial(run, 1, tmp_path / "t1")
    assert result.trial == 1 and result.name == run_with_weights.trained[1].arch.name
    model = nas_resnext.load_model(result.directory)
    assert accuracy(model, run_with_weights.data.val) == run_with_weights.trained[1].val_accuracy
    card = (result.directory / "README.md").read_text()
    assert f"run directory: {run.path.resolve()}" in card and "- trial 1 (COMPLETE)" in card


def test_a_reused_result_exports_its_sources_weights(run_with_weights: Run, tmp_path: Path) -> None:
    result = export_trial(run_with_weights.run, 5, tmp_path / "t5", formats="pt")
    card = (result.directory / "README.md").read_text()
    assert "weights trained in trial 1 (trial 5 reused its result)" in card
    model = nas_resnext.load_model(result.directory)
    assert accuracy(model, run_with_weights.data.val) == run_with_weights.trained[1].val_accuracy


def test_export_front_writes_one_directory_per_front_trial(run_with_weights: Run, tmp_path: Path) -> None:
    results = export_front(run_with_weights.run, tmp_path / "front", formats="pt,onnx")
    expected = [f"trial_{n:05d}_{run_with_weights.trained[n].arch.name}" for n in run_with_weights.front]
    assert leftovers(tmp_path / "front") == sorted(expected)
    assert [r.directory.name for r in results] == expected
    for number, result in zip(run_with_weights.front, results, strict=True):
        assert result.trial == number and result.onnx_max_abs_diff is not None
        model = nas_resnext.load_model(result.directory)
        assert accuracy(model, run_with_weights.data.val) == run_with_weights.trained[number].val_accuracy


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_exports_a_trial_and_prints_its_checks(
    run_with_weights: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "t1"
    code, out, err = run_cli(
        capsys, "export", str(run_with_weights.run.path), "--trial", "1", "-o", str(out_dir)
    )
    assert code == 0, err
    name = run_with_weights.trained[1].arch.name
    assert out.splitlines()[0] == f"{name} (trial 1) -> {out_dir}"
    assert "files: architecture.json, weights.pt, preprocessing.json, model.torchscript.pt, model.onnx" in out
    assert re.search(r"ONNX Runtime check: max abs difference \S+ on 4 random inputs", out)
    assert nas_resnext.load_model(out_dir) is not None


def test_the_command_exports_the_front(
    run_with_weights: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "front"
    argv = ("export", str(run_with_weights.run.path), "--front", "-o", str(out_dir), "--format", "pt")
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert f"{len(run_with_weights.front)} model(s) of the Pareto front in {out_dir}" in out
    assert len(leftovers(out_dir)) == len(run_with_weights.front)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--trial", "99"], "--trial: got 99; allowed: a trial of "),
        (["--trial", "2"], "trial 2 is not on the Pareto front"),
        (["--trial", "3"], "trial 3 was stopped early (PRUNED after 1 epoch)"),
        (["--trial", "4"], "trial 4 failed (out of memory on cuda: ...)"),
        (["--trial", "1", "--format", "pt,tflite"], "--format: got 'pt,tflite'; allowed: a comma list of"),
        (["--trial", "1", "--front"], "not allowed with argument"),
        ([], "one of the arguments --trial --front is required"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    run_with_weights: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    out_dir = tmp_path / "out"
    code, out, err = run_cli(capsys, "export", str(run_with_weights.run.path), "-o", str(out_dir), *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert leftovers(tmp_path) == []


def test_a_trial_without_weights_says_how_to_get_them(
    run_with_weights: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_with_weights.run
    code, _, err = run_cli(capsys, "export", str(run.path), "--trial", "2", "-o", str(tmp_path / "o"))
    assert code == 2 and f"nas-resnext retrain {run.path} --trial 2" in err
    code, _, err = run_cli(capsys, "export", str(run.path), "--trial", "99", "-o", str(tmp_path / "o"))
    kept = numbers_text(run_with_weights.front)
    assert code == 2 and "0-5" in err and f"(weights kept for {kept})" in err


def test_a_run_that_keeps_no_weights_says_so(
    run_with_weights: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = RunDirectory(tmp_path / "run")
    shutil.copytree(run_with_weights.run.path, copy.path)
    shutil.rmtree(copy.weights_dir)
    copy.save_options(replace(copy.load_options(), keep_weights="none"))
    code, _, err = run_cli(capsys, "export", str(copy.path), "--front", "-o", str(tmp_path / "o"))
    assert code == 2 and "the run keeps no weights (--keep-weights none)" in err
    assert not (tmp_path / "o").exists()


def test_the_output_and_the_run_are_checked(
    run_with_weights: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    run = str(run_with_weights.run.path)
    code, _, err = run_cli(capsys, "export", run, "--trial", "1", "-o", str(tmp_path / "full"))
    assert code == 2 and "--output" in err and "a new or empty directory" in err
    code, _, err = run_cli(capsys, "export", str(tmp_path), "--trial", "1", "-o", str(tmp_path / "o"))
    assert code == 2 and err.startswith("nas-resnext export: error: RUN: ")
    assert leftovers(tmp_path) == ["full"]


@pytest.mark.parametrize(
    ("numbers", "text"), [([], "none"), ([3], "3"), ([0, 1, 2, 5, 7, 8], "0-2, 5, 7-8"), ([4, 2, 3], "2-4")]
)
def test_numbers_text(numbers: list[int], text: str) -> None:
    assert numbers_text(numbers) == text


# -- a real search --------------------------------------------------------------------------------------


@pytest.mark.ray
@pytest.mark.usefixtures("in_tmp_path")
def test_a_real_searchs_front_exports_and_reproduces_its_accuracy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = write_tiny_space(tmp_path)
    run_dir = tmp_path / "run"
    argv = [NAS, "search", str(space), "--trials", "4", "--run-dir", str(run_dir), "--keep-weights", "front"]
    search = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    assert search.returncode == 0, search.stderr
    run = RunDirectory.open(run_dir, flag="RUN")
    front = [t.number for t in front_trials(run)]
    assert front and run.kept_weights() == front
    code, out, err = run_cli(capsys, "export", str(run_dir), "--front", "-o", str(tmp_path / "front"))
    assert code == 0, err
    assert out.count("ONNX Runtime check: max abs difference") == len(front)
    training = run.load_space().training
    data = load_dataset("digits", resolution=8, settings=training, in_channels=1)
    trials = {t.number: t for t in run.load_trials()}
    for number in front:
        (directory,) = (tmp_path / "front").glob(f"trial_{number:05d}_*")
        model = nas_resnext.load_model(directory)
        assert accuracy(model, data.val) == pytest.approx(trials[number].values[0], abs=1e-12)
