"""Shopper insights: segments of shoppers and what describes each (issue 24, item 5).

:func:`shopper_segments` groups the shoppers of a trained bundle and describes every group from
the store's events:

* **Vectors.** Each shopper's *behaviour vector* is the behavior model's trained user factor
  (ALS, BPR), L2-normalised. A model without user factors (item-kNN) falls back to the shopper's
  *category shares*: the shares of their training confidences (``bundle.user_items``) per catalog
  category (items without one share an "uncategorised" column), L2-normalised. The result says
  which (``Insights.vectors``). Shoppers with an empty row (erased, or no weighted events) have no
  vector and are left out.
* **Segments.** k-means (k-means++ seeding, :attr:`InsightsConfig.n_init` restarts, the run with
  the lowest inertia kept), in NumPy, seeded: the same bundle and seed give the same segments.
* **The rule for k** (when not given): the k in ``k_min..k_max`` (2..8) with the highest mean
  silhouette, each k clustered and scored on the same seeded sample of at most
  :attr:`InsightsConfig.sample_size` (2000) shoppers; a tie goes to the smaller k. Then k-means
  with that k runs on every shopper. A k above the number of distinct vectors in the sample is not
  tried; with fewer than three shoppers, or fewer than two distinct vectors, k is 1.
* **Facts per segment**, from the store's events of its shoppers joined to the store's catalog:
  size and share; the top categories by share of the segment's events; the price band (25th to
  75th percentile of the prices of the purchase events, when there are at least
  :attr:`InsightsConfig.min_purchases_for_band` with a price, else of all its events' items),
  in the most common currency among them; and what is *rising*: categories and items whose share
  of the segment's events in the last ``window_days`` (7) days of the data is at least
  ``rising_ratio`` (1.5) times their share in the 7 days before, with at least
  ``min_rising_count`` (5) recent events. The windows end at the newest stored event (or
  ``now``), never at the wall clock. When either window holds fewer than
  ``min_window_events`` (20) of the segment's events, nothing is called rising and the segment
  says there is too little data.
* **Description.** One short paragraph per segment written by a template from those facts only,
  in the catalog's language (English, or Chinese for a Chinese catalog).

Limits: events of shoppers who are not in the bundle (new since training) have no vector and are
not counted (``Insights.events_unassigned`` says how many); prices are the catalog's current
prices, not the price paid; k-means finds round groups and the silhouette rule prefers few,
well-separated ones.

Example:
    >>> from recsys.bundle import load_bundle
    >>> insights = shopper_segments(load_bundle(home.artifacts), store, seed=0)  # doctest: +SKIP
    >>> print(insights.markdown())  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

from recsys.bundle import Bundle
from recsys.errors import InvalidInputError
from recsys.lang import ShopLanguage, bundle_language
from recsys.models.base import FactorModel

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
VectorKind = Literal["behavior", "category_share"]
KRule = Literal["given", "silhouette", "too_few_shoppers"]
RisingStatus = Literal["rising", "none", "too_little_data"]
PriceBasis = Literal["purchased", "interacted"]
DAY_S = 86_400.0
MAX_K = 50  # the largest k a caller may ask for


@dataclass(frozen=True)
class InsightsConfig:
    """Settings of :func:`shopper_segments` (defaults are the documented rule)."""

    k_min: int = 2  # smallest k the silhouette rule tries
    k_max: int = 8  # largest k the silhouette rule tries
    sample_size: int = 2000  # shoppers (seeded sample) the silhouette rule clusters and scores
    fit_sample_size: int = 20_000  # above this many shoppers, restarts run on a seeded sample
    n_init: int = 4  # k-means++ restarts; the run with the lowest inertia is kept
    max_iter: int = 100  # Lloyd iterations per restart (stops earlier when labels settle)
    top_categories: int = 3  # categories listed per segment
    min_purchases_for_band: int = 5  # priced purchase events needed to band purchases, else all
    window_days: float = 7.0  # length of the "recent" and the "previous" window
    min_window_events: int = 20  # segment events needed in each window to judge rising
    min_rising_count: int = 5  # recent events an item or category needs to be rising
    rising_ratio: float = 1.5  # recent share / previous share from which it is rising
    max_rising: int = 3  # rising categories and rising items listed per segment (each)

    def __post_init__(self) -> None:
        if not 2 <= self.k_min <= self.k_max <= MAX_K:
            raise InvalidInputError(
                f"k_min={self.k_min}, k_max={self.k_max}: need 2 <= k_min <= k_max <= {MAX_K}"
            )
        ints = (
            "sample_size",
            "fit_sample_size",
            "n_init",
            "max_iter",
            "top_categories",
            "max_rising",
        )
        for name in ints:
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name}={getattr(self, name)} must be >= 1")
        for name in ("min_purchases_for_band", "min_window_events", "min_rising_count"):
            if getattr(self, name) < 0:
                raise InvalidInputError(f"{name}={getattr(self, name)} must be >= 0")
        if not self.window_days > 0:
            raise InvalidInputError(f"window_days={self.window_days} must be > 0")
        if not self.rising_ratio > 1:
            raise InvalidInputError(f"rising_ratio={self.rising_ratio} must be > 1")


class EventsAndCatalog(Protocol):
    """The two reads insights need (every :class:`recsys.store.Store` has them)."""

    def events_frame(
        self, since_ts: float | None = None, until_seq: int | None = None
    ) -> pl.DataFrame:
        """Events with ``user_id, item_id, type, ts`` columns."""
        ...

    def catalog_frame(self) -> pl.DataFrame:
        """Catalog with ``item_id, title, category, price, currency`` columns."""
        ...


# ------------------------------------------------------------------------------ result types
@dataclass(frozen=True)
class CategoryShare:
    """A category's share of a segment's events."""

    category: str
    events: int  # the segment's events on items of this category
    share: float  # events / all the segment's events (0..1)


@dataclass(frozen=True)
class PriceBand:
    """The middle half of the prices of a segment's items (per event: a repeat counts again)."""

    low: float  # 25th percentile
    high: float  # 75th percentile
    currency: str | None  # the most common currency of those items (None: the catalog has none)
    basis: PriceBasis  # purchase events, or all events when too few purchases have a price
    events: int  # priced events the band is computed from


@dataclass(frozen=True)
class RisingEntry:
    """A category or item whose share of a segment's events grew in the recent window."""

    kind: Literal["category", "item"]
    key: str  # the category, or the item_id
    label: str  # the category, or the item's title (its id when it has none)
    recent_events: int  # the segment's events on it in the recent window
    recent_share: float  # share of the segment's events in the recent window
    previous_share: float  # share in the window before


@dataclass(frozen=True)
class Segment:
    """One group of shoppers and the facts that describe it."""

    segment: int  # 1-based, biggest segment first
    size: int  # shoppers in it
    share: float  # size / shoppers clustered
    events: int  # the store's events of its shoppers
    top_categories: tuple[CategoryShare, ...]
    price_band: PriceBand | None  # None when none of its items has a price
    rising_status: RisingStatus  # "too_little_data": a window has < min_window_events events
    rising: tuple[RisingEntry, ...]  # categories first, then items; empty unless "rising"
    recent_events: int  # the segment's events in the recent window
    previous_events: int  # ... and in the window before it
    description: str  # template text written from the facts above only

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "segment": self.segment,
            "size": self.size,
            "share": _round(self.share),
            "events": self.events,
            "top_categories": [
                {"category": c.category, "events": c.events, "share": _round(c.share)}
                for c in self.top_categories
            ],
            "price_band": None
            if self.price_band is None
            else {
                "low": _round(self.price_band.low),
                "high": _round(self.price_band.high),
                "currency": self.price_band.currency,
                "basis": self.price_band.basis,
                "events": self.price_band.events,
            },
            "rising_status": self.rising_status,
            "rising": [
                {
                    "kind": r.kind,
                    "key": r.key,
                    "label": r.label,
                    "recent_events": r.recent_events,
                    "recent_share": _round(r.recent_share),
                    "previous_share": _round(r.previous_share),
                }
                for r in self.rising
            ],
            "recent_events": self.recent_events,
            "previous_events": self.previous_events,
            "description": self.description,
        }


@dataclass(frozen=True)
class Insights:
    """Shopper segments of one bundle, with how they were found.

    Attributes:
        model_version: the bundle's version.
        vectors: ``behavior`` (the model's user factors) or ``category_share`` (the fallback).
        k: the number of segments.
        k_rule: ``given`` (the caller's k), ``silhouette`` (the rule) or ``too_few_shoppers``.
        silhouette: mean silhouette per k tried on the sample (empty unless the rule ran).
        sample_size: shoppers the rule clustered and scored (0 unless it ran).
        seed: the seed of the sample and of k-means.
        language: the language of the descriptions.
        shoppers: shoppers in the bundle; ``shoppers_clustered`` of them have a vector.
        events_assigned: store events of clustered shoppers; ``events_unassigned``: the others.
        reference_ts: end of the recent window (newest event or ``now``), epoch seconds; None
            when the store has no events.
        window_days: length of each rising window.
        segments: biggest first.
    """

    model_version: str
    vectors: VectorKind
    k: int
    k_rule: KRule
    silhouette: dict[int, float]
    sample_size: int
    seed: int
    language: ShopLanguage
    shoppers: int
    shoppers_clustered: int
    events_assigned: int
    events_unassigned: int
    reference_ts: float | None
    window_days: float
    segments: tuple[Segment, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (``silhouette`` keys are strings, times also as ISO 8601 UTC)."""
        return {
            "model_version": self.model_version,
            "vectors": self.vectors,
            "k": self.k,
            "k_rule": self.k_rule,
            "silhouette": {str(k): _round(v) for k, v in sorted(self.silhouette.items())},
            "sample_size": self.sample_size,
            "seed": self.seed,
            "language": self.language,
            "shoppers": self.shoppers,
            "shoppers_clustered": self.shoppers_clustered,
            "events_assigned": self.events_assigned,
            "events_unassigned": self.events_unassigned,
            "reference_ts": self.reference_ts,
            "reference_time": _iso(self.reference_ts),
            "window_days": self.window_days,
            "segments": [s.to_dict() for s in self.segments],
        }

    def markdown(self) -> str:
        """The segments as Markdown: a summary line, then one section per segment."""
        zh = self.language == "zh"
        n, k, when = self.shoppers_clustered, self.k, _iso(self.reference_ts)
        if zh:
            rule = {
                "given": "k 为指定值",
                "silhouette": f"k 取轮廓系数最高者（{self.sample_size} 位顾客的样本）",
                "too_few_shoppers": "顾客太少，无法比较不同的 k",
            }[self.k_rule]
            vectors = {"behavior": "行为向量（模型的用户因子）", "category_share": "品类占比"}
            lines = [
                "# 顾客洞察",
                "",
                f"模型 {self.model_version}。{n} 位顾客按{vectors[self.vectors]}分为 {k} 群；"
                f"{rule}。数据截至 {when or '—'}。",
            ]
        else:
            rule = {
                "given": "k as given",
                "silhouette": f"k by the best silhouette on a sample of {self.sample_size}",
                "too_few_shoppers": "too few shoppers to compare values of k",
            }[self.k_rule]
            vectors = {
                "behavior": "behaviour vectors (the model's user factors)",
                "category_share": "category shares",
            }
            lines = [
                "# Shopper insights",
                "",
                f"Model {self.model_version}. {n} shoppers in {k} segments by "
                f"{vectors[self.vectors]}; {rule}. Data up to {when or 'n/a'}.",
            ]
        if self.silhouette:
            scores = ", ".join(f"k={k}: {v:.3f}" for k, v in sorted(self.silhouette.items()))
            lines.append(("轮廓系数：" if zh else "Silhouette: ") + scores)
        if not self.segments:
            lines += ["", "没有可分群的顾客。" if zh else "No shoppers to segment."]
        for seg in self.segments:
            head = f"## 分群 {seg.segment}" if zh else f"## Segment {seg.segment}"
            lines += ["", head, "", seg.description]
        return "\n".join(lines) + "\n"


def _round(x: float) -> float:
    return round(float(x), 4)


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


# ---------------------------------------------------------------------------------- vectors
def behaviour_vectors(bundle: Bundle) -> tuple[FloatArray, VectorKind]:
    """Each shopper's vector, L2-normalised; zero rows for shoppers without one.

    Args:
        bundle: a loaded bundle.

    Returns:
        ``(vectors, kind)``: float64 array of shape ``(n_users, d)`` in ``user_idx`` order, and
        ``behavior`` (user factors) or ``category_share`` (the model has none).
    """
    n_users = len(bundle.users)
    model = bundle.behavior
    empty = sp.csr_matrix((1, bundle.user_items.shape[1]), dtype=np.float32)
    if isinstance(model, FactorModel) and n_users:
        raw = np.vstack([model.user_vector(u, empty) for u in range(n_users)]).astype(np.float64)
        kind: VectorKind = "behavior"
    else:
        codes = bundle.item_table.category_codes.astype(np.int64)
        n_cat = len(bundle.item_table.categories)
        cols = np.where(codes >= 0, codes, n_cat)  # the last column: items without a category
        onehot = sp.csr_matrix(
            (np.ones(codes.size), (np.arange(codes.size), cols)), shape=(codes.size, n_cat + 1)
        )
        weights = abs(sp.csr_matrix(bundle.user_items, dtype=np.float64))
        raw = np.asarray((weights @ onehot).todense(), dtype=np.float64)
        kind = "category_share"
    has_events = np.asarray(bundle.user_items.getnnz(axis=1) > 0)
    raw[~has_events] = 0.0
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    return np.divide(raw, norms, out=np.zeros_like(raw), where=norms > 0), kind


# ---------------------------------------------------------------------------------- k-means
def _sq_distances(x: FloatArray, x_sq: FloatArray, centers: FloatArray) -> FloatArray:
    """Squared distances ``(n, k)``; ``x_sq`` holds the squared norms of ``x``'s rows."""
    d = x_sq[:, None] - 2.0 * (x @ centers.T) + np.einsum("ij,ij->i", centers, centers)[None, :]
    out: FloatArray = np.maximum(d, 0.0)
    return out


def _kmeans_pp(x: FloatArray, x_sq: FloatArray, k: int, rng: np.random.Generator) -> FloatArray:
    n = x.shape[0]
    centers = np.empty((k, x.shape[1]))
    centers[0] = x[rng.integers(n)]
    closest = _sq_distances(x, x_sq, centers[:1])[:, 0]
    for j in range(1, k):
        total = closest.sum()
        pick = rng.choice(n, p=closest / total) if total > 0 else rng.integers(n)
        centers[j] = x[pick]
        closest = np.minimum(closest, _sq_distances(x, x_sq, centers[j : j + 1])[:, 0])
    return centers


def kmeans(
    x: FloatArray,
    k: int,
    rng: np.random.Generator,
    *,
    n_init: int = 4,
    max_iter: int = 100,
    tol: float = 1e-4,
    init: FloatArray | None = None,
) -> tuple[IntArray, FloatArray, float]:
    """Lloyd's k-means with k-means++ seeding and restarts.

    Args:
        x: points, shape ``(n, d)``, float; ``1 <= k <= n``.
        k: number of clusters.
        rng: the only source of randomness.
        n_init: restarts; the run with the lowest inertia is returned.
        max_iter: iterations per restart.
        tol: a run stops when the centers moved less than ``tol`` times the mean variance of
            the features (summed squared shift), as scikit-learn does.
        init: start centers ``(k, d)``: one run from them instead of ``n_init`` seeded ones.

    Returns:
        ``(labels, centers, inertia)``: int64 labels of shape ``(n,)`` in ``0..k-1``, every
        cluster non-empty (an emptied one is re-seeded with the point farthest from its
        center), the centers ``(k, d)`` (the means of the labelled points), and the sum of
        squared distances of the points to their center.

    Raises:
        InvalidInputError: k outside ``1..n``, or ``init`` of another shape than ``(k, d)``.
    """
    n = x.shape[0]
    if not 1 <= k <= n:
        raise InvalidInputError(f"k={k} must be between 1 and the number of points ({n})")
    if init is not None and init.shape != (k, x.shape[1]):
        raise InvalidInputError(f"init has shape {init.shape}, not (k, d) = {(k, x.shape[1])}")
    x_sq = np.einsum("ij,ij->i", x, x)
    threshold = tol * float(np.mean(np.var(x, axis=0)))
    rows = np.arange(n)
    best: tuple[IntArray, FloatArray, float] | None = None
    for _ in range(1 if init is not None else n_init):
        centers = (
            np.array(init, dtype=np.float64) if init is not None else _kmeans_pp(x, x_sq, k, rng)
        )
        for _ in range(max_iter):
            dist = _sq_distances(x, x_sq, centers)
            labels = np.argmin(dist, axis=1).astype(np.int64)
            counts = np.bincount(labels, minlength=k)
            for empty in np.flatnonzero(counts == 0):  # re-seed with the worst-served point
                far = int(np.argmax(dist[rows, labels]))
                labels[far] = empty
                dist[far] = 0.0
                counts = np.bincount(labels, minlength=k)
            member = sp.csr_matrix((np.ones(n), (labels, rows)), shape=(k, n))
            moved = np.asarray(member @ x) / counts[:, None]
            shift = float(((moved - centers) ** 2).sum())
            centers = moved
            if shift <= threshold:
                break
        inertia = float(_sq_distances(x, x_sq, centers)[rows, labels].sum())
        if best is None or inertia < best[2] - 1e-12:
            best = (labels, centers, inertia)
    assert best is not None  # n_init >= 1
    return best


def silhouette(x: FloatArray, labels: IntArray) -> float:
    """Mean silhouette of a clustering, Euclidean distances.

    For each point, ``s = (b - a) / max(a, b)`` with ``a`` its mean distance to the other
    members of its cluster and ``b`` the lowest mean distance to another cluster's members;
    ``s = 0`` for a point alone in its cluster (and when ``a = b = 0``).

    Args:
        x: points, shape ``(n, d)`` (kept small: the distance matrix is ``n x n``).
        labels: int labels, shape ``(n,)``, at least two distinct.

    Returns:
        The mean over points, in ``[-1, 1]``.

    Example:
        >>> x = np.array([[0.0], [0.0], [1.0], [1.0]])
        >>> silhouette(x, np.array([0, 0, 1, 1]))
        1.0
    """
    uniq, lab = np.unique(labels, return_inverse=True)
    if uniq.size < 2:
        raise InvalidInputError("silhouette needs at least two clusters")
    sq = (x * x).sum(1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0))
    np.fill_diagonal(dist, 0.0)
    onehot = np.zeros((x.shape[0], uniq.size))
    onehot[np.arange(x.shape[0]), lab] = 1.0
    counts = onehot.sum(0)
    sums = dist @ onehot  # (n, k): total distance to each cluster's members
    own = counts[lab]
    a = np.where(own > 1, sums[np.arange(lab.size), lab] / np.maximum(own - 1, 1), 0.0)
    means = sums / counts[None, :]
    means[np.arange(lab.size), lab] = np.inf
    b = means.min(1)
    top = np.maximum(a, b)
    s = np.where((own > 1) & (top > 0), (b - a) / np.where(top > 0, top, 1.0), 0.0)
    return float(s.mean())


def choose_k(
    x: FloatArray, rng: np.random.Generator, config: InsightsConfig
) -> tuple[int, KRule, dict[int, float], int]:
    """The silhouette rule: the k in ``k_min..k_max`` best on a seeded sample (tie: smaller k).

    Args:
        x: every clustered shopper's vector, shape ``(n, d)``.
        rng: draws the sample and seeds k-means.
        config: the rule's settings.

    Returns:
        ``(k, rule, silhouette per k tried, sample size)``; ``(1, "too_few_shoppers", {}, n)``
        when the sample has fewer than 3 points or fewer than 2 distinct vectors.
    """
    n = x.shape[0]
    size = min(n, config.sample_size)
    sample = x[np.sort(rng.choice(n, size=size, replace=False))] if size < n else x
    distinct = np.unique(np.round(sample, 9), axis=0).shape[0] if size else 0
    top = min(config.k_max, distinct, size - 1)
    if top < config.k_min:
        return 1, "too_few_shoppers", {}, size
    scores: dict[int, float] = {}
    for k in range(config.k_min, top + 1):
        labels, _, _ = kmeans(sample, k, rng, n_init=config.n_init, max_iter=config.max_iter)
        if np.unique(labels).size < 2:
            continue
        scores[k] = silhouette(sample, labels)
    if not scores:
        return 1, "too_few_shoppers", {}, size
    best = max(scores.values())
    k = min(k for k, v in scores.items() if v >= best - 1e-9)
    return k, "silhouette", scores, size


# ------------------------------------------------------------------------------------ facts
_EVENT_COLUMNS = {"user_id": pl.String, "item_id": pl.String, "type": pl.String, "ts": pl.Float64}
_ITEM_COLUMNS = {
    "item_id": pl.String,
    "title": pl.String,
    "category": pl.String,
    "price": pl.Float64,
    "currency": pl.String,
}


def _items_frame(source: EventsAndCatalog, bundle: Bundle) -> pl.DataFrame:
    """The store's catalog, plus bundle items it lacks (their training-time facts)."""
    catalog = source.catalog_frame()
    catalog = catalog.select(
        [
            pl.col(c).cast(t) if c in catalog.columns else pl.lit(None, dtype=t).alias(c)
            for c, t in _ITEM_COLUMNS.items()
        ]
    )
    table = bundle.item_table.frame
    if "item_id" in table.columns:
        extra = table.select(
            [
                pl.col(c).cast(t) if c in table.columns else pl.lit(None, dtype=t).alias(c)
                for c, t in _ITEM_COLUMNS.items()
            ]
        ).filter(~pl.col("item_id").is_in(catalog["item_id"].implode()))
        catalog = pl.concat([catalog, extra])
    return catalog.with_columns(
        pl.when(pl.col("category").str.strip_chars() == "")
        .then(None)
        .otherwise(pl.col("category"))
        .alias("category")
    ).unique("item_id", keep="first")


def _top_categories(ev: pl.DataFrame, n: int) -> tuple[CategoryShare, ...]:
    total = ev.height
    counts = (
        ev.filter(pl.col("category").is_not_null())
        .group_by("category")
        .len()
        .sort(["len", "category"], descending=[True, False])
        .head(n)
    )
    return tuple(CategoryShare(str(c), int(m), m / total) for c, m in counts.iter_rows() if total)


def _price_band(ev: pl.DataFrame, config: InsightsConfig) -> PriceBand | None:
    priced = ev.filter(pl.col("price").is_not_null() & pl.col("price").is_finite())
    bought = priced.filter(pl.col("type") == "purchase")
    basis: PriceBasis = "purchased"
    if bought.height < max(config.min_purchases_for_band, 1):
        bought, basis = priced, "interacted"
    if bought.height == 0:
        return None
    by_currency = (
        bought.group_by("currency")
        .len()
        .sort(["len", "currency"], descending=[True, False], nulls_last=True)
    )
    currency = by_currency["currency"][0]
    rows = bought.filter(
        pl.col("currency").is_null() if currency is None else pl.col("currency") == currency
    )
    prices = rows["price"].to_numpy()
    low, high = np.percentile(prices, [25, 75])
    return PriceBand(float(low), float(high), currency, basis, int(prices.size))


def _shares(frame: pl.DataFrame, key: str) -> dict[str, tuple[int, float]]:
    total = frame.height
    if not total:
        return {}
    counts = frame.filter(pl.col(key).is_not_null()).group_by(key).len()
    return {str(k): (int(m), m / total) for k, m in counts.iter_rows()}


def _rising(
    recent: pl.DataFrame, previous: pl.DataFrame, titles: dict[str, str], config: InsightsConfig
) -> tuple[RisingStatus, tuple[RisingEntry, ...]]:
    if min(recent.height, previous.height) < max(config.min_window_events, 1):
        return "too_little_data", ()
    found: list[RisingEntry] = []
    kinds: tuple[tuple[Literal["category", "item"], str], ...] = (
        ("category", "category"),
        ("item", "item_id"),
    )
    for kind, key in kinds:
        now, before = _shares(recent, key), _shares(previous, key)
        entries = []
        for name, (count, share) in now.items():
            old = before.get(name, (0, 0.0))[1]
            if count >= config.min_rising_count and share >= config.rising_ratio * old:
                label = name if kind == "category" else titles.get(name) or name
                entries.append(RisingEntry(kind, name, label, count, share, old))
        entries.sort(key=lambda r: (-(r.recent_share - r.previous_share), r.key))
        found += entries[: config.max_rising]
    return ("rising" if found else "none"), tuple(found)


# ------------------------------------------------------------------------------ description
def _pct(x: float) -> str:
    return "<1%" if 0 < x < 0.005 else f"{x * 100:.0f}%"


def _money(x: float) -> str:
    return f"{x:.2f}"


def _days(x: float) -> str:
    return f"{x:g}"


def _band_text(band: PriceBand) -> str:
    cur = f" {band.currency}" if band.currency else ""
    return f"{_money(band.low)}–{_money(band.high)}{cur}"


def describe_segment(
    seg: Segment, total: int, language: ShopLanguage, config: InsightsConfig
) -> str:
    """A short paragraph stating ``seg``'s facts (size, top categories, price band, rising).

    Only the computed facts are written, by a fixed template per language.

    Args:
        seg: the segment (its ``description`` is not read).
        total: shoppers clustered, for the share.
        language: ``en`` or ``zh``.
        config: for the window length and the data threshold it names.
    """
    w = _days(config.window_days)
    zh = language == "zh"
    if zh:
        parts = [
            f"{seg.size} 位顾客（占 {total} 位的 {_pct(seg.share)}），共 {seg.events} 次行为。"
        ]
    else:
        noun = "shopper" if seg.size == 1 else "shoppers"
        parts = [f"{seg.size} {noun} ({_pct(seg.share)} of {total}), {seg.events} events."]
    cats = [(c.category, _pct(c.share)) for c in seg.top_categories]
    if zh:
        listed = "、".join(f"{name}（{p}）" for name, p in cats)
        parts.append(f"行为最多的品类：{listed}。" if cats else "他们的行为没有品类信息。")
    else:
        listed = ", ".join(f"{name} ({p})" for name, p in cats)
        parts.append(
            f"Top categories by events: {listed}." if cats else "Their events carry no category."
        )
    band = seg.price_band
    if band is None:
        parts.append("他们的商品没有价格信息。" if zh else "No prices are known for their items.")
    elif zh:
        what = "所购商品" if band.basis == "purchased" else "互动过的商品"
        parts.append(f"{what}价格的中间一半：{_band_text(band)}。")
    else:
        what = "what they bought" if band.basis == "purchased" else "the items they interacted with"
        parts.append(f"Middle half of the prices of {what}: {_band_text(band)}.")
    if seg.rising_status == "too_little_data":
        need = config.min_window_events
        if zh:
            parts.append(
                f"近 {w} 天有 {seg.recent_events} 次行为，此前 {w} 天有 {seg.previous_events} 次"
                f"（每段至少需要 {need} 次），数据太少，无法判断上升趋势。"
            )
        else:
            parts.append(
                f"Too little recent data to tell what is rising: {seg.recent_events} events in "
                f"the last {w} days and {seg.previous_events} in the {w} before "
                f"({need} needed in each)."
            )
    elif seg.rising_status == "none":
        parts.append(
            f"近 {w} 天与此前 {w} 天相比，没有上升的品类或商品。"
            if zh
            else f"Nothing rose in the last {w} days against the {w} before."
        )
    else:
        if zh:
            kind_zh = {"category": "品类", "item": "商品"}
            listed = "；".join(
                f"{kind_zh[r.kind]}「{r.label}」（占 {_pct(r.recent_share)}，"
                f"此前 {_pct(r.previous_share)}）"
                for r in seg.rising
            )
            parts.append(f"近 {w} 天较此前 {w} 天上升：{listed}。")
        else:
            listed = "; ".join(
                f'{r.kind} "{r.label}" ({_pct(r.recent_share)} of events, '
                f"from {_pct(r.previous_share)})"
                for r in seg.rising
            )
            parts.append(f"Rising in the last {w} days against the {w} before: {listed}.")
    return ("" if zh else " ").join(parts)


# -------------------------------------------------------------------------------- the door
def shopper_segments(
    bundle: Bundle,
    store: EventsAndCatalog,
    *,
    k: int | None = None,
    seed: int = 0,
    now: float | None = None,
    language: ShopLanguage | None = None,
    config: InsightsConfig | None = None,
) -> Insights:
    """Segment the bundle's shoppers and describe each segment (see the module docs).

    Args:
        bundle: a loaded bundle (its users, behavior model, item table, manifest).
        store: where the events and the catalog are read (any :class:`recsys.store.Store`).
        k: the number of segments (``1..50``); None: the silhouette rule picks it in 2..8.
        seed: seeds the sample of the rule and k-means (same inputs and seed: same result).
        now: end of the recent window, epoch seconds (default: the newest stored event; never
            the wall clock). It moves only the rising windows.
        language: language of the descriptions (default: the bundle's catalog language).
        config: thresholds of the rule and of the facts (defaults: :class:`InsightsConfig`).

    Returns:
        :class:`Insights` with segments biggest first; no segment when no shopper has a vector.

    Raises:
        InvalidInputError: ``k`` outside ``1..50`` or above the shoppers with a vector, a
            negative ``seed``, or a ``language`` other than ``en``/``zh``.
    """
    config = config or InsightsConfig()
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K):
        raise InvalidInputError(f"k={k!r} is not allowed: an integer from 1 to {MAX_K}, or None")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"seed={seed!r} must be an integer >= 0")
    if language is not None and language not in ("en", "zh"):
        raise InvalidInputError(f"language={language!r} is not allowed: 'en' or 'zh'")
    lang: ShopLanguage = language or bundle_language(bundle.manifest)
    vectors, kind = behaviour_vectors(bundle)
    clustered = np.flatnonzero(np.linalg.norm(vectors, axis=1) > 0)
    x = vectors[clustered]
    n = int(clustered.size)
    rng = np.random.default_rng(seed)
    scores: dict[int, float] = {}
    sample_size = 0
    rule: KRule
    if k is not None:
        if n and k > n:
            raise InvalidInputError(f"k={k} but only {n} shoppers have a behaviour vector")
        chosen, rule = (k if n else 0), "given"
    elif n == 0:
        chosen, rule = 0, "too_few_shoppers"
    else:
        chosen, rule, scores, sample_size = choose_k(x, rng, config)
    labels = _by_size(_fit_segments(x, chosen, rng, config), chosen)
    log.debug("insights: %d shoppers, k=%d (%s), vectors %s", n, chosen, rule, kind)

    events = store.events_frame()
    events = (
        events.select([pl.col(c).cast(t) for c, t in _EVENT_COLUMNS.items()])
        if events.height
        else pl.DataFrame(schema=_EVENT_COLUMNS)
    )
    reference = now
    if reference is None and events.height:
        reference = float(events["ts"].cast(pl.Float64).to_numpy().max())
    members = pl.DataFrame(
        {"user_id": bundle.users.ids(clustered.tolist()), "segment": labels + 1},
        schema={"user_id": pl.String, "segment": pl.Int64},
    )
    items = _items_frame(store, bundle)
    ev = events.join(members, on="user_id", how="inner").join(
        items.drop("title"), on="item_id", how="left"
    )
    window = config.window_days * DAY_S
    if reference is None:
        recent_all = previous_all = ev.clear()
    else:
        recent_all = ev.filter((pl.col("ts") > reference - window) & (pl.col("ts") <= reference))
        previous_all = ev.filter(
            (pl.col("ts") > reference - 2 * window) & (pl.col("ts") <= reference - window)
        )
    recent_ids = recent_all["item_id"].unique().implode()
    titles = {
        str(i): str(t)
        for i, t in items.filter(pl.col("item_id").is_in(recent_ids))
        .select("item_id", "title")
        .iter_rows()
        if t
    }
    segments = []
    sizes = np.bincount(labels, minlength=max(chosen, 1)) if n else np.zeros(0, dtype=np.int64)
    for s in range(chosen):
        mine = ev.filter(pl.col("segment") == s + 1)
        recent = recent_all.filter(pl.col("segment") == s + 1)
        previous = previous_all.filter(pl.col("segment") == s + 1)
        status, rising = _rising(recent, previous, titles, config)
        seg = Segment(
            segment=s + 1,
            size=int(sizes[s]),
            share=float(sizes[s]) / n,
            events=mine.height,
            top_categories=_top_categories(mine, config.top_categories),
            price_band=_price_band(mine, config),
            rising_status=status,
            rising=rising,
            recent_events=recent.height,
            previous_events=previous.height,
            description="",
        )
        segments.append(replace(seg, description=describe_segment(seg, n, lang, config)))
    return Insights(
        model_version=bundle.version,
        vectors=kind,
        k=chosen,
        k_rule=rule,
        silhouette=scores,
        sample_size=sample_size,
        seed=seed,
        language=lang,
        shoppers=len(bundle.users),
        shoppers_clustered=n,
        events_assigned=ev.height,
        events_unassigned=events.height - ev.height,
        reference_ts=reference,
        window_days=config.window_days,
        segments=tuple(segments),
    )


def _fit_segments(
    x: FloatArray, k: int, rng: np.random.Generator, config: InsightsConfig
) -> IntArray:
    """k-means labels of every shopper (all 0 for ``k <= 1``).

    Up to ``fit_sample_size`` shoppers: ``n_init`` restarts on all of them. Above it, the
    restarts run on a seeded sample of that size, and one run over all shoppers starts from the
    best sample centers (so the cost stays about one k-means run over all shoppers).
    """
    n = x.shape[0]
    if k <= 1:
        return np.zeros(n, dtype=np.int64)
    if n <= config.fit_sample_size:
        labels, _, _ = kmeans(x, k, rng, n_init=config.n_init, max_iter=config.max_iter)
        return labels
    sample = x[np.sort(rng.choice(n, size=config.fit_sample_size, replace=False))]
    _, centers, _ = kmeans(sample, k, rng, n_init=config.n_init, max_iter=config.max_iter)
    labels, _, _ = kmeans(x, k, rng, max_iter=config.max_iter, init=centers)
    return labels


def _by_size(labels: IntArray, k: int) -> IntArray:
    """Relabel so segment 0 is the biggest (a tie: the one whose first shopper comes first)."""
    if labels.size == 0 or k <= 1:
        return np.zeros(labels.size, dtype=np.int64)
    sizes = np.bincount(labels, minlength=k)
    first = np.full(k, labels.size)
    np.minimum.at(first, labels, np.arange(labels.size))
    order = np.lexsort((first, -sizes))  # old labels, biggest first
    new = np.empty(k, dtype=np.int64)
    new[order] = np.arange(k)
    return new[labels]
