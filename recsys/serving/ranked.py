"""Answers from a precomputed list: when a request may have one, and how it is cut to size.

See :mod:`recsys.precomputed` for the table, and :mod:`recsys.serving.precompute` for how the
lists are made (the same stages as a live answer, run at training time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from recsys.config import HybridConfig
from recsys.serving import select as sel
from recsys.types import Filters, RankedList, Reason, Recommendations, RecommendedItem

if TYPE_CHECKING:
    from recsys.bundle import Bundle


def serves_ranked(config: HybridConfig, n: int, filters: Filters) -> bool:
    """Whether a request with ``n`` and ``filters`` may be answered from a ranked list.

    Category filters and a changed stock rule change which candidates are gathered, and
    ``n > candidates / 4`` gathers more of them, so those requests are computed live.
    """
    return (
        filters.category is None
        and filters.in_stock_only in (None, config.in_stock_only)
        and max(config.candidates, 4 * n) == max(config.candidates, 4)
    )


def walk_list(
    bundle: Bundle, config: HybridConfig, ranked: RankedList, n: int, filters: Filters
) -> list[int] | None:
    """Positions of the ``n`` items a request takes from a precomputed list, best first.

    Items excluded by the request, or out of stock now (when ``in_stock_only``), are skipped;
    the category cap is applied as a live answer applies it.

    Returns:
        The positions, or None when the list cannot give ``n`` items.
    """
    keep = ranked.items >= 0
    if config.in_stock_only:
        keep &= bundle.item_table.in_stock[np.maximum(ranked.items, 0)]
    if filters.exclude:
        ex = bundle.items.indices(sorted(filters.exclude))
        keep &= ~np.isin(ranked.items, ex[ex >= 0])
    pos = np.flatnonzero(keep)
    if config.max_category_share is None:
        chosen: list[int] = pos[:n].tolist()
    else:
        codes = bundle.item_table.category_codes[ranked.items]
        cap = sel.category_cap(n, config.max_category_share)
        chosen = sel.capped_walk(pos.tolist(), codes, n, cap)[0]
    return chosen if len(chosen) == n else None


def answer_from_list(
    bundle: Bundle,
    config: HybridConfig,
    bare: dict[int, Reason],
    ranked: RankedList,
    n: int,
    filters: Filters,
) -> Recommendations | None:
    """Answer a request from a user's precomputed :class:`RankedList`.

    Items excluded by the request, or out of stock now (when ``in_stock_only``), are skipped;
    the rest keep their precomputed order and scores, and the category cap is applied as a live
    answer applies it. Reasons are the bare kind (``bare``: by reason code; top source only).

    Returns:
        The answer, or None when the list cannot give ``n`` items or the request needs a live
        computation (:func:`serves_ranked`).
    """
    if not serves_ranked(config, n, filters):
        return None
    chosen = walk_list(bundle, config, ranked, n, filters)
    if chosen is None:
        return None
    ids = bundle.items.ids(ranked.items[chosen])
    scores, reasons = ranked.scores[chosen].tolist(), ranked.sources[chosen].tolist()
    items = [RecommendedItem(i, s, bare[r]) for i, s, r in zip(ids, scores, reasons, strict=True)]
    return Recommendations("hybrid", items, bundle.version)
