"""Precomputing: the ranker's stages, run at training time for every user.

See :mod:`recsys.precomputed` for the table, and for when an answer may come from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from tqdm import tqdm

from recsys.precomputed import PrecomputedLists
from recsys.types import (
    HISTORY_LIMIT,
    RankedList,
    UserEvent,
    UserHistory,
)

if TYPE_CHECKING:
    from recsys.serving.recommender import HybridRecommender


def user_histories(
    events: pl.DataFrame, limit: int = HISTORY_LIMIT, chunk_rows: int = 500_000
) -> Iterator[tuple[str, UserHistory]]:
    """Each user's history as ``Store.user_history(user_id, limit)`` returns it.

    That is the newest ``limit`` events, newest first, and for users with at least ``limit``
    events the distinct ``(item_id, type)`` pairs of all of them (so the lists exclude every
    item the user ever had, as a live answer does).

    Args:
        events: the store's events in insertion order (``Store.events_frame``): the order breaks
            ties between equal timestamps the way the store's ``seq`` does.
        limit: events per user.
        chunk_rows: about this many events are turned into Python objects at a time.

    Yields:
        ``(user_id, history)`` per user, in user id order.
    """
    if events.height == 0:
        return
    totals = events.group_by("user_id").len()
    long_users = totals.filter(pl.col("len") >= limit)["user_id"]
    item_types: dict[str, list[tuple[str, str]]] = {}
    if long_users.len():
        pairs = (
            events.filter(pl.col("user_id").is_in(long_users.implode()))
            .select("user_id", "item_id", "type")
            .unique()
            .sort("user_id", "item_id", "type")
        )
        for (user,), part in pairs.group_by("user_id", maintain_order=True):
            item_types[str(user)] = list(zip(part["item_id"], part["type"], strict=True))
    frame = (
        events.select("user_id", "item_id", "type", "ts")
        .with_row_index("_seq")
        .sort(["user_id", "ts", "_seq"], descending=[False, True, True])
    )
    frame = frame.filter(pl.int_range(pl.len()).over("user_id") < limit).drop("_seq")
    counts = frame.group_by("user_id", maintain_order=True).len()["len"].to_numpy()
    ends = np.cumsum(counts)
    start_user = 0
    while start_user < counts.size:
        first_row = int(ends[start_user - 1]) if start_user else 0
        stop_user = int(np.searchsorted(ends, first_row + chunk_rows, side="right"))
        stop_user = max(stop_user, start_user + 1)
        last_row = int(ends[stop_user - 1])
        part = frame.slice(first_row, last_row - first_row)
        users = part["user_id"].to_list()
        rows = list(zip(part["item_id"], part["type"], part["ts"], strict=True))
        offset = 0
        for k in range(start_user, stop_user):
            size = int(counts[k])
            user = users[offset]
            history = [UserEvent._make(r) for r in rows[offset : offset + size]]
            yield user, UserHistory(history, item_types.get(user))
            offset += size
        start_user = stop_user


def rank_every_user(
    recommender: HybridRecommender,
    events: pl.DataFrame,
    watermark: int,
    depth: int | None = None,
    show_progress: bool = False,
) -> PrecomputedLists:
    """Rank every user's candidates once (what training stores for the API).

    Args:
        recommender: recommender over the new bundle (not yet published).
        events: the store's events up to ``watermark``, in insertion order.
        watermark: store position of the newest event in ``events``.
        depth: items kept per user (default: ``hybrid.precomputed_items``).
        show_progress: progress bar over users.
    """
    depth = recommender.config.precomputed_items if depth is None else depth
    n_users = len(recommender.bundle.users)
    items = np.full((n_users, max(depth, 0)), -1, dtype=np.int32)
    scores = np.zeros(items.shape, dtype=np.float64)
    sources = np.zeros(items.shape, dtype=np.int8)
    if depth > 0 and n_users:
        histories = tqdm(
            user_histories(events),
            total=events["user_id"].n_unique(),
            disable=not show_progress,
            desc="precompute lists",
            unit="user",
        )
        with one_native_thread():
            for u, ranked in ranked_lists(recommender, histories, depth):
                m = ranked.items.size
                items[u, :m] = ranked.items
                scores[u, :m] = ranked.scores
                sources[u, :m] = ranked.sources
    return PrecomputedLists(items, scores, sources, int(watermark))


def ranked_lists(
    recommender: HybridRecommender, histories: Iterable[tuple[str, UserHistory]], depth: int
) -> Iterator[tuple[int, RankedList]]:
    """Each history's ranked list, for the users the bundle has a row and a list for.

    What :func:`rank_every_user` stores per user; the Spark engine's executors call it on their
    part of the users (``recsys.spark.lists``).

    Yields:
        ``(user row, list)``; users without a row, or served by another strategy, are skipped.
    """
    users = recommender.bundle.users
    for user_id, history in histories:
        u = users.index(user_id)
        if u < 0:
            continue
        ranked = recommender.ranked_list(user_id, history.events, depth, history.item_types)
        if ranked is not None:
            yield u, ranked


@contextmanager
def one_native_thread() -> Iterator[None]:
    """Run BLAS and FAISS on one thread inside the block.

    Per-user products and searches are tiny; letting each start a thread per core made the
    ML-100K lists 3.5x slower (8.3 s vs 2.4 s on 2 cores).
    """
    import faiss
    from threadpoolctl import threadpool_limits

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        faiss.omp_set_num_threads(before)
