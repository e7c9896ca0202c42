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
from contextlib import AbstractContextManager
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
GUARD_WINDOW_SECONDS = 1.0


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
# Called for a context manager that is held while the trainer computes (see train_candidate).
ComputeGuard = Callable[[], AbstractContextManager[Any]]


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


class _ComputeWindows:
    """Holds a compute guard while the trainer computes, in windows of about ``seconds``.

    A window ends at the first step boundary after ``seconds`` and the next one opens at once, so whoever
    waits for the device (a latency measurement) waits about that long at most. A window ends with the
    device synchronised: kernels still queued on a GPU are compute too. ``waited`` sums the seconds spent
    waiting to open windows, which is no part of training time. Without a guard, nothing happens.
    """

    def __init__(self, guard: ComputeGuard | None, device: torch.device, seconds: float) -> None:
        self._guard = guard
        self._device = device
        self._seconds = seconds
        self._held: AbstractContextManager[Any] | None = None
        self._opened = 0.0
        self.waited = 0.0

    def __enter__(self) -> _ComputeWindows:
        self._open()
        return self

    def __exit__(self, *error: Any) -> None:
        self._close(*error)

    def step_boundary(self) -> None:
        if self._held is not None and time.perf_counter() - self._opened >= self._seconds:
            self._close(None, None, None)
            self._open()

    def _open(self) -> None:
        if self._guard is None:
            return
        asked = time.perf_counter()
        held = self._guard()
        held.__enter__()
        self._held = held
        self._opened = time.perf_counter()
        self.waited += self._opened - asked

    def _close(self, *error: Any) -> None:
        if self._held is None:
            return
        held, self._held = self._held, None
        try:
            if error[0] is None and self._device.type == "cuda":
                torch.cuda.synchronize(self._device)
        finally:
            held.__exit__(*error)


def _evaluate(
    model: nn.Module, split: Split, device: torch.device, between_batches: Callable[[], None] | None = None
) -> tuple[float, float]:
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
            if between_batches is not None:
                between_batches()
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
    compute_guard: ComputeGuard | None = None,
    guard_window_seconds: float = GUARD_WINDOW_SECONDS,
) -> TrainResult:
    """Train ``arch`` on ``data.train``, score it on ``data.val`` after every epoch, then measure its latency.

    SGD with momentum (Nesterov by default) and weight decay, a cosine or step schedule with linear warm-up,
    label smoothing; all from ``settings``. The model's initial weights, batch order and augmentation follow
    ``settings.seed``, so CPU runs repeat exactly; the caller's global RNG state is left as it was.
    ``callback`` is called after every epoch; returning True or raising StopTraining stops the run.
    ``measure=False`` skips the latency measurement.

    ``compute_guard()`` (e.g. a shared lock on the device, so that another process can measure latency
    alone) is entered around the trainer's compute: set-up, training steps and validation, in windows
    handed back at a step boundary every ``guard_window_seconds``; never around the callback or the final
    latency measurement. Time spent waiting to enter it is left out of ``images_per_second``.
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
            windows = _ComputeWindows(compute_guard, device, guard_window_seconds)
            _run(
                arch, data, settings, callback, device, result, started, windows, measure, latency_batch_size
            )
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
    windows: _ComputeWindows,
    measure: bool,
    latency_batch_size: int,
) -> None:
    layout = memory_format(device)
    if uses_fast_path(device):
        torch.backends.cudnn.benchmark = True
    with windows:  # building the model and moving the data to the device are compute too
        model = build_model(arch).to(device, memory_format=layout)
        step_model: nn.Module = torch.compile(model) if settings.compile else model
        optimizer = torch.optim.SGD(
            model.parameters(),
            lr=settings.lr,
            momentum=settings.momentum,
            nesterov=settings.nesterov and settings.momentum > 0,
            weight_decay=settings.weight_decay,
        )
        batches = DeviceBatches(
            data.train, settings.batch_size, device, data.augmentation, settings.seed, layout
        )
        val = data.val.to(device)
    steps_per_epoch = len(batches)
    step = 0
    lr = settings.lr
    result.state = "complete"
    for epoch in range(1, settings.epochs + 1):
        epoch_start = time.perf_counter()
        waited_before = windows.waited
        with windows:
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
                windows.step_boundary()
            train_loss = loss_sum.item() / seen
            # Waiting for the device (another trial's latency measurement) is not training time.
            train_seconds = time.perf_counter() - epoch_start - (windows.waited - waited_before)
            val_loss, val_accuracy = _evaluate(model, val, device, windows.step_boundary)
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
