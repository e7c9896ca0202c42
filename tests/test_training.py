"""The trainer: it learns, repeats by seed, stops on request, and returns every fault as a result."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch
from torch import nn

from nas_resnext.architecture import Architecture
from nas_resnext.data import TrainingData, load_dataset
from nas_resnext.model import Bottleneck
from nas_resnext.settings import TrainSettings
from nas_resnext.training import EpochMetrics, StopTraining, learning_rate_factor, train_candidate

SETTINGS = TrainSettings(epochs=3, batch_size=32, lr=0.05, val_fraction=0.25, seed=0, device="cpu")


@pytest.fixture(scope="module")
def data() -> TrainingData:
    return load_dataset("synthetic", resolution=8, settings=SETTINGS, num_samples=256, num_classes=4)


@pytest.fixture(scope="module")
def arch(data: TrainingData) -> Architecture:
    return Architecture(
        template="cifar", depths=(1, 1, 1), width=4, cardinality=2, bottleneck_width=2, stem_width=8,
        **data.architecture_fields(),
    )  # fmt: skip


@contextmanager
def forward_hook(hook: Callable[[nn.Module, tuple, torch.Tensor], torch.Tensor | None]) -> Iterator[None]:
    """A hook on every module's forward pass, for faults that real candidates meet on real hardware."""
    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


# -- the schedule --------------------------------------------------------------------------------


def test_cosine_schedule_warms_up_linearly_then_decays_towards_zero() -> None:
    settings = TrainSettings(epochs=4, warmup_epochs=1)
    factors = [learning_rate_factor(settings, step, 10) for step in range(40)]
    assert factors[:10] == pytest.approx([(i + 1) / 10 for i in range(10)])
    assert factors[10] == 1.0
    assert all(a > b for a, b in itertools.pairwise(factors[10:]))
    assert 0 < factors[-1] < 0.01


def test_step_schedule_multiplies_by_gamma_after_each_milestone() -> None:
    settings = TrainSettings(epochs=6, schedule="step", step_milestones=(2, 4), step_gamma=0.5)
    per_epoch = [learning_rate_factor(settings, epoch * 5, 5) for epoch in range(6)]
    assert per_epoch == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


# -- training -------------------------------------------------------------------------------------


def test_trains_reports_every_epoch_and_measures_latency(arch: Architecture, data: TrainingData) -> None:
    seen: list[EpochMetrics] = []
    result = train_candidate(arch, data, SETTINGS, seen.append)
    assert result.state == "complete" and result.ok and result.error is None
    assert [m.epoch for m in seen] == [1, 2, 3] and result.history == seen
    assert result.epochs == 3
    assert result.val_accuracy == seen[-1].val_accuracy > 0.5  # four classes: chance is 0.25
    assert seen[-1].train_loss < seen[0].train_loss
    assert all(m.images_per_second > 0 and m.epoch_seconds > 0 for m in seen)
    assert result.train_images_per_second and result.train_seconds > 0
    assert result.latency is not None and result.latency.single_ms > 0 and result.latency.batch_size == 32
    assert result.device.startswith("cpu")
    encoded = json.loads(json.dumps(result.to_dict()))
    assert encoded["history"][0]["epoch"] == 1 and encoded["latency"]["single_ms"] > 0


def test_same_seed_repeats_exactly_and_leaves_the_global_rng_alone(
    arch: Architecture, data: TrainingData
) -> None:
    settings = SETTINGS.replace(epochs=2)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = train_candidate(arch, data, settings, measure=False)
    assert torch.equal(torch.rand(1), expected_next)
    second = train_candidate(arch, data, settings, measure=False)
    other = train_candidate(arch, data, settings.replace(seed=1), measure=False)
    losses = [(m.train_loss, m.val_loss, m.val_accuracy) for m in first.history]
    assert losses == [(m.train_loss, m.val_loss, m.val_accuracy) for m in second.history]
    assert losses != [(m.train_loss, m.val_loss, m.val_accuracy) for m in other.history]


@pytest.mark.parametrize("how", ["return True", "raise StopTraining"])
def test_callback_can_stop_training(arch: Architecture, data: TrainingData, how: str) -> None:
    def callback(metrics: EpochMetrics) -> bool:
        if how == "raise StopTraining":
            raise StopTraining
        return True

    result = train_candidate(arch, data, SETTINGS, callback, measure=False)
    assert result.state == "stopped" and result.ok
    assert result.epochs == 1 and result.val_accuracy is not None


def test_step_schedule_warmup_label_smoothing_and_plain_momentum_train(
    arch: Architecture, data: TrainingData
) -> None:
    settings = SETTINGS.replace(
        schedule="step",
        step_milestones=(2,),
        warmup_epochs=1,
        label_smoothing=0.1,
        nesterov=False,
        momentum=0.0,
    )
    result = train_candidate(arch, data, settings, measure=False)
    assert result.state == "complete"
    assert result.history[0].lr == pytest.approx(0.05)  # end of warm-up
    assert result.history[2].lr == pytest.approx(0.005)


class RecordingGuard:
    """A compute guard that counts its windows and knows whether one is open."""

    def __init__(self) -> None:
        self.entered = 0
        self.exited = 0
        self.held = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        assert not self.held, "guard windows must not nest"
        self.entered += 1
        self.held = True
        try:
            yield
        finally:
            self.held = False
            self.exited += 1


def test_compute_runs_inside_the_guard_and_callbacks_outside(arch: Architecture, data: TrainingData) -> None:
    guard = RecordingGuard()
    held_in_callback: list[bool] = []
    result = train_candidate(
        arch, data, SETTINGS, lambda m: held_in_callback.append(guard.held), compute_guard=guard
    )
    assert result.state == "complete" and result.latency is not None
    assert held_in_callback == [False, False, False]  # a blocked report never holds the device
    # One window per epoch at least (a window is handed back at most once a second by default).
    assert SETTINGS.epochs <= guard.entered == guard.exited and not guard.held


def test_a_short_guard_window_is_handed_back_between_steps(arch: Architecture, data: TrainingData) -> None:
    guard = RecordingGuard()
    result = train_candidate(
        arch, data, SETTINGS, measure=False, compute_guard=guard, guard_window_seconds=0.0
    )
    steps_per_epoch = len(data.train) // SETTINGS.batch_size
    assert result.state == "complete"
    assert guard.entered == guard.exited >= SETTINGS.epochs * steps_per_epoch


class AskingGuard(RecordingGuard):
    """A compute guard whose windows are asked for back at the given checks (counted over the whole run), as
    a latency measurement asks for the device: entering it gives the check the trainer makes every step."""

    def __init__(self, asked_at: list[int]) -> None:
        super().__init__()
        self.asked_at = set(asked_at)
        self.checks = 0
        self.requests = 0

    def wanted_since(self, seen: int) -> bool:
        self.checks += 1
        self.requests += self.checks in self.asked_at
        return self.requests != seen

    @contextmanager
    def __call__(self) -> Iterator[Any]:
        with super().__call__():
            seen = self.requests
            yield lambda: self.wanted_since(seen)


def test_a_window_is_handed_back_at_the_next_step_when_asked_for(
    arch: Architecture, data: TrainingData
) -> None:
    # Windows far longer than the run: only the set-up's and the epochs' ends, and requests, end them.
    def windows(asked_at: list[int]) -> AskingGuard:
        guard = AskingGuard(asked_at)
        result = train_candidate(
            arch, data, SETTINGS, measure=False, compute_guard=guard, guard_window_seconds=1e9
        )
        assert result.state == "complete" and guard.entered == guard.exited
        return guard

    unasked = windows([])
    assert unasked.entered == SETTINGS.epochs + 1 and unasked.checks > 20
    # A request ends the window in flight at the next step; two in a row end two windows.
    for asked_at in ([5], [5, 6], [5, 6, 20]):
        assert windows(asked_at).entered == unasked.entered + len(asked_at)


def test_a_guarded_candidate_trains_exactly_as_an_unguarded_one(
    arch: Architecture, data: TrainingData
) -> None:
    plain = train_candidate(arch, data, SETTINGS, measure=False)
    guarded = train_candidate(
        arch, data, SETTINGS, measure=False, compute_guard=RecordingGuard(), guard_window_seconds=0.0
    )
    assert [m.val_loss for m in guarded.history] == [m.val_loss for m in plain.history]


def test_the_guard_is_released_when_the_candidate_fails(arch: Architecture, data: TrainingData) -> None:
    def explode(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if isinstance(module, nn.Linear):
            raise RuntimeError("kernel exploded")

    guard = RecordingGuard()
    with forward_hook(explode):
        result = train_candidate(arch, data, SETTINGS, compute_guard=guard)
    assert result.state == "failed" and result.error == "RuntimeError: kernel exploded"
    assert guard.entered == guard.exited >= 1 and not guard.held


# -- faults: none escapes -------------------------------------------------------------------------


def test_nan_loss_stops_the_candidate_as_diverged(arch: Architecture, data: TrainingData) -> None:
    def poison(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor | None:
        return output * math.nan if isinstance(module, nn.Linear) else None

    seen: list[EpochMetrics] = []
    with forward_hook(poison):
        result = train_candidate(arch, data, SETTINGS, seen.append)
    assert result.state == "diverged" and not result.ok
    assert result.epochs == 1 and seen == []  # stopped before the callback could report the epoch
    assert "non-finite loss in epoch 1" in result.error
    assert result.latency is None


def test_huge_learning_rate_diverges(arch: Architecture, data: TrainingData) -> None:
    result = train_candidate(arch, data, SETTINGS.replace(lr=1e30, epochs=2), measure=False)
    assert result.state == "diverged"


def test_cuda_out_of_memory_is_a_failed_result(arch: Architecture, data: TrainingData) -> None:
    def exhaust(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if isinstance(module, Bottleneck):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    with forward_hook(exhaust):
        result = train_candidate(arch, data, SETTINGS)
    assert result.state == "failed" and not result.ok
    assert result.error.startswith("out of memory on cpu: CUDA out of memory. Tried to allocate 20.00 GiB")
    assert result.epochs == 0 and result.history == [] and result.train_seconds > 0


def test_an_exception_in_the_model_is_a_failed_result_with_its_message(
    arch: Architecture, data: TrainingData
) -> None:
    calls = {"forward": 0}

    def break_later(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if isinstance(module, nn.Linear):
            calls["forward"] += 1
            if calls["forward"] > 10:  # after the first epoch's six steps and its validation pass
                raise RuntimeError("kernel exploded")

    with forward_hook(break_later):
        result = train_candidate(arch, data, SETTINGS)
    assert result.state == "failed" and result.error == "RuntimeError: kernel exploded"
    assert result.epochs == 1 and len(result.history) == 1  # what finished is kept


def test_a_failing_callback_fails_the_candidate_without_raising(
    arch: Architecture, data: TrainingData
) -> None:
    def callback(metrics: EpochMetrics) -> None:
        raise ValueError("reporter lost its connection")

    result = train_candidate(arch, data, SETTINGS, callback)
    assert result.state == "failed" and result.error == "ValueError: reporter lost its connection"


def test_architecture_that_does_not_fit_the_data_fails_with_the_reason(
    arch: Architecture, data: TrainingData
) -> None:
    result = train_candidate(arch.replace(in_channels=1), data, SETTINGS)
    assert result.state == "failed"
    assert "in_channels: got 1; allowed: 3 (what the synthetic data set holds)" in result.error


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_missing_cuda_fails_the_candidate(arch: Architecture, data: TrainingData) -> None:
    result = train_candidate(arch, data, SETTINGS.replace(device="cuda"))
    assert result.state == "failed" and "no CUDA device" in result.error


@pytest.mark.slow
def test_compiled_model_trains(data: TrainingData, arch: Architecture) -> None:
    # torch.compile (inductor on the CPU here) builds the step once; the candidate then trains as usual.
    result = train_candidate(arch, data, SETTINGS.replace(epochs=1, compile=True), measure=False)
    assert result.state == "complete", result.error
    assert result.epochs == 1 and 0.0 <= result.val_accuracy <= 1.0
    assert math.isfinite(result.history[0].train_loss)


# -- continuing from a saved state ----------------------------------------------------------------


def _comparable(history: list[EpochMetrics]) -> list[tuple[int, float, float, float, float]]:
    """An epoch's learned figures (timings differ between runs)."""
    return [(m.epoch, m.train_loss, m.val_loss, m.val_accuracy, m.lr) for m in history]


def test_resuming_after_any_epoch_ends_exactly_as_an_uninterrupted_run(
    arch: Architecture, data: TrainingData, tmp_path
) -> None:
    from nas_resnext.training import TrainingState

    # Augmentation on, so that the batches' random state must be carried over too.
    augmented = TrainingData(**{**data.__dict__, "augmentation": type(data.augmentation)(1, True)})
    settings = SETTINGS.replace(epochs=4, warmup_epochs=1)
    states: list[TrainingState] = []
    whole = train_candidate(arch, augmented, settings, measure=False, on_state=states.append, keep_model=True)
    assert whole.state == "complete" and [s.epoch for s in states] == [1, 2, 3, 4]
    for saved in states[:3]:
        # Through a file, as a checkpoint travels: everything must load with weights_only=True.
        path = tmp_path / f"state{saved.epoch}.pt"
        torch.save(saved.to_dict(), path)
        state = TrainingState.from_dict(torch.load(path, weights_only=True))
        continued = train_candidate(arch, augmented, settings, measure=False, resume=state, keep_model=True)
        assert continued.state == "complete" and continued.start_epoch == saved.epoch + 1
        assert _comparable(continued.history) == _comparable(whole.history)
        assert continued.val_accuracy == whole.val_accuracy
        for name, tensor in whole.model.state_dict().items():
            assert torch.equal(tensor, continued.model.state_dict()[name]), name
    assert whole.start_epoch == 1 and not whole.model.training


def test_a_state_of_the_last_epoch_leaves_nothing_to_train(arch: Architecture, data: TrainingData) -> None:
    states = []
    whole = train_candidate(arch, data, SETTINGS, measure=False, on_state=states.append)
    again = train_candidate(arch, data, SETTINGS, measure=False, resume=states[-1])
    assert again.state == "complete" and again.epochs == SETTINGS.epochs
    assert again.val_accuracy == whole.val_accuracy and again.start_epoch == SETTINGS.epochs + 1


def test_training_without_validation_scores_nothing_and_still_watches_the_training_loss(
    arch: Architecture, data: TrainingData
) -> None:
    result = train_candidate(arch, data, SETTINGS, measure=False, validate=False)
    assert result.state == "complete"
    assert all(math.isnan(m.val_accuracy) and math.isfinite(m.train_loss) for m in result.history)
    diverged = train_candidate(arch, data, SETTINGS.replace(lr=1e30), measure=False, validate=False)
    assert diverged.state == "diverged"
