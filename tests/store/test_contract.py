"""The store contract (recsys.store.contract), one suite run against every backend.

Each test takes the ``store`` fixture, parametrized over SQLite (a file in a temporary home) and
PostgreSQL (a fresh database on a real server started from Debian's package; the ``postgres``
marker, ``make test-postgres``). What a backend must do is written here once; tests of what only
one backend does (SQLite's WAL and file bytes, PostgreSQL's migrations and outages) live in
``test_sqlite.py``, ``test_store_privacy.py`` and ``test_postgres.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import numpy as np
import polars as pl
import pytest

from recsys.errors import StoreBusyError
from recsys.home import Home
from recsys.store import SCHEMA_VERSION, SQLiteStore, Store
from recsys.store.sqlite import EVENT_SCHEMA, UserEvent
from recsys.types import EVENT_TYPES

Opener = Callable[..., Store]  # another store on the same data (write_timeout_s=...)
LockHolder = Callable[[], AbstractContextManager[None]]  # holds the write lock from outside


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def reopen(request: pytest.FixtureRequest, home: Home) -> Iterator[Opener]:
    """Opens stores on one fresh data set of the backend (closed after the test)."""
    opened: list[Store] = []
    if request.param == "sqlite":

        def open_one(**kwargs: float) -> Store:
            opened.append(SQLiteStore(home.db_path, **kwargs))
            return opened[-1]

    else:
        from recsys.store.postgres import PostgresStore, migrate

        url = request.getfixturevalue("postgres_url")
        migrate(url)

        def open_one(**kwargs: float) -> Store:
            opened.append(PostgresStore(url, **kwargs))
            return opened[-1]

    yield open_one
    for s in opened:
        s.close()


@pytest.fixture
def store(reopen: Opener) -> Store:
    """A store of each backend, empty."""
    return reopen()


@pytest.fixture
def hold_write_lock(store: Store) -> LockHolder:
    """Another writer of the backend (a bulk import elsewhere) holding the store's write lock."""

    @contextmanager
    def hold() -> Iterator[None]:
        if isinstance(store, SQLiteStore):
            import sqlite3

            other = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
            other.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                other.execute("ROLLBACK")
                other.close()
        else:
            import psycopg

            from recsys.store.postgres import WRITE_LOCK, PostgresStore

            assert isinstance(store, PostgresStore)
            with psycopg.connect(store.url, autocommit=True) as other:
                other.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK,))
                try:
                    yield
                finally:
                    other.execute("SELECT pg_advisory_unlock(%s)", (WRITE_LOCK,))

    return hold


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


def test_add_events_counts_new_rows_and_skips_duplicates(store: Store) -> None:
    frame = _events(ROWS)
    assert store.add_events(frame) == 4
    assert store.add_events(frame) == 0
    assert store.count_events() == 4
    # one new row among old ones: only it is counted
    more = _events([*ROWS[:2], ("u3", "z", "view", 1.0, "")])
    assert store.add_events(more) == 1
    assert store.count_events() == 5


def test_event_rows_are_stored_as_their_frame_would_be(store: Store) -> None:
    # (user_id, item_id, type, ts, session_id, event_id): the lean API path's page views
    rows = [
        ("u1", "i1", "view", 10.0, "", None),
        ("u1", "i2", "purchase", 11.0, "s1", "e1"),
        ("u2", "i1", "click", 12.0, "", None),
    ]
    assert store.add_event_rows([]) == 0
    assert store.add_event_rows(rows) == 3
    assert store.add_event_rows(rows, atomic=True) == 0  # natural keys and event ids: once
    assert store.add_events(pl.DataFrame(rows, schema=KEYED, orient="row")) == 0
    assert sorted(store.events_frame().rows()) == [r[:5] for r in rows]
    assert store.add_event_rows([("u1", "i2", "purchase", 99.0, "s1", "e1")]) == 0  # a retry
    store.delete_user("u2", now=50.0)
    assert store.add_event_rows([rows[2]]) == 0  # an erased user's old event never returns
    assert store.add_event_rows([("u2", "i3", "view", 60.0, "", None)]) == 1
    assert store.count_events() == 3


def test_events_after_a_position_in_position_order(store: Store) -> None:
    store.add_events(_events([("u1", "a", "view", 5.0, ""), ("u2", "a", "view", 6.0, "")]))
    mark = store.last_seq()
    store.add_events(_events([("u1", "b", "click", 9.0, "s1")]))
    store.add_events(_events([("u1", "c", "purchase", 1.0, "")]))  # backdated: stored later
    after = store.user_events_after("u1", mark)
    assert [r[:3] for r in after] == [("b", "click", 9.0), ("c", "purchase", 1.0)]
    assert after[0][3] > mark and after[1][3] == store.last_seq()
    assert store.user_events_after("u1", store.last_seq()) == []
    assert store.user_events_after("nobody", 0) == []


def test_events_after_a_position_up_to_another(store: Store) -> None:
    store.add_events(_events([("u1", "a", "view", 5.0, "")]))
    mark = store.last_seq()
    store.add_events(_events([("u1", "b", "click", 9.0, ""), ("u2", "x", "view", 1.0, "")]))
    store.add_events(_events([("u1", "c", "view", 2.0, "")]))
    both = store.user_events_after("u1", mark)
    assert [r[0] for r in both] == ["b", "c"]
    assert store.user_events_after("u1", mark, both[0][3]) == both[:1]
    assert store.user_events_after("u1", mark, both[1][3]) == both
    assert store.user_events_after("u1", mark, mark) == []


def test_user_state_after_a_position(store: Store) -> None:
    store.add_events(_events([("u1", "a", "view", 5.0, ""), ("u2", "a", "view", 6.0, "")]))
    u1_first, _ = store.user_state("u1")
    assert u1_first is not None
    newer, erased, covered = store.user_state_after("u1", u1_first)
    assert newer is None and erased is None and covered >= u1_first  # nothing after it
    assert store.user_state_after("u1", u1_first - 1)[0] == u1_first
    mark = store.last_seq()
    store.add_events(_events([("u1", "b", "click", 9.0, ""), ("u3", "c", "view", 1.0, "")]))
    store.add_events(_events([("u1", "c", "view", 2.0, "")]))  # backdated: stored last
    newer, erased, covered = store.user_state_after("u1", mark)
    assert newer == store.user_state("u1")[0] == store.last_seq() and covered >= newer
    newer, _, covered = store.user_state_after("u3", mark)
    assert newer == store.last_seq() - 1
    assert store.user_events_after("u3", newer, covered) == []  # none between
    assert store.user_state_after("nobody", 0)[:2] == (None, None)
    store.delete_user("u1", now=70.0)
    assert store.user_state_after("u1", 0)[:2] == (None, 70.0)


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


def test_a_second_store_on_the_same_data_sees_committed_data(store: Store, reopen: Opener) -> None:
    other = reopen()  # another process, or another API host of a shared store
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


def test_the_schema_is_at_the_current_version(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION


# ----------------------------------------------------------------------- writes row by row
Row = tuple[str, str, str, float, str, str | None]  # user, item, type, ts, session, event_id
KEYED = {**EVENT_SCHEMA, "event_id": pl.String}


class Model:
    """The store's write rules applied one row at a time (recsys.store.events)."""

    def __init__(self, erased: str, erased_at: float) -> None:
        self.erased, self.erased_at = erased, erased_at
        self.events: list[tuple[str, str, str, float, str]] = []
        self.keys: set[tuple[str, str]] = set()

    def add(self, rows: list[Row]) -> int:
        rows = [r for r in rows if not (r[0] == self.erased and r[3] <= self.erased_at)]
        before = len(self.events)
        for row in [r for r in rows if r[5] is None] + [r for r in rows if r[5] is not None]:
            if row[5] is not None:
                if (row[0], row[5]) in self.keys:
                    continue
                self.keys.add((row[0], row[5]))
            if row[:5] not in self.events:
                self.events.append(row[:5])
        return len(self.events) - before


def test_batches_are_stored_as_if_row_by_row(store: Store) -> None:
    # 40 random scenarios (seeded), each with its own users so they share one store: plain and
    # keyed events, repeats within and across batches, an erased user's old and new events
    rng = np.random.default_rng(7)
    for k in range(40):
        users = [f"s{k}-u1", f"s{k}-u2", f"s{k}-u3"]
        model = Model(users[2], 1.5)
        store.delete_user(users[2], now=1.5)
        atomic = bool(k % 2)
        for _ in range(int(rng.integers(1, 4))):
            rows: list[Row] = [
                (
                    users[int(rng.integers(3))],
                    ["a", "b"][int(rng.integers(2))],
                    ["view", "click"][int(rng.integers(2))],
                    [1.0, 2.0][int(rng.integers(2))],
                    ["", "s"][int(rng.integers(2))],
                    [None, None, "e1", "e2", "e3"][int(rng.integers(5))],
                )
                for _ in range(int(rng.integers(1, 13)))
            ]
            frame = pl.DataFrame(rows, schema=KEYED, orient="row")
            assert store.add_events(frame, atomic=atomic) == model.add(rows), (k, rows)
        stored = [r for r in store.events_frame().rows() if r[0].startswith(f"s{k}-")]
        assert stored == model.events, k


def test_large_batches_keep_order_and_keys(store: Store) -> None:
    rows: list[Row] = [
        (f"u{i % 10}", f"i{i}", "click", 1e9 + i, "", f"e{i % 1500}") for i in range(1700)
    ]
    plain: list[Row] = [(f"p{i}", "i", "view", 1e9, "", None) for i in range(1200)]
    model = Model("nobody", 0.0)
    expected = model.add(rows + plain)
    frame = pl.DataFrame(rows + plain, schema=KEYED, orient="row")
    assert store.add_events(frame, atomic=True) == expected == 2700
    assert store.events_frame().rows() == model.events
    assert store.add_events(frame, atomic=True) == 0
    assert store.add_events(frame) == 0  # in chunks too


def test_frames_without_optional_columns_or_with_other_dtypes(store: Store) -> None:
    base: dict[str, object] = {"user_id": ["u1", "u2"], "item_id": ["a", "b"], "type": ["view"] * 2}
    assert store.add_events(pl.DataFrame({**base, "ts": [1, 2]})) == 2  # integer seconds
    assert store.add_events(pl.DataFrame({**base, "ts": [1.0, 2.0]})) == 0
    nulls = pl.DataFrame({**base, "ts": [3.0, 4.0], "session_id": [None, "s"]})
    assert store.add_events(nulls) == 2
    no_ids = pl.DataFrame({**base, "ts": [5.0, 6.0], "event_id": [None, None]})
    assert store.add_events(no_ids) == 2
    assert store.events_frame()["session_id"].to_list() == ["", "", "", "s", "", ""]
    assert store.events_frame()["ts"].to_list() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


# ------------------------------------------------------------------- positions and reads
def test_positions_grow_and_name_a_fixed_set_of_events(store: Store) -> None:
    assert store.last_seq() == 0
    store.add_events(_events(ROWS[:2]))
    first = store.last_seq()
    assert first > 0
    store.add_events(_events(ROWS[2:]))
    assert store.last_seq() > first
    assert store.events_frame(until_seq=first).rows() == ROWS[:2]
    store.delete_user("u2")
    store.add_events(_events([("u9", "z", "view", 1.0, "")]))
    assert store.last_seq() > first + 2  # a position is never reused, not after an erasure


def test_positions_are_visible_in_order_under_concurrent_writers(reopen: Opener) -> None:
    # what a bundle's watermark relies on: once position p is seen, no event at or below p
    # appears later. Four writers (as four API hosts) and a reader that checks it as they go.
    writers = [reopen() for _ in range(4)]
    reader = reopen()
    stop = threading.Event()
    errors: list[BaseException] = []

    def write(k: int, store: Store) -> None:
        try:
            for i in range(150):
                store.add_events(_events([(f"w{k}", f"i{i}", "view", float(i), "")]), atomic=True)
        except BaseException as exc:
            errors.append(exc)

    seen: list[tuple[int, int]] = []

    def read() -> None:
        while not stop.is_set():
            p = reader.last_seq()
            seen.append((p, reader.events_frame(until_seq=p).height))

    threads = [threading.Thread(target=write, args=(k, s)) for k, s in enumerate(writers)]
    watcher = threading.Thread(target=read)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert errors == []
    assert reader.count_events() == 600
    assert len(seen) > 5
    late = [(p, n, reader.events_frame(until_seq=p).height) for p, n in seen]
    assert [x for x in late if x[1] != x[2]] == []  # nothing appeared below a seen position


def test_user_reads_newest_first_and_since_a_position(store: Store) -> None:
    store.add_events(_events(ROWS))
    watermark = store.last_seq()
    assert set(store.user_item_types("u1")) == {("a", "view"), ("b", "purchase"), ("c", "click")}
    history = store.user_history("u1", limit=2)
    assert [e.item_id for e in history.events] == ["b", "c"]
    assert set(history.item_types or []) == {("a", "view"), ("b", "purchase"), ("c", "click")}
    assert store.user_history("u1", limit=10).item_types is None
    store.add_events(_events([("u1", "d", "add_to_cart", 400.0, ""), ("u2", "x", "view", 1.0, "")]))
    events, since = store.user_events_since("u1", 2, watermark)
    assert [e.item_id for e in events] == ["d", "b"]
    assert since == [("d", "add_to_cart")]
    newest, erased = store.user_state("u1")
    assert newest == store.last_seq() - 1 and erased is None
    assert store.user_state("nobody") == (None, None)


def test_events_since_a_time(store: Store) -> None:
    store.add_events(_events(ROWS))
    assert store.events_frame(since_ts=200.0).rows() == [ROWS[1], ROWS[2]]
    assert store.events_frame(since_ts=200.0, until_seq=0).height == 0


# ------------------------------------------------------------------------------- catalog
def test_catalog_log_names_the_items_changed_after_a_position(store: Store) -> None:
    assert store.item_log_position() == 0
    assert store.item_changes(0) == (0, [])
    store.upsert_items(pl.DataFrame([_item("a", "A"), _item("b", "B")]))
    first = store.item_log_position()
    store.upsert_items(pl.DataFrame([_item("c", "C"), _item("a", "A2")]))
    newest, changed = store.item_changes(first)
    assert newest == store.item_log_position() and changed == ["a", "c"]
    assert store.item_changes(newest) == (newest, [])
    assert store.item_log_position(since=0.0) == 0
    assert store.get_items(["c", "zz", "a", "a"])["item_id"].to_list() == ["a", "c"]
    assert store.catalog_frame()["title"].to_list() == ["A2", "B", "C"]


def test_an_item_twice_in_one_batch_keeps_the_later_row(store: Store) -> None:
    assert store.upsert_items(pl.DataFrame([_item("a", "First"), _item("a", "Second")])) == 2
    item = store.get_item("a")
    assert item is not None and item["title"] == "Second"
    assert store.count_items() == 1


# ------------------------------------------------------------------------------- privacy
def test_erasure_leaves_a_keyed_tombstone_and_old_events_never_return(store: Store) -> None:
    export = _events([("zq-mark", "i1", "purchase", 100.0, ""), ("u2", "i1", "view", 100.0, "")])
    store.add_events(export)
    assert store.delete_user("zq-mark", now=200.0) == 1
    assert store.erased_at("zq-mark") == 200.0 and store.erased_at("u2") is None
    key = store.user_key("zq-mark")
    assert len(key) == 64 and "zq-mark" not in key and key != store.user_key("u2")
    assert store.erasures_since(150.0) == {key: 200.0} and store.erasures_since(250.0) == {}
    assert store.user_state("zq-mark") == (None, 200.0)
    assert store.add_events(export) == 0  # u2's row is a duplicate, the erased user's is old
    assert store.add_events(_events([("zq-mark", "i2", "view", 300.0, "")])) == 1
    assert [e.item_id for e in store.user_events("zq-mark")] == ["i2"]
    assert store.delete_user("zq-mark", now=400.0) == 1  # erasing again moves the tombstone
    assert store.erased_at("zq-mark") == 400.0


def test_a_keyed_event_of_an_erased_user_can_be_sent_again_after(store: Store) -> None:
    keyed = pl.DataFrame([("u1", "i1", "view", 10.0, "", "e1")], schema=KEYED, orient="row")
    assert store.add_events(keyed) == 1
    store.delete_user("u1", now=20.0)  # the event ids go with the events
    later = keyed.with_columns(pl.lit(30.0).alias("ts"))
    assert store.add_events(later) == 1


def test_the_tombstone_key_is_the_same_from_every_store_on_the_data(
    store: Store, reopen: Opener
) -> None:
    other = reopen()
    assert other.user_key("someone") == store.user_key("someone")
    store.delete_user("someone", now=5.0)
    assert other.erased_at("someone") == 5.0


def test_a_busy_store_raises_store_busy_and_writes_nothing(
    reopen: Opener, hold_write_lock: LockHolder
) -> None:
    import time

    store = reopen(write_timeout_s=0.2)
    with hold_write_lock():
        started = time.perf_counter()
        with pytest.raises(StoreBusyError) as info:
            store.add_events(_events([("u1", "i1", "view", 1.0, "")]), atomic=True)
        assert time.perf_counter() - started < 2.0
        assert info.value.retry_after_s > 0
        with pytest.raises(StoreBusyError):
            store.delete_user("u1")
        # reads never wait behind the writer
        assert store.count_events() == 0 and store.user_events("u1") == []
    assert store.count_events() == 0
    assert store.add_events(_events([("u1", "i1", "view", 1.0, "")]), atomic=True) == 1


def test_compaction_due_is_recorded_once_and_cleared(store: Store) -> None:
    assert store.compact_due() is None
    store.mark_compact_due(now=10.0)
    store.mark_compact_due(now=20.0)  # the first time counts: the deadline runs from it
    assert store.compact_due() == 10.0
    store.add_events(_events(ROWS))
    store.delete_user("u1")
    store.compact()
    assert store.compact_due() is None
    assert store.count_events() == 1 and store.size_bytes() > 0


# ------------------------------------------------------------------------------- experiments
def _exposure(rid: str, user: str, ts: float, items: tuple[str, ...], variant: str = "a") -> Any:
    from recsys.types import Exposure

    return Exposure(rid, "exp", variant, user, ts, items)


def _linked_events(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    from recsys.store.schema import LINKED_EVENT_SCHEMA

    return pl.DataFrame(rows, schema=LINKED_EVENT_SCHEMA, orient="row")


def test_experiment_definitions_are_kept_in_creation_order(store: Store) -> None:
    assert store.experiment_specs() == {}
    store.put_experiment("b", '{"v": 1}')
    store.put_experiment("a", '{"v": 1}')
    store.put_experiment("b", '{"v": 2}')  # replaced in place
    assert list(store.experiment_specs().items()) == [("b", '{"v": 2}'), ("a", '{"v": 1}')]


def test_exposures_are_stored_once_and_read_back_with_linked_events(store: Store) -> None:
    store.put_experiment("exp", "{}")
    store.put_experiment("other", "{}")
    first = _exposure("r1", "u1", 100.0, ("i1", "i2"))
    assert store.add_exposures([first, _exposure("r2", "u2", 101.0, ())]) == 2
    other = _exposure("r3", "u3", 102.0, ("i1",))
    store.add_exposures([other._replace(experiment="other")])
    store.add_events(
        _linked_events(
            [
                ("u1", "i2", "click", 150.0, "r1", 1),
                ("u1", "i1", "view", 160.0, None, None),
                ("u1", "i9", "view", 50.0, None, None),  # before the experiment began
                ("u3", "i1", "click", 150.0, "r3", 0),  # a shopper of another experiment
            ]
        )
    )
    log = store.experiment_log("exp", since=100.0)
    assert sorted(log.exposures["recommendation_id"].to_list()) == ["r1", "r2"]
    assert log.exposures.filter(pl.col("recommendation_id") == "r2")["n_items"].to_list() == [0]
    assert sorted(log.impressions.rows()) == [("r1", 0, "i1"), ("r1", 1, "i2")]
    assert sorted(log.events.rows()) == [
        ("u1", "i1", "view", 160.0, None, None),
        ("u1", "i2", "click", 150.0, "r1", 1),
    ]
    # a stopped experiment's report reads up to a moment
    assert store.experiment_log("exp", since=100.0, until=155.0).events.rows() == [
        ("u1", "i2", "click", 150.0, "r1", 1)
    ]


def test_exposures_of_an_undefined_experiment_are_not_stored(store: Store) -> None:
    # an erasure finds a shopper's exposures through their experiment's definition
    store.put_experiment("exp", "{}")
    stray = _exposure("r2", "u1", 100.0, ("i1",))._replace(experiment="nowhere")
    assert store.add_exposures([_exposure("r1", "u1", 100.0, ("i1",)), stray]) == 1
    assert store.experiment_log("nowhere", 0.0).exposures.height == 0


def test_erasing_a_user_deletes_their_experiment_records(store: Store) -> None:
    store.put_experiment("exp", "{}")
    store.add_exposures([_exposure("r1", "u1", 100.0, ("i1",)), _exposure("r2", "u2", 100.0, ())])
    store.add_events(_linked_events([("u1", "i1", "click", 150.0, "r1", 0)]))
    store.delete_user("u1", now=200.0)
    log = store.experiment_log("exp", since=0.0)
    assert log.exposures["user_id"].to_list() == ["u2"]
    assert log.impressions.height == 0
    assert log.events.height == 0
    # an answer served before the erasure, flushed after it, is not stored either
    assert store.add_exposures([_exposure("r3", "u1", 150.0, ("i1",))]) == 0
    store.add_events(_linked_events([("u1", "i1", "click", 160.0, "r1", 0)]))
    assert store.experiment_log("exp", since=0.0).events.height == 0
