"""The service's answer type: the recommender's answer plus the catalog facts a storefront shows."""

from __future__ import annotations

from dataclasses import dataclass

from recsys.bundle import Bundle, ItemRow
from recsys.types import Ranking, Recommendations, RecommendedItem, Strategy


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

    Example:
        >>> answer = service.recommend_user("42", n=5)
        >>> [(item.item_id, facts.title) for item, facts in answer.pairs()][0]
        ('r1', 'Running shoes')
    """

    recommendations: Recommendations
    facts: list[ItemRow]
    ranking: Ranking = "live"

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


def served(bundle: Bundle, answer: Recommendations, ranking: Ranking) -> ServedRecommendations:
    """``answer`` with each item's catalog facts looked up in ``bundle`` (the one that answered).

    The facts come from the bundle that ranked the answer, never a newer one, so an answer's
    items and facts always belong to the same snapshot.
    """
    facts, index = bundle.item_table.facts, bundle.items.index
    return ServedRecommendations(answer, [facts(index(i.item_id)) for i in answer.items], ranking)
