"""What one Ray Tune trial runs: train one candidate with the trainer and report every epoch.

Every report carries the candidate's FLOPs, params and (measured before training, so that a scheduler
ranking on it has it from the first rung) its batch-1 latency. With the run's ``coordination`` in the config,
the latency is measured while no other trial computes on the device, once per architecture and kind of
device in the run (``latency_source``: ``measured``, or ``reused`` from an earlier trial), and training holds
the device shared (:mod:`nas_resnext.search.device_lock`); without it, or without a coordinator to reach,
it is measured as it comes (``unguarded``). A candidate that fails or diverges sends one last report with
``state`` and ``error`` and a NaN accuracy; nothing escapes to the search.

Every report also says where the trial's time went besides its epochs (``time_*``, seconds): the worker's
start-up (``time_worker_start``: the age of the worker process when its first trial began; 0 for a reused
worker), imports and counting (``time_setup``), the latency measurement with any wait for the device
(``time_latency``), reading the data set (``time_data``) and a checkpoint to continue from
(``time_resume``), building the model and putting it and the data on the device (``time_build``), and
writing checkpoints and reports (``time_report``, cumulative); ``time_in_trial`` is the trial's wall time in
the worker so far.

Every report says where the trial runs: its Ray node's id (``node``) and IP address (``node_ip``), so that
a trial lost with its node, and the retry that continued it elsewhere, can be told apart.
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas_resnext.architecture import Architecture
from nas_resnext.settings import TrainSettings

if TYPE_CHECKING:
    import torch

    from nas_resnext.latency import Latency
    from nas_resnext.search.device_lock import DeviceCoordination
    from nas_resnext.training import TrainingState


_TRIALS_IN_THIS_PROCESS = 0  # trials this worker process has begun (Ray reuses a worker for later trials)


def _worker_start_seconds() -> float:
    """The age of this process when its first trial begins (its start-up and imports); 0 afterwards."""
    global _TRIALS_IN_THIS_PROCESS
    _TRIALS_IN_THIS_PROCESS += 1
    if _TRIALS_IN_THIS_PROCESS > 1:
        return 0.0
    try:
        import psutil  # a dependency of Ray's

        return max(0.0, time.time() - psutil.Process().create_time())
    except Exception:  # the figure is for a benchmark; a trial never fails for it
        return math.nan


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
    from nas_resnext.latency import LatencyProbe, architecture_probe, measurement_key

    probes: list[LatencyProbe] = []

    def prepare() -> None:  # beside the other trials: only the timing needs the device alone
        probes.append(architecture_probe(arch, device))
        probes[0].load()

    def measure() -> Latency:
        if not probes:
            prepare()
        return probes[0].measure(max_seconds=2.0)

    if coordination is None:
        return measure(), "unguarded"
    return coordination.latency(measurement_key(arch, device), measure, prepare=prepare)


def _node() -> dict[str, str]:
    """The Ray node this trial runs on: its id (unique in the cluster) and its IP address."""
    import ray

    return {"node": ray.get_runtime_context().get_node_id(), "node_ip": ray.util.get_node_ip_address()}


def _resume_state(config: dict[str, Any]) -> tuple[TrainingState | None, str | None]:
    """Where this trial continues from: Ray Tune's own checkpoint when Ray restarted the trial, else the
    checkpoint of the attempt it continues (``resume_from``), else nowhere. A checkpoint that cannot be read
    is a fresh start, with the reason."""
    from ray import tune

    from nas_resnext.search.checkpoints import read_state

    try:
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:
            with checkpoint.as_directory() as directory:
                return read_state(Path(directory)), None
        if config.get("resume_from"):
            return read_state(Path(config["resume_from"])), None
    except Exception as error:  # training from epoch 1 is slower, never wrong
        return None, f"checkpoint not readable, trained from epoch 1 ({type(error).__name__}: {error})"
    return None, None


def train_trial(config: dict[str, Any]) -> None:
    """Ray Tune function trainable. ``config``: ``arch``, ``training``, ``dataset``, ``data_dir``,
    ``coordination`` (the run's name for its device coordinators; optional) and ``resume_from`` (the
    checkpoint of an earlier attempt to continue; optional).

    Every epoch's report carries a checkpoint (see :mod:`nas_resnext.search.checkpoints`) and
    ``start_epoch``, the first epoch this attempt trained.
    """
    entered = time.perf_counter()
    timings = {"time_worker_start": _worker_start_seconds()}
    import json
    import tempfile

    from ray import tune

    from nas_resnext.complexity import count_analytic
    from nas_resnext.device import device_description, resolve_device
    from nas_resnext.search.checkpoints import write_checkpoint
    from nas_resnext.search.device_lock import DeviceCoordination
    from nas_resnext.training import train_candidate

    arch = Architecture.from_dict(config["arch"])
    settings = TrainSettings.from_dict(config["training"])
    complexity = count_analytic(arch)
    fixed: dict[str, Any] = {
        "flops": complexity.flops,
        "params": complexity.params,
        "activations": complexity.activations,
        "name": arch.name,
        **_node(),
    }
    coordination = None
    phase = entered  # so that the first phase includes the imports above

    def finish_phase(name: str) -> None:
        nonlocal phase
        now = time.perf_counter()
        timings[name] = now - phase
        phase = now

    try:
        device = resolve_device(settings.device)
        if config.get("coordination"):
            coordination = DeviceCoordination.join(config["coordination"], device)
        finish_phase("time_setup")  # imports, counting, joining the device's coordinator
        latency, fixed["latency_source"] = _trial_latency(arch, device, coordination)
        fixed["latency_ms"] = latency.single_ms
        fixed["latency_batch_ms"] = latency.batch_ms
        finish_phase("time_latency")
        data = _load_data(
            config["dataset"],
            config.get("data_dir"),
            arch.resolution,
            json.dumps(settings.to_dict(), sort_keys=True),
            (arch.in_channels, arch.num_classes),
        )
        finish_phase("time_data")
        resume, resume_problem = _resume_state(config)
        finish_phase("time_resume")
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
    fixed["start_epoch"] = resume.epoch + 1 if resume is not None else 1
    if resume_problem:
        fixed["resume_problem"] = resume_problem
    # What a user of the weights needs besides them; saved in every checkpoint.
    described = {
        "name": arch.name,
        "architecture": arch.to_dict(),
        "dataset": config["dataset"],
        "resolution": arch.resolution,
        "in_channels": arch.in_channels,
        "num_classes": arch.num_classes,
        "mean": list(data.mean),
        "std": list(data.std),
        "training": settings.to_dict(),
        "seed": settings.seed,
        "device": device_description(device),
        "latency_ms": latency.single_ms,
        "latency_batch_ms": latency.batch_ms,
        "latency_batch_size": latency.batch_size,
        "latency_device": f"{latency.device}, {latency.precision}",
    }
    saved: list[TrainingState] = []
    reported = 0
    timings["time_report"] = 0.0
    accounted = 0.0  # seconds since training began spent in epochs and in reports

    def report(metrics: Any, state: str, stashed: TrainingState) -> None:
        nonlocal reported, accounted
        began = time.perf_counter()
        # Time since training began that no epoch and no report took: the model's build and the data's
        # move to the device before the first epoch, copying the training state after each one.
        unaccounted = max(0.0, began - training_began - accounted - metrics.epoch_seconds)
        timings["time_build" if reported == 0 else "time_report"] += unaccounted
        accounted += metrics.epoch_seconds + unaccounted
        with tempfile.TemporaryDirectory(prefix="nas-resnext-checkpoint-") as directory:
            write_checkpoint(Path(directory), stashed, described)
            tune.report(
                {
                    **fixed,
                    "epoch": metrics.epoch,
                    "val_accuracy": metrics.val_accuracy,
                    "val_loss": metrics.val_loss,
                    "train_loss": metrics.train_loss,
                    "epoch_seconds": metrics.epoch_seconds,
                    "images_per_second": metrics.images_per_second,
                    "state": state,
                    **timings,
                    "time_in_trial": time.perf_counter() - entered,
                },
                checkpoint=tune.Checkpoint.from_directory(directory),
            )
        reported += 1
        spent = time.perf_counter() - began
        timings["time_report"] += spent
        accounted += spent

    def report_epoch(metrics: Any) -> None:
        report(metrics, "running" if metrics.epoch < settings.epochs else "complete", saved.pop())

    guard = coordination.compute_guard if coordination is not None else None
    timings["time_build"] = 0.0
    training_began = time.perf_counter()
    result = train_candidate(
        arch,
        data,
        settings,
        callback=report_epoch,
        measure=False,
        compute_guard=guard,
        on_state=saved.append,
        resume=resume,
    )
    if result.state == "complete" and reported == 0 and resume is not None and resume.history:
        # The attempt before finished its last epoch but its end was never recorded: report that epoch.
        report(resume.history[-1], "complete", resume)
    if result.state in ("failed", "diverged"):
        tune.report(
            {
                **fixed,
                "epoch": result.epochs,
                "val_accuracy": math.nan,
                "state": result.state,
                "error": result.error or result.state,
                **timings,
                "time_in_trial": time.perf_counter() - entered,
            }
        )
