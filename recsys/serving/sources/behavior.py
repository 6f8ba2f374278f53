"""The behavior model as two sources: ``behavior`` (whole history) and ``recent`` (newest events).

Below the HNSW threshold each scores every item exactly and brings its own top ``k``. Above it
(large catalogs) one approximate search serves both, queried with
``behavior_weight · u/|u| + recent_weight · r/|r|`` (long-term and recent user vectors); each is
then scored exactly on the candidates. On ML-100K with HNSW forced, one combined search and two
separate ones gave the same validation recall@20 (0.2484 vs 0.2486).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.models.base import FactorModel, is_factor_model, top_n
from recsys.serving.query import history_row
from recsys.serving.sources import CandidateSource

if TYPE_CHECKING:
    from recsys.serving.query import Query


def unit(v: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``v`` scaled to length 1 (a zero vector stays zero)."""
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def _use_index(q: Query) -> bool:
    """Whether candidates come from the approximate behavior index (large catalogs)."""
    b = q.bundle
    return (
        b.behavior_index is not None
        and len(b.items) >= b.config.index.hnsw_threshold
        and is_factor_model(b.behavior)
        and b.behavior.item_vectors is not None
    )


def _recent_row(q: Query) -> sp.csr_matrix | None:
    """The newest ``recent_events`` events as a history row (None: the recent source is off)."""
    if "recent_row" not in q.memo:
        row = None
        if q.hybrid and q.config.recent_weight > 0 and q.bundle.behavior.name != "popularity":
            row = history_row(q.bundle, q.history[: q.config.recent_events])
            row = row if row.nnz else None
        q.memo["recent_row"] = row
    return q.memo["recent_row"]


def _user_vector(q: Query, user_idx: int, row: sp.csr_matrix) -> npt.NDArray[np.float32]:
    model = q.bundle.behavior
    assert is_factor_model(model)
    return cast(FactorModel, model).user_vector(user_idx, row)


def factor_scores(
    q: Query, vector: npt.NDArray[np.float32], cand: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """Dot products of ``cand``'s item factors with ``vector`` (``-inf`` for unknown items).

    What ``score_items`` gives for a factor model, restricted to ``cand`` without its checks
    (items appended after training have no factors and get ``-inf`` too).
    """
    model = q.bundle.behavior
    vectors = model.item_vectors
    assert vectors is not None
    rows = q.memo.get("factor_rows")  # behavior and recent score the same candidates
    if rows is None or rows[0] is not cand:
        inside = None if int(cand.max(initial=-1)) < vectors.shape[0] else cand < vectors.shape[0]
        picked = vectors[cand] if inside is None else vectors[cand[inside]]
        rows = (cand, inside, picked, model.known_items[cand])
        q.memo["factor_rows"] = rows
    _, inside, picked, known = rows
    if inside is None:
        out = picked @ vector
    else:
        out = np.full(cand.size, -np.inf, dtype=np.float32)
        out[inside] = picked @ vector
    return np.where(known, out, -np.inf).astype(np.float32)


def _masked_top(q: Query, scores: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    s = scores.copy()
    s[~q.allowed] = -np.inf
    return top_n(s, q.k)


class BehaviorSource(CandidateSource):
    """The behavior model's scores for the user (trained vector, or folded in from history)."""

    name = "behavior"
    reason = "behavior"
    reason_code = 0
    position = 10
    explained_by = "behavior"
    scans_catalog = True

    def weight(self, q: Query) -> float:
        """``behavior_weight`` (hybrid) or ``content_behavior_weight`` (content)."""
        if not q.personal:
            return 0.0
        return self.config.behavior_weight if q.hybrid else self.config.content_behavior_weight

    def gather(self, q: Query) -> npt.NDArray[np.int64] | None:
        """The top ``k`` allowed items (exact), or one index search for this and ``recent``."""
        if not q.personal:
            return None
        b, c = q.bundle, q.config
        if _use_index(q):
            assert b.behavior_index is not None
            vector = _user_vector(q, q.user_idx, q.hist_row)
            query = vector
            recent = _recent_row(q)
            if recent is not None:  # one search for both: the weighted unit vectors
                recent_vec = _user_vector(q, -1, recent)
                q.memo["recent_vec"] = recent_vec
                query = c.behavior_weight * unit(vector) + c.recent_weight * unit(recent_vec)
            return b.behavior_index.search(query, q.k + len(q.exclude))[0]
        scores = b.behavior.score_items(q.user_idx, q.hist_row)
        q.memo["behavior_all"] = scores
        return _masked_top(q, scores)

    def prepare(self, q: Query) -> bool:
        """Nothing to prepare: :meth:`score` scores the candidates it is given."""
        return q.personal

    def score(self, q: Query, cand: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """The model's scores of ``cand``."""
        every = q.memo.get("behavior_all")
        if every is not None:
            return every[cand]  # type: ignore[no-any-return]
        if q.user_idx >= 0 and q.bundle.behavior.item_vectors is not None:
            return factor_scores(q, _user_vector(q, q.user_idx, q.hist_row), cand)
        return q.bundle.behavior.score_items(q.user_idx, q.hist_row, cand)

    def typical_spreads(self) -> list[float]:
        """Over up to 64 seeded trained users, the spread of their scores over known items."""
        b = self.bundle
        if not len(b.users):
            return []
        rng = np.random.default_rng(0)
        known = b.behavior.known_items
        spreads = []
        for u in rng.choice(len(b.users), size=min(64, len(b.users)), replace=False).tolist():
            s = b.behavior.score_items(int(u), b.user_items[int(u)])[known]
            spreads.append(float(np.std(s[np.isfinite(s)])) if s.size else 0.0)
        return spreads


class RecentSource(CandidateSource):
    """The behavior model folded in from the user's newest ``recent_events`` events only.

    Next to the trained long-term taste it says what the user is doing now; only for the
    ``hybrid`` strategy (the content strategy's behavior vector is already a fold-in of a short
    history), and not for the popularity model.
    """

    name = "recent"
    reason = "behavior"
    reason_code = 0
    position = 20
    explained_by = "behavior"
    newest_only = True
    scans_catalog = True

    def weight(self, q: Query) -> float:
        """``recent_weight``."""
        return self.config.recent_weight

    def prepare(self, q: Query) -> bool:
        """The fold-in of the newest events (no candidates)."""
        recent = _recent_row(q)
        if recent is None:
            return False
        if q.bundle.behavior.item_vectors is None:  # no factors: score every item once
            q.memo["recent_all"] = q.bundle.behavior.score_items(-1, recent)
        elif "recent_vec" not in q.memo:
            q.memo["recent_vec"] = _user_vector(q, -1, recent)
        return True

    def gather(self, q: Query) -> npt.NDArray[np.int64] | None:
        """Its own top ``k`` (exact); none on the index path, where ``behavior``'s search serves."""
        recent = _recent_row(q)
        if recent is None:
            return None
        if _use_index(q):
            if "recent_vec" not in q.memo:
                q.memo["recent_vec"] = _user_vector(q, -1, recent)
            return np.empty(0, np.int64)
        scores = q.bundle.behavior.score_items(-1, recent)
        q.memo["recent_all"] = scores
        return _masked_top(q, scores)

    def score(self, q: Query, cand: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """The fold-in's scores of ``cand`` (a factor model's dot products on the index path)."""
        every = q.memo.get("recent_all")
        if every is not None:
            return every[cand]  # type: ignore[no-any-return]
        return factor_scores(q, q.memo["recent_vec"], cand)
