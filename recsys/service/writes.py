"""The service's writes: events, catalog upserts (served at once through the overlay), erasure.

Kept apart from the answers because writes change what serving stands on: a catalog upsert
refreshes the served snapshot, an erasure reaches the store, every bundle and the pitch cache.
They go through the same :class:`~recsys.service.snapshots.ServingState` the answers read, so a
write made here is served here at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import polars as pl

from recsys.erasure import ErasureReport, erase_users
from recsys.service.snapshots import ServingState
from recsys.store.schema import EventRow

log = logging.getLogger(__name__)


class ServiceWrites:
    """Writes into the store, each made visible to the serving state it was given.

    Args:
        state: the serving state whose store is written and whose snapshot is refreshed.
    """

    def __init__(self, state: ServingState) -> None:
        self.state = state

    def add_events(self, events: pl.DataFrame) -> int:
        """Store validated events durably; return how many were new (see ``Store.add_events``).

        Nothing is refreshed: user requests read the store's history themselves.
        """
        return self.state.store.add_events(events, atomic=True)

    def add_event_rows(self, rows: Sequence[EventRow]) -> int:
        """:meth:`add_events` of validated rows (``Store.add_event_rows``: no frame, no links)."""
        return self.state.store.add_event_rows(rows, atomic=True)

    def upsert_items(self, items: pl.DataFrame) -> dict[str, int]:
        """Upsert validated catalog rows and refresh the served snapshot with them.

        Their texts are embedded now (the default, for a CLI or notebook process), or, after
        :meth:`embed_in_background` (the HTTP API), by a background job: the items are then
        served by their facts (price, stock, category) at once and by text similarity once
        their vectors are in the shared embedding cache.

        Returns:
            ``{"upserted", "new", "embedded", "pending"}``, as
            :meth:`recsys.service.RecommendationService.upsert_items` documents.
        """
        state = self.state
        snap = state.current  # never loads a bundle: before one is served there is none to update
        ids = items["item_id"].to_list()
        new = 0
        if snap is not None:
            new = int((snap.bundle.items.indices(ids) < 0).sum())
        written = state.store.upsert_items(items, atomic=True)
        embedded = pending = 0
        live = state.live
        if snap is not None and live is not None:
            if live.background is None:
                embedded = live.embed(state.store.get_items(ids))
            state.refresh()
            pending = live.pending_count(ids)
        return {"upserted": written, "new": new, "embedded": embedded, "pending": pending}

    def embed_in_background(self) -> None:
        """Embed catalog texts off the request path from now on (what the HTTP API does).

        Items whose text has no vector in the shared cache are then *pending*, served by their
        facts, until a :class:`~recsys.overlay_embed.BackgroundEmbedder` job has embedded them.
        That job runs in a thread when the state was given an encoder (tests), else in a
        short-lived subprocess (one per data home at a time), so a server's memory stays where
        it was. The job's end refreshes the state; other processes see the vectors on their
        next refresh. Does nothing without an overlay or when already in background mode.
        """
        from recsys.overlay_embed import BackgroundEmbedder

        state = self.state
        live = state.live
        if live is None or live.background is not None:
            return

        def refresh() -> None:
            try:
                state.refresh()
            except Exception:  # the watcher logs and retries refresh failures on its next poll
                log.exception("refresh after catalog embedding failed")

        live.use_background(
            BackgroundEmbedder(state.home, state.store, encoder=state.encoder, on_done=refresh)
        )

    def erase_users(self, user_ids: Sequence[str]) -> ErasureReport:
        """Erase every copy of these users' data (see :func:`recsys.erasure.erase_users`).

        The store's tombstones make every process serve them as unknown at once; no refresh is
        needed. The new tombstones also go into this process's copy (``ServingState.tombstones``)
        at once, so the shoppers stay unpersonalized here if the store goes down right after.
        """
        started = time.time()
        report = erase_users(self.state.home, self.state.store, user_ids, source="api")
        self.state.add_tombstones(self.state.store.erasures_since(started - 1.0))
        return report
