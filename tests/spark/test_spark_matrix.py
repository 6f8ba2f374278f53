"""The Spark matrix equals the local one: same weights, decay, window, vocabularies."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest
from spark_events import random_events

from recsys.config import MatrixConfig
from recsys.errors import EmptyDataError, ImportRejectedError
from recsys.matrix import build_interactions
from recsys.spark.matrix import ORDER, read_events, spark_interactions

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _to_parquet(events: pl.DataFrame, path: Path) -> str:
    events.with_row_index(ORDER).with_columns(pl.col(ORDER).cast(pl.Int64)).write_parquet(path)
    return str(path)


CONFIGS = {
    "defaults": MatrixConfig(),
    "decay": MatrixConfig(half_life_days=3.0),
    "window and zero weight": MatrixConfig(window_days=12.0, click=0.0, half_life_days=10.0),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_spark_matrix_equals_local(spark: SparkSession, tmp_path: Path, name: str) -> None:
    config = CONFIGS[name]
    events = random_events()
    catalog_ids = ["new-item", "i3", "i1"]  # catalog ids first, one without events
    local = build_interactions(events, config, item_ids=catalog_ids)
    frame, dropped = read_events(spark, _to_parquet(events, tmp_path / "e.parquet"), ordered=True)
    got = spark_interactions(spark, frame, config, catalog_ids)
    assert dropped == 0
    assert got.interactions.users.ids() == local.users.ids()
    assert got.interactions.items.ids() == local.items.ids()
    assert got.interactions.items.ids()[:3] == catalog_ids
    a, b = got.interactions.matrix, local.matrix
    assert a.shape == b.shape and a.nnz == b.nnz > 0
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-6)
    assert got.interactions.reference_ts == local.reference_ts
    # the cells frame holds the same cells, by code
    cells = got.cells.toArrow()
    assert cells.num_rows == b.nnz
    got.cells.unpersist()
    assert got.n_events == events.height  # counted before the window, as build_bundle does
    if config.window_days is not None:  # the window really dropped events
        assert got.interactions.matrix.sum() < build_interactions(events).matrix.sum()
    if config.click == 0:  # the zero-weight rule had rows to drop
        assert events.filter(pl.col("type") == "click").height > 0


def test_read_events_follows_the_import_rules(spark: SparkSession, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    now = datetime(2024, 6, 1, tzinfo=UTC).timestamp()
    t = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    frame = pl.DataFrame(
        {
            "user_id": [" u1 ", "u2", "", "u3", "u4", "u4", "u5", "u6", "x" * 257, "u7"],
            "item_id": ["a", "b", "c", "d", "e", "e", "f", "g", "h", "i"],
            "type": ["VIEW", "purchase", "view", "teleport", "view", "view", "view", "view",
                     "view", "view"],
            "ts": [str(t), str(t * 1000), str(t), str(t), "2024-01-01T00:00:00", str(t),
                   str(now + 3 * 86_400), "1980-01-01T00:00:00Z", str(t), "soon"],
        }
    )  # fmt: skip
    path = tmp_path / "shop.parquet"
    frame.write_parquet(path)
    events, dropped = read_events(spark, str(path), ordered=False, now=now)
    rows = events.orderBy("user_id").collect()
    events.unpersist()
    # dropped: empty id, unknown type, a day-plus in the future, before 1990, a 257-character
    # id, an unparsable time -- and u4's second row, equal on the natural key to the first
    assert dropped == 7
    assert [(r["user_id"], r["type"], r["ts"]) for r in rows] == [
        ("u1", "view", t),
        ("u2", "purchase", t),  # milliseconds, read by the import's auto rule
        ("u4", "view", t),  # ISO 8601 without a zone is UTC
    ]


def test_read_events_takes_parquet_timestamps(spark: SparkSession, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    when = datetime(2024, 1, 1, 12, 30)
    frame = pl.DataFrame(
        {"user_id": ["u", "v"], "item_id": ["a", "b"], "type": ["view", "view"], "ts": [when] * 2}
    ).with_columns(pl.when(pl.col("user_id") == "v").then(pl.col("ts")).alias("naive"))
    aware = frame.with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    for name, table in (("naive", frame.drop("naive")), ("aware", aware.drop("naive"))):
        path = tmp_path / f"{name}.parquet"
        table.write_parquet(path)
        events, dropped = read_events(spark, str(path), ordered=False)
        got = sorted(r["ts"] for r in events.collect())
        events.unpersist()
        assert dropped == 0
        assert got == [when.replace(tzinfo=UTC).timestamp()] * 2, name


def test_read_events_names_missing_columns(spark: SparkSession, tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    pl.DataFrame({"user_id": ["u"], "item_id": ["i"]}).write_parquet(path)
    with pytest.raises(ImportRejectedError, match="missing: type, ts"):
        read_events(spark, str(path), ordered=False)


def test_all_zero_weights_is_an_error(spark: SparkSession, tmp_path: Path) -> None:
    events = random_events().filter(pl.col("type") == "click")
    frame, _ = read_events(spark, _to_parquet(events, tmp_path / "c.parquet"), ordered=True)
    with pytest.raises(EmptyDataError, match="zero weight"):
        spark_interactions(spark, frame, MatrixConfig(click=0.0), [])
