"""Behavior models: one contract suite that every model inherits, on data with a known answer.

Checkerboard: 8 users x 9 items. Users 0-3 interacted with items 0-3 except item ``u % 4``; users
4-7 with items 4-7 except ``4 + u % 4``; item 8 has no interactions. So the right recommendation
for user ``u`` is exactly the one item of its group it lacks, and item 8 can never be ranked.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import implicit.utils
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_info, threadpool_limits

from recsys.config import BehaviorConfig
from recsys.errors import BundleError, ConfigError, InvalidInputError, NotFittedError
from recsys.models import (
    MODELS,
    ALSModel,
    BehaviorModel,
    BPRModel,
    ItemKNNModel,
    PopularityModel,
    make_model,
    top_n,
)
from recsys.models.base import FactorModel, is_factor_model, unique_ints

N_USERS, N_ITEMS, COLD_ITEM = 8, 9, 8


def missing_item(user_idx: int) -> int:
    """The one item of the user's group the user has not interacted with."""
    return (0 if user_idx < 4 else 4) + user_idx % 4


def group(item_idx: int) -> set[int]:
    """The other items of the item's group."""
    base = 0 if item_idx < 4 else 4
    return set(range(base, base + 4)) - {item_idx}


@pytest.fixture(scope="module")
def checkerboard() -> sp.csr_matrix:
    rows, cols = [], []
    for u in range(N_USERS):
        base = 0 if u < 4 else 4
        for i in range(base, base + 4):
            if i != missing_item(u):
                rows.append(u)
                cols.append(i)
    return sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(N_USERS, N_ITEMS)
    )


@pytest.fixture
def multithreaded_blas(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """BLAS configured with 2 threads and implicit's once-per-process BLAS check re-armed."""
    monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
    with threadpool_limits(limits=2, user_api="blas"):
        blas = [api for api in threadpool_info() if api["user_api"] == "blas"]
        if not any(api["num_threads"] > 1 for api in blas):
            pytest.skip("BLAS cannot use more than one thread on this machine")
        yield


class ModelContract:
    """Tests every behavior model must pass; subclasses set ``model_class`` and ``config``."""

    model_class: ClassVar[type[BehaviorModel]]
    config: ClassVar[BehaviorConfig]

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, checkerboard: sp.csr_matrix) -> BehaviorModel:
        """The model fitted once per implementation (tests must not modify it)."""
        return cls.model_class(cls.config).fit(checkerboard)

    # ------------------------------------------------------------------------- fitting
    def test_fit_returns_self(self, checkerboard: sp.csr_matrix) -> None:
        model = self.model_class(dataclasses.replace(self.config, iterations=1))
        assert not model.is_fitted
        assert model.fit(checkerboard) is model
        assert model.is_fitted
        assert model.n_items == N_ITEMS

    def test_make_model_builds_this_class(self) -> None:
        model = make_model(self.config)
        assert type(model) is self.model_class
        assert model.config == self.config
        assert not model.is_fitted

    def test_known_items_false_only_for_the_cold_item(self, model: BehaviorModel) -> None:
        expected = np.ones(N_ITEMS, dtype=bool)
        expected[COLD_ITEM] = False
        np.testing.assert_array_equal(model.known_items, expected)

    # ------------------------------------------------------------------------- scoring
    def test_score_items_cold_item_is_minus_inf(
        self, model: BehaviorModel, checkerboard: sp.csr_matrix
    ) -> None:
        for u in range(N_USERS):
            scores = model.score_items(u, checkerboard[u])
            assert scores.dtype == np.float32
            assert scores.shape == (N_ITEMS,)
            assert scores[COLD_ITEM] == -np.inf
            assert np.isfinite(scores[:COLD_ITEM]).all()

    def test_score_items_subset_matches_full_scores(
        self, model: BehaviorModel, checkerboard: sp.csr_matrix
    ) -> None:
        full = model.score_items(2, checkerboard[2])
        subset = model.score_items(2, checkerboard[2], item_idx=np.array([5, 0, 8]))
        # Factor models score a subset with a smaller matmul (item_factors[idx] @ user) than the
        # full one: BLAS may pick another kernel and summation order for it, so the float32 dot
        # products can differ in the last ulp (seen: -1.4049053 vs -1.4049054 on another CPU).
        # rtol 1e-5 (~80 float32 ulps) covers any summation order of a 4-5 term dot and is far
        # below a gap that could change a ranking; atol covers scores that cancel to near zero.
        np.testing.assert_allclose(subset, full[[5, 0, 8]], rtol=1e-5, atol=1e-6)

    def test_recommends_exactly_the_missing_item(
        self, model: BehaviorModel, checkerboard: sp.csr_matrix
    ) -> None:
        for u in range(N_USERS):
            row = checkerboard[u]
            idx, scores = model.recommend(u, row, 1, exclude=row.indices)
            assert idx.tolist() == [missing_item(u)], f"user {u}"
            assert scores.shape == (1,)

    def test_recommend_ranks_only_finite_unexcluded_items_best_first(
        self, model: BehaviorModel, checkerboard: sp.csr_matrix
    ) -> None:
        for u in range(N_USERS):
            row = checkerboard[u]
            idx, scores = model.recommend(u, row, 20, exclude=row.indices)
            other_group = set(range(4, 8)) if u < 4 else set(range(4))
            # everything but the 3 history items and the cold item, the missing one first
            assert set(idx.tolist()) == {missing_item(u)} | other_group
            assert idx[0] == missing_item(u)
            assert np.all(np.diff(scores) <= 0)
            assert np.isfinite(scores).all()

    def test_recommend_without_exclude_may_return_history(
        self, model: BehaviorModel, checkerboard: sp.csr_matrix
    ) -> None:
        idx, _ = model.recommend(0, checkerboard[0], N_ITEMS)
        assert len(idx) == N_ITEMS - 1  # every known item, never the cold one
        assert COLD_ITEM not in idx.tolist()

    def test_fold_in_recommends_the_missing_item(
        self, model: BehaviorModel, checkerboard: sp.csr_matrix
    ) -> None:
        for u in range(N_USERS):
            row = checkerboard[u]
            idx, _ = model.recommend(-1, row, 1, exclude=row.indices)
            assert idx.tolist() == [missing_item(u)], f"user {u}"

    def test_fold_in_with_empty_history_gives_finite_scores(self, model: BehaviorModel) -> None:
        scores = model.score_items(-1, sp.csr_matrix((1, N_ITEMS), dtype=np.float32))
        assert np.isfinite(scores[:COLD_ITEM]).all()
        assert scores[COLD_ITEM] == -np.inf

    @pytest.mark.parametrize(
        "history",
        [
            sp.csr_matrix((1, N_ITEMS - 1), dtype=np.float32),
            sp.csr_matrix((2, N_ITEMS), dtype=np.float32),
            np.zeros((1, N_ITEMS), dtype=np.float32),
            None,
        ],
        ids=["too-few-columns", "two-rows", "dense", "none"],
    )
    def test_bad_history_is_rejected(self, model: BehaviorModel, history: object) -> None:
        with pytest.raises(InvalidInputError, match=f"1 x {N_ITEMS}"):
            model.score_items(0, history)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            model.recommend(-1, history, 3)  # type: ignore[arg-type]

    # ------------------------------------------------------------------------- similar
    def test_similar_items_stay_in_the_group(self, model: BehaviorModel) -> None:
        for item in range(COLD_ITEM):
            idx, sims = model.similar_items(item, 3)
            assert set(idx.tolist()) == group(item), f"item {item}"
            assert sims.dtype == np.float32
            assert np.all(np.diff(sims) <= 0)

    def test_similar_items_of_the_cold_item_is_empty(self, model: BehaviorModel) -> None:
        idx, sims = model.similar_items(COLD_ITEM, 3)
        assert idx.size == 0
        assert sims.size == 0

    @pytest.mark.parametrize("item", [-1, N_ITEMS])
    def test_similar_items_out_of_range_is_rejected(self, model: BehaviorModel, item: int) -> None:
        with pytest.raises(InvalidInputError, match="out of range"):
            model.similar_items(item, 3)

    # ------------------------------------------------------------------------ persisting
    def test_save_load_round_trip_gives_identical_scores(
        self, model: BehaviorModel, checkerboard: sp.csr_matrix, tmp_path: Path
    ) -> None:
        model.save(tmp_path / "model")
        loaded = BehaviorModel.load(tmp_path / "model")
        assert type(loaded) is self.model_class
        assert loaded.config == model.config
        np.testing.assert_array_equal(loaded.known_items, model.known_items)
        for u in range(N_USERS):
            row = checkerboard[u]
            np.testing.assert_array_equal(loaded.score_items(u, row), model.score_items(u, row))
            np.testing.assert_allclose(
                loaded.score_items(-1, row), model.score_items(-1, row), rtol=1e-5, atol=1e-6
            )
        for item in range(N_ITEMS):
            got, want = loaded.similar_items(item, 4), model.similar_items(item, 4)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])

    def test_load_of_a_broken_folder_is_a_bundle_error(
        self, model: BehaviorModel, tmp_path: Path
    ) -> None:
        with pytest.raises(BundleError):
            BehaviorModel.load(tmp_path / "nothing-here")
        model.save(tmp_path / "model")
        (tmp_path / "model" / "model.npz").write_bytes(b"not an npz file")
        with pytest.raises(BundleError):
            BehaviorModel.load(tmp_path / "model")

    # -------------------------------------------------------------------------- misuse
    def test_use_before_fit_raises_not_fitted(self, tmp_path: Path) -> None:
        model = self.model_class(self.config)
        row = sp.csr_matrix((1, N_ITEMS), dtype=np.float32)
        calls = [
            lambda: model.score_items(0, row),
            lambda: model.recommend(0, row, 1),
            lambda: model.similar_items(0, 1),
            lambda: model.known_items,
            lambda: model.n_items,
            lambda: model.save(tmp_path / "m"),
        ]
        for call in calls:
            with pytest.raises(NotFittedError, match="not fitted yet"):
                call()

    def test_fit_rejects_a_dense_or_empty_matrix(self) -> None:
        model = self.model_class(self.config)
        with pytest.raises(InvalidInputError, match="sparse"):
            model.fit(np.ones((2, 2), dtype=np.float32))  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="no item columns"):
            model.fit(sp.csr_matrix((2, 0), dtype=np.float32))
        assert not model.is_fitted

    def test_fit_and_fold_in_warn_nothing_with_multithreaded_blas(
        self, multithreaded_blas: None, checkerboard: sp.csr_matrix, tmp_path: Path
    ) -> None:
        model = self.model_class(dataclasses.replace(self.config, iterations=2))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # stricter than pyproject: no ignores at all
            model.fit(checkerboard)
            model.save(tmp_path / "m")
            loaded = BehaviorModel.load(tmp_path / "m")  # fold-in builds a fresh engine
            loaded.recommend(-1, checkerboard[0], 2)


class TestALS(ModelContract):
    model_class = ALSModel
    config = BehaviorConfig(algorithm="als", factors=4, iterations=15)


class TestBPR(ModelContract):
    model_class = BPRModel
    config = BehaviorConfig(
        algorithm="bpr", factors=4, iterations=300, learning_rate=0.05, regularization=0.05
    )


class TestItemKNN(ModelContract):
    model_class = ItemKNNModel
    config = BehaviorConfig(algorithm="itemknn", factors=4, iterations=1)


def test_every_registered_algorithm_has_a_contract_suite() -> None:
    tested = {cls.model_class for cls in ModelContract.__subclasses__()}
    assert set(MODELS.values()) == tested


def test_the_blas_check_would_fire_without_the_adapters_guard(multithreaded_blas: None) -> None:
    # control for the test above: the environment really does make implicit warn
    with pytest.warns(RuntimeWarning, match="threads"):
        AlternatingLeastSquares(factors=2)


def test_als_fold_in_equals_implicits_recalculate_user(checkerboard: sp.csr_matrix) -> None:
    """The numpy fold-in solves what implicit's Cholesky ``recalculate_user`` solves."""
    model = ALSModel(BehaviorConfig(algorithm="als", factors=4, iterations=2)).fit(checkerboard)
    engine = model._engine()
    engine.user_factors, engine.item_factors = model._user, model._item
    for u in range(checkerboard.shape[0]):
        row = checkerboard[u]
        vec = model.user_vector(-1, row)
        # the adapter hands implicit the confidences 1 + alpha·w, not the raw weights
        with threadpool_limits(1, "blas"):
            expected = engine.recalculate_user(0, model.confidence(row)).ravel()
        np.testing.assert_allclose(vec, expected, rtol=1e-4, atol=1e-6)


def test_item_knn_scores_are_history_times_cosine(checkerboard: sp.csr_matrix) -> None:
    model = ItemKNNModel(BehaviorConfig(algorithm="itemknn")).fit(checkerboard)
    # items 0 and 1 share 2 of their 3 users: cosine 2/3; user 0 holds items 1, 2, 3
    sims = model.item_similarities(np.array([0]))[0]
    np.testing.assert_allclose(sims, [1, 2 / 3, 2 / 3, 2 / 3, 0, 0, 0, 0, 0], rtol=1e-6)
    assert model.score_items(0, checkerboard[0])[0] == pytest.approx(2.0)


# --------------------------------------------------------------------------- popularity baseline
def test_popularity_model_needs_no_config_and_round_trips(
    checkerboard: sp.csr_matrix, tmp_path: Path
) -> None:
    model = PopularityModel().fit(checkerboard)
    expected = np.log1p([3, 3, 3, 3, 3, 3, 3, 3, 0]).astype(np.float32)
    expected[COLD_ITEM] = -np.inf
    scores = model.score_items(-1, checkerboard[0])
    # the formula, not the bits: the model may take log1p in another precision or library
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    model.save(tmp_path / "pop")
    loaded = BehaviorModel.load(tmp_path / "pop")
    assert type(loaded) is PopularityModel
    # the stored scores are copied through the file: bit-for-bit
    np.testing.assert_array_equal(loaded.score_items(-1, checkerboard[0]), scores)


def test_make_model_rejects_an_unknown_algorithm() -> None:
    config = BehaviorConfig()
    object.__setattr__(config, "algorithm", "svd")  # bypass the config's own check
    with pytest.raises(ConfigError, match="svd"):
        make_model(config)


# ---------------------------------------------------------------------------------------- top_n
def reference_top_n(scores: np.ndarray, n: int) -> list[int]:
    finite = [i for i in range(len(scores)) if np.isfinite(scores[i])]
    return sorted(finite, key=lambda i: (-scores[i], i))[:n]


score_arrays = hnp.arrays(
    np.float64,
    st.integers(0, 40),
    elements=st.one_of(
        st.sampled_from([0.0, 1.0, -1.0, 0.5, np.inf, -np.inf, np.nan]),  # many ties
        st.floats(-1e6, 1e6),
    ),
)


@given(score_arrays, st.integers(0, 50))
def test_top_n_equals_the_reference(scores: np.ndarray, n: int) -> None:
    got = top_n(scores, n)
    assert got.dtype == np.int64
    assert got.tolist() == reference_top_n(scores, n)


@given(score_arrays, st.integers(0, 50))
def test_top_n_is_sorted_finite_and_sized(scores: np.ndarray, n: int) -> None:
    got = top_n(scores, n)
    n_finite = int(np.isfinite(scores).sum())
    assert len(got) == min(n, n_finite)
    assert np.isfinite(scores[got]).all()
    assert len(set(got.tolist())) == len(got)
    for a, b in itertools.pairwise(got.tolist()):
        assert scores[a] > scores[b] or (scores[a] == scores[b] and a < b)


@given(hnp.arrays(np.float32, st.integers(1, 30), elements=st.floats(-10, 10, width=32)))
def test_top_n_of_float32_scores(scores: np.ndarray) -> None:
    assert top_n(scores, 5).tolist() == reference_top_n(scores, 5)


def test_top_n_docstring_example_and_edges() -> None:
    assert top_n(np.array([0.1, 0.9, -np.inf, 0.9]), 3).tolist() == [1, 3, 0]
    assert top_n(np.array([np.nan, -np.inf]), 3).tolist() == []
    assert top_n(np.array([], dtype=np.float32), 3).tolist() == []
    assert top_n(np.array([1.0, 2.0]), 0).tolist() == []
    with pytest.raises(InvalidInputError, match="n=-1"):
        top_n(np.array([1.0]), -1)


# ------------------------------------------------------------------- the ALS objective (issue 16)
ALS_ALPHA, ALS_LAMBDA = 2.0, 0.1


@pytest.fixture(scope="module")
def weighted() -> np.ndarray:
    """12 users x 10 items of weights in {0.5, 1, 3, 5} (0 = unobserved); every item observed."""
    rng = np.random.default_rng(7)
    dense = (rng.random((12, 10)) < 0.4) * rng.choice([0.5, 1.0, 3.0, 5.0], size=(12, 10))
    dense[:, 0] += 0.5 * (dense[:, 0] == 0)
    return dense


def documented_system(
    factors: np.ndarray, row: np.ndarray, confidence: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """``(A, b)`` of ``(FᵀCF + λI) x = FᵀCp`` with ``c = confidence + alpha·w`` where ``w > 0``.

    ``confidence = 1`` is the documented objective; 0 is implicit's raw ``alpha·w``.
    """
    c = np.where(row > 0, confidence + ALS_ALPHA * row, 1.0)
    p = (row > 0).astype(np.float64)
    a = (factors.T * c) @ factors + ALS_LAMBDA * np.eye(factors.shape[1])
    return a, (factors.T * c) @ p


@pytest.fixture(scope="module")
def als_weighted(weighted: np.ndarray) -> ALSModel:
    # 3 factors = implicit's 3 conjugate-gradient steps per solve: CG is then exact (up to
    # rounding) in every half-sweep, so the last (item) half-sweep solves its system exactly
    config = BehaviorConfig(
        factors=3, regularization=ALS_LAMBDA, alpha=ALS_ALPHA, iterations=50, seed=3
    )
    return ALSModel(config).fit(sp.csr_matrix(weighted.astype(np.float32)))


def test_als_confidence_is_one_plus_alpha_weight() -> None:
    model = ALSModel(BehaviorConfig(alpha=2.0))
    # an explicitly stored 0 at item 1
    row = sp.csr_matrix((np.array([0.5, 0.0, 3.0], np.float32), [0, 1, 2], [0, 3]), shape=(1, 4))
    conf = model.confidence(row)
    assert conf.indices.tolist() == [0, 2]  # the stored 0 is unobserved: p = 0, c = 1
    # 1 + 2·0.5 and 1 + 2·3 are exact in float32
    assert conf.data.tolist() == [2.0, 7.0]
    # a view of weight 0.5 at alpha 1 weighs 1.5: more than an unobserved item (c = 1)
    light = ALSModel(BehaviorConfig(alpha=1.0)).confidence(row[:, :1])
    assert light.data.tolist() == [1.5]
    with pytest.raises(InvalidInputError, match="-1"):
        model.confidence(sp.csr_matrix(np.array([[-1.0, 2.0]], dtype=np.float32)))


def test_als_item_factors_solve_the_documented_normal_equations(
    als_weighted: ALSModel, weighted: np.ndarray
) -> None:
    x = als_weighted._user.astype(np.float64)
    y = als_weighted._item.astype(np.float64)
    for i in range(weighted.shape[1]):
        a, b = documented_system(x, weighted[:, i])
        # float32 factors and float32 CG arithmetic: relative residuals measured ~4e-7
        assert np.abs(a @ y[i] - b).max() <= 1e-4 * np.abs(b).max(), i
    # control: the same factors are far from the equations of c = alpha·w (measured 0.11), so
    # the check above can tell the two objectives apart
    worst = max(
        np.abs(a @ y[i] - b).max() / np.abs(b).max()
        for i in range(weighted.shape[1])
        for a, b in [documented_system(x, weighted[:, i], confidence=0.0)]
    )
    assert worst > 0.05


def test_als_fold_in_solves_the_documented_normal_equations(
    als_weighted: ALSModel, weighted: np.ndarray
) -> None:
    y = als_weighted._item.astype(np.float64)
    matrix = sp.csr_matrix(weighted.astype(np.float32))
    trained = als_weighted._user.astype(np.float64)
    for u in range(weighted.shape[0]):
        folded = als_weighted.user_vector(-1, matrix[u]).astype(np.float64)
        a, b = documented_system(y, weighted[u])
        exact = np.linalg.solve(a, b)
        # a float32 Cholesky solve of a 3x3 system: measured error ~2e-7 relative
        np.testing.assert_allclose(folded, exact, rtol=0, atol=1e-4 * np.abs(exact).max())
        # the trained row solves the same system against the item factors of one half-sweep
        # earlier; after 50 sweeps the two differ by ~0.5% (measured 0.006 of the largest
        # entry); trained on another objective they would differ by ~10%
        assert np.abs(folded - trained[u]).max() <= 0.02 * np.abs(trained).max(), u


def test_als_light_item_counts_more_than_under_raw_alpha_weight(als_weighted: ALSModel) -> None:
    # one observed item j of weight 0.5: x = c (M + (c - 1) y yᵀ)⁻¹ y with M = YᵀY + λI, so by
    # Sherman-Morrison its own score is x·y = c q / (1 + (c - 1) q), q = yᵀM⁻¹y: rising in c
    y = als_weighted._item.astype(np.float64)
    j = 4
    row = sp.csr_matrix((np.array([0.5], np.float32), [j], [0, 1]), shape=(1, y.shape[0]))
    q = float(y[j] @ np.linalg.solve(y.T @ y + ALS_LAMBDA * np.eye(y.shape[1]), y[j]))
    # the same factors folded in with implicit fed alpha·w: what this adapter computed before
    raw = ALSModel(als_weighted.config)
    raw._restore(
        {
            "user_factors": als_weighted._user,
            "item_factors": als_weighted._item,
            "confidence_offset": np.asarray(0.0),
        }
    )
    raw._known = als_weighted.known_items
    scores = {}
    for label, model, c in [("documented", als_weighted, 2.0), ("raw", raw, 1.0)]:
        scores[label] = float(model.score_items(-1, row)[j])
        # float32 solve and dot product of 3-vectors: 1e-4 relative is far above their rounding
        assert scores[label] == pytest.approx(c * q / (1 + (c - 1) * q), rel=1e-4), label
    assert scores["documented"] > scores["raw"]


def test_als_save_load_keeps_the_objective_and_reads_old_state_as_raw(
    als_weighted: ALSModel, weighted: np.ndarray, tmp_path: Path
) -> None:
    row = sp.csr_matrix(weighted[:1].astype(np.float32))
    als_weighted.save(tmp_path / "new")
    loaded = BehaviorModel.load(tmp_path / "new")
    assert isinstance(loaded, ALSModel) and loaded.confidence_offset == 1.0
    # same factors, same solver, same input: identical up to float32 rounding of BLAS calls
    np.testing.assert_allclose(
        loaded.user_vector(-1, row), als_weighted.user_vector(-1, row), rtol=1e-5, atol=1e-6
    )
    # a model saved before the offset was recorded was trained on c = alpha·w: fold in alike
    with np.load(tmp_path / "new" / "model.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "confidence_offset"}
    (tmp_path / "old").mkdir()
    np.savez(tmp_path / "old" / "model.npz", **arrays)  # type: ignore[arg-type]
    (tmp_path / "old" / "model.json").write_bytes((tmp_path / "new" / "model.json").read_bytes())
    old = BehaviorModel.load(tmp_path / "old")
    assert isinstance(old, ALSModel) and old.confidence_offset == 0.0
    a, b = documented_system(als_weighted._item.astype(np.float64), weighted[0], confidence=0.0)
    # float32 Cholesky of a 3x3 system, as in the fold-in test above
    np.testing.assert_allclose(old.user_vector(-1, row), np.linalg.solve(a, b), atol=1e-4)


@given(
    st.integers(1, 40),
    st.sampled_from([0.0, 1.0]),
    st.integers(0, 2**31 - 1),
)
def test_als_fold_in_of_a_few_items_equals_the_full_solve(k: int, offset: float, seed: int) -> None:
    """The Woodbury path (rows of up to FEW_ITEMS items) solves the documented system too.

    Checked against ``np.linalg.solve`` of the full ``d x d`` system, on 48 random factors:
    with ``confidence_offset`` 0 a weight under ``1 / alpha`` makes ``c - 1`` negative.
    """
    rng = np.random.default_rng(seed)
    n_items, d = 120, 48
    model = ALSModel.from_factors(
        BehaviorConfig(factors=d, regularization=ALS_LAMBDA, alpha=ALS_ALPHA),
        rng.normal(size=(3, d)).astype(np.float32),
        rng.normal(scale=0.3, size=(n_items, d)).astype(np.float32),
        np.ones(n_items, dtype=bool),
    )
    model.confidence_offset = offset
    items = np.sort(rng.choice(n_items, size=k, replace=False)).astype(np.int32)
    weights = rng.choice([0.01, 0.1, 0.5, 1.0, 3.0], size=k).astype(np.float32)
    row = sp.csr_matrix((weights, items, [0, k]), shape=(1, n_items))
    y = model._item.astype(np.float64)
    c = offset + ALS_ALPHA * weights.astype(np.float32).astype(np.float64)
    a = y.T @ y + ALS_LAMBDA * np.eye(d) + (y[items].T * (c - 1.0)) @ y[items]
    exact = np.linalg.solve(a, y[items].T @ c)
    folded = model.user_vector(-1, row).astype(np.float64)
    # float64 algebra both ways, then float32: a few float32 ulps of the largest entry
    np.testing.assert_allclose(folded, exact, rtol=0, atol=1e-5 * np.abs(exact).max())


def test_als_fold_in_takes_the_woodbury_path_for_a_few_items(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Up to FEW_ITEMS items go through ``_fold_in_few``; more, and Spark's ALS-WR, do not."""
    from recsys.models import implicit_models

    rng = np.random.default_rng(1)
    model = ALSModel.from_factors(
        BehaviorConfig(factors=8, alpha=ALS_ALPHA),
        rng.normal(size=(2, 8)).astype(np.float32),
        rng.normal(size=(64, 8)).astype(np.float32),
        np.ones(64, dtype=bool),
    )
    calls: list[int] = []
    real = ALSModel._fold_in_few
    monkeypatch.setattr(
        ALSModel,
        "_fold_in_few",
        lambda self, y, c: calls.append(c.size) or real(self, y, c),
    )
    few = implicit_models.FEW_ITEMS
    for k in (1, few, few + 1):
        row = sp.csr_matrix(
            (np.ones(k, np.float32), np.arange(k, dtype=np.int32), [0, k]), shape=(1, 64)
        )
        model.user_vector(-1, row)
    assert calls == [1, few]
    model.ridge_per_item = 0.1
    model.user_vector(-1, sp.csr_matrix((np.ones(1, np.float32), [0], [0, 1]), shape=(1, 64)))
    assert calls == [1, few]


@given(hnp.arrays(np.int64, st.integers(0, 300), elements=st.integers(-5, 2_000)))
def test_unique_ints_equals_numpys_unique(values: np.ndarray) -> None:
    got = unique_ints(values)
    assert got.dtype == np.int64 and got.tolist() == np.unique(values).tolist()
    assert unique_ints(values.astype(np.int32)).tolist() == got.tolist()


def test_is_factor_model_agrees_with_the_protocol_check() -> None:
    for name in MODELS:
        model = make_model(BehaviorConfig(algorithm=name))  # type: ignore[arg-type]
        assert is_factor_model(model) == isinstance(model, FactorModel), name
    assert is_factor_model(PopularityModel()) is False
    assert is_factor_model(ALSModel(BehaviorConfig())) is True
