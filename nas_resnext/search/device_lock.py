"""Latency measured alone: per node and device, one Ray actor holds a readers-writer lock and the latencies.

Trials train at the same time in separate Ray worker processes, several to a machine (or to a GPU, with a
fractional ``--gpus-per-trial``); a latency taken while another trial computes on the same device measures
the contention as much as the architecture. So each node and device (its CPU, or one GPU) of a run gets one
named actor, a coordinator, and every trial there joins it (:class:`DeviceCoordination`):

- Training holds the device *shared*, in windows of about a quarter of a second (the trainer's
  ``compute_guard``); a latency measurement holds it *exclusively*. Writers come first: while a measurement
  waits, no new window opens, so it waits only for the windows in flight, and a stream of windows cannot
  starve it. A measurement that asks also appends a byte to a file of the coordinator's on the node, whose
  size every trainer checks at each step: a window in flight is handed back at its next step, so the
  measurement waits a step rather than the rest of a window.
- Latencies are kept by (architecture, device description, precision): an architecture is measured once per
  kind of device in a run, and every later trial of it (retried, resumed, a trade-off study's other seeds)
  reuses that measurement, also one taken by another node's coordinator.

Holders are processes, not leases with a timeout: the coordinator runs on its clients' node, so it can see
whether a holder's process still exists (pid and start time). One that died holding the device is dropped
within ``POLL_SECONDS``, while a slow but live one (a long training step) is never cut off. The actor is
detached, because it must outlive the trial worker that happened to create it, and it ends itself once none
of its clients' processes has been alive for ``LINGER_SECONDS``: a run's trial workers end with its Ray Tune
experiment, and so do its coordinators. Names hold a digest of the run (``coordination`` in a trial's config),
so two searches on one cluster never share one. Where no coordinator can be reached, a trial measures and
trains as it would alone.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from nas_resnext.latency import Latency

NAMESPACE = "nas_resnext"
POLL_SECONDS = 1.0
LINGER_SECONDS = 60.0
# How long a measurement waits for the device before it measures anyway (a live holder that never lets go).
MEASUREMENT_WAIT_SECONDS = 600.0
_PEER_SECONDS = 10.0

LatencyKey = tuple[str, str, str]  # (architecture name, device description, precision)

_log = logging.getLogger(__name__)


class DeviceLock:
    """The state of a readers-writer lock with writer priority; it never blocks (its caller waits).

    Leases are named by the caller and belong to a holder (a process), so that everything a holder held or
    asked for can be dropped at once when it dies. A shared lease is granted while no writer holds the lock
    or waits for it; writers queue and are granted first come, first served, once no lease is held.
    """

    def __init__(self) -> None:
        self._shared: dict[str, str] = {}  # lease -> holder
        self._exclusive: tuple[str, str] | None = None  # (lease, holder)
        self._waiting: dict[str, str] = {}  # queued exclusive leases -> holder, in arrival order

    def try_shared(self, lease: str, holder: str) -> bool:
        if self._exclusive is not None or self._waiting:
            return False
        self._shared[lease] = holder
        return True

    def request_exclusive(self, lease: str, holder: str) -> None:
        """Queue ``lease`` for the lock alone; from now on no new shared lease is granted before it."""
        self._waiting[lease] = holder

    def try_exclusive(self, lease: str) -> bool:
        """Grant the queued ``lease`` if it is first in the queue and no lease is held (True if it holds)."""
        if self._exclusive is not None:
            return self._exclusive[0] == lease
        if self._shared or next(iter(self._waiting), None) != lease:
            return False
        self._exclusive = (lease, self._waiting.pop(lease))
        return True

    def release(self, lease: str) -> bool:
        """Give back a held lease, or withdraw a queued request; False if ``lease`` is neither."""
        if self._exclusive is not None and self._exclusive[0] == lease:
            self._exclusive = None
            return True
        return self._shared.pop(lease, None) is not None or self._waiting.pop(lease, None) is not None

    def drop_holder(self, holder: str) -> list[str]:
        """Release every lease ``holder`` holds or waits for; returns them."""
        held = [(self._exclusive[0], self._exclusive[1])] if self._exclusive is not None else []
        leases = [
            lease
            for lease, owner in [*held, *self._shared.items(), *self._waiting.items()]
            if owner == holder
        ]
        for lease in leases:
            self.release(lease)
        return leases

    def holds(self, lease: str) -> bool:
        return lease in self._shared or (self._exclusive is not None and self._exclusive[0] == lease)

    def pending(self, lease: str) -> bool:
        return lease in self._waiting

    def holders(self) -> set[str]:
        """The holders that hold a lease or wait for one."""
        exclusive = {self._exclusive[1]} if self._exclusive is not None else set()
        return {*self._shared.values(), *self._waiting.values(), *exclusive}

    @property
    def idle(self) -> bool:
        return not self.holders()


# -- processes as holders ---------------------------------------------------------------------------------


def _proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; the fields after its last ')' are plain:
    # [0] is field 3 (the state), [19] field 22 (the start time).
    return text.rpartition(")")[2].split()


def process_identity(pid: int | None = None) -> str:
    """``"<pid>:<start time>"`` of a process on this machine (this one by default): a pid reused by a later
    process is another identity. Without /proc the start time is ``-`` and the pid alone is checked."""
    pid = os.getpid() if pid is None else pid
    fields = _proc_stat(pid)
    return f"{pid}:{fields[19] if fields else '-'}"


def process_alive(identity: str) -> bool:
    """Whether the process of ``identity`` (from :func:`process_identity` on this machine) still runs."""
    pid_text, _, started = identity.partition(":")
    pid = int(pid_text)
    if started != "-":
        fields = _proc_stat(pid)
        # A zombie has ended: only its exit status is left for its parent to collect.
        return fields is not None and fields[0] not in ("Z", "X") and fields[19] == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- the actor --------------------------------------------------------------------------------------------


class _Coordinator:
    """The lock and the latencies of one node and device; a Ray actor whose methods share one event loop,
    so its state needs no other locking. ``client`` arguments are process identities on this node."""

    def __init__(self, linger_seconds: float, poll_seconds: float) -> None:
        self._lock = DeviceLock()
        self._latencies: dict[LatencyKey, dict[str, Any]] = {}
        self._measured: Counter[LatencyKey] = Counter()
        self._reused: Counter[LatencyKey] = Counter()
        self._clients: set[str] = set()
        self._linger = linger_seconds
        self._poll = poll_seconds
        self._last_call = time.monotonic()
        self._changed: asyncio.Condition | None = None
        self._watcher: asyncio.Task | None = None
        self._wanted = _wanted_file()

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:  # made on the actor's event loop, at its first call
            self._changed = asyncio.Condition()
            self._watcher = asyncio.get_running_loop().create_task(self._watch())
        return self._changed

    def _arrive(self, client: str | None = None) -> asyncio.Condition:
        if client is not None:
            self._clients.add(client)
        self._last_call = time.monotonic()
        return self._condition()

    async def _notify(self) -> None:
        changed = self._condition()
        async with changed:
            changed.notify_all()

    async def hello(self, client: str) -> str | None:
        """Register ``client``; the file that grows by a byte whenever a measurement asks for the device
        (None where none could be made): trainers check its size at every step to hand the device back."""
        self._arrive(client)
        return str(self._wanted) if self._wanted is not None else None

    async def open(self) -> None:
        """Start the watch that ends this coordinator after ``linger_seconds`` without clients."""
        self._arrive()

    async def acquire_shared(self, client: str) -> str:
        changed = self._arrive(client)
        lease = uuid.uuid4().hex
        async with changed:
            await changed.wait_for(lambda: self._lock.try_shared(lease, client))
        return lease

    async def release(self, lease: str) -> None:
        self._arrive()
        if self._lock.release(lease):
            await self._notify()

    async def lookup(self, client: str, key: LatencyKey) -> dict[str, Any] | None:
        """The latency kept for ``key``, counted as reused by ``client``; None if there is none."""
        self._arrive(client)
        found = self._latencies.get(tuple(key))
        if found is not None:
            self._reused[tuple(key)] += 1
        return found

    async def peek(self, key: LatencyKey) -> dict[str, Any] | None:
        """The latency kept for ``key`` (for another node's coordinator), uncounted."""
        return self._latencies.get(tuple(key))

    async def remember(self, client: str, key: LatencyKey, latency: dict[str, Any]) -> None:
        """Keep a latency another node's coordinator measured; ``client`` reused it."""
        self._arrive(client)
        self._latencies.setdefault(tuple(key), latency)
        self._reused[tuple(key)] += 1

    async def begin_measurement(self, client: str, key: LatencyKey, wait_seconds: float) -> tuple[str, Any]:
        """``("reused", latency)`` if ``key`` was measured (perhaps while this call waited), else
        ``("lease", lease)`` once the device is the caller's alone, or ``("timeout", None)`` after
        ``wait_seconds``; the lease is given back by :meth:`finish_measurement`."""
        changed = self._arrive(client)
        key = tuple(key)
        if key in self._latencies:
            self._reused[key] += 1
            return "reused", self._latencies[key]
        lease = uuid.uuid4().hex
        self._lock.request_exclusive(lease, client)
        self._signal_wanted()
        async with changed:
            try:
                await asyncio.wait_for(
                    changed.wait_for(
                        lambda: self._lock.try_exclusive(lease) or not self._lock.pending(lease)
                    ),
                    wait_seconds,
                )
            except asyncio.TimeoutError:
                self._lock.release(lease)
                changed.notify_all()  # readers held back by this request may go on
                return "timeout", None
            if not self._lock.holds(lease):  # dropped: its process was taken for dead
                return "timeout", None
            if key in self._latencies:
                self._lock.release(lease)
                changed.notify_all()
                self._reused[key] += 1
                return "reused", self._latencies[key]
        return "lease", lease

    async def finish_measurement(self, lease: str, key: LatencyKey, latency: dict[str, Any] | None) -> None:
        """Keep ``latency`` (None: the measurement failed) and give the device back."""
        key = tuple(key)
        if latency is not None and key not in self._latencies:
            self._latencies[key] = latency
            self._measured[key] += 1
        await self.release(lease)

    async def stats(self) -> dict[str, Any]:
        """Processes holding or waiting for the device, live clients, and per latency kept: how often it
        was measured here and reused."""
        return {
            "holders": len(self._lock.holders()),
            "clients": len(self._clients),
            "latencies": [
                {
                    "architecture": key[0],
                    "device": key[1],
                    "precision": key[2],
                    "measured": self._measured[key],
                    "reused": self._reused[key],
                }
                for key in self._latencies
            ],
        }

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            try:
                gone = {c for c in self._clients | self._lock.holders() if not process_alive(c)}
                if gone:
                    self._clients -= gone
                    for client in gone:
                        self._lock.drop_holder(client)
                    await self._notify()
                if (
                    not self._clients
                    and self._lock.idle
                    and time.monotonic() - self._last_call >= self._linger
                ):
                    break
            except Exception:  # the watcher must go on, or a dead holder would block the device
                _log.exception("device coordinator: checking its clients failed")
        if self._wanted is not None:
            self._wanted.unlink(missing_ok=True)
        import ray

        ray.kill(ray.get_runtime_context().current_actor, no_restart=True)

    def _signal_wanted(self) -> None:
        if self._wanted is None:
            return
        try:
            with self._wanted.open("ab") as handle:
                handle.write(b".")
        except OSError:  # trainers then hand the device back when their window's time is up
            pass


def _wanted_file(folder: Path | None = None) -> Path | None:
    """A new, empty file in this node's temporary directory (see :meth:`_Coordinator.hello`), named after
    the coordinator's process; the files of coordinators that ended without removing theirs (killed) go."""
    try:
        folder = folder or Path(tempfile.gettempdir()) / "nas-resnext-coordinators"
        folder.mkdir(exist_ok=True)
        _remove_orphans(folder)
        pid, _, started = process_identity().partition(":")
        path = folder / f"{pid}_{started}_{uuid.uuid4().hex}.wanted"
        path.touch()
    except OSError:
        return None
    return path


def _remove_orphans(folder: Path) -> None:
    for path in folder.glob("*.wanted"):
        pid, _, rest = path.stem.partition("_")
        started = rest.partition("_")[0]
        try:
            orphan = pid.isdigit() and bool(started) and not process_alive(f"{pid}:{started}")
            if orphan:
                path.unlink(missing_ok=True)
        except OSError:  # another coordinator's sweep got there first, or it is not ours to remove
            pass


def _file_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


@functools.lru_cache(maxsize=1)
def _actor_class() -> Any:
    import ray

    return ray.remote(_Coordinator)


# -- names ------------------------------------------------------------------------------------------------


def _prefix(coordination: str) -> str:
    return f"device-lock/{hashlib.sha256(coordination.encode()).hexdigest()[:16]}/"


def coordinator_name(coordination: str, node_id: str, device_key: str) -> str:
    """The actor name of a run's coordinator for one node and device (in the ``nas_resnext`` namespace)."""
    return f"{_prefix(coordination)}{node_id}/{device_key}"


def coordinator_names(coordination: str) -> list[str]:
    """The names of the run's coordinators alive in the cluster this process is connected to."""
    import ray

    prefix = _prefix(coordination)
    return sorted(
        entry["name"]
        for entry in ray.util.list_named_actors(all_namespaces=True)
        if entry["namespace"] == NAMESPACE and entry["name"].startswith(prefix)
    )


def coordinator_stats(coordination: str) -> list[dict[str, Any]]:
    """:meth:`_Coordinator.stats` of each of the run's coordinators, with its ``name``."""
    import ray

    stats = []
    for name in coordinator_names(coordination):
        actor = ray.get_actor(name, namespace=NAMESPACE)
        stats.append({"name": name, **ray.get(actor.stats.remote())})
    return stats


def device_key(device: torch.device) -> str:
    """What one lock covers: ``cpu`` (the node's processors), or one physical GPU, named by its UUID because
    every Ray worker numbers the GPUs it is given from 0."""
    if device.type != "cuda":
        return device.type
    import torch

    properties = torch.cuda.get_device_properties(device)
    # Without a UUID, GPUs of one model share a lock: measurements wait more, but are never disturbed.
    return f"cuda-{getattr(properties, 'uuid', None) or properties.name}"


# -- a trial's side ---------------------------------------------------------------------------------------


class DeviceCoordination:
    """A trial process's handle on its node's coordinator for one device: ``compute_guard`` for training,
    ``latency`` for measuring. Made by :meth:`join`."""

    def __init__(
        self, coordination: str, node_id: str, device_key: str, linger_seconds: float, poll_seconds: float
    ) -> None:
        self.coordination = coordination
        self.name = coordinator_name(coordination, node_id, device_key)
        self._node_id = node_id
        self._options = (linger_seconds, poll_seconds)
        self._client = process_identity()
        self._actor: Any = None
        self._wanted: Path | None = None
        self._warned = False

    @classmethod
    def join(
        cls,
        coordination: str,
        device: torch.device,
        *,
        linger_seconds: float = LINGER_SECONDS,
        poll_seconds: float = POLL_SECONDS,
    ) -> DeviceCoordination | None:
        """The coordinator of ``device`` on this node for the run ``coordination``, started if there is none
        yet; None where none can be had (this process is not connected to Ray, or Ray refuses)."""
        try:
            import ray

            if not ray.is_initialized():
                return None
            node_id = ray.get_runtime_context().get_node_id()
            coordination_handle = cls(coordination, node_id, device_key(device), linger_seconds, poll_seconds)
            coordination_handle._connect()
        except Exception as error:
            _log.warning(
                "no device coordinator (%s: %s); latency is measured unguarded", type(error).__name__, error
            )
            return None
        return coordination_handle

    @classmethod
    def prestart(
        cls,
        coordination: str,
        node_ids: Sequence[str],
        device_key: str = "cpu",
        *,
        linger_seconds: float = LINGER_SECONDS,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        """Start the run's coordinators of ``device_key`` on ``node_ids`` without waiting for them (from the
        search's driver, before the first trials).

        A coordinator is an actor with a worker process of its own, which takes about a second to start;
        started by the first trial that needs it, every first trial on a node would wait that second before
        its latency measurement. One no trial joins ends ``linger_seconds`` after it started.
        """
        for node_id in node_ids:
            try:
                handle = cls(coordination, node_id, device_key, linger_seconds, poll_seconds)
                handle._create().open.remote()
            except Exception as error:  # the first trial starts it instead
                _log.warning("device coordinator not started ahead (%s: %s)", type(error).__name__, error)

    def _connect(self) -> None:
        import ray

        self._actor = self._create()
        wanted = ray.get(self._actor.hello.remote(self._client))
        self._wanted = Path(wanted) if wanted else None

    def _create(self) -> Any:
        """This node's coordinator, started if there is none (its handle; the actor may still be starting)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        return (
            _actor_class()
            .options(
                name=self.name,
                namespace=NAMESPACE,
                get_if_exists=True,
                lifetime="detached",
                num_cpus=0,  # it computes nothing, and must not wait for a trial's processor
                max_restarts=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(self._node_id, soft=False),
            )
            .remote(*self._options)
        )

    def _call(self, method: str, *args: Any) -> Any:
        import ray
        from ray.exceptions import RayActorError

        try:
            return ray.get(getattr(self._actor, method).remote(*args))
        except RayActorError:
            # It ended (its clients had all gone for a while) or was lost with its node: start it again.
            self._connect()
            return ray.get(getattr(self._actor, method).remote(*args))

    def _warn(self, error: Exception) -> None:
        if not self._warned:
            self._warned = True
            _log.warning("device coordinator %s unreachable (%s: %s)", self.name, type(error).__name__, error)

    def stats(self) -> dict[str, Any]:
        """This node's coordinator's :meth:`_Coordinator.stats`."""
        return self._call("stats")

    @contextmanager
    def compute_guard(self) -> Iterator[Callable[[], bool] | None]:
        """Hold the device shared while the block computes (a trainer's ``compute_guard``). Should the
        coordinator be unreachable, the block runs anyway: a trial never fails for want of it.

        The block is given a check, cheap enough for every training step (one ``stat``), that is True once a
        measurement has asked for the device since the block was asked for: the trainer then hands it back
        at that step rather than when its window's time is up. (Read before the lease is asked for: a
        request that comes in between makes the first check True, never one missed.)
        """
        wanted = self._wanted
        before = _file_size(wanted) if wanted is not None else -1
        try:
            lease = self._call("acquire_shared", self._client)
        except Exception as error:
            self._warn(error)
            lease = None
        try:
            yield (lambda: _file_size(wanted) != before) if wanted is not None and lease is not None else None
        finally:
            if lease is not None:
                try:
                    self._call("release", lease)
                except Exception as error:
                    self._warn(error)

    def latency(
        self,
        key: LatencyKey,
        measure: Callable[[], Latency],
        wait_seconds: float = MEASUREMENT_WAIT_SECONDS,
        prepare: Callable[[], None] | None = None,
    ) -> tuple[Latency, str]:
        """The latency of ``key`` and where it came from: this run's earlier measurement (``"reused"``), or
        ``measure()`` run while no other process computes on the device (``"measured"``). Where the device
        cannot be had (no coordinator, or still held after ``wait_seconds``) ``measure()`` runs as it is
        (``"unguarded"``). Not from inside :meth:`compute_guard`: the measurement would wait for itself.

        ``prepare()``, where given, runs when there is something to measure, before the device is asked for,
        holding it shared as training does: the slow set-up (building the model, moving it, a first CUDA
        context, loading kernels) then runs beside other trials instead of keeping them all waiting."""
        from nas_resnext.latency import Latency

        try:
            found = self._call("lookup", self._client, key) or self._from_peers(key)
            if found is not None:
                return Latency.from_dict(found), "reused"
        except Exception as error:
            self._warn(error)
            return measure(), "unguarded"
        if prepare is not None:
            with self.compute_guard():
                prepare()
        try:
            outcome, value = self._call("begin_measurement", self._client, key, wait_seconds)
        except Exception as error:
            self._warn(error)
            return measure(), "unguarded"
        if outcome == "reused":
            return Latency.from_dict(value), "reused"
        if outcome != "lease":
            return measure(), "unguarded"
        latency: Latency | None = None
        try:
            latency = measure()
        finally:
            try:
                self._call("finish_measurement", value, key, latency.to_dict() if latency else None)
            except Exception as error:
                self._warn(error)
        return latency, "measured"

    def _from_peers(self, key: LatencyKey) -> dict[str, Any] | None:
        """A latency of ``key`` another node's coordinator of this run keeps, then kept here too."""
        import ray

        for name in coordinator_names(self.coordination):
            if name == self.name:
                continue
            try:
                found = ray.get(
                    ray.get_actor(name, namespace=NAMESPACE).peek.remote(key), timeout=_PEER_SECONDS
                )
            except Exception:  # a peer that ended or cannot answer just has nothing to offer
                continue
            if found is not None:
                self._call("remember", self._client, key, found)
                return found
        return None
