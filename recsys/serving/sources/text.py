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
    """Unit mean of the newest ``recent_items`` distinct items' text vectors, by profile weight."""
    if bundle.text_vectors is None:
        return None
    mc = bundle.config.matrix
    acc = np.zeros(bundle.text_vectors.shape[1], dtype=np.float64)
    seen: set[int] = set()
    for rank, e in enumerate(history):
        idx = bundle.items.index(e.item_id)
        if idx < 0 or not bundle.text_mask[idx] or idx in seen:
            continue
        seen.add(idx)
        acc += profile_weight(mc, e.type, rank) * bundle.text_vectors[idx]
        if len(seen) >= recent_items:
            break
    norm = np.linalg.norm(acc)
    return (acc / norm).astype(np.float32) if norm > 0 else None


class TextSource(CandidateSource):
    """Items whose text is closest to the user's recent items; reaches items without events."""

    name = "text"
    reason = "text"
    reason_code = 1
    position = 30
    explained_by = "text"

    def weight(self, q: Query) -> float:
        """``text_weight`` (hybrid) or ``content_text_weight`` (content)."""
        if not q.personal:
            return 0.0
        return self.config.text_weight if q.hybrid else self.config.content_text_weight

    def gather(self, q: Query) -> npt.NDArray[np.int64] | None:
        """The text index's nearest items to the profile (None: no text or no profile)."""
        if not q.personal or q.bundle.text_index is None:
            return None
        profile = text_profile(q.bundle, q.history, q.config.recent_items)
        if profile is None:
            return None
        q.memo["text_profile"] = profile
        return q.bundle.text_index.search(profile, q.k + len(q.exclude))[0]

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
