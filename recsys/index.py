"""FAISS adapter: inner-product search over item vectors, exact below a size, HNSW above.

Positions in the index are ``item_idx`` values (an ``IndexIDMap`` keeps them when only part of the
catalog is indexed, e.g. behavior vectors exist only for items with events).
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from recsys.config import IndexConfig
from recsys.errors import BundleError, InvalidInputError, NotFittedError


class VectorIndex:
    """Maximum inner-product search over float32 vectors keyed by ``item_idx``.

    For cosine similarity, add unit-norm vectors. Flat (exact) below ``hnsw_threshold`` vectors,
    HNSW above.

    Example:
        >>> index = VectorIndex().build(np.eye(3, dtype=np.float32))
        >>> index.search(np.array([0, 1, 0], dtype=np.float32), 1)
        (array([1]), array([1.], dtype=float32))
    """

    def __init__(self, config: IndexConfig | None = None) -> None:
        self.config = config or IndexConfig()
        self._index: faiss.Index | None = None

    @property
    def kind(self) -> str:
        """``flat`` or ``hnsw`` (after build/load)."""
        index = self._require()
        inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else index
        return "hnsw" if isinstance(inner, faiss.IndexHNSW) else "flat"

    @property
    def ntotal(self) -> int:
        """Number of indexed vectors."""
        return int(self._require().ntotal)

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self._require().d)

    def _require(self) -> faiss.Index:
        if self._index is None:
            raise NotFittedError("VectorIndex")
        return self._index

    def build(
        self, vectors: npt.NDArray[np.float32], ids: npt.NDArray[np.int64] | None = None
    ) -> VectorIndex:
        """Index ``vectors`` (shape ``(m, d)``) under ``ids`` (default ``0..m-1``); return self."""
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] == 0:
            raise InvalidInputError(f"vectors must have shape (m, d>0), got {x.shape}")
        d = x.shape[1]
        inner: faiss.Index
        if x.shape[0] >= self.config.hnsw_threshold:
            inner = faiss.IndexHNSWFlat(d, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = self.config.ef_construction
            inner.hnsw.efSearch = self.config.ef_search
        else:
            inner = faiss.IndexFlatIP(d)
        index = faiss.IndexIDMap(inner)
        keys = np.arange(x.shape[0], dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
        if keys.shape != (x.shape[0],):
            raise InvalidInputError(f"ids must have shape ({x.shape[0]},), got {keys.shape}")
        if x.shape[0]:
            index.add_with_ids(x, keys)
        self._index = index
        return self

    def search(
        self, query: npt.NDArray[np.float32], k: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Return up to ``k`` ``(item_idx, score)`` pairs for one query vector, best first."""
        index = self._require()
        q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
        if q.shape[1] != index.d:
            raise InvalidInputError(f"query has dimension {q.shape[1]}, index has {index.d}")
        k = min(int(k), index.ntotal)
        if k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        scores, ids = index.search(q, k)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)

    def save(self, path: str | Path) -> None:
        """Write the index with FAISS's own format."""
        faiss.write_index(self._require(), str(path))

    @classmethod
    def load(cls, path: str | Path, config: IndexConfig | None = None) -> VectorIndex:
        """Read an index written by :meth:`save`."""
        obj = cls(config)
        try:
            obj._index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise BundleError(f"cannot read FAISS index {str(path)!r}: {exc}") from exc
        inner = faiss.downcast_index(obj._index.index)  # type: ignore[attr-defined]
        if isinstance(inner, faiss.IndexHNSW):
            inner.hnsw.efSearch = obj.config.ef_search
        return obj
