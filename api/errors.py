"""JSON errors: every 4xx and 5xx is ``{"error": {"code", "message"[, "details"]}}``.

Flask's own errors (404 unknown route, 405 wrong method, 413 body too large, 415) are turned into
the same shape; expected library errors map to 4xx; a busy store (a bulk import holding SQLite's
write lock) and an unreachable one (a shared PostgreSQL store that is down) are a 503 with
``Retry-After``, never a 500; anything else is a 500 whose body never
contains internals (the traceback goes to the log with the request id).
"""

from __future__ import annotations

import logging
import math
import sqlite3
from typing import Any

from flask import Flask, Response, g, jsonify
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import HTTPException

from recsys.errors import (
    ConfigError,
    InvalidInputError,
    NoBundleError,
    RecsysError,
    StoreBusyError,
    StoreUnavailableError,
    UnknownItemError,
)

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}
# sqlite3.OperationalError messages that mean "another connection holds the lock": a retry helps
BUSY_MESSAGES = ("database is locked", "database is busy", "database table is locked")


def retry_after(seconds: float) -> str:
    """The ``Retry-After`` header value for a wait of ``seconds``: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds))) if math.isfinite(seconds) else "1"


def busy_response(message: str, retry_after_s: float) -> Response:
    """503 ``store_busy`` with ``Retry-After``: the write was not done; the caller may retry."""
    response = error_response(503, "store_busy", message)
    response.headers["Retry-After"] = retry_after(retry_after_s)
    return response


class ApiError(Exception):
    """An error answer: HTTP status, stable machine code, human message, optional details."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_response(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> Response:
    """Build the JSON error response."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    response = jsonify({"error": body})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="recsys"'
    return response


def internal_error() -> Response:
    """500 for an unexpected error (call it inside ``except``: the traceback goes to the log)."""
    request_id = getattr(g, "request_id", "-")
    log.exception("unhandled error in request %s", request_id)
    return error_response(
        500, "internal_error", f"internal error; quote request id {request_id} to the operator"
    )


def register_error_handlers(app: Flask) -> None:
    """Install the JSON error handlers on ``app``."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = exc.description or exc.name
        response = error_response(status, CODES.get(status, "http_error"), str(message))
        if status == 405 and exc.response is None:
            allowed = getattr(exc, "valid_methods", None)
            if allowed:
                response.headers["Allow"] = ", ".join(sorted(allowed))
        return response

    @app.errorhandler(UnknownItemError)
    def _unknown_item(exc: UnknownItemError) -> Response:
        return error_response(404, "unknown_item", str(exc))

    @app.errorhandler(NoBundleError)
    def _no_bundle(exc: NoBundleError) -> Response:
        return error_response(503, "no_model", str(exc))

    @app.errorhandler(StoreBusyError)
    def _store_busy(exc: StoreBusyError) -> Response:
        log.warning("store busy in request %s: %s", getattr(g, "request_id", "-"), exc)
        return busy_response(str(exc), exc.retry_after_s)

    @app.errorhandler(StoreUnavailableError)
    def _store_unavailable(exc: StoreUnavailableError) -> Response:
        # a shared (PostgreSQL) store is down: reads answer from the bundle (the service), but a
        # write cannot be made durable, so it is refused and nothing is stored
        log.warning("store unavailable in request %s: %s", getattr(g, "request_id", "-"), exc)
        response = error_response(503, "store_unavailable", str(exc))
        response.headers["Retry-After"] = retry_after(exc.retry_after_s)
        return response

    @app.errorhandler(sqlite3.OperationalError)
    def _sqlite_operational(exc: sqlite3.OperationalError) -> Response:
        # the store turns lock timeouts into StoreBusyError; this catches any other path to a
        # locked SQLite file (the embedding cache, a store of an older version) the same way
        if any(text in str(exc).lower() for text in BUSY_MESSAGES):
            log.warning("SQLite busy in request %s: %s", getattr(g, "request_id", "-"), exc)
            return busy_response("the store is busy (a database lock was held too long); retry", 1)
        return internal_error()

    @app.errorhandler(InvalidInputError)
    @app.errorhandler(ConfigError)
    def _invalid(exc: RecsysError) -> Response:
        return error_response(422, "validation_error", str(exc))

    @app.errorhandler(ParseException)
    def _bad_body(exc: Exception) -> Response:
        # gunicorn parses a chunked body while the route reads it: a malformed chunk is the
        # client's mistake (400), not a server failure
        return error_response(400, "bad_request", f"malformed request body: {type(exc).__name__}")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        return internal_error()
