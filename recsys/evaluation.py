"""Offline evaluation: time/cold-item splits and ranking metrics (recall@k, NDCG@k).

Shared by ``benchmarks/``, ``recsys tune`` and the nightly quality gate, so that every number the
project reports is computed the same way.

* ``recall@k = |top-k ∩ truth| / |truth|``
* ``NDCG@k`` with binary gains; the ideal DCG is over ``min(k, |truth|)`` hits.
* Summaries give the mean over users and a 95% normal confidence half-width
  ``1.96 · sd / sqrt(users)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from recsys.errors import InvalidInputError
from recsys.types import UserEvent

DEFAULT_KS: tuple[int, ...] = (10, 20, 50)


def temporal_split(events: pl.DataFrame, frac: float = 0.2) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per user, move the last ``frac`` of events by time (at least one) to the second frame.

    Ties in ``ts`` are broken by the frame's row order, so the split is deterministic.

    Args:
        events: Frame with at least ``user_id`` and ``ts``.
        frac: Share of each user's events held out, in (0, 1).

    Returns:
        ``(train, test)``; users with a single event land entirely in ``test``.
    """
    if not 0.0 < frac < 1.0:
        raise InvalidInputError(f"frac must be in (0, 1), got {frac}")
    ranked = (
        events.with_row_index("_row")
        .sort(["user_id", "ts", "_row"])
        .with_columns(
            pl.int_range(pl.len()).over("user_id").alias("_r"),
            pl.len().over("user_id").alias("_n"),
        )
    )
    cut = (pl.col("_n") - (pl.col("_n") * frac).ceil().clip(lower_bound=1)).cast(pl.Int64)
    ranked = ranked.with_columns(cut.alias("_cut"))
    helper = ["_row", "_r", "_n", "_cut"]
    train = ranked.filter(pl.col("_r") < pl.col("_cut")).drop(helper)
    test = ranked.filter(pl.col("_r") >= pl.col("_cut")).drop(helper)
    return train, test


def global_time_split(events: pl.DataFrame, frac: float = 0.1) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split at one moment: the most recent ``frac`` of all events (by ``ts``) form the holdout.

    This is the protocol for a retraining gate: train on the past, test on the latest slice.
    """
    if not 0.0 < frac < 1.0:
        raise InvalidInputError(f"frac must be in (0, 1), got {frac}")
    if events.height == 0:
        return events, events
    ordered = events.with_row_index("_row").sort(["ts", "_row"])
    n_test = max(1, round(events.height * frac))
    cut = ordered.height - n_test
    return ordered.head(cut).drop("_row"), ordered.tail(n_test).drop("_row")


def cold_split(
    events: pl.DataFrame, frac: float = 0.1, seed: int = 2026
) -> tuple[pl.DataFrame, pl.DataFrame, set[str]]:
    """Hold a seeded random ``frac`` of the items (those with events) out of training entirely.

    Returns:
        ``(train, test, cold_items)``: ``test`` holds every event on a cold item.
    """
    items = sorted(events["item_id"].unique().to_list())
    if not items:
        raise InvalidInputError("no events to split")
    rng = np.random.default_rng(seed)
    size = max(1, int(len(items) * frac))
    cold = {str(i) for i in rng.choice(items, size=size, replace=False).tolist()}
    is_cold = pl.col("item_id").is_in(sorted(cold))
    return events.filter(~is_cold), events.filter(is_cold), cold


def truth_of(test: pl.DataFrame, users: Iterable[str] | None = None) -> dict[str, set[str]]:
    """User → set of held-out item ids, restricted to ``users`` when given."""
    keep = None if users is None else set(users)
    out: dict[str, set[str]] = {}
    for u, i in test.select("user_id", "item_id").iter_rows():
        if keep is None or u in keep:
            out.setdefault(u, set()).add(i)
    return out


def history_of(events: pl.DataFrame) -> dict[str, list[UserEvent]]:
    """User → their events, newest first (the order the recommender expects)."""
    out: dict[str, list[UserEvent]] = {}
    cols = ["user_id", "item_id", "type", "ts"]
    for u, i, t, ts in (
        events.sort("ts", descending=True, maintain_order=True).select(cols).iter_rows()
    ):
        out.setdefault(u, []).append(UserEvent(i, t, ts))
    return out


def ranking_metrics(
    ranked: Sequence[str], truth: set[str], ks: Sequence[int] = DEFAULT_KS
) -> dict[str, float]:
    """recall@k and NDCG@k of one ranked list against one user's held-out items.

    Example:
        >>> ranking_metrics(["a", "b", "c"], {"b"}, ks=(1, 2))["recall@2"]
        1.0
    """
    if not truth:
        raise InvalidInputError("truth must not be empty")
    out: dict[str, float] = {}
    discounts = 1.0 / np.log2(np.arange(2, max(ks) + 2))
    hits = np.array([1.0 if i in truth else 0.0 for i in ranked[: max(ks)]])
    hits = np.pad(hits, (0, max(ks) - hits.size))
    for k in ks:
        out[f"recall@{k}"] = float(hits[:k].sum() / len(truth))
        idcg = float(discounts[: min(k, len(truth))].sum())
        out[f"ndcg@{k}"] = float((hits[:k] * discounts[:k]).sum() / idcg)
    return out


def summarize(rows: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and 95% confidence half-width of each metric over users."""
    if not rows:
        return {}
    out: dict[str, dict[str, float]] = {}
    for key in rows[0]:
        v = np.asarray([r[key] for r in rows], dtype=np.float64)
        ci = float(1.96 * v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0
        out[key] = {"mean": float(v.mean()), "ci95": ci}
    return out


def evaluate_ranker(
    rank: Callable[[str], Sequence[str]],
    truth: Mapping[str, set[str]],
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, Any]:
    """Run ``rank(user_id)`` for every user in ``truth`` and summarize the metrics.

    Returns:
        ``{"users": n, "recall@10": {"mean", "ci95"}, ...}``.
    """
    rows = [ranking_metrics(rank(u), t, ks) for u, t in truth.items() if t]
    return {"users": len(rows), **summarize(rows)}


def coverage_and_popularity(
    lists: Iterable[Sequence[str]], n_catalog: int, popularity: Mapping[str, float]
) -> dict[str, float]:
    """Catalog coverage (share of items ever recommended) and mean popularity of recommendations."""
    seen: set[str] = set()
    pops: list[float] = []
    for ranked in lists:
        seen.update(ranked)
        pops.extend(popularity.get(i, 0.0) for i in ranked)
    return {
        "coverage": len(seen) / n_catalog if n_catalog else 0.0,
        "mean_popularity": float(np.mean(pops)) if pops else 0.0,
    }
