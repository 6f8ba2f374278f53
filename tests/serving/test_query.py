"""The per-request rows a live answer is ranked from, against plain reference definitions.

A live answer builds its history rows, text profile and final order in one pass over the events
(``recsys.serving.query``, ``sources.text``, ``select.order``); these properties check them
against the definitions written out the slow way, on any history: unknown items, repeated
items, zero and decayed weights, ties.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.config import MatrixConfig, TrainConfig
from recsys.matrix import decay
from recsys.serving.query import csr_row, history_row
from recsys.serving.select import order
from recsys.serving.sources.text import profile_weight, text_profile
from recsys.types import EVENT_TYPES, UserEvent
from recsys.vocab import IdVocabulary

ITEMS = [f"i{k}" for k in range(12)]
events = st.lists(
    st.builds(
        UserEvent,
        st.sampled_from([*ITEMS, "unknown"]),
        st.sampled_from(list(EVENT_TYPES)),
        st.floats(0, 1e7),
    ),
    max_size=60,
)
matrices = st.builds(
    MatrixConfig,
    view=st.sampled_from([0.0, 0.5, 1.0]),
    purchase=st.sampled_from([0.0, 5.0]),
    half_life_days=st.sampled_from([None, 0.5, 30.0]),
)


def _bundle(matrix: MatrixConfig, has_text: list[bool] | None = None) -> Any:
    """The parts of a bundle the rows read: config, items, text vectors and mask."""
    rng = np.random.default_rng(0)
    mask = np.asarray(has_text if has_text is not None else [True] * len(ITEMS))
    return SimpleNamespace(
        config=TrainConfig(matrix=matrix),
        items=IdVocabulary(ITEMS),
        text_vectors=rng.normal(size=(len(ITEMS), 8)).astype(np.float32),
        text_mask=mask,
    )


@settings(max_examples=300)
@given(events, matrices)
def test_history_row_is_each_items_running_sum_of_event_weights(
    history: list[UserEvent], matrix: MatrixConfig
) -> None:
    bundle = _bundle(matrix)
    row = history_row(bundle, history)
    newest = max((e.ts for e in history), default=0.0)
    expected: dict[int, float] = {}
    for e in history:  # in the order given, as training's rows sum them
        w = matrix.weight(e.type)
        if matrix.half_life_days is not None:
            w = float(w * decay(np.asarray([max(newest - e.ts, 0.0)]), matrix.half_life_days)[0])
        if w > 0 and e.item_id in bundle.items:
            i = bundle.items.index(e.item_id)
            expected[i] = expected.get(i, 0.0) + w
    assert row.shape == (1, len(ITEMS)) and row.dtype == np.float32
    assert row.indices.tolist() == sorted(expected)
    want = np.asarray([expected[i] for i in sorted(expected)], dtype=np.float32)
    np.testing.assert_allclose(row.data, want, rtol=1e-6)  # decay: numpy's exp, an ulp apart


@settings(max_examples=300)
@given(events, st.integers(1, 6), st.lists(st.booleans(), min_size=12, max_size=12))
def test_text_profile_is_the_weighted_mean_of_the_newest_distinct_items_with_text(
    history: list[UserEvent], recent_items: int, has_text: list[bool]
) -> None:
    bundle = _bundle(MatrixConfig(), has_text)
    profile = text_profile(bundle, history, recent_items)
    ranks: dict[int, int] = {}  # item -> rank of its newest event (history is newest first)
    for rank, e in enumerate(history):
        i = bundle.items.index(e.item_id)
        if i >= 0 and has_text[i] and i not in ranks:
            ranks[i] = rank
    newest = sorted(ranks.items(), key=lambda kv: kv[1])[:recent_items]
    if not newest:
        assert profile is None
        return
    acc = sum(
        profile_weight(bundle.config.matrix, history[r].type, r)
        * bundle.text_vectors[i].astype(np.float64)
        for i, r in newest
    )
    assert profile is not None
    np.testing.assert_allclose(profile, acc / np.linalg.norm(acc), rtol=1e-5, atol=1e-6)


@given(
    st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, -1.0, 2.5]), min_size=1, max_size=12),
    st.integers(1, 12),
)
def test_order_is_score_descending_with_ties_by_item_id(scores: list[float], m: int) -> None:
    bundle = _bundle(MatrixConfig())
    cand = np.arange(len(scores), dtype=np.int64)[::-1].copy()  # ids not in index order
    blended = np.asarray(scores, dtype=np.float64)
    got = order(bundle, cand, blended, m)
    ids = bundle.items.ids(cand)
    expected = sorted(range(cand.size), key=lambda p: (-blended[p], ids[p]))
    assert got[:m] == expected[:m]
    assert sorted(got) == sorted(set(got))  # each position once


@given(st.sets(st.integers(0, 49), max_size=50), st.integers(0, 2**31 - 1))
def test_csr_row_is_the_row_scipys_constructor_builds(cols: set[int], seed: int) -> None:
    """The same fields, flags and arithmetic as ``sp.csr_matrix((data, indices, indptr))``."""
    indices = np.asarray(sorted(cols), dtype=np.int32)
    data = np.random.default_rng(seed).random(indices.size).astype(np.float32)
    fast = csr_row(data, indices, 50)
    slow = sp.csr_matrix((data, indices, np.asarray([0, indices.size], np.int32)), shape=(1, 50))
    assert type(fast) is type(slow) and fast.shape == slow.shape and fast.dtype == slow.dtype
    assert vars(fast).keys() == vars(slow).keys()
    for name in ("data", "indices", "indptr"):
        a, b = getattr(fast, name), getattr(slow, name)
        assert a.dtype == b.dtype and a.tolist() == b.tolist(), name
    assert fast.nnz == slow.nnz and fast.has_canonical_format and fast.has_sorted_indices
    other = sp.random(50, 7, density=0.3, format="csr", random_state=seed, dtype=np.float32)
    assert (fast @ other != slow @ other).nnz == 0
    assert np.array_equal(fast.toarray(), slow.toarray())
    assert np.array_equal((fast * 2.0).toarray(), (slow * 2.0).toarray())
    fast.data *= 0  # a row's arrays are its own: the next row starts from an empty one
    assert csr_row(data, indices, 50).data.tolist() == data.tolist()
