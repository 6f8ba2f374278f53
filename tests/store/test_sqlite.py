"""The SQLite store against a real database file: WAL, dedup, ordering, upserts, visibility."""

from __future__ import annotations

import inspect
import sqlite3

import polars as pl

from recsys import types
from recsys.home import Home
from recsys.store import Store
from recsys.store import sqlite as sqlite_module
from recsys.store.sqlite import EVENT_SCHEMA, UserEvent
from recsys.types import EVENT_TYPES


def _events(rows: list[tuple[str, str, str, float, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row")


ROWS = [
    ("u1", "a", "view", 100.0, "s1"),
    ("u1", "b", "purchase", 300.0, ""),
    ("u1", "c", "click", 200.0, ""),
    ("u2", "a", "add_to_cart", 150.0, "s2"),
]


def _item(item_id: str, title: str, **extra: object) -> dict[str, object]:
    return {
        "item_id": item_id,
        "title": title,
        "description": "",
        "category": "Cat",
        "price": 9.5,
        "currency": "EUR",
        "in_stock": True,
        "attributes": '{"color": "red", "sizes": [1, 2]}',
        "updated_at": 10.0,
        **extra,
    }


def test_database_is_in_wal_mode(store: Store, home: Home) -> None:
    conn = sqlite3.connect(home.db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_add_events_counts_new_rows_and_skips_duplicates(store: Store) -> None:
    frame = _events(ROWS)
    assert store.add_events(frame) == 4
    assert store.add_events(frame) == 0
    assert store.count_events() == 4
    # one new row among old ones: only it is counted
    more = _events([*ROWS[:2], ("u3", "z", "view", 1.0, "")])
    assert store.add_events(more) == 1
    assert store.count_events() == 5


def test_add_events_empty_frame_stores_nothing(store: Store) -> None:
    assert store.add_events(pl.DataFrame(schema=EVENT_SCHEMA)) == 0
    assert store.count_events() == 0


def test_missing_or_null_session_is_the_same_event(store: Store) -> None:
    without = pl.DataFrame({"user_id": ["u"], "item_id": ["i"], "type": ["view"], "ts": [5.0]})
    with_null = without.with_columns(pl.lit(None, dtype=pl.String).alias("session_id"))
    assert store.add_events(without) == 1
    assert store.add_events(with_null) == 0
    assert store.events_frame()["session_id"].to_list() == [""]


def test_events_frame_round_trip_in_insertion_order(store: Store) -> None:
    store.add_events(_events(ROWS))
    got = store.events_frame()
    assert got.schema == pl.Schema(EVENT_SCHEMA)
    assert got.rows() == ROWS
    assert store.events_frame(since_ts=200.0).rows() == [ROWS[1], ROWS[2]]


def test_events_frame_of_empty_store_has_schema(store: Store) -> None:
    got = store.events_frame()
    assert got.height == 0
    assert got.schema == pl.Schema(EVENT_SCHEMA)


def test_user_events_newest_first_with_limit(store: Store) -> None:
    store.add_events(_events(ROWS))
    assert store.user_events("u1") == [
        UserEvent("b", "purchase", 300.0),
        UserEvent("c", "click", 200.0),
        UserEvent("a", "view", 100.0),
    ]
    assert store.user_events("u1", limit=2) == [
        UserEvent("b", "purchase", 300.0),
        UserEvent("c", "click", 200.0),
    ]
    assert store.user_events("nobody") == []


def test_delete_user_removes_only_that_user(store: Store) -> None:
    store.add_events(_events(ROWS))
    assert store.delete_user("u1") == 3
    assert store.user_events("u1") == []
    assert store.events_frame().rows() == [ROWS[3]]
    assert store.delete_user("u1") == 0


def test_upsert_items_inserts_then_updates(store: Store) -> None:
    assert store.upsert_items(pl.DataFrame([_item("a", "Old title"), _item("b", "B")])) == 2
    assert store.count_items() == 2
    assert store.upsert_items(pl.DataFrame([_item("a", "New title", in_stock=False)])) == 1
    assert store.count_items() == 2
    item = store.get_item("a")
    assert item is not None
    assert item["title"] == "New title"
    assert item["in_stock"] is False
    assert store.catalog_frame()["item_id"].to_list() == ["a", "b"]


def test_upsert_items_fills_optional_columns(store: Store) -> None:
    store.upsert_items(pl.DataFrame({"item_id": ["x"], "title": ["Only a title"]}))
    item = store.get_item("x")
    assert item is not None
    assert item["description"] == ""
    assert item["price"] is None
    assert item["in_stock"] is True
    assert item["attributes"] == {}
    assert item["updated_at"] > 0


def test_get_item_parses_attributes_and_unknown_is_none(store: Store) -> None:
    store.upsert_items(pl.DataFrame([_item("a", "A")]))
    assert store.get_item("a") == {
        "item_id": "a",
        "title": "A",
        "description": "",
        "category": "Cat",
        "price": 9.5,
        "currency": "EUR",
        "in_stock": True,
        "attributes": {"color": "red", "sizes": [1, 2]},
        "updated_at": 10.0,
    }
    assert store.get_item("missing") is None


def test_second_store_on_same_file_sees_committed_data(store: Store, home: Home) -> None:
    other = Store(home.db_path)
    try:
        store.add_events(_events(ROWS))
        store.upsert_items(pl.DataFrame([_item("a", "A")]))
        assert other.count_events() == 4
        assert other.user_events("u2") == [UserEvent("a", "add_to_cart", 150.0)]
        assert other.get_item("a") is not None
        # and the other way round: its writes dedupe against ours
        assert other.add_events(_events(ROWS)) == 0
        assert other.delete_user("u2") == 1
        assert store.count_events() == 3
    finally:
        other.close()


def test_add_events_counts_only_rows_the_schema_accepts(store: Store) -> None:
    # the store expects validated rows; an unknown type fails the CHECK and is not counted
    frame = pl.DataFrame(
        {"user_id": ["u", "v"], "item_id": ["i", "j"], "type": ["view", "bogus"], "ts": [1.0, 2.0]}
    )
    assert store.add_events(frame) == 1
    assert store.events_frame()["type"].to_list() == ["view"]


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
    assert sqlite_module.SCHEMA == SCHEMA_AS_WRITTEN
    conn = sqlite3.connect(home.db_path)
    try:
        created = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()[0]
    finally:
        conn.close()
    assert created in SCHEMA_AS_WRITTEN.replace("IF NOT EXISTS ", "")
    values = ", ".join(f"'{t}'" for t in EVENT_TYPES)
    assert f"CHECK (type IN ({values}))" in created  # derived from the one closed set


def test_schema_accepts_every_event_type_and_nothing_else(store: Store) -> None:
    frame = pl.DataFrame(
        {
            "user_id": "u",
            "item_id": "i",
            "type": [*EVENT_TYPES, "bogus"],
            "ts": [float(k) for k in range(len(EVENT_TYPES) + 1)],
        }
    )
    assert store.add_events(frame) == len(EVENT_TYPES)
    assert store.events_frame()["type"].to_list() == list(EVENT_TYPES)


def test_store_names_stay_importable_from_the_sqlite_module() -> None:
    for name in (
        "Store",
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
    assert sqlite_module.Store is Store
    assert sqlite_module.UserEvent is types.UserEvent
    assert sqlite_module.UserHistory is types.UserHistory


def test_each_part_of_the_store_is_a_small_class() -> None:
    parts = [c for c in Store.__mro__ if c.__module__.startswith("recsys.store.")]
    assert len(parts) >= 6  # Store, four concerns, the core, the shared base
    for part in parts:
        lines, _ = inspect.getsourcelines(part)
        assert len(lines) <= 250, (part.__qualname__, len(lines))
