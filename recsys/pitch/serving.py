"""Pitches at request time: cached at once, template for misses, LLM writing in the background.

A request never waits for the model longer than it asks (``wait_ms``): misses get the template
pitch and are queued (bounded, de-duplicated) for one background worker thread, which loads the
model on first use, writes validated pitches and stores them in the cache; the next request for
the same item and shopper context gets the cached pitch.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from recsys.bundle import current_version
from recsys.errors import InvalidInputError
from recsys.home import Home
from recsys.lang import bundle_language
from recsys.pitch.backends import PitchModel, make_model
from recsys.pitch.cache import CacheKey, PitchCache
from recsys.pitch.config import LANGUAGES, PitchConfig
from recsys.pitch.facts import ItemFacts, ShopperContext, build_context, pitch_language
from recsys.pitch.validate import CatalogNames
from recsys.pitch.writer import Pitch, PitchWriter
from recsys.store import Store, open_store
from recsys.text import TextEncoder
from recsys.types import RecommendedItem, UserEvent

log = logging.getLogger(__name__)

__all__ = ["Pitch", "PitchProvider", "catalog_language", "pitch_cache_path"]

_STOP = object()
LANGUAGE_TTL_S = 10.0  # how often the provider reads the published bundle's catalog language


def pitch_cache_path(home: Home) -> Path:
    """The pitch cache file under the data home."""
    return home.pitch_cache_path


def forget_erased(cache: PitchCache, store: Store, tombstones: Mapping[str, float]) -> int:
    """Delete the pitches in ``cache`` linked to shoppers whose tombstone key is in ``tombstones``.

    Returns:
        The number of pitches deleted.
    """
    deleted = cache.forget_keyed(tombstones, store.user_key)
    if deleted:
        log.info("forgot %d cached pitches of shoppers erased elsewhere", deleted)
    return deleted


def reason_item_ids(item: RecommendedItem | Mapping[str, Any]) -> list[str]:
    """The shopper item ids a recommendation's reason names (``reason.item_ids``), if any.

    Args:
        item: a recommended item, or an item dict with an optional ``reason`` dict (what
            :mod:`recsys.pitch.batch` builds).
    """
    if isinstance(item, RecommendedItem):
        return list(item.reason.item_ids)
    reason = item.get("reason")
    if isinstance(reason, Mapping):
        return [str(i) for i in reason.get("item_ids") or []]
    return []


def recorded_language(manifest: Mapping[str, Any]) -> str | None:
    """The catalog language a bundle's manifest records (None: a bundle from before it was).

    See :func:`recsys.lang.bundle_language`.
    """
    if manifest.get("catalog_language") is None:
        return None
    return bundle_language(dict(manifest))


def catalog_language(home: Home) -> str | None:
    """The catalog language of the bundle published under ``home`` (None: none is, or unknown).

    Read from the current bundle's ``manifest.json`` (see :func:`recorded_language`).
    """
    version = current_version(home.artifacts)
    if version is None:
        return None
    try:
        manifest = json.loads((home.artifacts / version / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return recorded_language(manifest) if isinstance(manifest, dict) else None


def requested_language(language: str | None, config: PitchConfig) -> str:
    """The language a call asked for (``auto`` included), else the configured one.

    Raises:
        InvalidInputError: for a language pitches are not written in.
    """
    if language is None:
        return config.language
    if language not in LANGUAGES:
        raise InvalidInputError(
            f"language={language!r} is not a pitch language: use one of {list(LANGUAGES)}"
        )
    return language


def _as_mapping(item: RecommendedItem | Mapping[str, Any]) -> Mapping[str, Any]:
    """What :meth:`ItemFacts.from_item` reads of an item beyond its catalog row.

    A :class:`RecommendedItem` contributes only its id: the facts come from the store's catalog
    row (the source of truth the bundle's facts were copied from). A mapping's own facts
    (``title``, ``category``, ...) override the row, for callers that still pass item dicts.
    """
    return {"item_id": item.item_id} if isinstance(item, RecommendedItem) else item


class PitchProvider:
    """Serves pitches for recommended items without ever blocking past ``wait_ms``.

    Example:
        >>> provider = PitchProvider(Home.resolve())
        >>> history = service.user_history("42")
        >>> answer = service.recommend_user("42", n=5, history=history)
        >>> provider.pitches_for("42", history.events, answer.items, wait_ms=0)[0].source
        'template'
        >>> provider.close()
    """

    def __init__(
        self,
        home: Home,
        config: PitchConfig | None = None,
        *,
        store: Store | None = None,
        model: PitchModel | None = None,
        encoder: TextEncoder | None = None,
        catalog_language: str | Callable[[], str | None] | None = None,
    ) -> None:
        self.home = home
        # the catalog's language (``auto`` follows it): given, a callable (e.g. the serving
        # bundle's), else read from the bundle published under the home (catalog_language())
        self._catalog_language = catalog_language
        self._language_read: tuple[float, str | None] = (-1e9, None)  # (when, language)
        self.config = config or PitchConfig()
        self._store = store
        self._own_store = store is None
        self._model = model if model is not None else make_model(home, self.config)
        self._encoder = encoder
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._pending: set[CacheKey] = set()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=self.config.queue_size)
        self._worker: threading.Thread | None = None
        self._closed = False
        self._cache = PitchCache(pitch_cache_path(home))
        self.writer = PitchWriter(self._model, self.config, cache=self._cache, encoder=None)
        self.dropped = 0  # misses not queued because the queue was full

    # ----------------------------------------------------------------------------- inputs
    @property
    def store(self) -> Store:
        """The catalog store (opened on first use)."""
        with self._lock:
            if self._store is None:
                self._store = open_store(self.home)
            return self._store

    def catalog_language(self) -> str | None:
        """The catalog's language, which ``auto`` follows (None: unknown; each product decides).

        The one given to the constructor (a value or a callable), else the current bundle's
        recorded ``catalog_language`` under the home, read again at most every
        :data:`LANGUAGE_TTL_S` seconds (a new bundle may be published while serving).
        """
        given = self._catalog_language
        if callable(given):
            return given()
        if given is not None:
            return given
        read_at, language = self._language_read
        now = time.monotonic()
        if now - read_at >= LANGUAGE_TTL_S:
            language = catalog_language(self.home)
            self._language_read = (now, language)
        return language

    def _catalog(self, item_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not item_ids:
            return {}
        frame = self.store.get_items(list(item_ids))
        return {str(row["item_id"]): row for row in frame.iter_rows(named=True)}

    def facts_and_context(
        self,
        history: Sequence[UserEvent],
        items: Sequence[RecommendedItem | Mapping[str, Any]],
        language: str | None = None,
    ) -> list[tuple[ItemFacts, ShopperContext]]:
        """Catalog facts and shopper context for each item (catalog rows read in one query).

        Args:
            history: the shopper's events, newest first.
            items: the recommended items (an item dict with ``item_id``, optional catalog facts
                and ``reason.item_ids`` is accepted too; see :func:`_as_mapping`).
            language: the pitch language asked for (None: ``config.language``); ``auto``
                gives each item the catalog's language, or the other one when the item's own
                text clearly is (:func:`recsys.pitch.facts.pitch_language`).

        Raises:
            InvalidInputError: for a language pitches are not written in.
        """
        chosen = requested_language(language, self.config)
        given = [_as_mapping(item) for item in items]
        recent_ids = list(dict.fromkeys(str(e.item_id) for e in history))[:50]
        rows = self._catalog(list({*recent_ids, *(str(i["item_id"]) for i in given)}))
        titles = {i: str(r["title"]) for i, r in rows.items() if r.get("title")}
        catalog = self.catalog_language() if chosen == "auto" else None
        out = []
        for item, mapping in zip(items, given, strict=True):
            item_id = str(mapping["item_id"])
            facts = ItemFacts.from_item(mapping, rows.get(item_id))
            context = build_context(
                history,
                titles,
                limit=self.config.recent_items,
                language=pitch_language(facts, chosen, catalog),
                prefer=reason_item_ids(item),
                exclude=item_id,
            )
            out.append((facts, context))
        return out

    # ----------------------------------------------------------------------------- serving
    def pitches_for(
        self,
        user_id: str,
        history: Sequence[UserEvent],
        items: Sequence[RecommendedItem | Mapping[str, Any]],
        wait_ms: int = 0,
        language: str | None = None,
    ) -> list[Pitch]:
        """One pitch per item, in the items' order, within ``wait_ms`` milliseconds.

        Args:
            user_id: the shopper (only logged; the pitch depends on their history).
            history: the shopper's events, newest first (the history the items were ranked
                from: ``RecommendationService.user_history``).
            items: the recommended items (``RecommendationService.recommend_user(...).items``):
                each one's facts are read from the catalog, and the items its reason names
                (``reason.item_ids``) are preferred in the shopper context. An item dict
                (``item_id``, optional catalog facts, ``reason.item_ids``) is accepted too.
            wait_ms: how long to wait for background LLM pitches of cache misses (0 = not at
                all: misses get the template now and the LLM pitch on a later request).
            language: the language asked for (``?lang=``: ``en``, ``zh``, ...; ``auto``: each
                item's own text decides); None: ``config.language``. It is part of the cache key.

        Returns:
            Pitches with ``source`` ``"cache"``, ``"llm"`` or ``"template"``. A pitch in a
            language the model does not write (Chinese, with the packaged English-only model) is
            the template at once, with ``fallback="model_language"`` and a ``fallback_reason``.

        Raises:
            InvalidInputError: for a language pitches are not written in.
        """
        deadline = time.monotonic() + max(0, wait_ms) / 1000.0
        started = time.time()
        pairs = self.facts_and_context(history, items, language)
        # the pitches are derived from this shopper's history: link them before they are served
        # or written, so erasing the shopper deletes them (see recsys.pitch.cache)
        self._cache.link(user_id, [self.writer.key(*pair) for pair in pairs])
        out: list[Pitch | None] = []
        misses: list[int] = []
        for idx, (facts, context) in enumerate(pairs):
            hit = self.writer.cached(facts, context)
            out.append(hit)
            if hit is None and self.writer.writes(context.language):
                misses.append(idx)  # the model cannot write the others: they get the template
        if misses and self._model is not None and not self._closed:
            for idx in misses:
                self._enqueue(*pairs[idx])
            if wait_ms > 0:
                keys = {idx: self.writer.key(*pairs[idx]) for idx in misses}
                with self._done:
                    while any(k in self._pending for k in keys.values()):
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        self._done.wait(left)
                for idx in misses:
                    fresh = self.writer.cached(*pairs[idx])
                    if fresh is not None:
                        out[idx] = (
                            dataclasses.replace(fresh, source="llm")
                            if fresh.source == "cache"
                            else fresh
                        )
        erased = self.store.erased_at(user_id)
        if erased is not None and erased >= started:  # erased while this request ran
            self._cache.forget_users([user_id])
        log.debug("pitches for user %s: %d items, %d misses", user_id, len(items), len(misses))
        return [p if p is not None else self.writer.template(*pairs[i]) for i, p in enumerate(out)]

    def forget_erased(self, tombstones: Mapping[str, float]) -> int:
        """Delete the cached pitches of shoppers erased elsewhere; return pitches deleted.

        With several API hosts, a shopper erased through one host has pitches cached on the
        others: each host's serving state reads new tombstones (keyed ids) from the shared store
        and calls this (``RecommendationService.on_erasures``), which matches them against the
        shoppers linked in this host's cache.
        """
        return forget_erased(self._cache, self.store, tombstones)

    def _enqueue(self, facts: ItemFacts, context: ShopperContext) -> None:
        key = self.writer.key(facts, context)
        with self._lock:
            if key in self._pending:
                return
            try:
                self._queue.put_nowait((key, facts, context))
            except queue.Full:
                self.dropped += 1
                return
            self._pending.add(key)
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._work, name="recsys-pitch-writer", daemon=True
                )
                self._worker.start()

    def _names(self) -> CatalogNames:
        frame = self.store.catalog_frame().select("item_id", "title", "category", "attributes")
        return CatalogNames.from_catalog(frame.iter_rows(named=True))

    def _work(self) -> None:
        try:
            self.writer.names = self._names()
            if self._encoder is None and self.config.rerank and self.config.n_samples > 1:
                self._encoder = TextEncoder()
            self.writer.encoder = self._encoder
        except Exception:  # the worker keeps writing; only re-ranking / names are missing
            log.exception("pitch worker: catalog names or encoder unavailable")
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            key, facts, context = job
            try:
                self.writer.write(facts, context, use_cache=True)
                self._cache.drop_unlinked([key])  # its shoppers were erased while it was written
            except Exception:  # one bad item must not kill the worker
                log.exception("pitch worker failed on item %s", facts.item_id)
            finally:
                with self._done:
                    self._pending.discard(key)
                    self._done.notify_all()

    def warm(self) -> None:
        """Load the model now (e.g. at server start) instead of on the first miss."""
        load = getattr(self._model, "load", None)
        if callable(load):
            load()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the worker (after the job in progress) and close the cache."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            worker = self._worker
        if worker is not None:
            while True:  # drop queued jobs: the worker stops after the current one
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._queue.put(_STOP)
            worker.join(timeout=timeout_s)
        with self._done:
            self._pending.clear()
            self._done.notify_all()
        if worker is None or not worker.is_alive():
            self._cache.close()
        if self._own_store and self._store is not None:
            self._store.close()
