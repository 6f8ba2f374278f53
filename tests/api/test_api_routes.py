"""Every route of the API through the Flask test client: statuses, answers and error shapes."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from api_testing import ADMIN_KEY, WRITE_KEY, auth, make_app
from flask import Flask
from flask.testing import FlaskClient

from recsys.home import Home
from recsys.store import SQLiteStore
from recsys.text import TextEncoder
from recsys.types import RecommendedItem


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


def ids(body: dict[str, Any]) -> list[str]:
    return [item["item_id"] for item in body["items"]]


# ----------------------------------------------------------------------------------- system
def test_health_ready_model_openapi(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz").get_json()
    assert ready["status"] == "ready" and ready["model_version"].startswith("v")
    model = client.get("/v1/model").get_json()
    assert model["model_version"] == ready["model_version"]
    assert model["manifest"]["counts"]["items"] == 10
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.") and "/v1/events" in spec["paths"]


def test_not_ready_without_a_bundle(home: Home, encoder: TextEncoder) -> None:
    app = make_app(home, encoder)
    try:
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        assert_error(client.get("/readyz"), 503, "not_ready")
        assert_error(client.get("/v1/users/u1/recommendations"), 503, "no_model")
        assert_error(client.get("/v1/model"), 503, "no_model")
    finally:
        app.extensions["recsys"].close()


def test_metrics_count_routes_and_model_version(client: FlaskClient) -> None:
    client.get("/v1/users/run1/recommendations")
    client.get("/v1/users/run2/recommendations")
    client.get("/v1/nope")
    text = client.get("/metrics").get_data(as_text=True)
    version = client.get("/readyz").get_json()["model_version"]
    line = (
        'recsys_http_requests_total{method="GET",route="/v1/users/<path:user_id>/recommendations",'
        'status="200"} 2.0'
    )
    assert line in text
    assert 'route="<unmatched>",status="404"' in text
    assert "recsys_http_request_duration_seconds_bucket" in text
    assert f'recsys_model_info{{version="{version}"}} 1.0' in text


def test_unknown_route_and_wrong_method_are_json(client: FlaskClient) -> None:
    assert_error(client.get("/v1/nope"), 404, "not_found")
    error = client.delete("/healthz")
    assert_error(error, 405, "method_not_allowed")
    assert "GET" in error.headers["Allow"]
    assert_error(client.post("/v1/users/run1/recommendations"), 405, "method_not_allowed")


def test_request_id_is_echoed_or_made(client: FlaskClient) -> None:
    r = client.get("/v1/users/run1/recommendations", headers={"X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123" and r.get_json()["request_id"] == "abc-123"
    r = client.get("/v1/users/run1/recommendations", headers={"X-Request-ID": "bad id!"})
    assert r.headers["X-Request-ID"] != "bad id!" and len(r.get_json()["request_id"]) == 32


def test_unexpected_error_is_a_json_500_without_internals(app: Flask) -> None:
    service = app.extensions["recsys"].service

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail /srv/passwords")

    service.recommend_user = boom
    error = assert_error(app.test_client().get("/v1/users/run1/recommendations"), 500)
    assert error["code"] == "internal_error"
    assert "secret" not in error["message"] and "RuntimeError" not in error["message"]


# ------------------------------------------------------------------------- recommendations
def test_user_recommendations(client: FlaskClient) -> None:
    r = client.get("/v1/users/run1/recommendations?n=3")
    assert r.status_code == 200
    body = r.get_json()
    assert body["user_id"] == "run1" and body["strategy"] == "hybrid"
    assert ids(body)[0] == "r1"  # the one running item run1 lacks
    assert len(body["items"]) == 3 and "reason" not in body["items"][0]
    item = body["items"][0]
    assert item["title"] == "Running shoes" and item["category"] == "Running"
    assert item["price"] == 10.0 and item["in_stock"] is True
    explained = client.get("/v1/users/run1/recommendations?n=3&explain=true").get_json()
    assert explained["items"][0]["reason"]["kind"] in ("history", "popular", "similar")


def test_unknown_user_gets_the_popular_fallback(client: FlaskClient) -> None:
    body = client.get("/v1/users/never-seen/recommendations?n=5").get_json()
    assert body["strategy"] == "popular" and len(body["items"]) == 5


def test_user_filters(client: FlaskClient) -> None:
    kitchen = client.get("/v1/users/run1/recommendations?n=10&category=Kitchen").get_json()
    assert kitchen["items"] and all(i["category"] == "Kitchen" for i in kitchen["items"])
    assert "k5" not in ids(kitchen)  # out of stock
    with_oos = client.get(
        "/v1/users/run1/recommendations?n=10&category=Kitchen&in_stock=false"
    ).get_json()
    assert "k5" in ids(with_oos)
    excluded = client.get("/v1/users/run1/recommendations?n=3&exclude=r1,r5").get_json()
    assert not {"r1", "r5"} & set(ids(excluded))


@pytest.mark.parametrize(
    "query",
    [
        "n=0",
        "n=101",
        "n=abc",
        "n=1.5",
        "in_stock=maybe",
        "explain=2",
        "n=1&n=2",
        "pitch=x",
        "pitch_wait_ms=-1",
    ],
)
def test_bad_query_parameters_are_422(client: FlaskClient, query: str) -> None:
    assert_error(client.get(f"/v1/users/run1/recommendations?{query}"), 422, "validation_error")


def test_blank_user_id_is_422(client: FlaskClient) -> None:
    assert_error(client.get("/v1/users/%20/recommendations"), 422, "validation_error")
    assert_error(client.get(f"/v1/users/{'x' * 300}/recommendations"), 422)


def test_similar_items(client: FlaskClient) -> None:
    body = client.get("/v1/items/r2/similar?n=3").get_json()
    assert body["item_id"] == "r2" and body["mode"] == "hybrid"
    assert len(body["items"]) == 3 and "r2" not in ids(body)
    assert all(i["category"] == "Running" for i in body["items"])
    content = client.get("/v1/items/r1/similar?n=1&mode=content").get_json()
    assert ids(content) == ["r5"]  # "Trail running shoes" is closest in text
    assert_error(client.get("/v1/items/nope/similar"), 404, "unknown_item")
    assert_error(client.get("/v1/items/r1/similar?mode=magic"), 422, "validation_error")


def test_session_recommendations(client: FlaskClient) -> None:
    r = client.post("/v1/recommendations", json={"recent_item_ids": ["k1", "k2"], "n": 2})
    assert r.status_code == 200
    body = r.get_json()
    assert body["strategy"] == "content" and len(body["items"]) == 2
    assert set(ids(body)) <= {"k3", "k4"}
    empty = client.post("/v1/recommendations", json={"recent_item_ids": []}).get_json()
    assert empty["strategy"] == "popular"


def test_session_request_errors(client: FlaskClient) -> None:
    assert_error(
        client.post("/v1/recommendations", data="{not json", content_type="application/json"),
        400,
        "bad_request",
    )
    assert_error(
        client.post("/v1/recommendations", data="recent=1", content_type="text/plain"),
        415,
        "unsupported_media_type",
    )
    assert_error(client.post("/v1/recommendations", json={"recent_item_ids": ["a"], "x": 1}), 422)
    assert_error(client.post("/v1/recommendations", json={"recent_item_ids": "k1"}), 422)
    assert_error(client.post("/v1/recommendations", json={"recent_item_ids": [], "n": 0}), 422)
    assert_error(client.post("/v1/recommendations", json=[1, 2]), 422)


def test_body_over_the_limit_is_413(api_home: Home, encoder: TextEncoder) -> None:
    app = make_app(api_home, encoder, max_body_bytes=1000)
    try:
        big = {"recent_item_ids": ["x" * 200] * 10}
        error = assert_error(app.test_client().post("/v1/recommendations", json=big), 413)
        assert error["code"] == "payload_too_large"
    finally:
        app.extensions["recsys"].close()


# ---------------------------------------------------------------------------------- events
def test_events_need_a_write_key(client: FlaskClient) -> None:
    event = {"user_id": "u1", "item_id": "r1", "type": "view"}
    assert_error(client.post("/v1/events", json=event), 401, "unauthorized")
    assert_error(client.post("/v1/events", json=event, headers=auth("wrong")), 401)
    assert_error(client.post("/v1/events", json=event, headers={"Authorization": "Basic x"}), 401)
    assert client.post("/v1/events", json=event, headers=auth(ADMIN_KEY)).status_code == 202


def test_events_single_and_batch(client: FlaskClient, api_home: Home) -> None:
    r = client.post(
        "/v1/events", json={"user_id": "u1", "item_id": "r1", "type": "view"}, headers=auth()
    )
    assert r.status_code == 202 and r.get_json() == {"accepted": 1, "stored": 1}
    batch = {
        "events": [
            {"user_id": "u2", "item_id": "k1", "type": "click", "ts": 1_700_000_000},
            {"user_id": "u2", "item_id": "k2", "type": "purchase", "ts": "2023-11-14T22:13:21Z"},
            {"user_id": "u2", "item_id": "new-item", "type": "view", "session_id": "s1"},
        ]
    }
    r = client.post("/v1/events", json=batch, headers=auth())
    assert r.status_code == 202 and r.get_json() == {"accepted": 3, "stored": 3}
    with SQLiteStore(api_home.db_path) as store:
        events = store.user_events("u2")
    assert {(e.item_id, e.type) for e in events} == {
        ("k1", "click"),
        ("k2", "purchase"),
        ("new-item", "view"),
    }


def test_invalid_event_rejects_the_whole_batch(client: FlaskClient, api_home: Home) -> None:
    batch = {
        "events": [
            {"user_id": "u3", "item_id": "k1", "type": "view"},
            {"user_id": "u3", "item_id": "k2", "type": "view", "ts": "yesterday"},
        ]
    }
    error = assert_error(client.post("/v1/events", json=batch, headers=auth()), 422)
    assert error["details"] == [{"index": 1, "reason": "unparsable timestamp 'yesterday'"}]
    with SQLiteStore(api_home.db_path) as store:
        assert store.user_events("u3") == []
    bad = [
        {"user_id": "u3", "item_id": "k1", "type": "like"},
        {"user_id": "u3", "item_id": "k1"},
        {"user_id": 3, "item_id": "k1", "type": "view"},
        {"user_id": "u3", "item_id": "k1", "type": "view", "extra": 1},
        {"events": []},
        {"events": [{"user_id": "u3", "item_id": "k1", "type": "view"}] * 1001},
        {"user_id": "u3", "item_id": "k1", "type": "view", "ts": 4_102_444_800},  # 2100
    ]
    for body in bad:
        assert_error(client.post("/v1/events", json=body, headers=auth()), 422)


def test_event_id_makes_retries_idempotent(client: FlaskClient) -> None:
    event = {"user_id": "u4", "item_id": "k1", "type": "view", "event_id": "e-1"}
    first = client.post("/v1/events", json=event, headers=auth()).get_json()
    retry = client.post("/v1/events", json=event, headers=auth()).get_json()
    assert first == {"accepted": 1, "stored": 1}
    assert retry == {"accepted": 1, "stored": 0}  # server-side ts differs, event_id does not
    other = client.post("/v1/events", json={**event, "event_id": "e-2"}, headers=auth())
    assert other.get_json()["stored"] == 1


def test_purchase_is_excluded_at_once(client: FlaskClient) -> None:
    assert ids(client.get("/v1/users/run1/recommendations?n=1").get_json()) == ["r1"]
    event = {"user_id": "run1", "item_id": "r1", "type": "purchase"}
    assert client.post("/v1/events", json=event, headers=auth()).status_code == 202
    after = client.get("/v1/users/run1/recommendations?n=10").get_json()
    assert "r1" not in ids(after)


def test_new_interactions_shift_the_profile_at_once(client: FlaskClient) -> None:
    before = client.get("/v1/users/newbie/recommendations?n=3").get_json()
    assert before["strategy"] == "popular"
    events = {
        "events": [
            {"user_id": "newbie", "item_id": "k1", "type": "add_to_cart"},
            {"user_id": "newbie", "item_id": "k2", "type": "view"},
        ]
    }
    assert client.post("/v1/events", json=events, headers=auth()).status_code == 202
    after = client.get("/v1/users/newbie/recommendations?n=2").get_json()
    assert after["strategy"] == "content"
    assert set(ids(after)) <= {"k3", "k4"}


# --------------------------------------------------------------------------------- catalog
def wait_embedded(client: FlaskClient, timeout: float = 30.0) -> None:
    """Wait until the background embedding job has embedded every pending catalog text."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = client.get("/v1/model").get_json()["manifest"].get("live", {})
        if live.get("pending_embeddings", 0) == 0:
            return
        time.sleep(0.02)
    raise AssertionError(f"catalog texts still pending after {timeout} s")


def test_put_items_makes_a_new_item_recommendable_by_text(client: FlaskClient) -> None:
    assert_error(client.get("/v1/items/r9/similar"), 404)
    items = {
        "items": [
            {
                "item_id": "r9",
                "title": "Trail running shoes, waterproof",
                "description": "Running shoes for muddy trails.",
                "category": "Running",
                "price": 120,
                "currency": "eur",
                "attributes": {"color": "green"},
            }
        ]
    }
    assert_error(client.put("/v1/items", json=items), 401)
    r = client.put("/v1/items", json=items, headers=auth())
    assert r.status_code == 200
    answer = r.get_json()
    # stored at once; the text is embedded in the background (pending until then)
    assert answer in (
        {"upserted": 1, "new": 1, "embedded": 0, "pending": 1},
        {"upserted": 1, "new": 1, "embedded": 0, "pending": 0},  # the job was faster
    )
    wait_embedded(client)
    similar = client.get("/v1/items/r9/similar?n=2&mode=content").get_json()
    assert set(ids(similar)) <= {"r1", "r5"}
    near = client.get("/v1/items/r5/similar?n=2&mode=content").get_json()
    assert "r9" in ids(near)  # the old items now find the new one too
    session = client.post("/v1/recommendations", json={"recent_item_ids": ["r9"], "n": 3})
    assert session.get_json()["strategy"] == "content"
    model = client.get("/v1/model").get_json()
    assert model["manifest"]["live"] == {
        "updated_items": 0,
        "appended_items": 1,
        "pending_embeddings": 0,
    }
    # a user who views it gets running items without retraining
    event = {"user_id": "trail", "item_id": "r9", "type": "view"}
    client.post("/v1/events", json=event, headers=auth())
    recs = client.get("/v1/users/trail/recommendations?n=2").get_json()
    assert all(i["category"] == "Running" for i in recs["items"])


def test_put_items_updates_stock_at_once(client: FlaskClient) -> None:
    assert "k5" not in ids(client.get("/v1/users/cook1/recommendations?n=10").get_json())
    scale = {
        "item_id": "k5",
        "title": "Kitchen scale",
        "description": "Kitchen scale. A kitchen product.",
        "category": "Kitchen",
        "price": 10.0,
        "currency": "EUR",
        "in_stock": True,
    }
    r = client.put("/v1/items", json={"items": [scale]}, headers=auth())
    same_text = {"upserted": 1, "new": 0, "embedded": 0, "pending": 0}  # cached vector
    assert r.get_json() == same_text
    live = client.get("/v1/model").get_json()["manifest"]["live"]
    assert live == {"updated_items": 1, "appended_items": 0, "pending_embeddings": 0}
    assert "k5" not in ids(client.get("/v1/users/cook1/recommendations?n=10").get_json())
    cook = client.get("/v1/users/cook2/recommendations?n=10&category=Kitchen").get_json()
    assert "k5" not in ids(cook)  # cook2 viewed k5: seen items are excluded
    anon = client.post("/v1/recommendations", json={"recent_item_ids": ["k1"], "n": 10})
    assert "k5" in ids(anon.get_json())


def test_put_items_errors(client: FlaskClient) -> None:
    bad = {
        "items": [
            {"item_id": "x1", "title": "ok"},
            {"item_id": "x2", "title": "t", "currency": "EURO"},
        ]
    }
    assert_error(client.put("/v1/items", json=bad, headers=auth()), 422)
    assert_error(client.put("/v1/items", json={"items": [{"item_id": "x1"}]}, headers=auth()), 422)
    assert_error(
        client.put(
            "/v1/items",
            json={"items": [{"item_id": "x", "title": "t", "price": -1}]},
            headers=auth(),
        ),
        422,
    )
    assert_error(
        client.put("/v1/items", data="[", content_type="application/json", headers=auth()), 400
    )
    assert_error(client.get("/v1/items/x1/similar"), 404)  # nothing was stored


# ---------------------------------------------------------------------------------- erasure
def test_delete_user_needs_an_admin_key(client: FlaskClient) -> None:
    assert_error(client.delete("/v1/users/run1"), 401)
    assert_error(client.delete("/v1/users/run1", headers=auth(WRITE_KEY)), 403, "forbidden")


def test_delete_user_stops_personalization_at_once(client: FlaskClient, api_home: Home) -> None:
    assert client.get("/v1/users/run2/recommendations").get_json()["strategy"] == "hybrid"
    r = client.delete("/v1/users/run2", headers=auth(ADMIN_KEY))
    body = r.get_json()
    assert r.status_code == 200 and (body["user_id"], body["deleted_events"]) == ("run2", 3)
    assert body["erasure"]["events"] == 3 and body["erasure"]["wal_truncated"] is True
    after = client.get("/v1/users/run2/recommendations?n=3&explain=true").get_json()
    assert after["strategy"] == "popular"  # the bundle still holds run2's vector: not used
    assert all(i["reason"]["kind"] == "popular" for i in after["items"])
    with SQLiteStore(api_home.db_path) as store:
        assert store.user_events("run2") == []
        assert store.erased_at("run2") is not None
    # new events after the erasure personalize again, from the content profile only
    event = {"user_id": "run2", "item_id": "k1", "type": "view"}
    client.post("/v1/events", json=event, headers=auth())
    assert client.get("/v1/users/run2/recommendations").get_json()["strategy"] == "content"
    again = client.delete("/v1/users/run2", headers=auth(ADMIN_KEY)).get_json()
    assert again["deleted_events"] == 1


def test_reads_can_require_a_key(api_home: Home, encoder: TextEncoder) -> None:
    app = make_app(api_home, encoder, read_requires_key=True)
    try:
        client = app.test_client()
        assert_error(client.get("/v1/users/run1/recommendations"), 401)
        assert_error(client.get("/v1/items/r1/similar"), 401)
        assert_error(client.post("/v1/recommendations", json={"recent_item_ids": []}), 401)
        ok = client.get("/v1/users/run1/recommendations", headers=auth())
        assert ok.status_code == 200
        assert client.get("/healthz").status_code == 200  # probes stay open
    finally:
        app.extensions["recsys"].close()


# ----------------------------------------------------------------------------------- pitch
@dataclass(frozen=True)
class FakePitch:
    text: str
    source: str


TITLES = {"r1": "Running shoes"}  # the shop's catalog (tests/conftest.py), as far as needed


class FakePitchProvider:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str], list[str], int]] = []

    def pitches_for(
        self,
        user_id: str,
        history: Any,
        items: Sequence[RecommendedItem],
        wait_ms: int,
        language: str | None = None,
    ) -> list[FakePitch]:
        assert all(isinstance(i, RecommendedItem) for i in items)  # typed, not response dicts
        self.calls.append(
            (user_id, [e.item_id for e in history], [i.item_id for i in items], wait_ms)
        )
        return [
            FakePitch(f"You will love {TITLES.get(i.item_id, i.item_id)}.", "template")
            for i in items
        ]

    def close(self) -> None:
        pass


def test_pitch_uses_the_provider(api_home: Home, encoder: TextEncoder) -> None:
    provider = FakePitchProvider()
    app = make_app(api_home, encoder, pitch_provider=provider, pitch_wait_ms=250)
    try:
        client = app.test_client()
        body = client.get("/v1/users/run1/recommendations?n=2&pitch=true").get_json()
        assert body["items"][0]["pitch"] == {
            "text": "You will love Running shoes.",
            "source": "template",
        }
        user, history, items, wait = provider.calls[0]
        assert user == "run1" and set(history) == {"r2", "r3", "r4"}
        assert items == ids(body) and wait == 250
        client.get("/v1/users/run1/recommendations?n=2&pitch=true&pitch_wait_ms=40")
        assert provider.calls[1][3] == 40
        plain = client.get("/v1/users/run1/recommendations?n=2").get_json()
        assert "pitch" not in plain["items"][0] and len(provider.calls) == 2
    finally:
        app.extensions["recsys"].close()


def test_json_errors_never_leak_html(client: FlaskClient) -> None:
    for response in (
        client.get("/nope"),
        client.patch("/v1/items"),
        client.put("/v1/items", data=b"\xff\xfe", content_type="application/json", headers=auth()),
    ):
        assert response.is_json
        json.loads(response.get_data())


def test_delete_on_a_sub_resource_is_405_not_an_erasure(client: FlaskClient) -> None:
    r = client.delete("/v1/users/run1/recommendations", headers=auth(ADMIN_KEY))
    assert_error(r, 405, "method_not_allowed")
    assert client.get("/v1/users/run1/recommendations").get_json()["strategy"] == "hybrid"


def test_post_erasures_erases_any_id_the_api_accepts(client: FlaskClient) -> None:
    # an id with "/" cannot be one path segment: POST /v1/erasures names ids in the body
    for user in ("a/b", "run1/recommendations"):
        event = {"user_id": user, "item_id": "r1", "type": "view"}
        assert client.post("/v1/events", json=event, headers=auth()).status_code == 202
    body = {"user_ids": ["a/b", "run1/recommendations", "never-seen"]}
    assert_error(client.post("/v1/erasures", json=body, headers=auth()), 403, "forbidden")
    r = client.post("/v1/erasures", json=body, headers=auth(ADMIN_KEY))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["users"] == 3 and r.get_json()["deleted_events"] == 2
    assert client.get("/v1/users/run1/recommendations").get_json()["strategy"] == "hybrid"
    bad = client.post("/v1/erasures", json={"user_ids": []}, headers=auth(ADMIN_KEY))
    assert_error(bad, 422, "validation_error")


def test_pitch_with_the_real_provider_template_backend(
    api_home: Home, encoder: TextEncoder
) -> None:
    from recsys.pitch.config import PitchConfig
    from recsys.pitch.serving import PitchProvider

    provider = PitchProvider(api_home, PitchConfig(backend="template"))
    app = make_app(api_home, encoder, pitch_provider=provider)
    try:
        body = app.test_client().get("/v1/users/run1/recommendations?n=2&pitch=true").get_json()
        first = body["items"][0]
        assert first["pitch"]["source"] in ("template", "cache")
        assert "Running shoes" in first["pitch"]["text"]  # grounded: names the product
    finally:
        app.extensions["recsys"].close()
