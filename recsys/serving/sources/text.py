"""Text similarity of each item to the user's recent items (a recency-weighted profile)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from recsys.config import MatrixConfig
from recsys.serving.sources import CandidateSource
from recsys.types import UserEvent

if TYPE_CHECKING:
    from recsys.bundle import Bundle
    from recsys.serving.query import Query


def profile_weight(matrix: MatrixConfig, event_type: str, rank: int) -> float:
    """Weight of the ``rank``-th newest distinct history item in the text profile."""
    return (matrix.weight(event_type) + 1e-3) / (1.0 + 0.1 * rank)


def text_profile(
    bundle: Bundle, history: Sequence[UserEvent], recent_items: int
) -> npt.NDArray[np.float32] | None:
    """Unit mean of the newest ``recent_items`` distinct items' text vectors, by profile weight.

    Each distinct item with text counts once, at its newest event (its ``rank`` in ``history``,
    newest first, among all events).
    """
    if bundle.text_vectors is None or not history:
        return None
    mc = bundle.config.matrix
    index, has_text = bundle.items.index, bundle.text_mask
    first: dict[int, int] = {}  # item index -> rank of its newest event, newest items first
    for rank, event in enumerate(history):
        i = index(event.item_id)
        if i >= 0 and i not in first and has_text[i]:
            first[i] = rank
            if len(first) == recent_items:
                break
    if not first:
        return None
    idx = np.fromiter(first, np.int64, len(first))
    weights = np.fromiter(
        (profile_weight(mc, history[r].type, r) for r in first.values()), np.float64, len(first)
    )
    acc = weights @ bundle.text_vectors[idx].astype(np.float64)
    norm = np.linalg.norm(acc)
    return (acc / norm).astype(np.float32) if norm > 0 else None


class TextSource(CandidateSource):
    """Items whose text is closest to the user's recent items; reaches items without events."""

    name = "text"
    reason = "text"
    reason_code = 1
    position = 30
    explained_by = "text"
    scans_catalog = True

    def weight(self, q: Query) -> float:
        """``text_weight`` (hybrid) or ``content_text_weight`` (content)."""
        if not q.personal:
            return 0.0
        return self.config.text_weight if q.hybrid else self.config.content_text_weight

    def prepare(self, q: Query) -> bool:
        """The text profile of the user's recent items (None: no text or no profile)."""
        if not q.personal or q.bundle.text_index is None:
            return False
        profile = text_profile(q.bundle, q.history, q.config.recent_items)
        if profile is None:
            return False
        q.memo["text_profile"] = profile
        return True

    def gather(self, q: Query) -> npt.NDArray[np.int64] | None:
        """The text index's nearest items to the profile (None: no text or no profile)."""
        if not self.prepare(q):
            return None
        assert q.bundle.text_index is not None
        return q.bundle.text_index.search(q.memo["text_profile"], q.k + len(q.exclude))[0]

    def score(self, q: Query, cand: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Cosine of ``cand``'s text to the profile (``-inf`` for items without text)."""
        b = q.bundle
        assert b.text_vectors is not None
        tv = (b.text_vectors[cand] @ q.memo["text_profile"]).astype(np.float32)
        return np.where(b.text_mask[cand], tv, -np.inf).astype(np.float32)

    def typical_spreads(self) -> list[float]:
        """Over up to 64 seeded items, the spread of their text similarity to every item."""
        b = self.bundle
        if b.text_vectors is None or not b.text_mask.any():
            return []
        rng = np.random.default_rng(0)
        present = np.flatnonzero(b.text_mask)
        pick = rng.choice(present, size=min(64, present.size), replace=False)
        sims = b.text_vectors[pick] @ b.text_vectors[present].T
        return [float(x) for x in sims.std(axis=1)]
