"""``/v1/items``: similar items and catalog upserts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from api.answers import similar_answer
from api.auth import require_key
from api.errors import ApiError
from api.state import state
from api.validation import json_body
from recsys.store.importing import records_to_frame, validate_items

bp = Blueprint("items", __name__, url_prefix="/v1/items")


@bp.get("/<path:item_id>/similar")
def similar(item_id: str) -> Any:
    """Items similar to ``item_id`` (404 when the item is unknown).

    The same answer as :mod:`api.fastpath` gives (:func:`api.answers.similar_answer` is shared).
    """
    require_key("read")
    answer = similar_answer(state(), item_id, request.args)
    answer["request_id"] = g.request_id
    return jsonify(answer)


@bp.put("")
def upsert() -> Any:
    """Insert or update catalog items: stored durably before the answer, embedded afterwards.

    The answer comes as soon as the rows are stored; it says how many of them are ``pending``
    (their text has no vector yet). Items are served by their facts (price, stock, category) at
    once, on this worker now and on the others after their next catalog poll (``swap_poll_s``).
    Their texts are embedded in the background, by one short-lived job per data home at a time
    (:mod:`recsys.overlay_embed`; a worker never loads the text model: embedding 1,000 texts in
    the request took over a minute and grew the worker by over 1 GB); once a vector is in the
    shared embedding cache, every worker serves the item by text similarity too, after its next
    poll (``/v1/model``'s ``manifest.live.pending_embeddings`` counts what is left). A busy
    store (e.g. a bulk import) answers 503 with ``Retry-After`` and stores nothing.
    """
    require_key("write")
    api = state()
    body = json_body("CatalogBatch", api.config.max_batch)
    frame = records_to_frame(body["items"])
    valid, errors = validate_items(frame)
    if errors:
        raise ApiError(
            422,
            "validation_error",
            f"{len(errors)} of {frame.height} items are invalid; nothing was stored",
            [{"index": e.line - 1, "reason": e.reason} for e in errors[:100]],
        )
    return jsonify(api.service.upsert_items(valid))
