"""``ALSModel.from_factors``: a model from another engine's factors, folding in by its objective."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.config import BehaviorConfig
from recsys.errors import InvalidInputError
from recsys.models import ALSModel, BehaviorModel

CONFIG = BehaviorConfig(factors=4, regularization=0.5, alpha=2.0)


def _model(ridge: float | None, seed: int = 0) -> ALSModel:
    rng = np.random.default_rng(seed)
    user = rng.normal(size=(5, 4)).astype(np.float32)
    item = rng.normal(size=(9, 4)).astype(np.float32)
    known = np.ones(9, dtype=bool)
    return ALSModel.from_factors(CONFIG, user, item, known, ridge_per_item=ridge)


def _solve(item: np.ndarray, cols: list[int], weights: list[float], ridge: float) -> np.ndarray:
    """The normal equations written out: (YᵀY + ridge·I + Σ (c-1) y yᵀ) x = Σ c y."""
    y = item.astype(np.float64)
    a = y.T @ y + ridge * np.eye(y.shape[1])
    b = np.zeros(y.shape[1])
    for col, w in zip(cols, weights, strict=True):
        c = 1.0 + CONFIG.alpha * w
        a += (c - 1.0) * np.outer(y[col], y[col])
        b += c * y[col]
    return np.linalg.solve(a, b)


ROW = sp.csr_matrix((np.asarray([1.0, 3.0, 0.5], np.float32), ([0, 0, 0], [1, 4, 7])), shape=(1, 9))


def test_spark_fold_in_scales_the_ridge_by_the_rows_items() -> None:
    model = _model(ridge=0.01)
    expected = _solve(model._item, [1, 4, 7], [1.0, 3.0, 0.5], ridge=0.01 * 3)
    np.testing.assert_allclose(model.user_vector(-1, ROW), expected, rtol=1e-5)


def test_local_fold_in_keeps_a_fixed_ridge() -> None:
    model = _model(ridge=None)
    expected = _solve(model._item, [1, 4, 7], [1.0, 3.0, 0.5], ridge=CONFIG.regularization)
    np.testing.assert_allclose(model.user_vector(-1, ROW), expected, rtol=1e-5)
    # and the two objectives do give different vectors for the same row
    assert not np.allclose(model.user_vector(-1, ROW), _model(ridge=0.01).user_vector(-1, ROW))


def test_trained_rows_come_back_as_given() -> None:
    model = _model(ridge=0.01)
    np.testing.assert_array_equal(model.user_vector(2, ROW), model._user[2])
    assert model.is_fitted and model.known_items.all()


def test_the_objective_is_saved_with_the_factors(tmp_path: Path) -> None:
    for ridge in (0.01, None):
        model = _model(ridge)
        model.save(tmp_path / str(ridge))
        loaded = BehaviorModel.load(tmp_path / str(ridge))
        assert isinstance(loaded, ALSModel) and loaded.ridge_per_item == ridge
        np.testing.assert_array_equal(loaded.user_vector(-1, ROW), model.user_vector(-1, ROW))


@pytest.mark.parametrize(
    ("user", "item", "known", "match"),
    [
        ((5, 4), (9, 3), 9, "width"),
        ((5, 4), (9, 4), 8, "known_items"),
        ((20,), (9, 4), 9, "2-d"),
    ],
)
def test_bad_factors_are_refused(user: tuple, item: tuple, known: int, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        ALSModel.from_factors(
            CONFIG,
            np.zeros(user, np.float32),
            np.zeros(item, np.float32),
            np.ones(known, dtype=bool),
        )
