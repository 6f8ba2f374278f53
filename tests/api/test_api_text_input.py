"""Catalog text through the API: normalised once at import (NFKC), bad titles refused clearly."""

from __future__ import annotations

from typing import Any

from api_testing import auth
from flask.testing import FlaskClient

from recsys.home import Home
from recsys.store import open_store


def _put(client: FlaskClient, *items: dict[str, Any]) -> Any:
    return client.put("/v1/items", json={"items": list(items)}, headers=auth())


def test_full_width_emoji_and_right_to_left_titles_are_stored_normalised(
    client: FlaskClient, api_home: Home
) -> None:
    r = _put(
        client,
        {"item_id": "w1", "title": "ＹＯＧＡ　瑜伽垫\t加厚 ", "category": "\u3000运动"},
        {"item_id": "w2", "title": "👟 Running shoes", "description": "Light.\r\n\r\nFast."},
        {"item_id": "w3", "title": "\u202bحذاء جري\u202c"},
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    store = open_store(api_home)
    try:
        rows = {
            row["item_id"]: row
            for row in store.catalog_frame()
            .filter(store.catalog_frame()["item_id"].is_in(["w1", "w2", "w3"]))
            .to_dicts()
        }
    finally:
        store.close()
    assert rows["w1"]["title"] == "YOGA 瑜伽垫 加厚" and rows["w1"]["category"] == "运动"
    assert rows["w2"]["title"] == "👟 Running shoes"
    assert rows["w2"]["description"] == "Light.\nFast."
    assert rows["w3"]["title"] == "\u202bحذاء جري\u202c"


def test_blank_titles_are_refused_with_a_reason(client: FlaskClient) -> None:
    """The schema and the importer refuse the same titles (recsys.lang.INVISIBLE_RANGES)."""
    reason = (
        "must have a visible character (it is empty or only white space, control or format "
        "characters)"
    )
    for title in ("\u3000\u3000", "\u200b\u200d", "\u202b\u202c\ufeff"):
        r = _put(client, {"item_id": "b1", "title": "ok"}, {"item_id": "b2", "title": title})
        assert r.status_code == 422
        assert r.get_json()["error"]["message"] == f"items/1/title: {reason}"
    # an unassigned code point or a lone combining mark is not invisible: stored as sent
    r = _put(client, {"item_id": "b3", "title": "\U00045d1b"}, {"item_id": "b4", "title": "\u0301"})
    assert r.status_code == 200, r.get_data(as_text=True)
