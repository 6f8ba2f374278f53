"""The Spark engine trains from the shared PostgreSQL store (several API hosts' store).

The engine reads the store through its export (``events_frame``), the same from either backend;
this shows it end to end on a real server: a bundle trained on ``local[2]`` from PostgreSQL
equals, in its users, items and lists' answers, what the local trainer makes from it. Runs in
``make test-postgres`` when the Spark extra and Java are there (it needs both fixtures).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest

from recsys.bundle import load_bundle
from recsys.config import TrainConfig
from recsys.home import Home
from recsys.service import RecommendationService
from recsys.spark.engine import SparkEngine
from recsys.spark.session import SparkSettings
from recsys.text import TextEncoder
from recsys.training import train

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SMALL = TrainConfig.from_dict({"behavior": {"factors": 8, "iterations": 10}})
LOCAL = SparkSettings(master="local[2]", conf={"spark.sql.shuffle.partitions": "4"})


@pytest.mark.postgres
def test_spark_trains_the_same_bundle_from_a_postgres_store(
    spark: SparkSession,
    postgres_url: str,
    tmp_path: Path,
    shop: tuple[pl.DataFrame, pl.DataFrame],
    encoder: TextEncoder,
) -> None:
    from recsys.store.postgres import PostgresStore, migrate

    migrate(postgres_url)
    events, catalog = shop
    with PostgresStore(postgres_url) as store:
        store.upsert_items(catalog)
        store.add_events(events)
        on_spark = Home(tmp_path / "spark", store=postgres_url).ensure()
        local = Home(tmp_path / "local", store=postgres_url).ensure()
        report = train(on_spark, SMALL, store=store, engine=SparkEngine(LOCAL), encoder=encoder)
        train(local, SMALL, store=store, encoder=encoder)
        watermark = store.last_seq()
    spark_bundle, local_bundle = load_bundle(on_spark.artifacts), load_bundle(local.artifacts)
    assert spark_bundle.manifest["engine"]["name"] == "spark"
    assert spark_bundle.users == local_bundle.users
    assert spark_bundle.items == local_bundle.items
    assert spark_bundle.precomputed is not None
    assert spark_bundle.precomputed.watermark == watermark  # the store's positions
    service = RecommendationService(on_spark, live_catalog=False, encoder=encoder)
    try:
        answer = service.recommend_user("run1", n=1, reasons=False)
        assert (answer.ranking, answer.items[0].item_id) == ("precomputed", "r1")
    finally:
        service.close()
    assert report.version == spark_bundle.version
