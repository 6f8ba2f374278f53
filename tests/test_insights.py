"""Tests for recsys.insights (shopper segments) and ``recsys insights``.

The shop has two groups of shoppers whose right answer is known: 30 runners (running shoes,
socks, one trail map; the map's views all fall in the last 7 days of the data: it is rising) and
20 cooks (pans and plates, the same pattern in both recent windows: nothing rises). Runners buy
r2 (20 EUR) and r4 (40 EUR), cooks k1 (100 EUR) and k3 (120 EUR).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys.bundle import Bundle, publish, write_bundle
from recsys.cli import main
from recsys.config import TrainConfig
from recsys.errors import InvalidInputError
from recsys.home import Home
from recsys.insights import (
    Insights,
    InsightsConfig,
    choose_k,
    kmeans,
    shopper_segments,
    silhouette,
)
from recsys.models import ALSModel
from recsys.store import SQLiteStore
from recsys.training import build_bundle

DAY = 86_400.0
T0 = 1_700_000_000.0  # 2023-11-14; the newest event is at T0 + 28 days
Shop = tuple[pl.DataFrame, pl.DataFrame]
ALS = {"behavior": {"factors": 8, "iterations": 10}, "text": {"enabled": False}}
ITEMKNN = {"behavior": {"algorithm": "itemknn"}, "text": {"enabled": False}}

ZH = {
    "Running": "跑步",
    "Outdoor": "户外",
    "Socks": "袜子",
    "Books": "图书",
    "Kitchen": "厨房",
    "Tableware": "餐具",
}


def make_shop(n_run: int = 30, n_cook: int = 20, zh: bool = False, seed: int = 7) -> Shop:
    """``(events, catalog)`` of the two groups (see the module docs)."""
    rng = np.random.default_rng(seed)
    items: list[dict[str, object]] = []

    def item(item_id: str, en: str, zh_title: str, category: str, price: float) -> None:
        items.append(
            {
                "item_id": item_id,
                "title": zh_title if zh else en,
                "description": "",
                "category": ZH[category] if zh else category,
                "price": price,
                "currency": "CNY" if zh else "EUR",
                "in_stock": True,
                "attributes": "{}",
                "updated_at": 0.0,
            }
        )

    for j in range(1, 11):
        item(f"r{j}", f"Running shoe {j}", f"跑鞋 {j} 号", "Running", 10.0 * j)
        item(f"k{j}", f"Pan {j}", f"炒锅 {j} 号", "Kitchen", 90.0 + 10 * j)
    item("o1", "Trail map", "越野地图", "Outdoor", 70.0)
    item("s1", "Sport socks", "运动袜", "Socks", 5.0)
    item("b1", "Running book", "跑步之书", "Books", 15.0)
    item("t1", "Plate", "餐盘", "Tableware", 6.0)
    rows: list[tuple[str, str, str, float, str]] = []

    def event(user: str, item_id: str, kind: str, day: float) -> None:
        rows.append((user, item_id, kind, T0 + day * DAY, ""))

    for u in range(n_run):
        user, dt = f"run{u}", u * 0.01
        event(user, "r2", "purchase", 1 + dt)
        event(user, "r4", "purchase", 2 + dt)
        for m, j in enumerate(rng.choice(np.arange(5, 11), 3, replace=False)):
            event(user, f"r{j}", "view", 3 + m * 0.1 + dt)
        event(user, "s1", "view", 4 + dt)
        event(user, "o1", "view", 5 + dt)
        if u == 0:
            event(user, "b1", "view", 6)
        for j in range(1, 5):  # the previous window: days 14..21
            event(user, f"r{j}", "view", 15 + j * 0.5 + dt)
        for j in range(1, 5):  # the recent window: days 21..28
            event(user, f"r{j}", "view", 22 + j * 0.5 + dt)
        event(user, "o1", "view", 25 + dt)
        event(user, "o1", "view", 26 + dt)
    for v in range(n_cook):
        user, dt = f"cook{v}", v * 0.01
        event(user, "k1", "purchase", 1 + dt)
        event(user, "k3", "purchase", 2 + dt)
        for m, j in enumerate(rng.choice(np.arange(5, 11), 3, replace=False)):
            event(user, f"k{j}", "view", 3 + m * 0.1 + dt)
        event(user, "t1", "view", 4 + dt)
        for j in range(1, 5):
            event(user, f"k{j}", "view", 15 + j * 0.5 + dt)
        event(user, "t1", "view", 20 + dt)
        for j in range(1, 5):
            event(user, f"k{j}", "view", 22 + j * 0.5 + dt)
        event(user, "t1", "view", 28 if v == n_cook - 1 else 27 + dt)  # the newest event
    schema = {
        "user_id": pl.String,
        "item_id": pl.String,
        "type": pl.String,
        "ts": pl.Float64,
        "session_id": pl.String,
    }
    events = pl.DataFrame(rows, schema=schema, orient="row")
    return events, pl.DataFrame(items, schema_overrides={"price": pl.Float64})


class Frames:
    """An events-and-catalog source over frames (what a store gives insights)."""

    def __init__(self, shop: Shop) -> None:
        self.events, self.catalog = shop

    def events_frame(
        self, since_ts: float | None = None, until_seq: int | None = None
    ) -> pl.DataFrame:
        return self.events

    def catalog_frame(self) -> pl.DataFrame:
        return self.catalog


def _bundle(shop: Shop, settings: dict[str, object]) -> Bundle:
    events, catalog = shop
    bundle, _ = build_bundle(events, catalog, TrainConfig.from_dict(settings))
    return bundle


def planted(bundle: Bundle, seed: int = 0, noise: float = 0.15) -> Bundle:
    """``bundle`` whose user factors are two known blobs: runners near e0, cooks near e1."""
    rng = np.random.default_rng(seed)
    ids = bundle.users.ids()
    factors = np.zeros((len(ids), 8), dtype=np.float32)
    for row, user in enumerate(ids):
        factors[row, 0 if user.startswith("run") else 1] = 1.0
    factors += (noise * rng.standard_normal(factors.shape)).astype(np.float32)
    behavior = bundle.behavior
    assert behavior.item_vectors is not None
    model = ALSModel.from_factors(
        bundle.config.behavior, factors, behavior.item_vectors, behavior.known_items
    )
    return dataclasses.replace(bundle, behavior=model)


@pytest.fixture(scope="module")
def shop() -> Shop:
    return make_shop()


@pytest.fixture(scope="module")
def shop_store(shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteStore]:
    """A real SQLite store holding the shop (read only by the tests)."""
    store = SQLiteStore(Home(tmp_path_factory.mktemp("insights") / "home").ensure().db_path)
    events, catalog = shop
    store.upsert_items(catalog)
    store.add_events(events)
    yield store
    store.close()


@pytest.fixture(scope="module")
def als_bundle(shop: Shop) -> Bundle:
    return _bundle(shop, ALS)


@pytest.fixture(scope="module")
def two_groups(als_bundle: Bundle, shop_store: SQLiteStore) -> Insights:
    """Insights over the planted behaviour vectors, k by the rule."""
    return shopper_segments(planted(als_bundle), shop_store, seed=0)


# ---------------------------------------------------------------------- clustering pieces
def test_silhouette_of_hand_computed_examples() -> None:
    assert silhouette(np.array([[0.0], [0.0], [1.0], [1.0]]), np.array([0, 0, 1, 1])) == 1.0
    # point 0: a = 1, b = 3 -> 2/3; point 1: a = 1, b = 2 -> 1/2; point 2 alone -> 0
    x = np.array([[0.0], [1.0], [3.0]])
    assert silhouette(x, np.array([0, 0, 1])) == pytest.approx((2 / 3 + 0.5 + 0) / 3)
    with pytest.raises(InvalidInputError):
        silhouette(x, np.array([0, 0, 0]))


def _blobs(k: int, per: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.eye(8)[:k] * 3.0
    truth = np.repeat(np.arange(k), per)
    return centers[truth] + 0.3 * rng.standard_normal((k * per, 8)), truth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kmeans_finds_planted_blobs_and_is_seeded(seed: int) -> None:
    x, truth = _blobs(3, 40, seed)
    labels, centers, inertia = kmeans(x, 3, np.random.default_rng(seed))
    assert centers.shape == (3, 8)
    assert inertia > 0
    # the same partition as the truth, up to the names of the clusters
    pairs = {(int(t), int(lab)) for t, lab in zip(truth, labels, strict=True)}
    assert len(pairs) == 3 and len({lab for _, lab in pairs}) == 3
    again, _, _ = kmeans(x, 3, np.random.default_rng(seed))
    assert np.array_equal(labels, again)


@pytest.mark.parametrize(("k", "seed"), [(2, 0), (3, 1), (5, 2)])
def test_rule_picks_the_number_of_planted_blobs(k: int, seed: int) -> None:
    x, _ = _blobs(k, 30, seed)
    chosen, rule, scores, size = choose_k(x, np.random.default_rng(seed), InsightsConfig())
    assert (chosen, rule, size) == (k, "silhouette", 30 * k)
    assert sorted(scores) == list(range(2, 9))
    assert scores[k] == max(scores.values())


def test_rule_scores_a_seeded_sample_of_at_most_sample_size() -> None:
    x, _ = _blobs(2, 100, 0)
    config = InsightsConfig(sample_size=50, k_max=4)
    first = choose_k(x, np.random.default_rng(3), config)
    assert first[0] == 2 and first[3] == 50 and sorted(first[2]) == [2, 3, 4]
    assert choose_k(x, np.random.default_rng(3), config) == first


def test_rule_with_too_few_distinct_vectors_gives_one_segment() -> None:
    same = np.ones((10, 4)) / 2.0
    assert choose_k(same, np.random.default_rng(0), InsightsConfig())[:2] == (
        1,
        "too_few_shoppers",
    )
    two = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert choose_k(two, np.random.default_rng(0), InsightsConfig())[0] == 1


# ------------------------------------------------------------------------- the segments
def test_two_planted_groups_give_k_2_and_their_sizes(two_groups: Insights) -> None:
    ins = two_groups
    assert ins.vectors == "behavior"
    assert (ins.k, ins.k_rule) == (2, "silhouette")
    assert ins.silhouette[2] == max(ins.silhouette.values())
    assert ins.silhouette[2] > 0.5
    assert ins.sample_size == 50
    assert (ins.shoppers, ins.shoppers_clustered) == (50, 50)
    assert [s.size for s in ins.segments] == [30, 20]
    assert [s.share for s in ins.segments] == pytest.approx([0.6, 0.4])
    assert [s.segment for s in ins.segments] == [1, 2]
    # runners: 2 purchases, 3 + 4 + 4 shoe views, socks, 3 map views (+ run0's book);
    # cooks: 2 purchases, 3 + 4 + 4 pan views, 3 plate views
    assert [s.events for s in ins.segments] == [30 * 17 + 1, 20 * 16]
    assert (ins.events_assigned, ins.events_unassigned) == (30 * 17 + 1 + 20 * 16, 0)
    assert ins.reference_ts == T0 + 28 * DAY  # the newest stored event, not the wall clock


def test_top_categories_by_event_share(two_groups: Insights) -> None:
    runners, cooks = two_groups.segments
    total = 30 * 17 + 1
    assert [(c.category, c.events) for c in runners.top_categories] == [
        ("Running", 30 * 13),
        ("Outdoor", 30 * 3),
        ("Socks", 30),
    ]  # Books (one view) is fourth: left out
    assert [c.share for c in runners.top_categories] == pytest.approx(
        [390 / total, 90 / total, 30 / total]
    )
    assert [(c.category, c.events) for c in cooks.top_categories] == [
        ("Kitchen", 20 * 13),
        ("Tableware", 20 * 3),
    ]


def test_price_band_of_purchases(two_groups: Insights) -> None:
    runners, cooks = two_groups.segments
    assert runners.price_band is not None and cooks.price_band is not None
    assert dataclasses.astuple(runners.price_band) == (20.0, 40.0, "EUR", "purchased", 60)
    assert dataclasses.astuple(cooks.price_band) == (100.0, 120.0, "EUR", "purchased", 40)


def test_price_band_falls_back_to_interacted_items(
    als_bundle: Bundle, shop_store: SQLiteStore, shop: Shop
) -> None:
    config = InsightsConfig(min_purchases_for_band=1000)
    ins = shopper_segments(planted(als_bundle), shop_store, config=config)
    band = ins.segments[0].price_band
    assert band is not None and band.basis == "interacted"
    events, catalog = shop
    prices = (
        events.filter(pl.col("user_id").str.starts_with("run"))
        .join(catalog, on="item_id")["price"]
        .to_numpy()
    )
    assert (band.low, band.high) == tuple(np.percentile(prices, [25, 75]))
    assert band.events == prices.size
    assert "items they interacted with" in ins.segments[0].description


def test_no_price_band_without_prices(als_bundle: Bundle, shop: Shop) -> None:
    events, catalog = shop
    unpriced = catalog.with_columns(pl.lit(None, dtype=pl.Float64).alias("price"))
    ins = shopper_segments(planted(als_bundle), Frames((events, unpriced)))
    assert all(s.price_band is None for s in ins.segments)
    assert "No prices are known" in ins.segments[0].description


def test_the_planted_rise_and_the_steady_segment(two_groups: Insights) -> None:
    runners, cooks = two_groups.segments
    # recent window: 4 shoe views + 2 map views per runner; previous: 4 shoe views
    assert (runners.recent_events, runners.previous_events) == (180, 120)
    assert runners.rising_status == "rising"
    assert [(r.kind, r.key, r.label) for r in runners.rising] == [
        ("category", "Outdoor", "Outdoor"),
        ("item", "o1", "Trail map"),
    ]
    assert [r.recent_events for r in runners.rising] == [60, 60]
    assert [r.recent_share for r in runners.rising] == pytest.approx([1 / 3, 1 / 3])
    assert [r.previous_share for r in runners.rising] == [0.0, 0.0]
    assert (cooks.recent_events, cooks.previous_events) == (100, 100)
    assert (cooks.rising_status, cooks.rising) == ("none", ())


def test_too_little_recent_data_says_so(als_bundle: Bundle, shop_store: SQLiteStore) -> None:
    strict = InsightsConfig(min_window_events=150)  # runners have 180/120, cooks 100/100
    ins = shopper_segments(planted(als_bundle), shop_store, config=strict)
    assert [s.rising_status for s in ins.segments] == ["too_little_data", "too_little_data"]
    assert all(s.rising == () for s in ins.segments)
    assert "Too little recent data" in ins.segments[0].description
    assert "180 events in the last 7 days and 120 in the 7 before" in ins.segments[0].description
    # `now` moves the windows: a month after the data, both are empty
    later = shopper_segments(planted(als_bundle), shop_store, now=T0 + 60 * DAY)
    assert later.reference_ts == T0 + 60 * DAY
    assert [(s.recent_events, s.previous_events) for s in later.segments] == [(0, 0), (0, 0)]
    assert {s.rising_status for s in later.segments} == {"too_little_data"}


def test_description_states_the_facts_and_nothing_else(two_groups: Insights) -> None:
    runners, cooks = two_groups.segments
    assert runners.description == (
        "30 shoppers (60% of 50), 511 events. "
        "Top categories by events: Running (76%), Outdoor (18%), Socks (6%). "
        "Middle half of the prices of what they bought: 20.00–40.00 EUR. "
        'Rising in the last 7 days against the 7 before: category "Outdoor" (33% of events, '
        'from 0%); item "Trail map" (33% of events, from 0%).'
    )
    assert "Kitchen (81%), Tableware (19%)" in cooks.description
    assert "100.00–120.00 EUR" in cooks.description
    assert "Nothing rose in the last 7 days against the 7 before." in cooks.description
    md = two_groups.markdown()
    assert md.startswith("# Shopper insights\n")
    assert "## Segment 1" in md and "## Segment 2" in md
    assert runners.description in md and cooks.description in md
    assert "k by the best silhouette on a sample of 50" in md


def test_every_number_in_a_description_is_a_computed_fact(two_groups: Insights) -> None:
    for seg in two_groups.segments:
        facts = {str(seg.size), str(two_groups.shoppers_clustered), str(seg.events), "7"}
        facts |= {f"{round(x * 100)}" for x in [seg.share]}
        facts |= {f"{round(c.share * 100)}" for c in seg.top_categories}
        for r in seg.rising:
            facts |= {f"{round(r.recent_share * 100)}", f"{round(r.previous_share * 100)}"}
        assert seg.price_band is not None
        facts |= {f"{seg.price_band.low:.2f}", f"{seg.price_band.high:.2f}"}
        numbers = re.findall(r"\d+(?:\.\d+)?", seg.description)
        assert set(numbers) <= facts, (numbers, facts)


def test_chinese_catalog_gets_chinese_descriptions() -> None:
    shop = make_shop(zh=True)
    bundle = planted(_bundle(shop, ALS))
    assert bundle.manifest["catalog_language"] == "zh"
    ins = shopper_segments(bundle, Frames(shop))
    assert ins.language == "zh"
    runners, cooks = ins.segments
    assert runners.description == (
        "30 位顾客（占 50 位的 60%），共 511 次行为。"
        "行为最多的品类：跑步（76%）、户外（18%）、袜子（6%）。"
        "所购商品价格的中间一半：20.00–40.00 CNY。"
        "近 7 天较此前 7 天上升：品类「户外」（占 33%，此前 0%）；"
        "商品「越野地图」（占 33%，此前 0%）。"
    )
    assert "厨房（81%）、餐具（19%）" in cooks.description
    assert "没有上升的品类或商品" in cooks.description
    md = ins.markdown()
    assert md.startswith("# 顾客洞察\n") and "## 分群 1" in md
    english = shopper_segments(bundle, Frames(shop), language="en")
    assert english.segments[0].description.startswith("30 shoppers (60% of 50)")


# ------------------------------------------------------------------ vectors and options
def test_real_als_factors_split_runners_from_cooks(
    als_bundle: Bundle, shop_store: SQLiteStore
) -> None:
    ins = shopper_segments(als_bundle, shop_store, k=2)
    assert (ins.vectors, ins.k_rule, ins.silhouette) == ("behavior", "given", {})
    assert [s.size for s in ins.segments] == [30, 20]
    assert [s.top_categories[0].category for s in ins.segments] == ["Running", "Kitchen"]


def test_model_without_user_factors_falls_back_to_category_shares(
    shop: Shop, shop_store: SQLiteStore
) -> None:
    ins = shopper_segments(_bundle(shop, ITEMKNN), shop_store)
    assert ins.vectors == "category_share"
    assert (ins.k, ins.k_rule) == (2, "silhouette")
    assert [s.size for s in ins.segments] == [30, 20]
    assert [s.top_categories[0].category for s in ins.segments] == ["Running", "Kitchen"]
    assert "category shares" in ins.markdown()


def test_same_seed_same_result_and_json_safe(als_bundle: Bundle, shop_store: SQLiteStore) -> None:
    bundle = planted(als_bundle)
    first = shopper_segments(bundle, shop_store, seed=5).to_dict()
    assert shopper_segments(bundle, shop_store, seed=5).to_dict() == first
    text = json.dumps(first, allow_nan=False, ensure_ascii=False)
    back = json.loads(text)
    assert back["k"] == 2 and back["silhouette"]["2"] > 0.5
    assert back["reference_time"] == "2023-12-12T22:13:20+00:00"
    assert back["segments"][0]["price_band"] == {
        "low": 20.0,
        "high": 40.0,
        "currency": "EUR",
        "basis": "purchased",
        "events": 60,
    }
    assert back["segments"][0]["rising"][0]["label"] == "Outdoor"


def test_restarts_on_a_sample_then_one_run_over_everyone(
    als_bundle: Bundle, shop_store: SQLiteStore
) -> None:
    config = InsightsConfig(fit_sample_size=12)  # 50 shoppers: restarts on 12 of them
    ins = shopper_segments(planted(als_bundle), shop_store, config=config)
    assert (ins.k, [s.size for s in ins.segments]) == (2, [30, 20])


def test_given_k(als_bundle: Bundle, shop_store: SQLiteStore) -> None:
    ins = shopper_segments(planted(als_bundle), shop_store, k=3)
    assert (ins.k, ins.k_rule, len(ins.segments)) == (3, "given", 3)
    sizes = [s.size for s in ins.segments]
    assert sum(sizes) == 50 and sizes == sorted(sizes, reverse=True)
    one = shopper_segments(planted(als_bundle), shop_store, k=1)
    assert [s.size for s in one.segments] == [50]


@pytest.mark.parametrize("k", [0, 51, True, 2.0])
def test_bad_k_is_refused(als_bundle: Bundle, shop_store: SQLiteStore, k: object) -> None:
    with pytest.raises(InvalidInputError, match="k="):
        shopper_segments(als_bundle, shop_store, k=k)  # type: ignore[arg-type]


def test_bad_options_are_refused(als_bundle: Bundle, shop_store: SQLiteStore) -> None:
    with pytest.raises(InvalidInputError, match="seed"):
        shopper_segments(als_bundle, shop_store, seed=-1)
    with pytest.raises(InvalidInputError, match="language"):
        shopper_segments(als_bundle, shop_store, language="fr")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="k_min"):
        InsightsConfig(k_min=1)
    with pytest.raises(InvalidInputError, match="rising_ratio"):
        InsightsConfig(rising_ratio=1.0)


def test_k_above_the_shoppers_is_refused() -> None:
    small = make_shop(n_run=3, n_cook=2)
    with pytest.raises(InvalidInputError, match="only 5 shoppers"):
        shopper_segments(_bundle(small, ALS), Frames(small), k=6)


def test_tiny_shop_gets_one_segment() -> None:
    tiny = make_shop(n_run=1, n_cook=1)
    ins = shopper_segments(_bundle(tiny, ALS), Frames(tiny))
    assert (ins.k, ins.k_rule) == (1, "too_few_shoppers")
    assert [s.size for s in ins.segments] == [2]


def test_shoppers_without_a_vector_are_left_out(
    als_bundle: Bundle, shop_store: SQLiteStore
) -> None:
    """An erased shopper's row is empty (recsys.scrub): no vector, events not counted."""
    bundle = planted(als_bundle)
    rows = bundle.user_items.tolil()
    gone = bundle.users.index("run0")
    rows[gone, :] = 0
    emptied = sp.csr_matrix(rows)
    emptied.eliminate_zeros()
    ins = shopper_segments(dataclasses.replace(bundle, user_items=emptied), shop_store)
    assert (ins.shoppers, ins.shoppers_clustered) == (50, 49)
    assert [s.size for s in ins.segments] == [29, 20]
    assert ins.events_unassigned == 18  # run0's 17 events and the book view


def test_no_events_no_segments_facts(als_bundle: Bundle, shop: Shop) -> None:
    _, catalog = shop
    empty = pl.DataFrame(
        schema={"user_id": pl.String, "item_id": pl.String, "type": pl.String, "ts": pl.Float64}
    )
    ins = shopper_segments(planted(als_bundle), Frames((empty, catalog)))
    assert ins.reference_ts is None and ins.k == 2
    assert all(s.events == 0 and s.top_categories == () for s in ins.segments)
    assert all(s.rising_status == "too_little_data" for s in ins.segments)
    json.dumps(ins.to_dict(), allow_nan=False)


# ----------------------------------------------------------------------------- the CLI
def _home_with(tmp_path: Path, shop: Shop, settings: dict[str, object]) -> Home:
    home = Home(tmp_path / "home").ensure()
    events, catalog = shop
    store = SQLiteStore(home.db_path)
    try:
        store.upsert_items(catalog)
        store.add_events(events)
    finally:
        store.close()
    publish(home.artifacts, write_bundle(home.artifacts, _bundle(shop, settings)))
    return home


def _run(home: Home, *args: str) -> None:
    main(["--home", str(home.root), *args])


def _fails(home: Home, *args: str) -> int:
    with pytest.raises(SystemExit) as info:
        _run(home, *args)
    return int(info.value.code)  # type: ignore[arg-type]


def test_cli_insights_json_and_markdown(
    tmp_path: Path, shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    home = _home_with(tmp_path, shop, ITEMKNN)
    _run(home, "insights", "--json")
    data = json.loads(capsys.readouterr().out)
    assert (data["k"], data["k_rule"], data["vectors"]) == (2, "silhouette", "category_share")
    assert [s["size"] for s in data["segments"]] == [30, 20]
    assert data["segments"][0]["rising"][0]["key"] == "Outdoor"
    _run(home, "insights", "--k", "3", "--seed", "4")
    out = capsys.readouterr().out
    assert out.startswith("# Shopper insights\n")
    assert "## Segment 3" in out and "k as given" in out
    _run(home, "insights", "--lang", "zh")
    assert "# 顾客洞察" in capsys.readouterr().out


def test_cli_insights_errors(
    tmp_path: Path, shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = Home(tmp_path / "empty").ensure()
    assert _fails(empty, "insights") == 1  # no bundle published
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "recsys train" in err and "\n" not in err
    small = _home_with(tmp_path, make_shop(n_run=3, n_cook=2), ITEMKNN)
    assert _fails(small, "insights", "--k", "6") == 2
    assert "only 5 shoppers" in capsys.readouterr().err
    assert _fails(small, "insights", "--k", "0") == 2
    assert _fails(small, "insights", "--lang", "fr") == 2
