"""The synthetic zh-shop: catalog, translations, simulated shoppers, registration and CLI."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest

from recsys.cli import main
from recsys.datasets import DATASETS, load_dataset
from recsys.datasets.zh_shop import (
    CATEGORIES,
    DAY,
    START_TS,
    SYNTHETIC_NOTE,
    zh_catalog,
    zh_shop,
    zh_translations,
)
from recsys.errors import InvalidInputError
from recsys.home import Home
from recsys.store import SQLiteStore
from recsys.types import EVENT_TYPES

CJK = re.compile(r"[\u4e00-\u9fff]")
CATALOG_SCHEMA = {
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
EVENT_SCHEMA = {
    "user_id": pl.String,
    "item_id": pl.String,
    "type": pl.String,
    "ts": pl.Float64,
    "session_id": pl.String,
}
END_TS = START_TS + 60 * DAY  # the default period: 60 days


@pytest.fixture(scope="module")
def shop() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The default-size frames (built once: about half a second)."""
    return zh_shop()


@pytest.fixture(scope="module")
def translations() -> pl.DataFrame:
    return zh_translations()


def _type_counts(events: pl.DataFrame) -> dict[str, int]:
    counts = events.group_by("type").len()
    return dict(zip(counts["type"].to_list(), counts["len"].to_list(), strict=True))


# ---------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_frames() -> None:
    events_a, catalog_a = zh_shop(seed=3, n_users=60)
    events_b, catalog_b = zh_shop(seed=3, n_users=60)
    assert events_a.equals(events_b)
    assert catalog_a.equals(catalog_b)
    assert zh_translations(seed=3).equals(zh_translations(seed=3))


def test_another_seed_gives_other_frames() -> None:
    events_a, catalog_a = zh_shop(seed=3, n_users=60)
    events_b, catalog_b = zh_shop(seed=4, n_users=60)
    assert not events_a.equals(events_b)
    assert not catalog_a.equals(catalog_b)


def test_catalog_does_not_depend_on_the_number_of_shoppers(
    shop: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    _, catalog = shop
    assert catalog.equals(zh_catalog())
    assert zh_shop(n_users=5)[1].equals(catalog)


# ---------------------------------------------------------------------------- catalog
def test_catalog_schema_matches_the_store(shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    _, catalog = shop
    assert dict(catalog.schema) == CATALOG_SCHEMA
    assert catalog.null_count().sum_horizontal().item() == 0


def test_catalog_size_and_categories(shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    _, catalog = shop
    assert catalog.height == 360
    per_category = catalog.group_by("category").len()
    assert per_category.height == 15
    assert per_category["len"].to_list() == [24] * 15
    assert set(per_category["category"]) == {c.name.zh for c in CATEGORIES}


def test_ids_and_titles_are_unique(shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    _, catalog = shop
    assert catalog["item_id"].n_unique() == 360
    assert catalog["title"].n_unique() == 360
    assert catalog["item_id"][0] == "sku0001"
    assert catalog["item_id"][-1] == "sku0360"


def test_texts_are_chinese(shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    _, catalog = shop
    for column in ("title", "description", "category"):
        assert all(CJK.search(text) for text in catalog[column]), column
    # two sentences: "采用…，…。…，适合…。"
    assert all(d.startswith("采用") and d.count("。") == 2 for d in catalog["description"])


def test_prices_attributes_and_stock(shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    _, catalog = shop
    assert set(catalog["currency"]) == {"CNY"}
    prices = catalog["price"].to_numpy()
    assert prices.min() >= 9.9
    assert prices.max() <= 1299 * 1.3
    assert 0.85 <= catalog["in_stock"].to_numpy().mean() < 1.0
    for title, raw in catalog.select("title", "attributes").iter_rows():
        attrs = json.loads(raw)
        assert attrs["product_type"] in title  # the Chinese noun of the product kind
        assert title.startswith(attrs["品牌"] + " ")
        if "规格" in attrs:
            assert title.endswith(" " + attrs["规格"])


def test_products_of_a_kind_differ_in_features(shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    _, catalog = shop
    kinds = catalog.with_columns(
        pl.col("attributes").str.json_path_match("$.product_type").alias("kind")
    )
    per_kind = kinds.group_by("category", "kind").agg(pl.len(), pl.col("title").n_unique())
    assert per_kind.height >= 45  # 3–4 kinds in each of the 15 categories
    assert (per_kind["len"] == per_kind["title"]).all()
    assert per_kind["len"].to_numpy().min() >= 6


def test_running_shoes_read_like_a_listing(shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    _, catalog = shop
    shoes = catalog.filter(pl.col("title").str.ends_with("跑步鞋"))
    pattern = re.compile(
        r"^(跃步|疾风|踏云|飞驰) (轻便透气|缓震回弹|碳板竞速|防滑耐磨)(男士|女士|中性)跑步鞋$"
    )
    assert shoes.height >= 6
    assert all(pattern.match(t) for t in shoes["title"])
    assert (shoes["category"] == "运动鞋").all()


# ---------------------------------------------------------------------------- translations
def test_exactly_a_third_is_translated(
    shop: tuple[pl.DataFrame, pl.DataFrame], translations: pl.DataFrame
) -> None:
    _, catalog = shop
    assert translations.columns == ["item_id", "title_en", "description_en", "category_en"]
    assert translations.height == catalog.height // 3 == 120
    assert translations["item_id"].n_unique() == 120
    assert set(translations["item_id"]) <= set(catalog["item_id"])
    per_category = translations.group_by("category_en").len()
    assert per_category["len"].to_list() == [8] * 15


def test_translations_are_english(translations: pl.DataFrame) -> None:
    for column in ("title_en", "description_en", "category_en"):
        for text in translations[column]:
            assert not CJK.search(text), text
            assert all(ch.isascii() for ch in text if ch.isalpha()), text
            assert re.search(r"[A-Za-z]{3}", text), text
    assert all(d.startswith("Made with ") for d in translations["description_en"])
    assert translations["title_en"].n_unique() == 120


def test_translations_say_what_the_chinese_says(
    shop: tuple[pl.DataFrame, pl.DataFrame], translations: pl.DataFrame
) -> None:
    _, catalog = shop
    category_en = {c.name.zh: c.name.en for c in CATEGORIES}
    brand_en = {b.zh: b.en for c in CATEGORIES for b in c.brands}
    kind_en = {k.name.zh: k.name.en for c in CATEGORIES for k in c.kinds}
    spec_en = {s.zh: s.en for c in CATEGORIES for k in c.kinds for s in k.specs}
    joined = translations.join(catalog, on="item_id")
    for row in joined.iter_rows(named=True):
        attrs = json.loads(row["attributes"])
        assert row["category_en"] == category_en[row["category"]]
        assert row["title_en"].startswith(brand_en[attrs["品牌"]] + " ")
        assert kind_en[attrs["product_type"]].lower() in row["title_en"].lower()
        if "规格" in attrs:
            assert row["title_en"].endswith(", " + spec_en[attrs["规格"]])


def test_a_known_translation_pair() -> None:
    catalog = zh_catalog().join(zh_translations(), on="item_id")
    row = catalog.filter(pl.col("title") == "踏云 轻量低帮男士篮球鞋").row(0, named=True)
    assert row["title_en"] == "Tayun Lightweight Low-Top Men's Basketball Shoes"
    assert row["description"] == "采用透气网布鞋面，鞋底回弹有力。白色款，适合室内外篮球实战。"
    assert row["description_en"] == (
        "Made with breathable mesh uppers; the soles are springy and responsive. "
        "In white, ideal for indoor and outdoor basketball games."
    )


# ---------------------------------------------------------------------------- shoppers
def test_event_frame_shape(shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, catalog = shop
    assert dict(events.schema) == EVENT_SCHEMA
    assert set(events["type"]) == set(EVENT_TYPES)
    assert events["user_id"].n_unique() == 1500
    assert events["user_id"].min() == "u0001"
    assert events["user_id"].max() == "u1500"
    assert set(events["item_id"]) <= set(catalog["item_id"])
    assert events.equals(events.sort(["user_id", "ts"], maintain_order=True))
    ts = events["ts"].to_numpy()
    assert ts.min() >= START_TS and ts.max() < END_TS
    assert (events["ts"] == events["ts"].round(0)).all()  # whole Unix seconds
    assert (
        events.select(pl.col("session_id").str.starts_with(pl.col("user_id") + "-s"))
        .to_series()
        .all()
    )
    assert events.is_duplicated().sum() == 0  # the store's natural key never repeats


def test_funnel_rates(shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    counts = _type_counts(shop[0])
    assert 20_000 <= counts["view"] <= 35_000
    assert 0.08 <= counts["add_to_cart"] / counts["view"] <= 0.12
    assert 0.30 <= counts["purchase"] / counts["add_to_cart"] <= 0.50
    assert 0.03 <= counts["purchase"] / counts["view"] <= 0.05
    assert 0.2 <= counts["click"] / counts["view"] <= 0.4


def test_carts_follow_views_and_purchases_follow_carts(
    shop: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    events, _ = shop
    first = events.group_by("session_id", "item_id", "type").agg(pl.col("ts").min())
    wide = first.pivot(on="type", index=["session_id", "item_id"], values="ts")
    carts = wide.filter(pl.col("add_to_cart").is_not_null())
    assert (carts["view"] <= carts["add_to_cart"]).all()
    bought = wide.filter(pl.col("purchase").is_not_null())
    assert bought["add_to_cart"].null_count() == 0
    assert (bought["add_to_cart"] < bought["purchase"]).all()
    # one cart and at most one purchase per item and session
    per = events.filter(pl.col("type") != "view", pl.col("type") != "click")
    assert per.group_by("session_id", "item_id", "type").len()["len"].max() == 1


def test_no_event_before_launch(shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, catalog = shop
    joined = events.join(catalog.select("item_id", "updated_at"), on="item_id")
    assert joined.filter(pl.col("ts") < pl.col("updated_at")).height == 0


def test_new_items_launch_in_the_last_quarter(shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, catalog = shop
    last_quarter = START_TS + 45 * DAY
    new = catalog.filter(pl.col("updated_at") >= START_TS)
    assert new.height == 54  # 15% of 360
    assert (new["updated_at"] >= last_quarter).all() and (new["updated_at"] < END_TS).all()
    old = catalog.filter(pl.col("updated_at") < START_TS)
    assert old["updated_at"].to_numpy().min() >= START_TS - 365 * DAY
    # a time split at the last quarter finds them cold: no training event, but test events
    train = events.filter(pl.col("ts") < last_quarter)
    test = events.filter(pl.col("ts") >= last_quarter)
    new_ids = set(new["item_id"])
    assert not new_ids & set(train["item_id"])
    assert len(new_ids & set(test["item_id"])) >= 45


def test_popularity_is_skewed(shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    views = shop[0].filter(pl.col("type") == "view").group_by("item_id").len()
    top = views.sort("len", descending=True)["len"].to_numpy()
    assert top[:36].sum() / top.sum() > 0.3  # the top 10% of products: over 30% of views


def test_shoppers_stay_in_their_categories(shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, catalog = shop
    views = events.filter(pl.col("type") == "view").join(
        catalog.select("item_id", "category"), on="item_id"
    )
    per_user = views.group_by("user_id").agg(pl.col("category").n_unique(), pl.len())
    busy = per_user.filter(pl.col("len") >= 20)
    assert busy.height > 100
    assert float(busy["category"].to_numpy().mean()) <= 5  # 1–3 favourites, and a little exploring


def test_evening_rhythm(shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    starts = shop[0].group_by("session_id").agg(pl.col("ts").min())
    hours = ((starts["ts"] + 8 * 3600) % 86_400 // 3600).cast(pl.Int64)  # Asia/Shanghai
    counts = hours.value_counts().sort("count", descending=True)
    assert counts["ts"][0] in (19, 20, 21, 22)
    night = hours.is_between(2, 5).sum()
    evening = hours.is_between(19, 22).sum()
    assert evening > 10 * night


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"seed": -1}, "seed"),
        ({"n_users": 0}, "n_users"),
        ({"days": 0}, "days"),
        ({"n_users": True}, "n_users"),
    ],
)
def test_rejects_bad_arguments(kwargs: dict[str, int], name: str) -> None:
    with pytest.raises(InvalidInputError, match=name):
        zh_shop(**kwargs)


# ---------------------------------------------------------------------------- registration
def test_load_dataset_returns_the_frames(shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    assert "zh-shop" in DATASETS
    events, catalog = load_dataset("zh-shop")
    assert events.equals(shop[0])
    assert catalog.equals(shop[1])


def test_synthetic_note_says_so() -> None:
    assert SYNTHETIC_NOTE.startswith("zh-shop is synthetic")


def test_load_demo_cli(
    home: Home, capsys: pytest.CaptureFixture[str], shop: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    main(["--home", str(home.root), "load-demo", "--dataset", "zh-shop"])
    out = capsys.readouterr().out.splitlines()
    events, _ = shop
    assert out[0].startswith(f"zh-shop: 360 catalog items, {events.height} new events (0 already")
    assert out[1] == SYNTHETIC_NOTE
    with SQLiteStore(home.db_path) as store:
        item = store.get_item("sku0001")
        assert item is not None
        assert item["currency"] == "CNY"
        assert CJK.search(item["title"])
        assert store.count_events() == events.height
