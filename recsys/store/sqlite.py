"""SQLite-backed event and catalog store.

WAL mode lets several processes read (training jobs, API workers) while one writes;
``synchronous=FULL`` makes a write durable once the call returns. Events are deduplicated on their
natural key ``(user_id, item_id, type, ts, session_id)`` so re-importing a file never duplicates
them; events sent with a client ``event_id`` are additionally deduplicated on ``(user_id,
event_id)``, so a retried API call whose timestamp was filled in by the server is not stored twice.

Erasing a user deletes their events and leaves a *tombstone* (``erased_users``) with the erasure
time, so a server still holding a model trained before the erasure stops personalizing at once.
Every catalog upsert is appended to ``item_log``, which lets API workers pick up catalog changes
made after a model was trained (see :mod:`recsys.live`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl

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
CREATE TABLE IF NOT EXISTS erased_users (
    user_id   TEXT PRIMARY KEY,
    erased_at REAL NOT NULL
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


class UserEvent(NamedTuple):
    """One event of a user's history, newest first when returned by the store.

    A named tuple rather than a dataclass: the API builds up to 200 of these per request.
    """

    item_id: str
    type: str
    ts: float


class UserHistory(NamedTuple):
    """What a request knows of a user's stored history (:meth:`Store.user_history`).

    Attributes:
        events: the newest events, newest first (at most the ``limit`` asked for): what taste,
            recency and reasons are computed from.
        item_types: the distinct ``(item_id, type)`` pairs of the *whole* stored history when
            ``events`` is cut short by the limit, so owned items are excluded however long ago
            they were bought; None when ``events`` already is the whole history.
    """

    events: list[UserEvent]
    item_types: list[tuple[str, str]] | None = None


class Store:
    """Events and catalog in one SQLite database file.

    The connection is shared by threads behind a lock; open one ``Store`` per process.

    Example:
        >>> store = Store(Path("var/recsys.sqlite3"))
        >>> store.add_events(frame)  # polars frame with EVENT_COLUMNS
        >>> store.close()
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            self.path, timeout=30.0, check_same_thread=False, isolation_level=None
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # ----------------------------------------------------------------- events
    def add_events(self, events: pl.DataFrame) -> int:
        """Insert validated events; already stored ones (same natural key) are skipped.

        Args:
            events: frame with columns ``user_id, item_id, type, ts`` and optionally ``session_id``
                (null or missing means no session) and ``event_id`` (a client's idempotency key;
                null or missing means none). Values must already be valid
                (see :mod:`recsys.store.importing`).

        Returns:
            The number of events newly stored (an event whose ``(user_id, event_id)`` was seen
            before, or whose natural key is already stored, is skipped). The whole frame is
            written in one transaction: durable when this returns (WAL, ``synchronous=FULL``).
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
        plain = [r[:5] for r in rows if r[5] is None]
        keyed = [r for r in rows if r[5] is not None]
        insert = (
            "INSERT OR IGNORE INTO events (user_id, item_id, type, ts, session_id) "
            "VALUES (?, ?, ?, ?, ?)"
        )
        with self._transaction() as conn:
            stored = 0
            if plain:
                before = conn.total_changes
                conn.executemany(insert, plain)
                stored += conn.total_changes - before
            for row in keyed:
                seen = conn.execute(
                    "INSERT OR IGNORE INTO event_ids (user_id, event_id) VALUES (?, ?)",
                    (row[0], row[5]),
                ).rowcount
                if seen:
                    stored += conn.execute(insert, row[:5]).rowcount
            return stored

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
        with self._lock:
            cursor = self._conn.execute(sql, tuple(params))
            chunks = []
            while batch := cursor.fetchmany(200_000):
                chunks.append(pl.DataFrame(batch, schema=EVENT_SCHEMA, orient="row"))
        if not chunks:
            return pl.DataFrame(schema=EVENT_SCHEMA)
        return pl.concat(chunks, rechunk=True)

    def user_events(self, user_id: str, limit: int = 200) -> list[UserEvent]:
        """Return the user's most recent events, newest first (empty for an unknown user)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT item_id, type, ts FROM events WHERE user_id = ? "
                "ORDER BY ts DESC, seq DESC LIMIT ?",
                (user_id, int(limit)),
            ).fetchall()
        return [UserEvent._make(r) for r in rows]  # ts is a REAL column: already a float

    def user_item_types(self, user_id: str) -> list[tuple[str, str]]:
        """The distinct ``(item_id, type)`` pairs of the user's whole stored history.

        One range scan of ``events_natural_key`` (its columns start with ``user_id, item_id,
        type``, so the index alone answers it): about a microsecond per stored event.
        """
        with self._lock:
            return self._conn.execute(
                "SELECT DISTINCT item_id, type FROM events WHERE user_id = ?", (user_id,)
            ).fetchall()

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
        with self._lock:
            row = self._conn.execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def user_state(self, user_id: str) -> tuple[int | None, float | None]:
        """``(position of the user's newest stored event, when the user was last erased)``.

        One indexed query; either part is None when there is none. The service uses it to tell
        whether a precomputed list still describes the user's history.
        """
        with self._lock:
            row = self._conn.execute(
                "SELECT (SELECT MAX(seq) FROM events WHERE user_id = ?), "
                "(SELECT erased_at FROM erased_users WHERE user_id = ?)",
                (user_id, user_id),
            ).fetchone()
        return (
            None if row[0] is None else int(row[0]),
            None if row[1] is None else float(row[1]),
        )

    def delete_user(self, user_id: str, now: float | None = None) -> int:
        """Erase every event of ``user_id`` and record a tombstone; return how many were deleted.

        The tombstone (see :meth:`erased_at`) tells servers holding a model trained before this
        moment to stop using the user's trained vector. Erasing twice moves the tombstone.
        """
        now = time.time() if now is None else now
        with self._transaction() as conn:
            cursor = conn.execute("DELETE FROM events WHERE user_id = ?", (user_id,))
            deleted = cursor.rowcount
            conn.execute("DELETE FROM event_ids WHERE user_id = ?", (user_id,))
            conn.execute(
                "INSERT INTO erased_users (user_id, erased_at) VALUES (?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET erased_at = excluded.erased_at",
                (user_id, now),
            )
            return deleted

    def erased_at(self, user_id: str) -> float | None:
        """Return when ``user_id`` was last erased (epoch seconds), or None if never."""
        with self._lock:
            row = self._conn.execute(
                "SELECT erased_at FROM erased_users WHERE user_id = ?", (user_id,)
            ).fetchone()
        return None if row is None else float(row[0])

    def count_events(self) -> int:
        """Return the number of stored events."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    # ---------------------------------------------------------------- catalog
    def upsert_items(self, items: pl.DataFrame) -> int:
        """Insert or replace catalog items (validated frame with ITEM_COLUMNS).

        Returns:
            The number of rows written.
        """
        if items.height == 0:
            return 0
        now = time.time()
        frame = _complete_items(items, now)
        rows: Iterable[Sequence[Any]] = frame.select(ITEM_COLUMNS).iter_rows()
        log_rows = [(item_id, now) for item_id in frame["item_id"].to_list()]
        with self._transaction() as conn:
            conn.executemany("INSERT INTO item_log (item_id, changed_at) VALUES (?, ?)", log_rows)
            conn.executemany(
                "INSERT INTO items (item_id, title, description, category, price, currency, "
                "in_stock, attributes, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(item_id) DO UPDATE SET title=excluded.title, "
                "description=excluded.description, category=excluded.category, "
                "price=excluded.price, currency=excluded.currency, in_stock=excluded.in_stock, "
                "attributes=excluded.attributes, updated_at=excluded.updated_at",
                rows,
            )
        return frame.height

    def catalog_frame(self) -> pl.DataFrame:
        """Return the whole catalog ordered by item id (``attributes`` as a JSON string)."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {', '.join(ITEM_COLUMNS)} FROM items ORDER BY item_id"
            ).fetchall()
        return pl.DataFrame(rows, schema=ITEM_SCHEMA, orient="row")

    def get_item(self, item_id: str) -> dict[str, Any] | None:
        """Return one catalog item as a dict (attributes parsed), or None if unknown."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE item_id = ?", (item_id,)
            ).fetchone()
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
        with self._lock:
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows += self._conn.execute(
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
        with self._lock:
            if since is None:
                row = self._conn.execute("SELECT MAX(seq) FROM item_log").fetchone()
            else:
                row = self._conn.execute(
                    "SELECT MAX(seq) FROM item_log WHERE changed_at < ?", (since,)
                ).fetchone()
        return int(row[0] or 0)

    def item_changes(self, after_seq: int) -> tuple[int, list[str]]:
        """Return ``(newest_seq, item_ids)`` upserted after ``after_seq`` (ids unique, sorted)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, item_id FROM item_log WHERE seq > ? ORDER BY seq", (int(after_seq),)
            ).fetchall()
        if not rows:
            return int(after_seq), []
        return int(rows[-1][0]), sorted({r[1] for r in rows})

    def count_items(self) -> int:
        """Return the number of catalog items."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])


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
