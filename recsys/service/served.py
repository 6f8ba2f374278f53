"""The service's answer type: the recommender's answer plus the catalog facts a storefront shows."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from recsys.bundle import Bundle, ItemRow
from recsys.types import Ranking, Reason, Recommendations, RecommendedItem, Strategy


def new_recommendation_id() -> str:
    """A fresh answer id: 16 hex characters (64 random bits)."""
    return os.urandom(8).hex()


@dataclass(frozen=True)
class ServedRecommendations:
    """An answer as the service serves it: the recommender's answer and what a storefront shows.

    Attributes:
        recommendations: strategy, model version and the items, best first, each with its
            blended score and reason (a bare reason, naming only the top source with empty
            ``item_ids`` and blank ``text``, when reasons were not asked for).
        facts: the catalog facts of each item of ``recommendations.items`` (same order and
            length) in the bundle that answered, live catalog overlay included: ``title``,
            ``category`` (``""`` or None: none), ``price`` (None: unknown), ``currency``,
            ``in_stock``.
        ranking: ``precomputed`` when the user's list ranked at training time answered,
            ``live`` when the answer was ranked for this request (always, for sessions and
            similar items).
        recommendation_id: this answer's id (16 hex characters): events that name it are
            attributed to it in an experiment's report.
        experiment: the running experiment the shopper is in (None: none).
        variant: the shopper's variant of it (None: not in an experiment).
        pitch: the variant's pitch setting (None: as the caller asked; True/False: on/off).

    Example:
        >>> answer = service.recommend_user("42", n=5)
        >>> [(item.item_id, facts.title) for item, facts in answer.pairs()][0]
        ('r1', 'Running shoes')
    """

    recommendations: Recommendations
    facts: list[ItemRow]
    ranking: Ranking = "live"
    recommendation_id: str = field(default_factory=new_recommendation_id)
    experiment: str | None = None
    variant: str | None = None
    pitch: bool | None = None

    @property
    def items(self) -> list[RecommendedItem]:
        """The recommended items, best first."""
        return self.recommendations.items

    @property
    def strategy(self) -> Strategy:
        """Which strategy served the answer (``hybrid``, ``content`` or ``popular``)."""
        return self.recommendations.strategy

    @property
    def model_version(self) -> str:
        """The version of the bundle that answered."""
        return self.recommendations.model_version

    def pairs(self) -> list[tuple[RecommendedItem, ItemRow]]:
        """``(item, facts)`` per recommended item, best first."""
        return list(zip(self.recommendations.items, self.facts, strict=True))


def reason_record(reason: Reason) -> dict[str, Any]:
    """A reason as the edges write it in JSON (the API's ``Reason`` object)."""
    return {
        "kind": reason.kind,
        "source": reason.source,
        "item_ids": list(reason.item_ids),
        "text": reason.text,
    }


def item_record(item: RecommendedItem, facts: ItemRow, reasons: bool) -> dict[str, Any]:
    """A recommended item as the edges write it in JSON (the API's ``RecommendedItem`` object).

    The one JSON shape of an item, shared by the two edges (``api/answers.py`` and the CLI's
    ``--json``): scores rounded to 6 decimals, an empty category or currency as ``null``, and
    ``reason`` only when ``reasons``.
    """
    entry: dict[str, Any] = {
        "item_id": item.item_id,
        "score": round(item.score, 6),
        "title": facts.title,
        "category": facts.category or None,
        "price": facts.price,
        "currency": facts.currency or None,
        "in_stock": bool(facts.in_stock),
    }
    if reasons:
        entry["reason"] = reason_record(item.reason)
    return entry


# an answer served inside an experiment: (experiment, variant, the variant's pitch setting)
ExperimentTag = tuple[str, str, bool | None]


def served(
    bundle: Bundle, answer: Recommendations, ranking: Ranking, tag: ExperimentTag | None = None
) -> ServedRecommendations:
    """``answer`` with each item's catalog facts looked up in ``bundle`` (the one that answered).

    The facts come from the bundle that ranked the answer, never a newer one, so an answer's
    items and facts always belong to the same snapshot. ``tag`` names the experiment and
    variant the answer is served in (None: none).
    """
    facts, index = bundle.item_table.facts, bundle.items.index
    shown = [facts(index(i.item_id)) for i in answer.items]
    if tag is None:
        return ServedRecommendations(answer, shown, ranking)
    return ServedRecommendations(answer, shown, ranking, new_recommendation_id(), *tag)
