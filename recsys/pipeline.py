"""The offline training pipeline: events + catalog → in-memory bundle → published version.

``build_bundle`` works on frames (used by ``recsys train``, the nightly job and the benchmarks);
``train`` adds reading the store, writing, publishing and pruning.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import polars as pl

from recsys.bundle import Bundle, ItemTable, prune, publish, write_bundle
from recsys.config import TrainConfig
from recsys.erasure import scrub_new_bundle
from recsys.errors import EmptyDataError
from recsys.home import Home
from recsys.hybrid import HybridRecommender
from recsys.index import VectorIndex
from recsys.matrix import build_interactions
from recsys.models import make_model
from recsys.store.sqlite import CATALOG_COLUMNS, ITEM_SCHEMA, Store
from recsys.text import EmbeddingCache, TextEncoder, embed_with_cache, item_text
from recsys.toplists import TopLists, compute_toplists

log = logging.getLogger(__name__)


@dataclass
class TrainReport:
    """What one training run did."""

    version: str  # bundle version written ("" if not written)
    published: bool  # whether CURRENT now points at it
    n_events: int  # events read
    n_users: int  # users in the matrix
    n_items: int  # items (catalog + event-only)
    n_interactions: int  # non-zero (user, item) cells
    n_embedded: int  # texts sent to the text model (cache misses)
    n_cached: int  # texts served from the embedding cache
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step


@contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = round(time.perf_counter() - start, 3)
        log.info("step %s took %.2fs", step, timings[step])


def _item_frame(catalog: pl.DataFrame, item_ids: list[str]) -> pl.DataFrame:
    """Catalog rows in vocabulary order; items seen only in events get their id as title."""
    order = pl.DataFrame({"item_id": item_ids, "_idx": np.arange(len(item_ids))})
    cols = list(CATALOG_COLUMNS)
    cat = (
        catalog.select(cols)
        if catalog.height
        else pl.DataFrame(schema={c: ITEM_SCHEMA[c] for c in cols})
    )
    frame = order.join(cat, on="item_id", how="left").sort("_idx")
    return frame.with_columns(
        pl.col("title").is_not_null().alias("in_catalog"),
        pl.col("title").fill_null(pl.col("item_id")),
        pl.col("description").fill_null(""),
        pl.col("category").fill_null(""),
        pl.col("currency").fill_null(""),
        pl.col("in_stock").fill_null(True),
        pl.col("attributes").fill_null("{}"),
    ).drop("_idx")


def build_bundle(
    events: pl.DataFrame,
    catalog: pl.DataFrame,
    config: TrainConfig,
    *,
    encoder: TextEncoder | None = None,
    cache: EmbeddingCache | None = None,
    show_progress: bool = False,
    timings: dict[str, float] | None = None,
) -> tuple[Bundle, dict[str, int]]:
    """Train everything in memory.

    Args:
        events: ``user_id, item_id, type, ts`` frame.
        catalog: catalog frame (store columns); may be empty.
        config: training config.
        encoder: text encoder (created from ``config.text`` when None and text is enabled).
        cache: embedding cache (None: embed everything).
        show_progress: progress bars for training and embedding.
        timings: dict to fill with seconds per step.

    Returns:
        ``(bundle, counts)`` with the unsaved bundle (version ``"unsaved"``) and
        ``{"embedded": ..., "cached": ...}``.

    Raises:
        EmptyDataError: if there are no events.
    """
    timings = {} if timings is None else timings
    if events.height == 0:
        raise EmptyDataError("no events to train on: import events first (recsys import-events)")
    with _timed(timings, "matrix"):
        inter = build_interactions(events, config.matrix, item_ids=catalog["item_id"].to_list())
        if inter.matrix.nnz == 0:
            raise EmptyDataError("all events have zero weight: check matrix weights / window")
    with _timed(timings, "behavior"):
        behavior = make_model(config.behavior).fit(inter.matrix, show_progress=show_progress)
    with _timed(timings, "behavior_index"):
        behavior_index = None
        if behavior.item_vectors is not None:
            known = np.flatnonzero(behavior.known_items)
            behavior_index = VectorIndex(config.index).build(behavior.item_vectors[known], known)
    frame = _item_frame(catalog, inter.items.ids())
    counts = {"embedded": 0, "cached": 0}
    text_mask = frame["in_catalog"].to_numpy().astype(bool)
    text_vectors = None
    text_index = None
    if config.text.enabled and text_mask.any():
        with _timed(timings, "embed"):
            encoder = encoder or TextEncoder(config.text)
            rows = frame.filter(pl.col("in_catalog")).iter_rows(named=True)
            texts = [
                item_text(
                    r["title"],
                    r["category"],
                    r["description"],
                    r["attributes"],
                    config.text.max_description_chars,
                )
                for r in rows
            ]
            result = embed_with_cache(texts, encoder, cache, show_progress=show_progress)
            text_vectors = np.zeros((len(frame), result.vectors.shape[1]), dtype=np.float32)
            text_vectors[text_mask] = result.vectors
            counts = {"embedded": result.n_embedded, "cached": result.n_cached}
        with _timed(timings, "text_index"):
            present = np.flatnonzero(text_mask)
            text_index = VectorIndex(config.index).build(text_vectors[present], present)
    else:
        text_mask = np.zeros(len(frame), dtype=bool)
    ts = events["ts"]
    manifest = {
        "data_window": {
            "first_event": datetime.fromtimestamp(float(ts.min()), UTC).isoformat(),  # type: ignore[arg-type]
            "last_event": datetime.fromtimestamp(float(ts.max()), UTC).isoformat(),  # type: ignore[arg-type]
            "events": events.height,
        },
        "timings_s": timings,
        "embedding": counts,
    }
    bundle = Bundle(
        version="unsaved",
        path=None,  # type: ignore[arg-type]
        manifest=manifest,
        config=config,
        users=inter.users,
        items=inter.items,
        user_items=inter.matrix,
        popularity=np.log1p(inter.matrix.getnnz(axis=0)).astype(np.float32),
        behavior=behavior,
        behavior_index=behavior_index,
        text_vectors=text_vectors,
        text_mask=text_mask,
        text_index=text_index,
        item_table=ItemTable.from_frame(frame.drop("in_catalog")),
    )
    return bundle, counts


def precompute_lists(
    bundle: Bundle, events: pl.DataFrame, watermark: int, show_progress: bool = False
) -> TopLists | None:
    """Each user's ranked candidates for the API's fast path (None when turned off).

    Args:
        bundle: the freshly trained bundle.
        events: the store's events up to ``watermark`` (all of them, not only the training
            window: a request reads the newest stored events whatever their age).
        watermark: ``Store.last_seq()`` when ``events`` were read.
        show_progress: progress bar over users.
    """
    if bundle.config.hybrid.precomputed_items == 0:
        return None
    return compute_toplists(
        HybridRecommender(bundle), events, watermark, show_progress=show_progress
    )


def train(
    home: Home,
    config: TrainConfig | None = None,
    *,
    store: Store | None = None,
    encoder: TextEncoder | None = None,
    show_progress: bool = False,
    publish_bundle: bool = True,
    metrics: dict[str, object] | None = None,
) -> TrainReport:
    """Read the store, train, write a bundle, and (by default) publish it and prune old versions.

    Raises:
        EmptyDataError: if the store has no events.
    """
    config = config or TrainConfig()
    home.ensure()
    own_store = store is None
    store = store or Store(home.db_path)
    cache = EmbeddingCache(home.embedding_cache_path)
    timings: dict[str, float] = {}
    try:
        with _timed(timings, "read"):
            read_at = time.time()
            watermark = store.last_seq()
            events = store.events_frame(until_seq=watermark)
            catalog = store.catalog_frame()
        bundle, counts = build_bundle(
            events,
            catalog,
            config,
            encoder=encoder,
            cache=cache,
            show_progress=show_progress,
            timings=timings,
        )
        bundle.manifest["read_at"] = read_at
        if metrics:
            bundle.manifest["metrics"] = metrics
        with _timed(timings, "toplists"):
            bundle.toplists = precompute_lists(bundle, events, watermark, show_progress)
        with _timed(timings, "write"):
            version = write_bundle(home.artifacts, bundle)
            scrub_new_bundle(store, home.artifacts, version, read_at)  # erased while training
        if publish_bundle:
            publish(home.artifacts, version)
            removed = prune(home.artifacts, config.keep_versions)
            if removed:
                log.info("pruned old bundles: %s", ", ".join(removed))
    finally:
        cache.close()
        if own_store:
            store.close()
    log.info(
        "trained %s: %d users x %d items, %d texts embedded, %d cached",
        version,
        len(bundle.users),
        len(bundle.items),
        counts["embedded"],
        counts["cached"],
    )
    return TrainReport(
        version=version,
        published=publish_bundle,
        n_events=events.height,
        n_users=len(bundle.users),
        n_items=len(bundle.items),
        n_interactions=int(bundle.user_items.nnz),
        n_embedded=counts["embedded"],
        n_cached=counts["cached"],
        timings=timings,
    )
