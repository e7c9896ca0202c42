"""Test-wide settings and fixtures; every Ray the tests start stays on 127.0.0.1 and reports nothing.

Markers (``make test-fast`` deselects the first three): ``ray`` starts Ray and trains through it, ``browser``
drives a headless Chromium, ``slow`` takes more than a few seconds otherwise.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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


def trial_workers(session: int) -> list[int]:
    """Ray worker processes of the search that leads session ``session`` that are running a trial now."""
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
        if int(fields[3]) == session and title.startswith(b"ray::ImplicitFunc.train"):
            workers.append(int(entry.name))
    return workers
