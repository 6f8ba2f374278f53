"""The blend stage: standardize each source's scores over the candidates, weight and add them.

Scores from each source are standardized over the union of candidates (``(v - mean) / spread``,
where the spread is floored at half the source's typical spread, so a near-constant source is not
stretched into noise), then blended with the configured weights; a candidate a source cannot
score (e.g. a new item for the behavior model) gets that source's lowest candidate score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt

Contributions = dict[str, npt.NDArray[np.float64]]
SPREAD_FLOOR = 0.5  # a source's spread is floored at this share of its typical spread


def spread_floor(typical_spreads: list[float]) -> float:
    """The smallest spread a source is standardized with: a share of its median typical spread."""
    return SPREAD_FLOOR * float(np.median(typical_spreads)) if typical_spreads else 0.0


def zscore(values: npt.NDArray[np.float32], floor: float = 0.0) -> npt.NDArray[np.float32]:
    """Standardize finite values with a spread that cannot fall below ``floor``.

    ``(v - mean) / max(std, floor)``: a source whose scores barely vary over the candidates (e.g. a
    behavior fold-in from a one-item session) is not stretched to unit variance, so its noise
    cannot swamp a source with a clear signal. Non-finite values get the lowest standardized value
    (0 when every value is equal).
    """
    finite = np.isfinite(values)
    every = bool(finite.all())
    v = values.astype(np.float64) if every else values[finite].astype(np.float64)
    if v.size == 0:
        return np.zeros(values.shape, dtype=np.float32)
    # mean and std as numpy's mean() and std() compute them (bit for bit), without their wrappers
    d = v - np.add.reduce(v) / v.size
    spread = max(float(np.sqrt(np.add.reduce(d * d) / v.size)), floor)
    z = d / spread if spread > 1e-12 else np.zeros_like(v)
    if every:
        return z.astype(np.float32)
    out = np.empty(values.shape, dtype=np.float32)
    out[finite] = z
    out[~finite] = z.min()
    return out


def blend(
    scores: Mapping[str, npt.NDArray[np.float32]],
    weights: Mapping[str, float],
    floor: Callable[[str], float],
) -> tuple[npt.NDArray[np.float64], Contributions]:
    """Blend per-source scores of the same candidates.

    Args:
        scores: raw scores per source name, each of the candidates' length (the sum runs in this
            mapping's order, so answers are bit-stable).
        weights: blend weight per source; a source with weight 0 (or none) takes no part.
        floor: the smallest spread each source is standardized with.

    Returns:
        ``(blended, contributions)``: the blended score per candidate, and each taking-part
        source's weighted standardized score (what explanations compare).
    """
    contrib = {
        s: weights[s] * zscore(v, floor(s)).astype(np.float64)
        for s, v in scores.items()
        if weights.get(s, 0) > 0
    }
    size = next(iter(scores.values())).shape[0] if scores else 0
    blended = np.zeros(size, dtype=np.float64)
    for v in contrib.values():
        blended += v
    return blended, contrib
