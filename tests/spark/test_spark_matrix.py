"""The Spark matrix equals the local one: same weights, decay, window, vocabularies."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest

from recsys.config import MatrixConfig
from recsys.errors import EmptyDataError, ImportRejectedError
from recsys.matrix import build_interactions
from recsys.spark.matrix import ORDER, read_events, spark_interactions
from spark_events import random_events

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
    if config.window_days is not None:  # the window really dropped events
        assert got.n_events < events.height


def test_zero_weight_rule_is_exercised() -> None:
    events = random_events()
    assert events.filter(pl.col("type") == "click").height > 0


def test_read_events_converts_and_counts(spark: SparkSession, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    frame = pl.DataFrame(
        {
            "user_id": [" u1 ", "u2", "", "u3", "u4"],
            "item_id": ["a", "b", "c", "d", "e"],
            "type": ["VIEW", "purchase", "view", "teleport", "view"],
            "ts": [datetime(2024, 1, 1, tzinfo=UTC)] * 5,
        }
    )
    path = tmp_path / "shop.parquet"
    frame.write_parquet(path)
    events, dropped = read_events(spark, str(path), ordered=False)
    rows = events.orderBy("user_id").collect()
    assert dropped == 2  # the empty user id and the unknown type
    assert [(r["user_id"], r["type"]) for r in rows] == [
        ("u1", "view"),
        ("u2", "purchase"),
        ("u4", "view"),
    ]
    assert rows[0]["ts"] == datetime(2024, 1, 1, tzinfo=UTC).timestamp()


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
