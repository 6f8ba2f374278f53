"""``/v1/items``: similar items and catalog upserts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify

from api.app import require_key, state
from api.errors import ApiError
from api.routes.users import strip_reasons
from api.validation import check_id, choice_param, json_body, n_param, query_filters
from recsys.hybrid import SIMILAR_MODES
from recsys.store.importing import records_to_frame, validate_items

bp = Blueprint("items", __name__, url_prefix="/v1/items")


@bp.get("/<path:item_id>/similar")
def similar(item_id: str) -> Any:
    """Items similar to ``item_id`` (404 when the item is unknown)."""
    require_key("read")
    check_id(item_id, "item_id")
    n = n_param()
    mode = choice_param("mode", "hybrid", SIMILAR_MODES)
    filters, explain = query_filters()
    answer = state().service.similar(item_id, n=n, mode=mode, filters=filters)  # type: ignore[arg-type]
    answer["items"] = strip_reasons(answer["items"], explain)
    answer["request_id"] = g.request_id
    return jsonify(answer)


@bp.put("")
def upsert() -> Any:
    """Insert or update catalog items; their text is embedded before the answer.

    Embedding is synchronous (a batch of 1,000 new texts takes seconds on 2 CPU cores): when this
    returns, new items are recommendable through text similarity on this worker, and on the
    other workers after their next catalog poll (``swap_poll_s``), which reads the vectors from
    the shared embedding cache.
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
