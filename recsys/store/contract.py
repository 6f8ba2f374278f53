"""What every store backend does: the contract the rest of the library programs against.

Two backends keep it: :class:`~recsys.store.sqlite.SQLiteStore` (one file in the data home; the
embedded default) and :class:`~recsys.store.postgres.PostgresStore` (a PostgreSQL database that
several API hosts share). :func:`~recsys.store.open_store` picks one from the home's settings.
One test suite (``tests/store/test_contract.py``) runs against both, so the semantics below
hold for each:

- an event is stored once: deduplicated on its natural key ``(user_id, item_id, type, ts,
  session_id)`` and, when sent with one, on ``(user_id, event_id)``;
- each stored event has a position (``seq``) that only grows, and positions are *visible in
  order*: once a reader sees position p, no event with a smaller position appears later (the
  watermark of a trained bundle and of its precomputed lists relies on it);
- a write call is durable when it returns (or raises and wrote nothing with ``atomic``);
- an erased user's events are deleted and a keyed tombstone (an HMAC of the id, never the id)
  tells servers so; events of an erased user from before the erasure are never stored again;
- a write that cannot get the store in time raises :class:`~recsys.errors.StoreBusyError`; a
  store whose server cannot be reached raises :class:`~recsys.errors.StoreUnavailableError`
  (PostgreSQL only), reads and writes alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, Self

import polars as pl

from recsys.store.experiments import ExperimentLog
from recsys.store.schema import EventRow
from recsys.types import Exposure, UserEvent, UserHistory

SCHEMA_VERSION = 3  # the version `recsys db migrate` brings a store to (see recsys.store.migrate)


class HistoryReads(Protocol):
    """The two reads a user's history is made of (every store, and each store's events part)."""

    def user_events(self, user_id: str, limit: int = 200) -> list[UserEvent]:
        """The user's newest events, newest first."""
        ...

    def user_item_types(self, user_id: str) -> list[tuple[str, str]]:
        """The distinct ``(item_id, type)`` pairs of the user's whole history."""
        ...


def read_history(store: HistoryReads, user_id: str, limit: int) -> UserHistory:
    """``store.user_history``, the same for every backend: one read, two for a long history.

    The newest ``limit`` events; when there are that many, also the distinct ``(item_id, type)``
    pairs of the whole history (most users have fewer events and cost one query).
    """
    events = store.user_events(user_id, limit=limit)
    if len(events) < limit:
        return UserHistory(events)
    return UserHistory(events, store.user_item_types(user_id))


class Store(Protocol):
    """The event, catalog and erasure store (see the module docs for the shared semantics).

    Attributes:
        write_timeout_s: how long a write waits for the store before ``StoreBusyError``.
    """

    write_timeout_s: float

    @property
    def location(self) -> str:
        """Where the store lives, for messages (a file, or a URL without its password)."""
        ...

    # ------------------------------------------------------------------------------ events
    def add_events(self, events: pl.DataFrame, atomic: bool = False) -> int:
        """Store validated events once each; return how many were new."""
        ...

    def add_event_rows(self, rows: Sequence[EventRow], atomic: bool = False) -> int:
        """``add_events`` of validated rows (no frame, no links); return how many were new."""
        ...

    def events_frame(
        self, since_ts: float | None = None, until_seq: int | None = None
    ) -> pl.DataFrame:
        """All events in position order (optionally ``ts >= since_ts``, ``seq <= until_seq``)."""
        ...

    def user_events(self, user_id: str, limit: int = 200) -> list[UserEvent]:
        """The user's newest events, newest first."""
        ...

    def user_item_types(self, user_id: str) -> list[tuple[str, str]]:
        """The distinct ``(item_id, type)`` pairs of the user's whole history."""
        ...

    def user_history(self, user_id: str, limit: int) -> UserHistory:
        """The newest ``limit`` events, and the whole history's pairs when there are more."""
        ...

    def user_events_since(
        self, user_id: str, limit: int, after_seq: int
    ) -> tuple[list[UserEvent], list[tuple[str, str]]]:
        """The newest ``limit`` events, and the distinct pairs stored after ``after_seq``."""
        ...

    def user_events_after(
        self, user_id: str, after_seq: int, until_seq: int | None = None
    ) -> list[tuple[str, str, float, int]]:
        """Events after ``after_seq`` (to ``until_seq``): ``(item_id, type, ts, seq)``."""
        ...

    def last_seq(self) -> int:
        """Position of the newest stored event (0 when none)."""
        ...

    def count_events(self) -> int:
        """The number of stored events."""
        ...

    # ----------------------------------------------------------------------------- catalog
    def upsert_items(self, items: pl.DataFrame, atomic: bool = False) -> int:
        """Insert or replace catalog items; return the rows written."""
        ...

    def catalog_frame(self) -> pl.DataFrame:
        """The whole catalog ordered by item id."""
        ...

    def get_item(self, item_id: str) -> dict[str, Any] | None:
        """One item as a dict (attributes parsed), or None."""
        ...

    def get_items(self, item_ids: Sequence[str]) -> pl.DataFrame:
        """The rows of ``item_ids`` that exist, ordered by item id."""
        ...

    def item_log_position(self, since: float | None = None) -> int:
        """The last catalog-log position written before ``since`` (or the newest)."""
        ...

    def item_changes(self, after_seq: int) -> tuple[int, list[str]]:
        """``(newest position, item ids changed after after_seq)``."""
        ...

    def count_items(self) -> int:
        """The number of catalog items."""
        ...

    # ----------------------------------------------------------------------------- privacy
    def user_key(self, user_id: str) -> str:
        """The tombstone key of ``user_id`` (HMAC under the store's secret)."""
        ...

    def user_state(self, user_id: str) -> tuple[int | None, float | None]:
        """``(position of the user's newest event, when the user was last erased)``."""
        ...

    def user_state_after(
        self, user_id: str, after_seq: int
    ) -> tuple[int | None, float | None, int]:
        """``(user's newest position after after_seq or None, last erased, position covered)``.

        The user has no event stored in ``(max(after_seq, newest), covered]``; ``covered`` is at
        least ``after_seq``. Events at or before ``after_seq`` are not looked at.
        """
        ...

    def delete_user(self, user_id: str, now: float | None = None) -> int:
        """Erase the user's events and event ids, record a tombstone; return events deleted."""
        ...

    def erased_at(self, user_id: str) -> float | None:
        """When the user was last erased, or None."""
        ...

    def erasures_since(self, since: float) -> dict[str, float]:
        """Tombstones written at or after ``since``: ``{user key: erased_at}``."""
        ...

    # ------------------------------------------------------------------------- maintenance
    def checkpoint(self, wait_s: float = 10.0) -> bool:
        """Push old copies of erased rows out of the store's log; True when done."""
        ...

    def size_bytes(self) -> int:
        """Bytes the store's data takes."""
        ...

    def compact(self) -> bool:
        """Rewrite the store so no stale copy of a deleted row stays in it; True when done."""
        ...

    def mark_compact_due(self, now: float | None = None) -> None:
        """Record that an erasure left rows only :meth:`compact` removes for good."""
        ...

    def compact_due(self) -> float | None:
        """Since when a compaction is due, or None."""
        ...

    # ------------------------------------------------------------------------ experiments
    def put_experiment(self, name: str, spec: str, now: float | None = None) -> None:
        """Create or replace the definition of experiment ``name`` (JSON text)."""
        ...

    def experiment_specs(self) -> dict[str, str]:
        """``{name: definition JSON}`` of every experiment, oldest first."""
        ...

    def add_exposures(self, exposures: Sequence[Exposure]) -> int:
        """Record answers served inside an experiment; return how many were new."""
        ...

    def experiment_log(
        self, experiment: str, since: float, until: float | None = None
    ) -> ExperimentLog:
        """The exposures, impressions and the exposed users' events from ``since`` to ``until``."""
        ...

    def schema_version(self) -> int:
        """The schema version of the store's tables (see :data:`SCHEMA_VERSION`)."""
        ...

    def close(self) -> None:
        """Close every connection."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...
