"""Statistics of the experiment report: intervals, delta method, mSPRT, SRM."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from recsys.errors import InvalidInputError
from recsys.experiments.stats import (
    DEFAULT_EFFECT_SD,
    Z95,
    Estimate,
    always_valid_p,
    difference,
    mean_estimate,
    mixture_tau2,
    ratio_estimate,
    relative_lift,
    sequential_p,
    srm_test,
)

# ---------------------------------------------------------------- estimates


def test_mean_estimate_matches_hand_computation() -> None:
    est = mean_estimate(np.array([0.0, 1.0, 0.0, 1.0]))
    se = math.sqrt((1 / 3) / 4)  # sample variance 1/3 (ddof=1), n = 4
    assert est.value == pytest.approx(0.5)
    assert est.se == pytest.approx(se)
    assert est.n == 4
    assert est.low == pytest.approx(0.5 - Z95 * se)
    assert est.high == pytest.approx(0.5 + Z95 * se)
    assert abs(Z95 - 1.959964) < 1e-6


def test_mean_estimate_degenerate_inputs() -> None:
    empty = mean_estimate(np.array([]))
    assert (empty.value, empty.se, empty.n, empty.low, empty.high) == (None, None, 0, None, None)
    one = mean_estimate([3.0])
    assert (one.value, one.se, one.low) == (3.0, None, None)
    flat = mean_estimate(np.zeros(10))
    assert (flat.value, flat.se, flat.low, flat.high) == (0.0, 0.0, 0.0, 0.0)
    with pytest.raises(InvalidInputError, match="NaN"):
        mean_estimate([1.0, float("nan")])
    with pytest.raises(InvalidInputError, match="one-dimensional"):
        mean_estimate(np.zeros((2, 2)))


def test_ratio_estimate_is_sum_over_sum_with_delta_method_se() -> None:
    x = np.array([1.0, 0.0, 3.0, 2.0])
    y = np.array([2.0, 4.0, 5.0, 1.0])
    est = ratio_estimate(x, y)
    r = 6.0 / 12.0
    resid = x - r * y  # [0, -2, 0.5, 1.5]
    se = math.sqrt(resid.var(ddof=1) / 4) / 3.0  # mean(y) = 3
    assert est.value == pytest.approx(r)
    assert est.se == pytest.approx(se)


def test_ratio_estimate_degenerate_inputs() -> None:
    assert ratio_estimate([], []).value is None
    zero = ratio_estimate([0.0, 0.0], [0.0, 0.0])  # no impressions at all
    assert (zero.value, zero.se, zero.n) == (None, None, 2)
    assert ratio_estimate([1.0], [2.0]).se is None
    with pytest.raises(InvalidInputError, match="same shape"):
        ratio_estimate([1.0, 2.0], [1.0])


def test_ratio_se_matches_spread_over_replications() -> None:
    """Clustered data (users with many correlated impressions): the delta-method se is right."""
    rng = np.random.default_rng(7)
    ratios, ses = [], []
    for _ in range(400):
        n_imp = rng.poisson(8, 500) + 1
        p_user = rng.beta(2, 8, 500)  # users differ: impressions of one user are correlated
        clicks = rng.binomial(n_imp, p_user)
        est = ratio_estimate(clicks.astype(float), n_imp.astype(float))
        assert est.value is not None and est.se is not None
        ratios.append(est.value)
        ses.append(est.se)
    assert np.mean(ses) == pytest.approx(np.std(ratios, ddof=1), rel=0.12)


def test_difference_and_lift() -> None:
    c = Estimate(0.10, 0.01, 100)
    t = Estimate(0.12, 0.02, 100)
    diff = difference(c, t)
    assert diff.value == pytest.approx(0.02)
    assert diff.se == pytest.approx(math.sqrt(0.01**2 + 0.02**2))
    assert diff.n == 200
    lift = relative_lift(c, t)
    assert lift.value == pytest.approx(0.2)
    # delta method: se_t²/c² + t²·se_c²/c⁴
    assert lift.se == pytest.approx(math.sqrt(0.02**2 / 0.01 + 0.12**2 * 0.01**2 / 0.1**4))
    assert lift.low is not None and lift.high is not None
    assert lift.low < 0.2 < lift.high


def test_lift_is_undefined_over_nothing() -> None:
    zero = Estimate(0.0, 0.0, 50)
    assert relative_lift(zero, Estimate(0.1, 0.01, 50)).value is None
    assert relative_lift(Estimate(None, None, 0), Estimate(0.1, 0.01, 50)).value is None
    assert difference(Estimate(None, None, 0), Estimate(0.1, 0.01, 50)).value is None
    no_se = relative_lift(Estimate(0.1, None, 1), Estimate(0.2, 0.01, 50))
    assert no_se.value == pytest.approx(1.0)
    assert no_se.se is None and no_se.low is None


# ---------------------------------------------------------------- mSPRT


def test_always_valid_p_matches_the_formula() -> None:
    theta, v, tau2 = 0.03, 4e-5, 9e-4
    lam = math.sqrt(v / (v + tau2)) * math.exp(tau2 * theta**2 / (2 * v * (v + tau2)))
    assert always_valid_p(theta, v, tau2) == pytest.approx(1 / lam)
    assert always_valid_p(0.0, v, tau2) == 1.0  # Lambda < 1 at theta = 0: capped at 1
    assert always_valid_p(theta, v, tau2) == always_valid_p(-theta, v, tau2)


def test_always_valid_p_degenerate_inputs_give_one_or_zero_never_nan() -> None:
    assert always_valid_p(0.1, 0.0, 1.0) == 1.0  # no variance: no usable evidence
    assert always_valid_p(0.1, 1e-4, 0.0) == 1.0
    assert always_valid_p(float("nan"), 1e-4, 1.0) == 1.0
    assert always_valid_p(0.1, float("inf"), 1.0) == 1.0
    assert always_valid_p(1e6, 1e-12, 1.0) == 0.0  # overwhelming evidence underflows to 0


@given(
    theta=st.floats(-1e3, 1e3),
    v=st.floats(1e-9, 1e3),
    tau2=st.floats(1e-9, 1e3),
)
def test_always_valid_p_is_a_probability(theta: float, v: float, tau2: float) -> None:
    p = always_valid_p(theta, v, tau2)
    assert 0.0 <= p <= 1.0


def test_tau2_is_tied_to_the_per_user_variance() -> None:
    c = Estimate(0.10, math.sqrt(0.09 / 1000), 1000)  # per-user variance 0.09
    t = Estimate(0.12, math.sqrt(0.1056 / 1000), 1000)
    tau2 = mixture_tau2(c, t)
    assert tau2 == pytest.approx(DEFAULT_EFFECT_SD**2 * (0.09 + 0.1056) / 2)
    assert mixture_tau2(Estimate(0.0, 0.0, 10), Estimate(0.0, 0.0, 10)) is None
    with pytest.raises(InvalidInputError, match="effect_sd"):
        mixture_tau2(c, t, effect_sd=0.0)


def test_sequential_p_is_scale_free() -> None:
    rng = np.random.default_rng(3)
    a = rng.exponential(20.0, 2000)
    b = rng.exponential(22.0, 2000)
    p_euro = sequential_p(mean_estimate(a), mean_estimate(b))
    p_cent = sequential_p(mean_estimate(100 * a), mean_estimate(100 * b))
    assert p_euro is not None and p_cent is not None
    assert p_euro == pytest.approx(p_cent, rel=1e-9)


def test_sequential_p_degenerate_arms() -> None:
    assert sequential_p(Estimate(None, None, 0), Estimate(0.1, 0.01, 9)) is None
    assert sequential_p(Estimate(0.1, None, 1), Estimate(0.1, 0.01, 9)) is None
    flat = Estimate(0.0, 0.0, 100)
    assert sequential_p(flat, flat) == 1.0
    # the control has no purchases yet (zero variance): the treatment's variance still scales tau2
    p = sequential_p(flat, mean_estimate(np.r_[np.ones(30), np.zeros(970)]))
    assert p is not None and p < 0.05


def _daily_looks(
    rng: np.random.Generator, p_c: float, p_t: float, n_runs: int, days: int, per_day: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per run: the smallest always-valid p and the smallest naive z-test p over daily looks."""
    n = days * per_day
    c = (rng.random((n_runs, n)) < p_c).astype(np.float64)
    t = (rng.random((n_runs, n)) < p_t).astype(np.float64)
    min_av = np.ones(n_runs)
    min_naive = np.ones(n_runs)
    for run in range(n_runs):
        for day in range(1, days + 1):
            m = day * per_day
            ec, et = mean_estimate(c[run, :m]), mean_estimate(t[run, :m])
            p = sequential_p(ec, et)
            if p is not None:
                min_av[run] = min(min_av[run], p)
            d = difference(ec, et)
            if d.value is not None and d.se:
                naive = 2 * sps.norm.sf(abs(d.value) / d.se)
                min_naive[run] = min(min_naive[run], naive)
    return min_av, min_naive


def test_aa_experiments_looked_at_daily_keep_the_false_positive_rate() -> None:
    """500 A/A runs, 30 daily looks, 100 users per arm per day, 10% conversion.

    The always-valid p reaches 0.05 in at most 5% of the runs; with 500 runs the Monte-Carlo
    standard error of that fraction is sqrt(0.05 · 0.95 / 500) = 0.0097, so the test allows
    0.05 + 0.02 (about two standard errors). The naive fixed-horizon z-test, looked at daily,
    is shown to break on the same data (the simulation can see peeking).
    """
    rng = np.random.default_rng(20240601)
    min_av, min_naive = _daily_looks(rng, 0.10, 0.10, n_runs=500, days=30, per_day=100)
    fpr = float(np.mean(min_av <= 0.05))
    assert fpr <= 0.05 + 0.02
    assert float(np.mean(min_naive <= 0.05)) > 0.15  # peeking at a z-test: far above 5%


def test_a_real_effect_is_detected() -> None:
    rng = np.random.default_rng(11)
    c = (rng.random(5000) < 0.10).astype(np.float64)
    t = (rng.random(5000) < 0.13).astype(np.float64)
    p = sequential_p(mean_estimate(c), mean_estimate(t))
    assert p is not None and p <= 0.05


def test_a_real_effect_is_detected_in_most_runs_when_looked_at_daily() -> None:
    rng = np.random.default_rng(12)
    min_av, _ = _daily_looks(rng, 0.10, 0.13, n_runs=100, days=10, per_day=500)
    assert float(np.mean(min_av <= 0.05)) >= 0.9


# ---------------------------------------------------------------- SRM


def test_srm_flags_600_400_against_50_50() -> None:
    res = srm_test([600, 400], [50, 50])
    assert res.chi2 == pytest.approx(40.0)  # (100² + 100²) / 500
    assert res.p_value is not None and res.p_value < 1e-9
    assert res.flagged
    assert res.expected == (500.0, 500.0)


def test_srm_does_not_flag_505_495() -> None:
    res = srm_test([505, 495], [50, 50])
    assert res.chi2 == pytest.approx(0.1)
    assert res.p_value == pytest.approx(sps.chi2.sf(0.1, 1))
    assert not res.flagged


def test_srm_normalises_shares_of_enrolled_traffic() -> None:
    # 45/45 with 10% not enrolled is a 50/50 split among the enrolled users
    assert srm_test([505, 495], [45, 45]).chi2 == pytest.approx(0.1)
    three = srm_test([200, 400, 400], [20, 40, 40])
    assert three.chi2 == pytest.approx(0.0)
    assert not three.flagged


def test_srm_degenerate_inputs() -> None:
    none = srm_test([0, 0], [50, 50])
    assert (none.chi2, none.p_value, none.flagged) == (None, None, False)
    single = srm_test([10], [100])
    assert (single.chi2, single.flagged) == (None, False)
    with pytest.raises(InvalidInputError, match="same length"):
        srm_test([1, 2], [50])
    with pytest.raises(InvalidInputError, match="positive"):
        srm_test([1, 2], [100, 0])
    with pytest.raises(InvalidInputError, match="non-negative"):
        srm_test([-1, 2], [50, 50])
