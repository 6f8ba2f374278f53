"""``recsys nightly --engine spark``: the judged candidate and the published bundle both Spark's."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import polars as pl
from spark_events import random_events

from jobs.nightly import NightlyConfig, run_nightly
from recsys.bundle import load_bundle
from recsys.config import TrainConfig
from recsys.home import Home
from recsys.spark.engine import SparkEngine
from recsys.spark.session import SparkSettings
from recsys.store import SQLiteStore

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def test_nightly_trains_and_judges_on_spark(
    spark: SparkSession, home: Home, shop: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(shop[1])
        store.add_events(random_events(n_users=120, n_items=10, per_user=14))
    config = NightlyConfig(
        train=TrainConfig.from_dict({"behavior": {"factors": 8, "iterations": 10}}),
        min_events=100,
        min_eval_users=5,
        pitch_users=0,
    )
    engine = SparkEngine(SparkSettings(master="local[2]"))
    result = run_nightly(home, config, engine=engine, pitches=False)
    assert result.decision == "published", result.reason
    bundle = load_bundle(home.artifacts)
    assert bundle.manifest["engine"]["name"] == "spark"
    assert bundle.precomputed is not None and bundle.precomputed.n_lists > 0
    report = json.loads((home.root / "reports" / "latest.json").read_text(encoding="utf-8"))
    built = report["build_timings_s"]
    assert "export" in built["candidate_eval"]  # the judged candidate was trained by Spark too
