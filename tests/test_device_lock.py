"""Latency measured alone: the readers-writer lock (table-tested), holders as processes, and under real Ray
a measurement that never overlaps training, a holder that dies, a cache that measures each architecture once
per device kind in a real study, and coordinators that end with their clients."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from conftest import TINY_FLAGS

from nas_resnext.search.device_lock import DeviceCoordination, DeviceLock, process_alive, process_identity

CPU = torch.device("cpu")

# Each step: (operation, lease or holder, expected result). A lease's holder is its letter ("a1" -> "a").
LOCK_TABLE: dict[str, list[tuple[str, str, Any]]] = {
    "readers share": [("shared", "a1", True), ("shared", "b1", True), ("shared", "a2", True)],
    "a writer waits for the readers in flight": [
        ("shared", "a1", True),
        ("request", "w1", None),
        ("exclusive", "w1", False),
        ("release", "a1", True),
        ("exclusive", "w1", True),
    ],
    "writer priority: a waiting writer keeps new readers out": [
        ("shared", "a1", True),
        ("request", "w1", None),
        ("shared", "b1", False),
        ("release", "a1", True),
        ("shared", "b1", False),
        ("exclusive", "w1", True),
        ("shared", "b1", False),
        ("release", "w1", True),
        ("shared", "b1", True),
    ],
    "a writer excludes other writers; writers go first come, first served": [
        ("request", "w1", None),
        ("request", "v1", None),
        ("exclusive", "v1", False),
        ("exclusive", "w1", True),
        ("exclusive", "v1", False),
        ("release", "w1", True),
        ("exclusive", "v1", True),
        ("shared", "a1", False),
        ("release", "v1", True),
        ("shared", "a1", True),
    ],
    "a granted writer asking again still holds": [
        ("request", "w1", None),
        ("exclusive", "w1", True),
        ("exclusive", "w1", True),
    ],
    "a writer that gives up while waiting lets readers in": [
        ("shared", "a1", True),
        ("request", "w1", None),
        ("shared", "b1", False),
        ("release", "w1", True),
        ("shared", "b1", True),
        ("exclusive", "w1", False),
    ],
    "a dead holder's leases and requests are dropped, others' kept": [
        ("shared", "a1", True),
        ("shared", "b1", True),
        ("request", "a2", None),
        ("request", "w1", None),
        ("drop", "a", ["a1", "a2"]),
        ("exclusive", "w1", False),
        ("release", "b1", True),
        ("exclusive", "w1", True),
        ("drop", "w", ["w1"]),
        ("shared", "b2", True),
    ],
    "a dead writer's lease is dropped": [
        ("request", "w1", None),
        ("exclusive", "w1", True),
        ("shared", "a1", False),
        ("drop", "w", ["w1"]),
        ("shared", "a1", True),
    ],
    "unknown leases and holders change nothing": [
        ("release", "x1", False),
        ("drop", "x", []),
        ("exclusive", "x1", False),
        ("shared", "a1", True),
    ],
}


@pytest.mark.parametrize("steps", LOCK_TABLE.values(), ids=LOCK_TABLE.keys())
def test_readers_writer_lock_with_writer_priority(steps: list[tuple[str, str, Any]]) -> None:
    lock = DeviceLock()
    for number, (operation, name, expected) in enumerate(steps):
        if operation == "shared":
            got: Any = lock.try_shared(name, name[0])
        elif operation == "request":
            got = lock.request_exclusive(name, name[0])
        elif operation == "exclusive":
            got = lock.try_exclusive(name)
        elif operation == "release":
            got = lock.release(name)
        else:
            got = sorted(lock.drop_holder(name))
        assert got == expected, f"step {number}: {operation} {name}"


def test_lock_reports_what_it_holds_and_waits_for() -> None:
    lock = DeviceLock()
    assert lock.idle
    lock.try_shared("a1", "a")
    lock.request_exclusive("w1", "w")
    assert not lock.idle and lock.holders() == {"a", "w"}
    assert lock.pending("w1") and not lock.holds("w1")
    lock.release("a1")
    assert lock.try_exclusive("w1") and lock.holds("w1") and not lock.pending("w1")
    lock.release("w1")
    assert lock.idle and lock.holders() == set()


def test_a_holder_is_alive_exactly_while_its_process_runs() -> None:
    assert process_alive(process_identity())
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    identity = process_identity(child.pid)
    assert process_alive(identity)
    child.communicate(b"")
    assert not process_alive(identity)


def test_without_ray_there_is_nothing_to_join() -> None:
    import ray

    if ray.is_initialized():  # an earlier in-process search keeps its local Ray
        ray.shutdown()
    assert DeviceCoordination.join("some run", CPU) is None
    assert not ray.is_initialized()  # joining never starts a Ray of its own


# ------------------------------------------------------------------------------------------ under real Ray


def test_the_request_file_of_a_killed_coordinator_goes_when_the_next_one_starts(tmp_path: Path) -> None:
    from nas_resnext.search.device_lock import _wanted_file, process_identity

    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    pid, _, started = process_identity(killed.pid).partition(":")
    killed.kill()
    killed.wait()
    left_behind = tmp_path / f"{pid}_{started}_0123.wanted"
    left_behind.touch()
    older_form = tmp_path / "0a1b2c.wanted"  # a name without its process: kept, nothing tells it ended
    older_form.touch()
    first = _wanted_file(tmp_path)
    second = _wanted_file(tmp_path)  # this process still runs: the first file stays
    assert first is not None and second is not None and first != second
    assert sorted(tmp_path.iterdir()) == sorted([first, second, older_form])


@pytest.fixture(scope="module")
def local_ray() -> None:
    import ray

    from nas_resnext.search.environment import connect_ray, search_environment

    with search_environment(None):
        connect_ray(None)
    # The tasks below are this module's functions; Ray's workers cannot import a test module by name.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _train_in_windows(coordination: str, folder: str) -> list[tuple[float, float]]:
    """Train a tiny candidate under the coordinator's shared lock, recording each compute window, until a
    window has started after the measurement (written by the other process) ended."""
    from nas_resnext.architecture import Architecture
    from nas_resnext.data import load_dataset
    from nas_resnext.settings import TrainSettings
    from nas_resnext.training import train_candidate

    settings = TrainSettings(epochs=400, batch_size=32, lr=0.05, val_fraction=0.25, device="cpu")
    data = load_dataset("synthetic", resolution=8, settings=settings, num_samples=128, num_classes=4)
    arch = Architecture(
        template="cifar", depths=(1, 1, 1), width=4, cardinality=2, bottleneck_width=2, stem_width=8,
        **data.architecture_fields(),
    )  # fmt: skip
    coordination_handle = DeviceCoordination.join(coordination, CPU)
    assert coordination_handle is not None
    windows: list[tuple[float, float]] = []
    started = Path(folder) / "training"
    measured = Path(folder) / "measured"

    @contextmanager
    def recorded() -> Iterator[None]:
        with coordination_handle.compute_guard():
            start = time.monotonic()
            try:
                yield
            finally:
                windows.append((start, time.monotonic()))
                started.touch()

    def until_trained_after_the_measurement(metrics: Any) -> bool:
        return measured.exists() and windows[-1][0] >= float(measured.read_text().split()[1])

    result = train_candidate(
        arch,
        data,
        settings,
        until_trained_after_the_measurement,
        measure=False,
        compute_guard=recorded,
        guard_window_seconds=0.02,
    )
    assert result.state == "stopped", result.error
    return windows


def _measure_once_training_runs(
    coordination: str, folder: str, running: str = "training"
) -> tuple[float, float, str]:
    """Measure a latency once the file ``running`` in ``folder`` says the other process holds the device."""
    from nas_resnext.architecture import Architecture
    from nas_resnext.latency import architecture_latency, measurement_key

    started = Path(folder) / running
    while not started.exists():
        time.sleep(0.01)
    coordination_handle = DeviceCoordination.join(coordination, CPU)
    assert coordination_handle is not None
    arch = Architecture.from_name("X-11-2x2d-w4-s8-r8-i1")
    window: list[float] = []

    def measure() -> Any:
        window.append(time.monotonic())
        latency = architecture_latency(arch, CPU, warmup=1, repeats=5)
        window.append(time.monotonic())
        return latency

    _, source = coordination_handle.latency(measurement_key(arch, CPU), measure)
    (Path(folder) / "measured").write_text(f"{window[0]} {window[1]}")
    return window[0], window[1], source


@pytest.mark.ray
def test_a_measurement_never_overlaps_training_on_the_same_device(local_ray: None, tmp_path: Path) -> None:
    import ray

    coordination = f"overlap {tmp_path}"
    train = ray.remote(num_cpus=1)(_train_in_windows).remote(coordination, str(tmp_path))
    measure = ray.remote(num_cpus=1)(_measure_once_training_runs).remote(coordination, str(tmp_path))
    (start, end, source), windows = ray.get([measure, train], timeout=300)
    assert source == "measured"
    assert all(window_end <= start or window_start >= end for window_start, window_end in windows)
    # Training was under way when the measurement began and went on after it: it paused for it.
    assert any(window_end <= start for _, window_end in windows)
    assert any(window_start >= end for window_start, _ in windows)


def _hold_until_asked(coordination: str, folder: str) -> tuple[bool, float]:
    """Hold the device until the check the guard gives says a measurement wants it (2 minutes at most)."""
    coordination_handle = DeviceCoordination.join(coordination, CPU)
    assert coordination_handle is not None
    with coordination_handle.compute_guard() as wanted:
        assert wanted is not None and not wanted()
        (Path(folder) / "holding").touch()
        deadline = time.monotonic() + 120
        while not wanted() and time.monotonic() < deadline:
            time.sleep(0.001)
        asked = wanted()
        released = time.monotonic()
    return asked, released


@pytest.mark.ray
def test_a_measurement_asks_the_trainer_holding_the_device_to_hand_it_back(
    local_ray: None, tmp_path: Path
) -> None:
    import ray

    coordination = f"asked {tmp_path}"
    hold = ray.remote(num_cpus=1)(_hold_until_asked).remote(coordination, str(tmp_path))
    measure = ray.remote(num_cpus=1)(_measure_once_training_runs).remote(
        coordination, str(tmp_path), "holding"
    )
    (asked, released), (began, _, source) = ray.get([hold, measure], timeout=300)
    # The holder learnt of the request from its check (it would have held on for 2 minutes otherwise),
    # and the measurement began once it had let go.
    assert asked and source == "measured" and began >= released


def _die_holding_the_lock(coordination: str) -> None:
    coordination_handle = DeviceCoordination.join(coordination, CPU)
    assert coordination_handle is not None
    with coordination_handle.compute_guard():
        os._exit(1)  # the worker process ends while its shared lease is held


@pytest.mark.ray
def test_a_trial_that_dies_holding_the_lock_does_not_block_a_measurement(
    local_ray: None, tmp_path: Path
) -> None:
    import ray
    from ray.exceptions import RayError

    from nas_resnext.architecture import Architecture
    from nas_resnext.latency import architecture_latency, measurement_key

    coordination = f"dead holder {tmp_path}"
    with pytest.raises(RayError):
        ray.get(ray.remote(num_cpus=1, max_retries=0)(_die_holding_the_lock).remote(coordination))
    coordination_handle = DeviceCoordination.join(coordination, CPU)
    assert coordination_handle is not None
    arch = Architecture.from_name("X-11-2x2d-w4-s8-r8-i1")
    latency, source = coordination_handle.latency(
        measurement_key(arch, CPU),
        lambda: architecture_latency(arch, CPU, warmup=0, repeats=3),
        wait_seconds=120,  # a lease that outlived its process would hold the measurement back this long
    )
    assert source == "measured" and latency.single_ms > 0
    assert coordination_handle.stats()["holders"] == 0


def _joined_with_an_architecture(coordination: str) -> tuple[DeviceCoordination, Any]:
    """This process joined to the CPU coordinator of ``coordination``, and a tiny architecture to measure."""
    from nas_resnext.architecture import Architecture

    coordination_handle = DeviceCoordination.join(coordination, CPU)
    assert coordination_handle is not None
    return coordination_handle, Architecture.from_name("X-11-2x2d-w4-s8-r8-i1")


@pytest.mark.ray
def test_a_measurement_that_cannot_have_the_device_measures_anyway_and_lets_training_on(
    local_ray: None, tmp_path: Path
) -> None:
    from nas_resnext.latency import architecture_latency, measurement_key

    coordination_handle, arch = _joined_with_an_architecture(f"held {tmp_path}")
    with coordination_handle.compute_guard():  # a live holder that does not let go in time
        latency, source = coordination_handle.latency(
            measurement_key(arch, CPU),
            lambda: architecture_latency(arch, CPU, warmup=0, repeats=3),
            wait_seconds=0.2,
        )
    assert source == "unguarded" and latency.single_ms > 0
    # The request was withdrawn: training windows open again, and nothing was kept as measured alone.
    with coordination_handle.compute_guard():
        assert coordination_handle.stats()["holders"] == 1
    assert coordination_handle.stats() == {"holders": 0, "clients": 1, "latencies": []}


def _use_and_leave(coordination: str) -> int:
    coordination_handle = DeviceCoordination.join(coordination, CPU, linger_seconds=0.5)
    assert coordination_handle is not None
    with coordination_handle.compute_guard():
        pass
    return os.getpid()


@pytest.mark.ray
def test_a_coordinator_ends_once_its_clients_are_gone(local_ray: None, tmp_path: Path) -> None:
    import ray

    from nas_resnext.search.device_lock import coordinator_names

    coordination = f"lifetime {tmp_path}"
    # A fresh worker process for the client (max_calls=1), so that it ends when the task does.
    ray.get(ray.remote(num_cpus=1, max_calls=1)(_use_and_leave).remote(coordination), timeout=120)
    deadline = time.monotonic() + 120
    while coordinator_names(coordination) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert coordinator_names(coordination) == []


def _join_and_report(coordination: str) -> dict[str, Any]:
    coordination_handle = DeviceCoordination.join(coordination, CPU, linger_seconds=0.5)
    assert coordination_handle is not None
    with coordination_handle.compute_guard():
        pass
    return {"name": coordination_handle.name, **coordination_handle.stats()}


@pytest.mark.ray
def test_a_coordinator_started_ahead_is_the_one_trials_join_and_ends_unjoined(
    local_ray: None, tmp_path: Path
) -> None:
    import ray

    from nas_resnext.search.device_lock import coordinator_name, coordinator_names

    node = ray.get_runtime_context().get_node_id()
    joined, unjoined = f"ahead {tmp_path}", f"ahead, never joined {tmp_path}"
    DeviceCoordination.prestart(joined, [node], linger_seconds=0.5, poll_seconds=0.1)
    DeviceCoordination.prestart(unjoined, [node], linger_seconds=0.5, poll_seconds=0.1)
    deadline = time.monotonic() + 60
    while not (coordinator_names(joined) and coordinator_names(unjoined)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert coordinator_names(joined) == [coordinator_name(joined, node, "cpu")]
    # A trial's process joins the coordinator started ahead (the same named actor, no second one).
    stats = ray.get(ray.remote(num_cpus=1)(_join_and_report).remote(joined), timeout=120)
    assert stats["name"] == coordinator_name(joined, node, "cpu")
    assert coordinator_names(joined) == [stats["name"]]
    # One that no trial joins ends by itself, as one whose trials have gone does.
    deadline = time.monotonic() + 60
    while coordinator_names(unjoined) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert coordinator_names(unjoined) == []


@pytest.mark.ray
def test_a_study_measures_each_architecture_once_and_its_seeds_share_it(
    local_ray: None, tmp_path: Path
) -> None:
    from nas_resnext.cli import main
    from nas_resnext.search.device_lock import coordinator_stats

    run_dir = tmp_path / "study"
    argv = ["tradeoff", *TINY_FLAGS, "--cardinalities", "1,2", "--match", "flops", "--seeds", "2"]
    argv += ["--epochs", "1", "--batch-size", "128", "--lr", "0.2", "--val-fraction", "0.2"]
    assert main([*argv, "--run-dir", str(run_dir), "-q"]) == 0
    trials = pd.read_csv(run_dir / "trials.csv")
    assert len(trials) == 4 and set(trials["state"]) == {"COMPLETE"}
    per_architecture = trials.groupby("name")["latency_ms"].nunique()
    assert len(per_architecture) == 2 and (per_architecture == 1).all()
    stats = coordinator_stats(str(run_dir.resolve()))
    assert len(stats) == 1  # one node, one device
    measured = {entry["architecture"]: entry["measured"] for entry in stats[0]["latencies"]}
    assert measured == dict.fromkeys(trials["name"].unique(), 1)
    reused = {entry["architecture"]: entry["reused"] for entry in stats[0]["latencies"]}
    assert reused == dict.fromkeys(trials["name"].unique(), 1)


@pytest.mark.ray
def test_a_measurement_prepares_beside_training_and_only_when_there_is_something_to_measure(
    local_ray: None, tmp_path: Path
) -> None:
    from nas_resnext.latency import architecture_latency, measurement_key

    coordination_handle, arch = _joined_with_an_architecture(f"prepare {tmp_path}")
    key = measurement_key(arch, CPU)
    seen: list[tuple[str, bool]] = []
    waiting: list[threading.Thread] = []

    def another_trial_can_compute() -> bool:  # a trainer's window, asked for from another thread
        def open_window() -> None:
            with coordination_handle.compute_guard():
                pass

        window = threading.Thread(target=open_window)
        window.start()
        window.join(timeout=3)
        waiting.append(window)
        return not window.is_alive()

    def prepare() -> None:
        seen.append(("prepare", another_trial_can_compute()))

    def measure() -> Any:
        seen.append(("measure", another_trial_can_compute()))
        return architecture_latency(arch, CPU, warmup=0, repeats=3)

    latency, source = coordination_handle.latency(key, measure, prepare=prepare)
    assert source == "measured" and latency.single_ms > 0
    # Set-up shares the device with training; only the timing has it alone (the window waits until then).
    assert seen == [("prepare", True), ("measure", False)]
    waiting[-1].join(timeout=30)
    assert not waiting[-1].is_alive()
    seen.clear()
    again, source = coordination_handle.latency(key, measure, prepare=prepare)
    assert source == "reused" and again == latency and seen == []
