"""One driver per run directory: the lock a search, resume or trade-off study holds on its run, with real
processes taking, refusing and taking over locks (no Ray here: holding a run needs none)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nas_resnext.errors import ConfigError
from nas_resnext.rundir import RunDirectory, RunOptions
from nas_resnext.space import DesignSpace

# Holds the run given as argv[1] until the file argv[2] appears (or at once, without it); exit 2 if refused.
HOLDER = """
import sys, time
from pathlib import Path
from nas_resnext.errors import ConfigError
from nas_resnext.rundir import RunDirectory
run = RunDirectory(Path(sys.argv[1]))
go = Path(sys.argv[3]) if len(sys.argv) > 3 else None
while go is not None and not go.exists():
    time.sleep(0.01)
try:
    with run.hold():
        print("held", flush=True)
        while len(sys.argv) > 2 and not Path(sys.argv[2]).exists():
            time.sleep(0.05)
except ConfigError as error:
    print(error, flush=True)
    sys.exit(2)
"""
# Takes the lock of the run given as argv[1] and ends without releasing it, as a killed process would.
ABANDON = """
import os, sys
from pathlib import Path
from nas_resnext.rundir import RunDirectory
held = RunDirectory(Path(sys.argv[1])).hold()
held.__enter__()
os._exit(0)
"""


def _python(code: str, *args: object, **kwargs: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def run(tmp_path: Path, tiny_space: Callable[..., Path]) -> RunDirectory:
    options = RunOptions(trials=1, sampler="random", scheduler="fifo", seed=0)
    return RunDirectory.create(tmp_path / "run", DesignSpace.from_file(tiny_space()), options)


def test_a_run_is_held_for_the_block_and_released_after(run: RunDirectory) -> None:
    files = sorted(p.name for p in run.path.iterdir())
    with run.hold():
        holder = json.loads(run.lock_file.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with run.hold():  # the same process may hold it again (the CLI and the search loop both do)
            assert run.lock_file.is_file()
        assert run.lock_file.is_file()  # still held by the outer block
    assert sorted(p.name for p in run.path.iterdir()) == files


def test_a_second_process_is_refused_while_the_run_is_held(run: RunDirectory) -> None:
    with run.hold():
        other = _python(HOLDER, run.path)
        out, err = other.communicate(timeout=60)
    assert other.returncode == 2, err
    assert out.startswith(f"--resume: got '{run.path}'; allowed: a run directory no other search")
    assert f"process {os.getpid()} on host {socket.gethostname()}" in out and len(out.splitlines()) == 1
    with run.hold():  # released: taken again at once
        pass


def test_a_lock_left_by_a_dead_process_is_taken_over(run: RunDirectory) -> None:
    abandoned = _python(ABANDON, run.path)
    assert abandoned.wait(timeout=60) == 0, abandoned.communicate()[1]
    assert json.loads(run.lock_file.read_text())["pid"] == abandoned.pid
    with run.hold():
        assert json.loads(run.lock_file.read_text())["pid"] == os.getpid()
    assert not run.lock_file.exists()


def test_racing_starts_on_a_stale_lock_have_one_winner(run: RunDirectory, tmp_path: Path) -> None:
    abandoned = _python(ABANDON, run.path)
    assert abandoned.wait(timeout=60) == 0
    go, release = tmp_path / "go", tmp_path / "release"
    starts = [_python(HOLDER, run.path, release, go) for _ in range(4)]
    go.touch()  # every start now tries to take the stale lock at once
    refused, waiting = [], list(starts)
    deadline = time.monotonic() + 120
    while len(refused) < len(starts) - 1 and time.monotonic() < deadline:
        for start in [s for s in waiting if s.poll() is not None]:
            waiting.remove(start)
            refused.append(start)
        time.sleep(0.05)
    release.touch()
    outputs = [start.communicate(timeout=60) for start in starts]
    winners = [out for out, _ in outputs if out.startswith("held")]
    assert len(winners) == 1, outputs
    assert all(start.returncode == 2 for start in refused), outputs
    assert not run.lock_file.exists()


def test_a_lock_from_another_host_is_kept_while_fresh_and_taken_over_when_stale(run: RunDirectory) -> None:
    from nas_resnext.run_lock import LOCK_STALE_SECONDS

    holder = {"host": "elsewhere.invalid", "pid": 4242, "started": "2026-01-01T00:00:00"}
    run.lock_file.write_text(json.dumps(holder))
    with pytest.raises(ConfigError) as info, run.hold():
        pass
    assert "process 4242 on host elsewhere.invalid" in str(info.value)
    assert json.loads(run.lock_file.read_text()) == holder  # a live holder's lock is left alone
    old = time.time() - LOCK_STALE_SECONDS - 60
    os.utime(run.lock_file, (old, old))  # its holder stopped refreshing it long ago
    with run.hold():
        assert json.loads(run.lock_file.read_text())["pid"] == os.getpid()
