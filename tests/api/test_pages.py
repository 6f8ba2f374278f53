"""The HTML pages (api/pages.py): dashboard auth and sections, the demo storefront, escaping.

Flask's test client over the tiny trained shop (no browser: tests/browser drives Chromium).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from api_testing import ADMIN_KEY, WRITE_KEY, auth, make_app
from flask import Flask
from flask.testing import FlaskClient

import api.pages
from api.answers import user_answer
from api.config import ApiConfig
from api.pages import (
    COOKIE,
    EXPERIMENTS_SHOWN,
    PAGES_EXTENSION,
    SESSION_S,
    TOP_MAX_AGE_S,
    TOP_WINDOW_S,
    PageCache,
    activity_sections,
    cookie_valid,
    session_cookie,
)
from recsys.experiments import list_experiments, report_for, stop_experiment
from recsys.home import Home
from recsys.store.schema import EVENT_SCHEMA
from recsys.text import TextEncoder

URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")
EVIL = "<script>alert('x')</script> Evil knife"


def html(response: Any) -> str:
    assert response.mimetype == "text/html", response.data[:300]
    return str(response.get_data(as_text=True))


def external_urls(page: str) -> list[str]:
    """Absolute or protocol-relative URLs in a page (the pages link only to their own paths)."""
    return [u for u in URL.findall(page) if not u.startswith("//localhost/")]


@pytest.fixture
def demo_app(api_home: Home, encoder: TextEncoder) -> Iterator[Flask]:
    application = make_app(api_home, encoder, demo_pages=True)
    yield application
    application.extensions["recsys"].close()


@pytest.fixture
def demo_client(demo_app: Flask) -> FlaskClient:
    return demo_app.test_client()


def signed_in(client: FlaskClient) -> FlaskClient:
    response = client.post("/dashboard/login", data={"key": ADMIN_KEY})
    assert response.status_code == 303
    return client


# ------------------------------------------------------------------------------ dashboard auth
def test_dashboard_needs_an_admin_key(client: FlaskClient) -> None:
    response = client.get("/dashboard")
    assert response.status_code == 401
    page = html(response)
    assert 'name="key"' in page and 'type="password"' in page
    assert "Current bundle" not in page
    assert client.get("/dashboard", headers=auth(WRITE_KEY)).status_code == 401
    assert client.get("/dashboard", headers=auth("nope")).status_code == 401
    assert client.get("/dashboard?key=" + ADMIN_KEY).status_code == 401  # no keys in URLs
    assert client.get("/dashboard/quality.png").status_code == 401
    ok = client.get("/dashboard", headers=auth(ADMIN_KEY))
    assert ok.status_code == 200
    assert "Current bundle" in html(ok)


def test_login_sets_a_strict_httponly_cookie_and_logout_clears_it(client: FlaskClient) -> None:
    wrong = client.post("/dashboard/login", data={"key": WRITE_KEY})
    assert wrong.status_code == 401
    assert "not an admin key" in html(wrong)
    assert "Set-Cookie" not in wrong.headers

    response = client.post("/dashboard/login", data={"key": ADMIN_KEY})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/dashboard")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/dashboard" in cookie
    assert ADMIN_KEY not in cookie  # an HMAC of the key, never the key
    assert client.get("/dashboard").status_code == 200

    out = client.post("/dashboard/logout")
    assert out.status_code == 303
    assert client.get("/dashboard").status_code == 401


def test_session_cookies_expire_and_cannot_be_forged() -> None:
    cfg = ApiConfig(admin_keys=("k1", "k2"))
    now = 1_800_000_000
    assert cookie_valid(cfg, session_cookie("k2", now), now=now + 10)
    assert not cookie_valid(cfg, session_cookie("k2", now), now=now + SESSION_S + 1)
    assert not cookie_valid(cfg, session_cookie("other", now), now=now)
    assert not cookie_valid(cfg, session_cookie("k1", now).replace(str(now), str(now + 1)), now=now)
    assert not cookie_valid(cfg, session_cookie("k1", now + 3600), now=now)  # from the future
    for junk in ("", ".", "abc.def", f"{now}.", f"{now}", "².x", "1" * 5000 + ".x", "-1.x"):
        assert not cookie_valid(cfg, junk, now=now)
    assert not cookie_valid(ApiConfig(), session_cookie("k1", now), now=now)  # no admin keys


def test_a_malformed_cookie_shows_the_login_form(client: FlaskClient) -> None:
    for junk in ("².x", "1" * 5000 + ".x"):  # str.isdigit() takes both; int() refuses them
        response = client.get("/dashboard", headers={"Cookie": f"{COOKIE}={junk}"})
        assert response.status_code == 401, junk
        assert 'name="key"' in html(response)


def test_without_admin_keys_the_login_form_says_so(api_home: Home, encoder: TextEncoder) -> None:
    app = make_app(api_home, encoder, admin_keys=[])
    try:
        client = app.test_client()
        page = html(client.get("/dashboard"))
        assert "No admin keys are configured" in page
        assert client.post("/dashboard/login", data={"key": ""}).status_code == 401
    finally:
        app.extensions["recsys"].close()


# ------------------------------------------------------------------------------ dashboard data
def write_nightly_reports(home: Home) -> None:
    """Two runs as the nightly job writes them (JSON, latest.json, the plot)."""
    folder = home.root / "reports"
    folder.mkdir()
    for i, decision in enumerate(("published", "kept_live")):
        report = {
            "run_id": f"20260101T00000{i}Z",
            "started_at": f"2026-01-0{i + 1}T00:00:00+00:00",
            "decision": decision,
            "bundle": {"candidate": f"v{i}"},
            "metrics": {
                "candidate": {"recall@20": {"mean": 0.25 + i / 10}, "ndcg@20": {"mean": 0.125}},
                "live": {"recall@20": {"mean": 0.2}, "ndcg@20": {"mean": 0.1}},
            },
            "pitches": {"status": "ok", "written": 6, "cached": 3, "template": 1, "failed": 0},
        }
        text = json.dumps(report)
        (folder / f"{report['run_id']}.json").write_text(text)
        (folder / "latest.json").write_text(text)
    (folder / "metrics.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 16)


def test_dashboard_shows_every_section(client: FlaskClient, api_home: Home) -> None:
    write_nightly_reports(api_home)
    now = time.time()
    events = [
        {"user_id": "run1", "item_id": "r1", "type": "purchase", "ts": now - 60},
        {"user_id": "run2", "item_id": "r1", "type": "click", "ts": now - 7200},
    ]
    assert client.post("/v1/events", json={"events": events}, headers=auth()).status_code == 202
    client.get("/v1/users/run3/recommendations")  # counted by ranking
    page = html(signed_in(client).get("/dashboard"))
    version = (api_home.artifacts / "CURRENT").read_text().strip()
    assert version in page
    # quality history: both runs, newest first, and the plot
    assert page.index("20260101T000001Z") < page.index("20260101T000000Z")
    assert "kept_live" in page and "0.35" in page
    assert 'src="/dashboard/quality.png"' in page
    plot = client.get("/dashboard/quality.png")
    assert plot.status_code == 200 and plot.mimetype == "image/png"
    # event rates: the purchase a minute ago is in the last hour, the click only in the day
    assert re.search(r'data-type="purchase" data-window="hour">1<', page)
    assert re.search(r'data-type="click" data-window="hour">0<', page)
    assert re.search(r'data-type="click" data-window="day">1<', page)
    assert re.search(r'id="events-hour">1<', page)
    # top items: the shop's events are years old, so the window is the last 30 days: the two new
    # events, both on r1
    top = page[page.index('id="top-items"') :]
    assert "<code>r1</code>" in top and "Running shoes" in top
    # coverage of the precomputed lists, pitch counts of the last nightly run
    assert re.search(r'id="coverage-value">\d+\.\d%<', page)
    assert re.search(r'id="pitch-cache-hit">30\.0%', page)
    assert re.search(r'id="pitch-fallback">10\.0%', page)
    assert "/v1/users/&lt;path:user_id&gt;/recommendations" in page
    assert "Experiments" in page and "Shopper insights" in page


def test_dashboard_without_reports_or_experiments(client: FlaskClient) -> None:
    page = html(signed_in(client).get("/dashboard"))
    assert "No nightly report yet" in page
    assert client.get("/dashboard/quality.png").status_code == 404


def test_experiments_and_insights(demo_client: FlaskClient) -> None:
    body = {"name": "blend-test", "variants": ["control=current", "treatment=pitch=off"]}
    started = demo_client.post("/v1/experiments", json=body, headers=auth(ADMIN_KEY))
    assert started.status_code == 201, started.get_json()
    for user in ("run1", "run2", "cook1", "cook2"):
        assert demo_client.get(f"/v1/users/{user}/recommendations").status_code == 200
    shop = html(demo_client.get("/demo/shop?user=run1"))
    variant = re.search(r'id="variant">(control|treatment)<', shop)
    assert variant is not None  # the shopper's variant, from the answer
    assert re.search(r'data-rid="[0-9a-f]{16}" data-pos="0"', shop)

    page = html(demo_client.get("/dashboard", headers=auth(ADMIN_KEY)))
    section = page[page.index('id="experiments"') : page.index('id="insights"')]
    assert "<code>blend-test</code>" in section and "running" in section
    assert "<td>control</td>" in section and "<td>treatment</td>" in section
    assert "no decision yet" in section.lower()
    assert 'src="/dashboard/experiments/blend-test.png"' in section
    plot = demo_client.get("/dashboard/experiments/blend-test.png", headers=auth(ADMIN_KEY))
    assert plot.status_code == 200 and plot.data.startswith(b"\x89PNG")
    missing = demo_client.get("/dashboard/experiments/nope.png", headers=auth(ADMIN_KEY))
    assert missing.status_code == 404
    bad = demo_client.get("/dashboard/experiments/Bad%20Name.png", headers=auth(ADMIN_KEY))
    assert bad.status_code == 404

    insights = page[page.index('id="insights"') :]
    assert insights.count('class="segment"') >= 2  # runners and cooks
    assert "Running (100%)" in insights and "Kitchen (100%)" in insights


class FakeStore:
    """Records what ``activity_sections`` asks the store for."""

    def __init__(self) -> None:
        self.since: list[float | None] = []

    def events_frame(self, since_ts: float | None = None) -> pl.DataFrame:
        self.since.append(since_ts)
        return pl.DataFrame(schema=EVENT_SCHEMA)

    def count_events(self) -> int:
        return 0


def test_the_activity_read_is_bounded_to_30_days() -> None:
    now = 1_800_000_000.0
    store = FakeStore()
    iso = datetime.fromtimestamp
    fresh = {"data_window": {"last_event": iso(now - 86400, UTC).isoformat()}}
    stale = {"data_window": {"last_event": iso(now - 400 * 86400, UTC).isoformat()}}
    _, top = activity_sections(store, fresh, now=now)  # type: ignore[arg-type]
    assert top["since"] == now - 86400 - TOP_WINDOW_S and not top["capped"]
    _, top = activity_sections(store, stale, now=now)  # type: ignore[arg-type]
    assert top["since"] == now - TOP_MAX_AGE_S and top["capped"]
    _, top = activity_sections(store, None, now=now)  # type: ignore[arg-type]
    assert top["since"] == now - TOP_WINDOW_S
    assert store.since == [now - 86400 - TOP_WINDOW_S, now - TOP_MAX_AGE_S, now - TOP_WINDOW_S]


def test_two_loads_that_miss_at_once_compute_once() -> None:
    cache = PageCache()
    calls: list[int] = []
    started = threading.Event()

    def slow() -> int:
        calls.append(1)
        started.set()
        time.sleep(0.2)
        return len(calls)

    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(cache.get, "k", "v1", 60.0, slow)
        started.wait(5)
        others = [pool.submit(cache.get, "k", "v1", 60.0, slow) for _ in range(3)]
        values = [first.result(), *(f.result() for f in others)]
    assert values == [1, 1, 1, 1] and len(calls) == 1
    assert cache.get("k", "v2", 60.0, slow) == 2  # computed from something else: recomputed
    assert cache.get("k", "v2", lambda value: None, slow) == 2  # still fresh


def test_the_activity_sections_are_cached_for_a_minute(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []
    real = api.pages.activity_sections

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(time.time())
        return real(*args, **kwargs)

    monkeypatch.setattr(api.pages, "activity_sections", counted)
    signed_in(client)
    first = html(client.get("/dashboard"))
    assert re.search(r'id="events-hour">0<', first)
    event = {"user_id": "run1", "item_id": "r1", "type": "purchase"}
    assert client.post("/v1/events", json=event, headers=auth()).status_code == 202
    second = html(client.get("/dashboard"))
    assert len(calls) == 1  # one store read for both loads
    assert re.search(r'id="events-hour">0<', second)  # counted a moment ago: not yet
    assert "at most a minute ago" in second
    cache = client.application.extensions[PAGES_EXTENSION]
    computed, of, _expires, value = cache.entries["activity"]
    cache.entries["activity"] = (computed, of, time.monotonic() - 1, value)  # a minute later
    third = html(client.get("/dashboard"))
    assert len(calls) == 2 and re.search(r'id="events-hour">1<', third)


def test_experiment_reports_are_cached_and_shared_with_the_chart(
    demo_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = auth(ADMIN_KEY)
    body = {"name": "cached-test", "variants": ["control=current", "treatment=pitch=off"]}
    assert demo_client.post("/v1/experiments", json=body, headers=admin).status_code == 201
    assert demo_client.get("/v1/users/run1/recommendations").status_code == 200
    calls: list[str] = []
    real = report_for

    def counted(store: Any, spec: Any, now: float | None = None) -> Any:
        calls.append(spec.name)
        return real(store, spec, now)

    monkeypatch.setattr(api.pages, "report_for", counted)
    for _ in range(2):
        page = html(demo_client.get("/dashboard", headers=admin))
        assert "<code>cached-test</code>" in page
    for _ in range(2):
        plot = demo_client.get("/dashboard/experiments/cached-test.png", headers=admin)
        assert plot.status_code == 200 and plot.data.startswith(b"\x89PNG")
    assert calls == ["cached-test"]  # one report for two pages and two charts
    entry = demo_client.application.extensions[PAGES_EXTENSION].entries["experiment:cached-test"]
    assert entry[2] is not None  # running: recomputed within a minute

    # stopped two days ago, its 24-hour attribution window is over: cached for good
    store = demo_client.application.extensions["recsys"].service.store
    stop_experiment(store, "cached-test", now=time.time() - 2 * 86400)
    page = html(demo_client.get("/dashboard", headers=admin))
    assert "stopped" in page[page.index('id="experiment-cached-test"') :]
    assert calls == ["cached-test"] * 2
    entry = demo_client.application.extensions[PAGES_EXTENSION].entries["experiment:cached-test"]
    assert entry[2] is None


def test_the_dashboard_lists_the_newest_experiments_only(demo_client: FlaskClient) -> None:
    admin = auth(ADMIN_KEY)
    names = [f"exp-{i:02d}" for i in range(EXPERIMENTS_SHOWN + 2)]
    for name in names:
        body = {"name": name, "variants": ["control=current", "treatment=pitch=off"]}
        assert demo_client.post("/v1/experiments", json=body, headers=admin).status_code == 201
        assert demo_client.post(f"/v1/experiments/{name}/stop", headers=admin).status_code == 200
    store = demo_client.application.extensions["recsys"].service.store
    assert [e.name for e in list_experiments(store)] == names
    page = html(demo_client.get("/dashboard", headers=admin))
    shown = re.findall(r'id="experiment-(exp-\d+)"', page)
    assert shown == names[::-1][:EXPERIMENTS_SHOWN]  # newest first
    assert "the 2 older experiments not listed" in page


def test_a_failing_section_does_not_break_the_dashboard(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(bundle: Any, store: Any) -> Any:
        raise RuntimeError("k-means did not converge")

    monkeypatch.setattr(api.pages, "shopper_segments", broken)
    response = signed_in(client).get("/dashboard")
    assert response.status_code == 200
    assert "k-means did not converge" in html(response)


# ------------------------------------------------------------------------------ demo storefront
def test_demo_is_off_by_default(client: FlaskClient) -> None:
    for path in ("/demo", "/demo/shop?user=run1", "/demo/items/r1"):
        assert client.get(path).status_code == 404


def test_demo_pages_render(demo_client: FlaskClient) -> None:
    index = html(demo_client.get("/demo"))
    assert 'href="/demo/shop?user=run1"' in index and 'href="/demo/shop?user=cook1"' in index
    assert f'<meta name="recsys-demo-key" content="{WRITE_KEY}">' in index

    shop = html(demo_client.get("/demo/shop?user=run1"))
    recs = shop[shop.index('id="recommendations"') :]
    assert "Running shoes" in recs  # r1: the one running item run1 lacks
    assert 'data-user="run1" data-item="r1"' in recs
    assert 'class="reason"' in recs
    assert 'src="/static/demo.js"' in shop
    assert "Show pitches" in shop

    item = html(demo_client.get("/demo/items/r1?user=run1"))
    assert 'id="product-title">Running shoes<' in item
    assert 'id="buy" data-event="purchase" data-user="run1" data-item="r1"' in item
    assert 'data-event="add_to_cart"' in item
    assert "/demo/shop?user=run1&amp;done=purchase&amp;item=r1" in item
    similar = item[item.index('id="similar"') :].split("</ol>")[0]
    first = re.findall(r'data-item-id="([^"]+)"', similar)
    assert len(first) == 6 and "r1" not in first and set(first[:3]) <= {"r2", "r3", "r4", "r5"}

    missing = demo_client.get("/demo/items/nope?user=run1")
    assert missing.status_code == 404 and "Unknown product" in html(missing)
    assert demo_client.get("/demo/shop").status_code == 303
    assert demo_client.get("/demo/shop?user=%20").status_code == 303
    with demo_client.get("/static/pages.css") as css, demo_client.get("/static/demo.js") as js:
        assert css.mimetype == "text/css" and js.status_code == 200


def test_the_demo_never_hands_out_an_admin_key(api_home: Home, encoder: TextEncoder) -> None:
    app = make_app(api_home, encoder, demo_pages=True, write_keys=[])
    try:
        client = app.test_client()
        pages = [
            html(client.get("/demo")),
            html(client.get("/demo/shop?user=run1")),
            html(client.get("/demo/items/r1?user=run1&rid=0123456789abcdef&pos=0")),
        ]
        for page in pages:
            assert ADMIN_KEY not in page and "recsys-demo-key" not in page
        assert "No write key is configured" in pages[0]
        assert "No write key is configured" in pages[2]
        assert 'id="buy"' not in pages[2]  # no buttons that could not record anything
    finally:
        app.extensions["recsys"].close()


def test_a_purchase_through_the_api_changes_the_demo_list(demo_client: FlaskClient) -> None:
    before = html(demo_client.get("/demo/shop?user=run1"))
    assert 'data-item="r1"' in before
    event = {"user_id": "run1", "item_id": "r1", "type": "purchase"}
    assert demo_client.post("/v1/events", json=event, headers=auth()).status_code == 202
    after = html(demo_client.get("/demo/shop?user=run1&done=purchase&item=r1"))
    assert "You bought “Running shoes”" in after
    recs = after[after.index('id="recommendations"') :].split("</ol>")[0]
    assert 'data-item="r1"' not in recs  # bought: excluded
    assert "purchase</span> Running shoes" in after  # in the recent activity


def test_the_answers_experiment_fields_reach_the_page(
    demo_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = user_answer

    def with_experiment(*args: Any) -> dict[str, Any]:
        answer = real(*args)
        return {**answer, "recommendation_id": "0123456789abcdef", "variant": "treatment"}

    monkeypatch.setattr(api.pages, "user_answer", with_experiment)
    shop = html(demo_client.get("/demo/shop?user=run1"))
    assert 'id="variant">treatment<' in shop
    assert 'data-rid="0123456789abcdef" data-pos="0"' in shop
    assert "rid=0123456789abcdef&amp;pos=0" in shop
    item = html(demo_client.get("/demo/items/r1?user=run1&rid=0123456789abcdef&pos=0"))
    assert 'data-rid="0123456789abcdef" data-pos="0"' in item
    forged = html(demo_client.get('/demo/items/r1?user=run1&rid="><x&pos=-1'))
    actions = forged[forged.index('class="actions"') :].split("</div>")[0]
    assert "data-rid" not in actions and "data-pos" not in actions and "<x" not in forged


@pytest.mark.parametrize("pos", ["-1", "²", "１", "1" * 5000, "1000", "100", "0x1", " 1", ""])
def test_a_bad_position_is_left_out(demo_client: FlaskClient, pos: str) -> None:
    response = demo_client.get(
        "/demo/items/r1", query_string={"user": "run1", "rid": "0123456789abcdef", "pos": pos}
    )
    assert response.status_code == 200
    actions = html(response)
    actions = actions[actions.index('class="actions"') :].split("</div>")[0]
    assert 'data-rid="0123456789abcdef"' in actions and "data-pos" not in actions


def test_the_last_position_an_answer_can_have_is_kept(demo_client: FlaskClient) -> None:
    page = html(demo_client.get("/demo/items/r1?user=run1&rid=0123456789abcdef&pos=99"))
    assert 'data-rid="0123456789abcdef" data-pos="99"' in page


@dataclass(frozen=True)
class FakePitch:
    text: str
    source: str = "template"


class FakePitches:
    def pitches_for(
        self,
        user_id: str,
        history: Sequence[Any],
        items: Sequence[Any],
        wait_ms: int = 0,
        language: str | None = None,
    ) -> list[FakePitch]:
        return [FakePitch(f"Pitch for {i.item_id} <b>now</b>") for i in items]


def test_pitches_show_when_asked_for(api_home: Home, encoder: TextEncoder) -> None:
    app = make_app(api_home, encoder, demo_pages=True, pitch_provider=FakePitches())
    try:
        client = app.test_client()
        assert "Pitch for" not in html(client.get("/demo/shop?user=run1"))
        page = html(client.get("/demo/shop?user=run1&pitch=1"))
        assert "Pitch for r1 &lt;b&gt;now&lt;/b&gt;" in page
        assert "Hide pitches" in page
        shown = page.count("Pitch for ")
        metrics = client.get("/metrics").get_data(as_text=True)
        assert f'recsys_pitches_total{{fallback="false",source="template"}} {shown}.0' in metrics
    finally:
        app.extensions["recsys"].close()


@dataclass(frozen=True)
class LocalConfig:
    backend: str = "local"


class FallingBack(FakePitches):
    config = LocalConfig()  # a model is configured: each template pitch is its fallback


def test_the_dashboard_counts_pitches_by_source(api_home: Home, encoder: TextEncoder) -> None:
    app = make_app(api_home, encoder, pitch_provider=FallingBack())
    try:
        client = app.test_client()
        answer = client.get("/v1/users/run1/recommendations?n=3&pitch=true").get_json()
        assert len(answer["items"]) == 3
        page = html(client.get("/dashboard", headers=auth(ADMIN_KEY)))
        assert re.search(r'id="pitch-served">3 <span class="muted">\(fallback 100\.0%\)', page)
    finally:
        app.extensions["recsys"].close()


def test_unknown_and_bad_shoppers(demo_client: FlaskClient) -> None:
    new = html(demo_client.get("/demo/shop?user=newcomer"))
    assert 'id="strategy">popular<' in new and "No events yet" in new
    bad = demo_client.get("/demo/shop?user=%EF%BB%BF")  # a blank id: the API's 422
    assert bad.status_code == 422 and 'class="warn"' in html(bad)


# ------------------------------------------------------------------------------ safety
def test_titles_are_escaped_everywhere(demo_client: FlaskClient) -> None:
    item = {"item_id": "evil", "title": EVIL, "category": "Kitchen", "description": "<img src=x>"}
    assert demo_client.put("/v1/items", json={"items": [item]}, headers=auth()).status_code == 200
    event = {"user_id": "cook1", "item_id": "evil", "type": "purchase"}
    assert demo_client.post("/v1/events", json=event, headers=auth()).status_code == 202
    pages = {
        "item": html(demo_client.get("/demo/items/evil?user=cook1")),
        "shop": html(demo_client.get("/demo/shop?user=cook1")),
        "dashboard": html(demo_client.get("/dashboard", headers=auth(ADMIN_KEY))),
    }
    for name, page in pages.items():
        assert "<script>alert" not in page, name
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Evil knife" in page, name
    assert "<img src=x>" not in pages["item"] and "&lt;img src=x&gt;" in pages["item"]


def test_pages_load_nothing_from_other_hosts(demo_client: FlaskClient, api_home: Home) -> None:
    write_nightly_reports(api_home)
    paths = ["/demo", "/demo/shop?user=run1", "/demo/items/k1?user=cook1", "/dashboard"]
    for path in paths:
        response = demo_client.get(path, headers=auth(ADMIN_KEY))
        assert response.status_code == 200, path
        page = html(response)
        assert external_urls(page) == [], path
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"
    login = demo_client.get("/dashboard")
    assert external_urls(html(login)) == []
    with demo_client.get("/static/pages.css") as sheet:
        css = sheet.get_data(as_text=True)
    assert "url(" not in css and "@import" not in css


def test_pages_are_not_in_the_openapi_document(demo_client: FlaskClient, demo_app: Flask) -> None:
    spec = demo_client.get("/openapi.json").get_json()
    assert not [p for p in spec["paths"] if p.startswith(("/dashboard", "/demo", "/static"))]
    endpoints = {r.endpoint for r in demo_app.url_map.iter_rules()}
    assert {"dashboard.show", "demo.demo_shop", "static"} <= endpoints


def test_templates_and_assets_ship_with_the_package() -> None:
    root = Path(__file__).resolve().parents[2]
    text = (root / "pyproject.toml").read_text()
    assert '"templates/*.html"' in text and '"static/*"' in text
    assert (root / "api" / "templates" / "dashboard.html").is_file()
