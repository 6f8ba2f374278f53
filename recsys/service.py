"""One facade over store + current bundle that the CLI and the HTTP API both call.

It turns recommender answers into plain JSON-able dicts with the catalog facts a storefront shows.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from recsys.bundle import Bundle, load_bundle
from recsys.home import Home
from recsys.hybrid import Filters, HybridRecommender, Recommendations, SimilarMode
from recsys.store.sqlite import Store

HISTORY_LIMIT = 500  # most recent events read per user request


class RecommendationService:
    """Answers recommendation questions from the published bundle and the live event store.

    Example:
        >>> service = RecommendationService(Home.resolve())
        >>> service.recommend_user("1", n=5)["strategy"]
        'hybrid'
    """

    def __init__(self, home: Home, store: Store | None = None) -> None:
        self.home = home
        self._store = store
        self._recommender: HybridRecommender | None = None
        self._lock = threading.Lock()

    @property
    def store(self) -> Store:
        """The event/catalog store (opened on first use)."""
        with self._lock:
            if self._store is None:
                self._store = Store(self.home.db_path)
            return self._store

    @property
    def recommender(self) -> HybridRecommender:
        """The recommender over the current bundle (loaded on first use)."""
        with self._lock:
            if self._recommender is None:
                self._recommender = HybridRecommender(load_bundle(self.home.artifacts))
            return self._recommender

    def use_bundle(self, bundle: Bundle) -> None:
        """Serve from ``bundle`` from now on (atomic reference swap)."""
        self._recommender = HybridRecommender(bundle)

    @property
    def bundle(self) -> Bundle:
        """The bundle being served."""
        return self.recommender.bundle

    def _items(self, answer: Recommendations) -> list[dict[str, Any]]:
        b = self.recommender.bundle
        out = []
        for item in answer.items:
            row = b.item_table.row(b.items.index(item.item_id))
            out.append(
                {
                    "item_id": item.item_id,
                    "score": round(item.score, 6),
                    "title": row["title"],
                    "category": row["category"] or None,
                    "price": row["price"],
                    "currency": row["currency"] or None,
                    "in_stock": bool(row["in_stock"]),
                    "reason": {
                        "kind": item.reason.kind,
                        "source": item.reason.source,
                        "item_ids": list(item.reason.item_ids),
                        "text": item.reason.text,
                    },
                }
            )
        return out

    def recommend_user(
        self, user_id: str, n: int = 10, filters: Filters | None = None
    ) -> dict[str, Any]:
        """Recommendations for a user, with their live history from the store."""
        rec = self.recommender
        history = self.store.user_events(user_id, limit=HISTORY_LIMIT)
        answer = rec.recommend_user(user_id, history, n=n, filters=filters)
        return {
            "user_id": user_id,
            "model_version": answer.model_version,
            "strategy": answer.strategy,
            "items": self._items(answer),
        }

    def recommend_session(
        self, recent_item_ids: Sequence[str], n: int = 10, filters: Filters | None = None
    ) -> dict[str, Any]:
        """Recommendations for an anonymous session's recent items (most recent first)."""
        answer = self.recommender.recommend_session(recent_item_ids, n=n, filters=filters)
        return {
            "model_version": answer.model_version,
            "strategy": answer.strategy,
            "items": self._items(answer),
        }

    def similar(
        self,
        item_id: str,
        n: int = 10,
        mode: SimilarMode = "hybrid",
        filters: Filters | None = None,
    ) -> dict[str, Any]:
        """Items similar to ``item_id``."""
        answer = self.recommender.similar(item_id, n=n, mode=mode, filters=filters)
        return {
            "item_id": item_id,
            "mode": mode,
            "model_version": answer.model_version,
            "strategy": answer.strategy,
            "items": self._items(answer),
        }

    def close(self) -> None:
        """Close the store if this service opened it."""
        if self._store is not None:
            self._store.close()
