"""``POST /v1/recommendations``: anonymous sessions (recent item ids, no user)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify

from api.answers import session_json
from api.auth import require_key
from api.state import state
from api.validation import body_filters, json_body

bp = Blueprint("recommendations", __name__, url_prefix="/v1/recommendations")


@bp.post("")
def session() -> Any:
    """Recommendations from a session's recent items (most recent first)."""
    require_key("read")
    body = json_body("SessionRequest")
    reasons = bool(body.get("explain", False))
    answer = state().service.recommend_session(
        body["recent_item_ids"],
        n=int(body.get("n", 10)),
        filters=body_filters(body),
        reasons=reasons,
    )
    return jsonify({**session_json(answer, reasons), "request_id": g.request_id})
