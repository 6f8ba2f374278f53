"""Shared fixtures: temporary data homes, tiny catalogs with known answers, the real text model."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import polars as pl
import pytest
from pg_server import PostgresServer

from recsys.config import TextConfig, TrainConfig
from recsys.errors import PitchModelError
from recsys.home import Home
from recsys.store import SQLiteStore, Store
from recsys.text import TextEncoder
from recsys.training import TrainReport, train


@pytest.fixture(scope="session")
def encoder() -> TextEncoder:
    """The real packaged all-MiniLM-L6-v2 encoder, loaded once per test session."""
    enc = TextEncoder(TextConfig(model="minilm"))
    enc.encode(["warm up"])
    return enc


@pytest.fixture(scope="session")
def multilingual() -> TextEncoder:
    """The real packaged multilingual encoder (USE-m3, numpy), loaded once per test session."""
    enc = TextEncoder(TextConfig(model="multilingual"))
    enc.encode(["warm up"])
    return enc


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """A fresh, empty data home."""
    return Home(tmp_path / "home").ensure()


@pytest.fixture
def store(home: Home) -> Iterator[Store]:
    """A real SQLite store in the temporary home."""
    s = SQLiteStore(home.db_path)
    yield s
    s.close()


@pytest.fixture
def publish_shop(
    home: Home, store: Store, shop: tuple[pl.DataFrame, pl.DataFrame], encoder: TextEncoder
) -> Callable[[], TrainReport]:
    """Store the shop's catalog and events in ``store``, then train and publish a small bundle.

    Returns the call that does it (a test may first change the store or the home).
    """

    def publish() -> TrainReport:
        events, catalog = shop
        store.upsert_items(catalog)
        store.add_events(events)
        config = TrainConfig.from_dict({"behavior": {"factors": 8, "iterations": 10}})
        return train(home, config, store=store, encoder=encoder)

    return publish


def _item(item_id: str, title: str, category: str, in_stock: bool = True) -> dict[str, object]:
    return {
        "item_id": item_id,
        "title": title,
        "description": f"{title}. A {category.lower()} product.",
        "category": category,
        "price": 10.0,
        "currency": "EUR",
        "in_stock": in_stock,
        "attributes": "{}",
        "updated_at": 0.0,
    }


@pytest.fixture(scope="session")
def shop() -> tuple[pl.DataFrame, pl.DataFrame]:
    """A tiny shop with two clear taste groups and a known right answer (``events, catalog``).

    Built once per session and shared, also by module-scoped fixtures: polars frames are
    immutable, so no test can change what the next one sees.

    Catalog: running gear r1..r4 (category Running) and kitchen items k1..k4 (Kitchen), plus
    ``r5`` "Trail running shoes" with NO events (new item, reachable only by text) and ``k5``
    out of stock. Users ``run1..run4`` each bought three of r1..r4 (each misses a different one);
    ``cook1..cook4`` likewise for k1..k4. So run1 should get r1 (the one running item it lacks).
    """
    items = [
        _item("r1", "Running shoes", "Running"),
        _item("r2", "Running socks", "Running"),
        _item("r3", "Running shorts", "Running"),
        _item("r4", "Running jacket", "Running"),
        _item("r5", "Trail running shoes", "Running"),
        _item("k1", "Chef knife", "Kitchen"),
        _item("k2", "Cutting board", "Kitchen"),
        _item("k3", "Frying pan", "Kitchen"),
        _item("k4", "Sauce pot", "Kitchen"),
        _item("k5", "Kitchen scale", "Kitchen", in_stock=False),
    ]
    rows = []
    ts = 1_700_000_000.0
    for group, prefix in (("run", "r"), ("cook", "k")):
        for u in range(1, 5):
            for i in range(1, 5):
                if i == u:
                    continue
                ts += 60.0
                rows.append((f"{group}{u}", f"{prefix}{i}", "purchase", ts, ""))
    # k5 (out of stock) is viewed by every cook, so it is popular: it must still never be served
    for u in range(1, 5):
        ts += 60.0
        rows.append((f"cook{u}", "k5", "view", ts, ""))
    events = pl.DataFrame(
        rows,
        schema={
            "user_id": pl.String,
            "item_id": pl.String,
            "type": pl.String,
            "ts": pl.Float64,
            "session_id": pl.String,
        },
        orient="row",
    )
    return events, pl.DataFrame(items, schema_overrides={"price": pl.Float64})


@pytest.fixture(scope="session")
def bench_script() -> Callable[[str], ModuleType]:
    """Import a script of ``benchmarks/`` by its path: ``bench_script("recall")``.

    The scripts are not a package (they run as ``python benchmarks/<name>.py``), so tests load
    them by file name instead of putting ``benchmarks/`` on ``sys.path``. Each script is loaded
    once per session, as ``benchmarks_<name>`` in ``sys.modules``.
    """
    folder = Path(__file__).resolve().parents[1] / "benchmarks"

    def load(name: str) -> ModuleType:
        module_name = f"benchmarks_{name}"
        if module_name in sys.modules:
            return sys.modules[module_name]
        spec = importlib.util.spec_from_file_location(module_name, folder / f"{name}.py")
        if spec is None or spec.loader is None:
            raise FileNotFoundError(folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses look their module up while it runs
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
        return module

    return load


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator."""
    return np.random.default_rng(1234)


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


# -- PostgreSQL ----------------------------------------------------------------------------------
# A throw-away server (tests/pg_server.py) for the run, one fresh database per test. Tests that
# use it are marked `postgres` (`make test` leaves them out, `make test-postgres` runs them); they
# skip, with the reason, when the server binaries or psycopg are missing, and fail then when
# RECSYS_REQUIRE_POSTGRES=1 (CI), so a missing package cannot turn that tier green by skipping.

POSTGRES_FIXTURES = frozenset({"postgres_server", "postgres_url"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a PostgreSQL fixture ``postgres`` (before ``-m`` selects)."""
    for item in items:
        if not POSTGRES_FIXTURES.isdisjoint(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


def postgres_missing() -> str | None:
    """Why no PostgreSQL server can run here (``None``: it can)."""
    try:
        importlib.import_module("psycopg")
    except ImportError as e:
        return (
            f"psycopg is not importable ({e}): pip install -e '.[postgres]' (or make test-postgres)"
        )
    if not PostgresServer.available():
        return (
            "no PostgreSQL server: initdb and pg_ctl not found in /usr/lib/postgresql/*/bin "
            "(or, as root, no 'postgres' OS user or runuser): apt-get install postgresql "
            "(or make test-postgres)"
        )
    return None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A started PostgreSQL server on 127.0.0.1 for the run (user ``shop``, trust auth).

    Stopped, and its folder removed, at the end of the run. A test that stops it must start it
    again (``start_again``) before it ends: the other tests share it.
    """
    reason = postgres_missing()
    if reason is not None:
        if os.environ.get("RECSYS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"RECSYS_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database of the run's server: ``postgresql://shop@127.0.0.1:PORT/t_N``.

    Each test gets its own (``CREATE DATABASE``, about 40 ms), so no test sees another's tables.
    """
    return postgres_server.new_schema_url()
