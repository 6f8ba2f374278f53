"""Training: events + catalog → in-memory bundle → written, published version.

:func:`train` is the one training door: ``recsys train``, the nightly job (``jobs/nightly``) and
the tests all call it. It reads the store (:func:`read_training_data`, unless the caller read it
already), builds the bundle (:func:`build_bundle`, which works on frames and is also used for
in-memory models such as the nightly gate's and the benchmarks'), precomputes the ranked lists,
writes the version folder, removes users erased meanwhile, and publishes it and prunes old versions.
Hooks let a caller take part: ``steps`` (a :class:`StepTimer`) is told each phase as it starts,
``after_write`` sees the written bundle, ``before_publish`` may keep it unpublished.

Step timing has one helper, :func:`timed` (and :class:`StepTimer`, which adds a callback).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import polars as pl

from recsys.bundle import Bundle, ItemTable, prune, publish, write_bundle
from recsys.config import TrainConfig
from recsys.erasure import scrub_new_bundle
from recsys.errors import ConfigError, EmptyDataError
from recsys.experiments.spec import running_experiment
from recsys.home import Home
from recsys.index import VectorIndex
from recsys.matrix import DAY_S, Interactions, build_interactions
from recsys.models import BehaviorModel, make_model
from recsys.precomputed import PrecomputedLists, SimilarLists
from recsys.serving import FrameEvents, HybridRecommender
from recsys.serving.precompute import rank_every_user
from recsys.serving.similar import rank_similar_lists
from recsys.store import Store, open_store
from recsys.store.sqlite import CATALOG_COLUMNS, ITEM_SCHEMA
from recsys.text import (
    LANGUAGE_SAMPLE,
    LANGUAGE_TEXT_CHARS,
    EmbeddingCache,
    SupportsEncode,
    TextEncoder,
    TextModelChoice,
    choose_text_model,
    embed_with_cache,
    item_text,
)

log = logging.getLogger(__name__)


@dataclass
class TrainReport:
    """What one training run did."""

    version: str  # bundle version written
    published: bool  # whether CURRENT now points at it
    n_events: int  # events trained on
    n_users: int  # users in the matrix
    n_items: int  # items (catalog + event-only)
    n_interactions: int  # non-zero (user, item) cells
    n_embedded: int  # texts sent to the text model (cache misses)
    n_cached: int  # texts served from the embedding cache
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step
    pruned: list[str] = field(default_factory=list)  # old versions removed after publishing


@dataclass(frozen=True)
class TrainingData:
    """What one training run reads from the store, at one moment.

    Attributes:
        events: the events to train on (``user_id, item_id, type, ts, session_id``); all stored
            events, or the newest ``window_days`` of them.
        stored_events: every stored event up to ``watermark`` (the precomputed lists rank from
            them: a request reads the newest stored events whatever their age).
        catalog: the catalog frame (store columns); may be empty.
        watermark: ``Store.last_seq()`` when the events were read.
        read_at: epoch seconds just before the store was read (erasures and catalog changes
            after it are applied to the bundle later).
    """

    events: pl.DataFrame
    stored_events: pl.DataFrame
    catalog: pl.DataFrame
    watermark: int
    read_at: float


def read_training_data(store: Store, window_days: float | None = None) -> TrainingData:
    """Read the events and the catalog a training run uses.

    Args:
        store: the open store.
        window_days: train on the events of the last ``window_days`` before the newest event
            only (None: all of them).

    Returns:
        The :class:`TrainingData`, read at one watermark.
    """
    read_at = time.time()
    watermark = store.last_seq()
    stored = store.events_frame(until_seq=watermark)
    catalog = store.catalog_frame()
    events = stored
    if window_days is not None and stored.height:
        newest = float(stored["ts"].max())  # type: ignore[arg-type]
        events = stored.filter(pl.col("ts") >= newest - window_days * DAY_S)
    return TrainingData(events, stored, catalog, watermark, read_at)


@contextmanager
def timed(timings: dict[str, float], step: str) -> Iterator[None]:
    """Add the seconds the ``with`` body takes to ``timings[step]`` (rounded to ms) and log them.

    Example:
        >>> timings: dict[str, float] = {}
        >>> with timed(timings, "matrix"):
        ...     pass
        >>> list(timings)
        ['matrix']
    """
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = round(timings.get(step, 0.0) + time.perf_counter() - start, 3)
        log.info("step %s took %.2fs", step, timings[step])


class StepTimer:
    """Named steps of a run: seconds per step, and a callback as each step starts.

    Args:
        on_step: called with the step's name before its body runs (progress display, the
            nightly job's lock record).

    Example:
        >>> timer = StepTimer(on_step=print)
        >>> with timer.step("read"):
        ...     pass
        read
        >>> list(timer.timings)
        ['read']
    """

    def __init__(self, on_step: Callable[[str], None] | None = None) -> None:
        self.timings: dict[str, float] = {}  # seconds per step, in the order steps started
        self.on_step = on_step

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the ``with`` body as step ``name`` (times of a repeated name add up)."""
        if self.on_step is not None:
            self.on_step(name)
        with timed(self.timings, name):
            yield


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
    with timed(timings, "matrix"):
        inter = build_interactions(events, config.matrix, item_ids=catalog["item_id"].to_list())
        if inter.matrix.nnz == 0:
            raise EmptyDataError("all events have zero weight: check matrix weights / window")
    with timed(timings, "behavior"):
        behavior = make_model(config.behavior).fit(inter.matrix, show_progress=show_progress)
    ts = events["ts"]
    window = data_window(float(ts.min()), float(ts.max()), events.height)  # type: ignore[arg-type]
    return assemble_bundle(
        inter,
        behavior,
        catalog,
        config,
        window,
        encoder=encoder,
        cache=cache,
        show_progress=show_progress,
        timings=timings,
    )


def data_window(first_ts: float, last_ts: float, n_events: int) -> dict[str, Any]:
    """The manifest's ``data_window``: the oldest and newest trained event, and the count."""
    return {
        "first_event": datetime.fromtimestamp(first_ts, UTC).isoformat(),
        "last_event": datetime.fromtimestamp(last_ts, UTC).isoformat(),
        "events": n_events,
    }


def choose_catalog_text_model(catalog: pl.DataFrame, config: TrainConfig) -> TextModelChoice:
    """The text model for this catalog.

    ``[text] model = "auto"`` decides by its titles and descriptions (see
    :func:`recsys.text.choose_text_model`).
    """
    # rows spread evenly, two texts each: at most LANGUAGE_SAMPLE texts, so the choice reads
    # them all (cut here, in polars, before any long description becomes a Python string)
    rows = LANGUAGE_SAMPLE // 2
    sample = catalog.gather_every(-(-catalog.height // rows)) if catalog.height else catalog
    texts: list[str] = []
    for column in ("title", "description"):
        if column in sample.columns:
            cut = sample[column].cast(pl.String).str.slice(0, LANGUAGE_TEXT_CHARS)
            texts.extend(t for t in cut.to_list() if t)
    return choose_text_model(config.text, texts)


def with_text_model(config: TrainConfig, choice: TextModelChoice) -> TrainConfig:
    """``config`` with ``[text] model`` set to the chosen model (what the bundle records).

    Unchanged when text is off (no model is used) or the model is already the chosen one.
    """
    if not config.text.enabled or config.text.model == choice.model:
        return config
    return replace(config, text=replace(config.text, model=choice.model))


def trained_config(catalog: pl.DataFrame, config: TrainConfig) -> TrainConfig:
    """The config a bundle trained on ``catalog`` with ``config`` records (``auto`` decided).

    Compare bundles' configs with this, not with the configured one (the nightly job does).
    """
    return with_text_model(config, choose_catalog_text_model(catalog, config))


def assemble_bundle(
    inter: Interactions,
    behavior: BehaviorModel,
    catalog: pl.DataFrame,
    config: TrainConfig,
    window: dict[str, Any],
    *,
    encoder: TextEncoder | SupportsEncode | None = None,
    cache: EmbeddingCache | None = None,
    show_progress: bool = False,
    timings: dict[str, float] | None = None,
) -> tuple[Bundle, dict[str, int]]:
    """The bundle around a trained matrix and behavior model: indexes, item table and text.

    Shared by :func:`build_bundle` and other training engines (``recsys.spark.engine``), which
    bring their own matrix, model and text encoder.

    Args:
        inter: the matrix and its vocabularies.
        behavior: the fitted behavior model.
        catalog: catalog frame (store columns); may be empty.
        config: training config.
        window: the manifest's ``data_window`` (:func:`data_window`).
        encoder: text encoder (created from ``config.text`` when None and text is enabled).
        cache: embedding cache (None: embed everything).
        show_progress: progress bars for embedding.
        timings: dict to fill with seconds per step.

    Returns:
        ``(bundle, counts)`` as :func:`build_bundle` returns them.
    """
    timings = {} if timings is None else timings
    choice = choose_catalog_text_model(catalog, config)
    config = with_text_model(config, choice)
    with timed(timings, "behavior_index"):
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
        with timed(timings, "embed"):
            if encoder is not None and encoder.model_id != config.text.model:
                if not isinstance(encoder, TextEncoder):
                    raise ConfigError(
                        f"the encoder embeds with {encoder.model_id!r} but the bundle's text "
                        f"model is {config.text.model!r}: decide the model first "
                        "(choose_catalog_text_model)"
                    )
                encoder = None
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
        with timed(timings, "text_index"):
            present = np.flatnonzero(text_mask)
            text_index = VectorIndex(config.index).build(text_vectors[present], present)
    else:
        text_mask = np.zeros(len(frame), dtype=bool)
    manifest = {
        "data_window": window,
        "timings_s": timings,
        "embedding": counts,
        "catalog_language": choice.language,
        "text_model": {**choice.manifest(), "enabled": config.text.enabled},
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
) -> PrecomputedLists | None:
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
    return rank_every_user(
        HybridRecommender(bundle, events=FrameEvents(events)),
        events,
        watermark,
        show_progress=show_progress,
    )


def precompute_similar(bundle: Bundle, show_progress: bool = False) -> SimilarLists | None:
    """Each item's similar items per mode for the API's fast path (None when turned off)."""
    depth = bundle.config.hybrid.precomputed_similar
    if depth == 0 or len(bundle.items) == 0:
        return None
    rec = HybridRecommender(bundle)
    return rank_similar_lists(bundle, rec.config, rec.spread_floor, depth, show_progress)


@dataclass(frozen=True)
class BuiltBundle:
    """What an engine's training gave, before the bundle is written.

    Attributes:
        bundle: the bundle, with its precomputed lists.
        counts: ``{"embedded", "cached"}`` texts.
        read_at: epoch seconds just before the data was read (erasures after it are scrubbed).
        n_events: events trained on.
        engine: the manifest's ``engine`` entry (``name`` and the engine's settings).
    """

    bundle: Bundle
    counts: dict[str, int]
    read_at: float
    n_events: int
    engine: dict[str, Any]


class TrainingEngine(Protocol):
    """Who trains a bundle for :func:`train` (the local default is :func:`_build_local`)."""

    def build(
        self,
        home: Home,
        store: Store,
        config: TrainConfig,
        data: TrainingData | None,
        *,
        cache: EmbeddingCache | None,
        show_progress: bool,
        timings: dict[str, float],
    ) -> BuiltBundle:
        """Train the bundle with its precomputed lists (``data``: what the caller read, if any)."""
        ...

    def build_frames(
        self,
        data: TrainingData,
        config: TrainConfig,
        *,
        cache: EmbeddingCache | None = None,
        show_progress: bool = False,
        timings: dict[str, float] | None = None,
    ) -> BuiltBundle:
        """The same from frames in memory, without a store (judging candidates, benchmarks)."""
        ...


def _build_local(
    data: TrainingData,
    config: TrainConfig,
    encoder: TextEncoder | None,
    cache: EmbeddingCache | None,
    show_progress: bool,
    timings: dict[str, float],
) -> BuiltBundle:
    """This process trains: :func:`build_bundle`, then the precomputed lists."""
    bundle, counts = build_bundle(
        data.events,
        data.catalog,
        config,
        encoder=encoder,
        cache=cache,
        show_progress=show_progress,
        timings=timings,
    )
    with timed(timings, "toplists"):
        bundle.precomputed = precompute_lists(
            bundle, data.stored_events, data.watermark, show_progress
        )
        bundle.similar = precompute_similar(bundle, show_progress)
    return BuiltBundle(bundle, counts, data.read_at, data.events.height, {"name": "local"})


def _pinned_versions(store: Store) -> set[str]:
    """The bundle versions the running experiment's variants serve (kept by the pruning)."""
    running = running_experiment(store)
    if running is None:
        return set()
    return {v.bundle for v in running.variants if v.bundle is not None}


def train(
    home: Home,
    config: TrainConfig | None = None,
    *,
    store: Store | None = None,
    data: TrainingData | None = None,
    encoder: TextEncoder | None = None,
    cache: EmbeddingCache | None = None,
    show_progress: bool = False,
    publish_bundle: bool = True,
    metrics: Mapping[str, Any] | None = None,
    manifest: Mapping[str, Any] | None = None,
    steps: StepTimer | None = None,
    after_write: Callable[[Bundle], None] | None = None,
    before_publish: Callable[[Bundle], bool] | None = None,
    engine: TrainingEngine | None = None,
) -> TrainReport:
    """Train on the store's data, write a bundle, and (by default) publish it and prune old ones.

    Steps, each announced to and timed by ``steps``: ``read`` (only when ``data`` is None),
    ``train`` (bundle and precomputed lists), ``write`` (the version folder; users erased since
    ``read_at`` are scrubbed from it), ``publish`` (``CURRENT`` and pruning; only when
    publishing).

    Args:
        home: the data home.
        config: training config (defaults otherwise).
        store: an open store (default: opened on the home's database, closed at the end).
        data: what the caller already read (see :func:`read_training_data`); None: read all
            stored events now.
        encoder: text encoder to use (default: created from ``config.text`` when text is on).
        cache: an open embedding cache (default: the home's, opened and closed here).
        show_progress: progress bars for training, embedding and the precomputed lists.
        publish_bundle: point ``CURRENT`` at the new version (False: only write it).
        metrics: stored as the manifest's ``metrics``.
        manifest: more manifest entries (e.g. the nightly run's record).
        steps: timer told of each step as it starts (default: a private one).
        after_write: called with the written bundle (``version`` and ``path`` set) before
            anything else happens to it.
        before_publish: called with the written bundle just before publishing; returning False
            leaves it written but unpublished. Not called when ``publish_bundle`` is False.
        engine: who trains (None: this process, with implicit; ``recsys.spark.SparkEngine``:
            Apache Spark). The bundle, and what follows its training, is the same.

    Returns:
        The :class:`TrainReport`; ``timings`` has ``read`` (when read here), the build steps
        (``matrix``, ``behavior``, ...), ``toplists``, ``write`` and ``publish``.

    Raises:
        EmptyDataError: if there are no events (or all have zero weight).
    """
    config = config or TrainConfig()
    home.ensure()
    timer = steps if steps is not None else StepTimer()
    own_store = store is None
    store = store or open_store(home)
    own_cache = cache is None
    cache = cache or EmbeddingCache(home.embedding_cache_path)
    timings: dict[str, float] = {}  # the report's (and the manifest's) seconds per step
    published = False
    pruned: list[str] = []
    try:
        if engine is None and data is None:
            with timer.step("read"):
                data = read_training_data(store)
            timings["read"] = timer.timings["read"]
        with timer.step("train"):
            if engine is not None:
                built = engine.build(
                    home,
                    store,
                    config,
                    data,
                    cache=cache,
                    show_progress=show_progress,
                    timings=timings,
                )
            else:
                assert data is not None
                built = _build_local(data, config, encoder, cache, show_progress, timings)
            bundle, counts = built.bundle, built.counts
            bundle.manifest["read_at"] = (
                built.read_at
            )  # erasures and catalog changes after it count
            bundle.manifest["engine"] = built.engine
            if metrics:
                bundle.manifest["metrics"] = dict(metrics)
            bundle.manifest.update(manifest or {})
        with timer.step("write"), timed(timings, "write"):
            version = write_bundle(home.artifacts, bundle)
            if after_write is not None:
                after_write(bundle)
            scrub_new_bundle(store, home.artifacts, version, built.read_at)  # erased meanwhile
        if publish_bundle and (before_publish is None or before_publish(bundle)):
            with timer.step("publish"), timed(timings, "publish"):
                pinned = _pinned_versions(store)  # before publishing: may fail, nothing done
                publish(home.artifacts, version)
                published = True
                pruned = prune(home.artifacts, config.keep_versions, keep_also=pinned)
                if pruned:
                    log.info("pruned old bundles: %s", ", ".join(pruned))
    finally:
        if own_cache:
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
        published=published,
        n_events=built.n_events,
        n_users=len(bundle.users),
        n_items=len(bundle.items),
        n_interactions=int(bundle.user_items.nnz),
        n_embedded=counts["embedded"],
        n_cached=counts["cached"],
        timings=timings,
        pruned=pruned,
    )
