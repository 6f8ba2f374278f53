"""Tests for the Flask stub in api/app.py: /healthz reports the published model."""

from __future__ import annotations

import polars as pl

from api.app import create_app
from recsys.bundle import publish, write_bundle
from recsys.config import TrainConfig
from recsys.home import Home
from recsys.pipeline import build_bundle


def test_healthz_reports_current_model(home: Home, shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    app = create_app({"TESTING": True, "RECSYS_HOME": str(home.root)})
    client = app.test_client()

    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.is_json
    assert response.get_json() == {"status": "ok", "model_version": None}

    events, catalog = shop
    config = TrainConfig.from_dict({"behavior": {"factors": 2}, "text": {"enabled": False}})
    bundle, _ = build_bundle(events, catalog, config)
    version = write_bundle(home.artifacts, bundle)
    publish(home.artifacts, version)
    # the running app sees the new version without a restart
    assert client.get("/healthz").get_json() == {"status": "ok", "model_version": version}


def test_unknown_route_is_404(home: Home) -> None:
    client = create_app({"TESTING": True, "RECSYS_HOME": str(home.root)}).test_client()
    assert client.get("/v1/nope").status_code == 404
