"""SQLite-backed event and catalog store.

WAL mode lets several processes read (training jobs, API workers) while one writes;
``synchronous=FULL`` makes a write durable once the call returns. Events are deduplicated on their
natural key ``(user_id, item_id, type, ts, session_id)`` so re-importing a file never duplicates
them; events sent with a client ``event_id`` are additionally deduplicated on ``(user_id,
event_id)``, so a retried API call whose timestamp was filled in by the server is not stored twice.

Erasing a user deletes their events and event ids with ``secure_delete`` on (SQLite overwrites
the freed content with zeros) and leaves a *tombstone* (``erasures``) with the erasure time, so a
server still holding a model trained before the erasure stops personalizing at once. The tombstone
holds no user id: its key is an HMAC of the id under a random secret kept in this database
(``meta``), so the id can be checked against it but not read from it. :meth:`Store.checkpoint`
then copies the write-ahead log into the database file and truncates it, so no old copy of the
rows stays in ``recsys.sqlite3-wal`` (see :mod:`recsys.erasure`).

Every catalog upsert is appended to ``item_log``, which lets API workers pick up catalog changes
made after a model was trained (see :mod:`recsys.live`).

Concurrency: writes go through one write connection per process, serialized by a lock and by
SQLite's own write lock; a writer that cannot get both within ``write_timeout_s`` raises
:class:`~recsys.errors.StoreBusyError` (nothing written; the API answers 503 with
``Retry-After``). Reads use one connection per thread and never wait behind a writer (WAL
readers see the last committed state). Bulk writes commit in chunks that hold the write lock
about :data:`CHUNK_SECONDS` and pause :data:`YIELD_S` between them, so a writer waiting in another
process (an API worker) gets the lock within about one chunk.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from recsys.errors import StoreBusyError
from recsys.types import UserEvent, UserHistory

log = logging.getLogger(__name__)

CHUNK_ROWS = 5_000  # rows of a bulk write's first transaction (then sized by CHUNK_SECONDS)
MIN_CHUNK_ROWS, MAX_CHUNK_ROWS = 500, 50_000
CHUNK_SECONDS = 0.25  # a bulk write holds the write lock about this long per transaction
YIELD_S = 0.12  # then pauses this long: above SQLite's longest busy-wait sleep (100 ms)
WRITE_TIMEOUT_S = 5.0  # how long a write waits for the write lock before StoreBusyError
READ_TIMEOUT_S = 30.0  # a reader only waits in rare cases (WAL recovery after a crash)
BULK_RETRIES = 5  # a bulk write's chunk is retried this often when the store is busy

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    type       TEXT NOT NULL CHECK (type IN ('view', 'click', 'add_to_cart', 'purchase')),
    ts         REAL NOT NULL,
    session_id TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS events_natural_key
    ON events (user_id, item_id, type, ts, session_id);
CREATE INDEX IF NOT EXISTS events_user_ts ON events (user_id, ts);
CREATE TABLE IF NOT EXISTS items (
    item_id     TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    category    TEXT NOT NULL DEFAULT '',
    price       REAL,
    currency    TEXT NOT NULL DEFAULT '',
    in_stock    INTEGER NOT NULL DEFAULT 1,
    attributes  TEXT NOT NULL DEFAULT '{}',
    updated_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS event_ids (
    user_id  TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (user_id, event_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS erasures (
    user_key  TEXT PRIMARY KEY,  -- HMAC-SHA256 of the user id (Store.user_key), never the id
    erased_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS item_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id    TEXT NOT NULL,
    changed_at REAL NOT NULL
);
"""

EVENT_COLUMNS = ("user_id", "item_id", "type", "ts", "session_id")
CATALOG_COLUMNS = (  # what a catalog item is (the stored row adds ``updated_at``)
    "item_id",
    "title",
    "description",
    "category",
    "price",
    "currency",
    "in_stock",
    "attributes",
)
ITEM_COLUMNS = (*CATALOG_COLUMNS, "updated_at")
EVENT_SCHEMA = {
    "user_id": pl.String,
    "item_id": pl.String,
    "type": pl.String,
    "ts": pl.Float64,
    "session_id": pl.String,
}
ITEM_SCHEMA = {
    "item_id": pl.String,
    "title": pl.String,
    "description": pl.String,
    "category": pl.String,
    "price": pl.Float64,
    "currency": pl.String,
    "in_stock": pl.Boolean,
    "attributes": pl.String,
    "updated_at": pl.Float64,
}


class Store:
    """Events and catalog in one SQLite database file.

    Open one ``Store`` per process; its methods may be called from any thread (see the module
    docs for how reads and writes are kept apart).

    Example:
        >>> store = Store(Path("var/recsys.sqlite3"))
        >>> store.add_events(frame)  # polars frame with EVENT_COLUMNS
        >>> store.close()
    """

    def __init__(self, path: str | Path, write_timeout_s: float = WRITE_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.write_timeout_s = float(write_timeout_s)
        self._lock = threading.RLock()  # the write connection's lock
        self._conn = sqlite3.connect(
            self.path, timeout=self.write_timeout_s, check_same_thread=False, isolation_level=None
        )
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
        if row is not None and legacy is None:
            return bytes.fromhex(row[0])
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('erasure_secret', ?)",
                (secrets.token_hex(32),),
            )
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
                    [(_user_key(secret, u), t) for u, t in rows],
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

    def close(self) -> None:
        """Close every connection of this store (the write one and each thread's read one)."""
        with self._readers_lock:
            self._closed = True
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
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
            # SQLite waits only for what is left of write_timeout_s after the process lock
            left = max(0.05, self.write_timeout_s - (time.monotonic() - began))
            self._conn.execute(f"PRAGMA busy_timeout={int(left * 1000)}")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise StoreBusyError(
                        f"the store is busy (another process held its write lock for over "
                        f"{self.write_timeout_s:g} s, e.g. a bulk import); retry",
                        retry_after_s=1.0,
                    ) from exc
                raise
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        finally:
            self._lock.release()

    def _bulk(self, rows: Sequence[Any], write: Any, atomic: bool = False) -> int:
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

    # ----------------------------------------------------------------- events
    def add_events(self, events: pl.DataFrame, atomic: bool = False) -> int:
        """Insert validated events; already stored ones (same natural key) are skipped.

        Args:
            events: frame with columns ``user_id, item_id, type, ts`` and optionally ``session_id``
                (null or missing means no session) and ``event_id`` (a client's idempotency key;
                null or missing means none). Values must already be valid
                (see :mod:`recsys.store.importing`).
            atomic: write the whole frame in one transaction.

        Returns:
            The number of events newly stored (an event whose ``(user_id, event_id)`` was seen
            before, or whose natural key is already stored, is skipped; so is an event of an
            erased user that happened before the erasure, so a re-imported export cannot bring
            an erased user's data back). With ``atomic`` the frame is one transaction (all or
            nothing: an API batch); otherwise a frame over :data:`CHUNK_ROWS` rows is written in
            several (see :meth:`_bulk`): each is durable when its commit returns (WAL,
            ``synchronous=FULL``), and a write cut short stores a prefix of the frame, which
            writing the frame again completes without duplicates.

        Raises:
            StoreBusyError: the store's write lock could not be had in time.
        """
        if events.height == 0:
            return 0
        if "session_id" not in events.columns:
            events = events.with_columns(pl.lit("").alias("session_id"))
        if "event_id" not in events.columns:
            events = events.with_columns(pl.lit(None, dtype=pl.String).alias("event_id"))
        rows = events.select(
            pl.col("user_id"),
            pl.col("item_id"),
            pl.col("type"),
            pl.col("ts").cast(pl.Float64),
            pl.col("session_id").fill_null(""),
            pl.col("event_id").cast(pl.String),
        ).rows()
        insert = (
            "INSERT OR IGNORE INTO events (user_id, item_id, type, ts, session_id) "
            "VALUES (?, ?, ?, ?, ?)"
        )

        def write(conn: sqlite3.Connection, chunk: Sequence[tuple[Any, ...]]) -> int:
            stored = 0
            erased = self._erased_among(conn, {r[0] for r in chunk})
            if erased:  # an erased user's old events never come back (a re-imported export)
                chunk = [r for r in chunk if not (r[0] in erased and r[3] <= erased[r[0]])]
            plain = [r[:5] for r in chunk if r[5] is None]
            if plain:
                before = conn.total_changes
                conn.executemany(insert, plain)
                stored += conn.total_changes - before
            for row in chunk:
                if row[5] is None:
                    continue
                seen = conn.execute(
                    "INSERT OR IGNORE INTO event_ids (user_id, event_id) VALUES (?, ?)",
                    (row[0], row[5]),
                ).rowcount
                if seen:
                    stored += conn.execute(insert, row[:5]).rowcount
            return stored

        return self._bulk(rows, write, atomic)

    def _erased_among(self, conn: sqlite3.Connection, user_ids: set[str]) -> dict[str, float]:
        """``{user id: erased_at}`` for the erased users among ``user_ids`` (inside a write)."""
        if conn.execute("SELECT 1 FROM erasures LIMIT 1").fetchone() is None:
            return {}
        keys = {self.user_key(u): u for u in user_ids}
        found: dict[str, float] = {}
        names = list(keys)
        for start in range(0, len(names), 500):
            part = names[start : start + 500]
            marks = ",".join("?" * len(part))
            for key, at in conn.execute(
                f"SELECT user_key, erased_at FROM erasures WHERE user_key IN ({marks})", part
            ):
                found[keys[key]] = float(at)
        return found

    def events_frame(
        self, since_ts: float | None = None, until_seq: int | None = None
    ) -> pl.DataFrame:
        """Return all events in insertion order (optionally only a part of them).

        Args:
            since_ts: only events with ``ts >= since_ts``.
            until_seq: only events stored up to this position (see :meth:`last_seq`), so a
                reader can name exactly which events it saw.

        Returns:
            Frame with columns ``user_id, item_id, type, ts, session_id`` (session "" = none).
        """
        sql = "SELECT user_id, item_id, type, ts, session_id FROM events"
        where: list[str] = []
        params: list[float] = []
        if since_ts is not None:
            where.append("ts >= ?")
            params.append(since_ts)
        if until_seq is not None:
            where.append("seq <= ?")
            params.append(int(until_seq))
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq"
        cursor = self._read().execute(sql, tuple(params))
        chunks = []
        try:
            while batch := cursor.fetchmany(200_000):
                chunks.append(pl.DataFrame(batch, schema=EVENT_SCHEMA, orient="row"))
        finally:
            cursor.close()  # ends the read transaction (a checkpoint may truncate the WAL)
        if not chunks:
            return pl.DataFrame(schema=EVENT_SCHEMA)
        return pl.concat(chunks, rechunk=True)

    def user_events(self, user_id: str, limit: int = 200) -> list[UserEvent]:
        """Return the user's most recent events, newest first (empty for an unknown user)."""
        rows = (
            self._read()
            .execute(
                "SELECT item_id, type, ts FROM events WHERE user_id = ? "
                "ORDER BY ts DESC, seq DESC LIMIT ?",
                (user_id, int(limit)),
            )
            .fetchall()
        )
        return [UserEvent._make(r) for r in rows]  # ts is a REAL column: already a float

    def user_item_types(self, user_id: str) -> list[tuple[str, str]]:
        """The distinct ``(item_id, type)`` pairs of the user's whole stored history.

        One range scan of ``events_natural_key`` (its columns start with ``user_id, item_id,
        type``, so the index alone answers it): about a microsecond per stored event.
        """
        return (
            self._read()
            .execute("SELECT DISTINCT item_id, type FROM events WHERE user_id = ?", (user_id,))
            .fetchall()
        )

    def user_history(self, user_id: str, limit: int) -> UserHistory:
        """The user's newest ``limit`` events, and their whole history's items if there is more.

        Users with fewer than ``limit`` events (most of them) cost one query, as
        :meth:`user_events`; a longer history costs one more (:meth:`user_item_types`).
        """
        events = self.user_events(user_id, limit=limit)
        if len(events) < limit:
            return UserHistory(events)
        return UserHistory(events, self.user_item_types(user_id))

    def last_seq(self) -> int:
        """Position of the newest stored event (0 when there are none).

        Positions only grow (``AUTOINCREMENT``: never reused, not even after an erasure), so
        "the events up to position p" names a fixed set that later writes only add to.
        """
        row = self._read().execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def user_key(self, user_id: str) -> str:
        """The tombstone key of ``user_id``: HMAC-SHA256 under this database's secret (hex)."""
        return _user_key(self._secret, user_id)

    def user_state(self, user_id: str) -> tuple[int | None, float | None]:
        """``(position of the user's newest stored event, when the user was last erased)``.

        One indexed query; either part is None when there is none. The service uses it to tell
        whether a precomputed list still describes the user's history.
        """
        row = (
            self._read()
            .execute(
                "SELECT (SELECT MAX(seq) FROM events WHERE user_id = ?), "
                "(SELECT erased_at FROM erasures WHERE user_key = ?)",
                (user_id, self.user_key(user_id)),
            )
            .fetchone()
        )
        return (
            None if row[0] is None else int(row[0]),
            None if row[1] is None else float(row[1]),
        )

    def delete_user(self, user_id: str, now: float | None = None) -> int:
        """Erase every event and event id of ``user_id``, record a tombstone; return events deleted.

        Deleted rows are overwritten with zeros in the database pages (``secure_delete``); their
        old copies may stay in the write-ahead log until :meth:`checkpoint` runs (the erasure in
        :mod:`recsys.erasure` runs it). The tombstone (see :meth:`erased_at`) tells servers
        holding a model trained before this moment to stop using the user's trained vector.
        Erasing twice moves the tombstone.

        Raises:
            StoreBusyError: the store's write lock could not be had in time.
        """
        now = time.time() if now is None else now
        with self._transaction() as conn:
            cursor = conn.execute("DELETE FROM events WHERE user_id = ?", (user_id,))
            deleted = cursor.rowcount
            conn.execute("DELETE FROM event_ids WHERE user_id = ?", (user_id,))
            conn.execute(
                "INSERT INTO erasures (user_key, erased_at) VALUES (?, ?) "
                "ON CONFLICT(user_key) DO UPDATE SET erased_at = excluded.erased_at",
                (self.user_key(user_id), now),
            )
            return deleted

    def erased_at(self, user_id: str) -> float | None:
        """Return when ``user_id`` was last erased (epoch seconds), or None if never."""
        row = (
            self._read()
            .execute("SELECT erased_at FROM erasures WHERE user_key = ?", (self.user_key(user_id),))
            .fetchone()
        )
        return None if row is None else float(row[0])

    def erasures_since(self, since: float) -> dict[str, float]:
        """Tombstones written at or after ``since``: ``{user key: erased_at}``.

        A trainer that read the store at ``since`` checks its new bundle's users against these
        (see :func:`recsys.erasure.scrub_new_bundle`).
        """
        rows = (
            self._read()
            .execute("SELECT user_key, erased_at FROM erasures WHERE erased_at >= ?", (since,))
            .fetchall()
        )
        return {str(k): float(t) for k, t in rows}

    def checkpoint(self, wait_s: float = 10.0) -> bool:
        """Copy the write-ahead log into the database file and truncate it to zero bytes.

        Waits for readers still on an older snapshot (up to ``wait_s``; an API read takes
        milliseconds, a training read seconds).

        Returns:
            True when the log was truncated; False when a reader or writer kept it busy for
            ``wait_s`` (the old pages stay in the log until a later checkpoint).
        """
        deadline = time.monotonic() + wait_s
        while True:
            try:
                with self._lock:
                    busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.OperationalError as exc:  # another checkpoint or writer
                log.debug("checkpoint: %s", exc)
                busy = 1
            if not busy:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def size_bytes(self) -> int:
        """Bytes of the database file and its write-ahead log."""
        return sum(
            p.stat().st_size
            for p in (self.path, self.path.with_name(self.path.name + "-wal"))
            if p.is_file()
        )

    def compact(self) -> bool:
        """Rewrite the database (``VACUUM``) and truncate its log; clear a due compaction.

        ``secure_delete`` zeroes deleted rows, but SQLite leaves stale copies of rows that a page
        split or merge once *moved* in the unused gap of the page they left (measured: 2 copies
        of one of 49 erased ML-100K users after a bulk erasure). Rewriting every page removes
        them. About 15 ms per MB on 2 cores (1.6 s for 1M events, 112 MB); writers wait
        meanwhile (the API answers 503 after ``write_timeout_s``), readers do not.

        Returns:
            True when the database was rewritten and its log truncated.

        Raises:
            StoreBusyError: another writer held the write lock.
        """
        if not self._lock.acquire(timeout=self.write_timeout_s):
            raise StoreBusyError("the store is busy; compact later", retry_after_s=5.0)
        try:
            try:
                self._conn.execute("VACUUM")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise StoreBusyError(
                        f"the store is busy ({exc}); compact later", retry_after_s=5.0
                    ) from exc
                raise
            self._conn.execute("DELETE FROM meta WHERE key = 'compact_due'")
        finally:
            self._lock.release()
        return self.checkpoint()

    def mark_compact_due(self, now: float | None = None) -> None:
        """Record that an erasure left rows that only :meth:`compact` removes for good."""
        when = time.time() if now is None else now
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('compact_due', ?) "
                "ON CONFLICT(key) DO NOTHING",
                (repr(when),),
            )

    def compact_due(self) -> float | None:
        """Since when a compaction is due (see :meth:`mark_compact_due`), or None."""
        row = self._read().execute("SELECT value FROM meta WHERE key = 'compact_due'").fetchone()
        return None if row is None else float(row[0])

    def count_events(self) -> int:
        """Return the number of stored events."""
        return int(self._read().execute("SELECT COUNT(*) FROM events").fetchone()[0])

    # ---------------------------------------------------------------- catalog
    def upsert_items(self, items: pl.DataFrame, atomic: bool = False) -> int:
        """Insert or replace catalog items (validated frame with ITEM_COLUMNS).

        One transaction with ``atomic`` (an API batch), else chunks (see :meth:`add_events`).

        Returns:
            The number of rows written.

        Raises:
            StoreBusyError: the store's write lock could not be had in time.
        """
        if items.height == 0:
            return 0
        now = time.time()
        frame = _complete_items(items, now)
        rows = frame.select(ITEM_COLUMNS).rows()

        def write(conn: sqlite3.Connection, chunk: Sequence[tuple[Any, ...]]) -> int:
            conn.executemany(
                "INSERT INTO item_log (item_id, changed_at) VALUES (?, ?)",
                [(r[0], now) for r in chunk],
            )
            conn.executemany(
                "INSERT INTO items (item_id, title, description, category, price, currency, "
                "in_stock, attributes, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(item_id) DO UPDATE SET title=excluded.title, "
                "description=excluded.description, category=excluded.category, "
                "price=excluded.price, currency=excluded.currency, in_stock=excluded.in_stock, "
                "attributes=excluded.attributes, updated_at=excluded.updated_at",
                chunk,
            )
            return len(chunk)

        return self._bulk(rows, write, atomic)

    def catalog_frame(self) -> pl.DataFrame:
        """Return the whole catalog ordered by item id (``attributes`` as a JSON string)."""
        rows = (
            self._read()
            .execute(f"SELECT {', '.join(ITEM_COLUMNS)} FROM items ORDER BY item_id")
            .fetchall()
        )
        return pl.DataFrame(rows, schema=ITEM_SCHEMA, orient="row")

    def get_item(self, item_id: str) -> dict[str, Any] | None:
        """Return one catalog item as a dict (attributes parsed), or None if unknown."""
        row = (
            self._read()
            .execute(f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE item_id = ?", (item_id,))
            .fetchone()
        )
        if row is None:
            return None
        item = dict(zip(ITEM_COLUMNS, row, strict=True))
        item["in_stock"] = bool(item["in_stock"])
        item["attributes"] = json.loads(item["attributes"])
        return item

    def get_items(self, item_ids: Sequence[str]) -> pl.DataFrame:
        """Return the catalog rows of ``item_ids`` (unknown ids are absent), ordered by item id."""
        unique = sorted(set(item_ids))
        rows: list[tuple[Any, ...]] = []
        conn = self._read()
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows += conn.execute(
                f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE item_id IN ({marks}) "
                "ORDER BY item_id",
                chunk,
            ).fetchall()
        frame = pl.DataFrame(rows, schema=ITEM_SCHEMA, orient="row")
        return frame.sort("item_id")

    def item_log_position(self, since: float | None = None) -> int:
        """Return the last ``item_log`` sequence number written before ``since`` (epoch s).

        With ``since=None``, the newest sequence number (0 for an empty log). Use it as the
        starting point for :meth:`item_changes`.
        """
        if since is None:
            row = self._read().execute("SELECT MAX(seq) FROM item_log").fetchone()
        else:
            row = (
                self._read()
                .execute("SELECT MAX(seq) FROM item_log WHERE changed_at < ?", (since,))
                .fetchone()
            )
        return int(row[0] or 0)

    def item_changes(self, after_seq: int) -> tuple[int, list[str]]:
        """Return ``(newest_seq, item_ids)`` upserted after ``after_seq`` (ids unique, sorted)."""
        rows = (
            self._read()
            .execute(
                "SELECT seq, item_id FROM item_log WHERE seq > ? ORDER BY seq", (int(after_seq),)
            )
            .fetchall()
        )
        if not rows:
            return int(after_seq), []
        return int(rows[-1][0]), sorted({r[1] for r in rows})

    def count_items(self) -> int:
        """Return the number of catalog items."""
        return int(self._read().execute("SELECT COUNT(*) FROM items").fetchone()[0])


def _user_key(secret: bytes, user_id: str) -> str:
    return hmac.new(secret, user_id.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def _complete_items(items: pl.DataFrame, now: float) -> pl.DataFrame:
    """Fill optional catalog columns with their defaults."""
    defaults: dict[str, pl.Expr] = {
        "description": pl.lit(""),
        "category": pl.lit(""),
        "price": pl.lit(None, dtype=pl.Float64),
        "currency": pl.lit(""),
        "in_stock": pl.lit(True),
        "attributes": pl.lit("{}"),
        "updated_at": pl.lit(now),
    }
    missing = [expr.alias(name) for name, expr in defaults.items() if name not in items.columns]
    frame = items.with_columns(missing) if missing else items
    return frame.with_columns(
        pl.col("description").fill_null(""),
        pl.col("category").fill_null(""),
        pl.col("currency").fill_null(""),
        pl.col("in_stock").fill_null(True).cast(pl.Int64),
        pl.col("attributes").fill_null("{}"),
        pl.col("updated_at").fill_null(now).cast(pl.Float64),
        pl.col("price").cast(pl.Float64),
    )
