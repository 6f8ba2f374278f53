"""The store under a writer it does not control, and erasure at the level of database files.

Reads must never wait behind a writer; a writer that cannot get the lock in time gets
``StoreBusyError`` (the API turns it into 503); bulk writes commit in bounded chunks; an erased
user's rows leave no bytes in the database file or its write-ahead log; tombstones hold no id; and
a re-imported export cannot bring an erased user's events back.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys.errors import StoreBusyError
from recsys.store import SQLiteStore
from recsys.store import sqlite as sqlite_module
from recsys.store.sqlite import EVENT_SCHEMA

MARK = "zq-store-mark-93af"


def events(rows: list[tuple[str, str, str, float, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row")


def db_bytes(path: Path) -> bytes:
    """The database file and whatever write-ahead log / shared memory files it has."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file())


def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another writer (e.g. a bulk import in another process) holding SQLite's write lock."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_reads_never_wait_behind_a_waiting_writer(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3", write_timeout_s=3.0)
    store.add_events(events([("u1", "i1", "view", 1.0, "")]))
    other = hold_write_lock(store.path)
    writer_done = threading.Event()
    outcome: list[object] = []

    def write() -> None:
        try:
            store.add_events(events([("u2", "i1", "view", 2.0, "")]))
        except StoreBusyError as exc:
            outcome.append(exc)
        finally:
            writer_done.set()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        time.sleep(0.3)  # the writer is now waiting for SQLite's write lock
        assert not writer_done.is_set()
        started = time.perf_counter()
        assert [e.item_id for e in store.user_events("u1")] == ["i1"]
        assert store.count_events() == 1 and store.user_state("u1")[0] is not None
        assert time.perf_counter() - started < 1.0  # not the writer's 3 s wait
    finally:
        other.execute("ROLLBACK")
        other.close()
        thread.join()
        store.close()
    assert outcome == []  # the lock was released in time: the write went through
    with SQLiteStore(tmp_path / "db.sqlite3") as again:
        assert again.count_events() == 2


def test_a_busy_store_raises_store_busy_and_writes_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3", write_timeout_s=0.2)
    other = hold_write_lock(store.path)
    try:
        started = time.perf_counter()
        with pytest.raises(StoreBusyError) as info:
            store.add_events(events([("u1", "i1", "view", 1.0, "")]))
        assert time.perf_counter() - started < 2.0
        assert info.value.retry_after_s > 0
        with pytest.raises(StoreBusyError):
            store.delete_user("u1")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.count_events() == 0
    store.close()


def test_bulk_writes_commit_in_bounded_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CHUNK_ROWS", "MIN_CHUNK_ROWS", "MAX_CHUNK_ROWS"):
        monkeypatch.setattr(sqlite_module, name, 10)
    monkeypatch.setattr(sqlite_module, "YIELD_S", 0.0)
    store = SQLiteStore(tmp_path / "db.sqlite3")
    commits = 0
    real = store._transaction

    def counting():  # type: ignore[no-untyped-def]
        nonlocal commits
        commits += 1
        return real()

    monkeypatch.setattr(store, "_transaction", counting)
    rows = [(f"u{i % 7}", f"i{i}", "view", float(i), "") for i in range(45)]
    assert store.add_events(events(rows)) == 45
    assert commits == 5  # 10 + 10 + 10 + 10 + 5
    commits = 0
    assert store.add_events(events(rows).with_columns(pl.col("ts") + 100), atomic=True) == 45
    assert commits == 1  # an API batch: all or nothing
    store.close()


def test_a_bulk_write_lets_another_process_writer_in_between_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chunks hold the lock ~0.3 s each; the other writer may wait 1 s at most; without the pause
    # between chunks the bulk writer retakes the lock before the other's busy-wait wakes up
    for name in ("CHUNK_ROWS", "MIN_CHUNK_ROWS", "MAX_CHUNK_ROWS"):
        monkeypatch.setattr(sqlite_module, name, 50)
    bulk = SQLiteStore(tmp_path / "db.sqlite3")
    real = bulk._transaction

    @contextmanager
    def slow_transaction():  # type: ignore[no-untyped-def]
        with real() as conn:
            yield conn
            time.sleep(0.3)  # a chunk that takes a while, as on a large store

    monkeypatch.setattr(bulk, "_transaction", slow_transaction)
    rows = [(f"u{i}", "i1", "view", float(i), "") for i in range(50 * 12)]
    thread = threading.Thread(target=bulk.add_events, args=(events(rows),))
    other = SQLiteStore(tmp_path / "db.sqlite3", write_timeout_s=1.0)  # as an API worker
    thread.start()
    outcomes = []
    try:
        time.sleep(0.2)
        for k in range(8):
            started = time.perf_counter()
            try:
                other.add_events(events([("api", f"x{k}", "view", 1e9 + k, "")]), atomic=True)
                outcomes.append(time.perf_counter() - started)
            except StoreBusyError:
                outcomes.append(-1.0)
    finally:
        thread.join()
        other.close()
        bulk.close()
    assert -1.0 not in outcomes, outcomes  # never busy
    assert max(outcomes) < 1.0


def test_bulk_chunks_retry_when_the_store_is_busy_for_a_moment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CHUNK_ROWS", "MIN_CHUNK_ROWS", "MAX_CHUNK_ROWS"):
        monkeypatch.setattr(sqlite_module, name, 10)
    store = SQLiteStore(tmp_path / "db.sqlite3", write_timeout_s=0.1)
    other = hold_write_lock(store.path)
    threading.Timer(0.35, lambda: (other.execute("ROLLBACK"), other.close())).start()
    rows = [(f"u{i}", "i1", "view", float(i), "") for i in range(25)]
    assert store.add_events(events(rows)) == 25  # the first chunk waited, then all went in
    store.close()


def test_erased_rows_leave_no_bytes_in_the_database_or_its_log(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    store = SQLiteStore(path)
    # enough other users that every index has interior pages around the marked user's rows
    rows = [(f"user-{u:05d}", f"item-{u % 97}", "view", float(u), f"s-{u}") for u in range(20_000)]
    rows += [(MARK, f"item-{i}", "purchase", 5e4 + i, f"{MARK}-session") for i in range(40)]
    store.add_events(events(rows))
    store.add_events(
        events([(MARK, "item-1", "click", 6e4, "")]).with_columns(
            pl.lit(f"{MARK}-event").alias("event_id")
        )
    )
    assert MARK.encode() in db_bytes(path)
    assert store.delete_user(MARK) == 41
    assert store.checkpoint(wait_s=5.0) is True
    assert (path.parent / (path.name + "-wal")).stat().st_size == 0
    assert MARK.encode() not in db_bytes(path)
    assert store.erased_at(MARK) is not None and store.count_events() == 20_000
    store.close()


def test_checkpoint_waits_for_a_reader_on_an_old_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    store = SQLiteStore(path)
    store.add_events(events([(MARK, "i1", "view", 1.0, "")]))
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM events").fetchone()  # a read transaction stays open
    store.delete_user(MARK)
    assert store.checkpoint(wait_s=0.3) is False  # the reader's snapshot still needs the log
    reader.execute("COMMIT")
    reader.close()
    assert store.checkpoint(wait_s=2.0) is True
    assert MARK.encode() not in db_bytes(path)
    store.close()


def test_tombstones_hold_no_user_id_and_old_ones_are_migrated(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    old = sqlite3.connect(path, isolation_level=None)  # a database written by version 1
    old.execute("CREATE TABLE erased_users (user_id TEXT PRIMARY KEY, erased_at REAL NOT NULL)")
    old.execute("INSERT INTO erased_users VALUES (?, 123.0)", (f"{MARK}-old",))
    old.close()
    store = SQLiteStore(path)
    assert store.erased_at(f"{MARK}-old") == 123.0
    store.delete_user(MARK, now=456.0)
    assert store.erased_at(MARK) == 456.0 and store.erased_at("someone-else") is None
    assert store.checkpoint() is True
    assert MARK.encode() not in db_bytes(path)
    assert set(store.erasures_since(400.0)) == {store.user_key(MARK)}
    store.close()
    with SQLiteStore(path) as again:  # the secret persists: the same key next time
        assert again.erased_at(MARK) == 456.0


def test_a_reimported_export_cannot_bring_an_erased_user_back(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3")
    export = events([(MARK, "i1", "purchase", 100.0, ""), ("u2", "i1", "view", 100.0, "")])
    store.add_events(export)
    store.delete_user(MARK, now=200.0)
    assert store.add_events(export) == 0  # u2's row is a duplicate, the erased user's is old
    assert store.user_events(MARK) == []
    # the user comes back after the erasure: new events are theirs again
    assert store.add_events(events([(MARK, "i2", "view", 300.0, "")])) == 1
    assert [e.item_id for e in store.user_events(MARK)] == ["i2"]
    store.close()


def test_compaction_removes_stale_copies_that_secure_delete_leaves(tmp_path: Path) -> None:
    # SQLite zeroes deleted rows, but a row that a page split or merge once moved can leave a
    # stale copy in the unused gap of the page it left; only rewriting the file removes it
    users = [f"zq-u{u:03d}" for u in range(60)]
    stale_before = 0
    for seed in range(3):
        path = tmp_path / f"db{seed}.sqlite3"
        store = SQLiteStore(path)
        rng = np.random.default_rng(seed)
        n = 6000
        frame = pl.DataFrame(
            {
                "user_id": [users[int(u)] for u in rng.integers(0, 60, n)],
                "item_id": [f"i{int(i)}" for i in rng.integers(0, 500, n)],
                "type": ["view"] * n,
                "ts": np.arange(n, dtype=float) + 1e9,
                "session_id": ["s"] * n,
                # client keys, as the API's clients send them: event_ids is keyed by user
                "event_id": [f"e{int(k)}" for k in rng.permutation(n)],
            }
        )
        for start in range(0, n, 200):  # API-sized writes: pages split as users interleave
            store.add_events(frame[start : start + 200])
        for user in users[:30]:
            store.delete_user(user)
        assert store.checkpoint() is True
        data = db_bytes(path)
        stale_before += sum(u.encode() in data for u in users[:30])
        assert store.compact() is True and store.compact_due() is None
        data = db_bytes(path)
        assert [u for u in users[:30] if u.encode() in data] == []
        assert all(u.encode() in data for u in users[30:])  # the others are all still there
        assert store.count_events() == frame.filter(pl.col("user_id").is_in(users[30:])).height
        store.close()
    # the reason compaction exists (SQLite 3.x today: about 1 of 30 users per seed, with events
    # indexed once by events_user_key; 1-4 with the two indexes before it); if a future SQLite
    # stops leaving stale copies, this fails: then compaction may become optional
    assert stale_before > 0


def test_compaction_due_is_recorded_once_and_cleared(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3")
    assert store.compact_due() is None
    store.mark_compact_due(now=10.0)
    store.mark_compact_due(now=20.0)  # the first time counts: the deadline runs from it
    assert store.compact_due() == 10.0
    assert store.compact() is True and store.compact_due() is None
    store.close()
