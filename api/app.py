"""Flask application factory (stub: health and current model only; the full API comes next)."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify

from recsys.bundle import current_version
from recsys.home import Home


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the app; ``config`` may set ``RECSYS_HOME``."""
    app = Flask(__name__)
    app.config.update(config or {})
    home = Home.resolve(app.config.get("RECSYS_HOME"))

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok", "model_version": current_version(home.artifacts)})

    return app
