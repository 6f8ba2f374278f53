"""Properties of the blend and selection stages (pure functions, any input)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from recsys.serving.blend import zscore
from recsys.serving.select import capped_walk

values = st.lists(
    st.one_of(st.floats(-1e3, 1e3, allow_nan=False, width=32), st.sampled_from([-np.inf, np.nan])),
    min_size=1,
    max_size=40,
)


@given(values, st.floats(0, 10))
def test_zscore_is_finite_and_standardizes_the_finite_values(
    raw: list[float], floor: float
) -> None:
    v = np.asarray(raw, dtype=np.float32)
    z = zscore(v, floor)
    assert z.shape == v.shape and np.isfinite(z).all()
    finite = np.isfinite(v)
    if not finite.any():
        assert not z.any()
        return
    f = v[finite].astype(np.float64)
    spread = max(float(f.std()), floor)
    if spread > 1e-6:
        np.testing.assert_allclose(z[finite], (f - f.mean()) / spread, rtol=1e-4, atol=1e-4)
    if (~finite).any():  # what a source cannot score ranks last, never first
        assert (z[~finite] == z[finite].min()).all()
    # order is kept: a higher score never standardizes lower
    order = np.argsort(f, kind="stable")
    assert (np.diff(z[finite][order]) >= -1e-5).all()


@given(
    st.lists(st.integers(-1, 4), min_size=0, max_size=30),
    st.integers(1, 10),
    st.integers(1, 5),
)
def test_capped_walk_keeps_order_and_the_cap(codes_list: list[int], n: int, cap: int) -> None:
    codes = np.asarray(codes_list, dtype=np.int32)
    order = list(range(codes.size))
    chosen, overflow = capped_walk(order, codes, n, cap)
    assert len(chosen) <= n
    assert chosen == sorted(chosen) and overflow == sorted(overflow)  # walk order kept
    assert not set(chosen) & set(overflow)
    for code in set(codes_list) - {-1}:
        assert sum(1 for p in chosen if codes[p] == code) <= cap
    if len(chosen) < n:  # the whole order was walked: nothing was skipped but for the cap
        assert sorted(chosen + overflow) == order
    else:  # it stopped at the n-th kept item: everything before it was kept or capped
        assert sorted(chosen + overflow) == list(range(chosen[-1] + 1))
