"""Test-wide settings and fixtures; every Ray the tests start stays on loopback (127.0.0.1, or 127.0.0.2 for
the two-node cluster: see ``ray_cluster``) and reports nothing.

Markers (``make test-fast`` deselects the first three): ``ray`` starts Ray and trains through it, ``browser``
drives a headless Chromium, ``slow`` takes more than a few seconds otherwise.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

# Read by Ray when it is first imported, so set before any test module imports it.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # Ray's switch for a loopback-only, one-machine cluster
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

RAY = str(Path(sys.executable).parent / "ray")
NAS = str(Path(sys.executable).parent / "nas-resnext")

# The reference architecture of the tests' studies: cifar template, 8 px, 1 channel, 10 classes, so it trains
# on the embedded digits in well under a second per epoch.
TINY_NAME = "X-11-1x4d-w4-s4-r8-i1"
# The same architecture as command-line flags (digits fixes the one channel and the ten classes).
TINY_FLAGS = [
    *("--template", "cifar", "--depths", "1,1,1", "--width", "4", "--stem-width", "4"),
    *("-C", "1", "-d", "4", "--resolution", "8"),
]
# A digits design space of 8 small architectures around it (a few thousand parameters each).
TINY_SPACE: dict[str, Any] = {
    "name": "tiny",
    "template": "cifar",
    "resolution": 8,
    "num_classes": 10,
    "in_channels": 1,
    "stem_width": 4,
    "dataset": "digits",
    "axes": {"depth": [1], "width": [2, 4], "cardinality": [1, 2], "bottleneck_width": [1, 2]},
    "budget": {"max_gflops": 0.01},
    "training": {"epochs": 2, "batch_size": 128, "lr": 0.2, "val_fraction": 0.2},
    "search": {"trials": 3, "sampler": "random", "seed": 0},
}


def write_tiny_space(directory: Path, name: str = "tiny", **overrides: Any) -> Path:
    """Write ``TINY_SPACE`` as ``directory/<name>.yaml``; ``training__epochs=1`` sets a nested key."""
    import copy

    data = copy.deepcopy(TINY_SPACE)
    data["name"] = name
    for key, value in overrides.items():
        node = data
        *parents, last = key.split("__")
        for parent in parents:
            node = node[parent]
        node[last] = value
    path = Path(directory) / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def tiny_space(tmp_path: Path) -> Callable[..., Path]:
    """``tiny_space(name="tiny", **overrides) -> path``: the tiny digits space, in the test's folder."""

    def write(name: str = "tiny", **overrides: Any) -> Path:
        return write_tiny_space(tmp_path, name, **overrides)

    return write


@pytest.fixture
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in the test's folder: searches and studies write runs/ and reports/ in the working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A real Ray head node on 127.0.0.1 with token authentication, in a temporary directory."""
    temp_dir = tmp_path_factory.mktemp("ray")
    port = _free_port()
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    }
    head = subprocess.Popen(
        [
            RAY,
            "start",
            "--head",
            "--block",
            f"--port={port}",
            f"--temp-dir={temp_dir}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        probe = subprocess.run(
            [RAY, "status", f"--address={address}"], env=env, capture_output=True, check=False
        )
        if probe.returncode == 0:
            break
        time.sleep(1)
    else:
        head.kill()
        pytest.fail("the Ray head node did not come up")
    yield address, env
    os.killpg(head.pid, signal.SIGTERM)
    try:
        head.wait(timeout=10)
    except subprocess.TimeoutExpired:  # a graceful Ray shutdown can take long; the test is over
        os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=30)


def trial_workers(session: int, busy_only: bool = True) -> list[int]:
    """Ray worker processes of the search that leads session ``session`` that are running a trial now
    (``busy_only=False``: also a trial's worker between two of its reports, when Ray titles it without the
    ``.train`` it has while training)."""
    workers = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            title = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()  # state, ppid, pgrp, session, ...
        prefix = b"ray::ImplicitFunc.train" if busy_only else b"ray::ImplicitFunc"
        if int(fields[3]) == session and title.startswith(prefix):
            workers.append(int(entry.name))
    return workers


# --------------------------------------------------------------------------------- a two-node Ray cluster

# Ray cannot keep a cluster of two nodes on 127.0.0.1: where multi-node clusters are off (the switch above at
# "0") ``ray start --address`` refuses to start a worker node, and where they are on (Linux's default) Ray
# rewrites 127.0.0.1 and localhost, in ``--address`` and ``--node-ip-address`` alike, to the machine's
# outward address (``ray._private.services.resolve_ip_for_localhost``). Another loopback address is left as
# it is, so the cluster runs on 127.0.0.2 (Linux routes all of 127/8 to the loopback device). Its GCS and
# raylets then listen on every interface, as on any multi-node cluster: the token guards them.
CLUSTER_IP = "127.0.0.2"
# Ray's GCS declares a node dead after ``failure_threshold`` failed health checks ``period_ms`` apart (Ray
# 2.60's defaults: 5 and 3 s; ``ray status`` dropped a killed worker node after about 20 s). A killed raylet
# refuses the connection at once, so here it is declared dead about 3 s after it died (``ray status``: 4.5 s).
# Until then the cluster counts the node alive. Each check's time-out stays Ray's 10 s: a raylet slow to
# answer on a busy machine is not dead.
_FAST_NODE_DEATH = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3"}


@dataclass
class RayCluster:
    """Two ``ray start`` nodes on this machine, one CPU each; ``env`` is what a driver (and ``ray``) needs."""

    address: str
    env: dict[str, str]
    head_node: str  # Ray node ids, as ``ray status`` and ray.nodes() give them
    worker_node: str
    head: subprocess.Popen
    worker: subprocess.Popen

    def lose_worker(self) -> None:
        """The worker node dies at once, as a machine that fails: SIGKILL to every process its ``ray start``
        started (its raylet and agents, and the Ray workers running trials there)."""
        _kill_node(self.worker, signal.SIGKILL)
        self.worker.wait(timeout=30)


def _session(session: int) -> list[int]:
    """Processes of the session ``session`` (``ray start`` leads one per node)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[3]) == session:  # state, ppid, pgrp, session, ...
            members.append(int(entry.name))
    return members


def _kill_node(node: subprocess.Popen, signum: int) -> None:
    """Send ``signum`` to every process of a node: its ``ray start`` session. Ray puts each worker process
    in a process group of its own, so the node's process group is not all of them; its session is."""
    with contextlib.suppress(ProcessLookupError):  # gone already
        os.killpg(node.pid, signum)
    for _ in range(3):  # the raylet may have started a worker while the first ones were signalled
        for pid in _session(node.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


def _active_nodes(address: str, env: dict[str, str]) -> set[str]:
    """Ids of the cluster's live nodes as ``ray status`` lists them; empty while the head is not up."""
    try:
        status = subprocess.run(
            [RAY, "status", f"--address={address}"], env=env, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        return set()
    if status.returncode != 0 or "Active:" not in status.stdout:
        return set()
    active = status.stdout.split("Active:", 1)[1].split("Pending:", 1)[0]
    return set(re.findall(r"node_([0-9a-f]+)", active))


def _start_node(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as output:  # Ray's own messages, for a failure's report
        return subprocess.Popen(
            [RAY, "start", "--block", *argv],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture
def ray_cluster() -> Iterator[RayCluster]:
    """A head and a worker node started by ``ray start`` on 127.0.0.2 (see ``CLUSTER_IP``), token
    authentication on, one CPU each (two trials at once must use both), each in a temporary directory of its
    own; stopped after (SIGTERM to each ``ray start``, then SIGKILL to whatever is left of its node). A lost
    node is declared dead within seconds."""
    # Short: Ray's socket paths (TEMP/<node>/session_<date>_<pid>/sockets/plasma_store) must fit in 107 bytes.
    directory = Path(tempfile.mkdtemp(prefix="nas-ray-"))
    port = _free_port()
    address = f"{CLUSTER_IP}:{port}"
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1",  # multi-node clusters on (Linux's default): see CLUSTER_IP
        **_FAST_NODE_DEATH,
        # A node told to stop (SIGTERM to its ray start) first drains, waiting up to 30 s for its detached
        # actors (the search's device coordinators) to leave; a test cluster has nothing worth waiting for.
        "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
    }
    common = [
        f"--node-ip-address={CLUSTER_IP}",
        "--num-cpus=1",
        f"--object-store-memory={100 * 2**20}",
        # Ray's default, 52365 on every node, would collide between the two nodes (and with any other Ray
        # on this machine); 0 lets each node's agent take a free port.
        "--dashboard-agent-listen-port=0",
        "--disable-usage-stats",
    ]
    nodes: list[subprocess.Popen] = []

    def wait_for(count: int, what: str) -> set[str]:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and all(node.poll() is None for node in nodes):
            active = _active_nodes(address, env)
            if len(active) == count:
                return active
            time.sleep(0.5)
        logs = "\n".join(f"{log.name}: {log.read_text()[-2000:]}" for log in sorted(directory.glob("*.log")))
        pytest.fail(f"the Ray {what} did not come up\n{logs}")

    try:
        nodes.append(
            _start_node(
                [
                    "--head",
                    f"--port={port}",
                    f"--temp-dir={directory / 'head'}",
                    "--include-dashboard=false",
                    *common,
                ],
                env,
                directory / "head.log",
            )
        )
        (head_node,) = wait_for(1, "head node")
        nodes.append(
            _start_node(
                [f"--address={address}", f"--temp-dir={directory / 'worker'}", *common],
                env,
                directory / "worker.log",
            )
        )
        (worker_node,) = wait_for(2, "worker node") - {head_node}
        yield RayCluster(address, env, head_node, worker_node, *nodes)
    finally:
        # SIGTERM to ``ray start`` alone, the worker first: it stops every process of its node (without a
        # drain, see the environment above); its whole process group at once would stop the head's GCS while
        # ``ray start`` still talks to it.
        for node in reversed(nodes):
            if node.poll() is None:
                node.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.wait(timeout=15)
            _kill_node(node, signal.SIGKILL)  # whatever is left
            node.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)
