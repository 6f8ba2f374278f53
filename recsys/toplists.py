"""Precomputed per-user ranked lists: most user requests answered without ranking.

Ranking a user's candidates (fold-ins, index searches, blending) is most of a recommendation
request's cost. For users whose history has not changed since training, that work gives the same
answer every time, so training does it once per user and stores the head of each user's ranked
candidates in the bundle (``toplists.npz``), together with the store position (``watermark``) of
the newest event it read.

At request time the service (:mod:`recsys.service`) answers from the list when all of these hold,
and computes the answer live otherwise:

* the user has a list (users served by the ``hybrid`` strategy at training time);
* the user has no stored event after the watermark and was not erased since training: the list
  was ranked from exactly the history a live request would read;
* the request has no category filter, keeps the stock rule, asks for ``n <= candidates / 4`` and
  no explanations (``explain``/``pitch`` need the history);
* the served catalog adds no items, puts no item back in stock and changes no item text since
  training (other stock, price and category changes are fine: an item out of stock now is
  skipped, the category cap uses the current categories).

On those terms the answer equals the live one (``tests/test_toplists.py`` checks every user of a
small shop). The one difference: items excluded by the request or out of stock now are skipped,
while a live ranking would gather candidates and standardize each source's scores without them,
so the remaining items keep their training-time scores (and, rarely, their order may differ
from a live ranking's).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import polars as pl
from tqdm import tqdm

from recsys.types import HISTORY_LIMIT, RankedList, UserEvent, UserHistory

if TYPE_CHECKING:
    from recsys.hybrid import HybridRecommender

__all__ = ["HISTORY_LIMIT", "RankedList", "TopLists", "compute_toplists", "user_histories"]


@dataclass(frozen=True)
class TopLists:
    """Every user's precomputed :class:`RankedList`, as fixed-width tables.

    Attributes:
        items: ``(n_users, depth)`` int32 item indices, best first; ``-1`` pads a short row, and a
            row starting with ``-1`` means "no list: compute live".
        scores: ``(n_users, depth)`` float64 blended scores.
        sources: ``(n_users, depth)`` int8 source codes (``recsys.hybrid.SOURCES``).
        watermark: store position (``Store.last_seq``) of the newest event the lists read.
    """

    items: npt.NDArray[np.int32]
    scores: npt.NDArray[np.float64]
    sources: npt.NDArray[np.int8]
    watermark: int

    @property
    def depth(self) -> int:
        """Items stored per user."""
        return int(self.items.shape[1])

    @property
    def n_lists(self) -> int:
        """Users that have a list."""
        return int((self.items[:, 0] >= 0).sum()) if self.items.size else 0

    def get(self, user_idx: int) -> RankedList | None:
        """The list of user row ``user_idx``, or None if that user has none."""
        if user_idx < 0 or user_idx >= self.items.shape[0] or self.items[user_idx, 0] < 0:
            return None
        return RankedList(
            items=self.items[user_idx],
            scores=self.scores[user_idx],
            sources=self.sources[user_idx],
        )

    def save(self, path: Path) -> None:
        """Write as one ``.npz`` (plain arrays, no pickle)."""
        with path.open("wb") as fh:
            np.savez(
                fh,
                items=self.items,
                scores=self.scores,
                sources=self.sources,
                watermark=np.asarray([self.watermark], dtype=np.int64),
            )

    @classmethod
    def load(cls, path: Path) -> TopLists:
        """Read what :meth:`save` wrote."""
        with np.load(path, allow_pickle=False) as data:
            return cls(
                items=data["items"],
                scores=data["scores"],
                sources=data["sources"],
                watermark=int(data["watermark"][0]),
            )


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


def compute_toplists(
    recommender: HybridRecommender,
    events: pl.DataFrame,
    watermark: int,
    depth: int | None = None,
    show_progress: bool = False,
) -> TopLists:
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
        users = recommender.bundle.users
        histories = tqdm(
            user_histories(events),
            total=events["user_id"].n_unique(),
            disable=not show_progress,
            desc="precompute lists",
            unit="user",
        )
        with _one_native_thread():
            for user_id, history in histories:
                u = users.index(user_id)
                ranked = (
                    recommender.ranked_list(user_id, history.events, depth, history.item_types)
                    if u >= 0
                    else None
                )
                if ranked is not None:
                    m = ranked.items.size
                    items[u, :m] = ranked.items
                    scores[u, :m] = ranked.scores
                    sources[u, :m] = ranked.sources
    return TopLists(items, scores, sources, int(watermark))


@contextmanager
def _one_native_thread() -> Iterator[None]:
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
