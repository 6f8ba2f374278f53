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
from recsys.store.schema import EventRow
from recsys.store.turns import FairLock, FileTurn, GroupCommit


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


# --------------------------------------------------------------------------- group commits
class _Writer:
    """A group writer that records each group and holds the first one until released."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.first_taken = threading.Event()
        self.release_first = threading.Event()

    def __call__(self, take):  # type: ignore[no-untyped-def]
        works = take()
        self.groups.append(works)
        if len(self.groups) == 1:
            self.first_taken.set()
            assert self.release_first.wait(10)
        if "raise" in works:
            raise OSError("disk full")
        return [ValueError(w) if w.startswith("bad") else w.upper() for w in works]


def _submit_all(group: GroupCommit, writer: _Writer, works: list[str]) -> dict[str, object]:
    got: dict[str, object] = {}

    def one(work: str) -> None:
        try:
            got[work] = group.submit(work, writer)
        except Exception as exc:
            got[work] = exc

    threads = [threading.Thread(target=one, args=(w,)) for w in works]
    for thread in threads:
        thread.start()
        time.sleep(0.01)  # in order: each queues behind the previous
    writer.release_first.set()
    for thread in threads:
        thread.join(10)
    return got


def test_writes_queued_during_a_commit_are_committed_together() -> None:
    group, writer = GroupCommit(), _Writer()
    first = threading.Thread(target=lambda: group.submit("a", writer))
    first.start()
    assert writer.first_taken.wait(10)  # "a" is being committed
    got = _submit_all(group, writer, ["b", "bad-c", "d"])
    first.join(10)
    assert writer.groups == [["a"], ["b", "bad-c", "d"]]  # one commit for the three queued
    assert got["b"] == "B" and got["d"] == "D"
    assert isinstance(got["bad-c"], ValueError)  # its own failure, to its caller only
    assert group.submit("e", writer) == "E"  # nobody leads now: the next write commits alone
    assert writer.groups[-1] == ["e"]


def test_a_failed_commit_fails_every_write_of_its_group_and_the_next_group_goes_on() -> None:
    group, writer = GroupCommit(), _Writer()
    first = threading.Thread(target=lambda: group.submit("a", writer))
    first.start()
    assert writer.first_taken.wait(10)
    got = _submit_all(group, writer, ["b", "raise"])
    first.join(10)
    assert all(isinstance(got[w], OSError) for w in ("b", "raise"))
    assert group.submit("c", writer) == "C"


def _row(user: str, item: str, ts: float) -> EventRow:
    return (user, item, "view", ts, "", None)


def test_store_writes_from_many_threads_are_grouped_and_each_counts_its_own(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3")
    commits = 0
    transaction = store._transaction

    @contextlib.contextmanager
    def counted():  # type: ignore[no-untyped-def]
        nonlocal commits
        with transaction() as conn:
            time.sleep(0.005)  # a slow commit: writes queue behind it
            yield conn
        commits += 1

    store._transaction = counted  # type: ignore[method-assign]
    results: dict[int, int] = {}

    def write(k: int) -> None:
        rows = [_row(f"u{k}", "i1", 1.0), _row(f"u{k}", "i2", 2.0)]
        if k % 5 == 0:
            rows.append(_row("shared", "i1", 1.0))  # one event sent by several writers
        results[k] = store.add_event_rows(rows, atomic=True)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert store.count_events() == 81  # 40 x 2, and the shared event once
    assert sum(results.values()) == 81
    assert sorted(results.values()).count(3) == 1  # the shared event counted by one writer
    assert commits < 40  # queued writes shared commits
    store.close()


def test_a_write_that_fails_in_a_group_is_undone_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recsys.store import events as events_module

    store = SQLiteStore(tmp_path / "db.sqlite3")
    insert = events_module._insert_plain
    entered = threading.Event()
    go_on = threading.Event()

    def failing(conn, rows):  # type: ignore[no-untyped-def]
        if rows and rows[0][0] == "first":  # holds the first group until the others queue
            entered.set()
            assert go_on.wait(10)
        stored = insert(conn, rows)
        if rows and rows[0][0] == "bad":
            raise ValueError("refused after writing")
        return stored

    monkeypatch.setattr(events_module, "_insert_plain", failing)
    got: dict[str, object] = {}

    def write(user: str) -> None:
        try:
            got[user] = store.add_event_rows([_row(user, "i1", 1.0)], atomic=True)
        except ValueError as exc:
            got[user] = exc

    first = threading.Thread(target=write, args=("first",))
    first.start()
    assert entered.wait(10)
    others = [threading.Thread(target=write, args=(u,)) for u in ("good1", "bad", "good2")]
    for thread in others:
        thread.start()
    time.sleep(0.2)  # all three queued behind the first group
    go_on.set()
    for thread in [first, *others]:
        thread.join(10)
    assert got["first"] == got["good1"] == got["good2"] == 1
    assert isinstance(got["bad"], ValueError)
    assert store.count_events() == 3  # the failed write's row was rolled back alone
    assert store.user_events("bad") == []
    store.close()


def test_a_large_write_commits_alone(tmp_path: Path) -> None:
    from recsys.store.events import GROUPED_ROWS

    store = SQLiteStore(tmp_path / "db.sqlite3")
    calls: list[int] = []
    grouped = store._grouped

    def counting(rows, write):  # type: ignore[no-untyped-def]
        calls.append(len(rows))
        return grouped(rows, write)

    store._grouped = counting  # type: ignore[method-assign]
    small = [_row("u", f"i{k}", float(k)) for k in range(GROUPED_ROWS)]
    large = [_row("v", f"i{k}", float(k)) for k in range(GROUPED_ROWS + 1)]
    assert store.add_event_rows(small, atomic=True) == GROUPED_ROWS
    assert store.add_event_rows(large, atomic=True) == GROUPED_ROWS + 1
    assert store.add_event_rows(small[:1], atomic=False) == 0  # a bulk write: never grouped
    assert calls == [GROUPED_ROWS]
    store.close()
