"""The one small interface every behavior model implements.

Rows of the user x item matrix are ``user_idx``; columns are ``item_idx``. A user's *history* is a
``1 x n_items`` CSR row of confidences; it lets a model score users it was not trained on
(fold-in) and users whose history changed since training.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.config import ALGORITHMS, BehaviorConfig
from recsys.errors import BundleError, InvalidInputError, NotFittedError

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@runtime_checkable
class FactorModel(Protocol):
    """A behavior model that has user vectors (matrix factorization: ALS, BPR).

    Serving asks ``isinstance(model, FactorModel)`` before it searches a vector index with a user
    vector, instead of testing a model's name; item vectors are ``BehaviorModel.item_vectors``.
    """

    def user_vector(self, user_idx: int, history: sp.csr_matrix) -> FloatArray:
        """The user's factors: trained (``user_idx >= 0``) or folded in from ``history`` (-1)."""
        ...


_FACTOR_CLASSES: dict[type, bool] = {}


def is_factor_model(model: object) -> bool:
    """``isinstance(model, FactorModel)``, remembered per class.

    A runtime protocol check inspects the object's attributes (about 10 µs); serving asks on
    every request.
    """
    kind = type(model)
    found = _FACTOR_CLASSES.get(kind)
    if found is None:
        found = _FACTOR_CLASSES[kind] = isinstance(model, FactorModel)
    return found


def top_n(scores: npt.NDArray[np.floating[Any]], n: int) -> IntArray:
    """Return the indices of the ``n`` largest finite scores, best first, ties by lower index.

    Args:
        scores: shape ``(m,)``; ``-inf``/``nan`` entries are never returned.
        n: how many to return (fewer if fewer are finite).

    Returns:
        int64 indices, shape ``(min(n, #finite),)``.

    Example:
        >>> top_n(np.array([0.1, 0.9, -np.inf, 0.9]), 3).tolist()
        [1, 3, 0]
    """
    if n < 0:
        raise InvalidInputError(f"n={n} must be >= 0")
    finite = np.flatnonzero(np.isfinite(scores))
    if finite.size == 0 or n == 0:
        return np.empty(0, dtype=np.int64)
    vals = scores[finite]
    if n < finite.size:
        part = np.argpartition(-vals, n - 1)[:n]
        # include every element tied with the n-th so the stable sort below decides ties by index
        threshold = vals[part].min()
        part = np.flatnonzero(vals >= threshold)
    else:
        part = np.arange(finite.size)
    order = np.lexsort((finite[part], -vals[part]))
    return finite[part][order][:n].astype(np.int64)


def unique_ints(values: npt.NDArray[np.integer[Any]]) -> IntArray:
    """``np.unique(values)`` as int64 (sorted, each value once), for a request's small arrays.

    By a sort and one comparison of neighbours: for the few hundred item indices of a request
    that is about 3 µs where numpy's hash-based ``unique`` takes 16.

    Example:
        >>> unique_ints(np.array([5, 1, 5, 3])).tolist()
        [1, 3, 5]
    """
    out = np.sort(np.asarray(values, dtype=np.int64))
    if out.size < 2:
        return out
    keep = np.empty(out.size, dtype=bool)
    keep[0] = True
    np.not_equal(out[1:], out[:-1], out=keep[1:])
    return out[keep]


class BehaviorModel(ABC):
    """fit / score / recommend / similar / save / load over an interaction matrix.

    Subclasses set ``name`` and implement the abstract methods. Constructors store config only;
    learned state is set in :meth:`fit` (or :meth:`load`).
    """

    name: ClassVar[str]

    def __init__(self, config: BehaviorConfig | None = None) -> None:
        if config is None:
            # the model's own algorithm; baselines such as "popularity" are none: defaults
            algorithm = self.name if self.name in ALGORITHMS else BehaviorConfig.algorithm
            config = BehaviorConfig(algorithm=algorithm)  # type: ignore[arg-type]
        self.config = config
        self._known: npt.NDArray[np.bool_] | None = None

    # -------------------------------------------------------------------------------- state
    @property
    def is_fitted(self) -> bool:
        """Whether fit (or load) has run."""
        return self._known is not None

    def _require_fitted(self) -> npt.NDArray[np.bool_]:
        if self._known is None:
            raise NotFittedError(type(self).__name__)
        return self._known

    @property
    def n_items(self) -> int:
        """Number of item columns the model was fitted on."""
        return int(self._require_fitted().size)

    @property
    def known_items(self) -> npt.NDArray[np.bool_]:
        """Mask, shape ``(n_items,)``: True for items with at least one training interaction."""
        return self._require_fitted()

    @property
    def item_vectors(self) -> FloatArray | None:
        """Item factors, shape ``(n_items, d)`` float32, or None for models without vectors."""
        return None

    # ------------------------------------------------------------------------------- fitting
    def fit(self, user_items: sp.csr_matrix, show_progress: bool = False) -> Self:
        """Learn from a user x item confidence matrix and return self.

        Args:
            user_items: CSR, shape ``(n_users, n_items)``, float32 confidences.
            show_progress: show the engine's own progress bar (for CLIs).
        """
        if not sp.issparse(user_items):
            raise InvalidInputError("user_items must be a scipy sparse matrix")
        matrix = sp.csr_matrix(user_items, dtype=np.float32)
        if matrix.shape[1] == 0:
            raise InvalidInputError("user_items has no item columns")
        self._fit(matrix, show_progress)
        self._known = np.asarray(matrix.getnnz(axis=0) > 0)
        return self

    @abstractmethod
    def _fit(self, user_items: sp.csr_matrix, show_progress: bool) -> None: ...

    # ------------------------------------------------------------------------------- scoring
    @abstractmethod
    def _scores(self, user_idx: int, history: sp.csr_matrix) -> FloatArray:
        """All item scores, shape ``(n_items,)``, for a user row (or -1) and their history."""

    def score_items(
        self, user_idx: int, history: sp.csr_matrix, item_idx: IntArray | None = None
    ) -> FloatArray:
        """Score items for a user.

        Args:
            user_idx: the user's training row, or -1 for a user the model has not seen
                (then the history alone is used).
            history: ``1 x n_items`` CSR confidences of the user's current history.
            item_idx: items to score; None scores every item.

        Returns:
            float32 scores, shape ``(len(item_idx),)`` or ``(n_items,)``; ``-inf`` for items the
            model has never seen in training (it cannot rank them).
        """
        known = self._require_fitted()
        history = self._check_history(history)
        if item_idx is not None:
            idx = np.asarray(item_idx, dtype=np.int64)
            sub = self._scores_subset(int(user_idx), history, idx).astype(np.float32, copy=False)
            return np.where(known[idx], sub, -np.inf).astype(np.float32)
        scores = self._scores(int(user_idx), history).astype(np.float32, copy=False)
        return np.where(known, scores, -np.inf).astype(np.float32)

    def _scores_subset(
        self, user_idx: int, history: sp.csr_matrix, item_idx: IntArray
    ) -> FloatArray:
        """Scores of ``item_idx`` only; models that can score a subset cheaply override this."""
        return self._scores(user_idx, history)[item_idx]

    def recommend(
        self,
        user_idx: int,
        history: sp.csr_matrix,
        n: int,
        exclude: IntArray | None = None,
    ) -> tuple[IntArray, FloatArray]:
        """Return the top ``n`` items for a user, excluding ``exclude`` (and nothing else).

        Returns:
            ``(item_idx, scores)``, best first, each of shape ``(<= n,)``.
        """
        scores = self.score_items(user_idx, history).copy()
        if exclude is not None and len(exclude):
            scores[np.asarray(exclude, dtype=np.int64)] = -np.inf
        idx = top_n(scores, n)
        return idx, scores[idx]

    def similar_items(self, item_idx: int, n: int) -> tuple[IntArray, FloatArray]:
        """Return up to ``n`` items most similar to ``item_idx`` (never the item itself).

        Returns:
            ``(item_idx, similarity)``, best first; empty if the item was not seen in training.
        """
        known = self._require_fitted()
        if not 0 <= item_idx < known.size:
            raise InvalidInputError(f"item_idx {item_idx} out of range [0, {known.size})")
        if not known[item_idx]:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        sims = self.item_similarities(np.asarray([item_idx]))[0].copy()
        sims[item_idx] = -np.inf
        sims[~known] = -np.inf
        idx = top_n(sims, n)
        return idx, sims[idx].astype(np.float32)

    @abstractmethod
    def item_similarities(self, item_idx: IntArray) -> FloatArray:
        """Similarity of the given items to every item, shape ``(len(item_idx), n_items)``."""

    def _check_history(self, history: sp.csr_matrix) -> sp.csr_matrix:
        n_items = self.n_items
        if not sp.issparse(history) or history.shape != (1, n_items):
            shape = getattr(history, "shape", None)
            raise InvalidInputError(f"history must be a 1 x {n_items} sparse row, got {shape}")
        if isinstance(history, sp.csr_matrix) and history.dtype == np.float32:
            return history  # a history row (recsys.serving.query.history_row) is read as it is
        return sp.csr_matrix(history, dtype=np.float32)

    # ---------------------------------------------------------------------------- persisting
    def save(self, folder: str | Path) -> None:
        """Write the learned state to ``folder`` (``.npz`` + ``model.json``, no pickle)."""
        known = self._require_fitted()
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        arrays = self._state()
        np.savez(path / "model.npz", known=known, **arrays)  # type: ignore[arg-type]
        meta = {"name": self.name, "config": {**self.config.__dict__}}
        (path / "model.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> BehaviorModel:
        """Load a model written by :meth:`save` (dispatching on the stored name)."""
        # local import: the registry lives in the package
        from recsys.models import MODELS, PopularityModel

        known: list[type[BehaviorModel]] = [*MODELS.values(), PopularityModel]
        classes = {c.name: c for c in known}
        path = Path(folder)
        try:
            meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
            config = BehaviorConfig(**meta["config"])
            model = classes[meta["name"]](config)  # the stored name, not config.algorithm
            with np.load(path / "model.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            model._known = arrays.pop("known").astype(bool)
            model._restore(arrays)
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise BundleError(f"cannot load behavior model from {str(path)!r}: {exc}") from exc
        return model

    @abstractmethod
    def _state(self) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def _restore(self, arrays: dict[str, np.ndarray]) -> None: ...
