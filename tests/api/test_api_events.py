"""``POST /v1/events`` batches: one transaction each, the same answers on the fast and full paths.

Plainly valid batches are checked in Python (``recsys.store.importing.plain_event_frame``); the
others by polars (``validate_events``), which words each event's error. Either way a batch is
stored in one transaction, all or nothing, and idempotently.
"""

from __future__ import annotations

from typing import Any

from api_testing import auth
from flask import Flask
from flask.testing import FlaskClient

from recsys.home import Home
from recsys.store import SQLiteStore


def batch(prefix: str, n: int = 100, **extra: Any) -> dict[str, Any]:
    return {
        "events": [
            {
                "user_id": f"{prefix}{i % 7}",
                "item_id": f"item-{i}",
                "type": ["view", "click", "add_to_cart", "purchase"][i % 4],
                "event_id": f"{prefix}-{i}",
                **extra,
            }
            for i in range(n)
        ]
    }


def test_a_batch_is_one_transaction(app: Flask, client: FlaskClient) -> None:
    statements: list[str] = []
    conn = app.extensions["recsys"].service.store._conn
    conn.set_trace_callback(statements.append)
    try:
        r = client.post("/v1/events", json=batch("t"), headers=auth())
    finally:
        conn.set_trace_callback(None)
    assert r.status_code == 202 and r.get_json() == {"accepted": 100, "stored": 100}
    assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]


def test_fast_and_full_paths_store_the_same(client: FlaskClient, api_home: Home) -> None:
    fast = batch("f", ts=1_700_000_000)
    # a padded id makes the route validate the batch the full way (it strips the id)
    full = batch("g", ts=1_700_000_000)
    full["events"][0]["user_id"] = " g0 "
    for body in (fast, full):
        r = client.post("/v1/events", json=body, headers=auth())
        assert r.status_code == 202 and r.get_json() == {"accepted": 100, "stored": 100}
        retry = client.post("/v1/events", json=body, headers=auth())
        assert retry.get_json() == {"accepted": 100, "stored": 0}
    with SQLiteStore(api_home.db_path) as store:
        events = store.events_frame()
    f = events.filter(events["user_id"].str.starts_with("f"))
    g = events.filter(events["user_id"].str.starts_with("g"))
    assert f.height == g.height == 100
    renamed = g.with_columns(g["user_id"].str.replace("^g", "f"))
    assert renamed.rows() == f.rows()


def test_an_invalid_event_still_gets_its_reason(client: FlaskClient, api_home: Home) -> None:
    body = batch("v")
    body["events"][41]["ts"] = 4_102_444_800  # 2100: outside the window as seconds and as ms
    r = client.post("/v1/events", json=body, headers=auth())
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["message"] == "1 of 100 events are invalid; nothing was stored"
    assert error["details"] == [
        {
            "index": 41,
            "reason": "timestamp '4102444800' is in the future "
            "(2100-01-01 as seconds; 1970-02-17 as milliseconds)",
        }
    ]
    with SQLiteStore(api_home.db_path) as store:
        assert store.user_events("v0") == []
