"""Parsing and validating request input: JSON bodies, query parameters, path ids.

Caller mistakes become :class:`~api.errors.ApiError` (400 malformed JSON, 415 wrong media type,
422 well-formed but invalid values); nothing here can raise a 500 for bad input.

A JSON body is checked twice over only when it is bad: first by the schema compiled to Python
with ``fastjsonschema`` (:func:`fast_validator`, about 0.2 ms for a batch of 100 events instead
of 3 ms), and, when that rejects it, by the reference ``jsonschema`` validator of
:func:`api.openapi.validator`, which decides and words the 422 exactly as before. So the compiled
validator can only speed an answer up: a body it rejects that the reference accepts is accepted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any, Protocol

import fastjsonschema
from flask import request
from werkzeug.datastructures import MultiDict

from api.errors import ApiError
from api.openapi import (
    LANG_PATTERN,
    MAX_API_N,
    MAX_CATEGORY_QUERY,
    MAX_EXCLUDE_QUERY,
    NOT_BLANK,
    VISIBLE_TITLE,
    validator,
)
from recsys.errors import InvalidInputError
from recsys.lang import ShopLanguage, parse_language
from recsys.store.importing import MAX_ID_LENGTH
from recsys.types import Filters

_DRAFT4 = "http://json-schema.org/draft-04/schema#"  # what api.openapi.to_draft4 produces
_NOT_BLANK = re.compile(NOT_BLANK)
_INTEGER = re.compile(r"[+-]?[0-9]{1,9}")
_LANG = re.compile(LANG_PATTERN)
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


@cache
def fast_validator(schema_name: str, max_batch: int = 1000) -> Callable[[Any], Any]:
    """The schema of :func:`api.openapi.validator` compiled to Python code (once per arguments).

    Compiled as JSON Schema draft 4 (the reference validator's draft: ``1.0`` is no integer),
    without filling in ``default`` values (the body is left as it was sent).

    Args:
        schema_name: a key of :data:`api.openapi.SCHEMAS`, or ``EventBody``.
        max_batch: the server's batch limit.

    Returns:
        A function of a parsed body that returns when the body is valid and raises
        ``fastjsonschema.JsonSchemaException`` when it is not.
    """
    schema = {**validator(schema_name, max_batch).schema, "$schema": _DRAFT4}
    check: Callable[[Any], Any] = fastjsonschema.compile(
        schema, use_default=False, detailed_exceptions=False
    )
    return check


def schema_error(schema_name: str, body: Any, max_batch: int = 1000) -> str | None:
    """The 422 message for a parsed body that breaks its schema, or None when it is valid.

    Uses the reference ``jsonschema`` validator (slow, but it says where and why).
    """
    reference = validator(schema_name, max_batch)
    errors = sorted(reference.iter_errors(body), key=lambda e: list(e.path))
    return _describe(errors[0]) if errors else None


def json_body(schema_name: str, max_batch: int = 1000) -> Any:
    """Parse the request body as JSON and validate it against an OpenAPI component schema.

    Args:
        schema_name: a key of :data:`api.openapi.SCHEMAS`, or ``EventBody`` (one event or a
            batch).
        max_batch: the server's batch limit (``maxItems`` of event and catalog batches).

    Returns:
        The parsed body, unchanged.

    Raises:
        ApiError: 415 for another media type, 400 for a body that is not JSON, 422 (with the
            reference validator's first error) for one that breaks the schema.
    """
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
    try:
        fast_validator(schema_name, max_batch)(body)
    except Exception:  # whatever the compiled check raises, the reference validator decides
        message = schema_error(schema_name, body, max_batch)
        if message is not None:
            raise ApiError(422, "validation_error", message) from None
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
    if error.validator == "pattern" and NOT_BLANK in str(error.validator_value):
        return f"{where}: must not be blank (it is empty or only white space)"
    if error.validator == "pattern" and error.validator_value == VISIBLE_TITLE:
        return (
            f"{where}: must have a visible character (it is empty or only white space, "
            "control or format characters)"
        )
    message = str(error.message)
    if len(message) > 300:
        message = message[:300] + "..."
    return f"{where}: {message}"


class QueryArgs(Protocol):
    """Parsed query parameters: werkzeug's ``MultiDict`` (``request.args``) or :class:`ArgLists`."""

    def getlist(self, key: str) -> list[str]:
        """Every value given for ``key``, in order (empty when none)."""
        ...


class ArgLists(dict[str, list[str]]):
    """Query parameters as ``{name: [values]}``: what the lean path parses (``api.fastpath``).

    The values ``MultiDict`` would hold, without its machinery: building one cost the lean
    path about 1.5 us per request, and 10 with its code out of the CPU's caches (the case under
    load, issue 20, tenth pass).
    """

    def getlist(self, key: str) -> list[str]:
        """Every value given for ``key``, in order (empty when none)."""
        return self.get(key, [])


Args = MultiDict[str, str] | QueryArgs  # parsed query parameters (``request.args`` unless given)


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


def lang_param(args: Args | None = None) -> ShopLanguage | None:
    """The language of the reasons' text (``lang``: ``en``, ``zh``, ``zh-CN``, ``zh-TW``).

    Read by ``recsys.lang.parse_language``, and held to the documented pattern
    (:data:`api.openapi.LANG_PATTERN`: no spaces, subtags of letters and digits).

    Returns:
        The shop language, or None when ``lang`` is absent or empty (the catalog's language).

    Raises:
        ApiError: 422 for a language the engine does not write, or a malformed tag.
    """
    raw = _arg("lang", args)
    if raw is None:
        return None
    try:
        language = parse_language(raw)
    except InvalidInputError as exc:
        raise ApiError(422, "validation_error", str(exc)) from None
    if len(raw) > 32 or not _LANG.search(raw):
        raise ApiError(
            422,
            "validation_error",
            f"lang={raw!r} is not a language tag: use en, zh, zh-CN or zh-TW",
        )
    return language


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
