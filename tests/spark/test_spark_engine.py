"""``train(engine=SparkEngine(...))``: the same bundle, its lists ranked on executors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest
from spark_events import random_events

from recsys.bundle import current_version, load_bundle
from recsys.cli import main
from recsys.config import TrainConfig
from recsys.home import Home
from recsys.service import RecommendationService
from recsys.serving import FrameEvents, HybridRecommender
from recsys.serving.precompute import rank_every_user
from recsys.spark.engine import SparkEngine
from recsys.spark.session import SparkSettings
from recsys.store import SQLiteStore
from recsys.text import TextEncoder, item_text
from recsys.training import train

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# trending on: the staged bundle then carries the trend's events to the executors too
SMALL = TrainConfig.from_dict(
    {"behavior": {"factors": 8, "iterations": 10}, "hybrid": {"trending_weight": 0.5}}
)
LOCAL = SparkSettings(master="local[2]", conf={"spark.sql.shuffle.partitions": "4"})


def _stock(home: Home, shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, catalog = shop
    more = random_events(n_users=30, n_items=10, per_user=8).with_columns(
        pl.col("item_id").str.replace("i", "r").str.replace("r0", "k1")
    )
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog)
        store.add_events(events)
        store.add_events(more)


def _embedded_texts(catalog: pl.DataFrame) -> list[str]:
    """The text training embeds for each catalog row, in order."""
    return [
        item_text(
            r["title"], r["category"], r["description"], r["attributes"],
            SMALL.text.max_description_chars,
        )
        for r in catalog.iter_rows(named=True)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def spark_home(
    spark: SparkSession,
    tmp_path_factory: pytest.TempPathFactory,
    shop: tuple[pl.DataFrame, pl.DataFrame],
) -> tuple[Home, object]:
    home = Home(tmp_path_factory.mktemp("spark-home") / "home").ensure()
    _stock(home, shop)
    report = train(home, SMALL, engine=SparkEngine(LOCAL))
    return home, report


def test_spark_bundle_is_published_and_named(spark_home: tuple) -> None:
    home, report = spark_home
    assert report.published and current_version(home.artifacts) == report.version
    bundle = load_bundle(home.artifacts)
    engine = bundle.manifest["engine"]
    assert engine["name"] == "spark" and engine["master"] == "local[2]"
    assert engine["input"] == "store" and engine["dropped_rows"] == 0
    assert engine["als"]["reg_param"] > 0
    assert set(report.timings) >= {"export", "matrix", "behavior", "embed", "toplists"}
    assert bundle.behavior.ridge_per_item == engine["als"]["reg_param"]  # type: ignore[attr-defined]


def test_lists_from_executors_equal_the_local_ranking(spark_home: tuple) -> None:
    home, _ = spark_home
    bundle = load_bundle(home.artifacts)
    assert bundle.precomputed is not None and bundle.precomputed.n_lists > 0
    with SQLiteStore(home.db_path) as store:
        events = store.events_frame()
        watermark = store.last_seq()
    rec = HybridRecommender(bundle, events=FrameEvents(events))
    local = rank_every_user(rec, events, watermark)
    assert np.array_equal(bundle.precomputed.items, local.items)
    assert np.array_equal(bundle.precomputed.sources, local.sources)
    np.testing.assert_array_equal(bundle.precomputed.scores, local.scores)
    assert bundle.precomputed.watermark == watermark


def test_texts_embedded_on_executors_match_the_local_model(
    spark_home: tuple, encoder: TextEncoder, shop: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    home, report = spark_home
    bundle = load_bundle(home.artifacts)
    assert report.n_embedded == int(bundle.text_mask.sum()) == 10
    assert bundle.text_vectors is not None
    catalog = shop[1]
    texts = _embedded_texts(catalog)
    rows = bundle.items.indices(catalog["item_id"].to_list())
    np.testing.assert_allclose(bundle.text_vectors[rows], encoder.encode(texts), atol=1e-5)


def test_a_second_run_embeds_nothing_again(spark_home: tuple) -> None:
    home, _ = spark_home
    again = train(home, SMALL, engine=SparkEngine(LOCAL), publish_bundle=False)
    assert again.n_embedded == 0 and again.n_cached == 10


def test_served_answers_come_from_the_spark_bundle(spark_home: tuple) -> None:
    home, _ = spark_home
    service = RecommendationService(home)
    try:
        answer = service.recommend_user("run1", n=3, reasons=False)
        assert answer.ranking == "precomputed"
        assert answer.recommendations.items[0].item_id == "r1"  # the running item run1 lacks
        live = service.recommend_user("brand-new-shopper", n=3)
        assert live.strategy == "popular" and len(live.recommendations.items) == 3
    finally:
        service.close()


def test_cli_trains_on_a_shops_own_parquet(
    spark: SparkSession, tmp_path: Path, shop: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    events, catalog = shop
    events.drop("session_id").write_parquet(tmp_path / "events.parquet")
    catalog.write_parquet(tmp_path / "catalog.parquet")
    home = Home(tmp_path / "home").ensure()
    main(
        [
            "--home", str(home.root), "train", "--engine", "spark", "--master", "local[2]",
            "--events", str(tmp_path / "events.parquet"),
            "--catalog", str(tmp_path / "catalog.parquet"),
        ]
    )  # fmt: skip
    bundle = load_bundle(home.artifacts)
    assert bundle.manifest["engine"]["input"] == "parquet"
    assert len(bundle.items) == catalog.height and len(bundle.users) == 8
    assert bundle.manifest["data_window"]["events"] == events.height


def test_a_shops_parquet_cannot_bring_an_erased_shopper_back(
    spark: SparkSession, tmp_path: Path, shop: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    import time

    events, catalog = shop
    home = Home(tmp_path / "home").ensure()
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog)
        # erased an hour ago (before training: not scrubbed as "erased meanwhile"), after those
        # events: the file still holds them
        store.delete_user("run1", now=time.time() - 3600)
    later = pl.DataFrame(  # and one event after the erasure: a new visit, which counts
        {"user_id": ["run1"], "item_id": ["k2"], "type": ["view"], "ts": [time.time() - 1800]}
    )
    pl.concat([events.drop("session_id"), later]).write_parquet(tmp_path / "events.parquet")
    engine = SparkEngine(LOCAL, events_path=str(tmp_path / "events.parquet"))
    report = train(home, SMALL, engine=engine)
    bundle = load_bundle(home.artifacts)
    row = bundle.users.index("run1")
    owned = bundle.user_items.indices[
        bundle.user_items.indptr[row] : bundle.user_items.indptr[row + 1]
    ]
    assert bundle.items.ids(owned.tolist()) == ["k2"]  # only what came after the erasure
    gone = events.filter(pl.col("user_id") == "run1").height
    assert bundle.manifest["engine"]["erased_rows"] == gone == 3
    assert report.n_events == events.height - gone + 1
    assert bundle.precomputed is not None and bundle.precomputed.watermark == -1


def test_a_chinese_catalog_is_embedded_on_executors_with_the_multilingual_model(
    spark: SparkSession, tmp_path: Path, multilingual: TextEncoder
) -> None:
    """``auto`` is decided on the driver, so the executors load the model the bundle records."""
    from recsys.datasets.zh_shop import zh_shop
    from recsys.text import MULTILINGUAL

    events, catalog = zh_shop(seed=7, n_users=80)
    home = Home(tmp_path / "home").ensure()
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog)
        store.add_events(events)
    report = train(home, SMALL, engine=SparkEngine(LOCAL))
    bundle = load_bundle(home.artifacts)
    assert report.n_embedded == catalog.height == 360
    assert bundle.config.text.model == MULTILINGUAL
    assert bundle.manifest["catalog_language"] == "zh"
    assert bundle.manifest["text_model"]["requested"] == "auto"
    texts = _embedded_texts(catalog)
    rows = bundle.items.indices(catalog["item_id"].to_list())
    assert bundle.text_vectors is not None and bundle.text_vectors.shape[1] == 512
    np.testing.assert_allclose(bundle.text_vectors[rows], multilingual.encode(texts), atol=1e-5)
