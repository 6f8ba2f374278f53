"""Fixtures for the pitch tests: a tiny shop in a store (FakeModel lives in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest

from recsys.home import Home
from recsys.store import Store


@pytest.fixture
def shop_store(store: Store, shop: tuple[pl.DataFrame, pl.DataFrame]) -> Iterator[Store]:
    """The conftest tiny shop loaded into the temp store."""
    events, items = shop
    store.upsert_items(items)
    store.add_events(events)
    yield store


@pytest.fixture
def shop_home(home: Home, shop_store: Store) -> Home:
    return home
