"""IdVocabulary: a bijection between string ids and dense indices, in first-appearance order."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recsys.errors import BundleError, InvalidInputError
from recsys.vocab import UNKNOWN, IdVocabulary

id_lists = st.lists(st.text(max_size=8), max_size=40)


def _first_appearance(ids: list[str]) -> list[str]:
    seen: list[str] = []
    for x in ids:
        if x not in seen:
            seen.append(x)
    return seen


@given(id_lists)
def test_index_and_id_are_inverse(ids: list[str]) -> None:
    vocab = IdVocabulary(ids)
    for i in range(len(vocab)):
        assert vocab.index(vocab.id(i)) == i
    for x in ids:
        assert vocab.id(vocab.index(x)) == x


@given(id_lists)
def test_length_and_first_appearance_order(ids: list[str]) -> None:
    vocab = IdVocabulary(ids)
    assert len(vocab) == len(set(ids))
    assert vocab.ids() == _first_appearance(ids)
    assert all(x in vocab for x in ids)


@given(id_lists, st.text(max_size=8))
def test_unknown_id_maps_to_minus_one(ids: list[str], other: str) -> None:
    vocab = IdVocabulary(ids)
    if other not in ids:
        assert vocab.index(other) == UNKNOWN == -1
        assert other not in vocab
    assert vocab.index("\x00never-an-id\x00" + "x" * 9) == -1


@given(id_lists, st.lists(st.text(max_size=8), max_size=20))
def test_indices_matches_index(ids: list[str], queries: list[str]) -> None:
    vocab = IdVocabulary(ids)
    got = vocab.indices(queries)
    assert got.dtype == np.int64
    assert got.shape == (len(queries),)
    assert got.tolist() == [vocab.index(q) for q in queries]


@given(id_lists, id_lists)
def test_extend_keeps_existing_indices(first: list[str], more: list[str]) -> None:
    vocab = IdVocabulary(first)
    before = {x: vocab.index(x) for x in first}
    vocab.extend(more)
    assert {x: vocab.index(x) for x in first} == before
    assert vocab.ids() == _first_appearance(first + more)


@given(id_lists)
def test_save_load_round_trip(ids: list[str]) -> None:
    vocab = IdVocabulary(ids)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vocab.json"
        vocab.save(path)
        loaded = IdVocabulary.load(path)
    assert loaded == vocab
    assert loaded.ids() == vocab.ids()


def test_example_from_docstring() -> None:
    vocab = IdVocabulary(["b", "a", "b"])
    assert (vocab.index("a"), vocab.index("zzz"), vocab.id(0)) == (1, -1, "b")
    assert vocab.ids([1, 0]) == ["a", "b"]


@pytest.mark.parametrize("bad", [1, None, b"bytes", 2.5])
def test_non_string_id_is_rejected(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="ids must be strings"):
        IdVocabulary(["ok", bad])  # type: ignore[list-item]


@pytest.mark.parametrize("index", [-1, 2, 100])
def test_id_out_of_range_is_rejected(index: int) -> None:
    with pytest.raises(InvalidInputError, match="out of range"):
        IdVocabulary(["a", "b"]).id(index)


def test_loading_duplicates_is_a_bundle_error(tmp_path: Path) -> None:
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(["a", "b", "a"]), encoding="utf-8")
    with pytest.raises(BundleError, match="duplicate"):
        IdVocabulary.load(path)


@pytest.mark.parametrize("content", ['{"a": 0}', '["a", 1]', "not json"])
def test_loading_a_malformed_file_is_a_bundle_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "vocab.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BundleError):
        IdVocabulary.load(path)


def test_loading_a_missing_file_is_a_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="cannot read"):
        IdVocabulary.load(tmp_path / "nope.json")
