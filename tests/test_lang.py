"""recsys.lang: language detection, ``?lang=`` parsing and the one Unicode normalisation."""

from __future__ import annotations

import unicodedata

import pytest

from recsys.errors import InvalidInputError
from recsys.lang import (
    INVISIBLE_RANGES,
    ScriptShares,
    bundle_language,
    cjk_share,
    detect_language,
    has_visible,
    normalize_text,
    parse_language,
    script_shares,
)


def test_script_shares_count_characters_of_cjk_and_words_of_other_scripts() -> None:
    # 4 ideographs + the words "cups" and "ml": 6 units; digits and punctuation count neither way
    shares = script_shares(["运动水杯 cups 500ml!"])
    assert (shares.units, shares.cjk, shares.kana) == (6, pytest.approx(4 / 6), 0.0)
    assert shares.non_latin == pytest.approx(4 / 6)
    # a brand-heavy Chinese title is mostly Chinese: 7 ideographs against 4 Latin words
    assert cjk_share(["华为 HUAWEI MateBook X Pro 笔记本电脑"]) == pytest.approx(7 / 11)
    # kana, Hangul and Cyrillic are non-Latin; only kana counts as kana
    ja = script_shares(["無印良品 ステンレス保温マグ"])
    assert ja.kana == pytest.approx(7 / 13) and ja.non_latin == 1.0
    assert script_shares(["커피 머그컵"]).non_latin == 1.0
    assert script_shares(["Москва кофе"]) == ScriptShares(2, 0.0, 0.0, 1.0)
    assert script_shares(["123 !!", ""]) == ScriptShares(0, 0.0, 0.0, 0.0)
    assert cjk_share([]) == 0.0


@pytest.mark.parametrize(
    ("texts", "language"),
    [
        (["轻便透气男士跑步鞋", "316不锈钢真空保温杯 500毫升"], "zh"),
        (["Trail running shoes", "Insulated bottle"], "en"),
        (["繁體中文的保溫杯"], "zh"),  # traditional characters are CJK ideographs too
        (["Nike 耐克 Air Zoom Pegasus 40 男子跑步鞋"], "zh"),  # 7 ideographs, 4 Latin words
        (["Nike 跑鞋 Air Zoom Pegasus running shoe"], "en"),  # 2 ideographs, 6 words
        (["無印良品 ステンレス保温マグ"], "en"),  # Japanese: kanji with kana is not Chinese
        (["Москва", "커피 머그컵"], "en"),  # not Chinese: reasons fall back to English
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
    assert has_visible("\u0301") and has_visible("\U00045d1b")  # a mark; unassigned
    assert not has_visible("\u200b\u200c\u200d") and not has_visible("  \x07\u2028")


def test_the_invisible_list_is_the_bmp_control_format_and_space_characters() -> None:
    """The list is written out (the API schema is built from it); Python's database checks it."""
    listed = {c for lo, hi in INVISIBLE_RANGES for c in range(lo, hi + 1)}
    wanted = {"Cc", "Cf", "Zs", "Zl", "Zp"}
    bmp = {c for c in range(0x10000) if unicodedata.category(chr(c)) in wanted}
    assert listed == bmp


def test_bundle_language_defaults_to_english_for_old_bundles() -> None:
    assert bundle_language({}) == "en"
    assert bundle_language({"catalog_language": "zh"}) == "zh"
    assert bundle_language({"catalog_language": "xx"}) == "en"
