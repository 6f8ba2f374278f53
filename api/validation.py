"""Parsing and validating request input: JSON bodies, query parameters, path ids.

Caller mistakes become :class:`~api.errors.ApiError` (400 malformed JSON, 415 wrong media type,
422 well-formed but invalid values); nothing here can raise a 500 for bad input.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request
from werkzeug.datastructures import MultiDict

from api.errors import ApiError
from api.openapi import MAX_API_N, MAX_CATEGORY_QUERY, MAX_EXCLUDE_QUERY, NOT_BLANK, validator
from recsys.store.importing import MAX_ID_LENGTH
from recsys.types import Filters

_NOT_BLANK = re.compile(NOT_BLANK)
_INTEGER = re.compile(r"[+-]?[0-9]{1,9}")
TRUE = {"true", "1", "yes"}
FALSE = {"false", "0", "no"}


def check_id(value: str, name: str) -> str:
    """Return ``value`` if it is a usable external id (path parameter), else raise 422."""
    blank = _NOT_BLANK.search(value) is None
    if not value or blank or len(value) > MAX_ID_LENGTH or "\x00" in value:
        raise ApiError(
            422,
            "validation_error",
            f"{name} must be 1-{MAX_ID_LENGTH} characters, not blank, without NUL",
        )
    return value


def json_body(schema_name: str, max_batch: int = 1000) -> Any:
    """Parse the request body as JSON and validate it against an OpenAPI component schema."""
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(
            415, "unsupported_media_type", "send the body as Content-Type: application/json"
        )
    raw = request.get_data(cache=False)  # 413 (HTTPException) when over MAX_CONTENT_LENGTH
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_request", f"body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # e.g. 100,000 nested brackets
        raise ApiError(400, "bad_request", "body is nested too deeply") from exc
    errors = sorted(validator(schema_name, max_batch).iter_errors(body), key=lambda e: list(e.path))
    if errors:
        raise ApiError(422, "validation_error", _describe(errors[0]))
    return body


def _describe(error: Any) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "body"
    if error.validator == "oneOf" and isinstance(error.instance, dict):
        # the events body is one event or {"events": [...]}: report the closer alternative
        best = min(
            (e for e in error.context or ()), key=lambda e: len(list(e.absolute_path)), default=None
        )
        if best is not None and "events" in error.instance:
            best = max(error.context, key=lambda e: len(list(e.absolute_path)))
        if best is not None:
            return _describe(best)
    message = str(error.message)
    if len(message) > 300:
        message = message[:300] + "..."
    return f"{where}: {message}"


Args = MultiDict[str, str]  # parsed query parameters (``request.args`` unless given)


def _arg(name: str, args: Args | None = None) -> str | None:
    values = (request.args if args is None else args).getlist(name)
    if len(values) > 1:
        raise ApiError(422, "validation_error", f"query parameter {name!r} given more than once")
    return values[0] if values else None


def int_param(
    name: str, default: int | None, low: int, high: int, args: Args | None = None
) -> int | None:
    """An integer query parameter in ``[low, high]`` (422 otherwise)."""
    raw = _arg(name, args)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw.strip()):  # ASCII digits only
        raise ApiError(422, "validation_error", f"{name}={raw!r} is not an integer")
    value = int(raw)
    if not low <= value <= high:
        raise ApiError(422, "validation_error", f"{name}={value} must be in [{low}, {high}]")
    return value


def bool_param(name: str, default: bool, args: Args | None = None) -> bool:
    """A boolean query parameter (``true/false/1/0/yes/no``)."""
    raw = _arg(name, args)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    raise ApiError(422, "validation_error", f"{name}={raw!r} must be true or false")


def choice_param(
    name: str, default: str, allowed: tuple[str, ...], args: Args | None = None
) -> str:
    """A query parameter from a closed set (e.g. ``recsys.types.SIMILAR_MODES``)."""
    raw = _arg(name, args)
    if raw is None:
        return default
    if raw not in allowed:
        raise ApiError(422, "validation_error", f"{name}={raw!r} must be one of {list(allowed)}")
    return raw


def n_param(args: Args | None = None) -> int:
    """The list length ``n`` (1..:data:`~api.openapi.MAX_API_N`, default 10)."""
    value = int_param("n", 10, 1, MAX_API_N, args)
    return 10 if value is None else value


def reasons_param(args: Args | None = None) -> bool:
    """Whether the caller asked for each item's reason (``explain``, default false)."""
    return bool_param("explain", False, args)


def query_filters(args: Args | None = None) -> Filters:
    """Request filters from the ``category``, ``exclude`` and ``in_stock`` query parameters."""
    category = _arg("category", args)
    if category is not None and not 1 <= len(category) <= MAX_CATEGORY_QUERY:
        raise ApiError(
            422, "validation_error", f"category must be 1-{MAX_CATEGORY_QUERY} characters"
        )
    exclude_raw = _arg("exclude", args) or ""
    if len(exclude_raw) > MAX_EXCLUDE_QUERY:
        raise ApiError(
            422, "validation_error", f"exclude is longer than {MAX_EXCLUDE_QUERY} characters"
        )
    exclude = frozenset(x.strip() for x in exclude_raw.split(",") if x.strip())
    in_stock = bool_param("in_stock", True, args)
    return Filters(category=category, exclude=exclude, in_stock_only=None if in_stock else False)


def body_filters(body: dict[str, Any]) -> Filters:
    """Request filters from a validated JSON body's ``category``, ``exclude`` and ``in_stock``."""
    return Filters(
        category=body.get("category"),
        exclude=frozenset(body.get("exclude", ())),
        in_stock_only=None if body.get("in_stock", True) else False,
    )
