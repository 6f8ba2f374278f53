"""``/v1/users``: personalized recommendations and erasure."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from api.answers import user_answer
from api.auth import require_key
from api.state import state
from api.validation import check_id, json_body

bp = Blueprint("users", __name__, url_prefix="/v1/users")


@bp.get("/<path:user_id>/recommendations")
def recommend(user_id: str) -> Any:
    """Recommendations for a user (unknown users get the fallback chain, not an error).

    The same answer as :mod:`api.fastpath` gives, which answers most of these requests before
    Flask sees them (:func:`api.answers.user_answer` is shared).
    """
    require_key("read")
    answer = user_answer(state(), user_id, request.args)
    answer["request_id"] = g.request_id
    return jsonify(answer)


@bp.delete("/<user_id>")  # no slashes: DELETE .../recommendations must not erase a user
def erase(user_id: str) -> Any:
    """Erase every copy of the user's data (see :mod:`recsys.erasure`).

    An id containing ``/`` cannot be one path segment: ``POST /v1/erasures`` erases any id.
    """
    require_key("admin")
    check_id(user_id, "user_id")
    report = state().service.erase_users([user_id])
    return jsonify(
        {"user_id": user_id, "deleted_events": report.events, "erasure": report.to_dict()}
    )


erasures = Blueprint("erasures", __name__, url_prefix="/v1/erasures")


@erasures.post("")
def erase_many() -> Any:
    """Erase up to ``max_batch`` users at once, any id (each kept bundle is rewritten once)."""
    require_key("admin")
    api = state()
    body = json_body("ErasureRequest", api.config.max_batch)
    ids = [str(u) for u in body["user_ids"]]
    for user_id in ids:
        check_id(user_id, "user_id")
    report = api.service.erase_users(ids)
    return jsonify(
        {"users": report.users, "deleted_events": report.events, "erasure": report.to_dict()}
    )
