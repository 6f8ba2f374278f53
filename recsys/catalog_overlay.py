"""Keep a served bundle in step with catalog changes made after it was trained.

A model bundle is a snapshot. Products added or edited through the API (``PUT /v1/items``) or a
catalog import after training must still be served at once: a new product becomes reachable
through text similarity as soon as it is embedded, and a product that went out of stock must stop
being recommended.

:class:`CatalogOverlay` reads the store's ``item_log`` (every catalog upsert appends to it) and
builds an *overlay* of the base bundle:

* existing items get their new facts (title, price, stock, category) and, if their text changed,
  their new text vector;
* new items are appended after the trained ones (``item_idx >= n_trained``) with a text vector,
  zero popularity and no behavior data: :class:`PaddedBehavior` makes the behavior model report
  them as unknown (``-inf`` scores), and :class:`OverlayIndex` searches them next to the bundle's
  FAISS text index.

The base bundle is never modified; every refresh builds a new :class:`~recsys.bundle.Bundle`
object from the base plus *all* changes since training, so the caller can swap references
atomically. Vectors come from the shared embedding cache (content-hash keys).

Where the missing vectors are computed depends on the mode:

* **inline** (the default: the CLI, a notebook): a refresh embeds the texts the cache lacks
  itself, so an answer always sees every change's text.
* **background** (the HTTP API, :meth:`CatalogOverlay.use_background`): a refresh never embeds and
  never loads the text model. A changed item whose text has no vector yet is *pending*: it is
  served by its facts at once (a new item with no text vector, a changed text with the trained
  vector), the overlay's ``manifest["live"]["pending_embeddings"]`` counts it, and a
  :class:`~recsys.overlay_embed.BackgroundEmbedder` job (one per data home, in a short-lived
  subprocess) writes its vector into the cache; every process's next refresh picks it up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

from recsys.bundle import Bundle, ItemTable
from recsys.index import VectorIndex
from recsys.models.base import BehaviorModel
from recsys.overlay_embed import BackgroundEmbedder, started_from_manifest, texts_of
from recsys.store.contract import Store
from recsys.store.sqlite import CATALOG_COLUMNS
from recsys.text import EmbeddingCache, TextEncoder, embed_with_cache
from recsys.vocab import IdVocabulary

log = logging.getLogger(__name__)

TABLE_COLUMNS = CATALOG_COLUMNS
VECTOR_REFRESH_S = 2.0  # background mode: new vectors alone rebuild the overlay at most this often
REBUILD_SHARE = 10  # ... and at most every 10x the last rebuild's time (a big overlay is costly)


def training_started(bundle: Bundle) -> float:
    """Estimate when the bundle's training read the store (epoch seconds, conservative).

    It is the manifest's ``read_at`` (recorded by ``recsys train`` and the nightly job just
    before they read the store) minus a margin; for bundles without it, ``created_at`` minus the
    recorded step timings and the margin. Changes after this moment may be missing from the
    bundle, so they are (re-)applied by the overlay and erasures after it are honoured by the
    service.
    """
    return started_from_manifest(bundle.manifest)


class PaddedBehavior:
    """A behavior model seen through a longer item table (items appended after training).

    Items ``>= model.n_items`` are unknown to the model: ``known_items`` is False for them, their
    scores and similarities are ``-inf``, and histories are cut to the trained columns before
    they reach the model. Everything else is delegated unchanged.
    """

    def __init__(self, model: BehaviorModel | PaddedBehavior, n_items: int) -> None:
        self.model: BehaviorModel = model.model if isinstance(model, PaddedBehavior) else model
        self._n_trained = self.model.n_items
        self._n_items = int(n_items)
        self._known = np.concatenate(
            [self.model.known_items, np.zeros(self._n_items - self._n_trained, dtype=bool)]
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    @property
    def n_items(self) -> int:
        """Items in the (longer) table."""
        return self._n_items

    @property
    def known_items(self) -> npt.NDArray[np.bool_]:
        """Trained mask padded with False for appended items."""
        return self._known

    @property
    def item_vectors(self) -> npt.NDArray[np.float32] | None:
        """The trained item factors (appended items have none)."""
        return self.model.item_vectors

    def _cut(self, history: sp.csr_matrix) -> sp.csr_matrix:
        return sp.csr_matrix(history)[:, : self._n_trained]

    def _pad(self, values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        pad = np.full((*values.shape[:-1], self._n_items - self._n_trained), -np.inf, np.float32)
        return np.concatenate([values.astype(np.float32, copy=False), pad], axis=-1)

    def user_vector(self, user_idx: int, history: sp.csr_matrix) -> npt.NDArray[np.float32]:
        """The trained or folded-in user factor (factor models only)."""
        return self.model.user_vector(user_idx, self._cut(history))  # type: ignore[attr-defined,no-any-return]

    def score_items(
        self, user_idx: int, history: sp.csr_matrix, item_idx: npt.NDArray[np.int64] | None = None
    ) -> npt.NDArray[np.float32]:
        """Scores over the longer table (``-inf`` for appended items)."""
        cut = self._cut(history)
        if item_idx is None:
            return self._pad(self.model.score_items(user_idx, cut))
        idx = np.asarray(item_idx, dtype=np.int64)
        out = np.full(idx.size, -np.inf, dtype=np.float32)
        trained = idx < self._n_trained
        if trained.any():
            out[trained] = self.model.score_items(user_idx, cut, idx[trained])
        return out

    def item_similarities(self, item_idx: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Similarities over the longer table; rows of appended items are all ``-inf``."""
        idx = np.asarray(item_idx, dtype=np.int64)
        out = np.full((idx.size, self._n_items), -np.inf, dtype=np.float32)
        trained = idx < self._n_trained
        if trained.any():
            out[trained] = self._pad(self.model.item_similarities(idx[trained]))
        return out

    def similar_items(
        self, item_idx: int, n: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Behavior neighbours of a trained item (none for an appended one)."""
        if item_idx >= self._n_trained:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        return self.model.similar_items(item_idx, n)


class OverlayIndex:
    """The bundle's text index plus a small exact index over changed and new items.

    Hits of the base index for items whose vector changed are dropped (the extra index holds
    their new vector). Has the ``search`` signature of :class:`~recsys.index.VectorIndex`.
    """

    def __init__(
        self,
        base: VectorIndex | None,
        extra: VectorIndex | None,
        replaced: npt.NDArray[np.int64],
    ) -> None:
        self.base = base
        self.extra = extra
        self.replaced = np.asarray(replaced, dtype=np.int64)

    @property
    def ntotal(self) -> int:
        """Vectors searchable (base hits that were replaced still count once)."""
        return (self.base.ntotal if self.base else 0) + (self.extra.ntotal if self.extra else 0)

    def search(
        self, query: npt.NDArray[np.float32], k: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Return up to ``k`` ``(item_idx, score)`` pairs, best first, from both indexes."""
        parts_i, parts_s = [], []
        if self.base is not None:
            ids, scores = self.base.search(query, k + self.replaced.size)
            keep = ~np.isin(ids, self.replaced)
            parts_i.append(ids[keep])
            parts_s.append(scores[keep])
        if self.extra is not None:
            ids, scores = self.extra.search(query, k)
            parts_i.append(ids)
            parts_s.append(scores)
        if not parts_i:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        ids, scores = np.concatenate(parts_i), np.concatenate(parts_s)
        order = np.lexsort((ids, -scores))[:k]
        return ids[order], scores[order]


def overlay_bundle(
    base: Bundle,
    changed: pl.DataFrame,
    embed: Callable[[pl.DataFrame], npt.NDArray[np.float32] | None],
) -> Bundle:
    """Return a new bundle: ``base`` with the catalog rows ``changed`` applied.

    Args:
        base: the bundle as trained (not modified).
        changed: store catalog rows (``ITEM_COLUMNS``), one per item id.
        embed: returns unit text vectors, shape ``(m, d)`` float32, for ``m`` catalog rows
            (called only for the rows that really changed), or None without a text model. A row
            of NaN means "no vector yet" (background embedding): that item keeps its trained
            text vector, or has none if it is new, until a later overlay gets the vector.

    Returns:
        A bundle sharing the base's arrays where nothing changed (``manifest["live"]`` counts
        the updated and appended items, and the changed items whose text vector is pending).
    """
    if changed.height == 0:
        return base
    ids = changed["item_id"].to_list()
    idx = base.items.indices(ids)
    new_ids = [i for i, j in zip(ids, idx, strict=True) if j < 0]
    items = base.items
    if new_ids:
        items = IdVocabulary(base.items.ids()).extend(new_ids)
    n_total = len(items)
    positions = items.indices(ids)

    rows = changed.select(
        pl.col("item_id"),
        pl.col("title"),
        pl.col("description").fill_null(""),
        pl.col("category").fill_null(""),
        pl.col("price"),
        pl.col("currency").fill_null(""),
        pl.col("in_stock").cast(pl.Boolean).fill_null(True),
        pl.col("attributes").fill_null("{}"),
    ).with_columns(pl.Series("_idx", positions, dtype=pl.Int64))
    frame = base.item_table.frame.select(TABLE_COLUMNS).with_row_index("_idx")
    frame = frame.with_columns(pl.col("_idx").cast(pl.Int64))
    updated = rows.filter(pl.col("_idx") < len(base.items))
    if updated.height:  # keep only real changes (a re-import of the same facts changes nothing)
        old = frame.filter(pl.col("_idx").is_in(updated["_idx"].implode()))
        both = updated.join(old, on="_idx", how="left", suffix="_old")
        differs = pl.any_horizontal(
            [pl.col(c).ne_missing(pl.col(f"{c}_old")) for c in TABLE_COLUMNS if c != "item_id"]
        )
        updated = both.filter(differs).select(updated.columns)
    if updated.height:
        frame = frame.update(updated, on="_idx", include_nulls=True)
    appended = rows.filter(pl.col("_idx") >= len(base.items)).sort("_idx")
    if updated.height == 0 and appended.height == 0:
        return base
    frame = pl.concat([frame, appended.select(frame.columns)], how="vertical_relaxed")
    table = ItemTable.from_frame(frame.drop("_idx"))
    effective = [*updated["item_id"].to_list(), *appended["item_id"].to_list()]
    positions = items.indices(effective)

    popularity = base.popularity
    if n_total > len(base.items):
        popularity = np.concatenate(
            [base.popularity, np.zeros(n_total - len(base.items), dtype=np.float32)]
        )
    behavior: Any = base.behavior
    if n_total > base.behavior.n_items:
        behavior = PaddedBehavior(base.behavior, n_total)

    text_vectors, text_mask, text_index = base.text_vectors, base.text_mask, base.text_index
    effective_rows = changed.filter(pl.col("item_id").is_in(effective))
    order = {item_id: k for k, item_id in enumerate(effective_rows["item_id"].to_list())}
    vectors = embed(effective_rows) if base.text_vectors is not None else None
    pending = 0
    if base.text_vectors is not None and vectors is not None:
        vectors = vectors[np.asarray([order[i] for i in effective], dtype=np.int64)]
        ready = ~np.isnan(vectors).any(axis=1)
        pending = int((~ready).sum())
        # only new items and items whose text vector really changed enter the overlay: a stock
        # or price change keeps the trained text index (and the precomputed lists) as they are
        inside = positions < len(base.items)
        same = np.zeros(positions.size, dtype=bool)
        same[inside] = base.text_mask[positions[inside]] & np.all(
            base.text_vectors[positions[inside]] == vectors[inside], axis=1
        )
        vectors, positions = vectors[ready & ~same], positions[ready & ~same]
    if (
        base.text_vectors is not None
        and vectors is not None
        and (positions.size or n_total > len(base.items))
    ):
        # appended items get rows (zero, masked out) until their vector is there
        text_vectors = np.zeros((n_total, base.text_vectors.shape[1]), dtype=np.float32)
        text_vectors[: len(base.items)] = base.text_vectors
        text_mask = np.zeros(n_total, dtype=bool)
        text_mask[: len(base.items)] = base.text_mask
        if positions.size:
            text_vectors[positions] = vectors
            text_mask[positions] = True
            extra = VectorIndex(base.config.index).build(vectors, positions)
            base_index = base.text_index
            if isinstance(base_index, OverlayIndex):  # never stack overlays
                base_index = base_index.base
            replaced = positions[positions < len(base.items)]
            text_index = OverlayIndex(base_index, extra, replaced)  # type: ignore[assignment]
    elif n_total > len(base.items):
        text_mask = np.concatenate([base.text_mask, np.zeros(n_total - len(base.items), bool)])

    manifest = {
        **base.manifest,
        "live": {
            "updated_items": int(updated.height),
            "appended_items": len(new_ids),
            "pending_embeddings": pending,
        },
    }
    return replace(
        base,
        manifest=manifest,
        items=items,
        popularity=popularity,
        behavior=behavior,
        text_vectors=text_vectors,
        text_mask=text_mask,
        text_index=text_index,
        item_table=table,
    )


class CatalogOverlay:
    """Follows the store's catalog changes and overlays them on a base bundle.

    Thread-safe: the API's request threads (after an upsert) and its background watcher may call
    :meth:`refresh` concurrently.

    Example:
        >>> live = CatalogOverlay(store, home.embedding_cache_path)
        >>> served = live.start(load_bundle(home.artifacts))
        >>> store.upsert_items(new_items); live.embed(new_items)
        >>> served = live.refresh() or served
    """

    def __init__(
        self, store: Store, cache_path: str | Path, encoder: TextEncoder | None = None
    ) -> None:
        self.store = store
        self.cache_path = Path(cache_path)
        self._encoder = encoder
        self._cache: EmbeddingCache | None = None
        self._lock = threading.RLock()
        self._base: Bundle | None = None
        self._seq = 0
        self._changed: set[str] = set()
        self.background: BackgroundEmbedder | None = None
        self._pending: dict[str, str] = {}  # item id -> cache key of its text, not cached yet
        self.vector_refresh_s = VECTOR_REFRESH_S
        self._next_vector_refresh = 0.0  # monotonic time from which new vectors rebuild
        self._jobs_seen = 0  # the embedder's finished jobs when the overlay was last built

    # ------------------------------------------------------------------------ embedding
    def use_background(self, embedder: BackgroundEmbedder) -> None:
        """Never embed in :meth:`refresh` from now on; ``embedder`` computes missing vectors.

        Items whose vector is missing are served by their facts until a refresh finds their
        vector in the cache (see the module docs). Applies from the next refresh.
        """
        with self._lock:
            self.background = embedder

    def _embedder(self, base: Bundle) -> tuple[TextEncoder, EmbeddingCache]:
        with self._lock:
            if self._encoder is None or self._encoder.config != base.config.text:
                self._encoder = TextEncoder(base.config.text)
            return self._encoder, self._embedding_cache()

    def _embedding_cache(self) -> EmbeddingCache:
        with self._lock:
            if self._cache is None:
                self._cache = EmbeddingCache(self.cache_path)
            return self._cache

    def vectors_for(self, base: Bundle, rows: pl.DataFrame) -> npt.NDArray[np.float32] | None:
        """Unit text vectors of catalog rows (from the cache, embedding the misses).

        Returns None when the bundle has no text model.
        """
        if base.text_vectors is None or not base.config.text.enabled:
            return None
        encoder, cache = self._embedder(base)
        texts = [body for _, _, body in texts_of(rows, base.config.text)]
        return embed_with_cache(texts, encoder, cache).vectors

    def cached_vectors(
        self, base: Bundle, rows: pl.DataFrame, pending: dict[str, str]
    ) -> npt.NDArray[np.float32] | None:
        """Text vectors of catalog rows from the cache only: a row of NaN where none is cached.

        Never loads the text model. The ids and cache keys of the rows without a vector are
        added to ``pending``. Returns None when the bundle has no text model.
        """
        if base.text_vectors is None or not base.config.text.enabled:
            return None
        keyed = texts_of(rows, base.config.text)
        found = self._embedding_cache().get_many([key for _, key, _ in keyed])
        out = np.full((len(keyed), base.text_vectors.shape[1]), np.nan, dtype=np.float32)
        for k, (item_id, key, _) in enumerate(keyed):
            vector = found.get(key)
            if vector is not None and vector.shape[0] == out.shape[1]:
                out[k] = vector
            else:
                pending[item_id] = key
        return out

    def embed(self, rows: pl.DataFrame) -> int:
        """Embed catalog rows into the shared cache now (before the overlay needs them).

        Returns:
            How many texts were embedded (cache misses); 0 when nothing is served yet.
        """
        with self._lock:
            base = self._base
        if base is None or rows.height == 0:
            return 0
        before = len(self._embedder(base)[1])
        self.vectors_for(base, rows)
        return len(self._embedder(base)[1]) - before

    def pending_ids(self) -> list[str]:
        """Changed items served without their current text vector (background mode), sorted."""
        with self._lock:
            return sorted(self._pending)

    def pending_count(self, item_ids: Sequence[str] | None = None) -> int:
        """How many changed items (of ``item_ids``, or all) wait for their text vector."""
        with self._lock:
            if item_ids is None:
                return len(self._pending)
            return sum(1 for i in set(item_ids) if i in self._pending)

    def _vectors_arrived(self) -> bool:
        """Whether the cache now holds a vector some pending item waits for.

        Checked at most every :data:`VECTOR_REFRESH_S` seconds, or :data:`REBUILD_SHARE` times
        the last rebuild's time, while a job is writing vectors (so a long job over a large
        catalog change does not keep every worker rebuilding), and at once when this process's
        job has ended.
        """
        if not self._pending or self.background is None:
            return False
        finished = self.background.jobs_finished
        if finished == self._jobs_seen and time.monotonic() < self._next_vector_refresh:
            return False
        if self._embedding_cache().get_many(list(self._pending.values())):
            return True
        self._jobs_seen = finished  # what that job wrote is all visible now
        self._next_vector_refresh = time.monotonic() + self.vector_refresh_s
        return False

    def _kick(self, base: Bundle) -> None:
        """Start the background embedder when items are pending (it refuses when one runs)."""
        if self.background is not None and self._pending:
            self.background.kick(base.version, base.config.text, training_started(base))

    # ------------------------------------------------------------------------- overlay
    def start(self, base: Bundle) -> Bundle:
        """Adopt a new base bundle and return it with every change since its training applied."""
        with self._lock:
            self._base = base
            self._seq = self.store.item_log_position(since=training_started(base))
            self._changed = set()
            self._pending = {}
            return self.refresh(force=True) or base

    def refresh(self, force: bool = False) -> Bundle | None:
        """Apply catalog changes (and, in background mode, vectors) that arrived since last call.

        Returns:
            The new overlaid bundle, or None if nothing changed (and ``force`` is False) or no
            base bundle was started.
        """
        with self._lock:
            base = self._base
            if base is None:
                return None
            seq, ids = self.store.item_changes(self._seq)
            if not ids and not force and not self._vectors_arrived():
                self._kick(base)  # e.g. the last job failed and its back-off is over
                return None
            self._seq = seq
            self._changed.update(ids)
            if not self._changed:
                return base
            t0 = time.monotonic()
            rows = self.store.get_items(sorted(self._changed))
            pending: dict[str, str] = {}
            if self.background is None:
                bundle = overlay_bundle(base, rows, lambda r: self.vectors_for(base, r))
            else:
                self._jobs_seen = self.background.jobs_finished
                bundle = overlay_bundle(base, rows, lambda r: self.cached_vectors(base, r, pending))
                took = time.monotonic() - t0
                wait = max(self.vector_refresh_s, REBUILD_SHARE * took)
                self._next_vector_refresh = time.monotonic() + wait
            self._pending = pending
            self._kick(base)
            live = bundle.manifest.get("live") or {}
            # items re-imported just before training count as changes but usually differ in
            # nothing: an empty overlay is routine (every CLI answer builds one), not news
            level = logging.INFO if any(live.values()) else logging.DEBUG
            log.log(level, "catalog overlay on %s: %s", base.version, live)
            return bundle

    def changed_ids(self) -> Sequence[str]:
        """Item ids changed since the base bundle was trained."""
        with self._lock:
            return sorted(self._changed)

    def close(self) -> None:
        """Stop the background embedder (if any) and close the embedding cache."""
        background = self.background
        if background is not None:
            background.close()
        with self._lock:
            if self._cache is not None:
                self._cache.close()
                self._cache = None
