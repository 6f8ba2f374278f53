"""The store's events: writing them once each, and reading them back for training and requests.

Events are deduplicated on their natural key ``(user_id, item_id, type, ts, session_id)`` so
re-importing a file never duplicates them; events sent with a client ``event_id`` are additionally
deduplicated on ``(user_id, event_id)``, so a retried API call whose timestamp was filled in by
the server is not stored twice. An erased user's events from before the erasure are never stored
again (see :mod:`recsys.store.privacy`), so a re-imported export cannot bring them back.

Each event gets a position (``seq``) that only grows, so a reader can name exactly which events
it saw (:meth:`EventsMixin.last_seq`, ``events_frame(until_seq=...)``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import polars as pl

from recsys.store.base import StoreBase
from recsys.store.schema import EVENT_SCHEMA
from recsys.types import UserEvent, UserHistory


class EventsMixin(StoreBase):
    """Event writes and reads of :class:`~recsys.store.sqlite.Store`."""

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
            nothing: an API batch); otherwise a frame over
            :data:`~recsys.store.sqlite.CHUNK_ROWS` rows is written in several (see
            :meth:`~recsys.store.sqlite.Store._bulk`): each is durable when its commit returns
            (WAL, ``synchronous=FULL``), and a write cut short stores a prefix of the frame,
            which writing the frame again completes without duplicates.

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

    def count_events(self) -> int:
        """Return the number of stored events."""
        return int(self._read().execute("SELECT COUNT(*) FROM events").fetchone()[0])
