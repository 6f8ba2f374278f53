"""Events → the user x item confidence matrix, in Spark SQL, by the local trainer's rules.

The rules are not copied: the type weights come from :func:`recsys.matrix.type_weights` and the
time decay from :func:`recsys.matrix.decay_rate`, the same definitions
:func:`recsys.matrix.build_interactions` uses. So a (user, item) cell is
``Σ weight[type] · exp(rate · age)`` over the user's events, with the age measured from the
user's newest event and ``window_days`` measured from the newest event of all; cells of weight 0
are dropped; users are numbered in order of their first weighted event, items after the
catalog's ids in order of their first weighted event. The sums run in double precision in Spark
(in another order than scipy's, so a cell may differ from the local one in its last float32 bit).

The matrix is aggregated in Spark; only the cells (far fewer than the events) come to the
driver, which needs them for the bundle (``user_items.npz``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from recsys.config import MatrixConfig
from recsys.errors import EmptyDataError, ImportRejectedError
from recsys.matrix import DAY_S, Interactions, decay_rate, type_weights
from recsys.vocab import IdVocabulary

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

ORDER = "_order"  # the events' store order (``seq``; file order for a shop's own Parquet)
EVENT_COLUMNS = ("user_id", "item_id", "type", "ts")


def _seconds(raw: DataFrame, now: float) -> Column:
    """``ts`` as epoch seconds by the import rule (``recsys.store.importing.parse_timestamps``).

    A Parquet timestamp (with or without a zone; naive means UTC) is converted; a number is
    seconds, unless read so it is more than a day ahead while as milliseconds it lies between
    1990 and a day from now; a string is a number or ISO 8601. Anything else is null.
    """
    from pyspark.sql import functions as sf
    from pyspark.sql.types import NumericType, StringType, TimestampNTZType, TimestampType

    from recsys.store.importing import FUTURE_TOLERANCE_S, MIN_TS

    kind = raw.schema["ts"].dataType
    col = sf.col("ts")
    if isinstance(kind, TimestampType | TimestampNTZType):
        return sf.unix_micros(col.cast("timestamp")) / sf.lit(1e6)  # NTZ: the session zone, UTC
    if not isinstance(kind, NumericType | StringType):
        return sf.lit(None).cast("double")
    number = col.try_cast("double")
    hi = now + FUTURE_TOLERANCE_S
    as_ms = number / sf.lit(1000.0)
    numeric = sf.when((number > hi) & (as_ms >= MIN_TS) & (as_ms <= hi), as_ms).otherwise(number)
    if isinstance(kind, StringType):
        parsed = sf.unix_micros(sf.try_to_timestamp(sf.trim(col))) / sf.lit(1e6)
        return sf.coalesce(numeric, parsed)
    return numeric


def read_events(
    spark: SparkSession, path: str, ordered: bool, now: float | None = None
) -> tuple[DataFrame, int]:
    """A Parquet file (or folder) of events, checked by the rules of ``recsys import-events``.

    Ids are trimmed strings (not empty, at most 256 characters, no NUL), ``type`` one of the
    event types in lower case, ``ts`` epoch seconds between 1990 and a day from ``now`` (see
    :func:`_seconds` for the units); other rows are dropped and counted. Rows equal on the
    store's natural key (``user_id, item_id, type, ts, session_id``) count once, as a re-import
    adds nothing twice. The frame is persisted: every later step reads the same rows, even if
    the folder changes meanwhile.

    Args:
        spark: the session.
        path: the Parquet path.
        ordered: the file has an ``_order`` column (the store's export); otherwise the order
            Spark reads the rows in (``monotonically_increasing_id``: by file and row, for a
            stable listing of the folder) breaks timestamp ties.
        now: "now" for the future check (default: the wall clock).

    Returns:
        ``(events, dropped)``: ``user_id, item_id, type, ts, _order`` and how many rows were
        invalid or duplicates. Unpersist the frame when done.

    Raises:
        ImportRejectedError: if a required column is missing.
    """
    import time

    from pyspark import StorageLevel
    from pyspark.sql import functions as sf

    from recsys.store.importing import FUTURE_TOLERANCE_S, MAX_ID_LENGTH, MIN_TS
    from recsys.types import EVENT_TYPES

    now = time.time() if now is None else now
    raw = spark.read.parquet(path)
    missing = [c for c in EVENT_COLUMNS if c not in raw.columns]
    if missing:
        raise ImportRejectedError(
            f"{path}: events need the columns {', '.join(EVENT_COLUMNS)}; missing: "
            f"{', '.join(missing)} (found: {', '.join(raw.columns)})"
        )
    order = sf.col(ORDER) if ordered else sf.monotonically_increasing_id()
    session = sf.col("session_id").cast("string") if "session_id" in raw.columns else sf.lit("")
    events = raw.select(
        sf.trim(sf.col("user_id").cast("string")).alias("user_id"),
        sf.trim(sf.col("item_id").cast("string")).alias("item_id"),
        sf.lower(sf.trim(sf.col("type").cast("string"))).alias("type"),
        _seconds(raw, now).cast("double").alias("ts"),
        sf.coalesce(sf.trim(session), sf.lit("")).alias("_session"),
        order.cast("long").alias(ORDER),
    )

    def plain_id(name: str) -> Column:
        c = sf.col(name)
        return (sf.length(c) > 0) & (sf.length(c) <= MAX_ID_LENGTH) & ~c.contains("\x00")

    valid = (
        plain_id("user_id")
        & plain_id("item_id")
        & sf.col("ts").isNotNull()
        & ~sf.isnan("ts")
        & (sf.col("ts") >= MIN_TS)
        & (sf.col("ts") <= now + FUTURE_TOLERANCE_S)
        & sf.col("type").isin(list(EVENT_TYPES))
    )
    key = ["user_id", "item_id", "type", "ts", "_session"]
    unique = (
        events.filter(valid)
        .groupBy(*key)
        .agg(sf.min(ORDER).alias(ORDER))  # a duplicate keeps its first position
        .select("user_id", "item_id", "type", "ts", ORDER)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    total = raw.count()
    kept = unique.count()
    return unique, total - kept


def event_weights(config: MatrixConfig) -> Column:
    """``weight[type] · decay(age)`` per event, age from the user's newest event (a Column)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as sf

    pairs: list[Any] = []
    for kind, weight in type_weights(config).items():
        pairs += [sf.lit(kind), sf.lit(float(weight))]
    weight_col = sf.coalesce(sf.create_map(*pairs)[sf.col("type")], sf.lit(0.0))
    if config.half_life_days is None:
        return weight_col
    newest = sf.max("ts").over(Window.partitionBy("user_id"))
    age = sf.greatest(newest - sf.col("ts"), sf.lit(0.0))
    return weight_col * sf.exp(age * sf.lit(decay_rate(config.half_life_days)))


@dataclass
class SparkMatrix:
    """The matrix on the driver and the same cells as a Spark frame for ALS.

    Attributes:
        interactions: vocabularies and the CSR matrix, as ``build_interactions`` returns them.
        cells: Spark frame ``u int, i int, w double`` (codes of ``interactions``' vocabularies),
            cached.
        n_events: events given (before ``window_days``, as ``build_bundle`` counts them).
        first_ts: the oldest given event's time.
        last_ts: the newest event's time.
    """

    interactions: Interactions
    cells: DataFrame
    n_events: int
    first_ts: float
    last_ts: float


def _ordered_ids(frame: DataFrame, column: str) -> list[str]:
    """Distinct ids of ``column`` in order of their first ``_order``."""
    from pyspark.sql import functions as sf

    table = (
        frame.groupBy(column)
        .agg(sf.min(ORDER).alias("_first"))
        .orderBy("_first")
        .select(column)
        .toArrow()
    )
    return [str(x) for x in table.column(0).to_pylist()]


def _codes(spark: SparkSession, ids: list[str], column: str, code: str) -> DataFrame:
    import pyarrow as pa

    table = pa.table(
        {column: pa.array(ids, pa.string()), code: np.arange(len(ids), dtype=np.int32)}
    )
    return spark.createDataFrame(table)


def spark_interactions(
    spark: SparkSession, events: DataFrame, config: MatrixConfig, item_ids: list[str]
) -> SparkMatrix:
    """Aggregate ``events`` (``read_events``' columns) into the confidence matrix.

    Args:
        spark: the session.
        events: ``user_id, item_id, type, ts, _order``.
        config: weights, half-life and window.
        item_ids: the catalog's ids: the first columns (items without events are reachable by
            text).

    Raises:
        EmptyDataError: if there are no events, or all of them weigh 0.
    """
    from pyspark.sql import functions as sf

    stats = events.agg(
        sf.count(sf.lit(1)).alias("n"), sf.min("ts").alias("first"), sf.max("ts").alias("last")
    ).first()
    assert stats is not None
    if not stats["n"]:
        raise EmptyDataError("no events to train on: import events first (recsys import-events)")
    reference = float(stats["last"])
    if config.window_days is not None:
        events = events.filter(sf.col("ts") >= reference - config.window_days * DAY_S)
    weighted = (
        events.select("user_id", "item_id", ORDER, event_weights(config).alias("w"))
        .filter(sf.col("w") > 0)
        .cache()
    )
    user_list = _ordered_ids(weighted, "user_id")
    if not user_list:
        weighted.unpersist()
        raise EmptyDataError("all events have zero weight: check matrix weights / window")
    users = IdVocabulary(user_list)
    items = IdVocabulary(item_ids)
    items.extend(_ordered_ids(weighted, "item_id"))
    cells = (
        weighted.groupBy("user_id", "item_id")
        .agg(sf.sum("w").alias("w"))
        .join(sf.broadcast(_codes(spark, users.ids(), "user_id", "u")), "user_id")
        .join(sf.broadcast(_codes(spark, items.ids(), "item_id", "i")), "item_id")
        .select("u", "i", "w")
        .cache()
    )
    table = cells.toArrow()
    weighted.unpersist()
    u = table.column("u").to_numpy().astype(np.int64)
    i = table.column("i").to_numpy().astype(np.int64)
    w = table.column("w").to_numpy().astype(np.float64)
    matrix = sp.csr_matrix((w, (u, i)), shape=(len(users), len(items)), dtype=np.float64)
    matrix.sum_duplicates()
    matrix.sort_indices()
    inter = Interactions(matrix.astype(np.float32), users, items, reference)
    # as the local trainer's manifest: the events it was given, before the matrix's window
    return SparkMatrix(inter, cells, int(stats["n"]), float(stats["first"]), reference)
