"""What only the PostgreSQL store does: migrations, one writer at a time, outages, its URL.

The shared semantics are in ``test_contract.py``; these tests need a real server (the
``postgres`` marker, ``make test-postgres``). The outage tests start a server of their own, so
stopping it disturbs no other test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from pg_server import PostgresServer

from recsys.cli import main
from recsys.errors import ConfigError, StoreBusyError, StoreSchemaError, StoreUnavailableError
from recsys.home import Home
from recsys.store import SCHEMA_VERSION, open_store, store_kind
from recsys.store.sqlite import EVENT_SCHEMA
from recsys.text import TextEncoder
from recsys.types import Exposure

pytestmark = pytest.mark.postgres


def _events(rows: list[tuple[str, str, str, float, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row")


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of this test alone (it may be stopped and started again)."""
    with PostgresServer() as server:  # entering starts it
        yield server


def test_a_store_without_tables_names_the_command_that_creates_them(postgres_url: str) -> None:
    from recsys.store.postgres import PostgresStore

    with pytest.raises(StoreSchemaError, match="recsys db migrate"):
        PostgresStore(postgres_url)


def test_migrate_creates_once_and_is_safe_from_several_hosts_at_once(postgres_url: str) -> None:
    from recsys.store.postgres import PostgresStore, migrate

    results: list[tuple[int, int]] = []
    threads = [
        threading.Thread(target=lambda: results.append(migrate(postgres_url))) for _ in "abc"
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    current = (SCHEMA_VERSION, SCHEMA_VERSION)
    assert sorted(results) == [(0, SCHEMA_VERSION), current, current]  # one host created them
    assert migrate(postgres_url) == (SCHEMA_VERSION, SCHEMA_VERSION)
    with PostgresStore(postgres_url) as store:
        assert store.schema_version() == SCHEMA_VERSION


def test_a_version_1_store_is_migrated_keeping_its_events(postgres_url: str) -> None:
    import psycopg

    from recsys.store.postgres import MIGRATIONS, PostgresStore, migrate

    with psycopg.connect(postgres_url, autocommit=True) as conn:  # a store as release 1 made it
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute(MIGRATIONS[0])
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        conn.execute(
            "INSERT INTO events (user_id, item_id, type, ts) VALUES ('u', 'i', 'view', 1e9)"
        )
    with pytest.raises(StoreSchemaError, match="recsys db migrate"):
        PostgresStore(postgres_url)
    assert migrate(postgres_url) == (1, SCHEMA_VERSION)
    with PostgresStore(postgres_url) as store:
        assert store.count_events() == 1
        assert store.experiment_specs() == {}


def test_a_version_2_store_gets_exposures_indexed_in_time_order(postgres_url: str) -> None:
    import psycopg

    from recsys.store.postgres import MIGRATIONS, PostgresStore, migrate

    with psycopg.connect(postgres_url, autocommit=True) as conn:  # a store as release 2 made it
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute(MIGRATIONS[0])
        conn.execute(MIGRATIONS[1])
        conn.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    assert _exposure_indexes(postgres_url) == {"exposures_experiment"}
    with pytest.raises(StoreSchemaError, match="recsys db migrate"):
        PostgresStore(postgres_url)
    assert migrate(postgres_url) == (2, 3)
    assert _exposure_indexes(postgres_url) == {"exposures_time"}
    with PostgresStore(postgres_url) as store:
        store.put_experiment("e", "{}")
        store.add_exposures([Exposure("r1", "e", "a", "u1", 5.0, ("i1",))])
        assert store.experiment_log("e", 0.0).exposures["user_id"].to_list() == ["u1"]
        store.delete_user("u1")
        assert store.experiment_log("e", 0.0).exposures.height == 0


def _exposure_indexes(url: str) -> set[str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'exposures'"
        ).fetchall()
    return {r[0] for r in rows}


def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    import psycopg

    from recsys.store.postgres import PostgresStore, migrate

    migrate(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreSchemaError, match="upgrade recsys"):
        PostgresStore(postgres_url)
    with pytest.raises(StoreSchemaError, match="newer"):
        migrate(postgres_url)


def test_writers_wait_for_each_other_so_positions_commit_in_order(postgres_url: str) -> None:
    # a write transaction holds the write lock until it commits: a second writer cannot take a
    # later position and commit before it (deterministic version of the contract's race test)
    from recsys.store.postgres import PostgresStore, migrate

    migrate(postgres_url)
    first, second = PostgresStore(postgres_url), PostgresStore(postgres_url, write_timeout_s=0.3)
    inside, release = threading.Event(), threading.Event()

    def slow_write() -> None:
        with first._transaction() as conn:
            conn.execute(
                "INSERT INTO events (user_id, item_id, type, ts) VALUES ('a', 'i', 'view', 1)"
            )
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=slow_write)
    thread.start()
    try:
        assert inside.wait(10)
        with pytest.raises(StoreBusyError):
            second.add_events(_events([("b", "i", "view", 2.0, "")]), atomic=True)
        assert second.last_seq() == 0  # the first writer's position is not visible yet
    finally:
        release.set()
        thread.join()
    assert second.add_events(_events([("b", "i", "view", 2.0, "")]), atomic=True) == 1
    assert second.events_frame()["user_id"].to_list() == ["a", "b"]
    first.close()
    second.close()


def test_an_unreachable_server_fails_fast_and_nothing_acknowledged_is_lost(
    own_server: PostgresServer,
) -> None:
    from recsys.store.postgres import PostgresStore, migrate

    url = own_server.new_schema_url()
    migrate(url)
    store = PostgresStore(url)
    acknowledged = [("u1", f"i{k}", "view", float(k), "") for k in range(5)]
    assert store.add_events(_events(acknowledged)) == 5
    own_server.stop("immediate")  # a crash: only what was committed counts
    try:
        started = time.monotonic()
        for _ in range(20):
            with pytest.raises(StoreUnavailableError) as info:
                store.user_state("u1")
            assert info.value.retry_after_s > 0
        with pytest.raises(StoreUnavailableError):
            store.add_events(_events([("u1", "lost", "view", 99.0, "")]), atomic=True)
        assert time.monotonic() - started < 10.0  # not a connect timeout per call
    finally:
        own_server.start_again()
    deadline = time.monotonic() + 30
    while True:
        try:
            assert store.count_events() == 5  # every acknowledged event, the refused one not
            break
        except StoreUnavailableError:
            assert time.monotonic() < deadline, "the store did not come back"
            time.sleep(0.2)
    assert store.add_events(_events([*acknowledged, ("u1", "after", "view", 9.0, "")])) == 1
    store.close()


def test_a_store_opened_while_the_server_is_down_works_once_it_is_up(
    own_server: PostgresServer,
) -> None:
    from recsys.store.postgres import PostgresStore, migrate

    url = own_server.new_schema_url()
    migrate(url)
    own_server.stop("fast")
    try:
        store = PostgresStore(url)  # an API worker starting during an outage: no error yet
        with pytest.raises(StoreUnavailableError):
            store.user_key("u1")  # the tombstone secret lives in the database
    finally:
        own_server.start_again()
    deadline = time.monotonic() + 30
    while True:
        try:
            assert store.add_events(_events([("u1", "i1", "view", 1.0, "")])) == 1
            break
        except StoreUnavailableError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    store.close()


def test_the_url_is_shown_without_its_password() -> None:
    from recsys.store.postgres import redact_url

    assert redact_url("postgresql://shop:s3cret@db:5432/x") == "postgresql://shop:***@db:5432/x"
    assert redact_url("postgresql://shop@db/x") == "postgresql://shop@db/x"
    several = "postgresql://shop:pw@h1:5432,h2:5433/x?password=pw2&sslmode=require"
    assert (
        redact_url(several)
        == "postgresql://shop:***@h1:5432,h2:5433/x?password=***&sslmode=require"
    )


def test_the_home_names_the_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECSYS_STORE", raising=False)
    assert store_kind(Home.resolve(tmp_path)) == "sqlite"
    monkeypatch.setenv("RECSYS_STORE", "postgresql://shop@127.0.0.1/x")
    assert store_kind(Home.resolve(tmp_path)) == "postgresql"
    assert Home.resolve(tmp_path).environ()["RECSYS_STORE"] == "postgresql://shop@127.0.0.1/x"
    with pytest.raises(ConfigError, match="mysql://"):
        store_kind(Home.resolve(tmp_path, store="mysql://u:pw@h/x"))
    with pytest.raises(ConfigError) as info:
        store_kind(Home.resolve(tmp_path, store="mysql://u:pw@h/x"))
    assert "pw" not in str(info.value)


def test_import_train_and_recommend_from_a_postgres_store(
    postgres_url: str,
    tmp_path: Path,
    shop: tuple[pl.DataFrame, pl.DataFrame],
    encoder: TextEncoder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the CLI end to end on one shared store: migrate, import both files, train, recommend
    monkeypatch.setattr("recsys.training.TextEncoder", lambda config=None: encoder)
    events, catalog = shop
    events.write_csv(tmp_path / "events.csv")
    catalog.write_csv(tmp_path / "catalog.csv")
    (tmp_path / "small.toml").write_text("[behavior]\nfactors = 8\niterations = 10\n")
    base = ["--home", str(tmp_path / "home"), "--store", postgres_url]
    main([*base, "db", "migrate"])
    assert f"schema version {SCHEMA_VERSION} (created)" in capsys.readouterr().out
    main([*base, "import-catalog", str(tmp_path / "catalog.csv")])
    main([*base, "import-events", str(tmp_path / "events.csv")])
    main([*base, "train", "--config", str(tmp_path / "small.toml")])
    capsys.readouterr()
    main([*base, "db", "status"])
    status = capsys.readouterr().out
    assert f"(postgresql): schema version {SCHEMA_VERSION}, {events.height} events" in status
    main([*base, "recommend", "run1", "-n", "1"])
    assert "r1" in capsys.readouterr().out  # the one running item run1 lacks
    assert not (tmp_path / "home" / "recsys.sqlite3").exists()  # nothing went to SQLite
    home = Home.resolve(tmp_path / "home", store=postgres_url)
    with open_store(home) as store:
        assert store.count_events() == events.height
        assert store.count_items() == catalog.height


def test_the_first_migration_is_the_text_it_was_released_with() -> None:
    # a released migration never changes (a database migrated by it keeps what it made); a new
    # event type needs a new migration that alters the CHECK, and SCHEMA_VERSION + 1
    from recsys.store.postgres import MIGRATIONS

    assert "CHECK (type IN ('view', 'click', 'add_to_cart', 'purchase'))" in MIGRATIONS[0]
    assert MIGRATIONS[0].count("CREATE TABLE") == 5 and MIGRATIONS[0].count("CREATE INDEX") == 4
    # version 2: the experiment tables only
    assert MIGRATIONS[1].count("CREATE TABLE") == 3 and "ALTER" not in MIGRATIONS[1]


def test_pooled_connections_killed_by_a_restart_cost_no_back_off(
    own_server: PostgresServer,
) -> None:
    # a restart kills every pooled connection; the first read finds its connection dead, drops
    # the pool's idle ones and reads again on a new one: no error, no 1 s of refusals
    from recsys.store.postgres import PostgresStore, migrate

    url = own_server.new_schema_url()
    migrate(url)
    store = PostgresStore(url)
    store.add_events(_events([("u1", "i1", "view", 1.0, "")]))
    threads = [threading.Thread(target=store.count_events) for _ in range(4)]
    for t in threads:  # several idle connections in the pool
        t.start()
    for t in threads:
        t.join()
    own_server.stop("fast")
    own_server.start_again()
    assert store.count_events() == 1  # read at once, on a fresh connection
    assert store.add_events(_events([("u1", "i2", "view", 2.0, "")]), atomic=True) == 1
    store.close()
