"""The synthetic zh-shop: catalog, translations, simulated shoppers, registration and CLI."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator

import numpy as np
import polars as pl
import pytest

from recsys.cli import main
from recsys.datasets import DATASETS, load_dataset
from recsys.datasets.zh_shop import (
    CATEGORIES,
    DAY,
    PRICE_TIERS,
    PRODUCTS_PER_CATEGORY,
    START_TS,
    SYNTHETIC_NOTE,
    Category,
    Term,
    zh_catalog,
    zh_shop,
    zh_tastes,
    zh_translations,
)
from recsys.errors import InvalidInputError
from recsys.home import Home
from recsys.store import SQLiteStore
from recsys.store.schema import EVENT_SCHEMA, ITEM_SCHEMA
from recsys.types import EVENT_TYPES

CJK = re.compile(r"[\u4e00-\u9fff]")
END_TS = START_TS + 60 * DAY  # the default period: 60 days


@pytest.fixture(scope="module")
def shop() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The default-size frames (built once: about half a second)."""
    return zh_shop()


@pytest.fixture(scope="module")
def translations() -> pl.DataFrame:
    return zh_translations()


@pytest.fixture(scope="module")
def catalogs() -> pl.DataFrame:
    """Catalogs of several seeds, one frame (what the word lists allow, not one lucky draw)."""
    frames = [zh_catalog(seed=seed).with_columns(seed=pl.lit(seed)) for seed in range(8)]
    return pl.concat(frames).with_columns(
        kind=pl.col("attributes").str.json_path_match("$.product_type"),
        spec=pl.col("attributes").str.json_path_match("$.规格").fill_null(""),
    )


def _with_kind(catalog: pl.DataFrame) -> pl.DataFrame:
    return catalog.with_columns(
        kind=pl.col("attributes").str.json_path_match("$.product_type"),
        audience=pl.col("attributes").str.json_path_match("$.适用人群").fill_null(""),
    )


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
    assert dict(catalog.schema) == ITEM_SCHEMA
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
    assert all(d.count("适合") == 1 for d in catalog["description"])


def test_prices_attributes_and_stock(shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    _, catalog = shop
    assert set(catalog["currency"]) == {"CNY"}
    prices = catalog["price"].to_numpy()
    assert prices.min() >= 9.9
    assert prices.max() <= 2500
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
    assert all(d.startswith(("Made with ", "Features ")) for d in translations["description_en"])
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
    row = catalog.filter(pl.col("title") == "星源 磁吸手机壳 适用华为Mate 60").row(0, named=True)
    assert row["title_en"] == "Xingyuan Magnetic Phone Case, for Huawei Mate 60"
    assert row["description"] == "采用内置强磁圈，磁力强、吸附稳。白色款，适合搭配磁吸配件使用。"
    assert row["description_en"] == (
        "Features a built-in magnet ring; the strong magnets hold firmly. "
        "In white, ideal for use with magnetic accessories."
    )


def _terms(node: object) -> Iterator[Term]:
    """Every Term inside a category's word lists (dataclasses and tuples, recursively)."""
    if isinstance(node, Term):
        yield node
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for field in dataclasses.fields(node):
            yield from _terms(getattr(node, field.name))
    elif isinstance(node, tuple):
        for item in node:
            yield from _terms(item)


def _twins(category: Category) -> dict[str, set[str]]:
    """Chinese -> English of every part of a category, variants also as the descriptions say."""
    terms = list(_terms(category))
    twins: dict[str, set[str]] = {}
    for term in terms:
        twins.setdefault(term.zh, set()).add(term.en)
    fmts = {category.variant_fmt} | {k.variant_fmt for k in category.kinds if k.variant_fmt}
    for fmt in fmts:
        for term in terms:
            en = fmt.en.format(term.en)
            twins.setdefault(fmt.zh.format(term.zh), set()).add(en[:1].upper() + en[1:])
    return twins


ZH_DESCRIPTION = re.compile(r"^采用(.+?)，(.+?)。(.+?)，适合(.+?)。$")
EN_DESCRIPTION = re.compile(r"^(Made with|Features) (.+?); (.+?)\. (.+?), ideal for (.+)\.$")


def test_translations_parse_into_the_twins_of_the_chinese_parts(
    shop: tuple[pl.DataFrame, pl.DataFrame], translations: pl.DataFrame
) -> None:
    """Material, highlight, variant and use of each description map to their English twins."""
    _, catalog = shop
    twins = {c.name.zh: _twins(c) for c in CATEGORIES}
    leads = {t.zh: t.lead or "Made with" for c in CATEGORIES for t in _terms(c)}
    joined = _with_kind(translations.join(catalog, on="item_id"))
    for row in joined.iter_rows(named=True):
        zh = ZH_DESCRIPTION.match(row["description"])
        en = EN_DESCRIPTION.match(row["description_en"])
        assert zh and en, (row["description"], row["description_en"])
        cat_twins = twins[row["category"]]
        assert en.group(1) == leads[zh.group(1)]
        for zh_part, en_part in zip(zh.groups(), en.groups()[1:], strict=True):
            assert en_part in cat_twins[zh_part], (zh_part, en_part)
        # the title: brand, feature, audience, kind, spec; the feature is what is left
        attrs = json.loads(row["attributes"])
        head = row["title"].split(" ")[1]
        feature = head.removesuffix(row["kind"]).removesuffix(row["audience"])
        assert feature and feature + row["audience"] + row["kind"] == head
        assert any(t.lower() in row["title_en"].lower() for t in cat_twins[feature]), row
        if row["audience"]:
            assert any(t.lower() in row["title_en"].lower() for t in cat_twins[row["audience"]])
        assert attrs["品牌"] in row["title"]


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
    assert top[:36].sum() / top.sum() > 0.25  # the top 10% of products: over a quarter of views


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


# ---------------------------------------------------------------------------- word lists
def test_word_lists_are_consistent() -> None:
    """Every restriction names a real spec or audience, and every kind has enough products."""
    for cat in CATEGORIES:
        assert len(cat.brands) == 4
        for kind in cat.kinds:
            specs = {s.zh for s in kind.specs}
            audiences = {a.zh for a in kind.audiences or cat.audiences}
            for per_spec in (kind.spec_variants, kind.spec_uses):
                assert not per_spec or len(per_spec) == len(kind.specs), kind.name
            assert {a for a, _ in kind.audience_uses + cat.audience_uses} <= audiences
            combos = 0
            for feature in kind.features:
                assert set(feature.specs) <= specs, feature.name
                assert feature.audiences is None or set(feature.audiences) <= audiences
                n_specs = len(feature.specs) or max(1, len(specs))
                combos += n_specs * len(
                    audiences if feature.audiences is None else feature.audiences
                )
            assert combos * len(cat.brands) >= PRODUCTS_PER_CATEGORY // len(cat.kinds) + 1


# ---------------------------------------------------------------------------- copy that agrees
def _descriptions(catalogs: pl.DataFrame, title: str) -> pl.DataFrame:
    return catalogs.filter(pl.col("title").str.contains(title, literal=True))


def test_over_ear_headphones_have_big_drivers(catalogs: pl.DataFrame) -> None:
    over_ear = catalogs.filter(pl.col("kind") == "头戴式耳机")
    assert over_ear.height >= 40
    assert not over_ear["description"].str.contains("13毫米").any()
    sizes = over_ear["description"].str.extract(r"(\d+)毫米", 1).drop_nulls().cast(pl.Int64)
    assert sizes.len() > 0 and sizes.min() >= 40
    bone = catalogs.filter(pl.col("kind") == "骨传导运动耳机")
    assert not bone["description"].str.contains("低音").any()  # bone conduction: no deep bass


def test_shoe_features_have_their_own_materials_and_uses(catalogs: pl.DataFrame) -> None:
    carbon = _descriptions(catalogs, "碳板竞速")
    assert carbon.height >= 10
    assert carbon["description"].str.contains("碳纤维板").all()
    assert not carbon["description"].str.contains("超纤皮革|日常慢跑").any()
    assert not _descriptions(catalogs, "轻便透气")["description"].str.contains("皮革").any()
    waterproof = _descriptions(catalogs, "防水防滑")
    assert waterproof.height >= 10 and not waterproof["description"].str.contains("网布").any()


def test_round_chopping_boards_have_a_diameter(catalogs: pl.DataFrame) -> None:
    boards = catalogs.filter(pl.col("kind") == "砧板")
    round_ = boards.filter(pl.col("description").str.contains("圆形"))
    assert round_.height >= 5
    assert round_["spec"].str.starts_with("直径").all()
    assert not round_["title"].str.contains("×").any()
    assert (
        boards.filter(pl.col("spec").str.contains("×"))["description"].str.contains("长方形").all()
    )
    assert not catalogs["description"].str.contains("乌檀").any()  # 乌檀 is not ebony


def test_phone_cases_agree_with_their_feature(catalogs: pl.DataFrame) -> None:
    cases = catalogs.filter(pl.col("kind") == "手机壳")
    magnetic = cases["description"].str.contains("磁吸配件")
    assert magnetic.any()
    assert cases.filter(magnetic)["title"].str.contains(" 磁吸手机壳").all()
    clear = cases.filter(pl.col("title").str.contains("透明"))
    assert clear.height >= 5
    assert clear["description"].str.contains("。(透明|透黑)款").all()
    assert not catalogs["description"].str.contains("远峰蓝|深空灰").any()


def test_skincare_suits_the_skin_type(catalogs: pl.DataFrame) -> None:
    skin = catalogs.filter(pl.col("category") == "护肤品")
    assert (
        not skin.filter(pl.col("title").str.contains("控油"))["description"]
        .str.contains("干性肌肤")
        .any()
    )
    retinol = skin.filter(pl.col("title").str.contains("视黄醇"))
    assert retinol.height >= 5 and not retinol["description"].str.contains("敏感肌肤").any()
    cleansers = skin.filter(pl.col("kind") == "洗面奶")
    assert not cleansers["description"].str.contains("吸收|面霜").any()


def test_toys_suit_the_age(catalogs: pl.DataFrame) -> None:
    toys = catalogs.filter(pl.col("category") == "儿童玩具")
    plush = toys.filter(pl.col("kind") == "毛绒玩具")
    assert not plush["description"].str.contains("圆角").any()
    assert (
        not plush.filter(pl.col("title").str.contains("大号抱枕"))["spec"].is_in(["30厘米"]).any()
    )
    assert (toys.filter(pl.col("title").str.contains("大颗粒"))["spec"] == "2-6岁").all()
    assert not toys.filter(pl.col("title").str.contains("早教"))["spec"].is_in(["6岁以上"]).any()
    older = toys.filter(pl.col("spec").is_in(["6岁以上", "8岁以上"]))
    assert older.height >= 20 and not older["description"].str.contains("幼儿园|早教").any()
    assert not catalogs["description"].str.contains("适合生日礼物").any()
    pieces = toys.filter(pl.col("kind").is_in(["积木", "拼图"]))
    assert pieces["description"].str.contains(r"。共\d+(片|颗粒)，").all()  # piece counts
    # more pieces for older children
    counts = pieces.with_columns(n=pl.col("description").str.extract(r"共(\d+)", 1).cast(pl.Int64))
    assert counts.filter(pl.col("spec").is_in(["1-3岁", "2-6岁"]))["n"].max() <= 120
    assert counts.filter(pl.col("spec") == "6岁以上")["n"].min() >= 100


def test_dorm_bedding_fits_a_dorm_bed(catalogs: pl.DataFrame) -> None:
    sets = catalogs.filter(pl.col("kind") == "四件套")
    dorm = sets["description"].str.contains("宿舍")
    assert dorm.any()
    assert (sets.filter(dorm)["spec"] == "1.2米床").all()


def test_tea_and_camping_copy_agree_with_the_feature(catalogs: pl.DataFrame) -> None:
    ripe = _descriptions(catalogs, "熟茶")
    assert ripe.height >= 5 and not ripe["description"].str.contains("鲜叶").any()
    puer = catalogs.filter(pl.col("kind") == "普洱茶饼")
    assert puer["description"].str.contains("。(棉纸包装|礼盒装|木盒装)，").all()
    quick = catalogs["description"].str.contains("一分钟")
    assert catalogs.filter(quick)["title"].str.contains("全自动速开").all()
    assert not _descriptions(catalogs, "全自动速开")["spec"].is_in(["5-8人"]).any()
    bags = catalogs.filter(pl.col("kind") == "睡袋")
    assert not bags["description"].str.contains("野餐").any()


def test_smaller_slips_are_gone(catalogs: pl.DataFrame) -> None:
    descriptions = catalogs["description"]
    assert not _descriptions(catalogs, "三合一")["description"].str.contains("二合一").any()
    assert _descriptions(catalogs, "无添加每日坚果")["description"].str.contains("。原味，").all()
    assert not _descriptions(catalogs, "泰国芒果干")["description"].str.contains("台农").any()
    assert not catalogs.filter(pl.col("kind") == "菜刀")["description"].str.contains("送礼").any()
    assert not _descriptions(catalogs, "四季通用")["description"].str.contains("冬季").any()
    power = catalogs["title"].filter(catalogs["title"].str.contains("毫安"))
    assert power.len() > 0 and power.str.contains(r"\d毫安时$").all()
    assert not descriptions.str.contains("大容量.*350毫升").any()
    brands = set(catalogs["attributes"].str.json_path_match("$.品牌"))
    assert not brands & {"三只熊", "良品铺", "小飞象", "雪肌", "汪星", "喵乐"}


def test_english_does_not_say_made_with_a_chip(translations: pl.DataFrame) -> None:
    made_with = translations.filter(pl.col("description_en").str.starts_with("Made with"))
    assert (
        not made_with["description_en"]
        .str.contains(r"^Made with [^;]*(chip|formula|structure|liner|drivers|frame|shell|case)\b")
        .any()
    )


def test_prices_follow_the_feature(catalogs: pl.DataFrame) -> None:
    def prices(title: str) -> np.ndarray:
        return _descriptions(catalogs, title)["price"].to_numpy()

    assert prices("碳板竞速").min() >= 390  # twice the running shoes' floor
    assert np.median(prices("碳板竞速")) > 1.5 * np.median(prices("轻便透气"))
    assert prices("全自动速开").max() < 800  # pop-up tents are cheap
    assert prices("羽绒睡袋").min() >= 190
    assert np.median(prices("冰岛")) > np.median(prices("勐海"))


# ---------------------------------------------------------------------------- stock and sessions
def test_out_of_stock_items_are_never_carted_or_bought(
    shop: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    events, catalog = shop
    joined = events.join(catalog.select("item_id", "in_stock"), on="item_id")
    assert catalog["in_stock"].not_().sum() >= 15
    gone = joined.filter(~pl.col("in_stock"))
    assert gone.filter(pl.col("type").is_in(["add_to_cart", "purchase"])).height == 0
    views = joined.filter(pl.col("type") == "view")
    assert 0 < gone.filter(pl.col("type") == "view").height < 0.03 * views.height  # rarely seen


def test_a_session_views_an_item_once(shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    views = shop[0].filter(pl.col("type").is_in(["view", "click"]))
    assert views.group_by("session_id", "item_id", "type").len()["len"].max() == 1


# ---------------------------------------------------------------------------- tastes
@pytest.fixture(scope="module")
def tastes() -> pl.DataFrame:
    return zh_tastes()


def test_tastes_frame(tastes: pl.DataFrame, shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    _, catalog = shop
    assert tastes.columns == [
        "user_id", "category", "weight", "kind", "audience", "price_tier", "price_sensitivity",
    ]  # fmt: skip
    assert tastes["user_id"].n_unique() == 1500
    per_user = tastes.group_by("user_id").agg(pl.len(), pl.col("weight").sum())
    assert per_user["len"].is_between(1, 3).all()
    assert np.allclose(per_user["weight"].to_numpy(), 1.0)
    assert set(tastes["price_tier"]) == set(PRICE_TIERS)
    kinds = _with_kind(catalog).select("category", "kind", "audience").unique()
    # every preferred kind and audience exists in that category
    assert tastes.join(kinds, on=["category", "kind"], how="anti").height == 0
    assert tastes.join(kinds, on=["category", "kind", "audience"], how="anti").height == 0
    assert tastes.filter(pl.col("user_id") <= "u0020").equals(zh_tastes(n_users=20))
    assert tastes.equals(zh_tastes())


def test_tastes_reject_bad_arguments() -> None:
    with pytest.raises(InvalidInputError, match="n_users"):
        zh_tastes(n_users=0)
    with pytest.raises(InvalidInputError, match="seed"):
        zh_tastes(seed=-1)


def test_purchases_go_to_the_preferred_kind(
    shop: tuple[pl.DataFrame, pl.DataFrame], tastes: pl.DataFrame
) -> None:
    """Known answer: in a favourite category, most purchases are of the shopper's kind."""
    events, catalog = shop
    items = _with_kind(catalog).select("item_id", "category", "kind", "price")
    bought = events.filter(pl.col("type") == "purchase").join(items, on="item_id")
    liked = bought.join(
        tastes.rename({"kind": "preferred"}), on=["user_id", "category"], how="inner"
    )
    assert liked.height >= 500
    share = float((liked["kind"] == liked["preferred"]).mean())
    n_kinds = items.group_by("category").agg(pl.col("kind").n_unique().alias("n"))
    base = float((1 / liked.join(n_kinds, on="category")["n"]).mean())  # without tastes
    assert base < 0.32
    assert share > base + 0.25  # measured 0.68 against 0.29


def test_history_tells_the_kind_better_than_the_category(
    shop: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    """From the frames only: the kind a shopper viewed most in a category (in other sessions)
    names the kind they buy there more often than the category's best-selling kind does."""
    events, catalog = shop
    items = _with_kind(catalog).select("item_id", "category", "kind")
    typed = events.join(items, on="item_id")
    views = typed.filter(pl.col("type") == "view").select(
        "user_id", pl.col("session_id").alias("other"), "category", pl.col("kind").alias("seen")
    )
    buys = typed.filter(pl.col("type") == "purchase").select(
        "user_id", "session_id", "category", "kind"
    )
    history = (
        buys.join(views, on=["user_id", "category"])
        .filter(pl.col("session_id") != pl.col("other"))
        .group_by("user_id", "session_id", "category", "kind", "seen")
        .len()
        .sort(["len", "seen"], descending=[True, False])
        .group_by("user_id", "session_id", "category", "kind", maintain_order=True)
        .first()
    )
    best_seller = (
        buys.group_by("category", "kind")
        .len()
        .sort(["len", "kind"], descending=[True, False])
        .group_by("category", maintain_order=True)
        .first()
        .select("category", pl.col("kind").alias("top"))
    )
    scored = history.join(best_seller, on="category")
    assert scored.height >= 500
    by_history = float((scored["seen"] == scored["kind"]).mean())
    by_category = float((scored["top"] == scored["kind"]).mean())
    assert by_history > by_category + 0.08  # measured 0.56 against 0.40


def test_price_sensitivity_is_relative_to_the_kind(
    shop: tuple[pl.DataFrame, pl.DataFrame], tastes: pl.DataFrame
) -> None:
    """Sensitive shoppers buy items cheap for their kind: below the kind's median, mostly."""
    events, catalog = shop
    items = _with_kind(catalog).with_columns(
        rel=pl.col("price") / pl.col("price").median().over("category", "kind")
    )
    bought = events.filter(pl.col("type") == "purchase").join(items, on="item_id")
    sensitivity = tastes.group_by("user_id").agg(pl.col("price_sensitivity").first())
    rel = bought.join(sensitivity, on="user_id")
    keen = rel.filter(pl.col("price_sensitivity") > 0.7)["rel"].median()
    relaxed = rel.filter(pl.col("price_sensitivity") < 0.3)["rel"].median()
    assert keen is not None and relaxed is not None
    assert float(keen) < float(relaxed)  # type: ignore[arg-type]


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
