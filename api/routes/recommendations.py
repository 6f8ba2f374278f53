"""``POST /v1/recommendations``: anonymous sessions (recent item ids, no user)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from api.answers import session_answer
from api.auth import require_key
from api.state import state
from api.validation import json_body

bp = Blueprint("recommendations", __name__, url_prefix="/v1/recommendations")


@bp.post("")
def session() -> Any:
    """Recommendations from a session's recent items (most recent first).

    The body holds the request; the query may name the reasons' language (``?lang=zh``).
    The same answer as :mod:`api.fastpath` gives (:func:`api.answers.session_answer` is shared).
    """
    require_key("read")
    answer = session_answer(state(), json_body("SessionRequest"), request.args)
    answer["request_id"] = g.request_id
    return jsonify(answer)
