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

from dataclasses import dataclass, field
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
    _has_list: list[bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # per user, whether they have a list: a Python list, read on every request
        # without numpy's indexing (``get``)
        tabled = self.items.ndim == 2 and self.items.shape[1] > 0
        has = (self.items[:, 0] >= 0).tolist() if tabled else []
        object.__setattr__(self, "_has_list", has)

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
        if not 0 <= user_idx < len(self._has_list) or not self._has_list[user_idx]:
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


@dataclass(frozen=True)
class SimilarLists:
    """Every item's precomputed similar items, per mode (``recsys.types.SIMILAR_MODES``).

    A product page asks for "similar items" on every view. Ranked live, that is two index
    searches, a blend and a selection per request (on a 100k-item catalog, a pass over every
    item's factors); for an unchanged catalog the answer is the same every time, so training
    ranks every item once (``recsys.serving.similar.rank_similar_lists``) and the service answers
    from these tables under the terms the user lists have (see the module docstring).

    Attributes:
        modes: the modes stored, in table order.
        items: ``(len(modes), n_items, depth)`` int32 item indices, best first; ``-1`` pads.
        scores: same shape, float32 blended scores (the live answer's, to float32 precision).
        sources: same shape, int8 reason codes of the source that contributed most.
    """

    modes: tuple[str, ...]
    items: npt.NDArray[np.int32]
    scores: npt.NDArray[np.float32]
    sources: npt.NDArray[np.int8]

    @property
    def depth(self) -> int:
        """Items stored per item and mode."""
        return int(self.items.shape[2])

    @property
    def n_items(self) -> int:
        """Items (rows) per mode."""
        return int(self.items.shape[1])

    def get(self, mode: str, item_idx: int) -> RankedList | None:
        """The similar items of ``item_idx`` in ``mode``, or None if none were stored."""
        if mode not in self.modes or not 0 <= item_idx < self.items.shape[1]:
            return None
        m = self.modes.index(mode)
        row = self.items[m, item_idx]
        if row[0] < 0:
            return None
        return RankedList(
            items=row, scores=self.scores[m, item_idx], sources=self.sources[m, item_idx]
        )

    def save(self, path: Path) -> None:
        """Write as one ``.npz`` (plain arrays, no pickle)."""
        with path.open("wb") as fh:
            np.savez(
                fh,
                modes=np.asarray(self.modes),
                items=self.items,
                scores=self.scores,
                sources=self.sources,
            )

    @classmethod
    def load(cls, path: Path) -> SimilarLists:
        """Read what :meth:`save` wrote."""
        with np.load(path, allow_pickle=False) as data:
            return cls(
                modes=tuple(str(m) for m in data["modes"]),
                items=data["items"],
                scores=data["scores"],
                sources=data["sources"],
            )
