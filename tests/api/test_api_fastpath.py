"""The lean path (``api.fastpath``) answers as the Flask routes do, and writes events once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from api_testing import WRITE_KEY, answer_bytes, auth, make_app
from flask import Flask
from flask.testing import FlaskClient

from api.fastpath import FastPath
from recsys.errors import StoreBusyError
from recsys.home import Home
from recsys.text import TextEncoder

ROUTE = "/v1/users/<path:user_id>/recommendations"


@dataclass(frozen=True)
class Pitch:
    text: str
    source: str


class Pitcher:
    """A fake pitch writer (the real one has its own tests)."""

    def pitches_for(
        self, user_id: str, history: Any, items: Any, wait_ms: int, language: str | None = None
    ) -> list[Pitch]:
        return [Pitch(f"{user_id} {i.item_id} {len(history)} {wait_ms}", "fake") for i in items]

    def close(self) -> None:
        pass


class FlaskCalls:
    """Counts the requests the middleware hands to Flask."""

    def __init__(self, app: Flask) -> None:
        middleware = app.wsgi_app
        assert isinstance(middleware, FastPath)
        inner = middleware.flask_wsgi
        self.count = 0

        def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            self.count += 1
            return inner(environ, start_response)

        middleware.flask_wsgi = counting


@pytest.fixture
def pair(api_home: Home, encoder: TextEncoder) -> Iterator[tuple[Flask, Flask]]:
    """Two apps over the same home: with the fast path, and without it."""
    fast = make_app(api_home, encoder, pitch_provider=Pitcher())
    plain = make_app(api_home, encoder, pitch_provider=Pitcher(), fast_path=False)
    yield fast, plain
    fast.extensions["recsys"].close()
    plain.extensions["recsys"].close()


def same_response(fast: FlaskClient, plain: FlaskClient, url: str, **kwargs: Any) -> Any:
    """Get ``url`` from both apps; assert equal status, headers and bytes; return the response."""
    headers = {"X-Request-ID": "req-1", **kwargs.pop("headers", {})}
    a = fast.get(url, headers=headers, **kwargs)
    b = plain.get(url, headers=headers, **kwargs)
    assert a.status_code == b.status_code, url
    assert list(a.headers.items()) == list(b.headers.items()), url
    assert answer_bytes(a.get_data()) == answer_bytes(b.get_data()), url
    return a


ANSWERED = [
    "/v1/users/run1/recommendations?n=3",
    "/v1/users/run1/recommendations",
    "/v1/users/cook2/recommendations?n=10&exclude=k1,%20r2",
    "/v1/users/cook2/recommendations?n=4&in_stock=false",
    "/v1/users/run3/recommendations?n=3&explain=true",
    "/v1/users/run3/recommendations?n=2&category=Kitchen",
    "/v1/users/run3/recommendations?n=+3&explain=YES",
    "/v1/users/run1/recommendations?n=2&pitch=true&pitch_wait_ms=7",
    "/v1/users/run1/recommendations?n=3&utm_source=mail",  # unknown parameters are ignored
    "/v1/users/nobody/recommendations?n=3",  # unknown user: fallback, not an error
    "/v1/users/a%20b/recommendations?n=3",
    "/v1/users/run1/recommendations?category=%C3%A9",  # percent-encoded UTF-8 in the query
]
HANDED_TO_FLASK = [
    "/v1/users/run1/recommendations?n=0",
    "/v1/users/run1/recommendations?n=abc",
    "/v1/users/run1/recommendations?n=3&n=4",
    "/v1/users/run1/recommendations?explain=maybe",
    "/v1/users/run1/recommendations?n=3&pitch_wait_ms=99999",
    "/v1/users/run1/recommendations?exclude=" + "x" * 20_000,
    "/v1/users/%20/recommendations",  # blank id: 422
    "/v1/users/caf%C3%A9/recommendations?n=3",  # not ASCII: Flask decodes it
    "/v1/users/a%2Fb/recommendations?n=3",  # a "/" in the id
    "/v1/users/run1/recommendations/",
]


def test_answers_equal_the_flask_route_byte_for_byte(pair: tuple[Flask, Flask]) -> None:
    fast_app, plain_app = pair
    fast, plain = fast_app.test_client(), plain_app.test_client()
    calls = FlaskCalls(fast_app)
    for url in ANSWERED:
        response = same_response(fast, plain, url)
        assert response.status_code == 200, url
        assert response.headers["X-Request-ID"] == "req-1"
        assert response.get_json()["request_id"] == "req-1"
    assert calls.count == 0  # all answered by the middleware
    # the precomputed answer and a live one both went through it
    assert fast.get(ANSWERED[0]).get_json()["ranking"] == "precomputed"
    assert fast.get(ANSWERED[4]).get_json()["ranking"] == "live"
    assert calls.count == 0
    pitched = fast.get(ANSWERED[7]).get_json()["items"]
    assert pitched[0]["pitch"] == {"text": f"run1 {pitched[0]['item_id']} 3 7", "source": "fake"}


def test_errors_and_unusual_paths_go_to_flask_unchanged(pair: tuple[Flask, Flask]) -> None:
    fast_app, plain_app = pair
    fast, plain = fast_app.test_client(), plain_app.test_client()
    calls = FlaskCalls(fast_app)
    statuses = [same_response(fast, plain, url).status_code for url in HANDED_TO_FLASK]
    assert statuses == [422, 422, 422, 422, 422, 422, 422, 200, 200, 404]
    assert calls.count == len(HANDED_TO_FLASK)
    for method in (fast.head, fast.post, fast.delete):
        method("/v1/users/run1/recommendations")
    assert calls.count == len(HANDED_TO_FLASK) + 3


SIMILAR_ANSWERED = [
    "/v1/items/r1/similar?n=2",
    "/v1/items/r1/similar",
    "/v1/items/k1/similar?n=3&mode=content",
    "/v1/items/k1/similar?n=3&mode=behavior",
    "/v1/items/r1/similar?n=3&exclude=r2,k1",
    "/v1/items/r1/similar?n=3&explain=true",
    "/v1/items/r1/similar?n=2&category=Kitchen",
    "/v1/items/r1/similar?n=3&in_stock=false",
]
SIMILAR_HANDED_TO_FLASK = [
    "/v1/items/nope/similar?n=2",  # unknown item: 404
    "/v1/items/r1/similar?n=0",
    "/v1/items/r1/similar?mode=telepathy",
    "/v1/items/a%2Fb/similar?n=3",  # a "/" in the id: Flask routes it (unknown: 404)
]


def test_similar_items_equal_the_flask_route_byte_for_byte(pair: tuple[Flask, Flask]) -> None:
    fast_app, plain_app = pair
    fast, plain = fast_app.test_client(), plain_app.test_client()
    calls = FlaskCalls(fast_app)
    for url in SIMILAR_ANSWERED:
        response = same_response(fast, plain, url)
        assert response.status_code == 200, url
        assert response.get_json()["items"], url
    assert calls.count == 0
    statuses = [same_response(fast, plain, url).status_code for url in SIMILAR_HANDED_TO_FLASK]
    assert statuses == [404, 422, 422, 404]
    assert calls.count == len(SIMILAR_HANDED_TO_FLASK)


def same_post(fast: FlaskClient, plain: FlaskClient, body: bytes, ctype: str) -> Any:
    """POST ``body`` to /v1/recommendations on both apps; assert equal answers; return one."""
    headers = {"X-Request-ID": "req-2", "Content-Type": ctype}
    a = fast.post("/v1/recommendations", data=body, headers=headers)
    b = plain.post("/v1/recommendations", data=body, headers=headers)
    assert a.status_code == b.status_code, body
    assert list(a.headers.items()) == list(b.headers.items()), body
    assert answer_bytes(a.get_data()) == answer_bytes(b.get_data()), body
    return a


SESSIONS_ANSWERED = [
    b'{"recent_item_ids": ["r1"]}',
    b'{"recent_item_ids": ["k1", "r2"], "n": 3, "explain": true}',
    b'{"recent_item_ids": ["r1"], "n": 2, "category": "Kitchen", "exclude": ["k2"]}',
    b'{"recent_item_ids": ["r1"], "n": 4, "in_stock": false}',
    b'{"recent_item_ids": ["nope"], "n": 3}',  # unknown items: popular fallback
    b'{"recent_item_ids": []}',
]
SESSIONS_TO_FLASK = [
    (b'{"recent_item_ids": ["r1"], "n": 0}', "application/json", 422),
    (b'{"recent_item_ids": ["r1"], "n": 2, "colour": "red"}', "application/json", 422),
    (b'{"recent_item_ids": "r1"}', "application/json", 422),
    (b"{not json", "application/json", 400),
    (b'{"recent_item_ids": ["r1"]}', "text/plain", 415),
    (b'{"recent_item_ids": ["r1"], "n": NaN}', "application/json", 422),
]


def test_sessions_equal_the_flask_route_byte_for_byte(pair: tuple[Flask, Flask]) -> None:
    fast_app, plain_app = pair
    fast, plain = fast_app.test_client(), plain_app.test_client()
    calls = FlaskCalls(fast_app)
    for body in SESSIONS_ANSWERED:
        response = same_post(fast, plain, body, "application/json")
        assert response.status_code == 200 and response.get_json()["items"], body
    assert same_post(fast, plain, SESSIONS_ANSWERED[0], "application/json; charset=utf-8")
    assert calls.count == 0
    statuses = [same_post(fast, plain, b, t).status_code for b, t, _ in SESSIONS_TO_FLASK]
    assert statuses == [status for _, _, status in SESSIONS_TO_FLASK]
    assert calls.count == len(SESSIONS_TO_FLASK)


def test_a_new_request_id_when_none_or_a_bad_one_is_given(pair: tuple[Flask, Flask]) -> None:
    fast = pair[0].test_client()
    ids = set()
    for given in ({}, {"X-Request-ID": "bad id with spaces"}):
        response = fast.get("/v1/users/run1/recommendations?n=2", headers=given)
        rid = response.headers["X-Request-ID"]
        assert len(rid) == 32 and rid == response.get_json()["request_id"]
        ids.add(rid)
    assert len(ids) == 2


def test_keyed_reads(api_home: Home, encoder: TextEncoder) -> None:
    fast_app = make_app(api_home, encoder, read_requires_key=True)
    plain_app = make_app(api_home, encoder, read_requires_key=True, fast_path=False)
    try:
        fast, plain = fast_app.test_client(), plain_app.test_client()
        calls = FlaskCalls(fast_app)
        url = "/v1/users/run1/recommendations?n=2"
        assert same_response(fast, plain, url).status_code == 401
        bad = {"Authorization": "Bearer nope"}
        assert same_response(fast, plain, url, headers=bad).status_code == 401
        assert calls.count == 2
        assert same_response(fast, plain, url, headers=auth(WRITE_KEY)).status_code == 200
        assert calls.count == 2
    finally:
        fast_app.extensions["recsys"].close()
        plain_app.extensions["recsys"].close()


def test_no_model_yet_is_flasks_503(tmp_path: Any, encoder: TextEncoder) -> None:
    home = Home(tmp_path / "empty").ensure()
    fast_app = make_app(home, encoder)
    plain_app = make_app(home, encoder, fast_path=False)
    try:
        calls = FlaskCalls(fast_app)
        url = "/v1/users/run1/recommendations?n=2"
        response = same_response(fast_app.test_client(), plain_app.test_client(), url)
        assert response.status_code == 503 and calls.count == 1
    finally:
        fast_app.extensions["recsys"].close()
        plain_app.extensions["recsys"].close()


def _samples(client: FlaskClient) -> dict[str, float]:
    """Request counts and latency-histogram counts from ``/metrics``, except /metrics itself."""
    out = {}
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith("#") or "/metrics" in line:
            continue
        name = line.split("{")[0]
        if name in (
            "recsys_http_requests_total",
            "recsys_http_request_duration_seconds_count",
            "recsys_user_recommendations_total",
            "recsys_model_info",
        ):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def _fast_path_answers(client: FlaskClient) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    lines = [x for x in text.splitlines() if x.startswith("recsys_fast_path_answers_total ")]
    return float(lines[0].split()[1])


def test_metrics_are_recorded_as_the_flask_route_records_them(pair: tuple[Flask, Flask]) -> None:
    fast_app, plain_app = pair
    fast, plain = fast_app.test_client(), plain_app.test_client()
    urls = [*ANSWERED[:6], *HANDED_TO_FLASK[:3], "/v1/items/r1/similar?n=2"]
    for url in urls:
        same_response(fast, plain, url)
    samples = _samples(fast)
    assert samples == _samples(plain)
    requests = f'recsys_http_requests_total{{method="GET",route="{ROUTE}",status="200"}}'
    latency = f'recsys_http_request_duration_seconds_count{{method="GET",route="{ROUTE}"}}'
    assert samples[requests] == 6 and samples[latency] == 9
    assert _fast_path_answers(fast) == 7 and _fast_path_answers(plain) == 0  # 6 users, 1 similar
    version = fast_app.extensions["recsys"].service.snapshot.version
    assert samples[f'recsys_model_info{{version="{version}"}}'] == 1.0


# ------------------------------------------------------------------------ event writes
def same_events(
    fast: FlaskClient, plain: FlaskClient, bodies: tuple[bytes, bytes], **kw: Any
) -> Any:
    """POST one body to each app's /v1/events; assert equal answers; return the lean one's.

    The two apps share a store, so each is sent its own events (a second copy of the same
    events would be deduplicated and answer ``stored: 0``).
    """
    headers = {"X-Request-ID": "req-3", "Content-Type": "application/json", **auth(WRITE_KEY)}
    headers.update(kw.pop("headers", {}))
    a = fast.post("/v1/events", data=bodies[0], headers=headers)
    b = plain.post("/v1/events", data=bodies[1], headers=headers)
    assert a.status_code == b.status_code, bodies
    assert list(a.headers.items()) == list(b.headers.items()), bodies
    assert a.get_data() == b.get_data(), bodies
    return a


def _event_bodies(tag: str) -> list[bytes]:
    """Plainly valid bodies, their ids marked with ``tag`` (one app's events)."""
    return [
        b'{"user_id": "u-%s", "item_id": "k1", "type": "view"}' % tag.encode(),
        b'{"events": [{"user_id": "u-%s", "item_id": "r1", "type": "purchase", "ts": 1700000000}]}'
        % tag.encode(),
        b'{"events": [{"user_id": "u-%s", "item_id": "r2", "type": "click", "ts": 1700000001.5, '
        b'"session_id": "s1", "event_id": "e-%s"}, {"user_id": "u-%s", "item_id": "k2", '
        b'"type": "add_to_cart", "ts": "2023-11-14T22:13:22Z"}]}' % ((tag.encode(),) * 3),
    ]


def test_events_are_stored_and_answered_as_the_flask_route_does(
    pair: tuple[Flask, Flask],
) -> None:
    fast_app, plain_app = pair
    fast, plain = fast_app.test_client(), plain_app.test_client()
    calls = FlaskCalls(fast_app)
    before = time.time()
    for mine, theirs in zip(_event_bodies("fast"), _event_bodies("plain"), strict=True):
        response = same_events(fast, plain, (mine, theirs))
        assert response.status_code == 202 and response.headers["X-Request-ID"] == "req-3"
        assert response.get_json()["stored"] == response.get_json()["accepted"] > 0
    assert calls.count == 0  # every one written by the lean path
    # a retried batch: its event with an event_id is not stored again (nor its natural key)
    retried = same_events(fast, plain, (_event_bodies("fast")[2], _event_bodies("plain")[2]))
    assert retried.get_json() == {"accepted": 2, "stored": 0}
    store = fast_app.extensions["recsys"].service.store
    for user in ("u-fast", "u-plain"):
        events = store.user_events(user, 10)
        assert sorted((e.item_id, e.type) for e in events) == [
            ("k1", "view"), ("k2", "add_to_cart"), ("r1", "purchase"), ("r2", "click"),
        ]  # fmt: skip
        stamps = {e.item_id: e.ts for e in events}
        assert before <= stamps["k1"] <= time.time()  # no ts: the server's clock
        assert (stamps["r1"], stamps["r2"], stamps["k2"]) == (1.7e9, 1700000001.5, 1700000002.0)


VIEW = b'{"user_id": "u9", "item_id": "k1", "type": "view"}'
OVER_LIMIT = b'{"events": [' + (VIEW + b",") * 1000 + VIEW + b"]}"
EVENTS_TO_FLASK = [
    (b'{"user_id": "u9", "item_id": "k1", "type": "like"}', {}, 422),  # not an event type
    (b'{"user_id": "u9", "item_id": "k1"}', {}, 422),  # no type
    (b'{"user_id": " u7", "item_id": "k1", "type": "view"}', {}, 202),  # valid once trimmed
    (b'{"user_id": "u9", "item_id": "k1", "type": "view", "ts": 99e99}', {}, 422),
    (b'{"user_id": "u9", "item_id": "k1", "type": "view", "position": 1}', {}, 422),
    (b'{"events": []}', {}, 422),
    (OVER_LIMIT, {}, 422),  # more events than max_batch
    (b"{not json", {}, 400),
    (b'{"user_id": "u9", "item_id": "k1", "type": "view"}', {"Content-Type": "text/plain"}, 415),
    (b'{"user_id": "u9", "item_id": "k1", "type": "view"}', {"Authorization": "Bearer no"}, 401),
]


def test_events_not_plainly_valid_go_to_flask_before_anything_is_written(
    pair: tuple[Flask, Flask],
) -> None:
    fast_app, plain_app = pair
    fast, plain = fast_app.test_client(), plain_app.test_client()
    calls = FlaskCalls(fast_app)
    for body, headers, status in EVENTS_TO_FLASK:
        response = same_events(fast, plain, (body, body), headers=headers)
        assert response.status_code == status, body[:80]
    assert calls.count == len(EVENTS_TO_FLASK)
    store = fast_app.extensions["recsys"].service.store
    assert store.user_events("u9", 10) == []
    assert [e.item_id for e in store.user_events("u7", 10)] == ["k1", "k1"]  # each app's, by Flask


@pytest.mark.parametrize(
    ("error", "status"), [(StoreBusyError("busy", retry_after_s=1.0), 503), (OSError("disk"), 500)]
)
def test_a_failed_write_is_answered_by_flask_and_never_tried_twice(
    pair: tuple[Flask, Flask], monkeypatch: pytest.MonkeyPatch, error: Exception, status: int
) -> None:
    fast_app, plain_app = pair
    tried: list[str] = []

    def failing(app: str) -> Callable[..., Any]:
        def add_events(events: Any) -> int:
            tried.append(app)
            raise error

        return add_events

    for name, app in (("fast", fast_app), ("plain", plain_app)):
        for write in ("add_events", "add_event_rows"):  # Flask's write, the lean path's
            monkeypatch.setattr(app.extensions["recsys"].service, write, failing(name))
    calls = FlaskCalls(fast_app)
    body = b'{"user_id": "u8", "item_id": "k1", "type": "view"}'
    response = same_events(fast_app.test_client(), plain_app.test_client(), (body, body))
    assert response.status_code == status
    assert tried == ["fast", "plain"]  # the lean path's write was not retried by the route
    assert calls.count == 1
    if status == 503:
        assert response.headers["Retry-After"] == "1"


def test_event_metrics_are_recorded_as_the_flask_route_records_them(
    pair: tuple[Flask, Flask],
) -> None:
    fast_app, plain_app = pair
    fast, plain = fast_app.test_client(), plain_app.test_client()
    for mine, theirs in zip(_event_bodies("mf"), _event_bodies("mp"), strict=True):
        same_events(fast, plain, (mine, theirs))
    body = EVENTS_TO_FLASK[0][0]
    same_events(fast, plain, (body, body))
    samples = _samples(fast)
    assert samples == _samples(plain)
    accepted = 'recsys_http_requests_total{method="POST",route="/v1/events",status="202"}'
    assert samples[accepted] == 3
    assert _fast_path_answers(fast) == 3 and _fast_path_answers(plain) == 0


@pytest.mark.parametrize(
    "query",
    [
        "",
        "n=5",
        "n=5&n=6",
        "explain=&n=3",
        "category=a%20b&exclude=x,y&in_stock=false",
        "category=%E5%A5%B3%E8%A3%85",  # UTF-8 percent escapes (Chinese)
        "category=%ff%fe",  # not UTF-8: werkzeug's error handler
        "a+b=c+d&&=&flag",
        "lang=zh-CN&lang=",
    ],
)
def test_query_parameters_are_the_values_flask_reads(query: str) -> None:
    from werkzeug.test import EnvironBuilder

    from api.fastpath import _query_args

    flask_args = EnvironBuilder(query_string=query).get_request().args
    ours = _query_args(query)
    assert dict(ours) == flask_args.to_dict(flat=False)
    for key in [*flask_args.keys(), "absent"]:
        assert ours.getlist(key) == flask_args.getlist(key)
