"""The OpenAPI 3.0 document served at ``/openapi.json`` and request validators built from it.

Request bodies are validated against the *same* schemas the document publishes, so the document
cannot drift from what the routes accept. Schemas are strict (``additionalProperties: false``,
bounded strings and arrays) so that property-based API fuzzers can generate meaningful requests
from them.

An OAS 3.0 schema object is JSON Schema draft 4 plus a few keywords, of which these schemas use
only ``nullable``; :func:`to_draft4` rewrites it as a type union. So serving needs only
``jsonschema`` (a base dependency); ``openapi-schema-validator`` stays a test dependency, and the
tests check that its OAS 3.0 validator accepts and rejects exactly the same bodies.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any, get_args

from jsonschema import Draft4Validator

from recsys.experiments.spec import METRICS
from recsys.lang import invisible_class
from recsys.pitch.writer import Source as PitchSource
from recsys.serving.sources import reason_sources
from recsys.store.importing import MAX_ID_LENGTH
from recsys.types import EVENT_TYPES, RANKINGS, REASON_KINDS, SIMILAR_MODES, STRATEGIES

# the longest list the HTTP API answers (the library ranks up to recsys.types.MAX_N = 1000)
MAX_API_N = 100
MAX_RECENT_ITEMS = 100
MAX_EVENT_ID_LENGTH = 128

# A character that is not whitespace under BOTH Python's and ECMAScript's definitions, written
# out so that validators and fuzzers (either regex engine) agree on which ids are blank.
NOT_BLANK = (
    "[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]"
)
# A title needs one character that is not control, format or white space (recsys.lang's one
# list; the importer refuses the same titles, so what this schema accepts is stored)
VISIBLE_TITLE = "[^" + invisible_class(lambda c: f"\\u{c:04x}") + "]"
_ID = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_ID_LENGTH,
    "pattern": f"^[^\\x00]*{NOT_BLANK}[^\\x00]*$",
}
_REF = "#/components/schemas/"
# an answer's id (recsys.service.served.new_recommendation_id); (?!\n): see LANG_PATTERN
_RECOMMENDATION_ID = {"type": "string", "pattern": "^[0-9a-f]{16}(?!\\n)$"}
# ``?lang=``: en or zh (cn reads as zh), any case, with optional subtags (zh-CN, zh_TW, en-US);
# empty means the catalog's language. (?!\n): Python's $ also matches before a final newline.
LANG_PATTERN = "^(([Ee][Nn]|[Zz][Hh]|[Cc][Nn])([-_][A-Za-z0-9]{1,8})*)?(?!\\n)$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "additionalProperties": False,
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "additionalProperties": False,
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["index", "reason"],
                            "properties": {
                                "index": {"type": "integer", "minimum": 0},
                                "reason": {"type": "string"},
                            },
                        },
                    },
                },
            }
        },
    },
    "Reason": {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "source", "item_ids", "text"],
        "properties": {
            "kind": {"type": "string", "enum": list(REASON_KINDS)},
            "source": {"type": "string", "enum": list(reason_sources())},
            "item_ids": {"type": "array", "items": {"type": "string"}},
            "text": {"type": "string"},
        },
    },
    "Pitch": {
        "type": "object",
        "additionalProperties": False,
        "required": ["text", "source"],
        "properties": {
            "text": {"type": "string"},
            "source": {"type": "string", "enum": list(get_args(PitchSource))},
            "fallback": {
                "type": "string",
                "enum": ["model_language"],
                "description": "why the template wrote it although a model is configured "
                "(model_language: the local model writes English only)",
            },
            "fallback_reason": {"type": "string"},
        },
    },
    "RecommendedItem": {
        "type": "object",
        "additionalProperties": False,
        "required": ["item_id", "score", "title", "category", "price", "currency", "in_stock"],
        "properties": {
            "item_id": {"type": "string"},
            "score": {"type": "number"},
            "title": {"type": "string"},
            "category": {"type": "string", "nullable": True},
            "price": {"type": "number", "nullable": True},
            "currency": {"type": "string", "nullable": True},
            "in_stock": {"type": "boolean"},
            "reason": _ref("Reason"),
            "pitch": _ref("Pitch"),
        },
    },
    "Strategy": {"type": "string", "enum": list(STRATEGIES)},
    "UserRecommendations": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "user_id",
            "model_version",
            "strategy",
            "ranking",
            "items",
            "request_id",
            "recommendation_id",
            "experiment",
            "variant",
        ],
        "properties": {
            "user_id": {"type": "string"},
            "model_version": {"type": "string"},
            "strategy": _ref("Strategy"),
            "ranking": {
                "type": "string",
                "enum": list(RANKINGS),
                "description": "precomputed: the user's list ranked at training (no event "
                "since); live: ranked for this request",
            },
            "items": {"type": "array", "items": _ref("RecommendedItem"), "maxItems": MAX_API_N},
            "recommendation_id": _RECOMMENDATION_ID,
            "experiment": {
                "type": "string",
                "nullable": True,
                "description": "the running experiment the shopper is in (null: none)",
            },
            "variant": {
                "type": "string",
                "nullable": True,
                "description": "the shopper's variant of the experiment (null: not in one)",
            },
            "request_id": {"type": "string"},
        },
    },
    "SessionRecommendations": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "model_version",
            "strategy",
            "items",
            "request_id",
            "recommendation_id",
            "experiment",
            "variant",
        ],
        "properties": {
            "model_version": {"type": "string"},
            "strategy": _ref("Strategy"),
            "items": {"type": "array", "items": _ref("RecommendedItem"), "maxItems": MAX_API_N},
            "recommendation_id": _RECOMMENDATION_ID,
            "experiment": {
                "type": "string",
                "nullable": True,
                "description": "the running experiment the shopper is in (null: none)",
            },
            "variant": {
                "type": "string",
                "nullable": True,
                "description": "the shopper's variant of the experiment (null: not in one)",
            },
            "request_id": {"type": "string"},
        },
    },
    "SimilarItems": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "item_id",
            "mode",
            "model_version",
            "strategy",
            "items",
            "request_id",
            "recommendation_id",
            "experiment",
            "variant",
        ],
        "properties": {
            "item_id": {"type": "string"},
            "mode": {"type": "string", "enum": list(SIMILAR_MODES)},
            "model_version": {"type": "string"},
            "strategy": _ref("Strategy"),
            "items": {"type": "array", "items": _ref("RecommendedItem"), "maxItems": MAX_API_N},
            "recommendation_id": _RECOMMENDATION_ID,
            "experiment": {
                "type": "string",
                "nullable": True,
                "description": "the running experiment the shopper is in (null: none)",
            },
            "variant": {
                "type": "string",
                "nullable": True,
                "description": "the shopper's variant of the experiment (null: not in one)",
            },
            "request_id": {"type": "string"},
        },
    },
    "SessionRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["recent_item_ids"],
        "properties": {
            "recent_item_ids": {
                "type": "array",
                "items": _ID,
                "maxItems": MAX_RECENT_ITEMS,
                "description": "Items the session looked at, most recent first.",
            },
            "n": {"type": "integer", "minimum": 1, "maximum": MAX_API_N, "default": 10},
            "category": {"type": "string", "minLength": 1, "maxLength": 256},
            "exclude": {"type": "array", "items": _ID, "maxItems": 1000},
            "in_stock": {"type": "boolean", "default": True},
            "explain": {"type": "boolean", "default": False},
        },
    },
    "Event": {
        "type": "object",
        "additionalProperties": False,
        "required": ["user_id", "item_id", "type"],
        "properties": {
            "user_id": _ID,
            "item_id": _ID,
            "type": {"type": "string", "enum": list(EVENT_TYPES)},
            "ts": {
                "description": "ISO 8601 (naive: UTC) or an epoch number: seconds, unless read "
                "as seconds it is over a day ahead while read as milliseconds it lies between "
                "1990-01-01 and a day from now (then milliseconds); default: now. A time before "
                "1990-01-01 or over a day ahead is rejected (422), never reinterpreted. An "
                "erased user's event from before the erasure is accepted but not stored.",
                "oneOf": [
                    {"type": "number", "minimum": 0, "maximum": 1e14},
                    {"type": "string", "minLength": 1, "maxLength": 64},
                ],
            },
            "session_id": {"type": "string", "maxLength": MAX_ID_LENGTH},
            "recommendation_id": {
                **_RECOMMENDATION_ID,
                "description": "The recommendation_id of the answer the shopper acted on: "
                "the experiment report attributes the event to that answer.",
            },
            "position": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_API_N - 1,
                "description": "The item's place (0: first) in that answer; only with "
                "recommendation_id (422 otherwise).",
            },
            "event_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_EVENT_ID_LENGTH,
                "pattern": "^[^\\x00]+$",
                "description": "Idempotency key, unique per user: a retried event with the same "
                "(user_id, event_id) is stored once.",
            },
        },
    },
    "EventBatch": {
        "type": "object",
        "additionalProperties": False,
        "required": ["events"],
        "properties": {
            "events": {"type": "array", "items": _ref("Event"), "minItems": 1, "maxItems": 1000}
        },
    },
    "EventsAccepted": {
        "type": "object",
        "additionalProperties": False,
        "required": ["accepted", "stored"],
        "properties": {
            "accepted": {"type": "integer", "minimum": 0},
            "stored": {
                "type": "integer",
                "minimum": 0,
                "description": "Newly stored; accepted minus stored were already stored.",
            },
        },
    },
    "CatalogItem": {
        "type": "object",
        "additionalProperties": False,
        "required": ["item_id", "title"],
        "properties": {
            "item_id": _ID,
            "title": {
                "type": "string",
                "minLength": 1,
                "maxLength": 1000,
                "pattern": VISIBLE_TITLE,
            },
            "description": {"type": "string", "maxLength": 20000},
            "category": {"type": "string", "maxLength": 256},
            "price": {"type": "number", "minimum": 0, "maximum": 1e12, "nullable": True},
            # (?!\n): Python's $ also matches before a final newline, ECMAScript's does not
            "currency": {"type": "string", "pattern": "^([A-Za-z]{3})?(?!\\n)$"},
            "in_stock": {"type": "boolean"},
            "attributes": {"type": "object", "maxProperties": 100},
        },
    },
    "CatalogBatch": {
        "type": "object",
        "additionalProperties": False,
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "items": _ref("CatalogItem"),
                "minItems": 1,
                "maxItems": 1000,
            }
        },
    },
    "CatalogUpserted": {
        "type": "object",
        "additionalProperties": False,
        "required": ["upserted", "new", "embedded", "pending"],
        "properties": {
            "upserted": {"type": "integer", "minimum": 0},
            "new": {"type": "integer", "minimum": 0},
            "embedded": {
                "type": "integer",
                "minimum": 0,
                "description": "Texts embedded during this request (the server embeds in the "
                "background: 0).",
            },
            "pending": {
                "type": "integer",
                "minimum": 0,
                "description": "Items of this batch whose text vector is not ready yet: they are "
                "served by their facts at once and by text similarity once embedded.",
            },
        },
    },
    "UserErased": {
        "type": "object",
        "additionalProperties": False,
        "required": ["user_id", "deleted_events", "erasure"],
        "properties": {
            "user_id": {"type": "string"},
            "deleted_events": {"type": "integer", "minimum": 0},
            "erasure": _ref("ErasureReport"),
        },
    },
    "ExperimentRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "variants"],
        "properties": {
            "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}(?!\\n)$"},
            "variants": {
                "type": "array",
                "minItems": 2,
                "maxItems": 8,
                "items": {"type": "string", "minLength": 1, "maxLength": 1000},
                "description": "NAME=SPEC per variant, the control first. SPEC: current, or "
                "key=value pairs joined by commas: bundle=<version>, pitch=on|off, "
                "holdout=popular|none, or a blend setting such as text_weight=0.6.",
            },
            "traffic": {
                "type": "string",
                "maxLength": 100,
                "description": "Percent per variant, e.g. 50/50 (default: an equal split).",
            },
            "metric": {"type": "string", "enum": list(METRICS), "default": "conversion"},
            "alpha": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 0.5},
            "window_hours": {
                "type": "number",
                "exclusiveMinimum": True,
                "minimum": 0,
                "maximum": 8760,
                "description": "Attribution window: an event counts for an answer it follows "
                "within it (default 24).",
            },
            "min_users": {"type": "integer", "minimum": 1, "maximum": 10000000},
        },
    },
    "Experiment": {
        "type": "object",
        "required": ["name", "variants", "primary", "alpha", "window_s", "running"],
        "properties": {
            "name": {"type": "string"},
            "variants": {"type": "array", "items": {"type": "object"}},
            "primary": {"type": "string", "enum": list(METRICS)},
            "alpha": {"type": "number"},
            "window_s": {"type": "number"},
            "min_users": {"type": "integer"},
            "started_at": {"type": "number"},
            "stopped_at": {"type": "number", "nullable": True},
            "running": {"type": "boolean"},
        },
    },
    "ExperimentList": {
        "type": "object",
        "required": ["experiments"],
        "properties": {"experiments": {"type": "array", "items": _ref("Experiment")}},
    },
    "ExperimentReport": {
        "type": "object",
        "required": ["experiment", "report"],
        "properties": {
            "experiment": _ref("Experiment"),
            "report": {
                "type": "object",
                "description": "Per variant: users, exposures, impressions, ctr, add_to_cart, "
                "conversion, revenue (attributed) and conversion_total, revenue_total (every "
                "purchase after the first exposure), each with a 95% interval; lifts against "
                "the control with an always-valid p-value; the sample-ratio check; the "
                "decision.",
            },
        },
    },
    "ErasureRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["user_ids"],
        "properties": {
            "user_ids": {"type": "array", "items": _ID, "minItems": 1, "maxItems": 1000},
        },
    },
    "UsersErased": {
        "type": "object",
        "additionalProperties": False,
        "required": ["users", "deleted_events", "erasure"],
        "properties": {
            "users": {"type": "integer", "minimum": 1},
            "deleted_events": {"type": "integer", "minimum": 0},
            "erasure": _ref("ErasureReport"),
        },
    },
    "ErasureReport": {
        "type": "object",
        "description": "What was removed, in counts (docs/privacy.md); the same line, "
        "without any user id, is appended to <home>/audit.log.",
        "additionalProperties": False,
        "required": [
            "erasure_id",
            "users",
            "events",
            "pitches",
            "bundles",
            "inbox_files",
            "inbox_rows",
            "unreadable_files",
            "failed_bundles",
            "wal_truncated",
            "compacted",
        ],
        "properties": {
            "erasure_id": {"type": "string"},
            "users": {"type": "integer", "minimum": 0},
            "events": {"type": "integer", "minimum": 0},
            "pitches": {"type": "integer", "minimum": 0},
            "bundles": {
                "type": "object",
                "description": "Kept bundle versions that held the user (now scrubbed).",
                "additionalProperties": {"type": "integer", "minimum": 0},
            },
            "inbox_files": {"type": "integer", "minimum": 0},
            "inbox_rows": {"type": "integer", "minimum": 0},
            "unreadable_files": {"type": "array", "items": {"type": "string"}},
            "failed_bundles": {"type": "array", "items": {"type": "string"}},
            "wal_truncated": {"type": "boolean"},
            "compacted": {
                "type": "boolean",
                "description": "The store was rewritten now; false: the next nightly "
                "run does it (a store over 128 MB).",
            },
        },
    },
    "Model": {
        "type": "object",
        "additionalProperties": False,
        "required": ["model_version", "loaded_at", "manifest"],
        "properties": {
            "model_version": {"type": "string"},
            "loaded_at": {"type": "string"},
            "manifest": {"type": "object", "additionalProperties": True},
        },
    },
    "Health": {
        "type": "object",
        "additionalProperties": False,
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}},
    },
    "Ready": {
        "type": "object",
        "additionalProperties": False,
        "required": ["status", "model_version"],
        "properties": {
            "status": {"type": "string", "enum": ["ready"]},
            "model_version": {"type": "string"},
        },
    },
}


def _n_param() -> dict[str, Any]:
    return {
        "name": "n",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_API_N, "default": 10},
    }


def _param(name: str, schema: dict[str, Any], where: str = "query", **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema, **extra}


# Worst case, every character is 4 UTF-8 bytes = 12 bytes percent-encoded; with a 256-character
# path id, 100-character category and 300-character exclude list the request line stays below
# the server's 8190-byte limit. Longer exclude lists: POST /v1/recommendations takes an array.
MAX_CATEGORY_QUERY = 100
MAX_EXCLUDE_QUERY = 300
_FILTER_PARAMS = [
    _param("category", {"type": "string", "minLength": 1, "maxLength": MAX_CATEGORY_QUERY}),
    _param(
        "exclude",
        {"type": "string", "maxLength": MAX_EXCLUDE_QUERY},
        description="Comma-separated item ids never to return (at most 300 characters).",
    ),
    _param(
        "in_stock",
        {"type": "boolean", "default": True},
        description="true (default): only in-stock items; false: include out-of-stock items.",
    ),
    _param("explain", {"type": "boolean", "default": False}, description="Add a reason per item."),
]
_LANG_PARAM = _param(
    "lang",
    {"type": "string", "maxLength": 32, "pattern": LANG_PATTERN},
    description="Language of the reasons' text (and of pitches): en or zh; zh-CN and zh-TW "
    "read as zh; empty or absent: the catalog's language, as training recorded it.",
)
_READ_ERRORS = {
    "401": _error("A key is required for reads and was missing or wrong."),
    "422": _error("A parameter is out of range or malformed."),
    "503": _error("No model bundle is published yet."),
}
_WRITE_ERRORS = {
    "400": _error("The body is not valid JSON."),
    "401": _error("Missing or wrong API key."),
    "403": _error("The key may not call this route."),
    "413": _error("The body is larger than the configured limit."),
    "415": _error("The body is not application/json."),
    "422": _error("The body does not match the schema or holds invalid values."),
    "503": {
        **_error(
            "The store is busy (a bulk import holds its write lock; code store_busy) or "
            "unreachable (a shared PostgreSQL store is down; code store_unavailable); nothing "
            "was written."
        ),
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying the same request.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    },
}
SECURITY_WRITE: list[dict[str, list[str]]] = [{"bearer": []}]


def _schemas(max_batch: int) -> dict[str, Any]:
    schemas = copy.deepcopy(SCHEMAS)
    schemas["EventBatch"]["properties"]["events"]["maxItems"] = max_batch
    schemas["CatalogBatch"]["properties"]["items"]["maxItems"] = max_batch
    return schemas


def build_spec(max_batch: int = 1000) -> dict[str, Any]:
    """Return the OpenAPI 3.0.3 document (a fresh dict) for a server with this batch limit."""
    paths: dict[str, Any] = {
        "/v1/users/{user_id}/recommendations": {
            "get": {
                "operationId": "recommendUser",
                "summary": "Personalized recommendations for a user (unknown users: fallback).",
                "parameters": [
                    _param("user_id", _ID, "path"),
                    _n_param(),
                    *_FILTER_PARAMS,
                    _LANG_PARAM,
                    _param(
                        "pitch",
                        {"type": "boolean", "default": False},
                        description="Add a 1-2 sentence pitch per item.",
                    ),
                    _param("pitch_wait_ms", {"type": "integer", "minimum": 0, "maximum": 5000}),
                ],
                "responses": {
                    "200": _json(_ref("UserRecommendations"), "Recommendations."),
                    **_READ_ERRORS,
                },
            }
        },
        "/v1/users/{user_id}": {
            "delete": {
                "operationId": "eraseUser",
                "summary": "Erase every copy of the user's data under the data home.",
                "description": "Events, event ids, sessions, pitches derived from the user's "
                "history, their rows in every kept model bundle and in kept import files are "
                "gone when this returns, and the write-ahead logs are truncated; "
                "personalization stops at once in every worker. An id with '/' is erased with "
                "POST /v1/erasures. Answers 503 with Retry-After when the store is busy "
                "(nothing erased).",
                "security": [{"bearer": []}],
                "parameters": [_param("user_id", _ID, "path")],
                "responses": {
                    "200": _json(_ref("UserErased"), "Erased."),
                    "401": _error("Missing or wrong API key."),
                    "403": _error("The key is not an admin key."),
                    "422": _error("Malformed user id."),
                    "503": _WRITE_ERRORS["503"],
                },
            }
        },
        "/v1/experiments": {
            "get": {
                "operationId": "listExperiments",
                "summary": "Every experiment, oldest first.",
                "security": [{"bearer": []}],
                "responses": {
                    "200": _json(_ref("ExperimentList"), "Experiments."),
                    "401": _error("Missing or wrong API key."),
                    "403": _error("The key is not an admin key."),
                },
            },
            "post": {
                "operationId": "startExperiment",
                "summary": "Start an A/B experiment (one runs at a time).",
                "description": "Shoppers are assigned by a salted hash of their id: sticky, "
                "whatever bundle is served. Every worker and host sharing the store serves it "
                "within one poll.",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ExperimentRequest")}},
                },
                "responses": {
                    "201": _json(_ref("Experiment"), "Started."),
                    **{k: v for k, v in _WRITE_ERRORS.items() if k != "403"},
                    "403": _error("The key is not an admin key."),
                },
            },
        },
        "/v1/experiments/{name}": {
            "get": {
                "operationId": "experimentReport",
                "summary": "An experiment and its report as of now.",
                "security": [{"bearer": []}],
                "parameters": [
                    _param("name", {"type": "string", "maxLength": 64}, "path"),
                    _param(
                        "format",
                        {"type": "string", "enum": ["json", "markdown"], "default": "json"},
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "The report (JSON, or Markdown with format=markdown).",
                        "content": {
                            "application/json": {"schema": _ref("ExperimentReport")},
                            "text/markdown": {"schema": {"type": "string"}},
                        },
                    },
                    "401": _error("Missing or wrong API key."),
                    "403": _error("The key is not an admin key."),
                    "404": _error("No such experiment."),
                    "422": _error("A parameter is malformed."),
                },
            }
        },
        "/v1/experiments/{name}/stop": {
            "post": {
                "operationId": "stopExperiment",
                "summary": "Stop assigning shoppers; the records stay for the report.",
                "security": [{"bearer": []}],
                "parameters": [_param("name", {"type": "string", "maxLength": 64}, "path")],
                "responses": {
                    "200": _json(_ref("Experiment"), "Stopped."),
                    "401": _error("Missing or wrong API key."),
                    "403": _error("The key is not an admin key."),
                    "404": _error("No such experiment."),
                    "422": _error("It is stopped already."),
                    "503": _WRITE_ERRORS["503"],
                },
            }
        },
        "/v1/erasures": {
            "post": {
                "operationId": "eraseUsers",
                "summary": "Erase every copy of these users' data under the data home.",
                "description": "As DELETE /v1/users/{user_id}, for up to 1,000 ids at once (each "
                "kept bundle is rewritten once) and for any id, including ids that contain '/' "
                "(which a path segment cannot carry).",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ErasureRequest")}},
                },
                "responses": {
                    "200": _json(_ref("UsersErased"), "Erased."),
                    **{k: v for k, v in _WRITE_ERRORS.items() if k != "403"},
                    "403": _error("The key is not an admin key."),
                },
            }
        },
        "/v1/items/{item_id}/similar": {
            "get": {
                "operationId": "similarItems",
                "summary": "Items similar to an item.",
                "parameters": [
                    _param("item_id", _ID, "path"),
                    _n_param(),
                    _param(
                        "mode",
                        {
                            "type": "string",
                            "enum": list(SIMILAR_MODES),
                            "default": "hybrid",
                        },
                    ),
                    *_FILTER_PARAMS,
                    _LANG_PARAM,
                ],
                "responses": {
                    "200": _json(_ref("SimilarItems"), "Similar items."),
                    "404": _error("Unknown item."),
                    **_READ_ERRORS,
                },
            }
        },
        "/v1/items": {
            "put": {
                "operationId": "upsertItems",
                "summary": "Insert or update catalog items (stored at once; texts embedded in the "
                "background).",
                "security": SECURITY_WRITE,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("CatalogBatch")}},
                },
                "responses": {
                    "200": _json(_ref("CatalogUpserted"), "Upserted."),
                    **_WRITE_ERRORS,
                },
            }
        },
        "/v1/recommendations": {
            "post": {
                "operationId": "recommendSession",
                "summary": "Recommendations for an anonymous session from its recent items.",
                "parameters": [_LANG_PARAM],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("SessionRequest")}},
                },
                "responses": {
                    "200": _json(_ref("SessionRecommendations"), "Recommendations."),
                    **{k: v for k, v in _WRITE_ERRORS.items() if k != "403"},
                    "503": _error("No model bundle is published yet."),
                },
            }
        },
        "/v1/events": {
            "post": {
                "operationId": "addEvents",
                "summary": "Record one event or a batch; durable before 202.",
                "security": SECURITY_WRITE,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"oneOf": [_ref("Event"), _ref("EventBatch")]}
                        }
                    },
                },
                "responses": {
                    "202": _json(_ref("EventsAccepted"), "Stored durably."),
                    **_WRITE_ERRORS,
                },
            }
        },
        "/v1/model": {
            "get": {
                "operationId": "getModel",
                "summary": "Manifest of the live bundle.",
                "responses": {
                    "200": _json(_ref("Model"), "The live model."),
                    "401": _READ_ERRORS["401"],
                    "503": _READ_ERRORS["503"],
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "The process is alive.",
                "security": [],
                "responses": {"200": _json(_ref("Health"), "Alive.")},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "ready",
                "summary": "A model is loaded and requests can be served.",
                "security": [],
                "responses": {
                    "200": _json(_ref("Ready"), "Ready."),
                    "503": _error("Not ready: no model loaded yet."),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (text exposition format).",
                "responses": {
                    "200": {
                        "description": "Metrics.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "401": _error("A key is required (read_requires_key or metrics_keys)."),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "responses": {
                    "200": _json({"type": "object", "additionalProperties": True}, "OpenAPI 3."),
                    "401": _READ_ERRORS["401"],
                },
            }
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "recsys storefront API",
            "version": "1.0.0",
            "description": "Personalized hybrid recommendations (behavior + product text). "
            'Every error is {"error": {"code", "message"}}.',
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": _schemas(max_batch),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def inline_refs(node: Any, schemas: dict[str, Any] | None = None) -> Any:
    """Return ``node`` with every ``#/components/schemas/...`` reference replaced by its schema."""
    schemas = SCHEMAS if schemas is None else schemas
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF):
            return inline_refs(schemas[ref[len(_REF) :]], schemas)
        return {k: inline_refs(v, schemas) for k, v in node.items()}
    if isinstance(node, list):
        return [inline_refs(v, schemas) for v in node]
    return node


# OAS 3.0 keywords that would change what is accepted but mean nothing in draft 4 (a missing
# required readOnly property is allowed; a discriminator picks the oneOf branch). The schemas
# above use none of them; to_draft4 refuses them rather than silently validating differently.
_UNTRANSLATED = frozenset({"discriminator", "readOnly", "writeOnly"})
_SUBSCHEMA = frozenset({"items", "additionalProperties", "not"})
_SUBSCHEMA_LISTS = frozenset({"oneOf", "anyOf", "allOf"})


def to_draft4(schema: Any) -> Any:
    """Return an inlined OAS 3.0 schema object as JSON Schema draft 4 with the same meaning.

    ``{"type": T, "nullable": true}`` becomes ``{"type": [T, "null"]}`` (OAS 3.0.3: ``nullable``
    only counts next to a ``type`` in the same schema object); ``nullable: false`` is dropped.
    Only schema positions are rewritten: ``enum`` or ``default`` values and property names are
    data and stay as they are.

    Raises:
        ValueError: if the schema uses an OAS-only keyword that is not translated (a mistake
            in this module's schemas, not in a request).
    """
    if not isinstance(schema, dict):
        return schema  # additionalProperties: false, and the like
    used = _UNTRANSLATED.intersection(schema)
    if used:
        raise ValueError(f"OAS keyword(s) {sorted(used)} have no draft 4 translation here")
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "nullable":
            continue
        if key == "properties":
            out[key] = {name: to_draft4(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMA:
            out[key] = to_draft4(value)
        elif key in _SUBSCHEMA_LISTS:
            out[key] = [to_draft4(sub) for sub in value]
        else:
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


@cache
def validator(schema_name: str, max_batch: int = 1000) -> Draft4Validator:
    """A compiled validator for a component schema (or ``EventBody`` for events).

    Args:
        schema_name: a key of :data:`SCHEMAS`, or ``EventBody`` (one event or a batch).
        max_batch: the server's batch limit (``maxItems`` of event and catalog batches).

    Returns:
        A ``jsonschema`` draft 4 validator of the inlined schema (see :func:`to_draft4`).
    """
    if schema_name == "EventBody":
        schema: dict[str, Any] = {"oneOf": [_ref("Event"), _ref("EventBatch")]}
    else:
        schema = _ref(schema_name)
    return Draft4Validator(to_draft4(inline_refs(schema, _schemas(max_batch))))
