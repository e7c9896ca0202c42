"""One driver per run: a lock file created atomically, naming its host and process, kept fresh while held.

``RunDirectory.hold`` uses it with the run's lock file. A lock whose process is gone is taken over: on this
host when the process no longer runs (nor a later one with its id), from another host once it has gone
unrefreshed for ``LOCK_STALE_SECONDS``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas_resnext.errors import ConfigError

# A holder refreshes its lock's time stamp this often. The process named by a lock from another host cannot
# be checked from here: its lock is taken over once it has gone unrefreshed for LOCK_STALE_SECONDS.
LOCK_HEARTBEAT_SECONDS = 30.0
LOCK_STALE_SECONDS = 300.0
# A lock without a readable record is one being written this instant, or one whose writer died in between.
_UNREADABLE_LOCK_SECONDS = 10.0


@contextmanager
def hold_lock(lock: Path, flag: str, path: Path) -> Iterator[None]:
    """Hold ``lock`` while the block runs (re-entrant within a process); a live holder's lock is a
    ConfigError for ``flag`` naming ``path`` and who holds it."""
    key = str(lock.resolve())
    with _HOLDINGS_GUARD:
        holding = _HOLDINGS.get(key)
        if holding is None:
            holding = _Holding(lock, _acquire(lock, flag, path))
            _HOLDINGS[key] = holding
        holding.depth += 1
    try:
        yield
    finally:
        with _HOLDINGS_GUARD:
            holding.depth -= 1
            if holding.depth == 0:
                del _HOLDINGS[key]
                holding.release()


class _Holding:
    """A lock this process holds, kept fresh by a heartbeat thread until it is released."""

    def __init__(self, lock: Path, record: dict[str, Any]) -> None:
        self.lock = lock
        self.record = record
        self.depth = 0
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name="run-lock-heartbeat", daemon=True)
        self._heartbeat.start()

    def _beat(self) -> None:
        while not self._stop.wait(LOCK_HEARTBEAT_SECONDS):
            try:
                os.utime(self.lock)
            except OSError:  # removed by hand; the run goes on
                continue

    def release(self) -> None:
        self._stop.set()
        self._heartbeat.join()
        seen = _read_lock(self.lock)
        if seen is not None and seen.holder is not None and seen.holder.get("token") == self.record["token"]:
            self.lock.unlink(missing_ok=True)  # only this holding's own lock, never a later one


_NOT_IN_USE = "a run directory no other search or study is using"
_HOLDINGS: dict[str, _Holding] = {}
_HOLDINGS_GUARD = threading.Lock()


def _process_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time since boot) of process ``pid`` from /proc; None where there is no /proc entry."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name: state, ppid, ..., field 22 at [19]
    return fields[0], fields[19]


def _lock_record() -> dict[str, Any]:
    stat = _process_stat(os.getpid())
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "process_start": stat[1] if stat else None,
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "",
        "token": secrets.token_hex(8),  # tells this holding from a later one by the same process id
    }


@dataclass(frozen=True)
class _LockSeen:
    """A lock file as read: its holder's record (None if unreadable) and what tells it from a later one."""

    holder: dict[str, Any] | None
    identity: tuple[int, int, bytes]  # inode, modification time (ns), content
    mtime: float


def _read_lock(lock: Path) -> _LockSeen | None:
    """The lock file as it is now; None if there is none."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(handle.fileno())
        content = handle.read()
    try:
        holder = json.loads(content)
    except ValueError:
        holder = None
    return _LockSeen(
        holder if isinstance(holder, dict) else None,
        (status.st_ino, status.st_mtime_ns, content),
        status.st_mtime,
    )


def _holder_runs(holder: dict[str, Any]) -> bool:
    """Whether the process a lock of this host names still runs (not a zombie, not a reused process id)."""
    try:
        pid = int(holder.get("pid", 0))
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    stat = _process_stat(pid)
    if stat is None:
        return True
    state, start = stat
    recorded = holder.get("process_start")
    return state != "Z" and (recorded is None or recorded == start)


def _is_stale(seen: _LockSeen) -> bool:
    age = time.time() - seen.mtime
    if seen.holder is None:
        return age > _UNREADABLE_LOCK_SECONDS
    if seen.holder.get("host") == socket.gethostname():
        return not _holder_runs(seen.holder)
    return age > LOCK_STALE_SECONDS


def _remove_stale(lock: Path, stale: _LockSeen) -> None:
    """Remove the lock ``stale`` and nothing else. Removals take turns through a second, briefly held lock
    file, so a lock that a racing start has just created in place of the stale one is never removed."""
    turn = lock.with_name(lock.name + ".takeover")
    try:
        fd = os.open(turn, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        with suppress(FileNotFoundError):  # left by a start that died in these few lines: cleared
            if time.time() - turn.stat().st_mtime > _UNREADABLE_LOCK_SECONDS:
                turn.unlink()
        time.sleep(0.05)
        return
    os.close(fd)
    try:
        now = _read_lock(lock)
        if now is not None and now.identity == stale.identity:
            lock.unlink()
    finally:
        turn.unlink()


def _acquire(lock: Path, flag: str, path: Path) -> dict[str, Any]:
    """Create ``lock`` naming this process, atomically; a live holder's lock is a ConfigError for ``flag``."""
    record = _lock_record()
    content = (json.dumps(record, indent=2) + "\n").encode()
    deadline = time.monotonic() + 2 * _UNREADABLE_LOCK_SECONDS
    while time.monotonic() < deadline:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            seen = _read_lock(lock)
            if seen is None:  # released meanwhile
                continue
            if not _is_stale(seen):
                raise ConfigError(flag, str(path), _in_use(seen.holder, lock)) from None
            _remove_stale(lock, seen)
            continue
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        return record
    raise ConfigError(flag, str(path), f"{_NOT_IN_USE} (other starts keep taking it)")


def _in_use(holder: dict[str, Any] | None, lock: Path) -> str:
    allowed = _NOT_IN_USE
    if holder is None:
        return f"{allowed} (another start is taking it this instant)"
    who = f"process {holder.get('pid')} on host {holder.get('host')} since {holder.get('started')}"
    if holder.get("host") == socket.gethostname():
        return f"{allowed} (in use by {who}; wait for it to end, or stop it)"
    minutes = LOCK_STALE_SECONDS / 60
    return (
        f"{allowed} (in use by {who}; wait for it to end, or stop it: its lock {lock} is taken over "
        f"{minutes:g} minutes after its last refresh)"
    )
