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

from recsys.store.base import StoreBase, statement_parts, value_marks
from recsys.store.contract import read_history
from recsys.store.experiments import link_rows
from recsys.store.schema import EVENT_SCHEMA, EventRow
from recsys.types import UserEvent, UserHistory

# reads by position scan the table's newest rows instead of the user's index entries when the
# range is at most this long (``user_events_after``, ``PrivacyMixin.user_state_after``): a row
# costs about 0.04 us, a user's index entry about 0.1 (a shopper hundreds of events into their
# history: 30 us); ``events_user_key`` has no ``(user_id, seq)`` order (see recsys.store.schema)
TAIL_ROWS = 256
LAST_SEQ = 2**63 - 1  # no position is larger (SQLite's INTEGER)


def event_rows(events: pl.DataFrame) -> list[EventRow]:
    """``(user_id, item_id, type, ts, session_id, event_id)`` per event, for the inserts.

    ``ts`` as a float, a missing or null ``session_id`` as ``""``, a missing ``event_id`` as
    None. Column by column (a cast only where the dtype needs one): about 20 us for 100 events,
    where one ``select(...).rows()`` costs about 170 us.
    """
    n = events.height
    ts = events.get_column("ts")
    if ts.dtype != pl.Float64:
        ts = ts.cast(pl.Float64)
    if "session_id" in events.columns:
        session = events.get_column("session_id")
        sessions: list[Any] = (session.fill_null("") if session.null_count() else session).to_list()
    else:
        sessions = [""] * n
    if "event_id" in events.columns:
        event_id = events.get_column("event_id")
        event_ids: list[Any] = (
            event_id if event_id.dtype == pl.String else event_id.cast(pl.String)
        ).to_list()
    else:
        event_ids = [None] * n
    return list(
        zip(
            events.get_column("user_id").to_list(),
            events.get_column("item_id").to_list(),
            events.get_column("type").to_list(),
            ts.to_list(),
            sessions,
            event_ids,
            strict=True,
        )
    )


_INSERT = "INSERT OR IGNORE INTO events (user_id, item_id, type, ts, session_id) "
# an event whose (user_id, event_id) is already recorded is skipped: column1..6 are the VALUES'
_INSERT_UNSEEN = (
    _INSERT + "SELECT column1, column2, column3, column4, column5 FROM (VALUES {values}) "
    "WHERE NOT EXISTS (SELECT 1 FROM event_ids WHERE user_id = column1 AND event_id = column6)"
)


def _insert_plain(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert events without a client key, skipping stored natural keys; return how many were new.

    One multi-row statement per :data:`~recsys.store.base.ROWS_PER_STATEMENT` events
    (:func:`~recsys.store.base.statement_parts` says why).
    """
    before = conn.total_changes
    for part in statement_parts(conn, rows, 6):
        conn.execute(
            _INSERT + "VALUES " + value_marks(len(part), 5), [v for r in part for v in r[:5]]
        )
    return conn.total_changes - before


def _insert_keyed(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert events with a client ``event_id`` once per ``(user_id, event_id)``; count the new.

    As if row by row, in order: an event whose key was recorded before (or earlier in ``rows``)
    is skipped, one whose natural key is stored records its key but is not stored again.
    """
    keys: set[tuple[Any, Any]] = set()
    fresh: list[tuple[Any, ...]] = []
    for row in rows:  # a key repeated within the batch: only its first event counts
        key = (row[0], row[5])
        if key not in keys:
            keys.add(key)
            fresh.append(row)
    before = conn.total_changes
    for part in statement_parts(conn, fresh, 6):
        values = value_marks(len(part), 6)
        conn.execute(_INSERT_UNSEEN.format(values=values), [v for r in part for v in r])
    stored = conn.total_changes - before
    for part in statement_parts(conn, fresh, 6):
        conn.execute(
            "INSERT OR IGNORE INTO event_ids (user_id, event_id) VALUES "
            + value_marks(len(part), 2),
            [v for r in part for v in (r[0], r[5])],
        )
    return stored


# an atomic write of at most this many events is committed with the others queued beside it
# (``SQLiteStore._grouped``): a page view's event costs far less to insert than to commit
GROUPED_ROWS = 16


class EventsMixin(StoreBase):
    """Event writes and reads of :class:`~recsys.store.sqlite.SQLiteStore`."""

    def add_events(self, events: pl.DataFrame, atomic: bool = False) -> int:
        """Insert validated events; already stored ones (same natural key) are skipped.

        Args:
            events: frame with columns ``user_id, item_id, type, ts`` and optionally ``session_id``
                (null or missing means no session) and ``event_id`` (a client's idempotency key;
                null or missing means none), ``recommendation_id`` and ``position`` (the answer
                and the place in it the event came from: stored as the event's link for the
                experiment report; null or missing means none). Values must already be valid
                (see :mod:`recsys.store.importing`).
            atomic: write the whole frame in one transaction.

        Returns:
            The number of events newly stored (an event whose ``(user_id, event_id)`` was seen
            before, or whose natural key is already stored, is skipped; so is an event of an
            erased user that happened before the erasure, so a re-imported export cannot bring
            an erased user's data back). With ``atomic`` the frame is one transaction (all or
            nothing: an API batch); otherwise a frame over
            :data:`~recsys.store.sqlite.CHUNK_ROWS` rows is written in several (see
            :meth:`~recsys.store.sqlite.SQLiteStore._bulk`): each is durable when its commit returns
            (WAL, ``synchronous=FULL``), and a write cut short stores a prefix of the frame,
            which writing the frame again completes without duplicates.

        Raises:
            StoreBusyError: the store's write lock could not be had in time.
        """
        if events.height == 0:
            return 0
        stored = self.add_event_rows(event_rows(events), atomic)
        links = link_rows(events)
        if links:  # events that named the answer they came from (an experiment's attribution)
            self._add_links(links)
        return stored

    def add_event_rows(self, rows: Sequence[EventRow], atomic: bool = False) -> int:
        """:meth:`add_events` of validated rows, as :func:`event_rows` gives them (no links).

        The HTTP API's lean path stores a page view's event this way: a frame of one event
        and its rows cost about 0.1 ms of CPU to build and read back. A small ``atomic`` write
        (an API call of at most :data:`GROUPED_ROWS` events, as a page view's) is committed
        with the small writes other threads of this process queued meanwhile
        (:meth:`~recsys.store.sqlite.SQLiteStore._grouped`): still all or nothing, and durable
        when it returns. A larger one commits alone: its own insert outweighs a commit, and in a
        group it would wait for the others' inserts too (batches of 100 from 16 clients: p99
        99 → 128 ms on ML-100K, 122 → 154 ms on the synthetic catalog when they were grouped).
        """
        if not rows:
            return 0

        def write(conn: sqlite3.Connection, chunk: Sequence[EventRow]) -> int:
            erased = self._erased_among(conn, {r[0] for r in chunk})
            if erased:  # an erased user's old events never come back (a re-imported export)
                chunk = [r for r in chunk if not (r[0] in erased and r[3] <= erased[r[0]])]
            stored = _insert_plain(conn, [r for r in chunk if r[5] is None])
            return stored + _insert_keyed(conn, [r for r in chunk if r[5] is not None])

        if atomic and len(rows) <= GROUPED_ROWS:
            return self._grouped(rows, write)
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

        One range scan of ``events_user_key`` (it holds every column read here, so the table
        is not read): about a microsecond per stored event.
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
        return read_history(self, user_id, limit)

    def user_events_since(
        self, user_id: str, limit: int, after_seq: int
    ) -> tuple[list[UserEvent], list[tuple[str, str]]]:
        """The user's newest ``limit`` events, and what they did after store position ``after_seq``.

        A bounded read for users a model was trained on (``recsys.serving.pool``): their
        older items are known from training, so only the distinct ``(item_id, type)`` pairs of
        events stored after the training's watermark are read, not the whole history.

        Returns:
            ``(events newest first, distinct (item_id, type) pairs stored after after_seq)``.
        """
        events = self.user_events(user_id, limit=limit)
        since = (
            self._read()
            .execute(
                "SELECT DISTINCT item_id, type FROM events WHERE user_id = ? AND seq > ?",
                (user_id, int(after_seq)),
            )
            .fetchall()
        )
        return events, since

    def user_events_after(
        self, user_id: str, after_seq: int, until_seq: int | None = None
    ) -> list[tuple[str, str, float, int]]:
        """The user's events stored after position ``after_seq``, in position order.

        ``(item_id, type, ts, seq)`` each: what a serving process adds to the events it read
        for the user before (``recsys.service.recent``). With ``until_seq``, only those stored
        at or before it.

        Two plans, the cheaper one chosen: when at most :data:`TAIL_ROWS` positions lie between
        ``after_seq`` and ``until_seq``, the table's rows in that range are read (whoever stored
        them; the page view a browsing shopper just posted is among the last); otherwise one
        range scan of the user's ``events_user_key`` entries, which costs about a microsecond
        per event the user ever stored.
        """
        after = int(after_seq)
        until = LAST_SEQ if until_seq is None else int(until_seq)
        args: tuple[int | str, ...]
        if until - after <= TAIL_ROWS:  # ``+user_id``: the rowid range, not the user's entries
            where, args = "seq > ? AND seq <= ? AND +user_id = ?", (after, until, user_id)
        else:
            where, args = "user_id = ? AND seq > ? AND seq <= ?", (user_id, after, until)
        return (
            self._read()
            .execute(f"SELECT item_id, type, ts, seq FROM events WHERE {where} ORDER BY seq", args)
            .fetchall()
        )

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
