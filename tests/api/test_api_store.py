"""Store features the API relies on: event ids, erasure tombstones, the catalog change log."""

from __future__ import annotations

import polars as pl
from flask import Flask

from recsys.home import Home
from recsys.store import Store


def _events(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "user_id": pl.String,
            "item_id": pl.String,
            "type": pl.String,
            "ts": pl.Float64,
            "event_id": pl.String,
        },
        orient="row",
    )


def test_event_ids_deduplicate_per_user(store: Store) -> None:
    first = _events([("u1", "a", "view", 1.0, "e1"), ("u1", "b", "view", 2.0, None)])
    assert store.add_events(first) == 2
    retry = _events([("u1", "a", "view", 5.0, "e1"), ("u2", "a", "view", 5.0, "e1")])
    assert store.add_events(retry) == 1  # u1/e1 seen before; u2/e1 is another user's id
    assert [e.item_id for e in store.user_events("u1")] == ["b", "a"]
    assert store.add_events(_events([("u1", "b", "view", 2.0, None)])) == 0  # natural key


def test_delete_user_leaves_a_tombstone_and_forgets_event_ids(store: Store) -> None:
    store.add_events(_events([("u1", "a", "view", 1.0, "e1"), ("u2", "a", "view", 1.0, None)]))
    assert store.erased_at("u1") is None
    assert store.delete_user("u1", now=100.0) == 1
    assert store.erased_at("u1") == 100.0 and store.user_events("u1") == []
    assert store.count_events() == 1
    # the erased user's event ids are gone with their events: a new event e1 is stored (one
    # from before the erasure is not: a re-sent old event cannot bring the user back)
    assert store.add_events(_events([("u1", "a", "view", 2.0, "e1")])) == 0
    assert store.add_events(_events([("u1", "a", "view", 150.0, "e1")])) == 1
    store.delete_user("u1", now=200.0)
    assert store.erased_at("u1") == 200.0


def test_item_log_reports_changes_in_order(store: Store) -> None:
    assert store.item_log_position() == 0 and store.item_changes(0) == (0, [])
    items = pl.DataFrame({"item_id": ["b", "a"], "title": ["B", "A"]})
    store.upsert_items(items)
    seq, changed = store.item_changes(0)
    assert seq == 2 and changed == ["a", "b"]
    store.upsert_items(pl.DataFrame({"item_id": ["a"], "title": ["A2"]}))
    assert store.item_changes(seq) == (3, ["a"])
    assert store.item_log_position() == 3
    assert store.item_log_position(since=0.0) == 0
    got = store.get_items(["a", "zzz", "b"])
    assert got["item_id"].to_list() == ["a", "b"] and got["title"].to_list() == ["A2", "B"]


def test_the_api_forgets_cached_pitches_of_shoppers_erased_through_another_host(
    app: Flask, api_home: Home
) -> None:
    # no pitch was asked on this host since it started (no pitch provider built), but its cache
    # file holds a pitch linked to u1 from before; u1 is erased through another API host
    from recsys.pitch.cache import CacheKey, PitchCache
    from recsys.pitch.serving import pitch_cache_path
    from recsys.store import SQLiteStore

    state = app.extensions["recsys"]
    _ = state.service.snapshot
    cache = PitchCache(pitch_cache_path(api_home))
    key = CacheKey("r1", "ctx", "v1", "m")
    cache.put(key, "A pitch written from u1's history.", "llm")
    cache.link("u1", [key])
    cache.close()
    with SQLiteStore(api_home.db_path) as elsewhere:
        elsewhere.delete_user("u1")
    state.service.refresh()  # what the watcher does every swap_poll_s
    cache = PitchCache(pitch_cache_path(api_home))
    try:
        assert cache.linked_users() == [] and cache.get(key) is None
    finally:
        cache.close()
