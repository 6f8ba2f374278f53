"""Events -> confidence matrix: type weights, time decay, window, catalog columns, CSR files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys.config import MatrixConfig
from recsys.errors import BundleError
from recsys.matrix import build_interactions, decay, load_csr, save_csr

DAY = 86_400.0
T0 = 1_700_000_000.0


def _events(rows: list[tuple[str, str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"user_id": pl.String, "item_id": pl.String, "type": pl.String, "ts": pl.Float64},
        orient="row",
    )


def _dense(rows: list[tuple[str, str, str, float]], **kwargs: object) -> np.ndarray:
    return build_interactions(_events(rows), **kwargs).matrix.toarray()  # type: ignore[arg-type]


def test_confidence_is_the_sum_of_type_weights() -> None:
    inter = build_interactions(
        _events(
            [
                ("u1", "a", "view", T0),
                ("u1", "a", "purchase", T0 + 1),
                ("u1", "b", "click", T0),
                ("u1", "b", "click", T0 + 5),
                ("u2", "b", "add_to_cart", T0),
            ]
        )
    )
    assert inter.users.ids() == ["u1", "u2"]
    assert inter.items.ids() == ["a", "b"]
    assert inter.shape == (2, 2)
    assert inter.matrix.dtype == np.float32
    assert isinstance(inter.matrix, sp.csr_matrix)
    np.testing.assert_array_equal(inter.matrix.toarray(), [[5.5, 2.0], [0.0, 3.0]])
    assert inter.reference_ts == T0 + 5
    np.testing.assert_array_equal(inter.item_counts(), [1.0, 2.0])


def test_custom_weights_and_zero_weight_types_are_dropped() -> None:
    config = MatrixConfig(view=0.0, click=2.0, add_to_cart=0.0, purchase=10.0)
    inter = build_interactions(
        _events([("u1", "a", "view", T0), ("u2", "a", "click", T0), ("u2", "b", "purchase", T0)]),
        config,
    )
    # u1 only viewed (weight 0): no row at all; its view leaves no stored zero either
    assert inter.users.ids() == ["u2"]
    np.testing.assert_array_equal(inter.matrix.toarray(), [[2.0, 10.0]])
    assert inter.matrix.nnz == 2


def test_event_one_half_life_older_counts_half() -> None:
    config = MatrixConfig(half_life_days=10.0)
    got = _dense(
        [
            ("u", "new", "purchase", T0 + 10 * DAY),
            ("u", "old", "purchase", T0),
            ("u", "older", "purchase", T0 - 10 * DAY),
        ],
        config=config,
    )
    np.testing.assert_allclose(got, [[5.0, 2.5, 1.25]], rtol=1e-6)


def test_decay_is_measured_from_each_users_newest_event() -> None:
    # one clock for training and requests: a user away for 3 days keeps their last visit's taste
    config = MatrixConfig(half_life_days=1.0)
    inter = build_interactions(
        _events(
            [
                ("away", "a", "click", T0 - DAY),
                ("away", "b", "click", T0),
                ("here", "a", "click", T0 + 3 * DAY),
            ]
        ),
        config,
    )
    assert inter.reference_ts == T0 + 3 * DAY
    np.testing.assert_allclose(inter.matrix.toarray(), [[0.5, 1.0], [1.0, 0.0]], rtol=1e-6)


def test_the_decay_formula_is_the_same_for_arrays_and_polars() -> None:
    ages = np.asarray([0.0, DAY, 2.5 * DAY])
    expr = pl.DataFrame({"age": ages}).select(decay(pl.col("age"), 1.0))["age"].to_numpy()
    np.testing.assert_allclose(decay(ages, 1.0), [1.0, 0.5, 0.5**2.5], rtol=1e-12)
    np.testing.assert_allclose(expr, decay(ages, 1.0), rtol=1e-12)


def test_no_decay_without_half_life() -> None:
    got = _dense([("u", "a", "click", T0 - 1000 * DAY), ("u", "b", "click", T0)])
    np.testing.assert_array_equal(got, [[1.0, 1.0]])


def test_window_drops_events_older_than_the_window() -> None:
    config = MatrixConfig(window_days=7.0)
    inter = build_interactions(
        _events(
            [
                ("old_user", "a", "purchase", T0 - 8 * DAY),
                ("u", "a", "view", T0 - 8 * DAY),
                ("u", "b", "view", T0 - 7 * DAY),  # exactly at the edge: kept
                ("u", "c", "click", T0),
            ]
        ),
        config,
    )
    assert inter.users.ids() == ["u"]
    assert inter.items.ids() == ["b", "c"]
    np.testing.assert_array_equal(inter.matrix.toarray(), [[0.5, 1.0]])


def test_catalog_items_come_first_and_items_without_events_are_empty_columns() -> None:
    inter = build_interactions(
        _events([("u1", "z", "view", T0), ("u1", "b", "click", T0), ("u2", "new", "view", T0)]),
        item_ids=["a", "b", "c"],
    )
    assert inter.items.ids() == ["a", "b", "c", "z", "new"]
    dense = inter.matrix.toarray()
    np.testing.assert_array_equal(dense, [[0.0, 1.0, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0, 0.5]])
    assert inter.matrix.getnnz(axis=0).tolist() == [0, 1, 0, 1, 1]


def test_no_events_gives_an_empty_matrix_over_the_catalog() -> None:
    empty = _events([])
    inter = build_interactions(empty, item_ids=["a", "b"])
    assert inter.shape == (0, 2)
    assert inter.items.ids() == ["a", "b"]
    assert inter.reference_ts == 0.0


def test_users_are_rows_in_first_event_order() -> None:
    inter = build_interactions(
        _events([("b", "x", "view", T0), ("a", "y", "view", T0), ("b", "y", "click", T0)])
    )
    assert inter.users.ids() == ["b", "a"]
    assert inter.users.index("a") == 1
    assert inter.matrix[1, inter.items.index("y")] == pytest.approx(0.5)


def test_save_load_csr_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    dense = rng.random((5, 7)).astype(np.float32)
    dense[dense < 0.6] = 0.0
    matrix = sp.csr_matrix(dense)
    path = tmp_path / "m.npz"
    save_csr(path, matrix)
    loaded = load_csr(path)
    assert isinstance(loaded, sp.csr_matrix)
    assert loaded.shape == (5, 7)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded.toarray(), dense)


def test_save_load_csr_keeps_trailing_empty_rows_and_columns(tmp_path: Path) -> None:
    matrix = sp.csr_matrix(([1.5], ([0], [0])), shape=(3, 4), dtype=np.float32)
    save_csr(tmp_path / "m.npz", matrix)
    loaded = load_csr(tmp_path / "m.npz")
    assert loaded.shape == (3, 4)
    np.testing.assert_array_equal(loaded.toarray(), matrix.toarray())


def test_load_csr_of_a_bad_file_is_a_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError):
        load_csr(tmp_path / "missing.npz")
    np.savez(tmp_path / "partial.npz", data=np.ones(1, dtype=np.float32))
    with pytest.raises(BundleError):
        load_csr(tmp_path / "partial.npz")


def test_hash_collisions_cannot_merge_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [
        ("b", "x", "view", T0),
        ("a", "y", "purchase", T0),
        ("b", "y", "click", T0),
        ("c", "x", "purchase", T0),
    ]
    expected = build_interactions(_events(rows))
    # every id hashes to 0: the factorization must notice and take the exact path
    monkeypatch.setattr(pl.Expr, "hash", lambda self, *a, **k: pl.lit(0, dtype=pl.UInt64))
    collided = build_interactions(_events(rows))
    assert collided.users.ids() == expected.users.ids() == ["b", "a", "c"]
    assert collided.items.ids() == expected.items.ids() == ["x", "y"]
    np.testing.assert_array_equal(collided.matrix.toarray(), expected.matrix.toarray())
    assert collided.matrix.toarray()[0].tolist() == pytest.approx([0.5, 1.0])  # b: view x, click y
