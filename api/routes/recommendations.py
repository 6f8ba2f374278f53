"""``POST /v1/recommendations``: anonymous sessions (recent item ids, no user)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify

from api.app import require_key, state
from api.routes.users import strip_reasons
from api.validation import json_body
from recsys.hybrid import Filters

bp = Blueprint("recommendations", __name__, url_prefix="/v1/recommendations")


@bp.post("")
def session() -> Any:
    """Recommendations from a session's recent items (most recent first)."""
    require_key("read")
    body = json_body("SessionRequest")
    filters = Filters(
        category=body.get("category"),
        exclude=frozenset(body.get("exclude", ())),
        in_stock_only=None if body.get("in_stock", True) else False,
    )
    explain = bool(body.get("explain", False))
    answer = state().service.recommend_session(
        body["recent_item_ids"], n=int(body.get("n", 10)), filters=filters, explain=explain
    )
    answer["items"] = strip_reasons(answer["items"], explain)
    answer["request_id"] = g.request_id
    return jsonify(answer)
