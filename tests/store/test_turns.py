"""Fair turns at the store's write lock: in order within a process, and a lock file across."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from recsys.errors import StoreBusyError
from recsys.store import SQLiteStore
from recsys.store.turns import FairLock, FileTurn


def _until(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_threads_get_the_lock_in_the_order_they_asked() -> None:
    lock, order = FairLock(), []
    lock.acquire()
    threads = []
    for i in range(6):

        def take(i: int = i) -> None:
            with lock:
                order.append(i)

        t = threading.Thread(target=take)
        t.start()
        threads.append(t)
        _until(lambda i=i: lock.waiting == i + 1)  # in line before the next one starts
    lock.release()
    for t in threads:
        t.join(5)
    assert order == list(range(6))


def test_a_thread_that_releases_cannot_take_the_lock_back_before_a_waiting_one() -> None:
    # threading.RLock lets the releasing thread take it again at once: the writes of one
    # worker's threads then went first again and again
    lock, order = FairLock(), []
    lock.acquire()
    waiter = threading.Thread(
        target=lambda: (lock.acquire(), order.append("waiter"), lock.release())
    )
    waiter.start()
    _until(lambda: lock.waiting == 1)
    lock.release()
    with lock:
        order.append("releaser")
    waiter.join(5)
    assert order == ["waiter", "releaser"]


def test_the_lock_is_reentrant_and_only_its_owner_releases_it() -> None:
    lock = FairLock()
    with lock, lock:
        errors = []

        def other() -> None:
            try:
                lock.release()
            except RuntimeError as exc:
                errors.append(exc)

        t = threading.Thread(target=other)
        t.start()
        t.join(5)
        assert len(errors) == 1
    assert lock.acquire(blocking=False)  # free again after both levels
    lock.release()


def test_a_wait_that_runs_out_leaves_the_line_and_the_next_one_gets_the_lock() -> None:
    lock, got = FairLock(), []
    lock.acquire()
    t0 = time.monotonic()
    timed_out = threading.Thread(target=lambda: got.append(("first", lock.acquire(timeout=0.1))))
    timed_out.start()
    _until(lambda: lock.waiting == 1)
    second = threading.Thread(
        target=lambda: (got.append(("second", lock.acquire())), lock.release())
    )
    second.start()
    _until(lambda: lock.waiting == 2)
    timed_out.join(5)
    assert got == [("first", False)] and time.monotonic() - t0 >= 0.1
    assert lock.waiting == 1
    lock.release()
    second.join(5)
    assert got[1] == ("second", True)
    assert lock.acquire(blocking=False)  # nobody left holding it
    lock.release()


HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


@contextlib.contextmanager
def _held(path: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the lock file ``path`` for ``seconds``, then exits."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc


def _hands_over(turn: FileTurn, path: Path) -> None:
    """``turn`` holds the lock alone (no helper kept it), and lets go of it on release."""
    other = FileTurn(path)
    assert other.acquire(timeout=0.05) is False
    turn.release()
    assert other.acquire(timeout=1.0) is True
    other.release()


def test_a_file_turn_waits_for_another_process_until_its_deadline(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3-turn"
    turn = FileTurn(path)
    with _held(path, 0.6):
        started = time.monotonic()
        assert turn.acquire(timeout=0.1) is False  # the other process holds it
        assert 0.1 <= time.monotonic() - started < 0.5
        assert turn.acquire(timeout=5.0) is True  # once it exits; the given-up wait let go
    _hands_over(turn, path)


def test_writes_that_keep_giving_up_start_one_helper_thread_in_all(tmp_path: Path) -> None:
    # a process stopped in the middle of a write keeps its flock: the others' writes answer 503
    # again and again, and must not leave a thread (and an open file) behind each time
    path = tmp_path / "db.sqlite3-turn"
    turn = FileTurn(path)
    with _held(path, 1.0):
        for _ in range(20):
            assert turn.acquire(timeout=0.01) is False
        helpers = [t for t in threading.enumerate() if t.name == "recsys-write-turn"]
        assert len(helpers) == 1
        assert turn.acquire(timeout=5.0) is True  # the same wait, taken over
    _hands_over(turn, path)


def test_a_store_write_is_refused_when_another_process_keeps_the_turn(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    store = SQLiteStore(path, write_timeout_s=0.2)
    with _held(tmp_path / "db.sqlite3-turn", 1.0), pytest.raises(StoreBusyError):
        store.mark_compact_due(now=1.0)
    store.mark_compact_due(now=1.0)  # its turn again once the other process is gone
    assert store.compact_due() == 1.0
    store.close()
