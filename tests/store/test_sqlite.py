"""The SQLite store against a real database file: WAL, dedup, ordering, upserts, visibility."""

from __future__ import annotations

import inspect
import random
import sqlite3
from pathlib import Path

import polars as pl
import pytest

from recsys import types
from recsys.home import Home
from recsys.store import SCHEMA_VERSION, SQLiteStore, Store
from recsys.store import sqlite as sqlite_module
from recsys.types import EVENT_TYPES, Exposure


def test_database_is_in_wal_mode(store: Store, home: Home) -> None:
    conn = sqlite3.connect(home.db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


# the schema as it was written out by hand before the event types were derived from
# recsys.types.EVENT_TYPES: existing databases were created from exactly this text
SCHEMA_AS_WRITTEN = """
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    type       TEXT NOT NULL CHECK (type IN ('view', 'click', 'add_to_cart', 'purchase')),
    ts         REAL NOT NULL,
    session_id TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS events_natural_key
    ON events (user_id, item_id, type, ts, session_id);
CREATE INDEX IF NOT EXISTS events_user_ts ON events (user_id, ts);
CREATE TABLE IF NOT EXISTS items (
    item_id     TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    category    TEXT NOT NULL DEFAULT '',
    price       REAL,
    currency    TEXT NOT NULL DEFAULT '',
    in_stock    INTEGER NOT NULL DEFAULT 1,
    attributes  TEXT NOT NULL DEFAULT '{}',
    updated_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS event_ids (
    user_id  TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (user_id, event_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS erasures (
    user_key  TEXT PRIMARY KEY,  -- HMAC-SHA256 of the user id (Store.user_key), never the id
    erased_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS item_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id    TEXT NOT NULL,
    changed_at REAL NOT NULL
);
"""


def test_the_tables_of_version_1_are_the_text_they_always_were(store: Store, home: Home) -> None:
    # versions 2 and 3 appended the experiment tables and an index; the events' two indexes
    # became one (events_user_key). Version 1's tables are unchanged, word for word
    tables = [s.strip() for s in SCHEMA_AS_WRITTEN.split(";") if "CREATE TABLE" in s]
    assert len(tables) == 6
    for table in tables:
        assert table in sqlite_module.SCHEMA
    assert sqlite_module.SCHEMA.count("CREATE TABLE") == len(tables) + 3
    conn = sqlite3.connect(home.db_path)
    try:
        created = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()[0]
    finally:
        conn.close()
    assert created in SCHEMA_AS_WRITTEN.replace("IF NOT EXISTS ", "")
    values = ", ".join(f"'{t}'" for t in EVENT_TYPES)
    assert f"CHECK (type IN ({values}))" in created  # derived from the one closed set


def _events(rows: list[tuple[str, str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema=["user_id", "item_id", "type", "ts"], orient="row"
    ).with_columns(pl.lit("").alias("session_id"))


def test_a_store_with_the_two_old_event_indexes_is_reindexed_once(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(SCHEMA_AS_WRITTEN)  # a store as version 1 created it
    conn.executemany(
        "INSERT INTO events (user_id, item_id, type, ts) VALUES (?, ?, ?, ?)",
        [("u1", "i1", "view", 1.0), ("u1", "i2", "view", 2.0), ("u1", "i1", "view", 2.0)],
    )
    conn.close()
    assert _indexes(path, "events") == {"events_natural_key", "events_user_ts"}
    with SQLiteStore(path) as store:
        assert _indexes(path, "events") == {"events_user_key"}
        # newest first; a tie in time goes to the later stored
        assert [(e.item_id, e.ts) for e in store.user_events("u1")] == [
            ("i1", 2.0),
            ("i2", 2.0),
            ("i1", 1.0),
        ]
        assert sorted(store.user_item_types("u1")) == [("i1", "view"), ("i2", "view")]
        # the natural key is still stored once
        assert store.add_events(_events([("u1", "i1", "view", 1.0)])) == 0
        assert store.add_events(_events([("u1", "i1", "view", 3.0)])) == 1
    # an older recsys opening the store makes its indexes again: the next open drops them
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(SCHEMA_AS_WRITTEN)
    conn.close()
    assert _indexes(path, "events") == {"events_natural_key", "events_user_ts", "events_user_key"}
    SQLiteStore(path).close()
    assert _indexes(path, "events") == {"events_user_key"}


def test_a_shoppers_newest_events_are_read_from_the_index_alone(store: Store, home: Home) -> None:
    # the live path's history read: the index holds every column it needs, so no event row is
    # read from the table (with the old events_user_ts, one table lookup per event)
    conn = sqlite3.connect(home.db_path)
    try:
        sql = inspect.getsource(type(store).user_events)
        assert "ORDER BY ts DESC, seq DESC LIMIT ?" in sql
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT item_id, type, ts FROM events WHERE user_id = ? "
            "ORDER BY ts DESC, seq DESC LIMIT ?",
            ("u1", 40),
        ).fetchall()
    finally:
        conn.close()
    assert "COVERING INDEX events_user_key" in " ".join(str(r[-1]) for r in plan)


def test_a_version_2_store_gets_exposures_indexed_in_time_order(tmp_path: Path) -> None:
    # version 2 indexed exposures by (experiment, user_id): a random-page insert per answer
    path = tmp_path / "old.sqlite3"
    with SQLiteStore(path) as store:
        store.put_experiment("e", "{}")
        store.add_exposures([Exposure("r1", "e", "a", "u1", 5.0, ("i1",))])
    conn = sqlite3.connect(path, isolation_level=None)  # as release 2 left it
    conn.execute("DROP INDEX exposures_time")
    conn.execute("CREATE INDEX exposures_experiment ON exposures (experiment, user_id)")
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.close()
    with SQLiteStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 3
        assert _indexes(path, "exposures") == {"exposures_time"}
        assert store.experiment_log("e", 0.0).exposures["user_id"].to_list() == ["u1"]
        store.delete_user("u1")
        assert store.experiment_log("e", 0.0).exposures.height == 0
    # an older recsys opening the store makes its index again: the next open drops it
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE INDEX exposures_experiment ON exposures (experiment, user_id)")
    conn.close()
    SQLiteStore(path).close()
    assert _indexes(path, "exposures") == {"exposures_time"}


def test_exposures_are_written_in_a_few_multi_row_statements(tmp_path: Path) -> None:
    # each SQLite call releases the GIL: a statement per answer would wait for it again after
    # every row while the server's request threads run (a thread switch per answer)
    answers = [
        Exposure(f"r{i}", "e", "a", f"u{i % 50}", 5.0 + i, ("i1", "i2")) for i in range(1200)
    ]
    statements: list[str] = []
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        store.put_experiment("e", "{}")
        store._conn.set_trace_callback(statements.append)
        assert store.add_exposures(answers) == 1200
        store._conn.set_trace_callback(None)
        log = store.experiment_log("e", 0.0)
    inserts = [s for s in statements if s.startswith("INSERT INTO exposures")]
    assert len(inserts) == 3  # 500 + 500 + 200 answers
    assert log.exposures["recommendation_id"].to_list() == [e.recommendation_id for e in answers]
    assert log.impressions.height == 2400


def _indexes(path: Path, table: str) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,)
        ).fetchall()
    finally:
        conn.close()
    return {r[0] for r in rows}


def test_store_names_stay_importable_from_the_sqlite_module() -> None:
    for name in (
        "SQLiteStore",
        "UserEvent",
        "UserHistory",
        "SCHEMA",
        "EVENT_COLUMNS",
        "CATALOG_COLUMNS",
        "ITEM_COLUMNS",
        "EVENT_SCHEMA",
        "ITEM_SCHEMA",
        "CHUNK_ROWS",
        "YIELD_S",
        "WRITE_TIMEOUT_S",
    ):
        assert hasattr(sqlite_module, name), name
    assert sqlite_module.SQLiteStore is SQLiteStore
    assert sqlite_module.UserEvent is types.UserEvent
    assert sqlite_module.UserHistory is types.UserHistory


def test_each_part_of_the_store_is_a_small_class() -> None:
    parts = [c for c in SQLiteStore.__mro__ if c.__module__.startswith("recsys.store.")]
    assert len(parts) >= 6  # Store, four concerns, the core, the shared base
    for part in parts:
        lines, _ = inspect.getsourcelines(part)
        assert len(lines) <= 250, (part.__qualname__, len(lines))


@pytest.mark.parametrize("tail_rows", [0, 3, 10**9])
def test_reads_by_position_give_the_same_rows_on_either_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tail_rows: int
) -> None:
    """The newest rows' scan and the user's index scan (``TAIL_ROWS``) answer alike."""
    from recsys.store import events as events_module

    monkeypatch.setattr(events_module, "TAIL_ROWS", tail_rows)
    rng = random.Random(tail_rows)
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        for _ in range(30):
            rows = [
                (f"u{rng.randrange(4)}", f"i{rng.randrange(9)}", "view", float(rng.randrange(50)))
                for _ in range(rng.randint(1, 3))
            ]
            store.add_events(
                pl.DataFrame(rows, schema=["user_id", "item_id", "type", "ts"], orient="row")
            )
        stored = (
            store._read()
            .execute(  # (seq, user, item, type, ts)
                "SELECT seq, user_id, item_id, type, ts FROM events ORDER BY seq"
            )
            .fetchall()
        )
        top = store.last_seq()
        assert len(stored) > 20
        for _ in range(200):
            user = f"u{rng.randrange(5)}"
            after = rng.randrange(top + 1)
            until = rng.randrange(after, top + 2)
            want = [(i, k, t, q) for q, u, i, k, t in stored if u == user and after < q <= until]
            assert store.user_events_after(user, after, until) == want
            newer, erased, covered = store.user_state_after(user, after)
            mine = [q for q, u, *_ in stored if u == user and q > after]
            assert newer == (max(mine) if mine else None) and erased is None
            assert covered == max(after, top)
