"""What one Ray Tune trial runs: train one candidate with the trainer and report every epoch.

Every report carries the candidate's FLOPs, params and (measured before training, so that a scheduler
ranking on it has it from the first rung) its batch-1 latency. With the run's ``coordination`` in the config,
the latency is measured while no other trial computes on the device, once per architecture and kind of
device in the run (``latency_source``: ``measured``, or ``reused`` from an earlier trial), and training holds
the device shared (:mod:`nas_resnext.search.device_lock`); without it, or without a coordinator to reach,
it is measured as it comes (``unguarded``). A candidate that fails or diverges sends one last report with
``state`` and ``error`` and a NaN accuracy; nothing escapes to the search.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

from nas_resnext.architecture import Architecture
from nas_resnext.settings import TrainSettings

if TYPE_CHECKING:
    import torch

    from nas_resnext.latency import Latency
    from nas_resnext.search.device_lock import DeviceCoordination


@functools.lru_cache(maxsize=2)
def _load_data(dataset: str, data_dir: str | None, resolution: int, settings_json: str, shape: tuple) -> Any:
    # A worker process often runs several trials in a row; the data set is read once per process.
    import json

    from nas_resnext.data import load_dataset

    settings = TrainSettings.from_dict(json.loads(settings_json))
    in_channels, num_classes = shape
    return load_dataset(
        dataset, data_dir, resolution, settings, in_channels=in_channels, num_classes=num_classes
    )


def _trial_latency(
    arch: Architecture, device: torch.device, coordination: DeviceCoordination | None
) -> tuple[Latency, str]:
    """The candidate's latency and where it came from (see the module's docstring)."""
    from nas_resnext.latency import architecture_latency, measurement_key

    def measure() -> Latency:
        return architecture_latency(arch, device, max_seconds=2.0)

    if coordination is None:
        return measure(), "unguarded"
    return coordination.latency(measurement_key(arch, device), measure)


def train_trial(config: dict[str, Any]) -> None:
    """Ray Tune function trainable. ``config``: ``arch``, ``training``, ``dataset``, ``data_dir``, and
    ``coordination`` (the run's name for its device coordinators; optional)."""
    import json

    from ray import tune

    from nas_resnext.complexity import count_analytic
    from nas_resnext.device import resolve_device
    from nas_resnext.search.device_lock import DeviceCoordination
    from nas_resnext.training import train_candidate

    arch = Architecture.from_dict(config["arch"])
    settings = TrainSettings.from_dict(config["training"])
    complexity = count_analytic(arch)
    fixed: dict[str, Any] = {"flops": complexity.flops, "params": complexity.params, "name": arch.name}
    coordination = None
    try:
        device = resolve_device(settings.device)
        if config.get("coordination"):
            coordination = DeviceCoordination.join(config["coordination"], device)
        latency, fixed["latency_source"] = _trial_latency(arch, device, coordination)
        fixed["latency_ms"] = latency.single_ms
        fixed["latency_batch_ms"] = latency.batch_ms
        data = _load_data(
            config["dataset"],
            config.get("data_dir"),
            arch.resolution,
            json.dumps(settings.to_dict(), sort_keys=True),
            (arch.in_channels, arch.num_classes),
        )
    except Exception as error:  # reported, never raised: one bad candidate must not end the search
        tune.report(
            {
                "latency_ms": math.nan,
                **fixed,
                "epoch": 0,
                "val_accuracy": math.nan,
                "state": "failed",
                "error": f"{type(error).__name__}: {error}",
            }
        )
        return

    def report_epoch(metrics: Any) -> None:
        tune.report(
            {
                **fixed,
                "epoch": metrics.epoch,
                "val_accuracy": metrics.val_accuracy,
                "val_loss": metrics.val_loss,
                "train_loss": metrics.train_loss,
                "epoch_seconds": metrics.epoch_seconds,
                "images_per_second": metrics.images_per_second,
                "state": "running" if metrics.epoch < settings.epochs else "complete",
            }
        )

    guard = coordination.compute_guard if coordination is not None else None
    result = train_candidate(arch, data, settings, callback=report_epoch, measure=False, compute_guard=guard)
    if result.state in ("failed", "diverged"):
        tune.report(
            {
                **fixed,
                "epoch": result.epochs,
                "val_accuracy": math.nan,
                "state": result.state,
                "error": result.error or result.state,
            }
        )
