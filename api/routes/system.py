"""Health, readiness, the live model, metrics and the OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify

from api.app import require_key, state
from api.errors import ApiError
from api.openapi import build_spec

bp = Blueprint("system", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """The process is alive (no dependencies checked)."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Any:
    """200 once a model is loaded; 503 before."""
    snap = state().service._snapshot
    if snap is None:
        raise ApiError(503, "not_ready", "no model loaded yet (nothing published, or loading)")
    return jsonify({"status": "ready", "model_version": snap.version})


@bp.get("/v1/model")
def model() -> Any:
    """The live bundle's manifest."""
    require_key("read")
    service = state().service
    snap = service.snapshot
    loaded = datetime.fromtimestamp(snap.loaded_at, UTC).isoformat()
    return jsonify(
        {"model_version": snap.version, "loaded_at": loaded, "manifest": service.manifest()}
    )


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition."""
    return state().metrics.exposition()


@bp.get("/openapi.json")
def openapi() -> Any:
    """The OpenAPI 3 document of this server."""
    return jsonify(build_spec(state().config.max_batch))
