"""Precomputed per-user ranked lists: most user requests answered without ranking.

Ranking a user's candidates (fold-ins, index searches, blending) is most of a recommendation
request's cost. For users whose history has not changed since training, that work gives the same
answer every time, so training does it once per user (``recsys.serving.precompute``) and
stores the head of each user's ranked candidates in the bundle (``toplists.npz``), together
with the store position (``watermark``) of the newest event it read.

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

On those terms the answer equals the live one (``tests/test_precomputed.py`` checks every user of a
small shop). The one difference: items excluded by the request or out of stock now are skipped,
while a live ranking would gather candidates and standardize each source's scores without them,
so the remaining items keep their training-time scores (and, rarely, their order may differ
from a live ranking's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from recsys.types import RankedList


@dataclass(frozen=True)
class PrecomputedLists:
    """Every user's precomputed :class:`RankedList`, as fixed-width tables.

    Attributes:
        items: ``(n_users, depth)`` int32 item indices, best first; ``-1`` pads a short row, and a
            row starting with ``-1`` means "no list: compute live".
        scores: ``(n_users, depth)`` float64 blended scores.
        sources: ``(n_users, depth)`` int8 reason codes (``recsys.serving.sources.reason_code``).
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
    def load(cls, path: Path) -> PrecomputedLists:
        """Read what :meth:`save` wrote."""
        with np.load(path, allow_pickle=False) as data:
            return cls(
                items=data["items"],
                scores=data["scores"],
                sources=data["sources"],
                watermark=int(data["watermark"][0]),
            )
