"""``POST /v1/events``: one event or ``{"events": [...]}``, stored durably before 202.

A batch is all-or-nothing: if any event is invalid, the answer is 422 with each bad event's index
and reason, and nothing is stored. ``ts`` defaults to the server's clock. Idempotency: an event
with ``event_id`` is stored once per ``(user_id, event_id)``, so a client may retry a timed-out
call; events without ``event_id`` are deduplicated on their natural key
``(user_id, item_id, type, ts, session_id)``, which only protects retries that send ``ts``.
"""

from __future__ import annotations

import time
from typing import Any

import polars as pl
from flask import Blueprint, jsonify, request

from api.auth import require_key
from api.errors import ApiError
from api.fastpath import WRITE_FAILED
from api.state import state
from api.validation import json_body
from recsys.store.importing import plain_event_frame, records_to_frame, validate_events

bp = Blueprint("events", __name__, url_prefix="/v1/events")


@bp.post("")
def add_events() -> Any:
    """Validate and store events (one transaction for the batch); 202 once they are durable."""
    failed = request.environ.pop(WRITE_FAILED, None)
    if failed is not None:  # the lean path (api.fastpath) tried this write: answer, never retry
        raise failed
    require_key("write")
    api = state()
    body = json_body("EventBody", api.config.max_batch)
    records = body.get("events", [body])
    now = time.time()
    rows = [{**r, "ts": r.get("ts", now)} for r in records]
    # the answer an event came from (recommendation_id, position: checked by the schema) is
    # kept apart from the event's own fields and attached again after validation
    links = None
    if any("recommendation_id" in r or "position" in r for r in rows):
        links = [(r.pop("recommendation_id", None), r.pop("position", None)) for r in rows]
        alone = [i for i, (rid, pos) in enumerate(links) if rid is None and pos is not None]
        if alone:  # a place in no named answer means nothing
            raise ApiError(
                422,
                "validation_error",
                f"{len(alone)} of {len(rows)} events have a position but no recommendation_id",
                [{"index": i, "reason": "position needs recommendation_id"} for i in alone[:100]],
            )
    # most batches are plainly valid: checked in Python; the others the full way, which words
    # each event's error
    valid = plain_event_frame(rows, now=now)
    if valid is None:
        valid = _validated(rows, now)
    if links is not None:  # rows keep their order through either validation
        valid = valid.with_columns(
            pl.Series("recommendation_id", [r for r, _ in links], dtype=pl.String),
            pl.Series("position", [p for _, p in links], dtype=pl.Int64),
        )
    stored = api.service.add_events(valid)
    response = jsonify({"accepted": valid.height, "stored": stored})
    response.status_code = 202
    return response


def _validated(rows: list[dict[str, Any]], now: float) -> pl.DataFrame:
    """The events validated with :func:`~recsys.store.importing.validate_events`.

    Raises:
        ApiError: 422 naming each invalid event's index and reason (up to 100 of them).
    """
    frame = records_to_frame(rows)
    valid, errors = validate_events(frame, now=now)
    if errors:
        raise ApiError(
            422,
            "validation_error",
            f"{len(errors)} of {len(rows)} events are invalid; nothing was stored",
            [{"index": e.line - 1, "reason": e.reason} for e in errors[:100]],
        )
    if "event_id" in frame.columns:
        # validate_events keeps only the store columns; rows keep their order, so re-attach ids
        valid = valid.with_columns(frame["event_id"].alias("event_id"))
    return valid
