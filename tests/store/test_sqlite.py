"""The SQLite store against a real database file: WAL, dedup, ordering, upserts, visibility."""

from __future__ import annotations

import inspect
import sqlite3
from pathlib import Path

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


def test_schema_is_the_text_it_always_was(store: Store, home: Home) -> None:
    # versions 2 and 3 only appended the experiment tables and an index: version 1's text is
    # unchanged
    assert sqlite_module.SCHEMA.startswith(SCHEMA_AS_WRITTEN)
    assert sqlite_module.SCHEMA[len(SCHEMA_AS_WRITTEN) :].count("CREATE TABLE") == 3
    conn = sqlite3.connect(home.db_path)
    try:
        created = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()[0]
    finally:
        conn.close()
    assert created in SCHEMA_AS_WRITTEN.replace("IF NOT EXISTS ", "")
    values = ", ".join(f"'{t}'" for t in EVENT_TYPES)
    assert f"CHECK (type IN ({values}))" in created  # derived from the one closed set


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
