"""``/v1/users``: personalized recommendations and erasure."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from api.app import ApiState, require_key, state
from api.errors import ApiError
from api.validation import (
    Args,
    bool_param,
    check_id,
    int_param,
    json_body,
    n_param,
    query_filters,
)
from recsys.toplists import HISTORY_LIMIT

bp = Blueprint("users", __name__, url_prefix="/v1/users")


def strip_reasons(items: list[dict[str, Any]], explain: bool) -> list[dict[str, Any]]:
    """Drop each item's ``reason`` unless ``explain`` was asked for."""
    if not explain:
        for item in items:
            item.pop("reason", None)
    return items


@bp.get("/<path:user_id>/recommendations")
def recommend(user_id: str) -> Any:
    """Recommendations for a user (unknown users get the fallback chain, not an error)."""
    require_key("read")
    answer = user_answer(state(), user_id, request.args)
    answer["request_id"] = g.request_id
    return jsonify(answer)


def user_answer(api: ApiState, user_id: str, args: Args) -> dict[str, Any]:
    """The route's answer (all but ``request_id``) after the key check.

    Shared by the route and :mod:`api.fastpath`, so both validate and answer alike.

    Raises:
        ApiError: a caller's mistake (422) or no pitch writer (503).
    """
    check_id(user_id, "user_id")
    n = n_param(args)
    filters, explain = query_filters(args)
    pitch = bool_param("pitch", False, args)
    wait_ms = int_param("pitch_wait_ms", api.config.pitch_wait_ms, 0, 5000, args)
    service = api.service
    # a pitch needs the history; otherwise the service reads it only if it must rank live
    history = service.store.user_history(user_id, HISTORY_LIMIT) if pitch else None
    answer = service.recommend_user(
        user_id,
        n=n,
        filters=filters,
        history=history,
        explain=explain or pitch,
        reasons=explain or pitch,
    )
    if pitch and history is not None and answer["items"]:
        provider = api.pitch_provider()
        if provider is None:
            raise ApiError(503, "pitch_unavailable", "no pitch writer is installed on this server")
        pitches = provider.pitches_for(user_id, history.events, answer["items"], int(wait_ms or 0))
        for item, p in zip(answer["items"], pitches, strict=False):
            item["pitch"] = {"text": p.text, "source": p.source}
    answer["items"] = strip_reasons(answer["items"], explain)
    api.metrics.user_recs.labels(ranking=answer["ranking"]).inc()
    return answer


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
