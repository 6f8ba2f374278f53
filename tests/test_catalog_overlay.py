"""Tests for recsys.catalog_overlay: what the catalog overlay logs."""

from __future__ import annotations

import logging

import polars as pl
import pytest

from recsys.bundle import load_bundle
from recsys.catalog_overlay import CatalogOverlay
from recsys.config import TrainConfig
from recsys.home import Home
from recsys.store import Store
from recsys.text import TextEncoder
from recsys.training import train

SMALL = {"behavior": {"factors": 8, "iterations": 10}}


def _overlay_records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "recsys.catalog_overlay"
        and r.levelno == level
        and "catalog overlay" in r.getMessage()
    ]


def test_an_empty_overlay_logs_at_debug_and_a_real_one_at_info(
    home: Home,
    store: Store,
    shop: tuple[pl.DataFrame, pl.DataFrame],
    encoder: TextEncoder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    events, catalog = shop
    # the catalog is imported right before training, as `make demo` does: those upserts fall in
    # the re-apply margin, so the overlay looks at them but finds nothing that differs
    store.upsert_items(catalog)
    store.add_events(events)
    train(home, TrainConfig.from_dict(SMALL), store=store, encoder=encoder)
    live = CatalogOverlay(store, home.embedding_cache_path, encoder)
    try:
        with caplog.at_level(logging.DEBUG, logger="recsys.catalog_overlay"):
            base = load_bundle(home.artifacts)
            assert live.start(base) is base
            assert live.changed_ids()  # the overlay did run ...
            assert not _overlay_records(caplog, logging.INFO)  # ... but says nothing at INFO
            assert "{}" in _overlay_records(caplog, logging.DEBUG)[0].getMessage()

            caplog.clear()
            new = catalog.head(1).with_columns(
                pl.lit("n1").alias("item_id"), pl.lit("Trail running vest").alias("title")
            )
            store.upsert_items(new)
            served = live.refresh()
            assert served is not None and served is not base
            (record,) = _overlay_records(caplog, logging.INFO)
            assert "'appended_items': 1" in record.getMessage()
    finally:
        live.close()
