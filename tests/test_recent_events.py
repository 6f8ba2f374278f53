"""``recsys.service.recent``: increments of a shopper's events give what a whole read gives."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest

from recsys.service import recent as recent_module
from recsys.service.recent import RecentEvents
from recsys.store import SQLiteStore

LIMIT = 8


def _add(store: SQLiteStore, rows: list[tuple[str, str, str, float]]) -> None:
    store.add_events(pl.DataFrame(rows, schema=["user_id", "item_id", "type", "ts"], orient="row"))


def _read(recent: RecentEvents, store: SQLiteStore, user: str, watermark: int) -> tuple:
    newest, erased_at = store.user_state(user)
    assert newest is not None
    return recent.read(store, user, LIMIT, watermark, newest, erased_at)


def _whole(store: SQLiteStore, user: str, watermark: int) -> tuple:
    return store.user_events_since(user, LIMIT, watermark)


def _trained(store: SQLiteStore, rng: random.Random) -> int:
    """Store shopper u's 20 trained views (random items); return the training's watermark."""
    _add(store, [("u", f"i{rng.randrange(30)}", "view", float(t)) for t in range(20)])
    return store.last_seq()


def _same(got: tuple, want: tuple) -> None:
    assert got[0] == want[0]  # the newest events, in the store's order
    assert sorted(got[1]) == sorted(want[1])  # the distinct pairs since the watermark


@pytest.mark.parametrize("seed", range(6))
def test_increments_give_the_whole_read(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        # a trained history, then the watermark, then page views: new times, repeated
        # times (ties), backdated ones, repeated items and types
        watermark = _trained(store, rng)
        recent = RecentEvents()
        clock = 100.0
        for _ in range(40):
            ts = rng.choice([clock, clock, 50.0 + rng.randrange(40), 10.0])
            kind = rng.choice(["view", "click", "purchase"])
            rows = [("u", f"i{rng.randrange(30)}", kind, ts) for _ in range(rng.randint(1, 3))]
            _add(store, rows)
            clock += rng.choice([0.0, 1.0])
            if rng.random() < 0.8:  # some page views are not followed by a request
                _same(_read(recent, store, "u", watermark), _whole(store, "u", watermark))
        assert recent.reads["increment"] > 10 and recent.reads["whole"] == 1


def test_nothing_new_is_read_from_memory(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        _add(store, [("u", "i1", "view", 1.0)])
        recent = RecentEvents()
        first = _read(recent, store, "u", 0)
        assert _read(recent, store, "u", 0) == first
        assert recent.reads == {"whole": 1, "increment": 0, "none": 1}


def test_an_erased_shopper_is_read_whole_again(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        _add(store, [("u", "i1", "purchase", 1.0), ("u", "i2", "view", 2.0)])
        recent = RecentEvents()
        _read(recent, store, "u", 0)
        store.delete_user("u", now=3.0)
        _add(store, [("u", "i3", "view", 4.0)])
        got = _read(recent, store, "u", 0)
        assert got[0] == [("i3", "view", 4.0)] and got[1] == [("i3", "view")]
        assert recent.reads["whole"] == 2


def test_an_erasure_through_the_service_forgets_the_shopper(tmp_path: Path) -> None:
    from recsys.home import Home
    from recsys.service import RecommendationService

    home = Home(tmp_path / "home").ensure()
    with SQLiteStore(home.db_path) as store:
        _add(store, [("u", "i1", "view", 1.0)])
    service = RecommendationService(home)
    try:
        recent = service._recent
        _read(recent, service.store, "u", 0)
        assert "u" in recent._entries
        service.erase_users(["u"])
        assert "u" not in recent._entries
    finally:
        service.close()


def test_another_bundle_or_another_limit_reads_whole(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        _add(store, [("u", "i1", "view", 1.0), ("u", "i2", "view", 2.0)])
        recent = RecentEvents()
        _read(recent, store, "u", 0)
        newest, erased_at = store.user_state("u")
        assert newest is not None
        _same(recent.read(store, "u", LIMIT, 1, newest, erased_at), _whole(store, "u", 1))
        assert recent.read(store, "u", 1, 1, newest, erased_at)[0] == [("i2", "view", 2.0)]
        assert recent.reads["whole"] == 3


def test_an_entry_is_trusted_for_its_time_to_live_only(tmp_path: Path) -> None:
    # events can leave the store without an erasure (the retention purge): an entry is read
    # whole again once it is older than its time to live
    now = [0.0]
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        _add(store, [("u", "i1", "view", 1.0)])
        recent = RecentEvents(ttl_s=60.0, clock=lambda: now[0])
        _read(recent, store, "u", 0)
        now[0] = 59.0
        _add(store, [("u", "i2", "view", 2.0)])
        _read(recent, store, "u", 0)
        assert recent.reads == {"whole": 1, "increment": 1, "none": 0}
        now[0] = 61.0  # the entry was read whole at 0: increments do not renew it
        _read(recent, store, "u", 0)
        assert recent.reads["whole"] == 2


def test_a_read_that_raced_a_write_is_not_kept(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        _add(store, [("u", "i1", "view", 1.0)])
        newest, erased_at = store.user_state("u")
        assert newest is not None
        _add(store, [("u", "i2", "view", 2.0)])  # stored after the caller's state read
        recent = RecentEvents()
        recent.read(store, "u", LIMIT, 0, newest, erased_at)  # whole: sees both
        _same(_read(recent, store, "u", 0), _whole(store, "u", 0))  # whole again, not doubled
        assert recent.reads == {"whole": 2, "increment": 0, "none": 0}


def test_capacity_and_long_histories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recent_module, "MAX_PAIRS", 3)
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        _add(store, [(f"u{u}", "i1", "view", 1.0) for u in range(3)])
        _add(store, [("long", f"i{i}", "view", float(i)) for i in range(4)])
        recent = RecentEvents(capacity=2)
        for user in ("u0", "u1", "u2", "long", "u0", "long"):
            _read(recent, store, user, 0)
        # u0 was evicted by u1 and u2 (capacity 2); the long history is never kept
        assert recent.reads == {"whole": 6, "increment": 0, "none": 0}
        assert _read(recent, store, "u0", 0) == _whole(store, "u0", 0)
        assert recent.reads["none"] == 1


def test_memory_is_bounded_by_events_and_pairs_kept(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        # each shopper: 2 events (2 pairs since the watermark) -> 4 kept per entry
        _add(store, [(f"u{u}", f"i{i}", "view", float(i)) for u in range(4) for i in range(2)])
        recent = RecentEvents(max_kept=9)
        for user in ("u0", "u1", "u2"):
            _read(recent, store, user, 0)
        assert recent.kept == 8  # u2 pushed u0 out: 12 > 9
        assert _read(recent, store, "u1", 0) == _whole(store, "u1", 0)
        assert recent.reads == {"whole": 3, "increment": 0, "none": 1}
        # u0 is read whole again and kept; u1, kept before u2, goes first (being used does
        # not keep an entry longer: it is read whole again after its time to live anyway)
        _read(recent, store, "u0", 0)
        assert recent.reads["whole"] == 4
        assert recent.kept == 8
        _read(recent, store, "u2", 0)
        assert recent.reads["none"] == 2
        _read(recent, store, "u1", 0)
        assert recent.reads["whole"] == 5
        recent.forget(["u1", "u0", "u2", "nobody"])
        assert recent.kept == 0
        _add(store, [("u3", "i9", "view", 9.0)])  # u3: 3 events, 3 pairs -> 6 kept
        _read(recent, store, "u3", 0)
        assert recent.kept == 6
        # an increment replaces its entry: counted once, with the new event and pair
        _add(store, [("u3", "i8", "view", 10.0)])
        got = _read(recent, store, "u3", 0)
        assert got[0] == _whole(store, "u3", 0)[0]
        assert recent.reads["increment"] == 1
        assert recent.kept == 8


def _read_state(recent: RecentEvents, store: SQLiteStore, user: str, watermark: int) -> tuple:
    """What the service does: the state through ``recent.state``, then the read."""
    newest, erased_at, covered = recent.state(store, user, watermark)
    assert (newest, erased_at) == store.user_state(user)  # the same state as a plain read
    assert newest is not None
    return recent.read(store, user, LIMIT, watermark, newest, erased_at, covered)


@pytest.mark.parametrize("tail_rows", [0, 4, 10**9])
@pytest.mark.parametrize("seed", range(4))
def test_state_from_memory_gives_the_whole_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, tail_rows: int
) -> None:
    # other shoppers' page views land between this shopper's, a few or many at a time, so the
    # reads by position take the newest rows' plan, the user's index plan, or both
    from recsys.store import events as events_module

    monkeypatch.setattr(events_module, "TAIL_ROWS", tail_rows)
    rng = random.Random(seed)
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        watermark = _trained(store, rng)
        recent = RecentEvents()
        plain_reads = 0
        user_state = store.user_state

        def counted(user: str) -> tuple[int | None, float | None]:
            nonlocal plain_reads
            plain_reads += user == "u"
            return user_state(user)

        for step in range(40):
            others = [
                (f"o{rng.randrange(5)}", "i1", "view", 1.0) for _ in range(rng.choice([0, 2, 9]))
            ]
            if others:
                _add(store, others)
            if rng.random() < 0.7:
                ts = rng.choice([100.0 + step, 50.0 + rng.randrange(40), 10.0])
                _add(store, [("u", f"i{rng.randrange(30)}", rng.choice(["view", "click"]), ts)])
            monkeypatch.setattr(store, "user_state", counted)
            got = recent.state(store, "u", watermark)
            monkeypatch.setattr(store, "user_state", user_state)
            assert got[:2] == store.user_state("u")
            _same(
                recent.read(store, "u", LIMIT, watermark, got[0], got[1], got[2]),
                _whole(store, "u", watermark),
            )
        assert plain_reads == 1  # the first request only: then from the entry's position
        assert recent.reads["whole"] == 1 and recent.reads["increment"] > 10


def test_a_remembered_shopper_reads_only_the_newest_rows(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        _add(store, [("u", f"i{i}", "view", float(i)) for i in range(300)])  # a long history
        _add(store, [("v", "i1", "view", 1.0)])
        recent = RecentEvents()
        _read_state(recent, store, "u", 0)
        entry = recent._entries["u"]
        assert entry.covered == store.last_seq() > entry.seq  # v's event: nothing of u's
        _add(store, [("v", "i2", "view", 2.0)])
        _read_state(recent, store, "u", 0)
        assert recent.reads == {"whole": 1, "increment": 0, "none": 1}
        assert recent._entries["u"].covered == store.last_seq()  # moved past v's new event
        _add(store, [("u", "new", "click", 500.0)])
        got = _read_state(recent, store, "u", 0)
        assert got[0][0] == ("new", "click", 500.0) and recent.reads["increment"] == 1


def test_a_deleted_event_is_noticed_when_the_entry_expires(tmp_path: Path) -> None:
    # the documented bound: an event leaving the store without an erasure (the retention
    # purge) is served from memory until the entry's time to live ends
    now = [0.0]
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        _add(store, [("u", "i1", "view", 1.0), ("u", "i2", "view", 2.0)])
        recent = RecentEvents(ttl_s=60.0, clock=lambda: now[0])
        _read_state(recent, store, "u", 0)
        with store._transaction() as conn:
            conn.execute("DELETE FROM events WHERE item_id = 'i2'")
        newest, _, _ = recent.state(store, "u", 0)
        assert newest == recent._entries["u"].seq  # within the time to live: from memory
        now[0] = 61.0
        assert _read_state(recent, store, "u", 0) == _whole(store, "u", 0)
        assert recent.reads["whole"] == 2
