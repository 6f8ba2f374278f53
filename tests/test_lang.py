"""recsys.lang: language detection, ``?lang=`` parsing and the one Unicode normalisation."""

from __future__ import annotations

import pytest

from recsys.errors import InvalidInputError
from recsys.lang import (
    bundle_language,
    cjk_share,
    detect_language,
    has_visible,
    normalize_text,
    parse_language,
)


def test_cjk_share_counts_letters_only() -> None:
    # 4 CJK letters, 6 Latin letters; digits, spaces and punctuation count neither way
    assert cjk_share(["运动水杯 cups 500ml!"]) == pytest.approx(4 / 10)
    assert cjk_share(["123 !!", ""]) == 0.0
    assert cjk_share([]) == 0.0


@pytest.mark.parametrize(
    ("texts", "language"),
    [
        (["轻便透气男士跑步鞋", "316不锈钢真空保温杯 500毫升"], "zh"),
        (["Trail running shoes", "Insulated bottle"], "en"),
        (["繁體中文的保溫杯"], "zh"),  # traditional characters are CJK ideographs too
        (["Nike 跑鞋 Air Zoom Pegasus running shoe"], "en"),  # 2 of 29 letters
        (["Москва", "こんにちは"], "en"),  # not Chinese (kana are not ideographs)
    ],
)
def test_detect_language(texts: list[str], language: str) -> None:
    assert detect_language(texts) == language


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("zh", "zh"),
        ("zh-CN", "zh"),
        ("zh_TW", "zh"),
        ("ZH-hant", "zh"),
        ("en-GB", "en"),
        (None, None),
        ("  ", None),
    ],
)
def test_parse_language(value: str | None, expected: str | None) -> None:
    assert parse_language(value) == expected


def test_parse_language_refuses_what_the_engine_does_not_write() -> None:
    with pytest.raises(InvalidInputError, match="'fr' is not supported"):
        parse_language("fr")


@pytest.mark.parametrize(
    ("raw", "title", "description"),
    [
        ("ＡＢＣ　１２３", "ABC 123", "ABC 123"),  # full-width letters, digits, ideographic space
        ("跑步鞋\x00\x07 男款", "跑步鞋 男款", "跑步鞋 男款"),  # control characters dropped
        ("  a\r\n\r\n\tb  ", "a b", "a\nb"),  # CRLF, blank lines, tabs
        ("ﬁne ①", "fine 1", "fine 1"),  # compatibility forms
        # Chinese full-width punctuation is kept; full-width digits and % fold
        ("轻便，透气（男款）：好！", "轻便，透气（男款）：好！", "轻便，透气（男款）：好！"),
        ("满２００减３０，５０％ off", "满200减30，50% off", "满200减30，50% off"),
        ("👩‍👩‍👧 family", "👩‍👩‍👧 family", "👩‍👩‍👧 family"),  # ZWJ emoji kept whole
        ("\u202bשלום\u202c", "\u202bשלום\u202c", "\u202bשלום\u202c"),  # RTL embedding kept
    ],
)
def test_normalize_text(raw: str, title: str, description: str) -> None:
    assert normalize_text(raw) == title
    assert normalize_text(raw, keep_lines=True) == description
    assert normalize_text(title) == title  # idempotent


def test_has_visible() -> None:
    assert has_visible("👍") and has_visible("—") and has_visible("7") and has_visible("鞋")
    assert not has_visible("\u200b\u200c\u200d") and not has_visible("  ")


def test_bundle_language_defaults_to_english_for_old_bundles() -> None:
    assert bundle_language({}) == "en"
    assert bundle_language({"catalog_language": "zh"}) == "zh"
    assert bundle_language({"catalog_language": "xx"}) == "en"
