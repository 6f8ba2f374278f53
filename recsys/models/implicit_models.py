"""Adapters around the ``implicit`` library: ALS, BPR and item-kNN behind :class:`BehaviorModel`.

This is the only module that speaks implicit's vocabulary (``userid``, ``N``, ``user_items``).
BLAS is pinned to one thread while implicit runs: with a multi-threaded BLAS, implicit's own threads
oversubscribe the cores and training runs about ten times slower.
"""

from __future__ import annotations

import logging
import warnings
from contextlib import AbstractContextManager

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.nearest_neighbours import CosineRecommender
from implicit.utils import ParameterWarning
from threadpoolctl import ThreadpoolController, threadpool_limits

from recsys.models.base import BehaviorModel, FloatArray, IntArray

log = logging.getLogger(__name__)

_controller: ThreadpoolController | None = None


def _one_blas_thread() -> AbstractContextManager[object]:
    """A context that pins BLAS to one thread, cheap enough to enter on every request.

    ``threadpool_limits(...)`` re-scans the process's loaded libraries (``/proc/self/maps``) on
    every call: about 1.3 ms, 90% of an ALS fold-in. A controller built once keeps that list;
    entering its ``limit`` only gets and sets thread counts.
    """
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


def _normalize_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


class _FactorModel(BehaviorModel):
    """Shared logic of latent-factor models: scores are user · item dot products."""

    _user: np.ndarray
    _item: np.ndarray
    _item_unit: np.ndarray | None = None

    @property
    def item_vectors(self) -> FloatArray | None:
        self._require_fitted()
        return self._item

    def user_vector(self, user_idx: int, history: sp.csr_matrix) -> FloatArray:
        """The user's factor: trained row when ``user_idx >= 0``, else folded in from history."""
        self._require_fitted()
        if 0 <= user_idx < self._user.shape[0]:
            return self._user[user_idx]
        return self._fold_in(self._check_history(history))

    def _fold_in(self, history: sp.csr_matrix) -> FloatArray:
        raise NotImplementedError

    def _scores(self, user_idx: int, history: sp.csr_matrix) -> FloatArray:
        if history.nnz == 0 and not 0 <= user_idx < self._user.shape[0]:
            return np.zeros(self._item.shape[0], dtype=np.float32)
        return (self._item @ self.user_vector(user_idx, history)).astype(np.float32)

    def _scores_subset(
        self, user_idx: int, history: sp.csr_matrix, item_idx: IntArray
    ) -> FloatArray:
        if history.nnz == 0 and not 0 <= user_idx < self._user.shape[0]:
            return np.zeros(item_idx.size, dtype=np.float32)
        return (self._item[item_idx] @ self.user_vector(user_idx, history)).astype(np.float32)

    def item_similarities(self, item_idx: IntArray) -> FloatArray:
        self._require_fitted()
        if self._item_unit is None:
            self._item_unit = _normalize_rows(self._item)
        unit = self._item_unit
        return (unit[np.asarray(item_idx, dtype=np.int64)] @ unit.T).astype(np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self._user, "item_factors": self._item}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self._user = np.ascontiguousarray(arrays["user_factors"], dtype=np.float32)
        self._item = np.ascontiguousarray(arrays["item_factors"], dtype=np.float32)
        self._item_unit = None


class ALSModel(_FactorModel):
    """Implicit alternating least squares (conjugate gradient), Hu, Koren & Volinsky 2008.

    Confidence of an interaction is ``1 + alpha * weight``.
    """

    name = "als"

    def _engine(self) -> AlternatingLeastSquares:
        c = self.config
        return AlternatingLeastSquares(
            factors=c.factors,
            regularization=c.regularization,
            alpha=c.alpha,
            iterations=c.iterations,
            random_state=c.seed,
            dtype=np.float32,
            num_threads=0,
        )

    def _fit(self, user_items: sp.csr_matrix, show_progress: bool) -> None:
        with threadpool_limits(1, "blas"):
            engine = self._engine()
            engine.fit(user_items, show_progress=show_progress)
        self._user = np.ascontiguousarray(engine.user_factors, dtype=np.float32)
        self._item = np.ascontiguousarray(engine.item_factors, dtype=np.float32)
        self._item_unit = None
        self._engine_cache = engine

    def _fold_in(self, history: sp.csr_matrix) -> FloatArray:
        engine = getattr(self, "_engine_cache", None)
        with _one_blas_thread():
            if engine is None:
                engine = self._engine()
                engine.user_factors = self._user
                engine.item_factors = self._item
                self._engine_cache = engine
            with warnings.catch_warnings():
                # implicit re-slices the row and warns about its own COO -> CSR conversion
                warnings.simplefilter("ignore", category=ParameterWarning)
                vec = engine.recalculate_user(0, history)
        return np.asarray(vec, dtype=np.float32).ravel()

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        super()._restore(arrays)
        self._engine_cache = None


class BPRModel(_FactorModel):
    """Bayesian personalized ranking (Rendle et al. 2009) from implicit; binary positives.

    implicit appends an item-bias column to the item factors and a constant 1 to user factors.
    """

    name = "bpr"

    def _fit(self, user_items: sp.csr_matrix, show_progress: bool) -> None:
        c = self.config
        with threadpool_limits(1, "blas"):
            engine = BayesianPersonalizedRanking(
                factors=c.factors,
                learning_rate=c.learning_rate,
                regularization=c.regularization,
                iterations=c.iterations,
                random_state=c.seed,
                dtype=np.float32,
                num_threads=0,
            )
            engine.fit(user_items, show_progress=show_progress)
        self._user = np.ascontiguousarray(engine.user_factors, dtype=np.float32)
        self._item = np.ascontiguousarray(engine.item_factors, dtype=np.float32)
        self._item_unit = None

    def _fold_in(self, history: sp.csr_matrix) -> FloatArray:
        vec = np.zeros(self._item.shape[1], dtype=np.float32)
        if history.nnz:
            weights = history.data / history.data.sum()
            vec = (weights @ self._item[history.indices]).astype(np.float32)
        vec[-1] = 1.0  # the bias column
        return vec


class ItemKNNModel(BehaviorModel):
    """Item-item cosine nearest neighbours from implicit (K neighbours kept per item).

    A user's score for item i is ``Σ_j history_j · sim(j, i)``.
    """

    name = "itemknn"
    _sim: sp.csr_matrix

    def _fit(self, user_items: sp.csr_matrix, show_progress: bool) -> None:
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            # implicit transposes the normalized matrix itself and then warns about its own
            # conversion back to CSR; there is nothing a caller could change
            warnings.simplefilter("ignore", category=ParameterWarning)
            engine = CosineRecommender(K=self.config.neighbors, num_threads=0)
            engine.fit(user_items, show_progress=show_progress)
        self._sim = sp.csr_matrix(engine.similarity, dtype=np.float32)

    def _scores(self, user_idx: int, history: sp.csr_matrix) -> FloatArray:
        return np.asarray((history @ self._sim).todense(), dtype=np.float32).ravel()

    def item_similarities(self, item_idx: IntArray) -> FloatArray:
        """Rows of the kept-neighbour cosine matrix, shape ``(len(item_idx), n_items)``."""
        self._require_fitted()
        rows = self._sim[np.asarray(item_idx, dtype=np.int64)]
        return np.asarray(rows.todense(), dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        s = self._sim
        return {
            "sim_data": s.data,
            "sim_indices": s.indices,
            "sim_indptr": s.indptr,
            "sim_shape": np.asarray(s.shape, dtype=np.int64),
        }

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        shape = tuple(int(x) for x in arrays["sim_shape"])
        self._sim = sp.csr_matrix(
            (arrays["sim_data"], arrays["sim_indices"], arrays["sim_indptr"]), shape=shape
        )


class PopularityModel(BehaviorModel):
    """Non-personalized baseline: score = log(1 + number of users who interacted)."""

    name = "popularity"
    _pop: np.ndarray

    def _fit(self, user_items: sp.csr_matrix, show_progress: bool) -> None:
        self._pop = np.log1p(user_items.getnnz(axis=0)).astype(np.float32)

    def _scores(self, user_idx: int, history: sp.csr_matrix) -> FloatArray:
        return self._pop

    def item_similarities(self, item_idx: IntArray) -> FloatArray:
        """Popularity repeated per row (not a similarity), shape ``(len(item_idx), n_items)``."""
        self._require_fitted()
        return np.tile(self._pop, (len(item_idx), 1))

    def _state(self) -> dict[str, np.ndarray]:
        return {"popularity": self._pop}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self._pop = arrays["popularity"].astype(np.float32)
