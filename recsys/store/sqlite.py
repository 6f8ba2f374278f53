"""SQLite-backed event and catalog store: the connection core, and :class:`SQLiteStore` of parts.

WAL mode lets several processes read (training jobs, API workers) while one writes;
``synchronous=FULL`` makes a write durable once the call returns. What the store does is split by
concern, one module each, and :class:`SQLiteStore` puts them together on the connection core kept
here:

- :mod:`recsys.store.events`: events, stored once each (natural key and client ``event_id``),
  read back for training and requests;
- :mod:`recsys.store.catalog`: catalog items and ``item_log``, the record of which items changed
  when (API workers pick up catalog changes made after a model was trained);
- :mod:`recsys.store.privacy`: erasing a user, and the keyed tombstones that tell servers so;
- :mod:`recsys.store.maintenance`: WAL checkpoints and compaction, which remove the old copies
  of erased rows;
- :mod:`recsys.store.schema`: the tables (SQL) and their columns, re-exported here.

Concurrency (the core): writes go through one write connection per process. A writer takes its
turn in its process (:class:`~recsys.store.turns.FairLock`, first come first served), then among
processes (:class:`~recsys.store.turns.FileTurn`, an ``flock`` on ``<database>-turn``), then
SQLite's own write lock; a writer that cannot get all three within ``write_timeout_s`` raises
:class:`~recsys.errors.StoreBusyError` (nothing written; the API answers 503 with
``Retry-After``). Reads use one connection per thread and never wait behind a writer (WAL
readers see the last committed state). Bulk writes commit in chunks that hold the write lock
about :data:`CHUNK_SECONDS` and pause :data:`YIELD_S` between them, so a writer waiting in another
process (an API worker) gets the lock within about one chunk.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from recsys.errors import StoreBusyError
from recsys.store.base import ChunkWriter, StoreBase
from recsys.store.catalog import CatalogMixin
from recsys.store.contract import SCHEMA_VERSION
from recsys.store.events import EventsMixin
from recsys.store.experiments import ExperimentsMixin
from recsys.store.maintenance import MaintenanceMixin
from recsys.store.privacy import PrivacyMixin, tombstone_key
from recsys.store.schema import (
    CATALOG_COLUMNS,
    EVENT_COLUMNS,
    EVENT_SCHEMA,
    ITEM_COLUMNS,
    ITEM_SCHEMA,
    SCHEMA,
)
from recsys.store.turns import FairLock, FileTurn, GroupCommit
from recsys.types import UserEvent, UserHistory

__all__ = [
    "BULK_RETRIES",
    "CATALOG_COLUMNS",
    "CHUNK_ROWS",
    "CHUNK_SECONDS",
    "EVENT_COLUMNS",
    "EVENT_SCHEMA",
    "ITEM_COLUMNS",
    "ITEM_SCHEMA",
    "MAX_CHUNK_ROWS",
    "MIN_CHUNK_ROWS",
    "READ_TIMEOUT_S",
    "SCHEMA",
    "WRITE_TIMEOUT_S",
    "YIELD_S",
    "SQLiteStore",
    "UserEvent",
    "UserHistory",
]

log = logging.getLogger(__name__)

# indexes of older versions, dropped when a store is opened (an older recsys opening the store
# makes them again, so they are looked for at every open): version 2's index of exposures by
# (experiment, user_id), a random-page insert per answer (schema.py, version 3), and the events'
# two indexes that events_user_key replaced (schema.py)
STALE_INDEXES = ("exposures_experiment", "events_natural_key", "events_user_ts")

CHUNK_ROWS = 5_000  # rows of a bulk write's first transaction (then sized by CHUNK_SECONDS)
MIN_CHUNK_ROWS, MAX_CHUNK_ROWS = 500, 50_000
CHUNK_SECONDS = 0.25  # a bulk write holds the write lock about this long per transaction
YIELD_S = 0.12  # then pauses this long: above SQLite's longest busy-wait sleep (100 ms)
WRITE_TIMEOUT_S = 5.0  # how long a write waits for the write lock before StoreBusyError
READ_TIMEOUT_S = 30.0  # a reader only waits in rare cases (WAL recovery after a crash)
BULK_RETRIES = 5  # a bulk write's chunk is retried this often when the store is busy


class _StoreCore(StoreBase):
    """The connections and the write transaction every part of :class:`Store` builds on."""

    def __init__(self, path: str | Path, write_timeout_s: float = WRITE_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.write_timeout_s = float(write_timeout_s)
        self._lock = FairLock()  # the write connection's lock: threads take turns in order
        self._group = GroupCommit()  # the API's small writes, committed together when they queue
        self._turn = FileTurn(self.path.with_name(self.path.name + "-turn"))  # and processes
        self._conn = sqlite3.connect(
            self.path, timeout=self.write_timeout_s, check_same_thread=False, isolation_level=None
        )
        self._busy_ms = int(self.write_timeout_s * 1000)  # the write connection's busy_timeout
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten with zeros
        self._conn.executescript(SCHEMA)
        self._secret = self._init_meta()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False

    def _init_meta(self) -> bytes:
        """Create the erasure secret once and move tombstones of older versions to ``erasures``.

        Every later open only reads (no write transaction when a process opens the store).
        """
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'erasure_secret'").fetchone()
        legacy = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'erased_users'"
        ).fetchone()
        versioned = self._conn.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        current = versioned is not None and int(versioned[0]) >= SCHEMA_VERSION
        stale = [  # STALE_INDEXES this store still has
            r[0]
            for r in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN "
                f"({', '.join('?' * len(STALE_INDEXES))})",
                STALE_INDEXES,
            )
        ]
        if row is not None and legacy is None and current and not stale:
            return bytes.fromhex(row[0])
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('erasure_secret', ?)",
                (secrets.token_hex(32),),
            )
            # the SQLite schema is created on open (SCHEMA); its version is recorded for
            # `recsys db migrate`, which reports it
            # (a store of an older version got the new tables from SCHEMA: CREATE IF NOT EXISTS)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value "
                "WHERE CAST(value AS INTEGER) < CAST(excluded.value AS INTEGER)",
                (str(SCHEMA_VERSION),),
            )
            for name in stale:
                conn.execute(f"DROP INDEX IF EXISTS {name}")
            if stale:
                log.info("dropped the store's old indexes %s", ", ".join(stale))
            secret = bytes.fromhex(
                conn.execute("SELECT value FROM meta WHERE key = 'erasure_secret'").fetchone()[0]
            )
            old = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'erased_users'"
            ).fetchone()
            if old is not None:  # tombstones of version 1 held the raw user id
                rows = conn.execute("SELECT user_id, erased_at FROM erased_users").fetchall()
                conn.executemany(
                    "INSERT INTO erasures (user_key, erased_at) VALUES (?, ?) "
                    "ON CONFLICT(user_key) DO UPDATE SET erased_at = "
                    "max(erased_at, excluded.erased_at)",
                    [(tombstone_key(secret, u), t) for u, t in rows],
                )
                conn.execute("DROP TABLE erased_users")
                if rows:
                    log.info("moved %d erasure tombstones to keyed form", len(rows))
        return secret

    def _read(self) -> sqlite3.Connection:
        """This thread's read connection (opened on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with self._readers_lock:
                if self._closed:
                    raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
                conn = sqlite3.connect(
                    self.path,
                    timeout=READ_TIMEOUT_S,
                    check_same_thread=False,
                    isolation_level=None,
                )
                conn.execute("PRAGMA query_only=ON")
                self._readers.append(conn)
            self._local.conn = conn
        return conn

    @property
    def location(self) -> str:
        """The database file, for messages."""
        return str(self.path)

    def schema_version(self) -> int:
        """The schema version recorded in ``meta`` (the schema is created when the store opens)."""
        row = self._read().execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close every connection of this store (the write one and each thread's read one)."""
        with self._readers_lock:
            self._closed = True
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the write connection.

        Raises:
            StoreBusyError: neither this process's writers nor another process released the
                write lock within ``write_timeout_s`` (nothing was written).
        """
        began = time.monotonic()
        if not self._lock.acquire(timeout=self.write_timeout_s):
            raise StoreBusyError(
                f"the store is busy (another write of this process took over "
                f"{self.write_timeout_s:g} s); retry",
                retry_after_s=1.0,
            )
        try:
            # the other processes' writers, then SQLite's lock, wait only for what is left of
            # write_timeout_s (SQLite's wait is for a process that does not take turns)
            if not self._turn.acquire(self._left(began)):
                raise self._busy()
            try:
                busy_ms = int(self._left(began) * 1000)
                if busy_ms != self._busy_ms:  # each new value is a statement SQLite compiles
                    self._conn.execute(f"PRAGMA busy_timeout={busy_ms}")
                    self._busy_ms = busy_ms
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    if "locked" in str(exc) or "busy" in str(exc):
                        raise self._busy() from exc
                    raise
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            finally:
                self._turn.release()
        finally:
            self._lock.release()

    def _grouped(self, rows: Sequence[Any], write: ChunkWriter) -> int:
        """One atomic write of ``rows``, committed with the writes other threads queued meanwhile.

        ``write(conn, rows) -> int`` as :meth:`_bulk` takes it. The group is one transaction
        (:class:`~recsys.store.turns.GroupCommit`); each write in it runs in a savepoint of its
        own, so one that fails is undone alone and raises to its caller only. A failure of the
        transaction itself (the store busy past ``write_timeout_s``, a failed commit) raises to
        every caller of the group: none of its rows were stored.
        """

        def commit(take: Callable[[], list[Any]]) -> list[Any]:
            with self._transaction() as conn:
                works = take()
                if len(works) == 1:
                    return [write(conn, works[0])]
                results: list[Any] = []
                for one in works:
                    conn.execute("SAVEPOINT grouped_write")
                    try:
                        results.append(write(conn, one))
                    except Exception as exc:
                        conn.execute("ROLLBACK TO grouped_write")
                        results.append(exc)
                    conn.execute("RELEASE grouped_write")
                return results

        return int(self._group.submit(rows, commit))

    def _busy(self) -> StoreBusyError:
        return StoreBusyError(
            f"the store is busy (another process held its write lock for over "
            f"{self.write_timeout_s:g} s, e.g. a bulk import); retry",
            retry_after_s=1.0,
        )

    def _left(self, began: float) -> float:
        """What is left of ``write_timeout_s`` since ``began`` (at least 50 ms)."""
        return max(0.05, self.write_timeout_s - (time.monotonic() - began))

    def _bulk(self, rows: Sequence[Any], write: ChunkWriter, atomic: bool = False) -> int:
        """Write ``rows`` in chunks, one transaction each, letting other writers in between.

        ``write(conn, chunk) -> int`` writes one chunk. Chunks start at :data:`CHUNK_ROWS` rows
        and are resized to hold the write lock about :data:`CHUNK_SECONDS`; after each, the
        writer pauses :data:`YIELD_S` (longer than SQLite's longest busy-wait sleep, 100 ms), so
        a writer waiting in another process (an API worker posting events) is sure to try, and
        get, the lock meanwhile: it waits at most about one chunk. A chunk that finds the store
        busy is retried (:data:`BULK_RETRIES` times, backing off up to 2 s) when the write has
        more than one chunk; a single chunk (``atomic``: an API call) raises
        :class:`StoreBusyError` at once.
        """
        done, start, size = 0, 0, len(rows) if atomic else min(CHUNK_ROWS, len(rows))
        single = len(rows) <= size
        while start < len(rows):
            chunk = rows[start : start + size]
            for attempt in range(BULK_RETRIES + 1):
                try:
                    began = time.perf_counter()
                    with self._transaction() as conn:
                        done += write(conn, chunk)
                    held = time.perf_counter() - began
                    break
                except StoreBusyError:
                    if single or attempt == BULK_RETRIES:
                        raise
                    log.info("store busy; retrying a chunk of %d rows", len(chunk))
                    time.sleep(min(2.0, 0.25 * 2**attempt))
            start += len(chunk)
            if start < len(rows):
                rate = len(chunk) / max(held, 1e-3)
                size = int(min(MAX_CHUNK_ROWS, max(MIN_CHUNK_ROWS, rate * CHUNK_SECONDS)))
                time.sleep(YIELD_S)
        return done


class SQLiteStore(
    EventsMixin, CatalogMixin, PrivacyMixin, MaintenanceMixin, ExperimentsMixin, _StoreCore
):
    """Events and catalog in one SQLite database file (the embedded backend of ``Store``).

    Open one ``Store`` per process; its methods may be called from any thread (see the module
    docs for how reads and writes are kept apart). Each group of methods is documented in its
    part's module (see the module docs).

    Example:
        >>> store = SQLiteStore(Path("var/recsys.sqlite3"))
        >>> store.add_events(frame)  # polars frame with EVENT_COLUMNS
        >>> store.close()
    """
