"""The served snapshot's life: load the current bundle, lay the catalog overlay on it, hot-swap.

:class:`ServingState` holds what serving stands on (the store, the catalog overlay and one
reference to an immutable :class:`Snapshot`) and replaces that reference as a whole when
``CURRENT`` moves or the catalog changes. It is kept apart from the answers
(:class:`~recsys.service.RecommendationService`) so that loading, warming and swapping, which
run off the request path, live in one place, and a request only ever reads the reference.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from recsys.bundle import Bundle, current_version, load_bundle
from recsys.catalog_overlay import CatalogOverlay, training_started
from recsys.errors import StoreUnavailableError
from recsys.experiments.spec import Experiment, Variant, running_experiment
from recsys.home import Home
from recsys.precomputed import PrecomputedLists, SimilarLists
from recsys.service.exposures import ExposureLog
from recsys.serving import HybridRecommender
from recsys.store import Store, open_store
from recsys.text import TextEncoder
from recsys.types import UserEvent

log = logging.getLogger(__name__)

ASSIGNMENTS_KEPT = 100_000  # shoppers whose variant a serving process remembers
_UNSEEN = object()


@dataclass(frozen=True)
class Snapshot:
    """What one request serves from: never mutated, replaced as a whole.

    Attributes:
        recommender: recommender over the served bundle (base bundle plus catalog overlay).
        base: the bundle as loaded from disk.
        trained_from: conservative start time of the base bundle's training (epoch seconds);
            erasures after it are honoured by serving the user as unknown.
        loaded_at: when this snapshot was built (epoch seconds).
        precomputed: the base bundle's precomputed lists while they still describe the served
            catalog (None: every request is computed live).
        similar: the base bundle's precomputed similar items, on the same terms.
        partial: built while the store was unreachable (a worker started during an outage of a
            shared store): the bundle as trained, without catalog changes, trend or fresh
            tombstones; rebuilt by the first refresh that reaches the store.
    """

    recommender: HybridRecommender
    base: Bundle
    trained_from: float
    loaded_at: float
    precomputed: PrecomputedLists | None = None
    similar: SimilarLists | None = None
    partial: bool = False

    @property
    def bundle(self) -> Bundle:
        """The served bundle (with the live catalog overlay)."""
        return self.recommender.bundle

    @property
    def version(self) -> str:
        """The served model version."""
        return self.base.version


def warm(recommender: HybridRecommender) -> None:
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
    """Whether ``base``'s precomputed lists (users' and items') can serve ``served``.

    ``served`` is base plus the catalog overlay. They can while the overlay adds no items (new
    items would be missing from them), puts no item back in stock (it was never a candidate) and
    changes no item's text vector (text scores would differ); items going out of stock, price and
    category changes are applied when answering.
    """
    if len(served.items) != len(base.items):
        return False
    if (served.item_table.in_stock & ~base.item_table.in_stock).any():
        return False
    # the overlay keeps the trained text vectors and index unless some item's text changed
    return served.text_vectors is base.text_vectors and served.text_index is base.text_index


class ServingState:
    """The store, the catalog overlay and the served snapshot, with its reload and hot swap.

    :meth:`refresh` (called by a background watcher every few seconds, see
    :meth:`start_watcher`) notices a new ``CURRENT``, loads the new bundle *completely* off the
    request path, and then replaces :attr:`current`, one reference to an immutable
    :class:`Snapshot`. A request reads that reference once and uses the same snapshot to the
    end, so it never sees a half-loaded model or a mix of two versions.

    Args:
        home: the data home (bundles, store, embedding cache).
        store: an open store to use (default: open ``home``'s on first use, and close it in
            :meth:`close`).
        live_catalog: lay the catalog overlay on the bundle (False: serve the bundle as trained).
        encoder: the text encoder for catalog texts (default: loaded when first needed).

    Attributes:
        current: the snapshot being served, None until one is loaded. Read it once per request.
        last_refresh_error: the watcher's last refresh failure (None: the last one succeeded).
    """

    def __init__(
        self,
        home: Home,
        store: Store | None = None,
        live_catalog: bool = True,
        encoder: TextEncoder | None = None,
    ) -> None:
        self.home = home
        self.encoder = encoder
        self._store = store
        self._own_store = store is None
        self._live_enabled = live_catalog
        self._live: CatalogOverlay | None = None
        self.current: Snapshot | None = None
        self._lock = threading.RLock()  # guards opening the store and building snapshots
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.last_refresh_error: str | None = None
        # {tombstone key: erased_at} of users erased since the served bundle's training began,
        # read at each refresh: what keeps an erased user unpersonalized while the store is
        # unreachable (RecommendationService answers from the bundle alone then)
        self.tombstones: dict[str, float] = {}
        # the earliest erasure time the tombstones are complete from (None: never read): an
        # answer from the bundle alone trusts them only for a bundle trained after it
        self.tombstones_since: float | None = None
        self._tombstone_lock = threading.Lock()
        # the running experiment (recsys.experiments), read from the store at each refresh, and
        # the snapshots its variants serve from: a pinned bundle version, or other blend settings
        self.experiment: Experiment | None = None
        self.experiment_read_at = 0.0
        self._variant_snaps: dict[tuple[str, float, tuple[tuple[str, Any], ...]], Snapshot] = {}
        self._pinned: dict[str, Snapshot] = {}
        self._pin_lock = threading.Lock()
        self.exposures = ExposureLog(lambda: self.store)
        self._assigned: tuple[Experiment | None, dict[str, Variant | None]] = (None, {})
        # called with the tombstones that are new since the last read (e.g. a host's pitch
        # cache forgets shoppers erased through another host; RecommendationService.on_erasures)
        self.erasure_listeners: list[Callable[[dict[str, float]], object]] = []
        # called with the snapshot of a bundle just loaded into memory (the first one, then each
        # swap), off the lock and before the call that loaded it returns (e.g. the API server
        # moves the bundle's objects out of the garbage collector's sight: api.serve)
        self.load_listeners: list[Callable[[Snapshot], object]] = []

    @property
    def store(self) -> Store:
        """The event/catalog store (opened on first use)."""
        store = self._store
        if store is not None:  # every request asks: no lock once it is open
            return store
        with self._lock:
            if self._store is None:
                self._store = open_store(self.home)
            return self._store

    @property
    def live(self) -> CatalogOverlay | None:
        """The catalog overlay (None when disabled; created on first use)."""
        live = self._live
        if live is not None or not self._live_enabled:
            return live
        with self._lock:
            if self._live is None and self._live_enabled:
                cache = self.home.embedding_cache_path
                self._live = CatalogOverlay(self.store, cache, self.encoder)
            return self._live

    @property
    def snapshot(self) -> Snapshot:
        """The snapshot being served (the current bundle is loaded on first use).

        Raises:
            NoBundleError: if nothing is published yet.
        """
        snap = self.current
        if snap is None:
            loaded = False
            with self._lock:
                if self.current is None:
                    self.current = self._build(load_bundle(self.home.artifacts))
                    self.read_experiment()
                    loaded = True
                snap = self.current
            if loaded:
                self._loaded(snap)
        return snap

    def _loaded(self, snap: Snapshot) -> None:
        """Tell the load listeners about ``snap``, a bundle just loaded (a failure is logged)."""
        for listener in list(self.load_listeners):
            try:
                listener(snap)
            except Exception:
                log.exception("a bundle load listener failed on %s", snap.version)

    def _build(self, base: Bundle, served: Bundle | None = None) -> Snapshot:
        """A warmed snapshot of ``base`` served as ``served`` (default: base plus the overlay)."""
        partial = False
        if served is None:
            live = self.live
            try:
                served = live.start(base) if live is not None else base
            except StoreUnavailableError as exc:
                log.warning(
                    "store unreachable; serving %s as trained for now: %s", base.version, exc
                )
                served, partial = base, True
        try:
            recommender = HybridRecommender(served, events=self.store)
        except StoreUnavailableError:  # a source that reads events (the trend) cannot
            recommender, partial = HybridRecommender(served, events=None), True
        warm(recommender)
        try:
            self._read_tombstones(training_started(base))
        except StoreUnavailableError:
            partial = True
        valid = lists_still_valid(base, served)
        precomputed = base.precomputed if valid else None
        similar = base.similar if valid else None
        if not valid and (base.precomputed is not None or base.similar is not None):
            log.info("catalog changed since %s was trained: lists computed live", base.version)
        return Snapshot(
            recommender=recommender,
            base=base,
            trained_from=training_started(base),
            loaded_at=time.time(),
            precomputed=precomputed,
            similar=similar,
            partial=partial,
        )

    def read_experiment(self) -> Experiment | None:
        """Read the running experiment from the store; prepare its variants' snapshots.

        Called at each refresh (so every host follows an experiment started or stopped through
        another one within a poll) and by whoever starts or stops one here. A store that cannot
        be read keeps the experiment known before.
        """
        try:
            experiment = running_experiment(self.store)
        except StoreUnavailableError as exc:
            log.warning("experiments not read: %s", exc)
            return self.experiment
        if experiment == self.experiment:
            experiment = self.experiment  # the same object: assign()'s memory of shoppers stays
        else:
            self._variant_snaps = {}  # another experiment: its variants rank anew
        if experiment is not None:
            try:
                for variant in experiment.variants:  # load pinned bundles off the request path
                    if variant.bundle is not None:
                        self.variant_snapshot(variant)
            except Exception as exc:  # e.g. a pinned version was deleted: nobody is assigned
                log.error(
                    "experiment %s not served on this host: %s: %s",
                    experiment.name,
                    type(exc).__name__,
                    exc,
                )
                experiment = None
        self.experiment, self.experiment_read_at = experiment, time.time()
        return experiment

    def assign(self, experiment: Experiment, user_id: str) -> Variant | None:
        """``experiment.assign(user_id)``, remembered for the shoppers seen lately.

        A hash per request costs about a microsecond; a browsing shopper asks again and again.
        The memory starts afresh when it holds :data:`ASSIGNMENTS_KEPT` shoppers or the
        experiment changes (a dict's item assignment is atomic: threads need no lock).
        """
        memo = self._assigned
        if memo[0] is not experiment:
            memo = (experiment, {})
            self._assigned = memo
        found = memo[1].get(user_id, _UNSEEN)
        if found is _UNSEEN:
            found = experiment.assign(user_id)
            if len(memo[1]) >= ASSIGNMENTS_KEPT:
                memo = (experiment, {})
                self._assigned = memo
            memo[1][user_id] = found
        return found  # type: ignore[return-value]

    def pinned(self, version: str) -> Snapshot:
        """The snapshot serving bundle ``version`` (a variant pinned to it).

        While ``version`` is the current bundle this is the served snapshot (with the catalog
        overlay); another version is served as trained, loaded once and kept.

        Raises:
            BundleError: the version cannot be loaded (e.g. pruned).
        """
        snap = self.snapshot
        if snap.version == version:
            return snap
        found = self._pinned.get(version)
        if found is None:
            with self._pin_lock:  # one load at a time; requests of other variants go on
                found = self._pinned.get(version)
                if found is None:
                    base = load_bundle(self.home.artifacts, version)
                    found = self._build(base, served=base)
                    self._pinned = {version: found}  # one pinned version at a time
        return found

    def variant_snapshot(self, variant: Variant) -> Snapshot:
        """The snapshot ``variant`` is served from: its bundle, ranked with its settings."""
        snap = self.snapshot if variant.bundle is None else self.pinned(variant.bundle)
        if not variant.changes_blend:
            return snap
        key = (snap.version, snap.loaded_at, variant.overrides)
        found = self._variant_snaps.get(key)
        if found is None:
            config = variant.config(snap.recommender.config)
            recommender = snap.recommender.with_config(config)
            warm(recommender)
            found = dataclasses.replace(snap, recommender=recommender)
            snaps = dict(self._variant_snaps)  # replaced, never changed: readers need no lock
            if len(snaps) > 16:  # snapshots of bundles no longer served
                snaps.clear()
            snaps[key] = found
            self._variant_snaps = snaps
        return found

    def _read_tombstones(self, since: float) -> None:
        """Read the erasures since ``since``; tell the listeners about the new ones."""
        fresh = self.store.erasures_since(since)
        self.add_tombstones(fresh, since)

    def add_tombstones(self, tombstones: dict[str, float], since: float | None = None) -> None:
        """Merge ``tombstones`` into :attr:`tombstones` (never drops one); tell the listeners.

        Args:
            tombstones: ``{tombstone key: erased_at}`` read from the store.
            since: the tombstones are every erasure since this time (a full read), which makes
                :attr:`tombstones_since` at most it; None: a partial update (this process's own
                erasures).
        """
        with self._tombstone_lock:
            old = self.tombstones
            new = {k: t for k, t in tombstones.items() if old.get(k, -1.0) < t}
            if new:
                self.tombstones = {**old, **new}
            if since is not None:
                known = self.tombstones_since
                self.tombstones_since = since if known is None else min(known, since)
        for listener in list(self.erasure_listeners) if new else ():
            try:
                listener(new)
            except Exception:
                log.exception("an erasure listener failed on %d new tombstones", len(new))

    def refresh(self) -> bool:
        """Swap to a newly published bundle, or apply new catalog changes; return if swapped.

        The new snapshot is built completely before the reference is replaced, so requests in
        flight finish on the old one and later requests see only the new one.

        Raises:
            recsys.errors.BundleError: if the newly published bundle cannot be loaded (the old
                one stays).
        """
        swapped = self._refresh_bundle()
        if self.current is not None:
            self.read_experiment()
        return swapped

    def _refresh_bundle(self) -> bool:
        """:meth:`refresh` but for the experiment: the bundle swap and the catalog changes."""
        version = current_version(self.home.artifacts)
        snap = self.current
        if snap is not None:
            self._read_tombstones(snap.trained_from)
        if snap is not None and snap.partial and version in (None, snap.version):
            new = self._build(snap.base)  # the store is back: the overlay, trend and tombstones
            if new.partial:
                return False
            with self._lock:
                if self.current is snap:
                    self.current = new
            log.info("serving %s with the store's catalog changes again", snap.version)
            return True
        if version is not None and (snap is None or version != snap.version):
            base = load_bundle(self.home.artifacts, version)
            new = self._build(base)
            with self._lock:
                self.current = new
            log.info("serving bundle %s (was %s)", version, snap.version if snap else None)
            self._loaded(new)
            return True
        live = self.live
        if snap is not None and live is not None:
            served = live.refresh()
            if served is not None:
                new = self._build(snap.base, served)
                with self._lock:
                    if self.current is snap:  # a concurrent swap wins over a stale overlay
                        self.current = new
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
                except StoreUnavailableError as exc:  # logged by the store; one line here
                    self.last_refresh_error = f"{type(exc).__name__}: {exc}"
                    log.warning("refresh skipped: %s", exc)
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

    def close(self) -> None:
        """Stop the watcher, write the exposures, close the overlay and the store if opened here."""
        self.stop_watcher()
        try:
            self.exposures.close()
        except Exception:  # the store is gone: nothing more can be written
            log.exception("could not write the last experiment answers")
        with self._lock:
            live = self._live
        if live is not None:  # outside the lock: it waits for a background job's refresh,
            live.close()  # which takes the lock to read the store
        with self._lock:
            if self._store is not None and self._own_store:
                self._store.close()
