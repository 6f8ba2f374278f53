"""Product text is normalised once, at import: NFKC, controls dropped, white space collapsed.

The polars expression the importer uses must agree with ``recsys.lang.normalize_text`` (the
reference) on every string, and bad titles must be refused with a reason a person can act on.
"""

from __future__ import annotations

import json
import re

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from api.openapi import VISIBLE_TITLE
from recsys.lang import normalize_text
from recsys.store.importing import normalized_text, validate_items

# the characters where normalisation has work to do, plus ordinary ones
_TRICKY = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000"
    "\x00\x07\x1b\x1c\x1f\x7f\x84\x86\x9f\u200b\u200c\u200d\u202b\u202c\ufeff"
    "ＡＺａｚ０９！ﬁ①㎏ｶ﹏跑鞋保温杯👍🏽שלום，（）：；？～％\U000f0000\U000f0003"
)
# characters Python's Unicode database knows (3.11: Unicode 14); polars' is newer, and a letter
# assigned since (U+1E030, Unicode 15) is folded by polars and left alone by Python
assigned = st.characters(codec="utf-8", exclude_categories=("Cs", "Cn"))
texts = st.text(alphabet=st.one_of(st.sampled_from(_TRICKY), assigned), max_size=40)


@settings(max_examples=400, deadline=None)
@given(st.lists(texts, min_size=1, max_size=8), st.booleans())
def test_the_importer_normalises_exactly_as_the_reference(
    values: list[str], keep_lines: bool
) -> None:
    frame = pl.DataFrame({"t": values})
    got = frame.select(normalized_text("t", keep_lines=keep_lines))["t"].to_list()
    assert got == [normalize_text(v, keep_lines=keep_lines) for v in values]


def _items(**columns: list[object]) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    return pl.DataFrame({"item_id": [f"i{k}" for k in range(n)], **columns})


def test_catalog_text_is_normalised_at_import() -> None:
    frame = _items(
        title=["ＮＩＫＥ　跑步鞋\x00", "Mug\u3000 ①"],
        description=["轻便\r\n\r\n透气\t 缓震", None],
        category=["\u3000运动鞋 ", "Kitchen"],
        attributes=[json.dumps({"颜色": "ＢＬＡＣＫ", "尺码": ["４２", "４３"]}), None],
    )
    valid, errors = validate_items(frame, now=1.8e9)
    assert errors == []
    rows = valid.select("title", "description", "category", "attributes").to_dicts()
    assert rows[0] == {
        "title": "NIKE 跑步鞋",
        "description": "轻便\n透气 缓震",
        "category": "运动鞋",
        "attributes": json.dumps({"尺码": ["42", "43"], "颜色": "BLACK"}, ensure_ascii=False),
    }
    assert rows[1]["title"] == "Mug 1" and rows[1]["description"] == ""


def test_ids_are_not_normalised() -> None:
    """Events name items by id; folding ids would split a product from its events."""
    frame = pl.DataFrame({"item_id": ["ＳＫＵ１"], "title": ["Shoe"]})
    valid, _ = validate_items(frame, now=1.8e9)
    assert valid["item_id"].to_list() == ["ＳＫＵ１"]


def test_bad_titles_get_clear_errors_and_good_odd_ones_pass() -> None:
    frame = _items(
        title=[
            "   ",  # blank
            "\u3000\u3000",  # ideographic spaces only
            "\u200b\u200c\ufeff",  # invisible characters only
            "👍🏽",  # emoji only: a symbol, kept
            "\u202bمرحبا\u202c",  # right-to-left with its marks
            "Ｔ恤 T-shirt 男款",  # mixed scripts and widths
        ]
    )
    valid, errors = validate_items(frame, now=1.8e9)
    assert [str(e) for e in errors] == [
        "line 1: missing title",
        "line 2: missing title",
        "line 3: title has only invisible characters (white space, control or format)",
    ]
    assert valid["title"].to_list() == ["👍🏽", "\u202bمرحبا\u202c", "T恤 T-shirt 男款"]


@settings(max_examples=400, deadline=None)
@given(texts, st.booleans())
def test_normalising_twice_changes_nothing(value: str, keep_lines: bool) -> None:
    once = normalize_text(value, keep_lines=keep_lines)
    assert normalize_text(once, keep_lines=keep_lines) == once


def test_a_control_character_does_not_keep_an_accent_from_composing() -> None:
    assert normalize_text("Cafe\x00\u0301") == "Café"


def test_attributes_nested_too_deep_refuse_the_row_not_the_import() -> None:
    deep = "[" * 5000 + "]" * 5000
    frame = _items(title=["Deep", "Fine"], attributes=[f'{{"a": {deep}}}', '{"a": 1}'])
    valid, errors = validate_items(frame, now=1.8e9)
    assert [str(e) for e in errors] == ["line 1: attributes must be a JSON object"]
    assert valid["title"].to_list() == ["Fine"]


@settings(max_examples=400, deadline=None)
@given(texts)
def test_the_api_schema_and_the_importer_refuse_the_same_titles(title: str) -> None:
    """``PUT /v1/items`` checks titles with the schema first: any title it lets through must be
    stored, or a schema-valid request is refused (what the schemathesis fuzz test checks)."""
    schema_ok = re.search(VISIBLE_TITLE, title) is not None
    valid, _ = validate_items(pl.DataFrame({"item_id": ["i1"], "title": [title]}), now=1.8e9)
    assert schema_ok == (valid.height == 1), repr(title)
