"""Hybrid retrieval: behavior, text, popularity and repeat candidates, blended, filtered, explained.

Fallback chain (reported in every answer as ``strategy``):

* ``hybrid``  — the user was in training with at least ``min_user_events`` interactions and still
  has history: the trained behavior vector, the behavior model folded in from the user's newest
  ``recent_events`` events (``recent``: what they are doing now), text similarity to recent items,
  and popularity.
* ``content`` — a user with a few events, a user unknown to the model, or an anonymous session:
  behavior folded in from the current history, text similarity to the recent items, popularity.
* ``popular`` — nothing known about the caller: most popular items that pass the filters.

One more source, ``repeat``, scores the items the user already bought by how often and how
recently (purchase frequency with a half-life). It only matters when re-buying is allowed
(``exclude_seen = exclude_purchased = False``, the setting for grocery and consumables shops);
otherwise those items are filtered out anyway.

Candidates: below the HNSW threshold the behavior and recent sources score every item exactly and
each brings its own top ``candidates``; above it (large catalogs) one approximate search serves
both, queried with ``behavior_weight · u/|u| + recent_weight · r/|r|`` (long-term and recent user
vectors), and each is then scored exactly on the candidates. On ML-100K with HNSW forced, one
combined search and two separate ones gave the same validation recall@20 (0.2484 vs 0.2486).

Scores from each source are standardized over the union of candidates (``(v - mean) / spread``,
where the spread is floored at half the source's typical spread, so a near-constant source is not
stretched into noise), then blended with the configured weights; a candidate a source cannot score
(e.g. a new item for the behavior model) gets that source's lowest candidate score. Ties are broken
by item id, so answers are stable.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.bundle import Bundle
from recsys.config import HybridConfig, MatrixConfig
from recsys.errors import InvalidInputError, UnknownItemError
from recsys.models.base import top_n
from recsys.types import (
    MAX_N,
    SIMILAR_MODES,
    Filters,
    RankedList,
    Reason,
    Recommendations,
    RecommendedItem,
    SimilarMode,
    Strategy,
    UserEvent,
)

REASON_HISTORY = 200  # history items considered when explaining a recommendation
SPREAD_FLOOR = 0.5  # a source's spread is floored at this share of its typical spread
SELECT_PREFIX = 8  # _select sorts the best SELECT_PREFIX x n candidates first (see there)
VERBS = {
    "purchase": "bought",
    "add_to_cart": "added to your cart",
    "click": "clicked",
    "view": "viewed",
}


def _unit(v: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``v`` scaled to length 1 (a zero vector stays zero)."""
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def _bare_reason(parts: dict[str, float]) -> Reason:
    """A reason naming only the source that contributed most (for unexplained answers)."""
    source = max(parts, key=lambda s: parts[s]) if parts else "popularity"
    source = "behavior" if source == "recent" else source  # both are the behavior model
    kind: Literal["history", "popular"] = "popular" if source == "popularity" else "history"
    return Reason(kind, source, (), "")  # type: ignore[arg-type]


def _capped_walk(
    order: list[int], codes: npt.NDArray[np.int32], n: int, cap: int
) -> tuple[list[int], list[int]]:
    """Walk ``order`` keeping at most ``cap`` items per category code until ``n`` are kept.

    Returns:
        ``(chosen, overflow)``: kept positions, and the positions skipped for the cap on the way.
        Items without a category (code -1) are never capped.
    """
    counts: dict[int, int] = {}
    chosen: list[int] = []
    overflow: list[int] = []
    for p in order:
        code = int(codes[p])
        if code >= 0 and counts.get(code, 0) >= cap:
            overflow.append(p)
            continue
        counts[code] = counts.get(code, 0) + 1
        chosen.append(p)
        if len(chosen) == n:
            break
    return chosen, overflow


SOURCES: tuple[str, ...] = ("behavior", "text", "popularity", "repeat")  # Reason.source values
SOURCE_CODES = {s: k for k, s in enumerate(SOURCES)}
BARE_REASONS = tuple(_bare_reason({s: 1.0}) for s in SOURCES)  # by code


@dataclass(frozen=True)
class _Scored:
    """Candidates with blended scores and each source's contribution (inside ``_rank``)."""

    cand: npt.NDArray[np.int64]
    blended: npt.NDArray[np.float64]
    contrib: dict[str, npt.NDArray[np.float64]]
    hist_row: sp.csr_matrix


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 1 <= n <= MAX_N:
        raise InvalidInputError(f"n={n!r} is not allowed: must be an integer in [1, {MAX_N}]")
    return int(n)


def _zscore(values: npt.NDArray[np.float32], floor: float = 0.0) -> npt.NDArray[np.float32]:
    """Standardize finite values with a spread that cannot fall below ``floor``.

    ``(v - mean) / max(std, floor)``: a source whose scores barely vary over the candidates (e.g. a
    behavior fold-in from a one-item session) is not stretched to unit variance, so its noise
    cannot swamp a source with a clear signal. Non-finite values get the lowest standardized value
    (0 when every value is equal).
    """
    finite = np.isfinite(values)
    out = np.zeros(values.shape, dtype=np.float32)
    if not finite.any():
        return out
    v = values[finite].astype(np.float64)
    spread = max(float(v.std()), floor)
    z = (v - v.mean()) / spread if spread > 1e-12 else np.zeros_like(v)
    out[finite] = z
    out[~finite] = z.min()
    return out


class HybridRecommender:
    """Serve recommendations from a loaded :class:`Bundle`.

    The bundle is read-only here; the caller passes the user's current history (from the event
    store), so new events and erasures take effect without retraining.

    Example:
        >>> rec = HybridRecommender(load_bundle(home.artifacts))
        >>> answer = rec.recommend_user("42", store.user_events("42"), n=10)
        >>> answer.strategy, [i.item_id for i in answer.items]
    """

    def __init__(self, bundle: Bundle, config: HybridConfig | None = None) -> None:
        self.bundle = bundle
        self.config = config or bundle.config.hybrid
        self.matrix_config: MatrixConfig = bundle.config.matrix
        self._pop_order = top_n(bundle.popularity.astype(np.float64), len(bundle.popularity))
        self._unit_items: npt.NDArray[np.float32] | None = None
        self._floors: dict[str, float] = {}

    # ------------------------------------------------------------------------------ public
    def recommend_user(
        self,
        user_id: str,
        history: Sequence[UserEvent],
        n: int = 10,
        filters: Filters | None = None,
        explain: bool = True,
        item_types: Sequence[tuple[str, str]] | None = None,
        use_trained_vector: bool = True,
    ) -> Recommendations:
        """Recommend ``n`` items for a user given their current history (newest first).

        Args:
            user_id: external user id (unknown ids are fine: fallback chain).
            history: the user's events, newest first (e.g. ``Store.user_history(...).events``).
            n: list length, 1..1000.
            filters: per-request filters.
            explain: attribute each item to the user's items (False: only the top source is
                named, ``item_ids`` is empty and ``text`` is blank; about half the cost).
            item_types: when ``history`` is only the newest part of a longer history, the
                distinct ``(item_id, type)`` pairs of the whole of it
                (``Store.user_history(...).item_types``): ``exclude_seen`` and
                ``exclude_purchased`` then cover every item the user ever had, not only the
                ones in ``history``.
            use_trained_vector: False to ignore what training learnt about ``user_id`` (an
                erased user): the answer is computed from ``history`` alone.

        Returns:
            :class:`Recommendations` (possibly fewer than ``n`` items if the filters leave fewer).
        """
        n = _check_n(n)
        strategy, user_idx = self._strategy(user_id, history, use_trained_vector)
        return self._rank(strategy, user_idx, history, n, filters or Filters(), explain, item_types)

    def _strategy(
        self, user_id: str, history: Sequence[UserEvent], use_trained_vector: bool = True
    ) -> tuple[Strategy, int]:
        """Which strategy serves ``user_id`` with ``history``, and the user's model row (or -1)."""
        b = self.bundle
        user_idx = b.users.index(user_id) if use_trained_vector else -1
        trained_events = (
            int(b.user_items.indptr[user_idx + 1] - b.user_items.indptr[user_idx])
            if user_idx >= 0
            else 0
        )
        known = any(b.items.index(e.item_id) >= 0 for e in history)
        if user_idx >= 0 and trained_events >= self.config.min_user_events and known:
            return "hybrid", user_idx
        return ("content" if known else "popular"), -1

    # ----------------------------------------------------------------------- precomputed
    def ranked_list(
        self,
        user_id: str,
        history: Sequence[UserEvent],
        depth: int,
        item_types: Sequence[tuple[str, str]] | None = None,
    ) -> RankedList | None:
        """The head of the order a hybrid answer for ``user_id`` picks from (for precomputing).

        It is what :meth:`recommend_user` computes before it selects: the blended candidates in
        answer order, scored with no request filters. :meth:`recommend_ranked` turns it into the
        same answer :meth:`recommend_user` gives for ``n <= candidates / 4`` (where the
        candidate count does not depend on ``n``) while the history and catalog are unchanged.

        Args:
            user_id: external user id.
            history: the user's newest events, newest first, as a request reads them.
            depth: candidates kept.
            item_types: the whole history's ``(item_id, type)`` pairs when ``history`` is cut
                short (see :meth:`recommend_user`).

        Returns:
            The best ``depth`` candidates, or None when the user is not served by the ``hybrid``
            strategy (those answers are cheap to compute live) or nothing is left to recommend.
        """
        strategy, user_idx = self._strategy(user_id, history)
        if strategy != "hybrid":
            return None
        scored = self._score(strategy, user_idx, history, 1, Filters(), item_types)
        if scored is None:
            return None
        cand, blended, contrib = scored.cand, scored.blended, scored.contrib
        order = self._order(cand, blended, min(depth, cand.size))[:depth]
        sources = [
            SOURCE_CODES[_bare_reason({s: v[p] for s, v in contrib.items()}).source] for p in order
        ]
        return RankedList(
            items=cand[order].astype(np.int32),
            scores=blended[order].astype(np.float64),
            sources=np.asarray(sources, dtype=np.int8),
        )

    def serves_ranked(self, n: int, filters: Filters) -> bool:
        """Whether a request with ``n`` and ``filters`` may be answered from a ranked list.

        Category filters and a changed stock rule change which candidates are gathered, and
        ``n > candidates / 4`` gathers more of them, so those requests are computed live.
        """
        c = self.config
        return (
            filters.category is None
            and filters.in_stock_only in (None, c.in_stock_only)
            and max(c.candidates, 4 * n) == max(c.candidates, 4)
        )

    def recommend_ranked(
        self, ranked: RankedList, n: int, filters: Filters | None = None
    ) -> Recommendations | None:
        """Answer from a precomputed :class:`RankedList` (see :meth:`ranked_list`).

        Items excluded by the request, or out of stock now (when ``in_stock_only``), are skipped;
        the rest keep their precomputed order and scores, and the category cap is applied as
        :meth:`recommend_user` applies it. Reasons are the bare kind (top source only).

        Returns:
            The answer, or None when the list cannot give ``n`` items or the request needs a live
            computation (:meth:`serves_ranked`): compute it with :meth:`recommend_user` then.
        """
        n = _check_n(n)
        filters = filters or Filters()
        if not self.serves_ranked(n, filters):
            return None
        b, c = self.bundle, self.config
        table = b.item_table
        keep = ranked.items >= 0
        if c.in_stock_only:
            keep &= table.in_stock[np.maximum(ranked.items, 0)]
        if filters.exclude:
            ex = b.items.indices(sorted(filters.exclude))
            keep &= ~np.isin(ranked.items, ex[ex >= 0])
        pos = np.flatnonzero(keep)
        share = c.max_category_share
        if share is None:
            chosen = pos[:n].tolist()
        else:
            codes = table.category_codes[ranked.items]
            chosen = _capped_walk(pos.tolist(), codes, n, max(1, math.ceil(n * share)))[0]
        if len(chosen) < n:
            return None
        ids = b.items.ids(ranked.items[chosen])
        scores, sources = ranked.scores[chosen].tolist(), ranked.sources[chosen].tolist()
        items = [
            RecommendedItem(i, s, BARE_REASONS[c])
            for i, s, c in zip(ids, scores, sources, strict=True)
        ]
        return Recommendations("hybrid", items, b.version)

    def recommend_session(
        self,
        recent_item_ids: Sequence[str],
        n: int = 10,
        filters: Filters | None = None,
        explain: bool = True,
    ) -> Recommendations:
        """Recommend for an anonymous session from the items it viewed (most recent first)."""
        n = _check_n(n)
        history = [
            UserEvent(item_id=i, type="view", ts=float(-k)) for k, i in enumerate(recent_item_ids)
        ]
        known = [e for e in history if self.bundle.items.index(e.item_id) >= 0]
        strategy: Strategy = "content" if known else "popular"
        return self._rank(strategy, -1, history, n, filters or Filters(), explain)

    def similar(
        self,
        item_id: str,
        n: int = 10,
        mode: SimilarMode = "hybrid",
        filters: Filters | None = None,
    ) -> Recommendations:
        """Items similar to ``item_id`` by behavior, text (``content``) or both (``hybrid``).

        Raises:
            UnknownItemError: if the item is not in the bundle.
            InvalidInputError: for a bad ``n`` or ``mode``.
        """
        n = _check_n(n)
        if mode not in SIMILAR_MODES:
            raise InvalidInputError(f"mode={mode!r} is not allowed: must be one of {SIMILAR_MODES}")
        b = self.bundle
        idx = b.items.index(item_id)
        if idx < 0:
            raise UnknownItemError(item_id)
        filters = filters or Filters()
        c = self.config
        k = max(c.candidates, 4 * n)
        sources: dict[str, npt.NDArray[np.int64]] = {}
        weights: dict[str, float] = {}
        use_behavior = mode in ("hybrid", "behavior") and bool(b.behavior.known_items[idx])
        use_text = (
            mode in ("hybrid", "content") and b.text_index is not None and bool(b.text_mask[idx])
        )
        if use_behavior:
            sources["behavior"] = b.behavior.similar_items(idx, k)[0]
            weights["behavior"] = c.content_behavior_weight if mode == "hybrid" else 1.0
        if use_text:
            assert b.text_vectors is not None and b.text_index is not None
            sources["text"] = b.text_index.search(b.text_vectors[idx], k + 1)[0]
            weights["text"] = c.content_text_weight if mode == "hybrid" else 1.0
        allowed = self._allowed_mask(filters, exclude_idx=np.asarray([idx]))
        cand = np.unique(np.concatenate([*sources.values(), np.empty(0, np.int64)]))
        cand = cand[allowed[cand]]
        if cand.size == 0:
            return Recommendations("content" if mode == "content" else "hybrid", [], b.version)
        scores: dict[str, npt.NDArray[np.float32]] = {}
        if "behavior" in sources:
            sims = self._behavior_cosine(idx, cand)
            scores["behavior"] = np.where(b.behavior.known_items[cand], sims, -np.inf).astype(
                np.float32
            )
        if "text" in sources:
            assert b.text_vectors is not None
            tv = (b.text_vectors[cand] @ b.text_vectors[idx]).astype(np.float32)
            scores["text"] = np.where(b.text_mask[cand], tv, -np.inf).astype(np.float32)
        blended, contrib = self._blend(scores, weights)
        chosen = self._select(cand, blended, n, category_cap=True)
        title = b.item_table.title(idx)
        items = []
        for pos in chosen:
            source = max(contrib, key=lambda s: contrib[s][pos]) if contrib else "text"
            reason = Reason("similar", source, (item_id,), f"Similar to {title}")  # type: ignore[arg-type]
            items.append(RecommendedItem(b.items.id(int(cand[pos])), float(blended[pos]), reason))
        strategy: Strategy = "content" if mode == "content" or not use_behavior else "hybrid"
        return Recommendations(strategy, items, b.version)

    def _behavior_cosine(
        self, item_idx: int, cand: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        """Behavior similarity of ``item_idx`` to the candidates only (not the whole catalog).

        Factor models: cosine of the factors (what ``item_similarities`` computes, restricted to
        ``cand``); items without factors (appended after training) get ``-inf``. Other models
        fall back to their similarity row.
        """
        vectors = self.bundle.behavior.item_vectors
        if vectors is None:
            return self.bundle.behavior.item_similarities(np.asarray([item_idx]))[0][cand]
        out = np.full(cand.size, -np.inf, dtype=np.float32)
        inside = cand < vectors.shape[0]
        v = vectors[cand[inside]]
        q = vectors[item_idx]
        unit_v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        out[inside] = unit_v @ _unit(q)
        return out

    # ------------------------------------------------------------------------------ core
    def history_row(self, history: Sequence[UserEvent]) -> sp.csr_matrix:
        """Turn events (any order) into a ``1 x n_items`` confidence row (unknown items ignored)."""
        b = self.bundle
        mc = self.matrix_config
        n_items = len(b.items)
        if not history:
            return sp.csr_matrix((1, n_items), dtype=np.float32)
        idx = b.items.indices([e.item_id for e in history])
        weight = {t: mc.weight(t) for t in {e.type for e in history}}
        w = np.fromiter((weight[e.type] for e in history), np.float64, len(history))
        if mc.half_life_days is not None:
            ts = np.fromiter((e.ts for e in history), np.float64, len(history))
            w *= 0.5 ** ((ts.max() - ts).clip(0) / (mc.half_life_days * 86_400.0))
        keep = (idx >= 0) & (w > 0)
        cols, inverse = np.unique(idx[keep], return_inverse=True)
        vals = np.zeros(cols.size, dtype=np.float64)
        np.add.at(vals, inverse, w[keep])  # in event order, as a running sum would
        return sp.csr_matrix(
            (vals.astype(np.float32), cols, np.asarray([0, cols.size])), shape=(1, n_items)
        )

    def repeat_scores(self, history: Sequence[UserEvent]) -> npt.NDArray[np.float32]:
        """Purchase frequency with recency per item: ``Σ 0.5 ** (age / repeat_half_life_days)``.

        Args:
            history: the user's events (any order); only purchases of known items count, and age
                is measured from the newest event in ``history``.

        Returns:
            float32 scores, shape ``(n_items,)``; 0 for items the user never bought.
        """
        b = self.bundle
        out = np.zeros(len(b.items), dtype=np.float32)
        bought = [e for e in history if e.type == "purchase"]
        if not bought:
            return out
        idx = b.items.indices([e.item_id for e in bought])
        ts = np.asarray([e.ts for e in bought], dtype=np.float64)
        newest = max(e.ts for e in history)
        hl = self.config.repeat_half_life_days
        w = np.ones(ts.size) if hl is None else 0.5 ** ((newest - ts).clip(0) / (hl * 86_400.0))
        keep = idx >= 0
        np.add.at(out, idx[keep], w[keep].astype(np.float32))
        return out

    def _owned(
        self,
        hist_row: sp.csr_matrix,
        history: Sequence[UserEvent],
        item_types: Sequence[tuple[str, str]] | None,
    ) -> npt.NDArray[np.int64]:
        """Item indices the configured ``exclude_seen`` / ``exclude_purchased`` rules remove.

        "Seen" is an item with an event of positive weight (the items of ``hist_row``),
        "purchased" one with a purchase; both over ``history`` and, when given, over the whole
        history's ``item_types`` pairs, so a long history's old items are excluded too.
        """
        c = self.config
        if not (c.exclude_seen or c.exclude_purchased):
            return np.empty(0, np.int64)
        parts = []
        if c.exclude_seen:
            parts.append(hist_row.indices.astype(np.int64))
        ids = []
        if c.exclude_purchased:
            ids = [e.item_id for e in history if e.type == "purchase"]
        if item_types:
            weight = self.matrix_config.weight
            ids += [
                item
                for item, kind in item_types
                if (c.exclude_seen and weight(kind) > 0)
                or (c.exclude_purchased and kind == "purchase")
            ]
        if ids:
            idx = self.bundle.items.indices(ids)
            parts.append(idx[idx >= 0].astype(np.int64))
        out = np.concatenate(parts) if parts else np.empty(0, np.int64)
        # a long history names most items twice (seen and bought, and in both sources); the
        # count sizes index searches (k + excluded), so count each item once
        return np.unique(out) if item_types else out

    def _allowed_mask(
        self, filters: Filters, exclude_idx: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.bool_]:
        b = self.bundle
        table = b.item_table
        in_stock_only = (
            self.config.in_stock_only if filters.in_stock_only is None else filters.in_stock_only
        )
        allowed = table.in_stock.copy() if in_stock_only else np.ones(len(b.items), dtype=bool)
        if filters.category is not None:
            code = table.category_code(filters.category)
            if code < 0:  # no item has this category: nothing is allowed (-1 means "none")
                allowed[:] = False
            else:
                allowed &= table.category_codes == code
        if filters.exclude:
            ex = b.items.indices(sorted(filters.exclude))
            allowed[ex[ex >= 0]] = False
        if exclude_idx.size:
            allowed[exclude_idx] = False
        return allowed

    def _blend(
        self, scores: dict[str, npt.NDArray[np.float32]], weights: dict[str, float]
    ) -> tuple[npt.NDArray[np.float64], dict[str, npt.NDArray[np.float64]]]:
        contrib = {
            s: weights[s] * _zscore(v, self._spread_floor(s)).astype(np.float64)
            for s, v in scores.items()
            if weights.get(s, 0) > 0
        }
        size = next(iter(scores.values())).shape[0] if scores else 0
        blended = np.zeros(size, dtype=np.float64)
        for v in contrib.values():
            blended += v
        return blended, contrib

    def _spread_floor(self, source: str) -> float:
        """Smallest spread used to standardize ``source``: a share of its typical spread.

        The typical spread is measured once per bundle: for ``behavior`` the median over (up to
        64, seeded) trained users of the standard deviation of their scores over known items; for
        ``text`` the same over item-to-item text similarities; other sources have no floor.
        """
        if source in self._floors:
            return self._floors[source]
        b = self.bundle
        rng = np.random.default_rng(0)
        spreads: list[float] = []
        if source == "behavior" and len(b.users):
            known = b.behavior.known_items
            users = rng.choice(len(b.users), size=min(64, len(b.users)), replace=False)
            for u in users.tolist():
                s = b.behavior.score_items(int(u), b.user_items[int(u)])[known]
                spreads.append(float(np.std(s[np.isfinite(s)])) if s.size else 0.0)
        elif source == "text" and b.text_vectors is not None and b.text_mask.any():
            present = np.flatnonzero(b.text_mask)
            pick = rng.choice(present, size=min(64, present.size), replace=False)
            sims = b.text_vectors[pick] @ b.text_vectors[present].T
            spreads = [float(x) for x in sims.std(axis=1)]
        floor = SPREAD_FLOOR * float(np.median(spreads)) if spreads else 0.0
        self._floors[source] = floor
        return floor

    def _select(
        self,
        cand: npt.NDArray[np.int64],
        blended: npt.NDArray[np.float64],
        n: int,
        category_cap: bool,
    ) -> list[int]:
        """Positions into ``cand`` of the chosen items, best first, with the diversity cap.

        Order: score descending, ties by external item id. Only a prefix of that order is sorted
        (``SELECT_PREFIX`` x ``n``, plus ties); the cap walks the prefix and falls back to the
        full order only when the prefix cannot fill the list, so the answer is the same as
        sorting every candidate.
        """
        share = self.config.max_category_share
        capped = category_cap and share is not None
        prefix = n * SELECT_PREFIX if capped else n
        order = self._order(cand, blended, prefix)
        if not capped:
            return order[:n]
        assert share is not None
        cap = max(1, math.ceil(n * share))
        codes = self.bundle.item_table.category_codes[cand]
        while True:
            chosen, overflow = _capped_walk(order, codes, n, cap)
            if len(chosen) == n:
                return chosen
            if len(order) == cand.size:
                return chosen + overflow[: n - len(chosen)]  # too few categories: relax the cap
            order = self._order(cand, blended, cand.size)

    def _order(
        self, cand: npt.NDArray[np.int64], blended: npt.NDArray[np.float64], m: int
    ) -> list[int]:
        """Positions of the best ``m`` candidates (score descending, ties by item id)."""
        if m < cand.size:
            part = np.argpartition(-blended, m - 1)[:m]
            # every candidate tied with the m-th joins, so the id tie-break stays exact
            part = np.flatnonzero(blended >= blended[part].min())
        else:
            part = np.arange(cand.size)
        ids = self.bundle.items.ids(cand[part])
        vals = blended[part]
        ranked = sorted(range(part.size), key=lambda j: (-vals[j], ids[j]))
        return [int(part[j]) for j in ranked]

    def _popular_allowed(
        self, allowed: npt.NDArray[np.bool_], at_least: int
    ) -> npt.NDArray[np.int64]:
        """The most popular allowed items, best first: at least ``at_least`` if there are."""
        head = self._pop_order[: 4 * at_least]
        out = head[allowed[head]]
        if out.size >= at_least or head.size == self._pop_order.size:
            return out
        return self._pop_order[allowed[self._pop_order]]

    def _text_profile(self, history: Sequence[UserEvent]) -> npt.NDArray[np.float32] | None:
        b = self.bundle
        if b.text_vectors is None:
            return None
        mc = self.matrix_config
        acc = np.zeros(b.text_vectors.shape[1], dtype=np.float64)
        seen: set[int] = set()
        for rank, e in enumerate(history):
            idx = b.items.index(e.item_id)
            if idx < 0 or not b.text_mask[idx] or idx in seen:
                continue
            seen.add(idx)
            acc += (mc.weight(e.type) + 1e-3) / (1.0 + 0.1 * rank) * b.text_vectors[idx]
            if len(seen) >= self.config.recent_items:
                break
        norm = np.linalg.norm(acc)
        return (acc / norm).astype(np.float32) if norm > 0 else None

    def _rank(
        self,
        strategy: Strategy,
        user_idx: int,
        history: Sequence[UserEvent],
        n: int,
        filters: Filters,
        explain: bool = True,
        item_types: Sequence[tuple[str, str]] | None = None,
    ) -> Recommendations:
        b = self.bundle
        scored = self._score(strategy, user_idx, history, n, filters, item_types)
        if scored is None:
            return Recommendations(strategy, [], b.version)
        cand, blended, contrib = scored.cand, scored.blended, scored.contrib
        chosen = self._select(cand, blended, n, category_cap=True)
        picked = [{s: v[p] for s, v in contrib.items()} for p in chosen]
        if explain:
            reasons = self._reasons(cand[chosen], picked, history, scored.hist_row)
        else:  # the top source only: no per-pair similarities
            reasons = [_bare_reason(parts) for parts in picked]
        items = [
            RecommendedItem(b.items.id(int(cand[p])), float(blended[p]), reasons[i])
            for i, p in enumerate(chosen)
        ]
        return Recommendations(strategy, items, b.version)

    def _score(
        self,
        strategy: Strategy,
        user_idx: int,
        history: Sequence[UserEvent],
        n: int,
        filters: Filters,
        item_types: Sequence[tuple[str, str]] | None = None,
    ) -> _Scored | None:
        """Gather candidates from every source and blend their scores (None: no candidates)."""
        b, c = self.bundle, self.config
        k = max(c.candidates, 4 * n)
        hist_row = self.history_row(history)
        exclude = self._owned(hist_row, history, item_types)
        allowed = self._allowed_mask(filters, exclude_idx=exclude)

        sources: dict[str, npt.NDArray[np.int64]] = {}
        weights: dict[str, float] = {}
        behavior_vec = None
        behavior_all: npt.NDArray[np.float32] | None = None
        recent_row = None
        recent_all: npt.NDArray[np.float32] | None = None
        recent_vec: npt.NDArray[np.float32] | None = None
        profile = None
        if strategy != "popular":
            hybrid = strategy == "hybrid"
            model = b.behavior
            behavior_index = b.behavior_index
            use_index = (
                model.item_vectors is not None
                and behavior_index is not None
                and len(b.items) >= b.config.index.hnsw_threshold
            )
            # what the user is doing now: the behavior model folded in from the newest events
            # (the content strategy's behavior vector is already a fold-in of a short history)
            recent_row = (
                self.history_row(history[: c.recent_events])
                if hybrid and c.recent_weight > 0 and model.name != "popularity"
                else None
            )
            if recent_row is not None and not recent_row.nnz:
                recent_row = None
            if use_index and behavior_index is not None:  # large catalog: approximate (HNSW)
                behavior_vec = model.user_vector(user_idx, hist_row)  # type: ignore[attr-defined]
                query = behavior_vec
                if recent_row is not None:  # one search for both: the weighted unit vectors
                    recent_vec = model.user_vector(-1, recent_row)  # type: ignore[attr-defined]
                    query = c.behavior_weight * _unit(behavior_vec) + c.recent_weight * _unit(
                        recent_vec
                    )
                sources["behavior"] = behavior_index.search(query, k + len(exclude))[0]
            else:  # below the HNSW threshold exact scoring of every item is as cheap
                behavior_all = model.score_items(user_idx, hist_row)
                s = behavior_all.copy()
                s[~allowed] = -np.inf
                sources["behavior"] = top_n(s, k)
                if recent_row is not None:
                    recent_all = model.score_items(-1, recent_row)
                    s = recent_all.copy()
                    s[~allowed] = -np.inf
                    sources["recent"] = top_n(s, k)
            weights["behavior"] = c.behavior_weight if hybrid else c.content_behavior_weight
            if recent_row is not None:
                weights["recent"] = c.recent_weight
            profile = self._text_profile(history)
            if profile is not None and b.text_index is not None:
                sources["text"] = b.text_index.search(profile, k + len(exclude))[0]
                weights["text"] = c.text_weight if hybrid else c.content_text_weight
            weights["popularity"] = c.popularity_weight if hybrid else c.content_popularity_weight
            repeat = self.repeat_scores(history)
            bought = np.flatnonzero(repeat > 0)
            if c.repeat_weight > 0 and bought.size and allowed[bought].any():
                sources["repeat"] = bought[np.argsort(-repeat[bought], kind="stable")][:k]
                weights["repeat"] = c.repeat_weight
        else:
            weights["popularity"] = 1.0
        pop_allowed = self._popular_allowed(allowed, max(k, 2 * n))
        sources["popularity"] = pop_allowed[: k if strategy == "popular" else max(n, k // 4)]

        cand = np.unique(np.concatenate(list(sources.values())))
        cand = cand[allowed[cand]]
        n_allowed = int(allowed.sum())
        if n_allowed <= 2 * k:  # a narrow filter: score every allowed item exactly
            cand = np.flatnonzero(allowed).astype(np.int64)
        elif cand.size < n:  # filters left too few: fill with the most popular allowed items
            cand = np.unique(np.concatenate([cand, pop_allowed[: n * 2]]))
        if cand.size == 0:
            return None

        scores: dict[str, npt.NDArray[np.float32]] = {"popularity": b.popularity[cand]}
        if "behavior" in sources:
            scores["behavior"] = (
                behavior_all[cand]
                if behavior_all is not None
                else b.behavior.score_items(user_idx, hist_row, cand)
            )
        if recent_all is not None:
            scores["recent"] = recent_all[cand]
        elif recent_vec is not None:  # the index path: a factor model's dot products
            item_vectors = b.behavior.item_vectors
            assert item_vectors is not None
            scores["recent"] = (item_vectors[cand] @ recent_vec).astype(np.float32)
        if "text" in sources and profile is not None:
            assert b.text_vectors is not None
            tv = (b.text_vectors[cand] @ profile).astype(np.float32)
            scores["text"] = np.where(b.text_mask[cand], tv, -np.inf).astype(np.float32)
        if "repeat" in sources:
            scores["repeat"] = repeat[cand]
        blended, contrib = self._blend(scores, weights)
        if not contrib:  # every weight is zero: rank by popularity
            blended, contrib = self._blend(
                {"popularity": scores["popularity"]}, {"popularity": 1.0}
            )
        return _Scored(cand, blended, contrib, hist_row)

    # --------------------------------------------------------------------------- reasons
    def _reasons(
        self,
        chosen: npt.NDArray[np.int64],
        contributions: list[dict[str, float]],
        history: Sequence[UserEvent],
        row: sp.csr_matrix,
    ) -> list[Reason]:
        """Explain each chosen item by the history items that contributed most to its score.

        A history item's contribution is its similarity to the recommended item (by the source that
        contributed most to the blend) times its weight in the user's profile: the confidence in the
        history row for behavior (for item-kNN exactly its term of the score), the recency-decayed
        event weight for text. Up to ``REASON_HISTORY`` distinct history items are considered.
        ``row`` is ``history_row(history)``, which the caller has already built.
        """
        b = self.bundle
        mc = self.matrix_config
        recent: list[tuple[int, str]] = []
        position: dict[int, int] = {}
        for e in history:
            idx = b.items.index(e.item_id)
            if idx >= 0 and idx not in position:
                position[idx] = len(recent)
                recent.append((idx, e.type))
                if len(recent) >= max(REASON_HISTORY, self.config.recent_items):
                    break
        hist_idx = np.asarray([r[0] for r in recent], dtype=np.int64)
        # the recent source reads the newest `recent_events` events: their distinct known items
        # are the first `n_recent` entries of `recent` (both newest first)
        newest = {b.items.index(e.item_id) for e in history[: self.config.recent_events]}
        n_recent = max(1, len(newest - {-1}))
        beh_sim = text_sim = None
        if hist_idx.size and chosen.size:
            conf = np.zeros(hist_idx.size, dtype=np.float64)
            pos = np.searchsorted(row.indices, hist_idx)
            hit = (pos < row.indices.size) & (
                row.indices[np.minimum(pos, row.indices.size - 1)] == hist_idx
            )
            conf[hit] = row.data[pos[hit]]
            if b.behavior.item_vectors is not None or b.behavior.name != "popularity":
                vectors = b.behavior.item_vectors
                if vectors is not None:  # cosine of the needed pairs only
                    # items appended after training (live catalog) have no factors: clip the
                    # index for the lookup, then mask their pairs out
                    n_vec = vectors.shape[0]
                    h_idx, c_idx = np.minimum(hist_idx, n_vec - 1), np.minimum(chosen, n_vec - 1)
                    unit_h = vectors[h_idx] / np.maximum(
                        np.linalg.norm(vectors[h_idx], axis=1, keepdims=True), 1e-12
                    )
                    unit_c = vectors[c_idx] / np.maximum(
                        np.linalg.norm(vectors[c_idx], axis=1, keepdims=True), 1e-12
                    )
                    beh_sim = unit_h @ unit_c.T
                    untrained = (hist_idx >= n_vec)[:, None] | (chosen >= n_vec)[None, :]
                else:
                    beh_sim = b.behavior.item_similarities(hist_idx)[:, chosen]
                beh_sim = beh_sim * conf[:, None]
                beh_sim[~b.behavior.known_items[hist_idx]] = -np.inf
                if vectors is not None:
                    beh_sim[untrained] = -np.inf
            if b.text_vectors is not None:
                recency = np.asarray(
                    [(mc.weight(t) + 1e-3) / (1.0 + 0.1 * r) for r, (_, t) in enumerate(recent)]
                )
                text_sim = (b.text_vectors[hist_idx] @ b.text_vectors[chosen].T) * recency[:, None]
                text_sim[~b.text_mask[hist_idx]] = -np.inf
        bought = (
            self.repeat_scores(history) if any(c.get("repeat") for c in contributions) else None
        )
        purchase_counts = Counter(e.item_id for e in history if e.type == "purchase")
        out = []
        for j, (item_idx, contrib) in enumerate(zip(chosen, contributions, strict=True)):
            personal = {s: v for s, v in contrib.items() if s != "popularity"}
            best = max(personal, key=lambda s: personal[s]) if personal else None
            if (
                best is None
                or hist_idx.size == 0
                or contrib.get("popularity", -np.inf) > personal[best]
            ):
                cat = b.item_table.facts(int(item_idx)).category
                text = f"Popular in {cat}" if cat else "Popular right now"
                out.append(Reason("popular", "popularity", (), text))
                continue
            if best == "repeat" and bought is not None and bought[item_idx] > 0:
                item_id = b.items.id(int(item_idx))
                times = purchase_counts[item_id]
                text = f"You bought {b.item_table.title(int(item_idx))} {times}x before"
                out.append(Reason("history", "repeat", (item_id,), text))
                continue
            sim = beh_sim if best in ("behavior", "recent") else text_sim
            if sim is None:
                sim = text_sim if beh_sim is None else beh_sim
            col = sim[:, j] if sim is not None else np.zeros(hist_idx.size)
            if best == "recent":  # explained by the newest items only (those behind the source)
                col = col[:n_recent]
            top = [int(t) for t in top_n(col.astype(np.float64), 2)] or [0]
            ids = tuple(b.items.id(int(hist_idx[t])) for t in top)
            lead_idx, lead_type = recent[top[0]]
            verb = VERBS.get(lead_type, "viewed")
            text = f"Because you {verb} {b.item_table.title(lead_idx)}"
            source = best if best in ("behavior", "text") else "behavior"
            out.append(Reason("history", source, ids, text))  # type: ignore[arg-type]
        return out

    def with_config(self, config: HybridConfig) -> HybridRecommender:
        """Return a recommender over the same bundle with other blend/filter settings."""
        rec = HybridRecommender(self.bundle, config)
        rec._pop_order = self._pop_order
        rec._floors = self._floors
        return rec


def replace_config(config: HybridConfig, **changes: object) -> HybridConfig:
    """Return ``config`` with some fields changed (validated)."""
    return replace(config, **changes)  # type: ignore[arg-type]
