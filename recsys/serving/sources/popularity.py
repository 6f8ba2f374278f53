"""Popularity: (log) number of training users per item; the fallback for everyone."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from recsys.serving.phrases import phrase
from recsys.serving.select import popular_allowed
from recsys.serving.sources import CandidateSource
from recsys.types import Reason

if TYPE_CHECKING:
    from recsys.serving.query import Query


class PopularitySource(CandidateSource):
    """The most popular allowed items: all of the ``popular`` strategy, a share of the others."""

    name = "popularity"
    reason = "popularity"
    reason_code = 2
    position = 0
    personal = False

    def weight(self, q: Query) -> float:
        """1 (popular), ``popularity_weight`` (hybrid) or ``content_popularity_weight``."""
        c = self.config
        if not q.personal:
            return 1.0
        return c.popularity_weight if q.hybrid else c.content_popularity_weight

    def gather(self, q: Query) -> npt.NDArray[np.int64] | None:
        """``k`` items for the popular strategy, ``max(n, k / 4)`` otherwise."""
        ranked = popular_allowed(q, max(q.k, 2 * q.n))
        return ranked[: q.k if not q.personal else max(q.n, q.k // 4)]

    def score(self, q: Query, cand: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """The bundle's log popularity."""
        return q.bundle.popularity[cand]

    def explain(self, q: Query, item_idx: int) -> Reason | None:
        """Reason "Popular in <category>" (or "Popular right now" for an item without one)."""
        cat = q.bundle.item_table.facts(item_idx).category
        text = (
            phrase(q.language, "popular_in", category=cat)
            if cat
            else phrase(q.language, "popular_now")
        )
        return Reason("popular", "popularity", (), text)
