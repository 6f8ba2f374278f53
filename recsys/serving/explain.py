"""The explanation stage: why each chosen item was recommended.

An item is explained by the source that contributed most to its blended score. A shop-wide source
(popularity, say) that outweighs every personal one explains itself ("Popular in Shoes"); so does
a personal source that can ("You bought Milk 3x before"). Otherwise the user's own items explain
it: a history item's contribution is its similarity to the
recommended item (by the similarity behind the winning source: ``behavior`` or ``text``) times
its weight in the user's profile: the confidence in the history row for behavior (for item-kNN
exactly its term of the score), the recency-decayed event weight for text. Up to
``REASON_HISTORY`` distinct history items are considered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from recsys.models.base import top_n
from recsys.serving.phrases import BECAUSE, PHRASES
from recsys.serving.sources import REASON_NAMES, CandidateSource
from recsys.serving.sources.text import profile_weight
from recsys.types import Reason, ReasonKind

if TYPE_CHECKING:
    from recsys.serving.query import Query

REASON_HISTORY = 200  # history items considered when explaining a recommendation


def bare_reason(parts: Mapping[str, float], sources: Mapping[str, CandidateSource]) -> Reason:
    """A reason naming only the source that contributed most (for unexplained answers)."""
    name = max(parts, key=lambda s: parts[s]) if parts else "popularity"
    source = sources.get(name)
    reason = source.reason if source is not None else "popularity"
    kind: ReasonKind = "history" if source is not None and source.personal else "popular"
    return Reason(kind, reason, (), "")


def top_source_reasons(
    contrib: Mapping[str, npt.NDArray[np.float64]],
    chosen: Sequence[int],
    named: Mapping[str, Reason],
    sources: Mapping[str, CandidateSource],
) -> list[Reason]:
    """:func:`bare_reason` of each chosen candidate, for all of them at once.

    Args:
        contrib: each source's contribution per candidate (the blend's).
        chosen: positions of the chosen candidates.
        named: the bare reason of each source name.
        sources: the recommender's sources.

    Returns:
        The reason of the source that contributed most (the first in blend order on a tie).
    """
    names = list(contrib)
    if not names or not chosen:
        return [bare_reason({}, sources)] * len(chosen)
    parts = np.vstack([contrib[s][list(chosen)] for s in names])
    return [named[names[t]] for t in parts.argmax(axis=0).tolist()]


def bare_reasons(sources: Mapping[str, CandidateSource]) -> dict[int, Reason]:
    """The bare reason of each reason code (what answers from precomputed lists carry)."""
    by_reason = {s.reason: name for name, s in sources.items()}
    return {code: bare_reason({by_reason[r]: 1.0}, sources) for code, r in REASON_NAMES.items()}


class _History:
    """The user's distinct known history items, newest first, and their similarity to the items."""

    def __init__(self, q: Query, chosen: npt.NDArray[np.int64]) -> None:
        b = q.bundle
        self.q, self.chosen = q, chosen
        self.items: list[tuple[int, str]] = []  # (item index, event type), newest first
        position: set[int] = set()
        for e in q.history:
            idx = b.items.index(e.item_id)
            if idx >= 0 and idx not in position:
                position.add(idx)
                self.items.append((idx, e.type))
                if len(self.items) >= max(REASON_HISTORY, q.config.recent_items):
                    break
        self.idx = np.asarray([r[0] for r in self.items], dtype=np.int64)
        # the recent source reads the newest `recent_events` events: their distinct known items
        # are the first `n_recent` entries of `items` (both newest first)
        newest = {b.items.index(e.item_id) for e in q.history[: q.config.recent_events]}
        self.n_recent = max(1, len(newest - {-1}))
        self._sims: dict[str, npt.NDArray[np.float64] | None] = {}

    def similarity(self, kind: str) -> npt.NDArray[np.float64] | None:
        """``(history items x chosen)`` contributions by ``behavior`` or ``text`` similarity."""
        if kind not in self._sims:
            ok = self.idx.size and self.chosen.size
            self._sims[kind] = (
                None if not ok else self._behavior() if kind == "behavior" else self._text()
            )
        return self._sims[kind]

    def _behavior(self) -> npt.NDArray[np.float64] | None:
        b, row, hist, chosen = self.q.bundle, self.q.hist_row, self.idx, self.chosen
        vectors = b.behavior.item_vectors
        if vectors is None and b.behavior.name == "popularity":
            return None
        conf = np.zeros(hist.size, dtype=np.float64)
        pos = np.searchsorted(row.indices, hist)
        hit = (pos < row.indices.size) & (
            row.indices[np.minimum(pos, row.indices.size - 1)] == hist
        )
        conf[hit] = row.data[pos[hit]]
        if vectors is not None:  # cosine of the needed pairs only
            # items appended after training (live catalog) have no factors: clip the index for
            # the lookup, then mask their pairs out
            n_vec = vectors.shape[0]
            h_idx, c_idx = np.minimum(hist, n_vec - 1), np.minimum(chosen, n_vec - 1)
            unit_h = vectors[h_idx] / np.maximum(
                np.linalg.norm(vectors[h_idx], axis=1, keepdims=True), 1e-12
            )
            unit_c = vectors[c_idx] / np.maximum(
                np.linalg.norm(vectors[c_idx], axis=1, keepdims=True), 1e-12
            )
            sim = (unit_h @ unit_c.T) * conf[:, None]
            sim[(hist >= n_vec)[:, None] | (chosen >= n_vec)[None, :]] = -np.inf
        else:
            sim = b.behavior.item_similarities(hist)[:, chosen] * conf[:, None]
        sim[~b.behavior.known_items[hist]] = -np.inf
        return sim  # type: ignore[no-any-return]

    def _text(self) -> npt.NDArray[np.float64] | None:
        b = self.q.bundle
        if b.text_vectors is None:
            return None
        mc = b.config.matrix
        recency = np.asarray([profile_weight(mc, t, r) for r, (_, t) in enumerate(self.items)])
        sim = (b.text_vectors[self.idx] @ b.text_vectors[self.chosen].T) * recency[:, None]
        sim[~b.text_mask[self.idx]] = -np.inf
        return sim  # type: ignore[no-any-return]


def explain(
    q: Query,
    chosen: npt.NDArray[np.int64],
    contributions: Sequence[Mapping[str, float]],
    sources: Mapping[str, CandidateSource],
) -> list[Reason]:
    """A reason for each chosen item.

    Args:
        q: the request.
        chosen: the chosen item indices, in answer order.
        contributions: per chosen item, each source's contribution to its blended score.
        sources: the recommender's sources by name.
    """
    b = q.bundle
    history = _History(q, chosen)
    phrases = PHRASES[q.language]
    out = []
    for j, (item_idx, contrib) in enumerate(zip(chosen.tolist(), contributions, strict=True)):
        personal = {s: v for s, v in contrib.items() if sources[s].personal}
        general = {s: v for s, v in contrib.items() if not sources[s].personal}
        best = max(personal, key=lambda s: personal[s]) if personal else None
        lead = max(general, key=lambda s: general[s]) if general else "popularity"
        if best is None or history.idx.size == 0 or (general and general[lead] > personal[best]):
            reason = sources[lead].explain(q, item_idx)
            assert reason is not None, f"source {lead!r} cannot explain an item"
            out.append(reason)
            continue
        source = sources[best]
        reason = source.explain(q, item_idx)
        if reason is not None:
            out.append(reason)
            continue
        sim = None
        for kind in (source.explained_by, "text", "behavior"):
            sim = history.similarity(kind) if kind is not None else None
            if sim is not None:
                break
        col = sim[:, j] if sim is not None else np.zeros(history.idx.size)
        if source.newest_only:  # explained by the newest items only (those behind the source)
            col = col[: history.n_recent]
        top = [int(t) for t in top_n(col.astype(np.float64), 2)] or [0]
        ids = tuple(b.items.id(int(history.idx[t])) for t in top)
        lead_idx, lead_type = history.items[top[0]]
        because = phrases[BECAUSE.get(lead_type, "because_viewed")]
        text = because.format(title=b.item_table.title(lead_idx))
        reported = source.reason if source.explained_by is not None else "behavior"
        out.append(Reason("history", reported, ids, text))
    return out
