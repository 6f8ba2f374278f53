"""Flask application factory: config, the recommendation service, blueprints, errors, metrics.

Only the factory and what it installs live here; what the routes share is in :mod:`api.state`
(the app's state), :mod:`api.auth` (keys, request ids) and :mod:`api.answers` (JSON answers),
so that no route imports this module.

Example:
    >>> app = create_app({"home": "var/demo", "write_keys": ["secret"]})
    >>> app.test_client().get("/healthz").get_json()
    {'status': 'ok'}
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Mapping
from typing import Any

import orjson
from flask import Flask, Response, g, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import PathConverter

from api.auth import request_id
from api.config import ApiConfig, load_api_config
from api.errors import register_error_handlers
from api.metrics import init_metrics
from api.state import EXTENSION, ApiState, PitchSource
from recsys.home import Home
from recsys.service import RecommendationService

log = logging.getLogger(__name__)


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider with responses written by ``orjson`` (requests still use ``json``).

    About 10x faster on a 20-item answer. Differences from the default provider, none of which a
    route produces today (answers hold str, int, float, bool, None, lists and str-keyed dicts):
    non-ASCII text is sent as UTF-8 rather than escaped, NaN and infinities become ``null``,
    dates are ISO 8601, no trailing newline, and non-str keys or integers beyond 64 bits raise
    ``TypeError`` (a 500). Types orjson does not know go through the default provider's hook.
    """

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialize ``obj`` to a JSON string."""
        return orjson.dumps(obj, default=self.default).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """A JSON response, as ``flask.jsonify`` makes it."""
        obj = self._prepare_response_obj(args, kwargs)
        return Response(orjson.dumps(obj, default=self.default), mimetype=self.mimetype)


class AnyPathConverter(PathConverter):
    """Like werkzeug's ``path`` converter, but ``.`` also matches newlines."""

    regex = "[^/](?s:.)*?"


def create_app(
    config: ApiConfig | Mapping[str, Any] | None = None,
    *,
    pitch_provider: PitchSource | None = None,
    service: RecommendationService | None = None,
) -> Flask:
    """Create the app.

    Args:
        config: an :class:`ApiConfig`, or a mapping of its fields that overrides the config file
            and environment (upper-case keys such as ``TESTING`` go to Flask's own config).
        pitch_provider: object with ``pitches_for(user_id, history, items, wait_ms)`` (tests
            inject a fake; default: ``recsys.pitch.serving.PitchProvider`` on first use).
        service: a ready service (default: one over ``config.home``).

    Returns:
        The Flask app; ``app.extensions["recsys"].close()`` stops its background thread.
    """
    flask_config: dict[str, Any] = {}
    if isinstance(config, ApiConfig):
        cfg = config
    else:
        mapping = dict(config or {})
        flask_config = {k: v for k, v in mapping.items() if k.isupper()}
        cfg = load_api_config({k: v for k, v in mapping.items() if not k.isupper()})
    app = Flask(__name__)
    json_provider = OrjsonProvider(app)
    json_provider.sort_keys = False
    json_provider.compact = True
    app.json = json_provider
    # ids may contain any character but "/" at the start and NUL (rejected by check_id);
    # werkzeug's default path converter stops at a newline and would answer 404 for such ids
    app.url_map.converters["path"] = AnyPathConverter
    app.config.update(flask_config)
    app.config["MAX_CONTENT_LENGTH"] = cfg.max_body_bytes

    home = Home.resolve(cfg.home, store=cfg.store, artifacts=cfg.artifacts)
    service = service or RecommendationService(home)
    service.use_precomputed = cfg.precomputed
    api_state = ApiState(cfg, service, pitch_provider)
    app.extensions[EXTENSION] = api_state
    # catalog texts are embedded off the request path, by one short-lived job per data home
    # (recsys.overlay_embed), so no worker loads the text model: set before the first snapshot
    service.embed_in_background()
    service.warm_up()  # browsing shoppers' compiled answers (recsys.serving.pooled)
    try:
        _ = service.snapshot  # load now when published; otherwise the watcher picks it up later
    except Exception as exc:
        log.warning("no model loaded at startup: %s", exc)
    if cfg.watch:
        service.start_watcher(cfg.swap_poll_s)
        atexit.register(service.stop_watcher)
    # the experiment answers queued in this process are written when it exits cleanly
    atexit.register(service.flush_exposures)

    @app.before_request
    def _request_id() -> None:
        g.request_id = request_id(request.headers.get("X-Request-ID", ""))

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        response.headers["X-Request-ID"] = getattr(g, "request_id", "")
        return response

    init_metrics(app, api_state.metrics, service.served_version)
    register_error_handlers(app)

    from api.routes import events, experiments, items, recommendations, system, users

    for module in (system, users, items, recommendations, events, experiments):
        app.register_blueprint(module.bp)
    app.register_blueprint(users.erasures)
    from api.pages import register_pages  # the dashboard; the demo storefront if cfg.demo_pages

    register_pages(app, cfg)
    from api.fastpath import FastPath, runs_inline

    if cfg.fast_path:
        app.wsgi_app = FastPath(app, api_state)  # type: ignore[method-assign]
    # the requests `recsys serve`'s worker answers on its main thread (api.gunicorn_worker)
    app.runs_inline = runs_inline  # type: ignore[attr-defined]
    return app
