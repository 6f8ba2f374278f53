"""A bundle trained on a real standalone cluster (a master and two workers on 127.0.0.1) is
served by ``recsys serve`` like any other."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import polars as pl
import pytest
from spark_events import random_events

from api.testing import ServerProcess, free_port
from recsys.bundle import load_bundle
from recsys.config import TrainConfig
from recsys.home import Home
from recsys.spark.cluster import LocalCluster
from recsys.spark.engine import SparkEngine
from recsys.spark.session import SparkSettings
from recsys.store import SQLiteStore
from recsys.training import train

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyspark.sql import SparkSession

SMALL = TrainConfig.from_dict({"behavior": {"factors": 8, "iterations": 10}})


def _executors(session: SparkSession) -> int:
    """Block managers the driver knows: its own and one per registered executor."""
    return int(session.sparkContext._jsc.sc().getExecutorMemoryStatus().size())  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def cluster_home(
    cluster: LocalCluster,
    spark_on: Callable[..., SparkSession],
    tmp_path_factory: pytest.TempPathFactory,
    shop: tuple[pl.DataFrame, pl.DataFrame],
) -> Home:
    events, catalog = shop
    home = Home(tmp_path_factory.mktemp("cluster") / "home").ensure()
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog)
        store.add_events(events)
        store.add_events(random_events(n_users=20, n_items=5, per_user=6))
    session = spark_on(cluster.url)
    deadline = time.monotonic() + 60  # executors register a moment after the session starts
    while _executors(session) < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _executors(session) == 3  # the driver and the two workers' executors
    settings = SparkSettings(master=cluster.url, conf={"spark.sql.shuffle.partitions": "4"})
    train(home, SMALL, engine=SparkEngine(settings, stage=home.root / "stage"))
    return home


def test_bundle_names_the_cluster(cluster_home: Home, cluster: LocalCluster) -> None:
    bundle = load_bundle(cluster_home.artifacts)
    assert bundle.manifest["engine"]["name"] == "spark"
    assert bundle.manifest["engine"]["master"] == cluster.url
    assert bundle.precomputed is not None and bundle.precomputed.n_lists > 0


def test_recsys_serve_answers_from_the_cluster_bundle(cluster_home: Home, tmp_path) -> None:
    with ServerProcess(cluster_home.root, free_port(), tmp_path / "serve.log", workers=1) as server:
        server.wait_ready()
        status, body = server.request("GET", "/v1/users/run1/recommendations?n=3")
        assert status == 200 and body["items"][0]["item_id"] == "r1"
        assert body["model_version"] == load_bundle(cluster_home.artifacts).version
        status, body = server.request("GET", "/v1/items/k1/similar?n=3")
        assert status == 200 and {i["item_id"] for i in body["items"]} <= {
            "k2", "k3", "k4", "k5", "r1", "r2", "r3", "r4", "r5"
        }  # fmt: skip
        status, body = server.request("POST", "/v1/recommendations", {"recent_item_ids": ["r2"]})
        assert status == 200 and len(body["items"]) > 0
