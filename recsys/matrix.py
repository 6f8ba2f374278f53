"""Events → user x item confidence matrix (polars aggregation, scipy CSR), and the time decay.

Time decay has one formula and one clock, used by training and by requests alike
(:func:`decay`): an event's weight halves every ``half_life_days``, with its age measured from the
newest event *of the same user*. So a user's trained row and the row a request folds in from the
same history are equal, and a shopper who was away for months keeps the taste of their last visit
(the window, ``window_days``, is the one setting measured from the newest event of all).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import overload

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
        reference_ts: the window (``window_days``) is measured back from this epoch time.
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


DAY_S = 86_400.0


def decay_rate(half_life_days: float) -> float:
    """The exponent per second of :func:`decay`: ``weight = exp(age_s · rate)``.

    Engines that cannot call :func:`decay` (Spark SQL, ``recsys.spark.matrix``) build the same
    expression from this rate.
    """
    return -math.log(2) / (half_life_days * DAY_S)


def type_weights(config: MatrixConfig) -> dict[str, float]:
    """Each event type's weight (types outside :data:`~recsys.config.EVENT_TYPES` weigh 0)."""
    return {t: config.weight(t) for t in EVENT_TYPES}


@overload
def decay(age_s: pl.Expr, half_life_days: float) -> pl.Expr: ...
@overload
def decay(age_s: npt.NDArray[np.float64], half_life_days: float) -> npt.NDArray[np.float64]: ...
def decay(
    age_s: pl.Expr | npt.NDArray[np.float64], half_life_days: float
) -> pl.Expr | npt.NDArray[np.float64]:
    """Weight of an event ``age_s`` seconds old: ``0.5 ** (age / half-life)``.

    The one time-decay formula of the library: training rows (a polars expression), request-time
    history rows and repeat-purchase scores (numpy arrays) all call it.

    Args:
        age_s: ages in seconds (>= 0), a numpy array or a polars expression.
        half_life_days: the age at which an event counts half.
    """
    rate = decay_rate(half_life_days)
    if isinstance(age_s, pl.Expr):
        return (age_s * rate).exp()
    return np.exp(age_s * rate)


def event_weights(events: pl.DataFrame, config: MatrixConfig) -> pl.Expr:
    """Return the expression ``type weight x decay(age)`` for each event row.

    Age is measured from the newest event of the row's user (see the module docstring).
    """
    weight = pl.col("type").replace_strict(
        type_weights(config), default=0.0, return_dtype=pl.Float64
    )
    if config.half_life_days is None:
        return weight
    age = (pl.col("ts").max().over("user_id") - pl.col("ts")).clip(lower_bound=0.0)
    return weight * decay(age, config.half_life_days)


def build_interactions(
    events: pl.DataFrame,
    config: MatrixConfig | None = None,
    item_ids: list[str] | None = None,
    reference_ts: float | None = None,
) -> Interactions:
    """Aggregate events into a confidence matrix.

    Confidence of (user, item) = Σ over their events of ``weight[type] × decay(age)``, with age
    measured from the user's newest event (:func:`decay`).

    Args:
        events: frame with ``user_id, item_id, type, ts``.
        config: weights, half-life and window (defaults when None).
        item_ids: catalog ids to include as columns first (so items without events exist in the
            vocabulary, reachable by text); items seen only in events are appended after them.
        reference_ts: "now" for the window; default = the newest event's time.

    Returns:
        The :class:`Interactions`. Users appear in order of first event; with no events the
        matrix has shape ``(0, len(item_ids))``.
    """
    config = config or MatrixConfig()
    if reference_ts is None:
        reference_ts = float(events["ts"].max()) if events.height else 0.0  # type: ignore[arg-type]
    if config.window_days is not None and events.height:
        events = events.filter(pl.col("ts") >= reference_ts - config.window_days * DAY_S)
    weighted = (
        events.lazy()
        .select("user_id", "item_id", event_weights(events, config).alias("w"))
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
