"""The recommender: pick the strategy, then run the ranker's stages.

Fallback chain (reported in every answer as ``strategy``):

* ``hybrid``  — the user was in training with at least ``min_user_events`` interactions and still
  has history: the trained behavior vector, the behavior model folded in from the user's newest
  ``recent_events`` events (``recent``: what they are doing now), text similarity to recent items,
  and popularity.
* ``content`` — a user with a few events, a user unknown to the model, or an anonymous session:
  behavior folded in from the current history, text similarity to the recent items, popularity.
* ``popular`` — nothing known about the caller: the shop-wide sources only (popularity, and any
  other source that is not ``personal``).

Stages, each its own module: the request (:mod:`recsys.serving.query`), candidate sources
(:mod:`recsys.serving.sources`), the blend (:mod:`recsys.serving.blend`), the selection
(:mod:`recsys.serving.select`) and the explanation (:mod:`recsys.serving.explain`). Precomputed
lists are the same stages run at training time up to the selection (:meth:`ranked_list`). Ties
are broken by item id, so answers are stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from recsys.config import HybridConfig, MatrixConfig
from recsys.lang import ShopLanguage, bundle_language
from recsys.models.base import top_n, unique_ints
from recsys.precomputed import SimilarLists
from recsys.serving import select as sel
from recsys.serving.blend import Contributions, blend, spread_floor
from recsys.serving.explain import bare_reason, bare_reasons, explain, top_source_reasons
from recsys.serving.pool import user_pool
from recsys.serving.pooled import FusedRanker, unfiltered
from recsys.serving.query import EventLog, Query, history_row, owned_items, strategy_of
from recsys.serving.ranked import answer_from_list, serves_ranked
from recsys.serving.similar import similar_items
from recsys.serving.sources import CandidateSource, reason_code, sources
from recsys.types import (
    Filters,
    RankedList,
    Recommendations,
    RecommendedItem,
    SimilarMode,
    Strategy,
    UserEvent,
)

if TYPE_CHECKING:
    from recsys.bundle import Bundle


@dataclass(frozen=True)
class Scored:
    """Blended candidates of one request: what the selection and explanation stages read."""

    query: Query
    cand: npt.NDArray[np.int64]
    blended: npt.NDArray[np.float64]
    contrib: Contributions

    def parts(self, p: int) -> dict[str, float]:
        """Each source's contribution to the candidate at position ``p``."""
        return {s: v[p] for s, v in self.contrib.items()}


class HybridRecommender:
    """Serve recommendations from a loaded :class:`~recsys.bundle.Bundle`.

    The bundle is read-only here; the caller passes the user's current history (from the event
    store), so new events and erasures take effect without retraining.

    Args:
        bundle: the trained bundle.
        config: blend and filter settings (default: the bundle's).
        events: where sources that need raw events read them: the store, or ``FrameEvents``
            over training's events; None turns those sources off.

    Example:
        >>> rec = HybridRecommender(load_bundle(home.artifacts), events=store)
        >>> rec.recommend_user("42", store.user_events("42"), n=10).items
    """

    def __init__(
        self, bundle: Bundle, config: HybridConfig | None = None, events: EventLog | None = None
    ) -> None:
        self.bundle = bundle
        self.config = config or bundle.config.hybrid
        self.matrix_config: MatrixConfig = bundle.config.matrix
        self.events = events
        self._pop_order = top_n(bundle.popularity.astype(np.float64), len(bundle.popularity))
        self.sources: dict[str, CandidateSource] = {
            s.name: s(bundle, self.config, events) for s in sources()
        }
        self._bare = bare_reasons(self.sources)
        self._bare_named = {name: bare_reason({name: 1.0}, self.sources) for name in self.sources}
        self._floors: dict[str, float] = {}  # spread_floor() per source; depends on the bundle only
        self._fused: FusedRanker | None = None  # fused_ranker(), built on first use
        self.language: ShopLanguage = bundle_language(bundle.manifest)  # the catalog's

    def spread_floor(self, source: str) -> float:
        """The smallest spread ``source``'s scores are standardized with (measured per bundle)."""
        if source not in self._floors:
            known = self.sources.get(source)
            self._floors[source] = spread_floor(known.typical_spreads() if known else [])
        return self._floors[source]

    # ------------------------------------------------------------------------------ answers
    def recommend_user(
        self,
        user_id: str,
        history: Sequence[UserEvent],
        n: int = 10,
        filters: Filters | None = None,
        explain: bool = True,
        item_types: Sequence[tuple[str, str]] | None = None,
        use_trained_vector: bool = True,
        pool: npt.NDArray[np.int64] | None = None,
        owned: npt.NDArray[np.int64] | None = None,
        language: ShopLanguage | None = None,
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
                distinct ``(item_id, type)`` pairs of the whole of it: ``exclude_seen`` and
                ``exclude_purchased`` then cover every item the user ever had.
            use_trained_vector: False to ignore what training learnt about ``user_id`` (an
                erased user): the answer is computed from ``history`` alone.
            pool: for the ``hybrid`` strategy, rank these items (and the cheap sources' own
                candidates) instead of what catalog-scanning sources gather (``serving.pool``).
            owned: item indices to exclude besides ``history``'s and ``item_types``' owned ones.
            language: the language of the reasons' text (None: the catalog's,
                ``recsys.lang.bundle_language``).

        Returns:
            :class:`Recommendations` (possibly fewer than ``n`` items if the filters leave fewer).
        """
        n = sel.check_n(n)
        strategy, user_idx = self._strategy(user_id, history, use_trained_vector)
        q = self._query(strategy, user_idx, history, n, filters or Filters(), item_types, owned)
        q.language = language or self.language
        return self._rank(q, explain, pool if strategy == "hybrid" else None)

    def recommend_pooled(
        self,
        user_id: str,
        history: Sequence[UserEvent],
        ranked: RankedList,
        similar: SimilarLists,
        newest_items: int,
        n: int = 10,
        filters: Filters | None = None,
        explain: bool = True,
        item_types: Sequence[tuple[str, str]] | None = None,
        owned: npt.NDArray[np.int64] | None = None,
        language: ShopLanguage | None = None,
    ) -> Recommendations:
        """A browsing shopper's answer, ranked over their pool (``recsys.serving.pool``).

        :meth:`recommend_user` with ``pool=user_pool(bundle, ranked, similar, history,
        newest_items, config.live_pool_similar)``. Answers with bare reasons and no filters
        come from the fused, compiled pass of :mod:`recsys.serving.pooled` where it applies:
        the same answer, to float rounding, for about half the CPU.

        Args:
            user_id: external user id (a trained user: ``ranked`` is their list).
            history: the user's events, newest first.
            ranked: the user's precomputed list.
            similar: the precomputed similar items.
            newest_items: how many of the newest distinct items bring their similar items.
            n: list length, 1..1000.
            filters: per-request filters.
            explain: as in :meth:`recommend_user`.
            item_types: as in :meth:`recommend_user`.
            owned: as in :meth:`recommend_user` (the user's training row).
            language: as in :meth:`recommend_user`.
        """
        n = sel.check_n(n)
        filters = filters or Filters()
        if not explain and unfiltered(filters):
            strategy, user_idx = self._strategy(user_id, history)
            if strategy == "hybrid":
                fused = self.fused_ranker().answer(
                    user_idx, history, n, item_types, ranked, similar, newest_items, owned
                )
                if fused is not None:
                    return fused
        pool = user_pool(
            self.bundle, ranked, similar, history, newest_items, self.config.live_pool_similar
        )
        return self.recommend_user(
            user_id,
            history,
            n=n,
            filters=filters,
            explain=explain,
            item_types=item_types,
            pool=pool,
            owned=owned,
            language=language,
        )

    def fused_ranker(self) -> FusedRanker:
        """The fused pooled answers of this recommender (``recsys.serving.pooled``), built once."""
        if self._fused is None:
            self._fused = FusedRanker(
                self.bundle,
                self.config,
                self.sources,
                self._pop_order,
                self.spread_floor,
                self._bare_named,
            )
        return self._fused

    def recommend_session(
        self,
        recent_item_ids: Sequence[str],
        n: int = 10,
        filters: Filters | None = None,
        explain: bool = True,
        language: ShopLanguage | None = None,
    ) -> Recommendations:
        """Recommend for an anonymous session from the items it viewed (most recent first).

        ``language``: of the reasons' text, as in :meth:`recommend_user`.
        """
        n = sel.check_n(n)
        history = [
            UserEvent(item_id=i, type="view", ts=float(-k)) for k, i in enumerate(recent_item_ids)
        ]
        known = any(self.bundle.items.index(e.item_id) >= 0 for e in history)
        strategy: Strategy = "content" if known else "popular"
        q = self._query(strategy, -1, history, n, filters or Filters())
        q.language = language or self.language
        return self._rank(q, explain)

    def similar(
        self,
        item_id: str,
        n: int = 10,
        mode: SimilarMode = "hybrid",
        filters: Filters | None = None,
        language: ShopLanguage | None = None,
    ) -> Recommendations:
        """Items similar to ``item_id`` by behavior, text (``content``) or both (``hybrid``).

        ``language``: of the reasons' text, as in :meth:`recommend_user`.

        Raises:
            UnknownItemError: if the item is not in the bundle.
            InvalidInputError: for a bad ``n`` or ``mode``.
        """
        return similar_items(
            self.bundle,
            self.config,
            self.spread_floor,
            item_id,
            n,
            mode,
            filters or Filters(),
            language or self.language,
        )

    # ------------------------------------------------------------------------ precomputed
    def ranked_list(
        self,
        user_id: str,
        history: Sequence[UserEvent],
        depth: int,
        item_types: Sequence[tuple[str, str]] | None = None,
    ) -> RankedList | None:
        """The head of the order a hybrid answer for ``user_id`` picks from (for precomputing).

        The same stages as :meth:`recommend_user` up to the selection, with no request filters:
        :meth:`recommend_ranked` turns it into the answer :meth:`recommend_user` gives for
        ``n <= candidates / 4`` (where the candidate count does not depend on ``n``) while the
        history and catalog are unchanged.

        Returns:
            The best ``depth`` candidates, or None when the user is not served by the ``hybrid``
            strategy (those answers are cheap to compute live) or nothing is left to recommend.
        """
        strategy, user_idx = self._strategy(user_id, history)
        if strategy != "hybrid":
            return None
        scored = self._score(self._query(strategy, user_idx, history, 1, Filters(), item_types))
        if scored is None:
            return None
        m = min(depth, scored.cand.size)
        order = sel.order(self.bundle, scored.cand, scored.blended, m)[:depth]  # ties may add more
        codes = [reason_code(bare_reason(scored.parts(p), self.sources).source) for p in order]
        return RankedList(
            items=scored.cand[order].astype(np.int32),
            scores=scored.blended[order].astype(np.float64),
            sources=np.asarray(codes, dtype=np.int8),
        )

    def serves_ranked(self, n: int, filters: Filters) -> bool:
        """Whether a request may be answered from a ranked list (``ranked.serves_ranked``)."""
        return serves_ranked(self.config, n, filters)

    def recommend_ranked(
        self,
        ranked: RankedList,
        n: int,
        filters: Filters | None = None,
    ) -> Recommendations | None:
        """Answer from a precomputed :class:`RankedList` (see :meth:`ranked_list`).

        Its reasons are bare (the top source only, blank ``text``): they read the same in every
        language.

        Returns:
            The answer, or None when the list cannot give ``n`` items or the request needs a live
            computation (:meth:`serves_ranked`): compute it with :meth:`recommend_user` then.
        """
        return answer_from_list(
            self.bundle, self.config, self._bare, ranked, sel.check_n(n), filters or Filters()
        )

    # ------------------------------------------------------------------------------ parts
    def query(
        self,
        user_id: str,
        history: Sequence[UserEvent],
        n: int = 10,
        filters: Filters | None = None,
        item_types: Sequence[tuple[str, str]] | None = None,
    ) -> Query:
        """The request :meth:`recommend_user` would rank, as the stages see it (tests, tools)."""
        strategy, user_idx = self._strategy(user_id, history)
        return self._query(
            strategy, user_idx, history, sel.check_n(n), filters or Filters(), item_types
        )

    def recommend_popular(
        self,
        history: Sequence[UserEvent],
        n: int = 10,
        filters: Filters | None = None,
        explain: bool = True,
        item_types: Sequence[tuple[str, str]] | None = None,
        language: ShopLanguage | None = None,
    ) -> Recommendations:
        """The ``popular`` answer for a shopper whatever is known of them (an experiment holdout).

        The shop-wide popular items, with the same filters as any answer: what the shopper
        already has (from ``history`` and ``item_types``) is excluded as :meth:`recommend_user`
        excludes it.
        """
        n = sel.check_n(n)
        q = self._query("popular", -1, history, n, filters or Filters(), item_types)
        q.language = language or self.language
        return self._rank(q, explain, None)

    def with_config(self, config: HybridConfig) -> HybridRecommender:
        """Return a recommender over the same bundle and events with other blend settings."""
        rec = HybridRecommender(self.bundle, config, self.events)  # shares what is per bundle
        rec._pop_order = self._pop_order
        rec._floors = self._floors
        return rec

    def _strategy(
        self, user_id: str, history: Sequence[UserEvent], use_trained_vector: bool = True
    ) -> tuple[Strategy, int]:
        user = user_id if use_trained_vector else None
        return strategy_of(self.bundle, self.config.min_user_events, user, history)

    def _query(
        self,
        strategy: Strategy,
        user_idx: int,
        history: Sequence[UserEvent],
        n: int,
        filters: Filters,
        item_types: Sequence[tuple[str, str]] | None = None,
        owned: npt.NDArray[np.int64] | None = None,
    ) -> Query:
        """The request as the stages see it: history row, owned items, allowed mask."""
        b, c = self.bundle, self.config
        row = history_row(b, history)
        exclude = owned_items(b, c, row, history, item_types)
        if owned is not None and owned.size and (c.exclude_seen or c.exclude_purchased):
            exclude = unique_ints(np.concatenate([exclude, owned]))
        allowed = sel.allowed_mask(b, c, filters, exclude_idx=exclude)
        k = max(c.candidates, 4 * n)
        q = Query(b, c, strategy, user_idx, history, n, k, row, exclude, allowed)
        q.language = self.language  # the catalog's; a request's own language replaces it
        q.memo["pop_order"] = self._pop_order
        return q

    def _score(self, q: Query, pool: npt.NDArray[np.int64] | None = None) -> Scored | None:
        """Gather candidates from every source and blend their scores (None: no candidates).

        With ``pool``, sources that scan the catalog only prepare (their candidates are the
        pool); the others gather as usual.
        """
        found = {}
        for name, source in self.sources.items():
            if pool is not None and source.scans_catalog:
                if source.prepare(q):
                    found[name] = pool
            elif (cand := source.gather(q)) is not None:
                found[name] = cand
        cand = sel.candidate_set(q, list(found.values()))
        if cand.size == 0:
            return None
        scores = {name: self.sources[name].score(q, cand) for name in found}
        weights = {name: self.sources[name].weight(q) for name in found}
        blended, contrib = blend(scores, weights, self.spread_floor)
        if not contrib:  # every weight is zero: rank by popularity
            popularity = {"popularity": self.bundle.popularity[cand]}
            blended, contrib = blend(popularity, {"popularity": 1.0}, self.spread_floor)
        return Scored(q, cand, blended, contrib)

    def _rank(
        self, q: Query, explain_items: bool, pool: npt.NDArray[np.int64] | None = None
    ) -> Recommendations:
        b = self.bundle
        scored = self._score(q, pool)
        if scored is None:
            return Recommendations(q.strategy, [], b.version)
        chosen = sel.select(b, self.config, scored.cand, scored.blended, q.n)
        if explain_items:
            picked = [scored.parts(p) for p in chosen]
            reasons = explain(q, scored.cand[chosen], picked, self.sources)
        else:  # the top source only: no per-pair similarities
            reasons = top_source_reasons(scored.contrib, chosen, self._bare_named, self.sources)
        ids = b.items.ids(scored.cand[chosen])
        scores = scored.blended[chosen].tolist()
        items = [RecommendedItem(i, s, r) for i, s, r in zip(ids, scores, reasons, strict=True)]
        return Recommendations(q.strategy, items, b.version)
