"""Adapters around the ``implicit`` library: ALS, BPR and item-kNN behind :class:`BehaviorModel`.

This is the only module that speaks implicit's vocabulary (``userid``, ``N``, ``user_items``).
BLAS is pinned to one thread while implicit runs: with a multi-threaded BLAS, implicit's own threads
oversubscribe the cores and training runs about ten times slower.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.nearest_neighbours import CosineRecommender
from implicit.utils import ParameterWarning
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from recsys.config import BehaviorConfig
from recsys.errors import InvalidInputError
from recsys.models.base import BehaviorModel, FloatArray, IntArray

log = logging.getLogger(__name__)

# a fold-in of at most this many items solves through the Woodbury identity (ALSModel._fold_in_few)
FEW_ITEMS = 32


def _normalize_rows(x: npt.NDArray[np.floating[Any]]) -> FloatArray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


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
            row: FloatArray = self._user[user_idx]
            return row
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
        return np.asarray(unit[np.asarray(item_idx, dtype=np.int64)] @ unit.T, dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self._user, "item_factors": self._item}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        self._user = np.ascontiguousarray(arrays["user_factors"], dtype=np.float32)
        self._item = np.ascontiguousarray(arrays["item_factors"], dtype=np.float32)
        self._item_unit = None


class ALSModel(_FactorModel):
    """Implicit alternating least squares (conjugate gradient), Hu, Koren & Volinsky 2008.

    The objective, over every (user, item) pair, is::

        min_{X, Y}  Σ_u Σ_i c_ui (p_ui - x_u·y_i)² + λ (Σ_u |x_u|² + Σ_i |y_i|²)

    with ``p_ui = 1, c_ui = 1 + alpha·w_ui`` where the matrix holds a weight ``w_ui > 0`` and
    ``p_ui = 0, c_ui = 1`` everywhere else (``λ`` = ``regularization``). Spark's
    ``ALS(implicitPrefs=True)`` uses the same confidence; it also scales ``λ`` by the number of a
    user's observed items, which this model does not.

    How implicit is fed that objective (implicit 0.7, ``implicit/cpu/als.py`` and ``_als``):
    implicit multiplies a stored value ``v`` by its own ``alpha_i`` and uses the product as the
    *whole* confidence: its solvers start from ``YᵀY + λI`` (confidence 1 for every item) and add,
    per stored item, ``(alpha_i·v - 1)·y_i y_iᵀ`` to the matrix and ``alpha_i·v·y_i`` to the
    right-hand side (``p = 1`` when ``v > 0``; an explicit 0 gets confidence 0, a negative ``v``
    means ``p = 0``). So it gets ``alpha_i = 1`` and ``v = 1 + alpha·w``, which makes its system
    ``(YᵀY + Σ_{i observed} alpha·w_ui·y_i y_iᵀ + λI) x_u = Σ_{i observed} (1 + alpha·w_ui)·y_i``,
    i.e. ``(YᵀC_uY + λI) x_u = YᵀC_u p_u`` with the confidences above; see :meth:`confidence`.
    Passing the raw weights with ``alpha_i = alpha`` instead (what this adapter did before its
    saved state recorded ``confidence_offset``) trains ``c_ui = alpha·w_ui``: a view of weight 0.5
    at alpha 1 then weighs 0.5, less than an item the user never touched.

    Fold-in (users not trained on, and the hybrid's ``recent`` source) solves the same system
    exactly against the trained item factors, as implicit's Cholesky ``recalculate_user`` does,
    in numpy (float64): ``YᵀY + λI`` is computed once per model, so a fold-in costs the rows of
    the user's items only (about 30 us instead of 150-200 us through implicit's per-call
    conversions, on the request path of every browsing shopper).
    """

    name = "als"
    # c = confidence_offset + alpha·w. 1: the objective above. 0: implicit's raw ``alpha·w``,
    # kept only to fold in consistently with a bundle trained that way (see ``_restore``) and
    # for the before/after benchmark (benchmarks/als_objective.py).
    confidence_offset: float = 1.0
    # Spark's ALS-WR (``recsys.spark.als``): the ridge is ``ridge · n`` for a row of ``n``
    # observed items instead of ``regularization``; None: this model's own objective above.
    ridge_per_item: float | None = None
    _gram: npt.NDArray[np.float64] | None = None  # YᵀY + λI of the trained factors (fold-in)
    _gram_inv: npt.NDArray[np.float64] | None = None  # its inverse (fold-in of a few items)

    @classmethod
    def from_factors(
        cls,
        config: BehaviorConfig,
        user_factors: npt.NDArray[np.float32],
        item_factors: npt.NDArray[np.float32],
        known_items: npt.NDArray[np.bool_],
        ridge_per_item: float | None = None,
    ) -> ALSModel:
        """A fitted model from factors another engine trained (``recsys.spark.als``).

        Args:
            config: the behavior config the factors were trained with (``alpha``: confidence).
            user_factors: ``(n_users, d)`` float32.
            item_factors: ``(n_items, d)`` float32.
            known_items: items with at least one training interaction.
            ridge_per_item: Spark's ``regParam``: fold-in then solves with ``regParam · n``
                for a row of ``n`` items, as Spark's ALS-WR trained every user.

        Raises:
            InvalidInputError: if the shapes disagree.
        """
        if user_factors.ndim != 2 or item_factors.ndim != 2:
            raise InvalidInputError("factors must be 2-d arrays")
        if user_factors.shape[1] != item_factors.shape[1]:
            raise InvalidInputError(
                f"user and item factors differ in width: {user_factors.shape[1]} vs "
                f"{item_factors.shape[1]}"
            )
        if known_items.shape != (item_factors.shape[0],):
            raise InvalidInputError("known_items must have one entry per item factor row")
        model = cls(config)
        model._user = np.ascontiguousarray(user_factors, dtype=np.float32)
        model._item = np.ascontiguousarray(item_factors, dtype=np.float32)
        model._known = np.asarray(known_items, dtype=bool)
        model.ridge_per_item = ridge_per_item
        return model

    def confidence(self, user_items: sp.csr_matrix) -> sp.csr_matrix:
        """The confidence matrix handed to implicit: ``offset + alpha·w`` on each weight ``w > 0``.

        Args:
            user_items: CSR, shape ``(n_users, n_items)``, non-negative weights (a history row is
                ``1 x n_items``).

        Returns:
            float32 CSR of the same shape holding only the entries with ``w > 0`` (an entry of
            weight 0 is unobserved: ``p = 0, c = 1``, which implicit assumes for absent entries),
            each ``confidence_offset + alpha·w``.

        Raises:
            InvalidInputError: if a weight is negative (implicit would read it as a dislike).

        Example:
            >>> m = ALSModel(BehaviorConfig(alpha=2.0))
            >>> m.confidence(sp.csr_matrix(np.array([[0.5, 0.0, 3.0]]))).toarray()
            array([[2., 0., 7.]], dtype=float32)
        """
        matrix = sp.csr_matrix(user_items, dtype=np.float32, copy=True)
        if matrix.nnz and float(matrix.data.min()) < 0:
            raise InvalidInputError(
                f"ALS weights must be >= 0, got {float(matrix.data.min())!r}: "
                "implicit would read a negative weight as a dislike"
            )
        matrix.eliminate_zeros()
        offset, alpha = np.float32(self.confidence_offset), np.float32(self.config.alpha)
        matrix.data = (offset + alpha * matrix.data).astype(np.float32)
        return matrix

    def _engine(self) -> AlternatingLeastSquares:
        c = self.config
        return AlternatingLeastSquares(
            factors=c.factors,
            regularization=c.regularization,
            alpha=1.0,  # the confidence is computed by self.confidence, not by implicit
            iterations=c.iterations,
            random_state=c.seed,
            dtype=np.float32,
            num_threads=0,
        )

    def _fit(self, user_items: sp.csr_matrix, show_progress: bool) -> None:
        confidence = self.confidence(user_items)
        with threadpool_limits(1, "blas"):
            engine = self._engine()
            engine.fit(confidence, show_progress=show_progress)
        self._user = np.ascontiguousarray(engine.user_factors, dtype=np.float32)
        self._item = np.ascontiguousarray(engine.item_factors, dtype=np.float32)
        self._item_unit = None
        self._gram = self._gram_inv = None

    def _fold_in(self, history: sp.csr_matrix) -> FloatArray:
        """Solve ``(YᵀY + λI + Σ (c_i - 1) y_i y_iᵀ) x = Σ c_i y_i`` over the row's items."""
        weights = np.asarray(history.data, dtype=np.float32)
        if weights.size and float(weights.min()) < 0:
            self.confidence(history)  # raises the error for negative weights
        keep = weights > 0
        if not keep.any():  # implicit's answer for an empty row
            return np.zeros(self._item.shape[1], dtype=np.float32)
        gram = self._gram_matrix()
        if self.ridge_per_item is not None:  # Spark's ALS-WR: regParam · observed items
            n = float(np.count_nonzero(keep))
            gram = gram + (self.ridge_per_item * n) * np.eye(gram.shape[0])
        c = np.float32(self.confidence_offset) + np.float32(self.config.alpha) * weights[keep]
        c = c.astype(np.float64)
        y = self._item[history.indices[keep]].astype(np.float64)
        if self.ridge_per_item is None and c.size <= FEW_ITEMS:
            x = self._fold_in_few(y, c)
            if x is not None:
                return x
        a = gram + (y.T * (c - 1.0)) @ y
        x = np.linalg.solve(a, y.T @ c)
        return x.astype(np.float32)

    def _gram_matrix(self) -> npt.NDArray[np.float64]:
        """``YᵀY + λI`` of the fold-in (``λ`` 0 under Spark's per-item ridge), computed once."""
        gram = self._gram
        if gram is None:
            y = self._item.astype(np.float64)
            ridge = self.config.regularization if self.ridge_per_item is None else 0.0
            gram = self._gram = y.T @ y + ridge * np.eye(y.shape[1])
        return gram

    def gram_inverse(self) -> npt.NDArray[np.float64]:
        """``(YᵀY + λI)⁻¹``, which the fold-in of a few items uses, inverted once per model.

        :meth:`_fold_in_few` uses it, and compiled callers (``recsys.serving.pool_kernel``)
        read it from here.
        """
        self._require_fitted()
        inv = self._gram_inv
        if inv is None:
            inv = self._gram_inv = np.asarray(np.linalg.inv(self._gram_matrix()), dtype=np.float64)
        return inv

    def _fold_in_few(
        self,
        y: npt.NDArray[np.float64],
        c: npt.NDArray[np.floating[Any]],
    ) -> FloatArray | None:
        """:meth:`_fold_in`'s solution for a row of ``k`` items, through ``k x k`` algebra.

        With ``G = YᵀY + λI`` inverted once per model, ``P = G⁻¹yᵀ`` and ``M = yP`` (``k x k``),
        the Woodbury identity gives ``(G + yᵀDy)⁻¹yᵀc = P (c - (I + DM)⁻¹DMc)`` for
        ``D = diag(c - 1)``: the same vector as solving the ``d x d`` system (to float64
        rounding), in about half the time for the ten newest events of the ``recent`` source.
        None when ``I + DM`` is singular (the caller solves the full system).
        """
        inv = self.gram_inverse()
        p = inv @ y.T
        m = y @ p
        d = c - 1.0
        a = m * d[:, None]
        a[np.diag_indices_from(a)] += 1.0
        *_, w, info = lapack.dgesv(a, d * (m @ c))
        if info != 0:
            return None
        return np.asarray(p @ (c - w), dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        extra = {}
        if self.ridge_per_item is not None:
            extra["ridge_per_item"] = np.asarray(self.ridge_per_item, dtype=np.float64)
        return {
            **super()._state(),
            "confidence_offset": np.asarray(self.confidence_offset, dtype=np.float32),
            **extra,
        }

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        super()._restore(arrays)
        # a bundle saved before the offset was recorded was trained on c = alpha·w: fold in alike
        self.confidence_offset = float(arrays.get("confidence_offset", 0.0))
        ridge = arrays.get("ridge_per_item")
        self.ridge_per_item = None if ridge is None else float(ridge)
        self._gram = self._gram_inv = None


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
