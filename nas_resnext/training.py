"""Training one candidate: the fast, device-agnostic trainer every search trial runs.

``train_candidate`` never raises for a candidate's own faults: a NaN/inf loss ends it as ``diverged``; out of
memory and any other exception end it as ``failed`` with the message; a callback asking to stop ends it as
``stopped``. Everything measured up to that point is kept in the result.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nas_resnext.architecture import Architecture
from nas_resnext.data.datasets import Split, TrainingData
from nas_resnext.data.pipeline import DeviceBatches, sequential_batches
from nas_resnext.device import autocast, device_description, memory_format, resolve_device, uses_fast_path
from nas_resnext.latency import DEFAULT_BATCH_SIZE, Latency, measure_latency
from nas_resnext.model import build_model
from nas_resnext.settings import TrainSettings

STATES = ("complete", "stopped", "diverged", "failed")
EVAL_BATCH_SIZE = 512


class StopTraining(Exception):
    """Raised by an epoch callback to end training early (e.g. a scheduler pruned the trial)."""


@dataclass(frozen=True)
class EpochMetrics:
    """What one epoch measured. ``images_per_second`` counts training images over the training part of the
    epoch; ``epoch_seconds`` also includes validation."""

    epoch: int  # 1-based
    train_loss: float
    val_loss: float
    val_accuracy: float  # fraction in [0, 1]
    epoch_seconds: float
    images_per_second: float
    lr: float  # the learning rate of the epoch's last step


# Return True (or raise StopTraining) to stop after this epoch.
EpochCallback = Callable[[EpochMetrics], "bool | None"]


@dataclass
class TrainResult:
    """The outcome of one candidate. Metrics are those of the last finished epoch (None if none finished)."""

    architecture: str
    state: str  # one of STATES
    device: str
    epochs: int  # epochs finished
    train_seconds: float
    val_accuracy: float | None = None
    val_loss: float | None = None
    train_images_per_second: float | None = None
    latency: Latency | None = None
    error: str | None = None
    history: list[EpochMetrics] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state in ("complete", "stopped")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["latency"] = self.latency.to_dict() if self.latency else None
        return data


def learning_rate_factor(settings: TrainSettings, step: int, steps_per_epoch: int) -> float:
    """Multiplier of ``settings.lr`` at optimiser step ``step`` (0-based).

    Linear warm-up over ``warmup_epochs``, then cosine decay towards zero at the last step, or ``step``
    decay: times ``step_gamma`` for each milestone epoch already completed.
    """
    total = settings.epochs * steps_per_epoch
    warmup = min(settings.warmup_epochs * steps_per_epoch, total)
    if step < warmup:
        return (step + 1) / warmup
    if settings.schedule == "step":
        finished_epochs = step // steps_per_epoch
        return settings.step_gamma ** sum(1 for m in settings.step_milestones if finished_epochs >= m)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _evaluate(model: nn.Module, split: Split, device: torch.device) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over a split already on ``device``."""
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    layout = memory_format(device)
    with torch.inference_mode(), autocast(device):
        for images, labels in sequential_batches(split, EVAL_BATCH_SIZE, device):
            logits = model(images.contiguous(memory_format=layout)).float()
            loss_sum += F.cross_entropy(logits, labels, reduction="sum")
            correct += (logits.argmax(dim=1) == labels).sum()
    model.train()
    return loss_sum.item() / len(split), correct.item() / len(split)


def _failure_message(error: BaseException, device: torch.device | None) -> str:
    where = f" on {device.type}" if device is not None else ""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in text.lower():
        return f"out of memory{where}: {text}"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _median_throughput(history: list[EpochMetrics]) -> float | None:
    # The first epoch pays for autotuning and compilation; leave it out when there are others.
    rates = [m.images_per_second for m in (history[1:] if len(history) > 1 else history)]
    return statistics.median(rates) if rates else None


def train_candidate(
    arch: Architecture,
    data: TrainingData,
    settings: TrainSettings | None = None,
    callback: EpochCallback | None = None,
    *,
    measure: bool = True,
    latency_batch_size: int = DEFAULT_BATCH_SIZE,
) -> TrainResult:
    """Train ``arch`` on ``data.train``, score it on ``data.val`` after every epoch, then measure its latency.

    SGD with momentum (Nesterov by default) and weight decay, a cosine or step schedule with linear warm-up,
    label smoothing; all from ``settings``. The model's initial weights, batch order and augmentation follow
    ``settings.seed``, so CPU runs repeat exactly; the caller's global RNG state is left as it was.
    ``callback`` is called after every epoch; returning True or raising StopTraining stops the run.
    ``measure=False`` skips the latency measurement.
    """
    settings = settings or TrainSettings()
    started = time.perf_counter()
    result = TrainResult(
        architecture=arch.name, state="failed", device=settings.device, epochs=0, train_seconds=0.0
    )
    device: torch.device | None = None
    try:
        device = resolve_device(settings.device)
        result.device = device_description(device)
        data.check_architecture(arch)
        fork_devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(settings.seed)
            _run(arch, data, settings, callback, device, result, started, measure, latency_batch_size)
    except Exception as error:  # a candidate's fault must not end the search that runs it
        result.state = "failed"
        result.error = _failure_message(error, device)
    finally:
        if device is not None and device.type == "cuda":
            torch.cuda.empty_cache()
    result.train_seconds = time.perf_counter() - started
    return result


def _run(
    arch: Architecture,
    data: TrainingData,
    settings: TrainSettings,
    callback: EpochCallback | None,
    device: torch.device,
    result: TrainResult,
    started: float,
    measure: bool,
    latency_batch_size: int,
) -> None:
    layout = memory_format(device)
    if uses_fast_path(device):
        torch.backends.cudnn.benchmark = True
    model = build_model(arch).to(device, memory_format=layout)
    step_model: nn.Module = torch.compile(model) if settings.compile else model
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=settings.lr,
        momentum=settings.momentum,
        nesterov=settings.nesterov and settings.momentum > 0,
        weight_decay=settings.weight_decay,
    )
    batches = DeviceBatches(data.train, settings.batch_size, device, data.augmentation, settings.seed, layout)
    val = data.val.to(device)
    steps_per_epoch = len(batches)
    step = 0
    lr = settings.lr
    result.state = "complete"
    for epoch in range(1, settings.epochs + 1):
        epoch_start = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        seen = 0
        for images, labels in batches:
            lr = settings.lr * learning_rate_factor(settings, step, steps_per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with autocast(device):
                logits = step_model(images)
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=settings.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            # Summed on the device: reading the loss every step would synchronise a GPU every step.
            loss_sum += loss.detach() * len(labels)
            seen += len(labels)
            step += 1
        train_loss = loss_sum.item() / seen
        train_seconds = time.perf_counter() - epoch_start
        val_loss, val_accuracy = _evaluate(model, val, device)
        metrics = EpochMetrics(
            epoch=epoch,
            train_loss=train_loss,
            val_loss=val_loss,
            val_accuracy=val_accuracy,
            epoch_seconds=time.perf_counter() - epoch_start,
            images_per_second=seen / train_seconds,
            lr=lr,
        )
        result.history.append(metrics)
        result.epochs = epoch
        result.val_loss, result.val_accuracy = val_loss, val_accuracy
        result.train_images_per_second = _median_throughput(result.history)
        result.train_seconds = time.perf_counter() - started
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            result.state = "diverged"
            result.error = f"non-finite loss in epoch {epoch} (train {train_loss}, val {val_loss})"
            return
        if callback is not None:
            try:
                stop = callback(metrics)
            except StopTraining:
                stop = True
            if stop:
                result.state = "stopped"
                break
    if measure:
        input_shape = (arch.in_channels, arch.resolution, arch.resolution)
        result.latency = measure_latency(model, input_shape, device, batch_size=latency_batch_size)
