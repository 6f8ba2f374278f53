"""Owned items are never recommended, however long the history (issue 16, section 1).

A request reads only the newest ``HISTORY_LIMIT`` events for taste; the items it excludes come
from the whole stored history (``Store.user_history``). The shop here makes the mistake visible:
a heavy shopper owns every popular item, and all but a few of those events are older than the
newest ``HISTORY_LIMIT``, so without whole-history exclusion they would fill the answer.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.bundle import load_bundle
from recsys.config import HybridConfig, TrainConfig
from recsys.home import Home
from recsys.pitch.batch import prewrite_pitches
from recsys.pitch.config import PitchConfig
from recsys.service import RecommendationService, ServedRecommendations
from recsys.serving import HybridRecommender
from recsys.serving.precompute import user_histories
from recsys.store import SQLiteStore
from recsys.training import train
from recsys.types import HISTORY_LIMIT, Filters

N_ITEMS = 1_600
N_OWNED = 1_500  # the heavy shopper's distinct items: items 0..1499, the most popular ones
N_EVENTS = 2_000
HEAVY = "heavy"
T0 = 1_700_000_000.0
SETTINGS = {"behavior": {"factors": 8, "iterations": 8}, "text": {"enabled": False}}
TYPES = ["view", "click", "add_to_cart", "purchase"]


def _catalog() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(N_ITEMS)],
            "title": [f"Item {i}" for i in range(N_ITEMS)],
            "description": [""] * N_ITEMS,
            "category": [f"c{i % 8}" for i in range(N_ITEMS)],
            "price": [1.0] * N_ITEMS,
            "currency": ["EUR"] * N_ITEMS,
            "in_stock": [True] * N_ITEMS,
            "attributes": ["{}"] * N_ITEMS,
            "updated_at": [0.0] * N_ITEMS,
        }
    )


def _events() -> pl.DataFrame:
    """40 ordinary shoppers over the whole catalog (low ids most popular), and the heavy one.

    The heavy shopper's 2,000 events cover items 0..1499: the first 1,500 (oldest) one each, as
    purchases, then 500 views of items 0..99 again. So their newest 500 events name only 100
    items, and 1,400 owned items lie further back.
    """
    rng = np.random.default_rng(16)
    n = 40 * 60
    users = [f"u{u}" for u in rng.integers(0, 40, n)]
    items = [f"i{i}" for i in np.minimum(rng.geometric(1 / 400, n) - 1, N_ITEMS - 1)]
    types = [TYPES[t] for t in rng.integers(0, 4, n)]
    ts = (T0 + rng.integers(0, 1_000, n) * 60.0).tolist()
    heavy_items = [f"i{i}" for i in range(N_OWNED)] + [f"i{k % 100}" for k in range(500)]
    heavy_types = ["purchase"] * N_OWNED + ["view"] * 500
    heavy_ts = [T0 - 10_000_000.0 + k * 60.0 for k in range(N_EVENTS)]
    return pl.DataFrame(
        {
            "user_id": users + [HEAVY] * N_EVENTS,
            "item_id": items + heavy_items,
            "type": types + heavy_types,
            "ts": ts + heavy_ts,
            "session_id": [""] * (n + N_EVENTS),
        }
    )


OWNED = {f"i{i}" for i in range(N_OWNED)}


@pytest.fixture(scope="module")
def heavy_home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    home = Home(tmp_path_factory.mktemp("owned") / "home").ensure()
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(_catalog())
        store.add_events(_events())
        train(home, TrainConfig.from_dict(SETTINGS), store=store)
    return home


def _ids(answer: ServedRecommendations) -> list[str]:
    return [i.item_id for i in answer.items]


def test_the_shop_is_a_real_trap(heavy_home: Home) -> None:
    """Without the whole history, most of the answer would be owned items (the old defect)."""
    bundle = load_bundle(heavy_home.artifacts)
    rec = HybridRecommender(bundle)
    with SQLiteStore(heavy_home.db_path) as store:
        newest = store.user_events(HEAVY, limit=HISTORY_LIMIT)
    assert len({e.item_id for e in newest}) == 100
    cut = rec.recommend_user(HEAVY, newest, n=20)
    assert cut.strategy == "hybrid"
    assert sum(i.item_id in OWNED for i in cut.items) >= 15


def test_precomputed_list_holds_no_owned_item(heavy_home: Home) -> None:
    bundle = load_bundle(heavy_home.artifacts)
    assert bundle.precomputed is not None
    ranked = bundle.precomputed.get(bundle.users.index(HEAVY))
    assert ranked is not None
    listed = set(bundle.items.ids(ranked.items[ranked.items >= 0]))
    assert len(listed) >= 50 and not listed & OWNED
    service = RecommendationService(heavy_home, live_catalog=False)
    try:
        answer = service.recommend_user(HEAVY, n=20, reasons=False)
        assert answer.ranking == "precomputed"
        assert len(answer.items) == 20 and not set(_ids(answer)) & OWNED
    finally:
        service.close()


def test_live_answers_hold_no_owned_item(heavy_home: Home, tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    shutil.copytree(heavy_home.root, home.root)  # this test writes an event
    service = RecommendationService(home, live_catalog=False)
    try:
        for kwargs in (
            {"n": 20},  # explained: always ranked live
            {"n": 100, "reasons": False},  # n beyond the lists' reach
            {"n": 10, "filters": Filters(category="c3")},
            {"n": 10, "filters": Filters(in_stock_only=False)},
        ):
            answer = service.recommend_user(HEAVY, **kwargs)  # type: ignore[arg-type]
            assert answer.ranking == "live", kwargs
            assert answer.items and not set(_ids(answer)) & OWNED, kwargs
        # one more event: the precomputed list no longer answers, the live one still excludes
        service.store.add_events(
            pl.DataFrame(
                {
                    "user_id": [HEAVY],
                    "item_id": ["i1550"],
                    "type": ["view"],
                    "ts": [T0 + 1e6],
                    "session_id": [""],
                }
            )
        )
        answer = service.recommend_user(HEAVY, n=20, reasons=False)
        assert answer.ranking == "live"
        assert not set(_ids(answer)) & (OWNED | {"i1550"})
    finally:
        service.close()


def test_a_purchase_only_rule_also_covers_the_whole_history(heavy_home: Home) -> None:
    """``exclude_seen = false``: only purchases are dropped, and all of them."""
    bundle = load_bundle(heavy_home.artifacts)
    rec = HybridRecommender(
        bundle, HybridConfig(exclude_seen=False, exclude_purchased=True, repeat_weight=0.0)
    )
    with SQLiteStore(heavy_home.db_path) as store:
        history = store.user_history(HEAVY, HISTORY_LIMIT)
    assert history.item_types is not None and len(history.events) == HISTORY_LIMIT
    answer = rec.recommend_user(
        HEAVY, history.events, n=50, item_types=history.item_types, explain=False
    )
    assert len(answer.items) == 50 and not {i.item_id for i in answer.items} & OWNED


def test_a_session_excludes_every_item_it_names(heavy_home: Home) -> None:
    service = RecommendationService(heavy_home, live_catalog=False)
    try:
        recent = [f"i{i}" for i in range(100)]  # the API's most (MAX_RECENT_ITEMS)
        answer = service.recommend_session(recent, n=30)
        assert len(answer.items) == 30 and not set(_ids(answer)) & set(recent)
    finally:
        service.close()


def test_pitched_items_hold_no_owned_item(heavy_home: Home, fake_model: Any) -> None:
    """``recsys nightly`` pre-writes pitches for the items it recommends: none may be owned."""
    bundle = load_bundle(heavy_home.artifacts)
    # the prompt names no product (issue 18): the pitched items are read from the pitch cache
    model = fake_model(reply_fn=lambda m: [f"{m[-1]['content']} a fine choice for every day."])
    with SQLiteStore(heavy_home.db_path) as store:
        report = prewrite_pitches(
            heavy_home,
            bundle,
            store,
            [HEAVY],
            items_per_user=10,
            budget_s=60,
            config=PitchConfig(n_samples=1, rerank=False),
            model=model,
        )
    assert report.skipped == 0 and report.written == 10 and len(model.calls) == 10
    with closing(sqlite3.connect(heavy_home.pitch_cache_path)) as db:
        pitched = {row[0] for row in db.execute("SELECT item_id FROM pitches")}
    assert len(pitched) == 10 and not pitched & OWNED


# ------------------------------------------------------------------ property: any history length
LIMIT = 12  # a small stand-in for HISTORY_LIMIT, so examples are cheap


@pytest.fixture(scope="module")
def small_rec(heavy_home: Home) -> HybridRecommender:
    return HybridRecommender(load_bundle(heavy_home.artifacts))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    length=st.one_of(st.integers(LIMIT - 2, LIMIT + 2), st.integers(1, 5 * LIMIT)),
    picks=st.lists(st.integers(0, 59), min_size=5 * LIMIT, max_size=5 * LIMIT),
    kinds=st.lists(st.sampled_from(TYPES), min_size=5 * LIMIT, max_size=5 * LIMIT),
    exclude_seen=st.booleans(),
)
def test_no_owned_item_for_any_history_length(
    small_rec: HybridRecommender,
    tmp_path_factory: pytest.TempPathFactory,
    length: int,
    picks: list[int],
    kinds: list[str],
    exclude_seen: bool,
) -> None:
    """Live and precomputed rankings exclude the whole history, around and past the limit."""
    # items 0..59 are the most popular: what the ranking would pick first if it could
    events = pl.DataFrame(
        {
            "user_id": ["u1"] * length,
            "item_id": [f"i{p}" for p in picks[:length]],
            "type": kinds[:length],
            "ts": [T0 + 60.0 * k for k in range(length)],
            "session_id": [""] * length,
        }
    )
    rule = HybridConfig(exclude_seen=exclude_seen, exclude_purchased=True, repeat_weight=0.0)
    rec = small_rec.with_config(rule)
    owned = {
        i
        for i, t in zip(events["item_id"], events["type"], strict=True)
        if t == "purchase" or exclude_seen
    }
    with SQLiteStore(tmp_path_factory.mktemp("prop") / "s.sqlite3") as store:
        store.add_events(events)
        history = store.user_history("u1", LIMIT)
        frame = store.events_frame()
    assert len(history.events) == min(length, LIMIT)
    assert (history.item_types is None) == (length < LIMIT)
    live = rec.recommend_user(
        "u1", history.events, n=40, item_types=history.item_types, explain=False
    )
    assert len(live.items) == 40 and not {i.item_id for i in live.items} & owned
    ((_, listed_history),) = user_histories(frame, limit=LIMIT)
    assert listed_history.events == history.events
    ranked = rec.ranked_list("u1", listed_history.events, 60, listed_history.item_types)
    if ranked is not None:  # None: u1's newest events name no known item for the hybrid path
        assert not set(rec.bundle.items.ids(ranked.items)) & owned
