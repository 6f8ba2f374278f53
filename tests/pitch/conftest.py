"""Fixtures for the pitch tests: a tiny shop in a store (FakeModel lives in tests/conftest.py) and
an OpenAI-compatible server on 127.0.0.1 (``openai_server.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest
from openai_server import FakeServer, serve

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


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A real chat-completions server on 127.0.0.1 with canned answers (see openai_server.py)."""
    with serve() as fake:
        yield fake
