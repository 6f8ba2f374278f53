"""One request as the ranker's stages see it: who asks, what they did, and what may be returned.

The recommender builds a :class:`Query` once per request (the "history lookup" stage); every
candidate source, the blend, the selection and the explanation read from it. Values a source
computes that another stage also needs (the user's fold-in vectors, the text profile, repeat
scores) are kept in ``memo`` under the computing source's name, so each is computed once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

from recsys.config import HybridConfig, MatrixConfig
from recsys.lang import ShopLanguage
from recsys.matrix import decay
from recsys.models.base import unique_ints
from recsys.types import EVENT_TYPES, Strategy, UserEvent

if TYPE_CHECKING:
    from recsys.bundle import Bundle


class EventLog(Protocol):
    """Where a source that needs raw events reads them (``recsys.store.Store`` is one)."""

    def events_frame(
        self, since_ts: float | None = None, until_seq: int | None = None
    ) -> pl.DataFrame:
        """Events with ``ts >= since_ts`` stored up to position ``until_seq``, in store order."""
        ...


class FrameEvents:
    """An :class:`EventLog` over an events frame already in memory (training, benchmarks).

    Args:
        events: frame with at least ``item_id, type, ts``, in store order.
    """

    def __init__(self, events: pl.DataFrame) -> None:
        self.events = events

    def events_frame(
        self, since_ts: float | None = None, until_seq: int | None = None
    ) -> pl.DataFrame:
        """The frame's events with ``ts >= since_ts`` (the frame is the store up to a position)."""
        if since_ts is None:
            return self.events
        return self.events.filter(pl.col("ts") >= since_ts)


@dataclass
class Query:
    """One ranking request.

    Attributes:
        bundle: the trained bundle being served.
        config: blend and filter settings.
        strategy: ``hybrid``, ``content`` or ``popular`` (see ``recsys.serving.recommender``).
        user_idx: the user's row in the trained model, or -1 (unknown, erased or not used).
        history: the user's events, newest first.
        n: items asked for.
        k: candidates each source brings (``max(candidates, 4 * n)``).
        hist_row: ``history`` as a ``1 x n_items`` confidence row (:func:`history_row`).
        exclude: item indices the owned-items rules remove (they never come back).
        allowed: per item, whether the request may return it (filters, stock, exclusions).
        memo: values computed once per request and shared between stages.
        language: the language reasons are written in (``recsys.serving.phrases``): the
            caller's, else the catalog's (``recsys.lang.bundle_language``).
    """

    bundle: Bundle
    config: HybridConfig
    strategy: Strategy
    user_idx: int
    history: Sequence[UserEvent]
    n: int
    k: int
    hist_row: sp.csr_matrix
    exclude: npt.NDArray[np.int64]
    allowed: npt.NDArray[np.bool_]
    memo: dict[str, Any] = field(default_factory=dict)
    language: ShopLanguage = "en"

    @property
    def personal(self) -> bool:
        """Whether the user's own history drives this answer (not the ``popular`` strategy)."""
        return self.strategy != "popular"

    @property
    def hybrid(self) -> bool:
        """Whether the trained user vector takes part (the ``hybrid`` strategy)."""
        return self.strategy == "hybrid"


def strategy_of(
    bundle: Bundle, min_user_events: int, user_id: str | None, history: Sequence[UserEvent]
) -> tuple[Strategy, int]:
    """Which strategy serves a user with ``history``, and the user's model row (or -1).

    ``hybrid`` for a user trained with at least ``min_user_events`` interactions whose history
    still names a known item; ``content`` for any other history with a known item; ``popular``
    otherwise. ``user_id`` None ignores what training learnt about the user (an erased user).
    """
    user_idx = bundle.users.index(user_id) if user_id is not None else -1
    trained = int(bundle.user_items.indptr[user_idx + 1] - bundle.user_items.indptr[user_idx])
    known = any(bundle.items.index(e.item_id) >= 0 for e in history)
    if user_idx >= 0 and trained >= min_user_events and known:
        return "hybrid", user_idx
    return ("content" if known else "popular"), -1


# what scipy keeps on a CSR matrix (scipy 1.11-1.17): :func:`csr_row` builds rows with these
_CSR_FIELDS = frozenset({"_shape", "data", "indices", "indptr", "maxprint"})
_EMPTY_ROWS: dict[int, sp.csr_matrix] = {}


def csr_row(
    data: npt.NDArray[np.float32], indices: npt.NDArray[np.int32], n_columns: int
) -> sp.csr_matrix:
    """``sp.csr_matrix((data, indices, [0, len]), shape=(1, n_columns))``, without its checks.

    ``indices`` must be sorted and unique, ``data`` float32 of the same length. scipy's
    constructor checks the arrays and picks index types: about 10 µs, which a request pays
    for each history row. This copies the fields of an empty row instead (1 µs); when scipy's
    fields are not the ones known here, it falls back to the constructor.
    """
    empty = _EMPTY_ROWS.get(n_columns)
    if empty is None:
        empty = _EMPTY_ROWS[n_columns] = sp.csr_matrix((1, n_columns), dtype=np.float32)
    indptr = np.array([0, indices.size], dtype=np.int32)
    if vars(empty).keys() != _CSR_FIELDS or empty.indptr.dtype != indices.dtype:
        return sp.csr_matrix((data, indices, indptr), shape=(1, n_columns))
    row: sp.csr_matrix = object.__new__(sp.csr_matrix)
    vars(row).update(vars(empty))
    row.data, row.indices, row.indptr = data, indices, indptr
    return row


def history_row(bundle: Bundle, history: Sequence[UserEvent]) -> sp.csr_matrix:
    """Turn events (any order) into a ``1 x n_items`` confidence row (unknown items ignored).

    Each event counts its type's weight, decayed by :func:`recsys.matrix.decay` from the newest
    event in ``history`` when ``matrix.half_life_days`` is set: the same weights and the same
    clock as the rows the model was trained on (``recsys.matrix.build_interactions``).
    """
    mc: MatrixConfig = bundle.config.matrix
    n_items = len(bundle.items)
    if not history:
        return sp.csr_matrix((1, n_items), dtype=np.float32)
    index = bundle.items.index
    weight = {t: mc.weight(t) for t in {e.type for e in history}}
    if mc.half_life_days is None:
        ws: Iterable[float] = (weight[e.type] for e in history)
    else:
        ts = np.fromiter((e.ts for e in history), np.float64, len(history))
        ws = (
            np.asarray([weight[e.type] for e in history])
            * decay((ts.max() - ts).clip(0), mc.half_life_days)
        ).tolist()
    sums: dict[int, float] = {}
    for event, w in zip(history, ws, strict=True):  # a running sum in event order
        if w > 0 and (i := index(event.item_id)) >= 0:
            sums[i] = sums.get(i, 0.0) + w
    order = sorted(sums)
    cols = np.fromiter(order, np.int32, len(order))  # the index dtype scipy keeps
    vals = np.fromiter(map(sums.__getitem__, order), np.float64, len(order))
    return csr_row(vals.astype(np.float32), cols, n_items)


def owning_types(matrix: MatrixConfig, config: HybridConfig) -> frozenset[str]:
    """The event types whose ``(item, type)`` pairs make an item owned under ``config``'s rules.

    ``exclude_seen``: every type of positive weight; ``exclude_purchased``: ``purchase``.
    """
    kinds = {t for t in EVENT_TYPES if matrix.weight(t) > 0} if config.exclude_seen else set()
    if config.exclude_purchased:
        kinds.add("purchase")
    return frozenset(kinds)


def owned_items(
    bundle: Bundle,
    config: HybridConfig,
    hist_row: sp.csr_matrix,
    history: Sequence[UserEvent],
    item_types: Sequence[tuple[str, str]] | None,
) -> npt.NDArray[np.int64]:
    """Item indices the configured ``exclude_seen`` / ``exclude_purchased`` rules remove.

    "Seen" is an item with an event of positive weight (the items of ``hist_row``), "purchased"
    one with a purchase; both over ``history`` and, when given, over the whole history's
    ``item_types`` pairs, so a long history's old items are excluded too.
    """
    if not (config.exclude_seen or config.exclude_purchased):
        return np.empty(0, np.int64)
    parts = []
    if config.exclude_seen:
        parts.append(hist_row.indices.astype(np.int64))
    ids = []
    if config.exclude_purchased:
        ids = [e.item_id for e in history if e.type == "purchase"]
    if item_types:
        owning = owning_types(bundle.config.matrix, config)
        ids += [item for item, kind in item_types if kind in owning]
    if ids:
        idx = bundle.items.indices(ids)
        parts.append(idx[idx >= 0].astype(np.int64))
    out = np.concatenate(parts) if parts else np.empty(0, np.int64)
    # a long history names most items twice (seen and bought, and in both sources); the count
    # sizes index searches (k + excluded), so count each item once
    return unique_ints(out) if item_types else out
