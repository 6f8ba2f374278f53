"""``Store.add_events`` writes a batch in a few multi-row statements, as if row by row.

The rules (recsys.store.events): events without ``event_id`` are stored once per natural key;
events with one once per ``(user_id, event_id)`` (a repeated key, in the batch or before, is
skipped; a new key whose natural key is stored records the key and stores nothing); an erased
user's events up to the erasure are dropped; events without a key go in first, then the others,
each in frame order. A model that applies these rules one row at a time is the reference.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.store import SQLiteStore

Row = tuple[str, str, str, float, str, str | None]  # user, item, type, ts, session, event_id
SCHEMA = {
    "user_id": pl.String,
    "item_id": pl.String,
    "type": pl.String,
    "ts": pl.Float64,
    "session_id": pl.String,
    "event_id": pl.String,
}
ERASED, ERASED_AT = "u3", 1.5


def frame(rows: list[Row]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


class Model:
    """The store's rules applied one row at a time."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, float, str]] = []
        self.keys: set[tuple[str, str]] = set()

    def add(self, rows: list[Row]) -> int:
        rows = [r for r in rows if not (r[0] == ERASED and r[3] <= ERASED_AT)]
        before = len(self.events)
        for row in [r for r in rows if r[5] is None] + [r for r in rows if r[5] is not None]:
            if row[5] is not None:
                if (row[0], row[5]) in self.keys:
                    continue
                self.keys.add((row[0], row[5]))
            if row[:5] not in self.events:
                self.events.append(row[:5])
        return len(self.events) - before


ROWS = st.tuples(
    st.sampled_from(["u1", "u2", ERASED]),
    st.sampled_from(["a", "b"]),
    st.sampled_from(["view", "click"]),
    st.sampled_from([1.0, 2.0]),
    st.sampled_from(["", "s"]),
    st.sampled_from([None, None, "e1", "e2", "e3"]),
)


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(st.lists(ROWS, min_size=1, max_size=12), min_size=1, max_size=3),
    atomic=st.booleans(),
)
def test_a_batch_is_stored_as_if_row_by_row(batches: list[list[Row]], atomic: bool) -> None:
    model = Model()
    with tempfile.TemporaryDirectory() as tmp, SQLiteStore(Path(tmp) / "s.sqlite3") as store:
        store.delete_user(ERASED, now=ERASED_AT)
        for rows in batches:
            assert store.add_events(frame(rows), atomic=atomic) == model.add(rows)
        stored = store.events_frame().rows()
    assert stored == model.events


def test_a_batch_is_one_transaction_of_a_few_statements(tmp_path: Path) -> None:
    rows: list[Row] = [(f"u{i % 7}", f"i{i}", "view", 1e9 + i, "", f"e{i}") for i in range(100)]
    rows += [("u1", "i1", "view", 1e9 + 1, "", None), rows[0]]  # a plain event, a repeated key
    statements: list[str] = []
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        store._conn.set_trace_callback(statements.append)
        assert store.add_events(frame(rows), atomic=True) == 100
        store._conn.set_trace_callback(None)
        assert store.add_events(frame(rows), atomic=True) == 0
        assert store.count_events() == 100
    assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]
    # multi-row inserts: each SQLite call releases the GIL, so a statement per row would wait
    # for it a hundred times while the server's other threads run
    assert len(statements) <= 10, statements


def test_batches_over_one_statement_keep_order_and_keys(tmp_path: Path) -> None:
    rows: list[Row] = [
        (f"u{i % 10}", f"i{i}", "click", 1e9 + i, "", f"e{i % 1500}") for i in range(1700)
    ]
    plain: list[Row] = [(f"p{i}", "i", "view", 1e9, "", None) for i in range(1200)]
    model = Model()
    expected = model.add(rows + plain)
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        assert store.add_events(frame(rows + plain), atomic=True) == expected == 2700
        assert store.events_frame().rows() == model.events
        assert store.add_events(frame(rows + plain), atomic=True) == 0


def test_frames_without_optional_columns_or_with_other_dtypes(tmp_path: Path) -> None:
    base: dict[str, Any] = {"user_id": ["u1", "u2"], "item_id": ["a", "b"], "type": ["view"] * 2}
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        assert store.add_events(pl.DataFrame({**base, "ts": [1, 2]})) == 2  # integer seconds
        assert store.add_events(pl.DataFrame({**base, "ts": [1.0, 2.0]})) == 0
        nulls = pl.DataFrame({**base, "ts": [3.0, 4.0], "session_id": [None, "s"]})
        assert store.add_events(nulls) == 2
        no_ids = pl.DataFrame({**base, "ts": [5.0, 6.0], "event_id": [None, None]})
        assert store.add_events(no_ids) == 2
        assert store.events_frame()["session_id"].to_list() == ["", "", "", "s", "", ""]
        assert store.events_frame()["ts"].to_list() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
