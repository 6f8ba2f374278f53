"""Fixtures for the pitch tests: a scripted fake language model and a tiny shop in a store."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import polars as pl
import pytest

from recsys.errors import PitchModelError
from recsys.home import Home
from recsys.store import Store


class FakeModel:
    """A scripted model: returns ``replies`` (or ``reply_fn(messages)``), records every call."""

    def __init__(
        self,
        replies: list[str] | None = None,
        reply_fn: Callable[[list[dict[str, str]]], list[str]] | None = None,
        fail: bool = False,
        delay_s: float = 0.0,
        name: str = "fake-model",
    ) -> None:
        self.replies = replies or []
        self.reply_fn = reply_fn
        self.fail = fail
        self.delay_s = delay_s
        self.name = name
        self.calls: list[dict[str, object]] = []
        self.release = threading.Event()
        self.release.set()

    def generate(
        self,
        messages: list[dict[str, str]],
        n: int,
        max_new_tokens: int,
        temperature: float,
        seed: int,
    ) -> list[str]:
        self.calls.append({"messages": messages, "n": n, "seed": seed})
        self.release.wait(5)
        if self.delay_s:
            threading.Event().wait(self.delay_s)
        if self.fail:
            raise PitchModelError("fake model is down")
        if self.reply_fn is not None:
            return self.reply_fn(messages)
        return list(self.replies[:n])


@pytest.fixture
def fake_model() -> type[FakeModel]:
    return FakeModel


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
