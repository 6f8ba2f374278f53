"""A lean request path for the storefront's most frequent call, in front of Flask.

``GET /v1/users/<user_id>/recommendations`` is called on every page view. Answered from a
precomputed list, the recommendation itself costs ~0.12 ms, and Flask's request machinery
around it (request and app contexts, URL matching, before/after hooks, the response object)
cost more than that: called as plain WSGI, such a request took 0.48 ms through Flask and 0.20 ms
through this path, against 0.10 ms for a bare Flask route (``benchmarks/api_cpu.py --wsgi``).
This WSGI middleware answers that one route directly:
it parses the query with werkzeug's own parser, checks the key, validates and answers with the
same functions as the Flask route (:func:`api.answers.user_answer`), writes the same JSON
and headers (``Content-Type``, ``Content-Length``, ``X-Request-ID``) and records the same
Prometheus samples under the route's template.

Everything else goes to Flask unchanged: other routes and methods, paths that are not plain
ASCII or whose user id holds a ``/``, and every request that fails here (a caller's mistake, a
missing model, a bug). Flask then handles the request from scratch and answers with its error
handlers, so error responses are exactly what they were; the cost of an error is one extra
validation. ``fast_path = false`` (``RECSYS_API_FAST_PATH``) turns the middleware off.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from werkzeug.datastructures import ImmutableMultiDict

from api.answers import user_answer
from api.auth import check_key, request_id
from api.errors import ApiError
from api.state import ApiState

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

ENDPOINT = "users.recommend"
PATH = re.compile(r"/v1/users/([^/]+)/recommendations")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class UserRecommendationsFastPath:
    """WSGI middleware answering ``GET /v1/users/<user_id>/recommendations`` without Flask.

    Args:
        app: the Flask app (its ``wsgi_app`` is what the middleware falls back to).
        api: the app's shared state (config, service, metrics).
    """

    def __init__(self, app: Flask, api: ApiState) -> None:
        self.flask_wsgi: WsgiApp = app.wsgi_app
        self.api = api
        rules = [r.rule for r in app.url_map.iter_rules() if r.endpoint == ENDPOINT]
        if len(rules) != 1:
            raise RuntimeError(f"expected one rule for {ENDPOINT}, found {rules}")
        self.rule = rules[0]  # the metrics' route label, as Flask's after_request hook writes it

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer the route here, or hand the request to Flask."""
        if environ.get("REQUEST_METHOD") == "GET":
            path = environ.get("PATH_INFO", "")
            match = PATH.fullmatch(path) if path.isascii() else None
            if match is not None:
                body = self._answer(environ, match.group(1))
                if body is not None:
                    start_response("200 OK", body[1])
                    return [body[0]]
        return self.flask_wsgi(environ, start_response)

    def _answer(
        self, environ: dict[str, Any], user_id: str
    ) -> tuple[bytes, list[tuple[str, str]]] | None:
        """``(body, headers)`` of a 200 answer, or None to let Flask handle the request."""
        t0 = time.perf_counter()
        query = environ.get("QUERY_STRING", "")
        if not query.isascii():
            return None
        api = self.api
        try:
            check_key(api.config, "read", environ.get("HTTP_AUTHORIZATION", ""))
            args = ImmutableMultiDict(
                parse_qsl(query, keep_blank_values=True, errors="werkzeug.url_quote")
            )
            answer = user_answer(api, user_id, args)
        except ApiError:
            return None  # Flask raises it again and answers with its error handler
        except Exception:
            log.debug("fast path failed; handing the request to Flask", exc_info=True)
            return None
        rid = request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        answer["request_id"] = rid
        body = orjson.dumps(answer)
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("X-Request-ID", rid),
        ]
        seconds = time.perf_counter() - t0
        api.metrics.record(self.rule, "GET", 200, seconds, api.service.served_version())
        api.metrics.fast_path.inc()
        return body, headers
