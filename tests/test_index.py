"""Tests for recsys.index.VectorIndex: flat vs HNSW, external ids, persistence, bad input."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from recsys.config import IndexConfig
from recsys.errors import BundleError, InvalidInputError, NotFittedError
from recsys.index import VectorIndex


def _unit(rng: np.random.Generator, m: int, d: int) -> np.ndarray:
    x = rng.standard_normal((m, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize(("m", "kind"), [(4, "flat"), (5, "hnsw"), (40, "hnsw")])
def test_kind_follows_hnsw_threshold(rng: np.random.Generator, m: int, kind: str) -> None:
    index = VectorIndex(IndexConfig(hnsw_threshold=5)).build(_unit(rng, m, 8))
    assert index.kind == kind
    assert index.ntotal == m
    assert index.dim == 8


def test_default_threshold_is_flat_for_small_catalogs(rng: np.random.Generator) -> None:
    assert VectorIndex().build(_unit(rng, 100, 8)).kind == "flat"


def test_docstring_example() -> None:
    ids, scores = (
        VectorIndex()
        .build(np.eye(3, dtype=np.float32))
        .search(np.array([0, 1, 0], dtype=np.float32), 1)
    )
    assert ids.tolist() == [1]
    assert ids.dtype == np.int64
    assert scores.dtype == np.float32
    np.testing.assert_allclose(scores, [1.0])


@pytest.mark.parametrize("threshold", [1, 1000])
def test_search_returns_given_ids_best_first(threshold: int) -> None:
    vectors = np.array([[1, 0, 0], [0.8, 0.6, 0], [0, 0, 1]], dtype=np.float32)
    ids = np.array([70, 30, 5], dtype=np.int64)
    index = VectorIndex(IndexConfig(hnsw_threshold=threshold)).build(vectors, ids)
    found, scores = index.search(np.array([1, 0, 0], dtype=np.float32), 3)
    assert found.tolist() == [70, 30, 5]
    np.testing.assert_allclose(scores, [1.0, 0.8, 0.0], atol=1e-6)


def test_search_k_larger_than_ntotal(rng: np.random.Generator) -> None:
    index = VectorIndex().build(_unit(rng, 3, 4), np.array([2, 4, 6]))
    found, scores = index.search(_unit(rng, 1, 4)[0], 50)
    assert sorted(found.tolist()) == [2, 4, 6]
    assert scores.shape == (3,)
    assert np.all(np.diff(scores) <= 1e-6)  # best first


def test_search_k_zero_and_empty_index(rng: np.random.Generator) -> None:
    index = VectorIndex().build(_unit(rng, 3, 4))
    found, scores = index.search(_unit(rng, 1, 4)[0], 0)
    assert found.shape == (0,)
    assert scores.shape == (0,)
    empty = VectorIndex().build(np.zeros((0, 4), dtype=np.float32))
    assert empty.ntotal == 0
    assert empty.search(np.ones(4, dtype=np.float32), 5)[0].shape == (0,)


def test_wrong_query_dimension_raises(rng: np.random.Generator) -> None:
    index = VectorIndex().build(_unit(rng, 3, 4))
    with pytest.raises(InvalidInputError, match="dimension 5"):
        index.search(np.ones(5, dtype=np.float32), 1)


def test_bad_build_input_raises(rng: np.random.Generator) -> None:
    with pytest.raises(InvalidInputError):
        VectorIndex().build(np.ones(4, dtype=np.float32))  # 1-d
    with pytest.raises(InvalidInputError, match="ids must have shape"):
        VectorIndex().build(_unit(rng, 3, 4), np.array([1, 2]))


def test_use_before_build_raises() -> None:
    index = VectorIndex()
    with pytest.raises(NotFittedError):
        index.search(np.ones(3, dtype=np.float32), 1)
    with pytest.raises(NotFittedError):
        _ = index.ntotal


@pytest.mark.parametrize("threshold", [1, 1000])
def test_save_load_round_trip(tmp_path: Path, rng: np.random.Generator, threshold: int) -> None:
    config = IndexConfig(hnsw_threshold=threshold, ef_search=64)
    vectors = _unit(rng, 30, 16)
    ids = np.arange(100, 130, dtype=np.int64)
    index = VectorIndex(config).build(vectors, ids)
    path = tmp_path / "x.faiss"
    index.save(path)
    loaded = VectorIndex.load(path, config)
    assert loaded.kind == index.kind
    assert loaded.ntotal == 30
    assert loaded.dim == 16
    for q in _unit(rng, 5, 16):
        a_ids, a_scores = index.search(q, 7)
        b_ids, b_scores = loaded.search(q, 7)
        np.testing.assert_array_equal(a_ids, b_ids)
        np.testing.assert_allclose(a_scores, b_scores, atol=1e-6)
    if loaded.kind == "hnsw":
        inner = faiss.downcast_index(loaded._index.index)
        assert inner.hnsw.efSearch == 64


def test_hnsw_finds_exact_neighbour(rng: np.random.Generator) -> None:
    vectors = _unit(rng, 300, 16)
    index = VectorIndex(IndexConfig(hnsw_threshold=10)).build(vectors, np.arange(300) * 3)
    assert index.kind == "hnsw"
    for i in (0, 77, 299):
        found, scores = index.search(vectors[i], 1)
        assert found.tolist() == [i * 3]
        np.testing.assert_allclose(scores, [1.0], atol=1e-5)


def test_load_unreadable_file_raises_bundle_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.faiss"
    path.write_bytes(b"not a faiss index")
    with pytest.raises(BundleError, match="cannot read FAISS index"):
        VectorIndex.load(path)
    with pytest.raises(BundleError):
        VectorIndex.load(tmp_path / "missing.faiss")
