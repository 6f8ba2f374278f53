"""Security: keys on every write/admin route, constant-time comparison, no keys in logs,
erasure end to end (serving at once and the next bundle), no pickle, loopback by default."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from api_testing import ADMIN_KEY, TRAIN_CONFIG, WRITE_KEY, auth
from flask import Flask
from flask.testing import FlaskClient

from recsys.bundle import load_bundle
from recsys.config import TrainConfig
from recsys.home import Home
from recsys.store import SQLiteStore
from recsys.text import TextEncoder
from recsys.training import train

WRITE_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/v1/events", {"user_id": "u1", "item_id": "k1", "type": "click"}),
    ("PUT", "/v1/items", {"items": [{"item_id": "z1", "title": "Zither"}]}),
    ("DELETE", "/v1/users/run1", None),
]

BAD_HEADERS = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer wrong-key"},
    {"Authorization": f"Bearer {WRITE_KEY}x"},
    {"Authorization": f"Bearer {WRITE_KEY[:-1]}"},
    {"Authorization": f"Bearer {WRITE_KEY.upper()}"},
    {"Authorization": f"Basic {WRITE_KEY}"},
    {"Authorization": WRITE_KEY},
    {"X-Api-Key": WRITE_KEY},
]


@pytest.mark.parametrize(("method", "path", "body"), WRITE_ROUTES, ids=["events", "items", "erase"])
@pytest.mark.parametrize("headers", BAD_HEADERS, ids=[str(i) for i in range(len(BAD_HEADERS))])
def test_write_and_admin_routes_refuse_missing_or_wrong_keys(
    client: FlaskClient, api_home: Home, method: str, path: str, body: Any, headers: dict
) -> None:
    with SQLiteStore(api_home.db_path) as store:
        before = (store.count_events(), store.count_items())
    response = client.open(path, method=method, json=body, headers=headers)
    assert response.status_code == 401, response.data
    assert response.get_json()["error"]["code"] == "unauthorized"
    with SQLiteStore(api_home.db_path) as store:
        assert (store.count_events(), store.count_items()) == before


def test_a_write_key_cannot_erase_users(client: FlaskClient, api_home: Home) -> None:
    response = client.delete("/v1/users/run1", headers=auth(WRITE_KEY))
    assert response.status_code == 403
    with SQLiteStore(api_home.db_path) as store:
        assert store.user_events("run1")


def test_keys_are_compared_in_constant_time(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hmac

    import api.auth

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(api.auth.hmac, "compare_digest", spy)
    ok = client.post("/v1/events", json=WRITE_ROUTES[0][2], headers=auth(WRITE_KEY))
    assert ok.status_code == 202
    bad = client.post("/v1/events", json=WRITE_ROUTES[0][2], headers=auth("nope"))
    assert bad.status_code == 401
    assert (WRITE_KEY.encode(), WRITE_KEY.encode()) in calls
    assert any(a == b"nope" for a, _ in calls)


def test_keys_never_appear_in_logs_or_responses(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts = []
    for key in (WRITE_KEY, ADMIN_KEY, "some-wrong-key-123"):
        for method, path, body in WRITE_ROUTES:
            response = client.open(path, method=method, json=body, headers=auth(key))
            texts.append(response.get_data(as_text=True))
    texts.append(client.get("/metrics").get_data(as_text=True))
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for key in (WRITE_KEY, ADMIN_KEY, "some-wrong-key-123"):
        assert key not in logged
        assert all(key not in t for t in texts)


def test_erasure_stops_personalizing_at_once_and_leaves_the_next_bundle(
    app: Flask, client: FlaskClient, api_home: Home, encoder: TextEncoder
) -> None:
    before = client.get("/v1/users/run3/recommendations").get_json()
    assert before["strategy"] == "hybrid"
    assert load_bundle(api_home.artifacts).users.index("run3") >= 0

    response = client.delete("/v1/users/run3", headers=auth(ADMIN_KEY))
    assert response.status_code == 200 and response.get_json()["deleted_events"] > 0

    after = client.get("/v1/users/run3/recommendations").get_json()
    assert after["strategy"] == "popular"  # the live bundle's vector for run3 is no longer used
    with SQLiteStore(api_home.db_path) as store:
        assert store.user_events("run3") == []
        train(api_home, TrainConfig.from_dict(TRAIN_CONFIG), store=store, encoder=encoder)
    assert load_bundle(api_home.artifacts).users.index("run3") == -1  # gone from the next bundle
    app.extensions["recsys"].service.refresh()
    assert client.get("/v1/users/run3/recommendations").get_json()["strategy"] == "popular"


def test_bundles_load_without_pickle(api_home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pickle used while loading a bundle")

    real_load = np.load
    seen: list[Any] = []

    def strict_load(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("allow_pickle", False))
        assert kwargs.get("allow_pickle", False) is False
        return real_load(*args, **kwargs)

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(np, "load", strict_load)
    bundle = load_bundle(api_home.artifacts)
    assert len(bundle.items) > 0
    assert seen  # arrays really went through np.load


def test_no_pickle_anywhere_in_the_code() -> None:
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for folder in ("recsys", "api", "jobs"):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if "import pickle" in text or "allow_pickle=True" in text or "torch.load(" in text:
                offenders.append(str(path.relative_to(root)))
    assert offenders == []


def test_the_server_binds_loopback_by_default() -> None:
    import inspect

    from api.serve import run_gunicorn, serve

    host_option = next(p for p in serve.params if p.name == "host")
    assert host_option.default == "127.0.0.1"
    assert inspect.signature(run_gunicorn).parameters["host"].default == "127.0.0.1"
