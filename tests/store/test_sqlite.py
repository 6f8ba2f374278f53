"""The SQLite store against a real database file: WAL, dedup, ordering, upserts, visibility."""

from __future__ import annotations

import inspect
import sqlite3

from recsys import types
from recsys.home import Home
from recsys.store import SQLiteStore, Store
from recsys.store import sqlite as sqlite_module
from recsys.types import EVENT_TYPES


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
    # version 2 only appended the experiment tables: version 1's text is unchanged
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
