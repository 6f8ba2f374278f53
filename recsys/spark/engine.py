"""The Spark engine behind the one training door (``recsys.training.train(engine=...)``).

What runs where:

==================  ==========================================  ============================
step                Spark                                       driver
==================  ==========================================  ============================
read                Parquet (the store's export, or the shop's  the store's export; the
                    own files)                                  catalog
matrix              weights, decay, window, sums (SQL)          the cells → CSR for the bundle
behavior            ``ALS(implicitPrefs=True)``                 factors → ``ALSModel``
embed               cache misses, on executors (MiniLM)         the embedding cache
indexes             —                                           FAISS (as local)
toplists            every user's list, on executors             similar items (as local)
write / publish     —                                           as local (same bundle)
==================  ==========================================  ============================

The bundle is the contract: the same files, loader and publishing as a local one; its manifest's
``engine`` says ``spark`` with the master, the conf, Spark's version and the ALS mapping
(``recsys.spark.als``). ``recsys serve`` does not care who trained.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from recsys.config import TrainConfig
from recsys.errors import EmptyDataError, ImportRejectedError
from recsys.home import Home
from recsys.spark.session import SparkSettings, partitions, spark_session
from recsys.store.contract import Store
from recsys.text import EmbeddingCache
from recsys.training import (
    BuiltBundle,
    TrainingData,
    assemble_bundle,
    data_window,
    precompute_similar,
    read_training_data,
    timed,
    trained_config,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

NO_WATERMARK = -1  # lists ranked from a shop's files: every stored event may be missing from them


def read_catalog(path: str) -> pl.DataFrame:
    """A shop's catalog file (any format ``recsys import-catalog`` takes) as store columns.

    Raises:
        ImportRejectedError: if the file cannot be read or a row is invalid (the catalog is
            small enough to fix first; nothing is dropped silently).
    """
    from recsys.store.importing import read_records_file, validate_items

    raw, unreadable = read_records_file(path, "catalog")
    valid, errors = validate_items(raw)
    problems = [*unreadable, *errors]
    if problems:
        first = problems[0]
        raise ImportRejectedError(
            f"{path}: {len(problems)} catalog rows are invalid (first: {first}); "
            "check it with `recsys import-catalog --dry-run`"
        )
    return valid


def without_erased(
    spark: SparkSession, events: DataFrame, store: Store | None
) -> tuple[DataFrame, int]:
    """``events`` without what erased shoppers did up to their erasure, and how many rows that was.

    The rule of every import (``Store.add_events``): a shop's own files may still hold an erased
    shopper's old events, which must not train a bundle again. The store keeps tombstones
    keyed by an HMAC of the id, so the driver keys the distinct user ids of the file and looks
    them up; only the erased ones go back to Spark (a broadcast join). Without a store there are
    no tombstones to honour.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as sf

    if store is None:
        return events, 0
    tombstones = store.erasures_since(0.0)
    if not tombstones:
        return events, 0
    users = events.select("user_id").distinct().toArrow().column(0).to_pylist()
    erased = {u: tombstones[key] for u in users if (key := store.user_key(str(u))) in tombstones}
    if not erased:
        return events, 0
    import pyarrow as pa

    marks = spark.createDataFrame(
        pa.table({"user_id": list(erased), "_erased_at": list(erased.values())})
    )
    joined = events.join(sf.broadcast(marks), "user_id", "left")
    keep = sf.col("_erased_at").isNull() | (sf.col("ts") > sf.col("_erased_at"))
    counts = joined.agg(sf.sum(sf.when(keep, 0).otherwise(1)).alias("gone")).first()
    assert counts is not None
    gone = int(counts["gone"] or 0)
    log.info("skipped %d events of %d erased shoppers in the input", gone, len(erased))
    kept = joined.filter(keep).drop("_erased_at").persist(StorageLevel.MEMORY_AND_DISK)
    kept.count()
    events.unpersist()
    return kept, gone


def catalog_ids(catalog: pl.DataFrame) -> list[str]:
    """The catalog's item ids (none for a frame without columns)."""
    return catalog["item_id"].to_list() if "item_id" in catalog.columns else []


class SparkEngine:
    """Train with Apache Spark: ``recsys train --engine spark``.

    Args:
        settings: master, conf passthrough, partitions.
        events_path: the shop's own events as Parquet (``user_id, item_id, type, ts``, as
            ``recsys import-events`` takes them); None: export the store's events.
        catalog_path: the shop's own catalog file; None: the store's catalog.
        stage: a folder for the export, checkpoints and the staged bundle (default: a
            temporary folder; on a multi-host cluster it must be one every node can read).
        reg_param: Spark's ALS ``regParam`` (default: mapped from ``behavior.regularization``,
            ``recsys.spark.als.reg_param_for``).

    Example:
        >>> train(home, config, engine=SparkEngine(SparkSettings(master="local[2]")))
    """

    def __init__(
        self,
        settings: SparkSettings | None = None,
        *,
        events_path: str | None = None,
        catalog_path: str | None = None,
        stage: Path | None = None,
        reg_param: float | None = None,
    ) -> None:
        self.settings = settings or SparkSettings()
        self.events_path = events_path
        self.catalog_path = catalog_path
        self.stage = stage
        self.reg_param = reg_param
        self._owned: SparkSession | None = None

    def _session(self) -> SparkSession:
        """The session to train with: the running one, or one this engine starts (and owns)."""
        from pyspark.sql import SparkSession

        running = SparkSession.getActiveSession()
        session = spark_session(self.settings)
        if running is None:
            self._owned = session
        return session

    def close(self) -> None:
        """Stop the Spark session this engine started, if any (its temporary files go with it).

        The CLI and the nightly job call it when their run ends: Spark keeps the staged bundle
        (shipped to the executors) and shuffle files until its context stops. A session that
        was running before the engine (a notebook's, a test's) is left alone.
        """
        if self._owned is not None:
            self._owned.stop()
            self._owned = None

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
        """Train the bundle on Spark (see the module's table); ``data``: what a caller read."""
        return self._staged(store, config, data, cache, show_progress, timings)

    def build_frames(
        self,
        data: TrainingData,
        config: TrainConfig,
        *,
        cache: EmbeddingCache | None = None,
        show_progress: bool = False,
        timings: dict[str, float] | None = None,
    ) -> BuiltBundle:
        """Train on frames already in memory (no store: benchmarks, tests), as :meth:`build`.

        ``data.stored_events`` feed the lists and ``data.events`` the model, as in training.
        """
        timings = {} if timings is None else timings
        return self._staged(None, config, data, cache, show_progress, timings)

    def _staged(
        self,
        store: Store | None,
        config: TrainConfig,
        data: TrainingData | None,
        cache: EmbeddingCache | None,
        show_progress: bool,
        timings: dict[str, float],
    ) -> BuiltBundle:
        """:meth:`_build` in a temporary stage folder (under ``stage`` when given)."""
        spark = self._session()
        if self.stage is not None:
            self.stage.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="recsys-spark-", dir=self.stage) as folder:
            return self._build(
                spark, Path(folder), store, config, data, cache, show_progress, timings
            )

    def _read(
        self, spark: SparkSession, stage: Path, store: Store | None, data: TrainingData | None
    ) -> tuple[DataFrame, DataFrame, pl.DataFrame, int, float, dict[str, Any]]:
        """``(training events, stored events, catalog, watermark, read_at, input facts)``."""
        from pyspark.sql import functions as sf

        from recsys.spark.matrix import ORDER, read_events

        read_at = time.time()
        if self.events_path is not None:
            # the lists read the file's histories, not the store's: no stored event is known to
            # be in them, so a list never answers alone (it still seeds the live pool)
            watermark = NO_WATERMARK
            events, dropped = read_events(spark, self.events_path, ordered=False)
            events, erased = without_erased(spark, events, store)
            if self.catalog_path is not None:
                catalog = read_catalog(self.catalog_path)
            elif store is not None:
                catalog = store.catalog_frame()
            else:
                catalog = data.catalog if data is not None else pl.DataFrame()
            facts = {
                "input": "parquet",
                "events_path": self.events_path,
                "dropped_rows": dropped,
                "erased_rows": erased,
            }
            return events, events, catalog, watermark, read_at, facts
        if data is None:
            assert store is not None
            data = read_training_data(store)
        if data.events.height == 0:
            raise EmptyDataError(
                "no events to train on: import events first (recsys import-events)"
            )
        read_at = data.read_at
        path = stage / "events.parquet"
        data.stored_events.select("user_id", "item_id", "type", "ts").with_row_index(
            ORDER
        ).with_columns(pl.col(ORDER).cast(pl.Int64)).write_parquet(path)
        stored, dropped = read_events(spark, str(path), ordered=True)
        events = stored
        if data.events.height < data.stored_events.height and data.events.height:
            since = float(data.events["ts"].min())  # type: ignore[arg-type]
            events = stored.filter(sf.col("ts") >= since)  # the caller's window
        catalog = read_catalog(self.catalog_path) if self.catalog_path is not None else data.catalog
        facts = {"input": "store", "dropped_rows": dropped}
        return events, stored, catalog, data.watermark, read_at, facts

    def _build(
        self,
        spark: SparkSession,
        stage: Path,
        store: Store | None,
        config: TrainConfig,
        data: TrainingData | None,
        cache: EmbeddingCache | None,
        show_progress: bool,
        timings: dict[str, float],
    ) -> BuiltBundle:
        from recsys.spark.als import fit_spark_als
        from recsys.spark.lists import rank_lists_on_executors
        from recsys.spark.matrix import spark_interactions
        from recsys.spark.text import SparkTextEncoder

        parts = partitions(spark, self.settings)
        with timed(timings, "export"):
            events, stored, catalog, watermark, read_at, facts = self._read(
                spark, stage, store, data
            )
        try:
            with timed(timings, "matrix"):
                matrix = spark_interactions(spark, events, config.matrix, catalog_ids(catalog))
            inter = matrix.interactions
            with timed(timings, "behavior"):
                known = np.asarray(inter.matrix.getnnz(axis=0) > 0)
                try:
                    fit = fit_spark_als(
                        matrix.cells,
                        len(inter.users),
                        len(inter.items),
                        known,
                        config.behavior,
                        blocks=parts,
                        checkpoint_dir=str(stage / "checkpoints"),
                        reg_param=self.reg_param,
                    )
                finally:
                    matrix.cells.unpersist()
            window = data_window(matrix.first_ts, matrix.last_ts, matrix.n_events)
            # ``auto`` decided here, so the executors load the model the bundle records
            text_config = trained_config(catalog, config).text
            bundle, counts = assemble_bundle(
                inter,
                fit.model,
                catalog,
                config,
                window,
                encoder=SparkTextEncoder(spark, text_config, parts),
                cache=cache,
                show_progress=show_progress,
                timings=timings,
            )
            with timed(timings, "toplists"):
                bundle.precomputed = rank_lists_on_executors(
                    spark, bundle, stored, watermark, stage, parts
                )
        finally:
            events.unpersist()
            stored.unpersist()
        with timed(timings, "similar"):
            bundle.similar = precompute_similar(bundle, show_progress)
        engine = {
            "name": "spark",
            "spark_version": spark.version,
            **self.settings.manifest(),
            "master": spark.sparkContext.master,  # the session's (getOrCreate may reuse one)
            "partitions_used": parts,
            "als": {
                "reg_param": fit.reg_param,
                "mean_items_per_user": round(fit.mean_items_per_user, 3),
                "regularization": config.behavior.regularization,
                "objective": "ALS-WR: regParam x observed cells per user and item",
            },
            **facts,
        }
        log.info("trained on spark %s (%s)", engine["master"], engine["als"])
        return BuiltBundle(bundle, counts, read_at, matrix.n_events, engine)
