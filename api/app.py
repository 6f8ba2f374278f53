"""Flask application factory: config, the recommendation service, blueprints, errors, metrics.

Example:
    >>> app = create_app({"home": "var/demo", "write_keys": ["secret"]})
    >>> app.test_client().get("/healthz").get_json()
    {'status': 'ok'}
"""

from __future__ import annotations

import atexit
import hmac
import importlib
import logging
import re
import threading
import uuid
from collections.abc import Mapping
from typing import Any, Literal

import orjson
from flask import Flask, Response, current_app, g, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import PathConverter

from api.config import ApiConfig, load_api_config
from api.errors import ApiError, register_error_handlers
from api.metrics import Metrics, init_metrics
from recsys.home import Home
from recsys.service import RecommendationService

log = logging.getLogger(__name__)

EXTENSION = "recsys"
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
KeyKind = Literal["read", "write", "admin"]


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


class ApiState:
    """Everything the routes share, stored as ``app.extensions["recsys"]``."""

    def __init__(
        self, config: ApiConfig, service: RecommendationService, pitch_provider: Any | None
    ) -> None:
        self.config = config
        self.service = service
        self.metrics = Metrics()
        self._pitch_provider = pitch_provider
        self._pitch_lock = threading.Lock()
        self._pitch_checked = pitch_provider is not None

    def pitch_provider(self) -> Any | None:
        """The pitch provider: the injected one, else ``recsys.pitch.serving.PitchProvider``.

        Built on first use (it may load a language model); None when the module is missing.
        """
        with self._pitch_lock:
            if not self._pitch_checked:
                self._pitch_checked = True
                try:
                    module = importlib.import_module("recsys.pitch.serving")
                except ImportError:
                    log.warning("recsys.pitch.serving is not available: ?pitch=true disabled")
                else:
                    home, pitch = self.service.home, self.config.pitch
                    self._pitch_provider = module.PitchProvider(home, pitch)
            return self._pitch_provider

    def close(self) -> None:
        """Stop the watcher, close the pitch provider and the store."""
        provider = self._pitch_provider
        if provider is not None and hasattr(provider, "close"):
            provider.close()
        self.service.close()


def state() -> ApiState:
    """The current app's :class:`ApiState`."""
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def require_key(kind: KeyKind) -> None:
    """Check ``Authorization: Bearer <key>`` for a route of this kind (401/403 otherwise)."""
    check_key(state().config, kind, request.headers.get("Authorization", ""))


def check_key(cfg: ApiConfig, kind: KeyKind, header: str) -> None:
    """Check an ``Authorization`` header value for a route of this kind (401/403 otherwise)."""
    if kind == "read" and not cfg.read_requires_key:
        return
    accepted = {"read": cfg.all_keys, "write": cfg.all_keys, "admin": cfg.admin_keys}[kind]
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <api key>")
    if not any(hmac.compare_digest(key.encode(), k.encode()) for k in accepted):
        if kind == "admin" and any(
            hmac.compare_digest(key.encode(), k.encode()) for k in cfg.all_keys
        ):
            raise ApiError(403, "forbidden", "this route needs an admin key")
        if not cfg.all_keys:
            raise ApiError(401, "unauthorized", "no API keys are configured on this server")
        raise ApiError(401, "unauthorized", "the API key is not valid")


def request_id(given: str) -> str:
    """The request id to use and echo: the caller's ``X-Request-ID`` if sane, else a new one."""
    return given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def limit_native_threads() -> None:
    """One BLAS / OpenMP thread per request thread.

    The server already runs requests in parallel (workers x threads); letting numpy's BLAS and
    FAISS's OpenMP each start a thread per core on top oversubscribes the CPUs and makes small
    matrix products and searches several times slower under load (measured: 122 ms vs 22 ms per
    user request with four busy processes on 2 cores).
    """
    import faiss
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    faiss.omp_set_num_threads(1)


class AnyPathConverter(PathConverter):
    """Like werkzeug's ``path`` converter, but ``.`` also matches newlines."""

    regex = "[^/](?s:.)*?"


def create_app(
    config: ApiConfig | Mapping[str, Any] | None = None,
    *,
    pitch_provider: Any | None = None,
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
    limit_native_threads()
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    # ids may contain any character but "/" at the start and NUL (rejected by check_id);
    # werkzeug's default path converter stops at a newline and would answer 404 for such ids
    app.url_map.converters["path"] = AnyPathConverter
    app.config.update(flask_config)
    app.config["MAX_CONTENT_LENGTH"] = cfg.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.compact = True  # type: ignore[attr-defined]

    service = service or RecommendationService(Home.resolve(cfg.home))
    service.use_precomputed = cfg.precomputed
    api_state = ApiState(cfg, service, pitch_provider)
    app.extensions[EXTENSION] = api_state
    # catalog texts are embedded off the request path, by one short-lived job per data home
    # (recsys.live_embed), so no worker loads the text model: set before the first snapshot
    service.embed_in_background()
    try:
        _ = service.snapshot  # load now when published; otherwise the watcher picks it up later
    except Exception as exc:
        log.warning("no model loaded at startup: %s", exc)
    if cfg.watch:
        service.start_watcher(cfg.swap_poll_s)
        atexit.register(service.stop_watcher)

    @app.before_request
    def _request_id() -> None:
        g.request_id = request_id(request.headers.get("X-Request-ID", ""))

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        response.headers["X-Request-ID"] = getattr(g, "request_id", "")
        return response

    init_metrics(app, api_state.metrics, service.served_version)
    register_error_handlers(app)

    from api.routes import events, items, recommendations, system, users

    for module in (system, users, items, recommendations, events):
        app.register_blueprint(module.bp)
    app.register_blueprint(users.erasures)
    if cfg.fast_path:
        from api.fastpath import UserRecommendationsFastPath

        app.wsgi_app = UserRecommendationsFastPath(app, api_state)  # type: ignore[method-assign]
    return app
