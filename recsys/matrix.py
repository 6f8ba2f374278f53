"""Events → user x item confidence matrix (polars aggregation, scipy CSR)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
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
    weighted = (
        events.lazy()
        .select("user_id", "item_id", event_weights(events, config, reference_ts).alias("w"))
        .filter(pl.col("w") > 0)
        .collect()
    )
    user_list, rows = _factorize(weighted, "user_id")
    users = IdVocabulary(user_list)
    item_list, first_cols = _factorize(weighted, "item_id")
    items = IdVocabulary(item_ids or [])
    items.extend(item_list)
    # event columns in first-appearance order -> columns after the catalog's own ids
    cols = items.indices(item_list)[first_cols] if item_list else first_cols
    matrix = sp.csr_matrix(
        (
            weighted["w"].to_numpy(),
            (rows, cols),
        ),
        shape=(len(users), len(items)),
        dtype=np.float64,  # sum in double precision, then store float32
    )
    matrix.sum_duplicates()
    matrix.sort_indices()
    matrix = matrix.astype(np.float32)
    return Interactions(matrix=matrix, users=users, items=items, reference_ts=reference_ts)


def _factorize(frame: pl.DataFrame, column: str) -> tuple[list[str], npt.NDArray[np.int64]]:
    """Distinct ids of a string column in order of first appearance, and each row's code.

    Polars factorizes by a 64-bit hash of the id (a join on integers is far faster than on
    strings at millions of rows); every row's id is then compared with its code's id, so a hash
    collision cannot merge two ids: it falls back to the exact (slower) string path.
    """
    if frame.height == 0:
        return [], np.empty(0, dtype=np.int64)
    hashed = frame.select(pl.col(column), pl.col(column).hash().alias("_h"))
    first = hashed.unique(subset="_h", keep="first", maintain_order=True).with_row_index("_code")
    coded = hashed.join(first, on="_h", how="left", maintain_order="left", suffix="_first")
    if bool((coded[column] == coded[f"{column}_first"]).all()):
        return first[column].to_list(), coded["_code"].to_numpy().astype(np.int64)
    ids = frame[column].unique(maintain_order=True).to_list()  # a hash collision: exact path
    return ids, IdVocabulary(ids).indices(frame[column].to_list())


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
