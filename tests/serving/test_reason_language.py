"""Reasons in the catalog's language, or in the one a request asks for.

Over the tiny ``shop`` (tests/conftest.py): the same trained bundle twice, once as trained
(``catalog_language`` ``en``) and once with a manifest saying the catalog is Chinese. Titles and
categories stay as the catalog has them; only the sentence around them changes.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import polars as pl
import pytest

from recsys.bundle import Bundle
from recsys.config import HybridConfig, TrainConfig
from recsys.precomputed import SimilarLists
from recsys.serving import FrameEvents, HybridRecommender
from recsys.serving.similar import answer_from_similar, rank_similar_lists
from recsys.text import TextEncoder
from recsys.training import build_bundle
from recsys.types import Filters, Reason, Recommendations, UserEvent

Shop = tuple[pl.DataFrame, pl.DataFrame]
DAY = 86_400.0


@pytest.fixture(scope="module")
def bundle_en(shop: Shop, encoder: TextEncoder) -> Bundle:
    events, catalog = shop
    config = TrainConfig.from_dict({"behavior": {"factors": 4, "iterations": 10}})
    bundle = build_bundle(events, catalog, config, encoder=encoder)[0]
    return dataclasses.replace(bundle, manifest={**bundle.manifest, "catalog_language": "en"})


@pytest.fixture(scope="module")
def bundle_zh(bundle_en: Bundle) -> Bundle:
    return dataclasses.replace(bundle_en, manifest={**bundle_en.manifest, "catalog_language": "zh"})


def _texts(answer: Recommendations) -> list[str]:
    return [item.reason.text for item in answer.items]


def test_the_recommender_reads_the_catalog_language(bundle_en: Bundle, bundle_zh: Bundle) -> None:
    assert HybridRecommender(bundle_en).language == "en"
    assert HybridRecommender(bundle_zh).language == "zh"
    legacy = dataclasses.replace(
        bundle_en, manifest={k: v for k, v in bundle_en.manifest.items() if k != "catalog_language"}
    )
    assert HybridRecommender(legacy).language == "en"  # bundles from before it was recorded


def test_a_chinese_catalog_gets_chinese_reasons(bundle_zh: Bundle) -> None:
    rec = HybridRecommender(bundle_zh)
    answer = rec.recommend_user("newbie", [UserEvent("r2", "purchase", 5.0)], n=1)
    assert answer.items[0].reason == Reason(
        "history", answer.items[0].reason.source, ("r2",), "因为您购买了Running socks"
    )
    viewed = rec.recommend_session(["k1"], n=2)
    assert _texts(viewed) == ["因为您浏览了Chef knife"] * 2
    popular = rec.recommend_user("nobody", [], n=4)
    assert popular.strategy == "popular"
    category = {"r": "Running", "k": "Kitchen"}
    for item in popular.items:
        assert item.reason.text == f"{category[item.item_id[0]]}热销"
    similar = rec.similar("r5", n=3)
    assert _texts(similar) == ["与Trail running shoes相似"] * 3


def test_an_explicit_language_wins_over_the_catalogs(bundle_en: Bundle, bundle_zh: Bundle) -> None:
    zh, en = HybridRecommender(bundle_zh), HybridRecommender(bundle_en)
    history = [UserEvent("r2", "purchase", 5.0)]
    for rec in (zh, en):
        answer = rec.recommend_user("newbie", history, n=1, language="en")
        assert _texts(answer) == ["Because you bought Running socks"]
        answer = rec.recommend_user("newbie", history, n=1, language="zh")
        assert _texts(answer) == ["因为您购买了Running socks"]
        assert _texts(rec.similar("r5", n=1, language="en")) == ["Similar to Trail running shoes"]
        assert _texts(rec.recommend_session(["k1"], n=1, language="zh")) == [
            "因为您浏览了Chef knife"
        ]


def test_english_answers_are_unchanged_and_only_the_text_differs(
    bundle_en: Bundle, bundle_zh: Bundle
) -> None:
    en, zh = HybridRecommender(bundle_en), HybridRecommender(bundle_zh)
    history = [UserEvent("r2", "purchase", 5.0)]
    assert _texts(en.recommend_user("newbie", history, n=1)) == ["Because you bought Running socks"]
    assert _texts(en.similar("r5", n=1)) == ["Similar to Trail running shoes"]
    for user, events in (("run1", [UserEvent("r2", "purchase", 5.0)]), ("nobody", [])):
        a, b = en.recommend_user(user, events, n=5), zh.recommend_user(user, events, n=5)
        assert [(i.item_id, i.score) for i in a.items] == [(i.item_id, i.score) for i in b.items]
        assert [i.reason.item_ids for i in a.items] == [i.reason.item_ids for i in b.items]
        assert all(x != y for x, y in zip(_texts(a), _texts(b), strict=True))


def test_bare_reasons_have_no_text_in_any_language(bundle_zh: Bundle) -> None:
    rec = HybridRecommender(bundle_zh)
    answer = rec.recommend_user("run1", [UserEvent("r2", "purchase", 5.0)], n=3, explain=False)
    assert _texts(answer) == ["", "", ""]


def test_precomputed_similar_items_are_localized_too(bundle_zh: Bundle) -> None:
    rec = HybridRecommender(bundle_zh)
    lists: SimilarLists = rank_similar_lists(bundle_zh, rec.config, rec.spread_floor, depth=8)
    found = answer_from_similar(bundle_zh, rec.config, lists, "r5", 2, "hybrid", Filters())
    assert found is not None
    assert _texts(found) == ["与Trail running shoes相似"] * 2
    english = answer_from_similar(
        bundle_zh, rec.config, lists, "r5", 2, "hybrid", Filters(), language="en"
    )
    assert english is not None
    assert _texts(english) == ["Similar to Trail running shoes"] * 2
    assert _texts(rec.similar("r5", n=2)) == _texts(found)  # the live answer reads the same


def _buys(*items_and_days: tuple[str, float]) -> list[UserEvent]:
    events = [UserEvent(i, "purchase", 1.8e9 - d * DAY) for i, d in items_and_days]
    return sorted(events, key=lambda e: -e.ts)


def test_repeat_purchases_in_chinese(bundle_zh: Bundle) -> None:
    rebuy = HybridConfig(exclude_seen=False, exclude_purchased=False, repeat_weight=3.0)
    rec = HybridRecommender(bundle_zh, rebuy)
    history = _buys(("k2", 0), ("k2", 7), ("k2", 14), ("k3", 0), ("r1", 90))
    answer = rec.recommend_user("cook1", history, n=3)
    top = answer.items[0].reason
    assert (top.source, top.item_ids, top.text) == (
        "repeat",
        ("k2",),
        "您之前买过Cutting board 3 次",
    )
    english = rec.recommend_user("cook1", history, n=3, language="en")
    assert english.items[0].reason.text == "You bought Cutting board 3x before"


def test_trending_in_chinese(bundle_zh: Bundle) -> None:
    end_ts = datetime.fromisoformat(bundle_zh.manifest["data_window"]["last_event"]).timestamp()
    rows = [(f"n{u}", "r1", "purchase", end_ts - u * DAY) for u in range(4)]
    events = pl.DataFrame(
        rows,
        schema={"user_id": pl.String, "item_id": pl.String, "type": pl.String, "ts": float},
        orient="row",
    )
    config = dataclasses.replace(bundle_zh.config.hybrid, trending_weight=5.0)
    rec = HybridRecommender(bundle_zh, config, events=FrameEvents(events))
    top = rec.recommend_user("nobody", [], n=1).items[0]
    assert (top.item_id, top.reason) == ("r1", Reason("popular", "trending", (), "Running正在流行"))
    english = rec.recommend_user("nobody", [], n=1, language="en").items[0]
    assert english.reason.text == "Trending in Running"
