"""JSON at the edge: the service's typed answers shaped as the HTTP API sends them.

The service answers with :class:`~recsys.service.ServedRecommendations`; this module is the one
place that turns them into the documented JSON (``api/openapi.py``: ``RecommendedItem``,
``UserRecommendations``, ``SessionRecommendations``, ``SimilarItems``): scores rounded to 6
decimals, empty categories and currencies as ``null``, and each item's ``reason`` only when the
caller asked for reasons (``explain=true``). :func:`user_answer` is shared by the Flask route
and the lean request path (:mod:`api.fastpath`), so both validate and answer alike; so is
:func:`similar_answer`.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from api.errors import ApiError
from api.state import ApiState
from api.validation import (
    Args,
    body_filters,
    bool_param,
    check_id,
    choice_param,
    int_param,
    lang_param,
    n_param,
    query_filters,
    reasons_param,
)
from recsys.service import ServedRecommendations
from recsys.service.served import item_record
from recsys.types import SIMILAR_MODES, SimilarMode

log = logging.getLogger(__name__)

# the API's ``RecommendedItem`` object: the library's one JSON shape of an item, which the CLI's
# ``--json`` writes too
item_json = item_record


def items_json(answer: ServedRecommendations, reasons: bool) -> list[dict[str, Any]]:
    """The answer's items as the API lists them, best first."""
    return [
        item_json(item, facts, reasons)
        for item, facts in zip(answer.recommendations.items, answer.facts, strict=True)
    ]


def answer_ids(answer: ServedRecommendations) -> dict[str, Any]:
    """The answer's ``recommendation_id``, ``experiment`` and ``variant`` (null outside one)."""
    return {
        "recommendation_id": answer.recommendation_id,
        "experiment": answer.experiment,
        "variant": answer.variant,
    }


def session_json(answer: ServedRecommendations, reasons: bool) -> dict[str, Any]:
    """A ``SessionRecommendations`` object, all but ``request_id``."""
    return {
        "model_version": answer.model_version,
        "strategy": answer.strategy,
        "items": items_json(answer, reasons),
        **answer_ids(answer),
    }


def similar_json(
    item_id: str, mode: str, answer: ServedRecommendations, reasons: bool
) -> dict[str, Any]:
    """A ``SimilarItems`` object, all but ``request_id``."""
    return {
        "item_id": item_id,
        "mode": mode,
        "model_version": answer.model_version,
        "strategy": answer.strategy,
        "items": items_json(answer, reasons),
        **answer_ids(answer),
    }


def user_answer(api: ApiState, user_id: str, args: Args) -> dict[str, Any]:
    """``GET /v1/users/<user_id>/recommendations``: the answer, all but ``request_id``.

    Called after the key check, by the Flask route and by :mod:`api.fastpath`.

    Args:
        api: the app's shared state.
        user_id: the path's user id (not yet checked).
        args: the parsed query parameters.

    Returns:
        A ``UserRecommendations`` object without ``request_id``.

    Raises:
        ApiError: a caller's mistake (422) or no pitch writer (503).
    """
    check_id(user_id, "user_id")
    n = n_param(args)
    filters = query_filters(args)
    reasons = reasons_param(args)
    language = lang_param(args)
    pitch = bool_param("pitch", False, args)
    wait_ms = int_param("pitch_wait_ms", api.config.pitch_wait_ms, 0, 5000, args)
    service = api.service
    # a pitch is written from the history the answer is ranked from, and names the items that
    # reason for it; otherwise the service reads the history only if it must rank live
    history = service.user_history(user_id) if pitch else None
    answer = service.recommend_user(
        user_id,
        n=n,
        filters=filters,
        history=history,
        reasons=reasons or pitch,
        language=language,
    )
    asked = pitch
    if answer.pitch is not None:  # the shopper's experiment variant turns pitches on or off
        pitch = answer.pitch
        if pitch and history is None:
            history = service.user_history(user_id)
    items = items_json(answer, reasons)
    provider = api.pitch_provider() if pitch and history is not None and items else None
    if pitch and history is not None and items and provider is None:
        if asked:
            raise ApiError(503, "pitch_unavailable", "no pitch writer is installed on this server")
        log.warning("variant %s has pitches on, but no pitch writer is installed", answer.variant)
    if pitch and history is not None and items and provider is not None:
        pitches = provider.pitches_for(
            user_id, history.events, answer.items, int(wait_ms or 0), language=language
        )
        counter = api.metrics.pitches
        configured = getattr(getattr(provider, "config", None), "backend", "template")
        for entry, p in zip(items, pitches, strict=False):
            entry["pitch"] = {"text": p.text, "source": p.source}
            # the template answering a configured model is a fallback (the writer's own word,
            # or a template where the configured backend is not the template)
            fell_back = bool(getattr(p, "fallback", None)) or (
                p.source == "template" and configured != "template"
            )
            counter.labels(source=p.source, fallback=str(fell_back).lower()).inc()
            fallback = getattr(p, "fallback", None)
            if fallback:  # why the configured model did not write it ("model_language")
                entry["pitch"]["fallback"] = fallback
                entry["pitch"]["fallback_reason"] = getattr(p, "fallback_reason", "")
    api.metrics.count_user_answer(answer.ranking)
    return {
        "user_id": user_id,
        "model_version": answer.model_version,
        "strategy": answer.strategy,
        "ranking": answer.ranking,
        "items": items,
        **answer_ids(answer),
    }


def similar_answer(api: ApiState, item_id: str, args: Args) -> dict[str, Any]:
    """``GET /v1/items/<item_id>/similar``: the answer, all but ``request_id``.

    Called after the key check, by the Flask route and by :mod:`api.fastpath`.

    Raises:
        ApiError: a caller's mistake (422).
        UnknownItemError: the item is unknown (the error handler answers 404).
    """
    check_id(item_id, "item_id")
    n = n_param(args)
    mode = cast(SimilarMode, choice_param("mode", "hybrid", SIMILAR_MODES, args))
    filters = query_filters(args)
    reasons = reasons_param(args)
    language = lang_param(args)
    answer = api.service.similar(item_id, n=n, mode=mode, filters=filters, language=language)
    return similar_json(item_id, mode, answer, reasons)


def session_answer(api: ApiState, body: dict[str, Any], args: Args | None = None) -> dict[str, Any]:
    """``POST /v1/recommendations``: the answer to a validated body, all but ``request_id``.

    Called after the key check and the body's schema check, by the Flask route and by
    :mod:`api.fastpath`; ``args`` are the query parameters (``lang``; None: none given).
    """
    reasons = bool(body.get("explain", False))
    language = lang_param(args) if args else None
    answer = api.service.recommend_session(
        body["recent_item_ids"],
        n=int(body.get("n", 10)),
        filters=body_filters(body),
        reasons=reasons,
        language=language,
    )
    return session_json(answer, reasons)
