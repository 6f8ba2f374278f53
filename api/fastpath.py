"""A lean request path for the storefront's most frequent calls, in front of Flask.

``GET /v1/users/<user_id>/recommendations`` is called on every page view,
``GET /v1/items/<item_id>/similar`` on every product page, and ``POST /v1/recommendations``
(an anonymous session's recommendations) on every page a visitor who is not signed in views.
Answered from a precomputed list, the recommendation itself costs ~0.05-0.12 ms, and Flask's
request machinery around it (request and app contexts, URL matching, before/after hooks, the
response object) cost more than that:
called as plain WSGI, a user request took 0.48 ms through Flask and 0.20 ms through this path,
against 0.10 ms for a bare Flask route (``benchmarks/api_cpu.py --wsgi``).
This WSGI middleware answers those routes directly:
it parses the query with werkzeug's own parser, checks the key, validates and answers with the
same functions as the Flask routes (:func:`api.answers.user_answer`,
:func:`api.answers.similar_answer`, :func:`api.answers.session_answer`; a session's JSON body
is checked by the same compiled schema), writes the same JSON and headers (``Content-Type``,
``Content-Length``, ``X-Request-ID``) and records the same Prometheus samples under the route's
template.

``POST /v1/events``, which a storefront sends on every page view, is stored here too when its
events are plainly valid (:func:`~recsys.store.importing.plain_event_rows`) and name no answer
they came from: through Flask a one-event write cost about 0.7 ms of CPU, half of it Flask's
and the events' frame, which this path does not build (``benchmarks/api_cpu.py --events``).

Everything else goes to Flask unchanged: other routes and methods, paths that are not plain
ASCII or whose id holds a ``/``, and every request that fails here (a caller's mistake, an
unknown item, a missing model, a bug). Flask then handles the request from scratch and answers
with its error handlers, so error responses are exactly what they were; the cost of an error is
one extra validation. A write is the exception: it is never tried twice. Every check comes
before it, and if the write itself fails, Flask is handed the request with the error
(:data:`WRITE_FAILED`), which the route raises for its handlers to answer. ``fast_path = false``
(``RECSYS_API_FAST_PATH``) turns the middleware off.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from api.answers import session_answer, similar_answer, user_answer
from api.auth import check_key, request_id
from api.errors import ApiError
from api.state import ApiState
from api.validation import ArgLists, fast_validator
from recsys.store.importing import plain_event_rows

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

Answer = Callable[[ApiState, str, Any], dict[str, Any]]
# (Flask endpoint, path pattern with the id as its one group, answer function)
ROUTES: tuple[tuple[str, re.Pattern[str], Answer], ...] = (
    ("users.recommend", re.compile(r"/v1/users/([^/]+)/recommendations"), user_answer),
    ("items.similar", re.compile(r"/v1/items/([^/]+)/similar"), similar_answer),
)

SESSION_ENDPOINT, SESSION_PATH = "recommendations.session", "/v1/recommendations"
EVENTS_ENDPOINT, EVENTS_PATH = "events.add_events", "/v1/events"
# set in the environ when the lean path's event write raised: the Flask route then raises the
# same error (its handlers answer it) instead of writing the events a second time
WRITE_FAILED = "recsys.write_failed"
# The request lines ``recsys serve``'s worker answers on its main thread
# (``api.gunicorn_worker.InlineReadsWorker``): the hot reads and the probes, whole request line
# seen, without a pitch (a pitch waits for the language model, so it goes to a thread).
INLINE_REQUEST = re.compile(
    rb"GET /(?:v1/users/[^/?# ]+/recommendations|v1/items/[^/?# ]+/similar|healthz|readyz)"
    rb"(?:\?[^ ]*)? HTTP/1\.[01]\r\n"
)
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def runs_inline(head: bytes) -> bool:
    r"""Whether the request starting with ``head`` is a cheap read (see :data:`INLINE_REQUEST`).

    Example:
        >>> runs_inline(b"GET /v1/users/42/recommendations?n=20 HTTP/1.1\r\nHost: x\r\n")
        True
        >>> runs_inline(b"GET /v1/users/42/recommendations?pitch=true HTTP/1.1\r\n")
        False
        >>> runs_inline(b"GET /v1/users/42/recomm")  # the request line is not all here yet
        False
    """
    line = INLINE_REQUEST.match(head)
    return line is not None and b"pitch" not in line.group(0)


def _query_args(query: str) -> ArgLists:
    """An ASCII query string parsed as werkzeug parses ``request.args`` (the same pairs)."""
    args = ArgLists()
    for key, value in parse_qsl(query, keep_blank_values=True, errors="werkzeug.url_quote"):
        if key in args:
            args[key].append(value)
        else:
            args[key] = [value]
    return args


class FastPath:
    """WSGI middleware answering the hot GET routes (:data:`ROUTES`) without Flask.

    Args:
        app: the Flask app (its ``wsgi_app`` is what the middleware falls back to).
        api: the app's shared state (config, service, metrics).
    """

    def __init__(self, app: Flask, api: ApiState) -> None:
        self.flask_wsgi: WsgiApp = app.wsgi_app
        self.api = api
        self.max_content_length: int | None = app.config.get("MAX_CONTENT_LENGTH")
        for endpoint, path in ((SESSION_ENDPOINT, SESSION_PATH), (EVENTS_ENDPOINT, EVENTS_PATH)):
            rules = [r.rule for r in app.url_map.iter_rules() if r.endpoint == endpoint]
            if rules != [path]:
                raise RuntimeError(f"expected {path} for {endpoint}, found {rules}")
        self.routes: list[tuple[str, re.Pattern[str], Answer]] = []
        for endpoint, pattern, answer in ROUTES:
            rules = [r.rule for r in app.url_map.iter_rules() if r.endpoint == endpoint]
            if len(rules) != 1:
                raise RuntimeError(f"expected one rule for {endpoint}, found {rules}")
            # the metrics' route label, as Flask's after_request hook writes it
            self.routes.append((rules[0], pattern, answer))

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer a route here, or hand the request to Flask."""
        method = environ.get("REQUEST_METHOD")
        if method == "POST" and environ.get("PATH_INFO") == EVENTS_PATH:
            body = self._events(environ)
            if body is not None:
                start_response("202 ACCEPTED", body[1])
                return [body[0]]
        elif method == "POST" and environ.get("PATH_INFO") == SESSION_PATH:
            body = self._session(environ)
            if body is not None:
                start_response("200 OK", body[1])
                return [body[0]]
        elif method == "GET":
            path = environ.get("PATH_INFO", "")
            if path.isascii():
                for rule, pattern, answer in self.routes:
                    match = pattern.fullmatch(path)
                    if match is not None:
                        body = self._answer(environ, match.group(1), rule, answer)
                        if body is not None:
                            start_response("200 OK", body[1])
                            return [body[0]]
                        break
        return self.flask_wsgi(environ, start_response)

    def _answer(
        self, environ: dict[str, Any], id_: str, rule: str, answer_of: Answer
    ) -> tuple[bytes, list[tuple[str, str]]] | None:
        """``(body, headers)`` of a 200 answer, or None to let Flask handle the request."""
        t0 = time.perf_counter()
        query = environ.get("QUERY_STRING", "")
        if not query.isascii():
            return None
        api = self.api
        try:
            check_key(api.config, "read", environ.get("HTTP_AUTHORIZATION", ""))
            answer = answer_of(api, id_, _query_args(query))
        except ApiError:
            return None  # Flask raises it again and answers with its error handler
        except Exception:
            log.debug("fast path failed; handing the request to Flask", exc_info=True)
            return None
        return self._respond(environ, answer, rule, "GET", t0)

    def _session(self, environ: dict[str, Any]) -> tuple[bytes, list[tuple[str, str]]] | None:
        """``POST /v1/recommendations`` with a valid JSON body, or None to let Flask handle it.

        The body is read here; when Flask is to handle the request, ``wsgi.input`` is replaced by
        a stream of the same bytes, so Flask reads what was sent.
        """
        t0 = time.perf_counter()
        api = self.api
        raw = self._json_body(environ)
        if raw is None:
            return None
        query = environ.get("QUERY_STRING", "")
        try:
            check_key(api.config, "read", environ.get("HTTP_AUTHORIZATION", ""))
            body = orjson.loads(raw)
            fast_validator("SessionRequest")(body)
            args = _query_args(query) if query else None
            answer = session_answer(api, body, args)
        except ApiError:
            return None
        except Exception:
            log.debug("fast path failed; handing the request to Flask", exc_info=True)
            return None
        return self._respond(environ, answer, SESSION_PATH, "POST", t0)

    def _json_body(self, environ: dict[str, Any]) -> bytes | None:
        """The body of a JSON POST with an ASCII query, or None to let Flask handle the request.

        The body is read here; ``wsgi.input`` is replaced by a stream of the same bytes, so
        Flask reads what was sent when it handles the request after all.
        """
        mimetype = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if mimetype != "application/json" and not mimetype.endswith("+json"):
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            return None
        if not 0 <= length <= (self.max_content_length or length):
            return None  # chunked or too large: Flask answers as it does
        if not environ.get("QUERY_STRING", "").isascii():
            return None
        raw: bytes = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        return raw

    def _events(self, environ: dict[str, Any]) -> tuple[bytes, list[tuple[str, str]]] | None:
        """``POST /v1/events`` with plainly valid events, stored; or None to let Flask handle it.

        A storefront posts one on every page view. Here go bodies the Flask route would store
        as they are (:func:`~recsys.store.importing.plain_event_rows`) and that name no answer
        they came from (no ``recommendation_id`` or ``position``); every other body, and every
        mistake, goes to Flask before anything is written. Once the write has been tried, its
        error is never retried: Flask is handed the request with the error in
        :data:`WRITE_FAILED`, and the route raises it for its handlers to answer.
        """
        t0 = time.perf_counter()
        api = self.api
        raw = self._json_body(environ)
        if raw is None:
            return None
        try:
            check_key(api.config, "write", environ.get("HTTP_AUTHORIZATION", ""))
            body = orjson.loads(raw)
            fast_validator("EventBody", api.config.max_batch)(body)
            records = body.get("events", [body])
            if any("recommendation_id" in r or "position" in r for r in records):
                return None  # the events' links: the route's own checks
            now = time.time()
            rows = plain_event_rows([{**r, "ts": r.get("ts", now)} for r in records], now=now)
        except Exception:  # ApiError, a body the schema refuses, ...: Flask words the error
            log.debug("fast path refused the events; handing the request to Flask", exc_info=True)
            return None
        if rows is None:
            return None
        try:
            stored = api.service.add_event_rows(rows)
        except Exception as exc:
            environ[WRITE_FAILED] = exc
            return None
        answer = {"accepted": len(rows), "stored": stored}
        return self._respond(environ, answer, EVENTS_PATH, "POST", t0, status=202, with_id=False)

    def _respond(
        self,
        environ: dict[str, Any],
        answer: dict[str, Any],
        rule: str,
        method: str,
        t0: float,
        status: int = 200,
        with_id: bool = True,
    ) -> tuple[bytes, list[tuple[str, str]]]:
        """The answer's body and headers; records the request's metrics.

        ``with_id``: the answer names its ``request_id`` (as the read routes' answers do).
        """
        api = self.api
        rid = request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        if with_id:
            answer["request_id"] = rid
        body = orjson.dumps(answer)
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("X-Request-ID", rid),
        ]
        seconds = time.perf_counter() - t0
        api.metrics.record(rule, method, status, seconds, api.service.served_version())
        api.metrics.fast_path.inc()
        return body, headers
