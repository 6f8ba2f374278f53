"""Bad-input corpus: every hostile or broken request gets a clear 4xx JSON error (never a 5xx) and
leaves the store exactly as it was; odd-but-legal ids are stored verbatim and harmlessly."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from api_testing import auth
from flask.testing import FlaskClient

from recsys.home import Home
from recsys.store import SQLiteStore

EVENT = {"user_id": "u1", "item_id": "k1", "type": "click", "ts": 1_700_000_000}


def snapshot(home: Home) -> str:
    """A digest of every stored event and catalog row."""
    with SQLiteStore(home.db_path) as store:
        events = store.events_frame().sort(["user_id", "item_id", "type", "ts"])
        catalog = store.catalog_frame().sort("item_id")
    digest = hashlib.sha256()
    for frame in (events, catalog):
        digest.update(frame.write_csv().encode())
    return digest.hexdigest()


def assert_json_4xx(response: Any, *statuses: int) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, (response.status_code, response.data[:300])
    if statuses:
        assert response.status_code in statuses, (response.status_code, response.data[:300])
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body


def _event(**changes: Any) -> dict[str, Any]:
    return {**EVENT, **changes}


BIG = "x" * (10 * 1024 * 1024)

# (name, raw body bytes, content type, expected statuses)
BAD_EVENT_BODIES: list[tuple[str, bytes, str, tuple[int, ...]]] = [
    ("truncated JSON", b'{"user_id": "u1", "item_id":', "application/json", (400,)),
    ("not JSON at all", b"user_id=u1&item_id=k1", "application/json", (400,)),
    ("non-UTF-8 bytes", b'{"user_id": "\xff\xfe", "item_id": "k1"}', "application/json", (400,)),
    ("a JSON string", b'"hello"', "application/json", (422,)),
    ("a JSON null", b"null", "application/json", (422,)),
    ("empty body", b"", "application/json", (400,)),
    ("form content type", json.dumps(EVENT).encode(), "application/x-www-form-urlencoded", (415,)),
    ("text content type", json.dumps(EVENT).encode(), "text/plain", (415,)),
    ("user_id a number", json.dumps(_event(user_id=5)).encode(), "application/json", (422,)),
    ("type a list", json.dumps(_event(type=["click"])).encode(), "application/json", (422,)),
    ("ts a bool", json.dumps(_event(ts=True)).encode(), "application/json", (422,)),
    ("ts unparsable", json.dumps(_event(ts="yesterday-ish")).encode(), "application/json", (422,)),
    ("ts negative", json.dumps(_event(ts=-5)).encode(), "application/json", (422,)),
    (
        "ts year 9999",
        json.dumps(_event(ts="9999-01-01T00:00:00Z")).encode(),
        "application/json",
        (422,),
    ),
    ("ts next year", json.dumps(_event(ts=4_102_444_800)).encode(), "application/json", (422,)),
    (
        "missing user_id",
        json.dumps({"item_id": "k1", "type": "click"}).encode(),
        "application/json",
        (422,),
    ),
    (
        "missing type",
        json.dumps({"user_id": "u1", "item_id": "k1"}).encode(),
        "application/json",
        (422,),
    ),
    ("unknown event type", json.dumps(_event(type="like")).encode(), "application/json", (422,)),
    (
        "event type in caps",
        json.dumps(_event(type="PURCHASE ")).encode(),
        "application/json",
        (422,),
    ),
    ("extra field", json.dumps(_event(price=3)).encode(), "application/json", (422,)),
    ("blank user id", json.dumps(_event(user_id="   ")).encode(), "application/json", (422,)),
    ("NUL in user id", json.dumps(_event(user_id="u\x001")).encode(), "application/json", (422,)),
    ("NUL in item id", json.dumps(_event(item_id="k\x00")).encode(), "application/json", (422,)),
    ("id too long", json.dumps(_event(item_id="k" * 10_000)).encode(), "application/json", (422,)),
    ("empty batch", json.dumps({"events": []}).encode(), "application/json", (422,)),
    ("batch not a list", json.dumps({"events": EVENT}).encode(), "application/json", (422,)),
    (
        "10,000-event batch",
        json.dumps(
            {"events": [_event(item_id=f"k{i % 9}", ts=1_700_000_000 + i) for i in range(10_000)]}
        ).encode(),
        "application/json",
        (413, 422),
    ),
    (
        "one bad event in a good batch",
        json.dumps({"events": [_event(), _event(type="teleport"), _event(item_id="k2")]}).encode(),
        "application/json",
        (422,),
    ),
    ("10 MB body", json.dumps(_event(item_id=BIG)).encode(), "application/json", (413,)),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000, "application/json", (400, 422)),
]


@pytest.mark.parametrize(
    ("body", "content_type", "statuses"),
    [pytest.param(b, c, s, id=name) for name, b, c, s in BAD_EVENT_BODIES],
)
def test_bad_event_bodies_are_rejected_and_change_nothing(
    client: FlaskClient, api_home: Home, body: bytes, content_type: str, statuses: tuple[int, ...]
) -> None:
    before = snapshot(api_home)
    response = client.post(
        "/v1/events", data=body, headers={**auth(), "Content-Type": content_type}
    )
    assert_json_4xx(response, *statuses)
    assert snapshot(api_home) == before


BAD_ITEM_BODIES: list[tuple[str, Any, tuple[int, ...]]] = [
    ("negative price", {"items": [{"item_id": "n1", "title": "T", "price": -1}]}, (422,)),
    ("price a string", {"items": [{"item_id": "n1", "title": "T", "price": "cheap"}]}, (422,)),
    ("missing title", {"items": [{"item_id": "n1"}]}, (422,)),
    ("blank title", {"items": [{"item_id": "n1", "title": "  "}]}, (422,)),
    ("in_stock a string", {"items": [{"item_id": "n1", "title": "T", "in_stock": "yes"}]}, (422,)),
    ("attributes a list", {"items": [{"item_id": "n1", "title": "T", "attributes": [1]}]}, (422,)),
    ("bad currency", {"items": [{"item_id": "n1", "title": "T", "currency": "euros"}]}, (422,)),
    ("NUL in item id", {"items": [{"item_id": "n\x001", "title": "T"}]}, (422,)),
    ("not a batch", {"item_id": "n1", "title": "T"}, (422,)),
    ("1,001 items", {"items": [{"item_id": f"n{i}", "title": "T"} for i in range(1001)]}, (422,)),
]


@pytest.mark.parametrize(
    ("body", "statuses"), [pytest.param(b, s, id=name) for name, b, s in BAD_ITEM_BODIES]
)
def test_bad_catalog_bodies_are_rejected_and_change_nothing(
    client: FlaskClient, api_home: Home, body: Any, statuses: tuple[int, ...]
) -> None:
    before = snapshot(api_home)
    assert_json_4xx(client.put("/v1/items", json=body, headers=auth()), *statuses)
    assert snapshot(api_home) == before


@pytest.mark.parametrize("n", ["0", "-1", "1000000000", "abc", "1.5", "", "1e3", "٣"])
@pytest.mark.parametrize(
    "path", ["/v1/users/u1/recommendations", "/v1/items/k1/similar"], ids=["user", "similar"]
)
def test_bad_n_is_422(client: FlaskClient, path: str, n: str) -> None:
    assert_json_4xx(client.get(f"{path}?n={n}"), 422)


@pytest.mark.parametrize("n", [0, -1, 10**9, "abc", None, 2.5])
def test_bad_n_in_a_session_body_is_422(client: FlaskClient, n: Any) -> None:
    response = client.post("/v1/recommendations", json={"recent_item_ids": ["k1"], "n": n})
    assert_json_4xx(response, 422)


ODD_IDS = [
    "a/b",
    "../../etc/passwd",
    "..",
    "😀🛒",
    "'; DROP TABLE events; --",
    "Robert'); DELETE FROM items;--",
    "%2e%2e%2f",
    "id with spaces",
    "<script>alert(1)</script>",
]


@pytest.mark.parametrize("user_id", ODD_IDS)
def test_odd_user_ids_are_just_unknown_users_on_read(client: FlaskClient, user_id: str) -> None:
    from urllib.parse import quote

    response = client.get(f"/v1/users/{quote(user_id, safe='')}/recommendations?n=3")
    assert response.status_code == 200, response.data[:300]
    body = response.get_json()
    assert body["user_id"] == user_id
    assert body["strategy"] == "popular"


def test_odd_ids_are_stored_verbatim_and_harmlessly(client: FlaskClient, api_home: Home) -> None:
    with SQLiteStore(api_home.db_path) as store:
        before = store.count_events()
    events = [_event(user_id=u, item_id=u, ts=1_700_000_000 + i) for i, u in enumerate(ODD_IDS)]
    response = client.post("/v1/events", json={"events": events}, headers=auth())
    assert response.status_code == 202, response.data[:300]
    with SQLiteStore(api_home.db_path) as store:
        assert store.count_events() == before + len(ODD_IDS)
        stored = set(store.events_frame()["user_id"].to_list())
        assert set(ODD_IDS) <= stored
        assert store.get_item("k1") is not None  # the catalog table is still there
    # the user with an SQL fragment for an id now gets content-based recommendations over HTTP
    from urllib.parse import quote

    uid = quote(ODD_IDS[4], safe="")
    assert client.get(f"/v1/users/{uid}/recommendations").status_code == 200


@pytest.mark.parametrize("item_id", ["a/b", "..", "😀", "'; DROP TABLE items; --"])
def test_odd_unknown_item_for_similar_is_404(client: FlaskClient, item_id: str) -> None:
    from urllib.parse import quote

    assert_json_4xx(client.get(f"/v1/items/{quote(item_id, safe='')}/similar"), 404)


def test_nul_in_a_path_id_is_422(client: FlaskClient) -> None:
    assert_json_4xx(client.get("/v1/users/u%001/recommendations"), 422)
    assert_json_4xx(client.delete("/v1/users/u%001", headers=auth("test-admin-key")), 422)


@pytest.mark.parametrize(
    "query",
    [
        "in_stock=maybe",
        "explain=2",
        "category=",
        "n=5&n=6",
        "mode=telepathy",
        "exclude=" + "a," * 20_001,
    ],
)
def test_bad_query_values_are_422(client: FlaskClient, query: str) -> None:
    path = "/v1/items/k1/similar" if query.startswith("mode") else "/v1/users/u1/recommendations"
    assert_json_4xx(client.get(f"{path}?{query}"), 422)
