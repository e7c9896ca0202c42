"""The final training of a chosen architecture, scored once on the data set's official test split.

A search selects on the validation split; the model a user takes away is trained again on the whole training
split (its validation part included), then scored a single time on the test split, which nothing else in
nas_resnext reads. The accuracy comes with a Wilson score interval for a binomial proportion: the test images
are the sample, so the interval says how far another sample of the same size could move the figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nas_resnext.architecture import Architecture
from nas_resnext.errors import ConfigError
from nas_resnext.rundir import RunDirectory
from nas_resnext.settings import TrainSettings

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from nas_resnext.export.bundle import ExportResult
    from nas_resnext.training import EpochCallback, TrainResult

DEFAULT_CONFIDENCE = 0.95
TRIAL_FLAG = "--trial"


def wilson_interval(correct: int, total: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``correct / total`` at ``confidence`` (two-sided).

    Chosen over the normal approximation because it stays inside [0, 1] and keeps its coverage near 0 and
    1, where a good model's accuracy lies.
    """
    from scipy.stats import norm

    if total < 1:
        raise ValueError("an interval needs at least one observation")
    z = float(norm.ppf(0.5 + confidence / 2))
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z / (1 + z * z / total) * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class RetrainPlan:
    """What a final training will do: the trial's architecture, its training settings (the trial's seed,
    flags applied), the data set and where the model directory goes."""

    run: RunDirectory
    trial: int
    arch: Architecture
    settings: TrainSettings
    dataset: str
    data_dir: str | None
    out_dir: Path
    formats: tuple[str, ...]


@dataclass(frozen=True)
class RetrainOutcome:
    plan: RetrainPlan
    result: TrainResult
    train_images: int
    test_images: int  # 0 when the data set has no test split
    test_accuracy: float | None
    interval: tuple[float, float] | None
    confidence: float
    export: ExportResult | None  # None when training failed


def _trained_trial(run: RunDirectory, number: int) -> FrozenTrial:
    from optuna.trial import TrialState

    trials = {t.number: t for t in run.load_trials()}
    trained = [n for n, t in trials.items() if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    allowed = f"a trial of {run.path} that trained (COMPLETE or PRUNED): " + (
        ", ".join(map(str, trained)) if trained else "none yet"
    )
    trial = trials.get(number)
    if trial is None or trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
        raise ConfigError(TRIAL_FLAG, number, allowed)
    return trial


def default_out_dir(run: RunDirectory, number: int, arch: Architecture) -> Path:
    """Where a final training writes its model directory unless told: ``RUN/retrained/trial_NNNNN_<name>``."""
    return run.retrained_dir / f"trial_{number:05d}_{arch.name}"


def trial_settings(run: RunDirectory, number: int) -> TrainSettings:
    """How trial ``number`` trained: the run's training settings with the trial's own seed."""
    trial = _trained_trial(run, number)
    settings = run.load_space().training
    if trial.user_attrs.get("seed") is not None:
        settings = settings.replace(seed=int(trial.user_attrs["seed"]))
    return settings


def plan_retrain(
    run: RunDirectory,
    number: int,
    settings: TrainSettings | None = None,
    out_dir: str | Path | None = None,
    formats: str | Sequence[str] = ("pt", "torchscript", "onnx"),
) -> RetrainPlan:
    """Check everything a final training of trial ``number`` needs before it starts (bad input is a
    ConfigError and nothing is written): a trial that trained, the output directory, the formats and, with
    ``settings.init``, a weights file that fits. ``settings`` default to :func:`trial_settings`.
    """
    from nas_resnext.data.catalog import get_dataset
    from nas_resnext.export.bundle import check_formats, check_output_directory

    trial = _trained_trial(run, number)
    arch = Architecture.from_dict(trial.user_attrs["architecture"])
    space = run.load_space()
    settings = settings or trial_settings(run, number)
    formats = check_formats(formats)
    out = Path(out_dir) if out_dir is not None else default_out_dir(run, number, arch)
    check_output_directory(out, "--output")
    info = get_dataset(space.dataset)
    if info.needs_data_dir and space.data_dir is None:
        raise ConfigError("data_dir", None, f"a path for the {space.dataset} data set: {info.layout}")
    if settings.init:
        from nas_resnext.weights import check_initialization

        check_initialization(arch, settings.init)
    return RetrainPlan(run, number, arch, settings, space.dataset, space.data_dir, out, formats)


def retrain(
    plan: RetrainPlan,
    callback: EpochCallback | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
) -> RetrainOutcome:
    """Train ``plan``'s architecture on the whole training split, score it once on the test split, and
    write its model directory (with ``test_accuracy`` and its interval on the card). ``callback`` sees every
    epoch (validation figures are NaN: nothing is held out). A failed training writes nothing."""
    import torch

    from nas_resnext.data.registry import load_dataset
    from nas_resnext.export.bundle import export_model
    from nas_resnext.training import evaluate, train_candidate

    arch, settings = plan.arch, plan.settings
    data = load_dataset(
        plan.dataset,
        plan.data_dir,
        arch.resolution,
        settings,
        include_test=True,
        hold_out_validation=False,
        in_channels=arch.in_channels,
        num_classes=arch.num_classes,
    )
    data.check_architecture(arch)
    result = train_candidate(arch, data, settings, callback, keep_model=True, validate=False)
    test_images = len(data.test) if data.test is not None else 0
    if not result.ok or result.model is None:
        return RetrainOutcome(plan, result, len(data.train), test_images, None, None, confidence, None)
    test_accuracy = interval = None
    if data.test is not None and test_images:
        # The one reading of the test split: after training, once.
        device = next(result.model.parameters()).device
        _, test_accuracy = evaluate(result.model, data.test, device)
        interval = wilson_interval(round(test_accuracy * test_images), test_images, confidence)
    latency = result.latency
    info = {
        "dataset": plan.dataset,
        "mean": list(data.mean),
        "std": list(data.std),
        "training": settings.to_dict(),
        "seed": settings.seed,
        "epochs": result.epochs,
        "device": result.device,
        "retrained": True,
        "train_images": len(data.train),
        "test_accuracy": test_accuracy,
        "test_images": test_images,
        "test_interval": list(interval) if interval else None,
        "test_confidence": confidence,
        "latency_ms": latency.single_ms if latency else None,
        "latency_batch_ms": latency.batch_ms if latency else None,
        "latency_batch_size": latency.batch_size if latency else None,
        "latency_device": f"{latency.device}, {latency.precision}" if latency else None,
        "run": str(plan.run.path.resolve()),
        "trial": plan.trial,
    }
    state = {name: tensor.detach().to("cpu") for name, tensor in result.model.state_dict().items()}
    exported = export_model(plan.out_dir, arch, state, info, plan.formats)
    result.model = None  # the weights are in the model directory; free the device
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return RetrainOutcome(
        plan, result, len(data.train), test_images, test_accuracy, interval, confidence, exported
    )
