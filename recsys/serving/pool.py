"""Small candidate pools for live answers: what a browsing shopper's request ranks.

A shopper with an event since training cannot be answered from their precomputed list, but
most of what a live ranking would gather is already known: the list itself (the best
candidates of their trained taste) and the precomputed similar items of what they did since
(:class:`~recsys.precomputed.SimilarLists`). :func:`user_pool` joins the two; the recommender
then scores only the pool with every source (the trained vector, the fold-in of the newest
events, the text profile, popularity, ...) instead of scanning the catalog or searching the
indexes (``HybridRecommender.recommend_user(pool=...)``). The cheap sources (popularity,
repeat purchases, trending) still bring their own candidates, and the owned-items rules and
filters apply as in any live answer. ``benchmarks/live_pool.py`` compares its recall with the
full ranking's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from recsys.config import TrainConfig
from recsys.models.base import unique_ints
from recsys.precomputed import SimilarLists
from recsys.types import RankedList, UserEvent

if TYPE_CHECKING:
    from recsys.bundle import Bundle


def user_pool(
    bundle: Bundle,
    ranked: RankedList,
    similar: SimilarLists,
    history: Sequence[UserEvent],
    newest_items: int,
    similar_items: int | None,
) -> npt.NDArray[np.int64]:
    """The user's precomputed list plus the similar items of their newest distinct items.

    Args:
        bundle: the served bundle (its item vocabulary).
        ranked: the user's precomputed list (ranked at training).
        similar: the precomputed similar items (the ``hybrid`` mode's lists are used).
        history: the user's events, newest first.
        newest_items: how many of the newest distinct known items bring their similar items.
        similar_items: how many of each one's similar items (the first, most similar; None:
            every one stored); the served config's ``live_pool_similar``, which the compiled
            pass (``recsys.serving.pooled``) takes too.

    Returns:
        Sorted unique item indices.
    """
    newest = newest_distinct(bundle, history, newest_items, similar.n_items)
    rows = similar.items[similar.modes.index("hybrid"), newest][:, :similar_items].ravel()
    joined = unique_ints(np.concatenate([ranked.items, rows]))
    return joined[joined >= 0]  # -1 pads short rows


def newest_distinct(
    bundle: Bundle, history: Sequence[UserEvent], count: int, n_items: int
) -> list[int]:
    """The indices of the ``count`` newest distinct items of ``history`` below ``n_items``.

    Args:
        bundle: the served bundle (its item vocabulary).
        history: the user's events, newest first.
        count: how many items at most.
        n_items: items at or past this index (added after the similar lists) are skipped, as
            are items the bundle does not know.
    """
    newest: list[int] = []
    for event in history:
        if len(newest) >= count:
            break
        idx = bundle.items.index(event.item_id)
        if idx >= 0 and idx not in newest and idx < n_items:
            newest.append(idx)
    return newest


def bounded_history(config: TrainConfig) -> int:
    """How many newest events a pooled answer reads, or 0 when it must read the whole history.

    A pooled user was trained on: their items up to training are their row of the training
    matrix, so the owned-items rules can use that row and the events stored since training
    instead of the whole history. That holds when the rules exclude what the row holds: every
    item seen (``exclude_seen``; purchases count as seen when their weight is positive), over a
    training matrix of the whole history (no ``window_days``). The newest events then only feed
    the recent and text sources and the pool: twice what they read.
    """
    h, m = config.hybrid, config.matrix
    if not h.exclude_seen or m.window_days is not None:
        return 0
    if h.exclude_purchased and m.weight("purchase") <= 0:
        return 0
    return 2 * max(h.recent_events, h.recent_items, h.live_pool_items)
