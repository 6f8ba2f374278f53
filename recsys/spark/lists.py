"""Every user's precomputed list, ranked on the Spark executors (the step that grows with users).

The executors run the very code the local trainer runs (``recsys.serving.precompute``:
:func:`~recsys.serving.precompute.user_histories` and
:func:`~recsys.serving.precompute.ranked_lists` over a ``HybridRecommender``), so a list is the
same whichever engine ranked it, given the same bundle:

1. the driver writes the new bundle (without lists) to a staging folder, with the shop-wide
   events the trending source reads, and ships it as a tar with ``SparkContext.addArchive``
   (each node downloads and unpacks it once);
2. the events are partitioned by user and sorted in store order within each partition;
   each task loads the staged bundle once per Python worker and ranks its users;
3. the driver collects ``(user row, items, scores, sources)`` into the
   :class:`~recsys.precomputed.PrecomputedLists` tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from recsys.errors import SparkClusterError
from recsys.precomputed import PrecomputedLists
from recsys.serving.sources.trending import trend_span
from recsys.spark.matrix import ORDER

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

    from recsys.bundle import Bundle
    from recsys.serving import HybridRecommender

STAGE = "recsys-stage-"  # prefix of the staged folder's name among the job's files
TREND_FILE = "trend_events.parquet"
SCHEMA = "u int, items array<int>, scores array<double>, sources array<tinyint>"
_RECOMMENDERS: dict[str, HybridRecommender] = {}  # per executor process: staged path -> ranker


def _recommender(root: str, version: str) -> HybridRecommender:
    """This process's recommender over the staged bundle (loaded once)."""
    key = f"{root}/{version}"
    if key not in _RECOMMENDERS:
        from recsys.bundle import load_bundle
        from recsys.serving import FrameEvents, HybridRecommender

        bundle = load_bundle(Path(root) / "artifacts", version)
        trend = Path(root) / TREND_FILE
        events = FrameEvents(pl.read_parquet(trend)) if trend.is_file() else None
        _RECOMMENDERS.clear()  # one bundle per worker at a time
        _RECOMMENDERS[key] = HybridRecommender(bundle, events=events)
    return _RECOMMENDERS[key]


def _rank_partition(
    batches: Iterator[pa.RecordBatch], name: str, version: str, depth: int
) -> Iterator[pa.RecordBatch]:
    """Executor side: one partition's events (whole users, store order) → their lists."""
    import pyarrow as pa
    from pyspark import SparkFiles

    from recsys.serving.precompute import one_native_thread, ranked_lists, user_histories

    parts = [b for b in batches if b.num_rows]
    if not parts:  # an empty partition (fewer users than tasks)
        return
    table = pa.Table.from_batches(parts)
    unpacked = Path(SparkFiles.get(name))  # the archive, unpacked on this executor's node
    if not unpacked.is_dir():
        raise SparkClusterError(f"the staged bundle {name} was not unpacked on this executor")
    rec = _recommender(str(unpacked), version)
    events = pl.from_arrow(table)
    assert isinstance(events, pl.DataFrame)
    rows: dict[str, list[Any]] = {"u": [], "items": [], "scores": [], "sources": []}
    with one_native_thread():
        for u, ranked in ranked_lists(rec, user_histories(events), depth):
            rows["u"].append(u)
            rows["items"].append(ranked.items.tolist())
            rows["scores"].append(ranked.scores.tolist())
            rows["sources"].append(ranked.sources.tolist())
    if rows["u"]:
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(rows["u"], pa.int32()),
                pa.array(rows["items"], pa.list_(pa.int32())),
                pa.array(rows["scores"], pa.list_(pa.float64())),
                pa.array(rows["sources"], pa.list_(pa.int8())),
            ],
            names=list(rows),
        )


def stage_bundle(bundle: Bundle, events: DataFrame, folder: Path) -> str:
    """Write ``bundle`` (no lists yet) and the trending source's events under ``folder``.

    Returns:
        The staged version's name (``folder / "artifacts" / version``).
    """
    from recsys.bundle import write_bundle

    folder.mkdir(parents=True, exist_ok=True)
    version = write_bundle(folder / "artifacts", bundle)
    span = trend_span(bundle, bundle.config.hybrid)
    if span is not None:
        from pyspark.sql import functions as sf

        recent = events.filter(sf.col("ts") >= span[0]).orderBy(ORDER)
        # what the trend reads (``trending.trend_scores``): no shopper ids leave the driver
        frame = pl.from_arrow(recent.select("item_id", "type", "ts").toArrow())
        assert isinstance(frame, pl.DataFrame)
        frame.write_parquet(folder / TREND_FILE)
    return version


def _tar(folder: Path) -> str:
    """``folder``'s content as ``folder.tar`` (a cluster ships archives, not folders).

    Plain tar: the arrays barely compress. Entries are named from the folder's content (no
    ``./`` entry, which Spark refuses to unpack).
    """
    import tarfile

    archive = folder.with_suffix(".tar")
    with tarfile.open(archive, "w") as tar:
        for entry in sorted(folder.iterdir()):
            tar.add(entry, arcname=entry.name)
    return str(archive)


def rank_lists_on_executors(
    spark: SparkSession,
    bundle: Bundle,
    events: DataFrame,
    watermark: int,
    stage: Path,
    partitions: int,
) -> PrecomputedLists | None:
    """Rank every user's list on the executors (None when ``precomputed_items`` is 0).

    Args:
        spark: the session.
        bundle: the new bundle, without lists.
        events: every stored event (``user_id, item_id, type, ts, _order``), not only the
            training window: a request reads the newest stored events whatever their age.
        watermark: store position of the newest event in ``events``.
        stage: an empty folder for the staged bundle (kept until the lists are collected).
        partitions: how many tasks the users are split into.
    """
    depth = bundle.config.hybrid.precomputed_items
    if depth == 0:
        return None
    import uuid

    folder = stage / f"{STAGE}{uuid.uuid4().hex[:12]}"  # a job's file names must be unique
    version = stage_bundle(bundle, events, folder)
    archive = _tar(folder)
    spark.sparkContext.addArchive(archive)
    by_user = (
        events.select("user_id", "item_id", "type", "ts", ORDER)
        .repartition(max(1, partitions), "user_id")
        .sortWithinPartitions("user_id", ORDER)
    )
    ranked = by_user.mapInArrow(
        partial(
            _rank_partition,
            name=Path(archive).name,
            version=version,
            depth=depth,
        ),
        SCHEMA,
    ).toArrow()
    n_users = len(bundle.users)
    items = np.full((n_users, depth), -1, dtype=np.int32)
    scores = np.zeros(items.shape, dtype=np.float64)
    sources = np.zeros(items.shape, dtype=np.int8)
    if ranked.num_rows:
        users = ranked.column("u").to_numpy()
        offsets = ranked.column("items").combine_chunks().offsets.to_numpy()
        offsets = offsets - offsets[0]
        lengths = np.diff(offsets)
        rows = np.repeat(users, lengths)  # each list's row, once per item, then its positions
        cols = np.arange(rows.size) - np.repeat(offsets[:-1], lengths)
        flat = {name: ranked.column(name).combine_chunks().flatten().to_numpy() for name in
                ("items", "scores", "sources")}  # fmt: skip
        items[rows, cols] = flat["items"]
        scores[rows, cols] = flat["scores"]
        sources[rows, cols] = flat["sources"]
    return PrecomputedLists(items, scores, sources, int(watermark))
