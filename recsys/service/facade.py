"""The serving door: :class:`RecommendationService`, composed of the serving state and the writes.

Answers are ranked here; what they are ranked from (store, catalog overlay, the served snapshot
and its hot swap) is :class:`~recsys.service.snapshots.ServingState`, and writes are
:class:`~recsys.service.writes.ServiceWrites`. The service stays the one object the CLI and the
HTTP API hold, so neither needs to know how the parts are split.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from recsys.bundle import Bundle
from recsys.catalog_overlay import CatalogOverlay
from recsys.erasure import ErasureReport
from recsys.errors import StoreBusyError, StoreUnavailableError
from recsys.experiments.spec import Experiment, Variant
from recsys.home import Home
from recsys.lang import ShopLanguage
from recsys.service.recent import RecentEvents
from recsys.service.served import ExperimentTag, ServedRecommendations, served
from recsys.service.snapshots import ServingState, Snapshot
from recsys.service.writes import ServiceWrites
from recsys.serving import HybridRecommender, pooled
from recsys.serving.pool import bounded_history
from recsys.serving.similar import answer_from_similar
from recsys.store.contract import Store
from recsys.store.schema import EventRow
from recsys.text import TextEncoder
from recsys.types import (
    HISTORY_LIMIT,
    Exposure,
    Filters,
    RankedList,
    Recommendations,
    SimilarMode,
    UserHistory,
)


def _ranks_as_lists(recommender: HybridRecommender, base: Bundle) -> bool:
    """Whether ``recommender`` ranks with the config ``base``'s precomputed lists were ranked with.

    A recommender re-configured after loading (e.g. a tuning experiment) ranks differently, so
    the lists cannot answer for it. Compared by value; in serving the config is the very object
    the bundle loaded, so the comparison stops at the identity check.
    """
    config, trained = recommender.config, base.config.hybrid
    return config is trained or config == trained


def _usable_list(snap: Snapshot, user_idx: int, use_precomputed: bool) -> RankedList | None:
    """The user's precomputed list if the served recommender may use it (None otherwise)."""
    lists = snap.precomputed
    if not use_precomputed or lists is None or not _ranks_as_lists(snap.recommender, snap.base):
        return None
    return lists.get(user_idx)


def _list_state(
    snap: Snapshot, store: Store, user_id: str, recent: RecentEvents | None
) -> tuple[bool, bool, tuple[int | None, float | None, int | None]]:
    """``(erased since training, history changed since the lists were ranked, state)`` (one query).

    The history changed when there are new events, or none at all (erased). ``state`` is what
    ``store.user_state`` read, ``(position of the newest event, when last erased)``, and the
    store position that covers (None unless ``recent`` remembers the shopper:
    ``RecentEvents.state``).
    """
    assert snap.precomputed is not None
    watermark = snap.precomputed.watermark
    if recent is not None:
        newest, erased_at, _ = state = recent.state(store, user_id, watermark)
    else:
        newest, erased_at = store.user_state(user_id)
        state = (newest, erased_at, None)
    erased = erased_at is not None and erased_at >= snap.trained_from
    return erased, newest is None or newest > watermark, state


def _pooled(
    snap: Snapshot,
    store: Store,
    user_id: str,
    history: UserHistory | None,
    state: tuple[int | None, float | None, int | None],
    recent: RecentEvents | None,
) -> tuple[UserHistory | None, npt.NDArray[np.int64] | None, bool]:
    """A browsing shopper (a list, and events since training) is ranked over a small pool.

    ``state`` is the user's state as :func:`_list_state` just read it; ``recent``, where given,
    reads the bounded history by increments (:mod:`recsys.service.recent`).

    Returns:
        ``(history, owned, pooled)``: the history to rank from (a bounded read when the config
        allows it, ``recsys.serving.pool.bounded_history``: the newest events and the pairs
        stored since training), the items owned per the user's training row (with a bounded
        read), and whether pools are on (``(history, None, False)`` when they are off).
    """
    if snap.similar is None or snap.recommender.config.live_pool_items == 0:
        return history, None, False
    owned = None
    if history is None and (limit := bounded_history(snap.base.config)):
        assert snap.precomputed is not None
        watermark, (newest, erased_at, covered) = snap.precomputed.watermark, state
        if recent is not None and newest is not None:
            events, since = recent.read(
                store, user_id, limit, watermark, newest, erased_at, covered
            )
        else:
            events, since = store.user_events_since(user_id, limit, watermark)
        history = UserHistory(events, since)
        user_idx, matrix = snap.bundle.users.index(user_id), snap.bundle.user_items
        owned = matrix.indices[matrix.indptr[user_idx] : matrix.indptr[user_idx + 1]]
        owned = owned.astype(np.int64)
    if history is None:
        history = store.user_history(user_id, HISTORY_LIMIT)
    return history, owned, True


def _answer_user(
    snap: Snapshot,
    store: Store,
    use_precomputed: bool,
    user_id: str,
    n: int,
    filters: Filters,
    history: UserHistory | None,
    reasons: bool,
    language: ShopLanguage | None = None,
    tag: ExperimentTag | None = None,
    recent: RecentEvents | None = None,
) -> ServedRecommendations:
    """``RecommendationService.recommend_user``'s answer from ``snap`` (see there).

    ``tag``: the experiment and variant the answer is served in (see :func:`served`);
    ``recent``: the process's browsing shoppers' events (:mod:`recsys.service.recent`).
    """
    rec = snap.recommender
    user_idx = snap.bundle.users.index(user_id)
    ranked = _usable_list(snap, user_idx, use_precomputed)
    erased, changed = False, True
    state: tuple[int | None, float | None, int | None] = (None, None, None)
    if ranked is not None:
        erased, changed, state = _list_state(snap, store, user_id, recent)
        if not (erased or changed or reasons) and history is None:
            answer = rec.recommend_ranked(ranked, n, filters)
            if answer is not None:
                return served(snap.bundle, answer, "precomputed", tag)
    elif user_idx >= 0:
        erased_at = store.erased_at(user_id)
        erased = erased_at is not None and erased_at >= snap.trained_from
    if ranked is not None and changed and not erased:
        history, owned, pooled = _pooled(snap, store, user_id, history, state, recent)
        if pooled:
            assert history is not None and snap.similar is not None
            answer = rec.recommend_pooled(
                user_id,
                history.events,
                ranked,
                snap.similar,
                rec.config.live_pool_items,
                n=n,
                filters=filters,
                explain=reasons,
                item_types=history.item_types,
                owned=owned,
                language=language,
            )
            return served(snap.bundle, answer, "live", tag)
    if history is None:
        history = store.user_history(user_id, HISTORY_LIMIT)
    # an erased user is served from the history kept since, never from the trained vector
    answer = rec.recommend_user(
        user_id,
        history.events,
        n=n,
        filters=filters,
        explain=reasons,
        item_types=history.item_types,
        use_trained_vector=not erased,
        language=language,
    )
    return served(snap.bundle, answer, "live", tag)


def _answer_offline(
    snap: Snapshot,
    store: Store,
    tombstones: dict[str, float],
    tombstones_since: float | None,
    user_id: str,
    n: int,
    filters: Filters,
    language: ShopLanguage | None = None,
    tag: ExperimentTag | None = None,
) -> ServedRecommendations:
    """The answer while the store is unreachable: from the bundle alone.

    No history can be read, so a trained user gets their precomputed list as of training (with
    bare reasons, whatever was asked: a list carries no explanations) and anyone else the
    fallback (popular items). Whether the user was erased since training is looked up in
    ``tombstones``: the erasures the serving state read at its last refresh, plus those made
    through this process since (``ServiceWrites.erase_users``). An erasure made through another
    host in the last poll interval before the outage (``swap_poll_s``) is not in them; no
    erasure can be made during the outage (it is a write). When not even the tombstone key can
    be computed (the store was never reached), or the tombstones were never read completely for
    this bundle (``tombstones_since``), nobody is personalized. The fallback's reasons are
    written in ``language`` (None: the catalog's); a list's bare reasons have no text.
    """
    complete = tombstones_since is not None and tombstones_since <= snap.trained_from
    try:
        key = store.user_key(user_id)
        erased = not complete or tombstones.get(key, -1.0) >= snap.trained_from
    except StoreUnavailableError:
        erased = True
    rec = snap.recommender
    if not erased:
        ranked = _usable_list(snap, snap.bundle.users.index(user_id), True)
        answer = None
        if ranked is not None:
            answer = rec.recommend_ranked(ranked, n, filters)
        if answer is not None:
            return served(snap.bundle, answer, "precomputed", tag)
    answer = rec.recommend_user(
        user_id, [], n=n, filters=filters, use_trained_vector=False, language=language
    )
    return served(snap.bundle, answer, "live", tag)


class RecommendationService:
    """Answers recommendation questions from the published bundle and the live event store.

    Args:
        home: the data home (bundles, store, embedding cache).
        store: an open store to use (default: open ``home``'s on first use, closed by
            :meth:`close`).
        live_catalog: serve catalog changes made after training (the catalog overlay).
        encoder: the text encoder for catalog texts (default: loaded when first needed).

    Attributes:
        use_precomputed: answer from precomputed lists when they can (False: every user and
            similar-items request is ranked live).

    Example:
        >>> service = RecommendationService(Home.resolve())
        >>> service.recommend_user("1", n=5).strategy
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
        self._state = ServingState(home, store, live_catalog, encoder)
        self._writes = ServiceWrites(self._state)
        self._recent = RecentEvents()  # browsing shoppers' events, read by increments
        self.use_precomputed = True

    # ------------------------------------------------------------------------------- state
    # Request paths read ``self._state`` directly (one attribute lookup), not these properties.
    @property
    def store(self) -> Store:
        """The event/catalog store (opened on first use)."""
        return self._state.store

    @property
    def live(self) -> CatalogOverlay | None:
        """The catalog overlay (None when disabled)."""
        return self._state.live

    @property
    def snapshot(self) -> Snapshot:
        """The snapshot being served (the current bundle is loaded on first use).

        Raises:
            NoBundleError: if nothing is published yet.
        """
        return self._state.snapshot

    @property
    def loaded(self) -> bool:
        """Whether a bundle is loaded (the service is ready to answer)."""
        return self._state.current is not None

    def served_version(self) -> tuple[str | None, float]:
        """``(version, loaded_at)`` of the served bundle, ``(None, 0.0)`` before one is loaded."""
        snap = self._state.current
        return (snap.version, snap.loaded_at) if snap is not None else (None, 0.0)

    @property
    def recommender(self) -> HybridRecommender:
        """The recommender over the current bundle (loaded on first use)."""
        return self._state.snapshot.recommender

    @property
    def bundle(self) -> Bundle:
        """The bundle being served (with the live catalog overlay)."""
        return self._state.snapshot.bundle

    @property
    def last_refresh_error(self) -> str | None:
        """The watcher's last refresh failure (None: the last refresh succeeded)."""
        return self._state.last_refresh_error

    def on_erasures(self, listener: Callable[[dict[str, float]], object]) -> None:
        """Call ``listener({tombstone key: erased_at})`` with erasures new since the last refresh.

        The watcher reads the store's tombstones at each refresh; an erasure made through
        another process or host reaches the listener within one poll.
        """
        self._state.erasure_listeners.append(listener)

    def on_bundle_load(self, listener: Callable[[Snapshot], object]) -> None:
        """Call ``listener(snapshot)`` whenever a bundle is loaded to serve: the first, each swap.

        It runs on the thread that loaded the bundle (the watcher's, for a swap), after the
        snapshot is served; a failing listener is logged and serving goes on.
        """
        self._state.load_listeners.append(listener)

    def refresh(self) -> bool:
        """Swap to a newly published bundle, or apply new catalog changes; return if swapped.

        See :meth:`recsys.service.snapshots.ServingState.refresh` (also for what it raises).
        """
        return self._state.refresh()

    def start_watcher(self, poll_s: float) -> None:
        """Poll ``CURRENT`` and the catalog log every ``poll_s`` seconds in a daemon thread."""
        self._state.start_watcher(poll_s)

    def stop_watcher(self) -> None:
        """Stop the watcher thread (waits for it)."""
        self._state.stop_watcher()

    # ------------------------------------------------------------------------------ answers
    def is_erased(self, user_id: str, snap: Snapshot | None = None) -> bool:
        """Whether ``user_id`` was erased after the served bundle's training began."""
        snap = snap or self._state.snapshot
        erased = self._state.store.erased_at(user_id)
        return erased is not None and erased >= snap.trained_from

    def user_history(self, user_id: str) -> UserHistory:
        """The user's stored history as a user request reads it.

        Returns:
            The newest :data:`~recsys.types.HISTORY_LIMIT` events, newest first, and (when the
            history is longer) the whole history's ``(item_id, type)`` pairs; see
            ``Store.user_history``. Pass it to :meth:`recommend_user` to rank from the same
            read (e.g. to write pitches from the history the answer was ranked from).
        """
        return self._state.store.user_history(user_id, HISTORY_LIMIT)

    def recommend_user(
        self,
        user_id: str,
        n: int = 10,
        filters: Filters | None = None,
        history: UserHistory | None = None,
        reasons: bool = True,
        language: ShopLanguage | None = None,
    ) -> ServedRecommendations:
        """Recommendations for a user, with their live history from the store.

        Args:
            user_id: external user id (unknown users get the fallback chain).
            n: list length.
            filters: per-request filters.
            history: the user's history as :meth:`user_history` reads it (default: read here,
                and only if the answer is ranked live; only then can the precomputed list
                answer).
            reasons: explain each item from the user's items (False: about half the cost, a
                bare reason naming only the top source, and the precomputed list may answer).
            language: the language of the reasons' text, ``en`` or ``zh`` (None: the
                catalog's, ``recsys.lang.bundle_language``; bare reasons have no text).

        Returns:
            The answer; its ``ranking`` says whether the precomputed list answered
            (``precomputed``) or it was ranked for this request (``live``). A user with a list
            and events since training is ranked live over a small pool (the list plus the
            similar items of their newest items, :mod:`recsys.serving.pool`); other live
            answers scan the catalog. While a shared store is unreachable, the answer comes
            from the bundle alone (:func:`_answer_offline`: the precomputed list, else the
            fallback), so a storefront keeps its recommendations through a database outage.
        """
        state = self._state
        snap, store = state.snapshot, state.store
        experiment = state.experiment
        if experiment is not None:
            variant = state.assign(experiment, user_id)
            if variant is not None:
                return self._recommend_variant(
                    experiment, variant, store, user_id, n, filters, history, reasons, language
                )
        try:
            return _answer_user(
                snap,
                store,
                self.use_precomputed,
                user_id,
                n,
                filters or Filters(),
                history,
                reasons,
                language,
                recent=self._recent,
            )
        except (StoreUnavailableError, StoreBusyError):  # answer from the bundle alone
            wanted, since = filters or Filters(), state.tombstones_since
            return _answer_offline(
                snap, store, state.tombstones, since, user_id, n, wanted, language
            )

    def _recommend_variant(
        self,
        experiment: Experiment,
        variant: Variant,
        store: Store,
        user_id: str,
        n: int,
        filters: Filters | None,
        history: UserHistory | None,
        reasons: bool,
        language: ShopLanguage | None,
    ) -> ServedRecommendations:
        """The answer of ``variant`` for ``user_id``, recorded as an exposure of ``experiment``.

        The variant's snapshot (its pinned bundle, its blend settings) answers as
        :meth:`recommend_user` would; a holdout answers with the popular items or nothing.
        The exposure is queued for the store (:class:`~recsys.service.exposures.ExposureLog`).
        """
        state = self._state
        wanted = filters or Filters()
        snap = state.variant_snapshot(variant)
        # a variant with pitches on is explained as a pitch=true answer is: pitches name the
        # shopper's items behind each recommendation
        reasons = reasons or variant.pitch is True
        tag = (experiment.name, variant.name, variant.pitch)
        if variant.holdout == "none":
            empty = Recommendations(strategy="popular", items=[], model_version=snap.version)
            answer = served(snap.bundle, empty, "live", tag)
        elif variant.holdout == "popular":
            if history is None:
                try:
                    history = store.user_history(user_id, HISTORY_LIMIT)
                except (StoreUnavailableError, StoreBusyError):
                    history = UserHistory([])
            ranked = snap.recommender.recommend_popular(
                history.events, n, wanted, reasons, history.item_types, language
            )
            answer = served(snap.bundle, ranked, "live", tag)
        else:
            try:
                answer = _answer_user(
                    snap,
                    store,
                    self.use_precomputed,
                    user_id,
                    n,
                    wanted,
                    history,
                    reasons,
                    language,
                    tag,
                    recent=self._recent,
                )
            except (StoreUnavailableError, StoreBusyError):
                tombstones, since = state.tombstones, state.tombstones_since
                answer = _answer_offline(
                    snap, store, tombstones, since, user_id, n, wanted, language, tag
                )
        shown = tuple([item.item_id for item in answer.items])
        state.exposures.record(
            Exposure(answer.recommendation_id, tag[0], tag[1], user_id, time.time(), shown)
        )
        return answer

    # ------------------------------------------------------------------------- experiments
    @property
    def experiment(self) -> Experiment | None:
        """The running experiment as this process last read it (None: none runs)."""
        return self._state.experiment

    def read_experiment(self) -> Experiment | None:
        """Read the running experiment from the store now (the watcher does at each poll)."""
        return self._state.read_experiment()

    def flush_exposures(self) -> int:
        """Write the queued experiment answers now; return how many were written."""
        return self._state.exposures.flush()

    def recommend_session(
        self,
        recent_item_ids: Sequence[str],
        n: int = 10,
        filters: Filters | None = None,
        reasons: bool = True,
        language: ShopLanguage | None = None,
    ) -> ServedRecommendations:
        """Recommendations for an anonymous session's recent items (most recent first).

        Args:
            recent_item_ids: the items the session looked at, most recent first.
            n: list length.
            filters: per-request filters.
            reasons: explain each item from the session's items (False: a bare reason).
            language: the language of the reasons' text (None: the catalog's).
        """
        snap = self._state.snapshot
        answer = snap.recommender.recommend_session(
            recent_item_ids, n=n, filters=filters, explain=reasons, language=language
        )
        return served(snap.bundle, answer, "live")

    def similar(
        self,
        item_id: str,
        n: int = 10,
        mode: SimilarMode = "hybrid",
        filters: Filters | None = None,
        language: ShopLanguage | None = None,
    ) -> ServedRecommendations:
        """Items similar to ``item_id`` (each reason names ``item_id``).

        Answered from the bundle's precomputed similar items when they can (``ranking``
        ``precomputed``; see :func:`recsys.serving.similar.answer_from_similar`), ranked live
        otherwise. Reasons read ``Similar to <title>`` in ``language`` (None: the catalog's).

        Raises:
            UnknownItemError: if the item is neither in the bundle nor added since.
        """
        snap = self._state.snapshot
        rec = snap.recommender
        lang = language or rec.language
        if snap.similar is not None and self.use_precomputed and _ranks_as_lists(rec, snap.base):
            found = answer_from_similar(
                snap.bundle, rec.config, snap.similar, item_id, n, mode, filters or Filters(), lang
            )
            if found is not None:
                return served(snap.bundle, found, "precomputed")
        answer = rec.similar(item_id, n=n, mode=mode, filters=filters, language=lang)
        return served(snap.bundle, answer, "live")

    def manifest(self) -> dict[str, Any]:
        """The served bundle's manifest (with ``live`` overlay counts when items were added)."""
        snap = self._state.snapshot
        return {
            **snap.base.manifest,
            **({"live": snap.bundle.manifest["live"]} if "live" in snap.bundle.manifest else {}),
        }

    # ------------------------------------------------------------------------------ writes
    def add_events(self, events: pl.DataFrame) -> int:
        """Store validated events durably; return how many were new (see ``Store.add_events``).

        The answer an event names (``recommendation_id``, ``position``) is kept as its link for
        an experiment's report only while an experiment runs (as this process last read it);
        outside one nothing would read it.
        """
        if "recommendation_id" in events.columns and self._state.experiment is None:
            events = events.drop("recommendation_id", "position", strict=False)
        return self._writes.add_events(events)

    def add_event_rows(self, rows: Sequence[EventRow]) -> int:
        """Store validated event rows durably; return how many were new.

        :meth:`add_events` without a frame: the rows ``recsys.store.importing.plain_event_rows``
        gives, which name no answer they came from (a storefront's page view).
        """
        return self._writes.add_event_rows(rows)

    def upsert_items(self, items: pl.DataFrame) -> dict[str, int]:
        """Upsert validated catalog rows and serve them at once here.

        Other processes pick the change up on their next :meth:`refresh`. When the texts are
        embedded: :meth:`recsys.service.writes.ServiceWrites.upsert_items`.

        Returns:
            ``{"upserted", "new", "embedded", "pending"}``: rows written, ids the served bundle
            did not know, texts embedded during this call (cache misses), and items of this
            batch whose text vector is not ready yet (background mode).
        """
        return self._writes.upsert_items(items)

    def warm_up(self) -> None:
        """Start compiling the fused pooled answers' kernel in the background (servers, at boot).

        Until it is ready, browsing shoppers are answered through the stages: the same
        answers, slower (``recsys.serving.pooled``).
        """
        pooled.warm_up()

    def embed_in_background(self) -> None:
        """Embed catalog texts off the request path from now on (what the HTTP API does).

        Neither :meth:`upsert_items` nor :meth:`refresh` embeds or loads the text model after
        this; see :meth:`recsys.service.writes.ServiceWrites.embed_in_background`.
        """
        self._writes.embed_in_background()

    def erase_users(self, user_ids: Sequence[str]) -> ErasureReport:
        """Erase every copy of these users' data and stop personalizing for them at once.

        See :func:`recsys.erasure.erase_users`. The events this process remembers of them
        (:mod:`recsys.service.recent`) are forgotten; another process never serves its copy
        (its erasure time no longer matches) and drops it within ``ENTRY_TTL_S``.
        """
        self._recent.forget(user_ids)
        report = self._writes.erase_users(user_ids)
        self._recent.forget(user_ids)  # and what a request read while the erasure ran
        return report

    def close(self) -> None:
        """Stop the watcher and close what this service opened."""
        self._state.close()
