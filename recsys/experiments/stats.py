"""Statistics of an A/B report: estimates with 95% intervals, lifts, mSPRT p-values, SRM.

Pure functions over NumPy arrays of per-user values (one entry per exposed user, the unit of
randomisation), so they can be tested on their own and reused by benchmarks.

Conventions:

- An :class:`Estimate` is a point value with its standard error and a 95% normal interval.
  Undefined quantities are ``None``, never NaN: no users, a zero denominator (a ratio over users
  who saw no impressions) or fewer than two users for a variance. A zero variance is not
  undefined: the standard error is ``0.0`` and the interval collapses onto the value.
- Intervals are normal (Wald) intervals, ``value ± 1.96 · se``. Ratio metrics and relative lifts
  get their standard error from the delta method (first-order Taylor expansion), which treats the
  user as the independent unit, so the correlation between the impressions of one user is
  accounted for.
- :func:`always_valid_p` is the mixture sequential probability ratio test (mSPRT) of Johari,
  Pekelis and Walsh (2017, "Always valid inference: bringing sequential analysis to A/B
  testing", arXiv:1512.04922) with a normal mixing distribution. Its p-value may be looked at
  after every new user: the chance that it *ever* drops below ``alpha`` under the null is at most
  ``alpha`` (Ville's inequality), so a report that is opened daily keeps its error rate.

Example:
    >>> import numpy as np
    >>> c = mean_estimate(np.array([0.0, 1.0, 0.0, 0.0]))
    >>> t = mean_estimate(np.array([1.0, 1.0, 0.0, 1.0]))
    >>> round(difference(c, t).value, 2)
    0.5
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

from recsys.errors import InvalidInputError

#: Two-sided 95% normal quantile.
Z95 = float(sps.norm.ppf(0.975))

#: SRM is flagged when the chi-square p-value is below this (a common, deliberately strict cut:
#: with many looks at a live experiment, 0.05 would flag healthy experiments now and then).
SRM_P_THRESHOLD = 0.001

#: Default standard deviation of the mSPRT's normal mixture over true effects, in units of the
#: per-user standard deviation of the metric (a standardised effect, Cohen's d). 0.1 means "we
#: expect true differences of about a tenth of a per-user standard deviation", e.g. about 3
#: percentage points on a 10% conversion rate (per-user sd 0.3). Because tau² is then
#: ``(0.1 · sd)²``, the test is scale-free: multiplying a metric by a constant (cents instead of
#: euros) changes nothing. Any fixed choice keeps the test valid; it only moves the power towards
#: effects of about that size (Johari et al. 2017, section 4.2).
DEFAULT_EFFECT_SD = 0.1


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its standard error and 95% normal interval.

    Attributes:
        value: The estimate; ``None`` when undefined (no users, or a ratio whose denominator
            sums to zero).
        se: Its standard error; ``None`` when undefined (value undefined or fewer than 2
            users). ``0.0`` when every user has the same value.
        n: Number of independent units (users) behind it.
    """

    value: float | None
    se: float | None
    n: int

    @property
    def low(self) -> float | None:
        """Lower end of the 95% interval (``None`` when the standard error is undefined)."""
        if self.value is None or self.se is None:
            return None
        return self.value - Z95 * self.se

    @property
    def high(self) -> float | None:
        """Upper end of the 95% interval (``None`` when the standard error is undefined)."""
        if self.value is None or self.se is None:
            return None
        return self.value + Z95 * self.se

    @property
    def unit_variance(self) -> float | None:
        """Variance of one unit's contribution, ``se² · n`` (``None`` when undefined)."""
        if self.se is None:
            return None
        return self.se * self.se * self.n


def _as_1d(x: ArrayLike, what: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidInputError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{what} contains NaN or infinite values")
    return arr


def mean_estimate(x: ArrayLike) -> Estimate:
    """Mean of per-user values with its standard error (sample variance, ``ddof=1``).

    Args:
        x: Shape ``(n,)``, one finite value per user (e.g. 0/1 converted, revenue).

    Returns:
        The mean; ``value=None`` when ``n == 0``, ``se=None`` when ``n < 2``.

    Raises:
        InvalidInputError: ``x`` is not one-dimensional or holds NaN/inf.
    """
    arr = _as_1d(x, "x")
    n = int(arr.size)
    if n == 0:
        return Estimate(None, None, 0)
    value = float(arr.mean())
    if n < 2:
        return Estimate(value, None, n)
    var = float(arr.var(ddof=1))
    return Estimate(value, math.sqrt(max(var, 0.0) / n), n)


def ratio_estimate(x: ArrayLike, y: ArrayLike) -> Estimate:
    """Ratio ``sum(x) / sum(y)`` over users, with a delta-method standard error.

    For ``R = mean(x) / mean(y)`` the first-order expansion gives
    ``Var(R) ≈ Var(x - R·y) / (n · mean(y)²)``: the per-user residuals ``x_i - R·y_i`` carry the
    correlation between the numerator and the denominator of one user (e.g. the clicks and the
    impressions of one shopper), which a per-impression binomial interval would ignore.

    Args:
        x: Shape ``(n,)``, the numerator per user (e.g. clicked impressions).
        y: Shape ``(n,)``, the denominator per user (e.g. impressions), non-negative.

    Returns:
        The ratio; ``value=None`` when there are no users or ``sum(y) == 0``; ``se=None`` when
        ``n < 2``.

    Raises:
        InvalidInputError: shapes differ, or an input is not 1-D or holds NaN/inf.
    """
    xa, ya = _as_1d(x, "x"), _as_1d(y, "y")
    if xa.shape != ya.shape:
        raise InvalidInputError(f"x and y must have the same shape, got {xa.shape} and {ya.shape}")
    n = int(xa.size)
    total_y = float(ya.sum())
    if n == 0 or total_y == 0.0:
        return Estimate(None, None, n)
    ratio = float(xa.sum()) / total_y
    if n < 2:
        return Estimate(ratio, None, n)
    resid_var = float((xa - ratio * ya).var(ddof=1))
    mean_y = total_y / n
    return Estimate(ratio, math.sqrt(max(resid_var, 0.0) / n) / mean_y, n)


def difference(control: Estimate, treatment: Estimate) -> Estimate:
    """Absolute difference ``treatment - control`` of two independent estimates.

    Returns:
        ``value=None`` when either value is undefined; ``se = sqrt(se_c² + se_t²)`` or ``None``
        when either standard error is undefined. ``n`` is the sum of both.
    """
    n = control.n + treatment.n
    if control.value is None or treatment.value is None:
        return Estimate(None, None, n)
    value = treatment.value - control.value
    if control.se is None or treatment.se is None:
        return Estimate(value, None, n)
    return Estimate(value, math.hypot(control.se, treatment.se), n)


def relative_lift(control: Estimate, treatment: Estimate) -> Estimate:
    """Relative lift ``treatment / control - 1`` with a delta-method standard error.

    ``Var(t/c) ≈ se_t² / c² + t² · se_c² / c⁴`` for independent arms.

    Returns:
        ``value=None`` when either value is undefined or the control is 0 (a lift over nothing
        is not a number); ``se=None`` when either standard error is undefined.
    """
    n = control.n + treatment.n
    c, t = control.value, treatment.value
    if c is None or t is None or c == 0.0:
        return Estimate(None, None, n)
    value = t / c - 1.0
    if control.se is None or treatment.se is None:
        return Estimate(value, None, n)
    var = (treatment.se / c) ** 2 + (t * control.se / (c * c)) ** 2
    return Estimate(value, math.sqrt(var), n)


def always_valid_p(theta: float, variance: float, tau2: float) -> float:
    """Always-valid (mSPRT) p-value of ``H0: difference = 0`` for an asymptotically normal estimate.

    With a normal mixture ``N(0, tau2)`` over the true difference, the mixture likelihood ratio
    of Johari, Pekelis and Walsh (2017) is::

        Lambda = sqrt(V / (V + tau2)) · exp(tau2 · theta² / (2 · V · (V + tau2)))

    and the always-valid p-value at this look is ``min(1, 1 / Lambda)``. Under ``H0`` the chance
    that any look (however many, whenever taken) gives ``p <= alpha`` is at most ``alpha``. The
    p-value of the paper is the running minimum over looks; this function is one look, so a
    caller that stops at the first look with ``p <= alpha`` is exactly the paper's test.

    Args:
        theta: The estimated difference (treatment - control).
        variance: ``V``, the variance of ``theta`` (e.g. ``se_c² + se_t²``).
        tau2: Variance of the mixing distribution, ``> 0`` (see :func:`mixture_tau2`).

    Returns:
        The p-value in ``[0, 1]``. Degenerate inputs give ``1.0`` (no evidence): a
        non-positive or non-finite ``variance`` or ``tau2``, or a non-finite ``theta``.
    """
    if not (
        math.isfinite(theta)
        and math.isfinite(variance)
        and math.isfinite(tau2)
        and variance > 0.0
        and tau2 > 0.0
    ):
        return 1.0
    total = variance + tau2
    log_lambda = 0.5 * math.log(variance / total) + tau2 * theta * theta / (2.0 * variance * total)
    if log_lambda <= 0.0:
        return 1.0
    return math.exp(-log_lambda)  # underflows to 0.0 for overwhelming evidence, never NaN


def mixture_tau2(
    control: Estimate, treatment: Estimate, effect_sd: float = DEFAULT_EFFECT_SD
) -> float | None:
    """The mSPRT mixing variance ``tau2 = (effect_sd · sd)²`` for one comparison.

    ``sd²`` is the per-user variance of the metric, averaged over the two arms
    (``se² · n`` per arm, :attr:`Estimate.unit_variance`); the average keeps ``tau2``
    positive when one arm happens to have no variance (e.g. no purchases yet in the control).
    Under the null both arms estimate the same per-user variance. Expressing the expected effect
    in per-user standard deviations makes the test independent of the metric's unit.

    Args:
        control: The control arm's estimate.
        treatment: The treatment arm's estimate.
        effect_sd: Expected size of true effects in per-user standard deviations, ``> 0``.

    Returns:
        ``tau2``, or ``None`` when neither arm has a defined, positive variance.

    Raises:
        InvalidInputError: ``effect_sd`` is not a positive finite number.
    """
    if not (math.isfinite(effect_sd) and effect_sd > 0.0):
        raise InvalidInputError(f"effect_sd must be a positive number, got {effect_sd!r}")
    unit = [v for v in (control.unit_variance, treatment.unit_variance) if v is not None]
    if not unit:
        return None
    sd2 = sum(unit) / len(unit)
    if sd2 <= 0.0:
        return None
    return effect_sd * effect_sd * sd2


def sequential_p(
    control: Estimate, treatment: Estimate, effect_sd: float = DEFAULT_EFFECT_SD
) -> float | None:
    """Always-valid p-value of ``treatment - control`` with the default mixture.

    Combines :func:`difference`, :func:`mixture_tau2` and :func:`always_valid_p`.

    Returns:
        The p-value, or ``None`` when it is undefined (an arm without users or without a
        standard error). When both arms have zero variance the test has no information and
        the p-value is ``1.0``.
    """
    diff = difference(control, treatment)
    if diff.value is None or diff.se is None:
        return None
    tau2 = mixture_tau2(control, treatment, effect_sd)
    if tau2 is None:
        return 1.0
    return always_valid_p(diff.value, diff.se * diff.se, tau2)


@dataclass(frozen=True)
class SrmResult:
    """Sample-ratio-mismatch check: observed users per variant against the traffic shares.

    Attributes:
        observed: Users per variant, in variant order.
        expected: Expected users per variant, ``total · share / sum(shares)``.
        chi2: Pearson's chi-square statistic; ``None`` when there is nothing to test (no
            users, or a single variant).
        p_value: Its p-value with ``k - 1`` degrees of freedom; ``None`` when ``chi2`` is.
        flagged: ``p_value < threshold``: the split is not what was configured, so the
            comparison between variants may be biased (a bug in assignment or logging).
        threshold: The p-value cut used.
    """

    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float | None
    p_value: float | None
    flagged: bool
    threshold: float = SRM_P_THRESHOLD


def srm_test(
    observed: Sequence[int], shares: Sequence[float], threshold: float = SRM_P_THRESHOLD
) -> SrmResult:
    """Chi-square goodness-of-fit test of observed counts against expected shares.

    Args:
        observed: Users per variant, non-negative integers.
        shares: Traffic share per variant (any positive scale, e.g. percent); normalised to sum
            to one over the variants, since traffic not enrolled is not observed.
        threshold: Flag when the p-value is below this.

    Returns:
        The :class:`SrmResult`; not flagged (``chi2=None``) when no user was observed or there is
        only one variant.

    Raises:
        InvalidInputError: lengths differ, a count is negative, or a share is not positive.
    """
    obs = np.asarray(observed, dtype=np.float64)
    sh = np.asarray(shares, dtype=np.float64)
    if obs.ndim != 1 or obs.shape != sh.shape or obs.size == 0:
        raise InvalidInputError(
            f"observed and shares must be non-empty and of the same length, got {len(observed)} "
            f"and {len(shares)}"
        )
    if np.any(obs < 0) or not np.all(np.isfinite(obs)):
        raise InvalidInputError(f"observed counts must be non-negative, got {list(observed)}")
    if np.any(~np.isfinite(sh)) or np.any(sh <= 0):
        raise InvalidInputError(f"shares must be positive numbers, got {list(shares)}")
    total = float(obs.sum())
    expected = total * sh / sh.sum()
    observed_t = tuple(int(v) for v in obs)
    expected_t = tuple(float(v) for v in expected)
    if total == 0.0 or obs.size < 2:
        return SrmResult(observed_t, expected_t, None, None, False, threshold)
    chi2 = float(np.sum((obs - expected) ** 2 / expected))
    p = float(sps.chi2.sf(chi2, df=obs.size - 1))
    return SrmResult(observed_t, expected_t, chi2, p, p < threshold, threshold)
