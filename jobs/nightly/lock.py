"""A run lock for the nightly job: ``fcntl.flock`` on a file that names its holder.

The kernel releases a ``flock`` when its holder dies (even by ``kill -9``), so a lock can never
stay taken by a dead process. The file itself keeps the holder's JSON record (pid, host, start
time, run id, current step, bundle version written) until the holder releases it cleanly; finding
a record when acquiring therefore means the previous run died, and the record says where. The
home must be on a local file system (``flock`` over NFS is not reliable everywhere).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsys.errors import LockedError
from recsys.home import process_alive

log = logging.getLogger(__name__)


class RunLock:
    """An exclusive, non-blocking lock on ``path`` that records its holder.

    Example:
        >>> lock = RunLock(home.root / "nightly.lock")
        >>> stale = lock.acquire("run-1")  # LockedError if another run holds it
        >>> lock.update(step="train")
        >>> lock.release()
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._record: dict[str, Any] = {}

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def _read(self, fd: int) -> dict[str, Any] | None:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = b""
        while chunk := os.read(fd, 65536):
            raw += chunk
        if not raw.strip():
            return None
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return {"unreadable": raw[:200].decode("utf-8", "replace")}
        return data if isinstance(data, dict) else {"unreadable": str(data)[:200]}

    def _write(self) -> None:
        assert self._fd is not None
        data = json.dumps(self._record).encode("utf-8")
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)

    def acquire(self, run_id: str) -> dict[str, Any] | None:
        """Take the lock without waiting.

        Returns:
            The record a dead previous holder left (its run crashed), or None after a clean run.

        Raises:
            LockedError: if another live process holds the lock (message names it).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._read(fd) or {}
            os.close(fd)
            raise LockedError(
                f"another run holds {self.path}: pid {holder.get('pid', '?')} on host "
                f"{holder.get('host', '?')}, run {holder.get('run_id', '?')} started "
                f"{holder.get('started_at', '?')} (now at step {holder.get('step', '?')})"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        stale = self._read(fd)
        self._fd = fd
        self._record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(),
            "run_id": run_id,
            "step": "lock",
        }
        self._write()
        if stale is not None:
            alive = (
                stale.get("host") == socket.gethostname()
                and isinstance(stale.get("pid"), int)
                and process_alive(stale["pid"])
            )
            stale["pid_alive"] = alive  # True only on pid reuse: the flock proves it is not ours
            log.warning(
                "recovered a stale lock: run %s (pid %s on %s, started %s) stopped at step %s "
                "without releasing it",
                stale.get("run_id", "?"),
                stale.get("pid", "?"),
                stale.get("host", "?"),
                stale.get("started_at", "?"),
                stale.get("step", "?"),
            )
        return stale

    def update(self, **fields: Any) -> None:
        """Record progress (e.g. ``step=``, ``version=``) in the lock file."""
        if self._fd is None:
            return
        self._record.update(fields)
        self._write()

    def release(self) -> None:
        """Empty the record and release the lock (a no-op when not held)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            os.fsync(fd)
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
