"""``Store.add_events`` writes a batch in a few multi-row statements, as if row by row.

The rules (recsys.store.events): events without ``event_id`` are stored once per natural key;
events with one once per ``(user_id, event_id)`` (a repeated key, in the batch or before, is
skipped; a new key whose natural key is stored records the key and stores nothing); an erased
user's events up to the erasure are dropped; events without a key go in first, then the others,
each in frame order. A model that applies these rules one row at a time is the reference
(``test_contract.Model``; the contract suite runs the deterministic batch tests on every backend,
these are SQLite's own: random batches by hypothesis, and how few statements a batch costs).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from test_contract import KEYED, Model, Row

from recsys.store import SQLiteStore

ERASED, ERASED_AT = "u3", 1.5


def frame(rows: list[Row]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=KEYED, orient="row")


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
    model = Model(ERASED, ERASED_AT)
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
