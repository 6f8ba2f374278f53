"""``?lang=``: reasons in the language a request asks for, else in the catalog's.

Over the tiny trained shop (tests/api/conftest.py; an English catalog) and the same home with
its bundle's manifest saying the catalog is Chinese. Each answer is fetched through the lean
request path (``api/fastpath.py``) and through Flask alone, which must agree byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from api_testing import answer_bytes, make_app
from flask import Flask
from flask.testing import FlaskClient

from recsys.home import Home
from recsys.text import TextEncoder
from recsys.types import RecommendedItem

USER = "/v1/users/run1/recommendations?n=3&explain=true"
SIMILAR = "/v1/items/k1/similar?n=2&explain=true"
SESSION = "/v1/recommendations"
SESSION_BODY = {"recent_item_ids": ["k1"], "n": 2, "explain": True}


@dataclass(frozen=True)
class Pitch:
    text: str
    source: str


class Pitcher:
    """A pitch provider that records the language each call asked for."""

    def __init__(self) -> None:
        self.languages: list[str | None] = []

    def pitches_for(
        self,
        user_id: str,
        history: Any,
        items: Sequence[RecommendedItem],
        wait_ms: int = 0,
        language: str | None = None,
    ) -> list[Pitch]:
        self.languages.append(language)
        return [Pitch(f"{language} {i.item_id}", "template") for i in items]

    def close(self) -> None:
        pass


@pytest.fixture
def apps(api_home: Home, encoder: TextEncoder) -> Iterator[tuple[Flask, Flask, Pitcher]]:
    """Two apps over one home, with the fast path and without it, sharing a recording pitcher."""
    pitcher = Pitcher()
    fast = make_app(api_home, encoder, pitch_provider=pitcher)
    plain = make_app(api_home, encoder, pitch_provider=pitcher, fast_path=False)
    yield fast, plain, pitcher
    fast.extensions["recsys"].close()
    plain.extensions["recsys"].close()


def _get(apps: tuple[Flask, Flask, Pitcher], url: str) -> Any:
    """GET ``url`` from both apps; assert the same status and bytes; return the fast response."""
    fast, plain, _ = apps
    headers = {"X-Request-ID": "req-1"}
    a, b = (
        fast.test_client().get(url, headers=headers),
        plain.test_client().get(url, headers=headers),
    )
    assert (a.status_code, answer_bytes(a.get_data())) == (
        b.status_code,
        answer_bytes(b.get_data()),
    ), url
    return a


def _post(apps: tuple[Flask, Flask, Pitcher], url: str, body: dict[str, Any]) -> Any:
    fast, plain, _ = apps
    headers = {"X-Request-ID": "req-1"}
    a = fast.test_client().post(url, json=body, headers=headers)
    b = plain.test_client().post(url, json=body, headers=headers)
    assert (a.status_code, answer_bytes(a.get_data())) == (
        b.status_code,
        answer_bytes(b.get_data()),
    ), url
    return a


def _texts(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["reason"]["text"] for item in response.get_json()["items"]]


def _fast_answers(app: Flask) -> float:
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    line = next(x for x in metrics.splitlines() if x.startswith("recsys_fast_path_answers_total"))
    return float(line.split()[-1])


def test_lang_zh_gives_chinese_reasons(apps: tuple[Flask, Flask, Pitcher]) -> None:
    english = _texts(_get(apps, USER))
    assert english and all(t.startswith("Because you bought ") for t in english)
    before = _fast_answers(apps[0])
    chinese = _texts(_get(apps, USER + "&lang=zh"))
    assert chinese == [t.replace("Because you bought ", "因为您购买了") for t in english]
    assert _fast_answers(apps[0]) == before + 1  # answered by the lean path, not handed to Flask
    for tag in ("zh-TW", "zh-CN", "ZH", "zh_TW", "cn"):
        assert _texts(_get(apps, f"{USER}&lang={tag}")) == chinese, tag
    for tag in ("en", "en-US", ""):  # empty: the catalog's language (English here)
        assert _texts(_get(apps, f"{USER}&lang={tag}")) == english, tag


def test_similar_items_and_sessions_take_lang(apps: tuple[Flask, Flask, Pitcher]) -> None:
    assert _texts(_get(apps, SIMILAR)) == ["Similar to Chef knife"] * 2
    assert _texts(_get(apps, SIMILAR + "&lang=zh")) == ["与Chef knife相似"] * 2
    assert _texts(_get(apps, SIMILAR + "&mode=content&lang=zh-TW")) == ["与Chef knife相似"] * 2
    assert _texts(_post(apps, SESSION, SESSION_BODY)) == ["Because you viewed Chef knife"] * 2
    zh = _texts(_post(apps, SESSION + "?lang=zh", SESSION_BODY))
    assert zh == ["因为您浏览了Chef knife"] * 2


@pytest.mark.parametrize(
    "url",
    [USER + "&lang={}", SIMILAR + "&lang={}", SESSION + "?lang={}"],
    ids=["user", "similar", "session"],
)
@pytest.mark.parametrize("value", ["xx", "fr-FR", "zh%0A", "%20zh", "zh-", "e"])
def test_an_unsupported_lang_is_a_clear_422(
    apps: tuple[Flask, Flask, Pitcher], url: str, value: str
) -> None:
    target = url.format(value)
    response = _post(apps, target, SESSION_BODY) if url.startswith(SESSION) else _get(apps, target)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"].startswith("lang=")
    assert "zh-CN" in error["message"] or "zh-TW" in error["message"]


def test_the_message_names_the_value_and_what_is_allowed(
    apps: tuple[Flask, Flask, Pitcher],
) -> None:
    message = _get(apps, USER + "&lang=xx").get_json()["error"]["message"]
    assert message == (
        "lang='xx' is not supported: use one of ['en', 'zh'] (zh-CN and zh-TW are read as zh)"
    )
    twice = _get(apps, USER + "&lang=zh&lang=en").get_json()["error"]["message"]
    assert twice == "query parameter 'lang' given more than once"


def test_pitches_are_asked_for_in_the_requested_language(
    apps: tuple[Flask, Flask, Pitcher],
) -> None:
    pitcher = apps[2]
    body = _get(apps, "/v1/users/run1/recommendations?n=2&pitch=true&lang=zh-TW").get_json()
    assert [i["pitch"]["text"].split()[0] for i in body["items"]] == ["zh", "zh"]
    assert pitcher.languages == ["zh", "zh"]  # the fast path and Flask
    _get(apps, "/v1/users/run1/recommendations?n=2&pitch=true")
    assert pitcher.languages[2:] == [None, None]  # none asked: the pitch writer decides


@pytest.fixture
def chinese_app(api_home: Home, encoder: TextEncoder) -> Iterator[FlaskClient]:
    """The app over the same home, its bundle's manifest saying the catalog is Chinese."""
    version = (api_home.artifacts / "CURRENT").read_text(encoding="utf-8").strip()
    path = api_home.artifacts / version / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**manifest, "catalog_language": "zh"}), encoding="utf-8")
    app = make_app(api_home, encoder)
    yield app.test_client()
    app.extensions["recsys"].close()


def test_a_chinese_catalog_answers_in_chinese_unless_asked_otherwise(
    chinese_app: FlaskClient,
) -> None:
    assert chinese_app.get("/v1/model").get_json()["manifest"]["catalog_language"] == "zh"
    chinese = _texts(chinese_app.get(USER))
    assert chinese and all(t.startswith("因为您购买了") for t in chinese)
    english = _texts(chinese_app.get(USER + "&lang=en"))
    assert english == [t.replace("因为您购买了", "Because you bought ") for t in chinese]
    assert _texts(chinese_app.get(SIMILAR)) == ["与Chef knife相似"] * 2
    assert _texts(chinese_app.get(SIMILAR + "&lang=en")) == ["Similar to Chef knife"] * 2
    stranger = _texts(chinese_app.get("/v1/users/stranger/recommendations?n=2&explain=true"))
    assert stranger and all(t.endswith("热销") for t in stranger)


def test_the_openapi_document_describes_lang(apps: tuple[Flask, Flask, Pitcher]) -> None:
    spec = _get(apps, "/openapi.json").get_json()
    for path, method in (
        ("/v1/users/{user_id}/recommendations", "get"),
        ("/v1/items/{item_id}/similar", "get"),
        ("/v1/recommendations", "post"),
    ):
        params = {p["name"]: p for p in spec["paths"][path][method].get("parameters", [])}
        assert params["lang"]["in"] == "query" and not params["lang"]["required"], path
        assert params["lang"]["schema"]["type"] == "string"
