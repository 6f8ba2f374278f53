"""Health, readiness, the live model, metrics and the OpenAPI document.

``/healthz`` and ``/readyz`` never need a key (probes, load balancers). ``/openapi.json`` is a
read: it needs a write or admin key when ``read_requires_key`` is set. ``/metrics`` needs a key
when reads do or when ``metrics_keys`` are configured, and then accepts a metrics key as well as
a write or admin key (a metrics key opens nothing else).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from api.auth import check_key, require_key
from api.config import ApiConfig
from api.errors import ApiError
from api.openapi import build_spec
from api.state import state

bp = Blueprint("system", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """The process is alive (no dependencies checked)."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Any:
    """200 once a model is loaded; 503 before."""
    service = state().service
    if not service.loaded:  # never loads here: a probe must not wait for a bundle to load
        raise ApiError(503, "not_ready", "no model loaded yet (nothing published, or loading)")
    return jsonify({"status": "ready", "model_version": service.snapshot.version})


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
    """Prometheus text exposition (401 without an accepted key when one is needed)."""
    require_metrics_key(state().config, request.headers.get("Authorization", ""))
    return state().metrics.exposition()


@bp.get("/openapi.json")
def openapi() -> Any:
    """The OpenAPI 3 document of this server."""
    require_key("read")
    return jsonify(build_spec(state().config.max_batch))


def require_metrics_key(cfg: ApiConfig, header: str) -> None:
    """Check an ``Authorization`` header value for ``/metrics`` (401 when a key is needed).

    Accepted: the metrics keys, the write keys and the admin keys.

    Raises:
        ApiError: 401 when a key is needed and the header has none of them.
    """
    if cfg.metrics_need_key:
        # the same check (constant-time, same answers) as a read with these keys as read keys
        keys = ApiConfig(write_keys=cfg.metrics_keys + cfg.all_keys, read_requires_key=True)
        check_key(keys, "read", header)
