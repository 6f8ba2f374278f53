"""Trending: items whose event rate rose most in the last days of the data.

For each item, ``recent`` is the weighted number of events (the matrix's event-type weights) in
the last ``trending_window_days`` before the newest training event, and ``before`` the same in
the window just before it. The trend score is ``(recent - before) / sqrt(before + 1)``: the rise
in units of the count's Poisson noise, so ten new buyers of a quiet item outrank ten more of a
best seller's thousand. Items with a positive score are candidates.

The events are read once per served bundle, from the store up to the position training read
(the precomputed lists' watermark), so a live answer and a precomputed one see the same trend;
the trend moves on when the next bundle is published. Off by default (``trending_weight = 0``).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import polars as pl

from recsys.config import EVENT_TYPES, HybridConfig
from recsys.matrix import DAY_S
from recsys.models.base import top_n
from recsys.serving.phrases import phrase
from recsys.serving.sources import CandidateSource
from recsys.types import Reason

if TYPE_CHECKING:
    from recsys.bundle import Bundle
    from recsys.serving.query import EventLog, Query


def trend_scores(
    bundle: Bundle, events: pl.DataFrame, end_ts: float, window_days: float
) -> npt.NDArray[np.float32]:
    """Per item, ``(recent - before) / sqrt(before + 1)`` over two windows ending at ``end_ts``.

    Args:
        bundle: the bundle (item vocabulary and event-type weights).
        events: frame with ``item_id, type, ts`` (events outside the two windows are ignored).
        end_ts: end of the recent window (the newest training event).
        window_days: length of each window.

    Returns:
        float32, shape ``(n_items,)``; 0 for items without events in either window.
    """
    out = np.zeros(len(bundle.items), dtype=np.float32)
    window = window_days * DAY_S
    mc = bundle.config.matrix
    weight = pl.col("type").replace_strict(
        {t: mc.weight(t) for t in EVENT_TYPES}, default=0.0, return_dtype=pl.Float64
    )
    rows = (
        events.lazy()
        .filter((pl.col("ts") > end_ts - 2 * window) & (pl.col("ts") <= end_ts))
        .with_columns(w=weight, recent=pl.col("ts") > end_ts - window)
        .group_by("item_id")
        .agg(
            pl.col("w").filter(pl.col("recent")).sum().alias("recent"),
            pl.col("w").filter(~pl.col("recent")).sum().alias("before"),
        )
        .collect()
    )
    if rows.height == 0:
        return out
    idx = bundle.items.indices(rows["item_id"].to_list())
    recent, before = rows["recent"].to_numpy(), rows["before"].to_numpy()
    keep = idx >= 0
    out[idx[keep]] = ((recent - before) / np.sqrt(before + 1.0))[keep]
    return out


def trend_span(bundle: Bundle, config: HybridConfig) -> tuple[float, float] | None:
    """``(since_ts, end_ts)`` of the events the trend reads (both windows), or None when off.

    The trend ends at the newest trained event; training engines that ship these events
    elsewhere (``recsys.spark.lists``) read the same span.
    """
    last = bundle.manifest.get("data_window", {}).get("last_event")
    if not config.trending_weight > 0 or last is None:
        return None
    end = datetime.fromisoformat(last).timestamp()
    return math.floor(end - 2 * config.trending_window_days * DAY_S), end


class TrendingSource(CandidateSource):
    """Items trending in the shop (a shop-wide signal, like popularity)."""

    name = "trending"
    reason = "trending"
    reason_code = 4
    position = 50
    personal = False

    def __init__(self, bundle: Bundle, config: HybridConfig, events: EventLog | None) -> None:
        super().__init__(bundle, config, events)
        self.trend: npt.NDArray[np.float32] | None = None
        span = trend_span(bundle, config)
        if span is not None and events is not None:
            since, end = span
            watermark = bundle.precomputed.watermark if bundle.precomputed is not None else None
            frame = events.events_frame(since_ts=since, until_seq=watermark)
            self.trend = trend_scores(bundle, frame, end, config.trending_window_days)

    def weight(self, q: Query) -> float:
        """``trending_weight`` (0 when no events were available)."""
        return self.config.trending_weight if self.trend is not None else 0.0

    def gather(self, q: Query) -> npt.NDArray[np.int64] | None:
        """The ``k`` allowed items with the highest positive trend score."""
        if self.trend is None or not self.weight(q) > 0:
            return None
        scores = np.where(q.allowed & (self.trend > 0), self.trend, -np.inf)
        return top_n(scores, q.k)

    def score(self, q: Query, cand: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Trend scores of ``cand``."""
        assert self.trend is not None
        return self.trend[cand]

    def explain(self, q: Query, item_idx: int) -> Reason | None:
        """Reason "Trending in <category>" (or "Trending now")."""
        cat = q.bundle.item_table.facts(item_idx).category
        text = (
            phrase(q.language, "trending_in", category=cat)
            if cat
            else phrase(q.language, "trending_now")
        )
        return Reason("popular", "trending", (), text)
