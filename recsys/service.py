"""One facade over store + current bundle that the CLI and the HTTP API both call.

It turns recommender answers into plain JSON-able dicts with the catalog facts a storefront shows,
and owns the serving-time state:

* **Hot swap.** :meth:`RecommendationService.refresh` (called by a background watcher every few
  seconds, see :meth:`~RecommendationService.start_watcher`) notices a new ``CURRENT``, loads the
  new bundle *completely* off the request path, and then replaces one reference to an immutable
  :class:`Snapshot`. A request reads that reference once and uses the same snapshot to the end,
  so it never sees a half-loaded model or a mix of two versions.
* **Live catalog.** Catalog upserts after training are overlaid on the bundle
  (:mod:`recsys.live`), in this process at once and in other processes on their next poll.
* **Live history.** Each user request reads the user's recent events from the store, so a purchase
  is excluded and new interactions shift the user's profile without retraining. Taste is computed
  from the newest ``HISTORY_LIMIT`` events; the items excluded (``exclude_seen``,
  ``exclude_purchased``) are those of the whole history, however long (``Store.user_history``).
* **Erasure.** :meth:`RecommendationService.erase_user` deletes the user's events and leaves a
  tombstone in the store; while the served bundle was trained before the erasure, that user is
  served as unknown (their trained vector is never used again), in every process at once.
* **Precomputed lists.** A user request without explanations is answered from the bundle's
  precomputed ranked list (:mod:`recsys.toplists`) when one indexed store query shows the user has
  no event newer than the list and was not erased since; otherwise it is computed live. Answers
  say which (``ranking``: ``precomputed`` or ``live``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from recsys.bundle import Bundle, current_version, load_bundle
from recsys.erasure import ErasureReport, erase_users
from recsys.home import Home
from recsys.hybrid import Filters, HybridRecommender, Recommendations, SimilarMode
from recsys.live import LiveCatalog, training_started
from recsys.store.sqlite import Store, UserEvent, UserHistory
from recsys.text import TextEncoder
from recsys.toplists import HISTORY_LIMIT, TopLists

log = logging.getLogger(__name__)

# an id the store can never hold (ids with NUL are rejected on import): makes an erased user
# "unknown to the model" for HybridRecommender while keeping their post-erasure history
ERASED_SENTINEL = "\x00erased"


@dataclass(frozen=True)
class Snapshot:
    """What one request serves from: never mutated, replaced as a whole.

    Attributes:
        recommender: recommender over the served bundle (base bundle plus catalog overlay).
        base: the bundle as loaded from disk.
        trained_from: conservative start time of the base bundle's training (epoch seconds);
            erasures after it are honoured by serving the user as unknown.
        loaded_at: when this snapshot was built (epoch seconds).
        toplists: the base bundle's precomputed lists while they still describe the served
            catalog (None: every request is computed live).
    """

    recommender: HybridRecommender
    base: Bundle
    trained_from: float
    loaded_at: float
    toplists: TopLists | None = None

    @property
    def bundle(self) -> Bundle:
        """The served bundle (with the live catalog overlay)."""
        return self.recommender.bundle

    @property
    def version(self) -> str:
        """The served model version."""
        return self.base.version


def _warm(recommender: HybridRecommender) -> None:
    """Build per-bundle lazy state (score spreads, unit vectors) before serving.

    Answers one user and one session request off the request path, so the first real request
    after a swap is not the one that pays for it.
    """
    b = recommender.bundle
    if len(b.items):
        b.item_table.facts(0)  # builds the table's facts cache
    if len(b.users) == 0 or len(b.items) == 0:
        return
    row = b.user_items.getrow(0)
    if row.nnz:
        item = b.items.id(int(row.indices[0]))
        history = [UserEvent(item_id=item, type="view", ts=0.0)]
        recommender.recommend_user(b.users.id(0), history, n=10)
        recommender.recommend_session([item], n=10)


def lists_still_valid(base: Bundle, served: Bundle) -> bool:
    """Whether ``base``'s precomputed lists can serve ``served`` (base plus catalog overlay).

    They can while the overlay adds no items (new items would be missing from them), puts no
    item back in stock (it was never a candidate) and changes no item's text vector (text scores
    would differ); items going out of stock, price and category changes are applied when
    answering.
    """
    if base.toplists is None or len(served.items) != len(base.items):
        return False
    if (served.item_table.in_stock & ~base.item_table.in_stock).any():
        return False
    # the overlay keeps the trained text vectors and index unless some item's text changed
    return served.text_vectors is base.text_vectors and served.text_index is base.text_index


class RecommendationService:
    """Answers recommendation questions from the published bundle and the live event store.

    Example:
        >>> service = RecommendationService(Home.resolve())
        >>> service.recommend_user("1", n=5)["strategy"]
        'hybrid'
    """

    def __init__(
        self,
        home: Home,
        store: Store | None = None,
        live_catalog: bool = True,
        encoder: TextEncoder | None = None,
    ) -> None:
        self.home = home
        self._encoder = encoder
        self._store = store
        self._own_store = store is None
        self._live_enabled = live_catalog
        self._live: LiveCatalog | None = None
        self._snapshot: Snapshot | None = None
        self._lock = threading.RLock()  # guards opening the store and building snapshots
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.last_refresh_error: str | None = None
        self.use_precomputed = True  # False: every user request is ranked live

    # ------------------------------------------------------------------------------- state
    @property
    def store(self) -> Store:
        """The event/catalog store (opened on first use)."""
        with self._lock:
            if self._store is None:
                self._store = Store(self.home.db_path)
            return self._store

    @property
    def live(self) -> LiveCatalog | None:
        """The live catalog overlay (None when disabled)."""
        with self._lock:
            if self._live is None and self._live_enabled:
                self._live = LiveCatalog(self.store, self.home.embedding_cache_path, self._encoder)
            return self._live

    @property
    def snapshot(self) -> Snapshot:
        """The snapshot being served (the current bundle is loaded on first use).

        Raises:
            NoBundleError: if nothing is published yet.
        """
        snap = self._snapshot
        if snap is None:
            with self._lock:
                if self._snapshot is None:
                    self._snapshot = self._build(load_bundle(self.home.artifacts))
                snap = self._snapshot
        return snap

    @property
    def loaded(self) -> bool:
        """Whether a bundle is loaded (the service is ready to answer)."""
        return self._snapshot is not None

    def served_version(self) -> tuple[str | None, float]:
        """``(version, loaded_at)`` of the served bundle, ``(None, 0.0)`` before one is loaded."""
        snap = self._snapshot
        return (snap.version, snap.loaded_at) if snap is not None else (None, 0.0)

    @property
    def recommender(self) -> HybridRecommender:
        """The recommender over the current bundle (loaded on first use)."""
        return self.snapshot.recommender

    @property
    def bundle(self) -> Bundle:
        """The bundle being served (with the live catalog overlay)."""
        return self.snapshot.bundle

    def _build(self, base: Bundle, served: Bundle | None = None) -> Snapshot:
        if served is None:
            live = self.live
            served = live.start(base) if live is not None else base
        recommender = HybridRecommender(served)
        _warm(recommender)
        toplists = base.toplists if lists_still_valid(base, served) else None
        if base.toplists is not None and toplists is None:
            log.info("catalog changed since %s was trained: user lists computed live", base.version)
        return Snapshot(
            recommender=recommender,
            base=base,
            trained_from=training_started(base),
            loaded_at=time.time(),
            toplists=toplists,
        )

    def use_bundle(self, bundle: Bundle) -> None:
        """Serve from ``bundle`` from now on (built fully, then one atomic reference swap)."""
        snap = self._build(bundle)
        with self._lock:
            self._snapshot = snap

    def refresh(self) -> bool:
        """Swap to a newly published bundle, or apply new catalog changes; return if swapped.

        The new snapshot is built completely before the reference is replaced, so requests in
        flight finish on the old one and later requests see only the new one.

        Raises:
            recsys.errors.BundleError: if the newly published bundle cannot be loaded (the old
                one stays).
        """
        version = current_version(self.home.artifacts)
        snap = self._snapshot
        if version is not None and (snap is None or version != snap.version):
            base = load_bundle(self.home.artifacts, version)
            new = self._build(base)
            with self._lock:
                self._snapshot = new
            log.info("serving bundle %s (was %s)", version, snap.version if snap else None)
            return True
        live = self.live
        if snap is not None and live is not None:
            served = live.refresh()
            if served is not None:
                new = self._build(snap.base, served)
                with self._lock:
                    if self._snapshot is snap:  # a concurrent swap wins over a stale overlay
                        self._snapshot = new
                return True
        return False

    def start_watcher(self, poll_s: float) -> None:
        """Poll ``CURRENT`` and the catalog log every ``poll_s`` seconds in a daemon thread."""
        if self._watcher is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(poll_s):
                try:
                    self.refresh()
                    self.last_refresh_error = None
                except Exception as exc:  # keep serving the old bundle; retry on the next poll
                    self.last_refresh_error = f"{type(exc).__name__}: {exc}"
                    log.exception("bundle refresh failed; still serving the previous bundle")

        self._watcher = threading.Thread(target=loop, name="recsys-bundle-watcher", daemon=True)
        self._watcher.start()

    def stop_watcher(self) -> None:
        """Stop the watcher thread (waits for it)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=30)
            self._watcher = None

    # ------------------------------------------------------------------------------ answers
    @staticmethod
    def _items(
        bundle: Bundle, answer: Recommendations, reasons: bool = True
    ) -> list[dict[str, Any]]:
        out = []
        facts, index = bundle.item_table.facts, bundle.items.index
        for item in answer.items:
            row = facts(index(item.item_id))
            entry = {
                "item_id": item.item_id,
                "score": round(item.score, 6),
                "title": row.title,
                "category": row.category or None,
                "price": row.price,
                "currency": row.currency or None,
                "in_stock": bool(row.in_stock),
            }
            if reasons:
                reason = item.reason
                entry["reason"] = {
                    "kind": reason.kind,
                    "source": reason.source,
                    "item_ids": list(reason.item_ids),
                    "text": reason.text,
                }
            out.append(entry)
        return out

    def is_erased(self, user_id: str, snap: Snapshot | None = None) -> bool:
        """Whether ``user_id`` was erased after the served bundle's training began."""
        snap = snap or self.snapshot
        erased = self.store.erased_at(user_id)
        return erased is not None and erased >= snap.trained_from

    def recommend_user(
        self,
        user_id: str,
        n: int = 10,
        filters: Filters | None = None,
        history: UserHistory | None = None,
        explain: bool = True,
        reasons: bool = True,
    ) -> dict[str, Any]:
        """Recommendations for a user, with their live history from the store.

        Args:
            user_id: external user id (unknown users get the fallback chain).
            n: list length.
            filters: per-request filters.
            history: the user's history as ``Store.user_history(user_id, HISTORY_LIMIT)`` reads
                it (default: read from the store; only then can the precomputed list answer).
            explain: compute per-item reasons from the user's items (False: cheaper, bare reason).
            reasons: include each item's ``reason`` (False: leave it out).

        Returns:
            ``{"user_id", "model_version", "strategy", "ranking", "items"}``; ``ranking`` says
            whether the precomputed list answered or the answer was computed live.
        """
        snap = self.snapshot
        filters = filters or Filters()
        ranking = "precomputed"
        answer = None
        if history is None and not explain:
            answer = self._precomputed(snap, user_id, n, filters)
        if answer is None:
            ranking = "live"
            if history is None:
                history = self.store.user_history(user_id, HISTORY_LIMIT)
            model_id = user_id
            if snap.bundle.users.index(user_id) >= 0 and self.is_erased(user_id, snap):
                model_id = ERASED_SENTINEL
            answer = snap.recommender.recommend_user(
                model_id,
                history.events,
                n=n,
                filters=filters,
                explain=explain,
                item_types=history.item_types,
            )
        return {
            "user_id": user_id,
            "model_version": answer.model_version,
            "strategy": answer.strategy,
            "ranking": ranking,
            "items": self._items(snap.bundle, answer, reasons),
        }

    def _precomputed(
        self, snap: Snapshot, user_id: str, n: int, filters: Filters
    ) -> Recommendations | None:
        """The answer from the user's precomputed list, or None if it must be computed live."""
        lists, rec = snap.toplists, snap.recommender
        if not self.use_precomputed or lists is None or rec.config is not snap.base.config.hybrid:
            return None  # no lists, or a recommender re-configured after the lists were ranked
        if not rec.serves_ranked(n, filters):
            return None
        ranked = lists.get(snap.bundle.users.index(user_id))
        if ranked is None:
            return None
        newest, erased = self.store.user_state(user_id)
        if newest is None or newest > lists.watermark:
            return None  # history changed (new events, or erased) since the lists were ranked
        if erased is not None and erased >= snap.trained_from:
            return None
        return rec.recommend_ranked(ranked, n, filters)

    def recommend_session(
        self,
        recent_item_ids: Sequence[str],
        n: int = 10,
        filters: Filters | None = None,
        explain: bool = True,
    ) -> dict[str, Any]:
        """Recommendations for an anonymous session's recent items (most recent first)."""
        snap = self.snapshot
        answer = snap.recommender.recommend_session(
            recent_item_ids, n=n, filters=filters, explain=explain
        )
        return {
            "model_version": answer.model_version,
            "strategy": answer.strategy,
            "items": self._items(snap.bundle, answer),
        }

    def similar(
        self,
        item_id: str,
        n: int = 10,
        mode: SimilarMode = "hybrid",
        filters: Filters | None = None,
    ) -> dict[str, Any]:
        """Items similar to ``item_id``.

        Raises:
            UnknownItemError: if the item is neither in the bundle nor added since.
        """
        snap = self.snapshot
        answer = snap.recommender.similar(item_id, n=n, mode=mode, filters=filters)
        return {
            "item_id": item_id,
            "mode": mode,
            "model_version": answer.model_version,
            "strategy": answer.strategy,
            "items": self._items(snap.bundle, answer),
        }

    # ------------------------------------------------------------------------------ writes
    def add_events(self, events: pl.DataFrame) -> int:
        """Store validated events durably; return how many were new (see ``Store.add_events``)."""
        return self.store.add_events(events, atomic=True)

    def upsert_items(self, items: pl.DataFrame) -> dict[str, int]:
        """Upsert validated catalog rows and serve them at once here.

        Their texts are embedded now (the default, for a CLI or notebook process), or, after
        :meth:`embed_in_background` (the HTTP API), by a background job: the items are then
        served by their facts (price, stock, category) at once and by text similarity once
        their vectors are in the shared embedding cache. Other processes pick the change up on
        their next :meth:`refresh`.

        Returns:
            ``{"upserted", "new", "embedded", "pending"}``: rows written, ids the served bundle
            did not know, texts embedded during this call (cache misses), and items of this
            batch whose text vector is not ready yet (background mode).
        """
        snap = self._snapshot
        ids = items["item_id"].to_list()
        new = 0
        if snap is not None:
            new = int((snap.bundle.items.indices(ids) < 0).sum())
        written = self.store.upsert_items(items, atomic=True)
        embedded = pending = 0
        live = self.live
        if snap is not None and live is not None:
            if live.background is None:
                embedded = live.embed(self.store.get_items(ids))
            self.refresh()
            pending = live.pending_count(ids)
        return {"upserted": written, "new": new, "embedded": embedded, "pending": pending}

    def embed_in_background(self) -> None:
        """Embed catalog texts off the request path from now on (what the HTTP API does).

        Neither :meth:`upsert_items` nor :meth:`refresh` embeds or loads the text model after
        this: items whose text has no vector in the shared cache are *pending*, served by their
        facts, until a :class:`~recsys.live_embed.BackgroundEmbedder` job has embedded them.
        That job runs in a thread when this service was given an encoder (tests), else in a
        short-lived subprocess (one per data home at a time), so a server's memory stays where
        it was. The job's end refreshes this service; other processes see the vectors on their
        next refresh.
        """
        from recsys.live_embed import BackgroundEmbedder

        live = self.live
        if live is None or live.background is not None:
            return

        def refresh() -> None:
            try:
                self.refresh()
            except Exception:  # the watcher logs and retries refresh failures on its next poll
                log.exception("refresh after catalog embedding failed")

        live.use_background(
            BackgroundEmbedder(self.home.root, self.store, encoder=self._encoder, on_done=refresh)
        )

    def erase_users(self, user_ids: Sequence[str]) -> ErasureReport:
        """Erase every copy of these users' data and stop personalizing for them at once.

        See :func:`recsys.erasure.erase_users`.
        """
        return erase_users(self.home, self.store, user_ids, source="api")

    def manifest(self) -> dict[str, Any]:
        """The served bundle's manifest (with ``live`` overlay counts when items were added)."""
        snap = self.snapshot
        return {
            **snap.base.manifest,
            **({"live": snap.bundle.manifest["live"]} if "live" in snap.bundle.manifest else {}),
        }

    def close(self) -> None:
        """Stop the watcher and close what this service opened."""
        self.stop_watcher()
        with self._lock:
            if self._live is not None:
                self._live.close()
            if self._store is not None and self._own_store:
                self._store.close()
