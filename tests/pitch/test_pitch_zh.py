"""Chinese pitches: the link and template sentences, the language per product or per call, the
local English-only model's fallback (writer, provider, CLI, API), the OpenAI-compatible backend's
Chinese prompt against a real server on 127.0.0.1, Chinese re-ranking, and the validator on
Chinese text (substring names, Chinese numerals, 。！？, lengths in characters)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from openai_server import FakeServer, fast

from recsys.cli import cli
from recsys.config import TrainConfig
from recsys.errors import InvalidInputError
from recsys.home import Home
from recsys.lang import cjk_share
from recsys.pitch.cache import PitchCache
from recsys.pitch.config import PitchConfig
from recsys.pitch.facts import ItemFacts, RecentItem, ShopperContext, format_price, pitch_language
from recsys.pitch.prompt import SYSTEM_ZH, build_messages
from recsys.pitch.serving import PitchProvider
from recsys.pitch.template import compose, link_sentence, template_pitch, template_sentence
from recsys.pitch.validate import (
    CatalogNames,
    chinese_number,
    count_sentences,
    validate,
)
from recsys.pitch.writer import PitchWriter
from recsys.store import Store
from recsys.types import Reason, RecommendedItem

REASON = "the local model writes English only; Chinese pitches use the template"
SHOES = ItemFacts(
    "z1",
    "轻便透气男士跑步鞋",
    "跑步",
    price=399.0,
    currency="CNY",
    description="网面鞋身透气，橡胶鞋底防滑耐磨。",
)
CUP = ItemFacts(
    "z2",
    "暖途 不锈钢保温杯（黑色）500毫升",
    "厨房",
    price=129.0,
    currency="CNY",
    description="双层真空设计，保温十二小时。容量五百毫升，可承受3000次开合。",
    attributes=(("品牌", "暖途"),),
)
SOCKS = RecentItem("z3", "速干跑步袜", "bought")
NAMES = CatalogNames(
    {
        "z1": SHOES.title,
        "z2": CUP.title,
        "z4": "竹制砧板",
        "z5": "保温杯",
        "r1": "Running shoes",
    },
    ["跑步", "厨房", "瑜伽"],
)
ZH = ShopperContext((SOCKS,), "zh")
# catalog rows of a Chinese shop, added to the English tiny shop of tests/conftest.py
ZH_ROWS = [
    ("z1", SHOES.title, SHOES.description, "跑步", 399.0),
    ("z2", CUP.title, CUP.description, "厨房", 129.0),
    ("z3", SOCKS.title, "速干透气，不易起球。", "跑步", 59.0),
]


def zh_catalog() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "item_id": item_id,
                "title": title,
                "description": description,
                "category": category,
                "price": price,
                "currency": "CNY",
                "in_stock": True,
                "attributes": "{}",
                "updated_at": 0.0,
            }
            for item_id, title, description, category, price in ZH_ROWS
        ]
    )


def because(*item_ids: str) -> RecommendedItem:
    """A recommended item whose reason names ``item_ids`` (put first in the link)."""
    reason = Reason("history", "behavior", ("r2",), "Because you bought Running socks")
    return RecommendedItem(item_ids[0], 0.9, reason)


def check(text: str, facts: ItemFacts = CUP, language: str = "zh") -> tuple[str, ...]:
    return validate(text, facts, ShopperContext((), language), names=NAMES).problems


# ----------------------------------------------------------------------------- template


@pytest.mark.parametrize(
    ("action", "link"),
    [
        ("bought", "因为您购买了速干跑步袜，我们为您挑选了轻便透气男士跑步鞋。"),
        ("added to cart", "因为您把速干跑步袜加入了购物车，我们为您挑选了轻便透气男士跑步鞋。"),
        ("viewed", "因为您浏览了速干跑步袜，我们为您挑选了轻便透气男士跑步鞋。"),
        (None, "为您挑选：轻便透气男士跑步鞋。"),
    ],
)
def test_chinese_link_sentence_for_each_action(action: str | None, link: str) -> None:
    recent = (RecentItem("z3", "速干跑步袜", action),) if action else ()
    assert link_sentence(SHOES, ShopperContext(recent, "zh")) == link


def test_chinese_template_pitch_exactly() -> None:
    assert template_pitch(SHOES, ZH) == (
        "因为您购买了速干跑步袜，我们为您挑选了轻便透气男士跑步鞋。来自跑步专区。售价¥399。"
    )
    bare = ItemFacts("z9", "竹制砧板")
    assert template_pitch(bare, ShopperContext((), "zh")) == "为您挑选：竹制砧板。"
    euro = ItemFacts("z8", "陶瓷茶杯", price=12.5, currency="EUR")
    assert template_sentence(euro, "zh") == "售价12.50欧元。"


def test_compose_joins_chinese_sentences_without_a_space() -> None:
    assert compose("为您挑选：保温杯。", "保温出色。", "zh") == "为您挑选：保温杯。保温出色。"
    assert compose("We picked Mugs for you.", "They keep tea hot.") == (
        "We picked Mugs for you. They keep tea hot."
    )
    assert compose("为您挑选：保温杯。", "", "zh") == "为您挑选：保温杯。"


@pytest.mark.parametrize(
    ("price", "currency", "language", "shown"),
    [
        (199, "CNY", "zh", "¥199"),
        (12.5, "RMB", "zh", "¥12.50"),
        (89, "EUR", "zh", "89欧元"),
        (5, "XYZ", "zh", "5 XYZ"),
        (199, "CNY", "en", "199 CNY"),  # English as before
        (None, "CNY", "zh", ""),
    ],
)
def test_price_reads_naturally_in_chinese(
    price: float | None, currency: str, language: str, shown: str
) -> None:
    assert format_price(price, currency, language) == shown


# ----------------------------------------------------------------------------- language


def test_auto_is_the_default_and_follows_the_products_text() -> None:
    assert PitchConfig().language == "auto"
    assert pitch_language(SHOES) == "zh"
    assert pitch_language(ItemFacts("r1", "Running shoes", description="Light.")) == "en"
    assert pitch_language(SHOES, "en") == "en"  # an explicit language wins
    assert pitch_language(ItemFacts("r1", "Running shoes"), "zh") == "zh"


def test_provider_picks_each_products_language_and_a_call_overrides_it(
    shop_home: Home, shop_store: Store
) -> None:
    shop_store.upsert_items(zh_catalog())
    p = PitchProvider(shop_home, PitchConfig(backend="template"), store=shop_store)
    try:
        history = shop_store.user_events("run1")
        items = [because("r1"), because("z1")]
        english, chinese = p.pitches_for("run1", history, items)
        assert english.text == (
            "Because you bought Running socks, we picked Running shoes for you. "
            "It is from our Running range. It costs 10 EUR."
        )
        assert (english.language, chinese.language) == ("en", "zh")
        assert chinese.text == (
            "因为您购买了Running socks，我们为您挑选了轻便透气男士跑步鞋。来自跑步专区。售价¥399。"
        )
        assert (chinese.source, chinese.fallback) == ("template", None)  # no model: no fallback
        both_zh = p.pitches_for("run1", history, items, language="zh")
        assert both_zh[0].text == (
            "因为您购买了Running socks，我们为您挑选了Running shoes。来自Running专区。售价10欧元。"
        )
        both_en = p.pitches_for("run1", history, items, language="en")
        assert both_en[1].text.startswith("Because you bought Running socks, we picked 轻便透气")
        with pytest.raises(InvalidInputError, match="language='xx'"):
            p.pitches_for("run1", history, items, language="xx")
    finally:
        p.close()


def test_cache_keys_keep_english_and_chinese_apart(tmp_path: Path, fake_model) -> None:
    def reply(messages: list[dict[str, str]]) -> list[str]:
        chinese = messages[0]["content"] == SYSTEM_ZH
        return ["鞋底防滑耐磨，雨天跑步也安心。" if chinese else "They grip well on wet roads."]

    model = fake_model(reply_fn=reply)
    writer = PitchWriter(model, PitchConfig(n_samples=1, rerank=False), PitchCache(tmp_path / "c"))
    facts = ItemFacts("r1", "Running shoes", "Running")
    en = ShopperContext((RecentItem("r2", "Running socks", "bought"),), "en")
    zh = ShopperContext(en.recent, "zh")
    assert writer.key(facts, en) != writer.key(facts, zh)
    first_en, first_zh = writer.write(facts, en), writer.write(facts, zh)
    assert (first_en.pitch.source, first_zh.pitch.source) == ("llm", "llm")
    assert first_zh.pitch.text == (
        "因为您购买了Running socks，我们为您挑选了Running shoes。鞋底防滑耐磨，雨天跑步也安心。"
    )
    hit_en, hit_zh = writer.cached(facts, en), writer.cached(facts, zh)
    assert hit_en is not None and hit_zh is not None
    assert (hit_en.text, hit_zh.text) == (first_en.pitch.text, first_zh.pitch.text)
    assert (hit_en.language, hit_zh.language) == ("en", "zh") and len(model.calls) == 2


# ----------------------------------------------------------------------------- local model


def english_only(fake_model, replies: list[str] | None = None):  # type: ignore[no-untyped-def]
    model = fake_model(replies or ["These shoes grip well on wet roads."])
    model.languages = ("en",)  # like the packaged SmolLM2 runtimes
    return model


def test_local_model_is_never_asked_for_chinese(tmp_path: Path, fake_model) -> None:
    model = english_only(fake_model)
    writer = PitchWriter(model, PitchConfig(n_samples=1, rerank=False), PitchCache(tmp_path / "c"))
    result = writer.write(SHOES, ZH)
    assert model.calls == []
    assert (result.pitch.source, result.pitch.text) == ("template", template_pitch(SHOES, ZH))
    assert (result.pitch.fallback, result.pitch.fallback_reason) == ("model_language", REASON)
    english = writer.write(ItemFacts("r1", "Running shoes"), ShopperContext())
    assert english.pitch.source == "llm" and english.pitch.fallback is None


def test_provider_serves_the_chinese_template_at_once_and_queues_nothing(
    shop_home: Home, shop_store: Store, fake_model
) -> None:
    shop_store.upsert_items(zh_catalog())
    model = english_only(fake_model)
    p = PitchProvider(
        shop_home, PitchConfig(n_samples=1, rerank=False), store=shop_store, model=model
    )
    try:
        history = shop_store.user_events("run1")
        started = time.monotonic()
        [pitch] = p.pitches_for("run1", history, [because("z1")], wait_ms=3000)
        assert time.monotonic() - started < 2.0  # nothing to wait for
        assert (pitch.source, pitch.fallback, pitch.fallback_reason) == (
            "template",
            "model_language",
            REASON,
        )
        assert pitch.text.startswith("因为您购买了Running socks，")
        time.sleep(0.1)
        assert model.calls == [] and p.dropped == 0
    finally:
        p.close()


def test_cli_says_why_a_chinese_pitch_is_the_template(
    shop_home: Home, shop_store: Store, fake_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop_store.upsert_items(zh_catalog())
    model = english_only(fake_model)
    monkeypatch.setattr("recsys.pitch.batch.make_model", lambda home, config: model)
    runner = CliRunner()
    base = ["--home", str(shop_home.root), "pitch", "run1", "z1", "--no-cache"]
    out = runner.invoke(cli, base)  # auto: the product's text is Chinese
    assert out.exit_code == 0, out.output
    assert "[template: model_language," in out.output and f"({REASON})" in out.output
    data = runner.invoke(cli, [*base, "--language", "zh", "--json"])
    assert data.exit_code == 0, data.output
    [row] = json.loads(data.output)
    assert (row["source"], row["language"], row["fallback"]) == ("template", "zh", "model_language")
    assert row["fallback_reason"] == REASON and row["pitch"].startswith("因为您购买了")
    english = runner.invoke(cli, [*base, "--language", "en", "--json"])
    [row] = json.loads(english.output)
    assert (row["source"], row["fallback"]) == ("llm", None) and model.calls


def test_api_answer_carries_the_fallback_reason(
    shop_home: Home, shop_store: Store, fake_model
) -> None:
    from api.app import create_app
    from recsys.service import RecommendationService
    from recsys.training import train

    train(shop_home, TrainConfig.from_dict({"text": {"enabled": False}}), store=shop_store)
    provider = PitchProvider(
        shop_home,
        PitchConfig(n_samples=1, rerank=False),
        store=shop_store,
        model=english_only(fake_model),
    )
    config = {"home": str(shop_home.root), "watch": False, "TESTING": True}
    app = create_app(config, pitch_provider=provider, service=RecommendationService(shop_home))
    try:
        client = app.test_client()
        url = "/v1/users/run1/recommendations?n=2&pitch=true"
        chinese = client.get(url + "&lang=zh").get_json()
        assert chinese["items"], chinese
        for item in chinese["items"]:
            pitch = item["pitch"]
            assert (pitch["source"], pitch["fallback"]) == ("template", "model_language")
            assert pitch["fallback_reason"] == REASON and pitch["text"].startswith("因为您")
        english = client.get(url).get_json()  # auto: the shop's items are English
        assert english["items"], english
        assert all("fallback" not in item["pitch"] for item in english["items"])
    finally:
        app.extensions["recsys"].close()


# ----------------------------------------------------------------------------- openai backend


def test_openai_backend_gets_a_chinese_prompt_and_a_chinese_answer(server: FakeServer) -> None:
    server.reply = "鞋底防滑耐磨，雨天跑步也安心。"
    model = fast(server)
    config = PitchConfig(backend="openai", n_samples=1, rerank=False, openai=model.config)
    result = PitchWriter(model, config, names=NAMES).write(SHOES, ZH, use_cache=False)
    assert result.verdicts[0].ok, result.verdicts
    assert (result.pitch.source, result.pitch.model) == ("llm", model.name)
    assert result.pitch.text == (
        "因为您购买了速干跑步袜，我们为您挑选了轻便透气男士跑步鞋。鞋底防滑耐磨，雨天跑步也安心。"
    )
    [body] = server.bodies()
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]  # no started English answer
    assert messages[0]["content"] == SYSTEM_ZH
    request = messages[1]["content"]
    assert "类别：跑步" in request and "简体中文" in request and "Begin your answer" not in request
    assert SHOES.title not in request  # the model never sees the title
    for message in messages:  # the words around the data are Chinese
        assert cjk_share([message["content"].replace("<facts>", "")]) > 0.8


def test_openai_chinese_answer_that_invents_a_warranty_gives_the_template(
    server: FakeServer,
) -> None:
    server.reply = "鞋底防滑耐磨，享受三年保修。"
    model = fast(server)
    config = PitchConfig(backend="openai", n_samples=1, rerank=False, openai=model.config)
    result = PitchWriter(model, config, names=NAMES).write(SHOES, ZH, use_cache=False)
    assert result.verdicts[0].problems == ("invented_number", "invented_claim")
    assert result.pitch.source == "template" and result.pitch.fallback is None
    assert result.pitch.text == template_pitch(SHOES, ZH)


def test_build_messages_in_chinese_and_english() -> None:
    zh = build_messages(SHOES, "zh")
    assert zh[0]["content"] == SYSTEM_ZH and "描述：网面鞋身透气" in zh[1]["content"]
    en = build_messages(ItemFacts("r1", "Running shoes", "Running", kind="shoes"), "en")
    assert en[-1] == {"role": "assistant", "content": "These shoes are"}  # as before


# ----------------------------------------------------------------------------- re-ranking


class NoEnglish:
    """The writer's English encoder: it must not see Chinese samples."""

    def encode(self, texts: Any, show_progress: bool = False) -> Any:
        raise AssertionError(f"the English encoder was asked to embed {texts!r}")


def test_chinese_samples_are_reranked_by_the_multilingual_model(tmp_path: Path, fake_model) -> None:
    on_topic = "橡胶鞋底防滑耐磨，雨天跑步也安心。"
    off_topic = "这款鞋子是送给家人的贴心好礼物。"
    model = fake_model([off_topic, on_topic])
    writer = PitchWriter(model, PitchConfig(n_samples=2), encoder=NoEnglish())  # type: ignore[arg-type]
    assert writer.encoders == {}  # nothing built before Chinese samples compete
    result = writer.write(SHOES, ZH, use_cache=False)
    assert all(v.ok for v in result.verdicts), result.verdicts
    assert writer.encoders["zh"] is not None
    assert writer.encoders["zh"].config.model == "multilingual"
    assert result.similarities[1] > result.similarities[0]
    assert result.pitch.text.endswith(on_topic)


# ----------------------------------------------------------------------------- validator


def test_other_products_are_found_inside_chinese_text() -> None:
    assert check("搭配竹制砧板使用，厨房更加整洁。") == ("other_product",)
    # "保温杯" is another product's title, but here it is part of this product's own name
    assert check("这款不锈钢保温杯小巧轻便，通勤随手可带。") == ()


@pytest.mark.parametrize(
    "text",
    [
        "享受三年保修，用得更放心。",  # 三年 and 保修 are in no fact
        "全场五折，小巧轻便随手带。",
        "可承受5千次开合，经久耐用。",  # the facts say 3000
        "保温长达二十四小时，冬天更暖。",
    ],
)
def test_invented_chinese_numbers_fail(text: str) -> None:
    assert "invented_number" in check(text)


@pytest.mark.parametrize(
    "text",
    [
        "保温长达十二小时，冬天也能喝上热水。",  # the facts say 十二
        "500毫升的容量，满足通勤饮水需求。",  # the facts say 五百毫升
        "可承受3千次开合，经久耐用。",  # the facts say 3000
        "这是一款小巧轻便的杯子，通勤随手可带。",  # 一款 is an article, not a count
        "外形简约百搭，十分适合日常通勤。",  # 百搭 and 十分 are words, not numbers
    ],
)
def test_numbers_the_facts_state_pass(text: str) -> None:
    assert check(text) == ()


@pytest.mark.parametrize(
    ("token", "value"),
    [("三", 3), ("十二", 12), ("二十", 20), ("五百", 500), ("一百零五", 105), ("两千五", 2500),
     ("3千", 3000), ("1.5万", 15000), ("十万", 100000), ("二〇二四", 2024)],
)  # fmt: skip
def test_chinese_number_values(token: str, value: float) -> None:
    assert chinese_number(token) == value


def test_language_check_knows_chinese() -> None:
    assert "language" in check("This cup keeps your tea hot for the whole day.")
    english_cup = ItemFacts("k9", "Travel mug", "Kitchen", description="Keeps tea hot.")
    assert "language" in check("这款杯子小巧轻便，通勤随手可带。", english_cup, "en")
    assert check("This mug is light and easy to carry on every commute.", english_cup, "en") == ()


def test_chinese_sentences_and_fragments() -> None:
    assert count_sentences("小巧轻便。保温出色！真的吗？") == 3
    assert check("小巧轻便。保温出色，通勤好帮手。") == ("sentences",)
    assert check("小巧轻便，保温出色，通勤好帮手") == ("fragment",)
    assert check("小巧轻便，适合上班族和。") == ("fragment",)


def test_chinese_length_is_counted_in_characters() -> None:
    assert check("小巧轻便。") == ("length",)  # 5 characters: under min_chars_zh (6)
    long = "这款杯子小巧轻便，外形简约大方，" * 2 + "通勤出行随手可带，办公室里也很实用。"
    assert len(long) > 40 and check(long)[0] == "length"
    assert len(long.split()) == 1  # English's 14-word limit could never catch it
    config = PitchConfig(max_chars_zh=60)
    writer = PitchWriter(None, config)
    assert "length" not in writer.check(long, CUP, ShopperContext((), "zh")).problems


def test_chinese_claims_first_person_and_repetition() -> None:
    assert check("我们最喜欢这款杯子的简约设计。") == ("first_person",)
    assert check("大牌设计，小巧轻便随手可带。") == ("invented_claim",)
    # the cup's facts name its brand (品牌: 暖途), the shoes' do not
    assert check("品牌设计，小巧轻便随手可带。") == ()
    assert check("品牌设计，轻便透气更舒适。", SHOES) == ("invented_claim",)
    assert check("小巧轻便小巧轻便，通勤随手可带。") == ("repetition",)


def test_english_samples_keep_the_writers_own_encoder(
    tmp_path: Path, fake_model, encoder: Any
) -> None:
    """English samples are re-ranked by the writer's encoder; no multilingual one is built."""
    on_topic = "These shoes have grippy soles for muddy trails."
    off_topic = "These shoes make a nice gift for anyone you know."
    writer = PitchWriter(
        fake_model([off_topic, on_topic]), PitchConfig(n_samples=2), encoder=encoder
    )
    result = writer.write(ItemFacts("r5", "Trail running shoes", "Running"), ShopperContext())
    assert writer.encoders == {} and np.isfinite(result.similarities).all()
    assert result.pitch.text.endswith(on_topic)
