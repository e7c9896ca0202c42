"""Training one candidate: the fast, device-agnostic trainer every search trial runs.

``train_candidate`` never raises for a candidate's own faults: a NaN/inf loss ends it as ``diverged``; out of
memory and any other exception end it as ``failed`` with the message; a callback asking to stop ends it as
``stopped``. Everything measured up to that point is kept in the result.

Training can continue where it stopped: ``on_state`` receives a :class:`TrainingState` (weights, optimiser,
schedule position and random state) after every epoch, and ``resume=`` takes one back; on CPU the continued
run ends with exactly the metrics of an uninterrupted one.
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
# A latency measurement waits up to one window for the device where its guard cannot ask for it back sooner:
# a quarter of a second halves that wait against a second's window (benchmarks/search_throughput.py), for two
# lock calls per window (about a millisecond). The coordinator's guard asks, and is handed it at a step.
GUARD_WINDOW_SECONDS = 0.25


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


@dataclass
class TrainingState:
    """Everything training needs to continue after epoch ``epoch``: the model's and the optimiser's state,
    the optimiser step (the schedule's position), the random state of torch and of the batch order and
    augmentation, and the metrics of the epochs so far. Every value loads with ``weights_only=True``."""

    epoch: int  # epochs finished
    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    rng: dict[str, Any]  # "torch": CPU state, "cuda": the device's state or None, "batches": the batches'
    history: list[EpochMetrics]

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "model": self.model,
            "optimizer": self.optimizer,
            "rng": self.rng,
            "history": [asdict(m) for m in self.history],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingState:
        return cls(
            epoch=int(data["epoch"]),
            step=int(data["step"]),
            model=data["model"],
            optimizer=data["optimizer"],
            rng=data["rng"],
            history=[EpochMetrics(**m) for m in data["history"]],
        )


# Return True (or raise StopTraining) to stop after this epoch.
EpochCallback = Callable[[EpochMetrics], "bool | None"]
# Receives the state to continue from after every finished epoch (before the epoch callback).
StateCallback = Callable[[TrainingState], None]
# Called for a context manager that is held while the trainer computes (see train_candidate). What entering
# it gives may be a callable: True from it asks for the device back before the window's time is up.
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
    start_epoch: int = 1  # k + 1 when training continued from a state saved after epoch k
    autotuned: bool | None = None  # whether cuDNN autotuning was on (None off CUDA)
    # The trained model in eval mode, on the training device (with ``keep_model=True``).
    model: nn.Module | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.state in ("complete", "stopped")

    def to_dict(self) -> dict[str, Any]:
        data = {f: getattr(self, f) for f in self.__dataclass_fields__ if f not in ("model", "history")}
        data["history"] = [asdict(m) for m in self.history]
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
    waits for the device (a latency measurement) waits about that long at most; sooner, at the next step
    boundary, where the guard's window says it is wanted (what entering the guard gives, if callable,
    returns True). A window ends with the device synchronised: kernels still queued on a GPU are compute
    too. ``waited`` sums the seconds spent waiting to open windows, which is no part of training time.
    Without a guard, nothing happens.
    """

    def __init__(self, guard: ComputeGuard | None, device: torch.device, seconds: float) -> None:
        self._guard = guard
        self._device = device
        self._seconds = seconds
        self._held: AbstractContextManager[Any] | None = None
        self._wanted: Callable[[], bool] | None = None
        self._opened = 0.0
        self.waited = 0.0

    def __enter__(self) -> _ComputeWindows:
        self._open()
        return self

    def __exit__(self, *error: Any) -> None:
        self._close(*error)

    def step_boundary(self) -> None:
        if self._held is None:
            return
        if time.perf_counter() - self._opened >= self._seconds or (
            self._wanted is not None and self._wanted()
        ):
            self._close(None, None, None)
            self._open()

    def _open(self) -> None:
        if self._guard is None:
            return
        asked = time.perf_counter()
        held = self._guard()
        entered = held.__enter__()
        self._wanted = entered if callable(entered) else None
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


def evaluate(
    model: nn.Module, split: Split, device: torch.device, between_batches: Callable[[], None] | None = None
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` over ``split``, as the trainer scores every epoch (same
    batches, precision and memory layout). The model is left in training mode."""
    split = split.to(device)
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
    on_state: StateCallback | None = None,
    resume: TrainingState | None = None,
    keep_model: bool = False,
    validate: bool = True,
) -> TrainResult:
    """Train ``arch`` on ``data.train``, score it on ``data.val`` after every epoch, then measure its latency.

    SGD with momentum (Nesterov by default) and weight decay, a cosine or step schedule with linear warm-up,
    label smoothing; all from ``settings``. The model's initial weights, batch order and augmentation follow
    ``settings.seed``, so CPU runs repeat exactly; the caller's global RNG state is left as it was.
    ``callback`` is called after every epoch; returning True or raising StopTraining stops the run.
    ``measure=False`` skips the latency measurement.

    ``compute_guard()`` (e.g. a shared lock on the device, so that another process can measure latency
    alone) is entered around the trainer's compute: set-up, training steps and validation, in windows
    handed back at a step boundary every ``guard_window_seconds``, or at the next one where the callable that
    entering it gives (if any) returns True; never around the callback or the final latency measurement.
    Time spent waiting to enter it is left out of ``images_per_second``.

    ``on_state`` receives the state to continue from after every finished epoch; ``resume`` continues from
    such a state (its epochs are in the result's history; ``start_epoch`` says where this run began).
    ``keep_model=True`` returns the trained model in ``TrainResult.model``. ``validate=False`` trains on
    ``data.train`` without scoring any split (a final training, scored once afterwards): the epochs'
    validation figures are NaN and only the training loss is watched for divergence.
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
                arch,
                data,
                settings,
                device,
                result,
                started,
                windows,
                _Hooks(callback, on_state, resume, measure, latency_batch_size, keep_model, validate),
            )
    except Exception as error:  # a candidate's fault must not end the search that runs it
        result.state = "failed"
        result.error = _failure_message(error, device)
    finally:
        if device is not None and device.type == "cuda":
            torch.cuda.empty_cache()
    result.train_seconds = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class _Hooks:
    """What ``train_candidate`` was asked besides the training itself."""

    callback: EpochCallback | None
    on_state: StateCallback | None
    resume: TrainingState | None
    measure: bool
    latency_batch_size: int
    keep_model: bool
    validate: bool


def _cpu_copy(state: Any) -> Any:
    """A copy of a (nested) state dict with every tensor on the CPU, detached from training."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {key: _cpu_copy(value) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_cpu_copy(value) for value in state)
    return state


def _rng_state(device: torch.device, batches: DeviceBatches) -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "batches": batches.generator.get_state().cpu(),
    }


def _restore(
    resume: TrainingState,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: DeviceBatches,
    device: torch.device,
    settings: TrainSettings,
) -> None:
    if resume.epoch > settings.epochs:
        raise ValueError(f"the state to resume from finished epoch {resume.epoch} of {settings.epochs}")
    model.load_state_dict(resume.model)
    optimizer.load_state_dict(resume.optimizer)
    torch.set_rng_state(resume.rng["torch"])
    if device.type == "cuda" and resume.rng.get("cuda") is not None:
        torch.cuda.set_rng_state(resume.rng["cuda"], device)
    batches.generator.set_state(resume.rng["batches"])


def _run(
    arch: Architecture,
    data: TrainingData,
    settings: TrainSettings,
    device: torch.device,
    result: TrainResult,
    started: float,
    windows: _ComputeWindows,
    hooks: _Hooks,
) -> None:
    callback, validate = hooks.callback, hooks.validate
    layout = memory_format(device)
    with windows:  # building the model and moving the data to the device are compute too
        model = build_model(arch)
        if settings.init and hooks.resume is None:
            from nas_resnext.weights import initialize_model

            initialize_model(model, settings.init)
        model = model.to(device, memory_format=layout)
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
        val = data.val.to(device) if validate else data.val
        first_epoch, step = 1, 0
        if hooks.resume is not None:
            _restore(hooks.resume, model, optimizer, batches, device, settings)
            first_epoch, step = hooks.resume.epoch + 1, hooks.resume.step
            result.history = list(hooks.resume.history)
            result.start_epoch = first_epoch
            if result.history:  # what stands if no epoch is left to train
                last = result.history[-1]
                result.epochs, result.val_loss, result.val_accuracy = (
                    last.epoch,
                    last.val_loss,
                    last.val_accuracy,
                )
                result.train_images_per_second = _median_throughput(result.history)
    steps_per_epoch = len(batches)
    if uses_fast_path(device):
        # Set for every run: the flag is process-wide and a reused worker must not inherit the last choice.
        result.autotuned = settings.autotune == "on"
        torch.backends.cudnn.benchmark = result.autotuned
    lr = settings.lr
    result.state = "complete"
    for epoch in range(first_epoch, settings.epochs + 1):
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
            val_loss, val_accuracy = (
                evaluate(model, val, device, windows.step_boundary) if validate else (math.nan, math.nan)
            )
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
        if not (math.isfinite(train_loss) and (math.isfinite(val_loss) or not validate)):
            result.state = "diverged"
            result.error = f"non-finite loss in epoch {epoch} (train {train_loss}, val {val_loss})"
            return
        if hooks.on_state is not None:
            hooks.on_state(
                TrainingState(
                    epoch=epoch,
                    step=step,
                    model=_cpu_copy(model.state_dict()),
                    optimizer=_cpu_copy(optimizer.state_dict()),
                    rng=_rng_state(device, batches),
                    history=list(result.history),
                )
            )
        if callback is not None:
            try:
                stop = callback(metrics)
            except StopTraining:
                stop = True
            if stop:
                result.state = "stopped"
                break
    if hooks.measure:
        input_shape = (arch.in_channels, arch.resolution, arch.resolution)
        result.latency = measure_latency(model, input_shape, device, batch_size=hooks.latency_batch_size)
    if hooks.keep_model:
        result.model = model.eval()
