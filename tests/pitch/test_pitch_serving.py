"""PitchProvider: cached pitches at once, template for misses, background LLM, bounded waits."""

from __future__ import annotations

import time

from recsys.home import Home
from recsys.pitch.config import PitchConfig
from recsys.pitch.serving import PitchProvider
from recsys.store import Store
from recsys.types import Reason, RecommendedItem

LINK = "Because you bought Running socks, we picked Running shoes for you."
GOOD = "This pick is light and will carry you through every long run."
# what the service answers (the catalog, tests/conftest.py, has r1 "Running shoes", Running, 10 EUR)
ITEMS = [
    RecommendedItem("r1", 0.9, Reason("history", "behavior", ("r2",), "Because you bought ...")),
]


def bare(item_id: str) -> RecommendedItem:
    """An item recommended without reasons (a bare reason names no items)."""
    return RecommendedItem(item_id, 0.5, Reason("popular", "popularity", (), ""))


def provider(home: Home, store: Store, model, **cfg) -> PitchProvider:  # type: ignore[no-untyped-def]
    config = PitchConfig(n_samples=1, rerank=False, **cfg)
    return PitchProvider(home, config, store=store, model=model)


def test_miss_gets_template_now_then_cache(shop_home: Home, shop_store: Store, fake_model) -> None:
    model = fake_model([GOOD])
    p = provider(shop_home, shop_store, model)
    try:
        history = shop_store.user_events("run1")
        first = p.pitches_for("run1", history, ITEMS, wait_ms=0)
        assert first[0].source == "template"
        assert first[0].text == f"{LINK} It is from our Running range. It costs 10 EUR."
        deadline = time.monotonic() + 5
        while (
            p.writer.cached(
                p.facts_and_context(history, ITEMS)[0][0], p.facts_and_context(history, ITEMS)[0][1]
            )
            is None
        ):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        second = p.pitches_for("run1", history, ITEMS)
        assert (second[0].source, second[0].text) == ("cache", f"{LINK} {GOOD}")
        # the reason's item r2 is named by the link; the model saw only the product's facts
        request = [m for m in model.calls[0]["messages"] if m["role"] == "user"][-1]
        assert "Category: Running" in request["content"]
        assert "Running socks" not in request["content"]
        assert "Running shoes" not in request["content"]
    finally:
        p.close()


def test_wait_ms_returns_fresh_llm_pitch(shop_home: Home, shop_store: Store, fake_model) -> None:
    p = provider(shop_home, shop_store, fake_model([GOOD]))
    try:
        pitches = p.pitches_for("run1", shop_store.user_events("run1"), ITEMS, wait_ms=3000)
        assert (pitches[0].source, pitches[0].text) == ("llm", f"{LINK} {GOOD}")
    finally:
        p.close()


def test_never_waits_past_wait_ms(shop_home: Home, shop_store: Store, fake_model) -> None:
    model = fake_model([GOOD])
    model.release.clear()  # the model hangs until released
    p = provider(shop_home, shop_store, model)
    try:
        started = time.perf_counter()
        pitches = p.pitches_for("run1", shop_store.user_events("run1"), ITEMS, wait_ms=150)
        elapsed = time.perf_counter() - started
        assert pitches[0].source == "template"
        assert 0.14 <= elapsed < 1.0
    finally:
        model.release.set()
        p.close()


def test_queue_is_bounded_and_deduplicated(shop_home: Home, shop_store: Store, fake_model) -> None:
    model = fake_model([GOOD])
    model.release.clear()
    p = provider(shop_home, shop_store, model, queue_size=1)
    items = [bare(i) for i in ("k1", "k2", "k3")]
    try:
        history = shop_store.user_events("cook1")
        p.pitches_for("cook1", history, items)
        p.pitches_for("cook1", history, items)  # the same misses again: not queued twice
        assert p.dropped >= 1
        assert len(p._pending) <= 2  # one in the worker, at most one queued
    finally:
        model.release.set()
        p.close()


def test_template_backend_and_close_is_idempotent(shop_home: Home, shop_store: Store) -> None:
    p = PitchProvider(shop_home, PitchConfig(backend="template"), store=shop_store)
    pitches = p.pitches_for("nobody", [], ITEMS, wait_ms=500)
    assert pitches[0].source == "template"
    assert pitches[0].text == (
        "We picked Running shoes for you. It is from our Running range. It costs 10 EUR."
    )
    p.close()
    p.close()


def test_facts_come_from_the_catalog_and_the_reason_names_the_link(
    shop_home: Home, shop_store: Store
) -> None:
    p = PitchProvider(shop_home, PitchConfig(backend="template"), store=shop_store)
    try:
        history = shop_store.user_events("run1")
        (facts, context), (plain, _) = p.facts_and_context(history, [ITEMS[0], bare("r5")])
        assert (facts.item_id, facts.title, facts.category) == ("r1", "Running shoes", "Running")
        assert (facts.price, facts.currency) == (10.0, "EUR")
        assert plain.title == "Trail running shoes"
        # an item dict as recsys.pitch.batch builds it gives the same facts and context
        as_dict = {"item_id": "r1", "title": "Running shoes", "reason": {"item_ids": ["r2"]}}
        assert p.facts_and_context(history, [as_dict]) == [(facts, context)]
        pitches = p.pitches_for("run1", history, [ITEMS[0], bare("r5")])
        assert pitches[0].text.startswith(LINK)  # the reason's item r2 is the link
        # no reason items: the newest of the shopper's items is the link
        assert pitches[1].text.startswith(
            "Because you bought Running jacket, we picked Trail running shoes for you."
        )
    finally:
        p.close()


def test_pitches_of_shoppers_erased_through_another_host_are_forgotten(
    shop_home: Home, shop_store: Store, fake_model
) -> None:
    # two API hosts share the store; each has its own pitch cache. run1 is erased through the
    # other host: this host learns it from the tombstones (RecommendationService.on_erasures)
    p = provider(shop_home, shop_store, fake_model([GOOD, GOOD]))
    try:
        for user in ("run1", "run2"):
            p.pitches_for(user, shop_store.user_events(user), ITEMS, wait_ms=2000)
        assert sorted(p._cache.linked_users()) == ["run1", "run2"]
        shop_store.delete_user("run1")  # as the other host's erasure does
        assert p.forget_erased({}) == 0
        assert p.forget_erased({shop_store.user_key("someone-else"): 1.0}) == 0
        assert p.forget_erased(shop_store.erasures_since(0.0)) >= 1
        assert p._cache.linked_users() == ["run2"]
    finally:
        p.close()
