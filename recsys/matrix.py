"""Events → user x item confidence matrix (polars aggregation, scipy CSR)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys.config import EVENT_TYPES, MatrixConfig
from recsys.errors import BundleError
from recsys.vocab import IdVocabulary


@dataclass
class Interactions:
    """The user x item confidence matrix and its two vocabularies.

    Attributes:
        matrix: CSR, shape ``(len(users), len(items))``, float32 confidence (0 = no interaction).
        users: rows ↔ ``user_id``.
        items: columns ↔ ``item_id`` (may include catalog items without events: empty columns).
        reference_ts: the time decay is measured against this epoch time (newest event).
    """

    matrix: sp.csr_matrix
    users: IdVocabulary
    items: IdVocabulary
    reference_ts: float

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_users, n_items)``."""
        return self.matrix.shape  # type: ignore[no-any-return]

    def item_counts(self) -> np.ndarray:
        """Number of distinct users per item, shape ``(n_items,)``, float32."""
        return np.asarray((self.matrix > 0).sum(axis=0)).ravel().astype(np.float32)


def event_weights(events: pl.DataFrame, config: MatrixConfig, reference_ts: float) -> pl.Expr:
    """Return the expression ``type weight x 0.5 ** (age / half_life)`` for each event row."""
    weight = pl.col("type").replace_strict(
        {t: config.weight(t) for t in EVENT_TYPES}, default=0.0, return_dtype=pl.Float64
    )
    if config.half_life_days is None:
        return weight
    half_life_s = config.half_life_days * 86_400.0
    age = (pl.lit(reference_ts) - pl.col("ts")).clip(lower_bound=0.0)
    return weight * (age * (-math.log(2) / half_life_s)).exp()


def build_interactions(
    events: pl.DataFrame,
    config: MatrixConfig | None = None,
    item_ids: list[str] | None = None,
    reference_ts: float | None = None,
) -> Interactions:
    """Aggregate events into a confidence matrix.

    Confidence of (user, item) = Σ over their events of ``weight[type] × 0.5 ** (age / half_life)``.

    Args:
        events: frame with ``user_id, item_id, type, ts``.
        config: weights, half-life and window (defaults when None).
        item_ids: catalog ids to include as columns first (so items without events exist in the
            vocabulary, reachable by text); items seen only in events are appended after them.
        reference_ts: "now" for decay and window; default = the newest event's time.

    Returns:
        The :class:`Interactions`. Users appear in order of first event; with no events the
        matrix has shape ``(0, len(item_ids))``.
    """
    config = config or MatrixConfig()
    if reference_ts is None:
        reference_ts = float(events["ts"].max()) if events.height else 0.0  # type: ignore[arg-type]
    if config.window_days is not None and events.height:
        events = events.filter(pl.col("ts") >= reference_ts - config.window_days * 86_400.0)
    agg = (
        events.lazy()
        .with_columns(event_weights(events, config, reference_ts).alias("w"))
        .filter(pl.col("w") > 0)
        .group_by(["user_id", "item_id"], maintain_order=True)
        .agg(pl.col("w").sum())
        .collect()
    )
    users = IdVocabulary(agg["user_id"].unique(maintain_order=True).to_list())
    items = IdVocabulary(item_ids or [])
    items.extend(agg["item_id"].unique(maintain_order=True).to_list())
    rows = users.indices(agg["user_id"].to_list())
    cols = items.indices(agg["item_id"].to_list())
    matrix = sp.csr_matrix(
        (agg["w"].to_numpy().astype(np.float32), (rows, cols)),
        shape=(len(users), len(items)),
        dtype=np.float32,
    )
    matrix.sum_duplicates()
    matrix.sort_indices()
    return Interactions(matrix=matrix, users=users, items=items, reference_ts=reference_ts)


def save_csr(path: str | Path, matrix: sp.csr_matrix) -> None:
    """Save a CSR matrix as ``.npz`` (no pickle)."""
    m = matrix.tocsr()
    np.savez(
        path,
        data=m.data.astype(np.float32),
        indices=m.indices.astype(np.int32),
        indptr=m.indptr.astype(np.int64),
        shape=np.asarray(m.shape, dtype=np.int64),
    )


def load_csr(path: str | Path) -> sp.csr_matrix:
    """Load a CSR matrix written by :func:`save_csr` with ``allow_pickle=False``."""
    try:
        with np.load(path, allow_pickle=False) as z:
            shape = tuple(int(x) for x in z["shape"])
            return sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=shape)
    except (OSError, KeyError, ValueError) as exc:
        raise BundleError(f"cannot read matrix {str(path)!r}: {exc}") from exc
