"""The store's tables: the SQL that creates them and the columns the rest of the library reads.

Kept apart from the code that reads and writes them so every part of the store (events, catalog,
privacy, maintenance) and the importers share one spelling of each table and column. The set of
event types in the ``events`` table's ``CHECK`` constraint is derived from
:data:`recsys.types.EVENT_TYPES`, the one place the closed set is spelled; the SQL it produces is
the same text as when the list was written out by hand, so databases created by older versions
are identical to new ones (``CREATE TABLE IF NOT EXISTS`` never alters an existing table).

Events have one index, ``events_user_key``: unique on the natural key, with its columns ordered
``(user_id, ts, ...)`` so that it also answers every read by user (the newest events without
reading the table, the distinct items, the newest position). Until 2026-12 they had two, one
for the natural key and ``events_user_ts`` for reads by time: every event then dirtied two
random index pages instead of one, and a batch of 100 wrote about 1.4 MB to the write-ahead log
instead of 0.76 MB (``benchmarks/README.md``). A store with the two is re-indexed when opened
(``SQLiteStore._init_meta``; about 1.1 s per million events, once). A second index on
``(user_id, seq)`` would make the reads by position (``user_state``'s newest position, a
browsing shopper's increments) a seek instead of a scan of the user's events (76 µs per request
for shoppers a few hundred events into a session); it was tried and left out: event batches of
100 lost a quarter of their throughput, and their p99 reached the 150 ms target (issue 20,
eighth pass). Instead, a server that remembers a shopper reads by position from the table's
newest rows when few were stored since (``TAIL_ROWS`` in :mod:`recsys.store.events`).
"""

from __future__ import annotations

import polars as pl

from recsys.types import EVENT_TYPES

# the CHECK's value list, e.g. 'view', 'click', 'add_to_cart', 'purchase' (no type holds a quote)
_EVENT_TYPE_VALUES = ", ".join(f"'{t}'" for t in EVENT_TYPES)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    type       TEXT NOT NULL CHECK (type IN ({_EVENT_TYPE_VALUES})),
    ts         REAL NOT NULL,
    session_id TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS events_user_key
    ON events (user_id, ts, item_id, type, session_id);
CREATE TABLE IF NOT EXISTS items (
    item_id     TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    category    TEXT NOT NULL DEFAULT '',
    price       REAL,
    currency    TEXT NOT NULL DEFAULT '',
    in_stock    INTEGER NOT NULL DEFAULT 1,
    attributes  TEXT NOT NULL DEFAULT '{{}}',
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
# version 2 (experiments): appended, so the text of version 1 stays a prefix of SCHEMA
SCHEMA += """CREATE TABLE IF NOT EXISTS experiments (
    name       TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,  -- recsys.experiments.spec.Experiment as JSON
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS exposures (
    recommendation_id TEXT NOT NULL,  -- random: unique without an index to keep it so
    experiment        TEXT NOT NULL,
    variant           TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    ts                REAL NOT NULL,
    n_items           INTEGER NOT NULL,
    items             TEXT NOT NULL  -- the item ids shown, best first, as a JSON array
);
CREATE TABLE IF NOT EXISTS event_links (
    user_id           TEXT NOT NULL,
    item_id           TEXT NOT NULL,
    type              TEXT NOT NULL,
    ts                REAL NOT NULL,
    recommendation_id TEXT NOT NULL,
    position          INTEGER,
    PRIMARY KEY (user_id, item_id, type, ts, recommendation_id)
) WITHOUT ROWID;
"""
# version 3: exposures indexed in the order they are written. Version 2 indexed them by
# (experiment, user_id): every answer then landed on a random page of that index, and a write
# cost 14-19 us of CPU per answer (more, the more shoppers), 9% of user-recs throughput on the
# 50k-shopper benchmark catalog. Appended in time order, it costs about 2 us whatever the number
# of shoppers (benchmarks/exposure_writes.py). A shopper's rows are still found without reading
# the table (the index covers user_id), by a scan of each experiment's entries when the shopper
# is erased (about 0.1 s per million answers). A store of version 2 has its old index dropped
# when it is opened (SQLiteStore._init_meta).
SCHEMA += """CREATE INDEX IF NOT EXISTS exposures_time ON exposures (experiment, ts, user_id);
"""

EVENT_COLUMNS = ("user_id", "item_id", "type", "ts", "session_id")
# one validated event as the stores write it: (user_id, item_id, type, ts, session_id ("" for
# none), event_id (None for none)); ``recsys.store.events.event_rows`` gives them for a frame
EventRow = tuple[str, str, str, float, str, str | None]
CATALOG_COLUMNS = (  # what a catalog item is (the stored row adds ``updated_at``)
    "item_id",
    "title",
    "description",
    "category",
    "price",
    "currency",
    "in_stock",
    "attributes",
)
ITEM_COLUMNS = (*CATALOG_COLUMNS, "updated_at")
EVENT_SCHEMA = {
    "user_id": pl.String,
    "item_id": pl.String,
    "type": pl.String,
    "ts": pl.Float64,
    "session_id": pl.String,
}
EXPOSURE_SCHEMA = {
    "recommendation_id": pl.String,
    "experiment": pl.String,
    "variant": pl.String,
    "user_id": pl.String,
    "ts": pl.Float64,
    "n_items": pl.Int64,
}
IMPRESSION_SCHEMA = {"recommendation_id": pl.String, "position": pl.Int64, "item_id": pl.String}
# the events of an experiment's shoppers, with the answer an event named (null: none)
LINKED_EVENT_SCHEMA = {
    "user_id": pl.String,
    "item_id": pl.String,
    "type": pl.String,
    "ts": pl.Float64,
    "recommendation_id": pl.String,
    "position": pl.Int64,
}
ITEM_SCHEMA = {
    "item_id": pl.String,
    "title": pl.String,
    "description": pl.String,
    "category": pl.String,
    "price": pl.Float64,
    "currency": pl.String,
    "in_stock": pl.Boolean,
    "attributes": pl.String,
    "updated_at": pl.Float64,
}
