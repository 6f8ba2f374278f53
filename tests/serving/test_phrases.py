"""The phrase table: every reason sentence in every shop language, with known answers."""

from __future__ import annotations

import string
from typing import get_args

import pytest

from recsys.lang import SHOP_LANGUAGES
from recsys.serving.phrases import BECAUSE, PHRASES, PhraseName, phrase

VALUES = {"title": "Running socks", "n": 3, "category": "Running"}

# what each phrase reads for VALUES
KNOWN = {
    "en": {
        "because_bought": "Because you bought Running socks",
        "because_added_to_cart": "Because you added Running socks to your cart",
        "because_clicked": "Because you clicked Running socks",
        "because_viewed": "Because you viewed Running socks",
        "repeat": "You bought Running socks 3x before",
        "popular_in": "Popular in Running",
        "popular_now": "Popular right now",
        "trending_in": "Trending in Running",
        "trending_now": "Trending now",
        "similar_to": "Similar to Running socks",
    },
    "zh": {
        "because_bought": "因为您购买了Running socks",
        "because_added_to_cart": "因为您把Running socks加入了购物车",
        "because_clicked": "因为您点击了Running socks",
        "because_viewed": "因为您浏览了Running socks",
        "repeat": "您之前买过Running socks 3 次",
        "popular_in": "Running热销",
        "popular_now": "当前热销",
        "trending_in": "Running正在流行",
        "trending_now": "正在流行",
        "similar_to": "与Running socks相似",
    },
}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def test_every_language_has_every_phrase() -> None:
    assert set(PHRASES) == set(SHOP_LANGUAGES)
    for language in SHOP_LANGUAGES:
        assert set(PHRASES[language]) == set(get_args(PhraseName)), language


@pytest.mark.parametrize("name", get_args(PhraseName))
def test_a_phrase_has_the_same_placeholders_in_every_language(name: PhraseName) -> None:
    fields = {language: _fields(PHRASES[language][name]) for language in SHOP_LANGUAGES}
    assert len(set(map(frozenset, fields.values()))) == 1, fields
    assert fields["en"] <= set(VALUES)


@pytest.mark.parametrize("language", SHOP_LANGUAGES)
@pytest.mark.parametrize("name", get_args(PhraseName))
def test_every_phrase_formats_to_its_known_text(language: str, name: PhraseName) -> None:
    assert phrase(language, name, **VALUES) == KNOWN[language][name]  # type: ignore[arg-type]


def test_chinese_with_a_chinese_title() -> None:
    assert phrase("zh", "because_bought", title="轻便跑步鞋") == "因为您购买了轻便跑步鞋"
    assert phrase("zh", "popular_in", category="鞋类") == "鞋类热销"
    assert phrase("zh", "repeat", title="牛奶", n=2) == "您之前买过牛奶 2 次"


def test_braces_in_a_title_are_kept_as_they_are() -> None:
    assert phrase("en", "similar_to", title="Mug {large}") == "Similar to Mug {large}"


def test_every_event_type_has_a_because_phrase() -> None:
    from recsys.config import EVENT_TYPES

    assert set(BECAUSE) == set(EVENT_TYPES)
    assert all(name.startswith("because_") for name in BECAUSE.values())


def test_a_missing_placeholder_is_an_error() -> None:
    with pytest.raises(KeyError):
        phrase("zh", "similar_to")
