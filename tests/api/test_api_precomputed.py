"""The user route answers from precomputed lists while it may, and says so (body and metrics)."""

from __future__ import annotations

from api_testing import WRITE_KEY, auth, make_app
from flask.testing import FlaskClient

from recsys.home import Home
from recsys.text import TextEncoder


def _counter(client: FlaskClient, ranking: str) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    prefix = f'recsys_user_recommendations_total{{ranking="{ranking}"}} '
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(lines[0][len(prefix) :]) if lines else 0.0


def test_user_recommendations_say_how_they_were_ranked(client: FlaskClient) -> None:
    first = client.get("/v1/users/run1/recommendations?n=3")
    assert first.status_code == 200
    body = first.get_json()
    assert body["ranking"] == "precomputed" and body["strategy"] == "hybrid"
    assert body["items"][0]["item_id"] == "r1"  # the running item run1 lacks
    explained = client.get("/v1/users/run1/recommendations?n=3&explain=true").get_json()
    assert explained["ranking"] == "live"
    assert [i["item_id"] for i in explained["items"]] == [i["item_id"] for i in body["items"]]
    assert _counter(client, "precomputed") == 1.0 and _counter(client, "live") == 1.0

    event = {"user_id": "run1", "item_id": "r1", "type": "purchase"}
    assert client.post("/v1/events", json=event, headers=auth(WRITE_KEY)).status_code == 202
    after = client.get("/v1/users/run1/recommendations?n=3").get_json()
    assert after["ranking"] == "live"  # a newer event than the list: ranked for this request
    assert "r1" not in [i["item_id"] for i in after["items"]]
    assert _counter(client, "live") == 2.0


def test_precomputed_lists_can_be_turned_off(api_home: Home, encoder: TextEncoder) -> None:
    app = make_app(api_home, encoder, precomputed=False)
    try:
        body = app.test_client().get("/v1/users/run1/recommendations?n=3").get_json()
        assert body["ranking"] == "live" and body["items"][0]["item_id"] == "r1"
    finally:
        app.extensions["recsys"].close()
