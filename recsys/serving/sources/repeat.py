"""Repeat purchases: the items the user buys again and again.

Scores the items the user already bought by how often and how recently (purchase frequency with
a half-life). It only matters when re-buying is allowed (``exclude_seen = exclude_purchased =
False``, the setting for grocery and consumables shops); otherwise those items are filtered out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from recsys.matrix import decay
from recsys.serving.phrases import phrase
from recsys.serving.sources import CandidateSource
from recsys.types import Reason, UserEvent

if TYPE_CHECKING:
    from recsys.bundle import Bundle
    from recsys.serving.query import Query


def repeat_scores(
    bundle: Bundle, history: Sequence[UserEvent], half_life_days: float | None
) -> npt.NDArray[np.float32]:
    """Purchase frequency with recency per item: ``Σ decay(age)`` over the item's purchases.

    Args:
        bundle: the bundle (its item vocabulary).
        history: the user's events (any order); only purchases of known items count, and age is
            measured from the newest event in ``history`` (the library's one clock).
        half_life_days: a purchase this old counts half (None: every purchase counts 1).

    Returns:
        float32 scores, shape ``(n_items,)``; 0 for items the user never bought.
    """
    out = np.zeros(len(bundle.items), dtype=np.float32)
    bought = [e for e in history if e.type == "purchase"]
    if not bought:
        return out
    idx = bundle.items.indices([e.item_id for e in bought])
    ts = np.asarray([e.ts for e in bought], dtype=np.float64)
    newest = max(e.ts for e in history)
    w = np.ones(ts.size) if half_life_days is None else decay((newest - ts).clip(0), half_life_days)
    keep = idx >= 0
    np.add.at(out, idx[keep], w[keep].astype(np.float32))
    return out


class RepeatSource(CandidateSource):
    """The user's own purchases, most frequent and recent first."""

    name = "repeat"
    reason = "repeat"
    reason_code = 3
    position = 40

    def weight(self, q: Query) -> float:
        """``repeat_weight``."""
        return self.config.repeat_weight if q.personal else 0.0

    def _scores(self, q: Query) -> npt.NDArray[np.float32]:
        if "repeat" not in q.memo:
            q.memo["repeat"] = repeat_scores(q.bundle, q.history, q.config.repeat_half_life_days)
        return q.memo["repeat"]  # type: ignore[no-any-return]

    def gather(self, q: Query) -> npt.NDArray[np.int64] | None:
        """The bought items by score (None: nothing bought is allowed, or the weight is 0)."""
        if not q.personal or self.weight(q) <= 0 or q.config.exclude_purchased:
            return None  # (bought items are excluded when exclude_purchased: none is allowed)
        scores = self._scores(q)
        bought = np.flatnonzero(scores > 0)
        if not (self.weight(q) > 0 and bought.size and q.allowed[bought].any()):
            return None
        return bought[np.argsort(-scores[bought], kind="stable")][: q.k]

    def score(self, q: Query, cand: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Repeat scores of ``cand``."""
        return self._scores(q)[cand]

    def explain(self, q: Query, item_idx: int) -> Reason | None:
        """Reason "You bought <title> 3x before" (None for an item the user never bought)."""
        if self._scores(q)[item_idx] <= 0:
            return None
        b = q.bundle
        item_id = b.items.id(item_idx)
        times = Counter(e.item_id for e in q.history if e.type == "purchase")[item_id]
        text = phrase(q.language, "repeat", title=b.item_table.title(item_idx), n=times)
        return Reason("history", "repeat", (item_id,), text)
