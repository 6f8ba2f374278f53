"""Spark MLlib's ``ALS(implicitPrefs=True)`` as the behavior model, and how its objective maps.

Both engines minimise, for every (user, item) pair, ``c_ui (p_ui - x_u·y_i)²`` with
``p_ui = 1, c_ui = 1 + alpha·w_ui`` for a cell of weight ``w_ui > 0`` and ``p = 0, c = 1``
elsewhere (Hu, Koren & Volinsky 2008): Spark's ``alpha`` is ours, and its "rating" is our cell
weight. They differ in the ridge:

* local (``recsys.models.ALSModel`` over implicit): ``λ (|x_u|² + |y_i|²)`` with
  ``λ = behavior.regularization`` for every user and item;
* Spark (ALS-WR, Zhou et al. 2008): ``regParam · (n_u |x_u|² + n_i |y_i|²)``, scaled by each
  user's and item's count of observed cells.

So ``regParam`` is set to ``regularization / mean(n_u)`` unless given: the average user gets the
ridge the local model gives every user (light users get less, heavy users more). The
factors, ``rank = factors``, ``maxIter = iterations`` and ``seed`` carry over as they are; the
initialisation and the solver (Spark: Cholesky on normal equations per block; implicit: conjugate
gradient) differ, so the factors differ while the quality should not (``benchmarks/spark_train.py``
measures it).

Fold-in (a new user, the hybrid's ``recent`` source) must solve the objective the factors were
trained with: the model is an :class:`~recsys.models.ALSModel` with ``ridge_per_item = regParam``
(``ALSModel.from_factors``), whose fold-in uses ``regParam · n`` for a row of ``n`` items, as
Spark's ``computeFactors`` does (``numExplicits · regParam``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from recsys.config import BehaviorConfig
from recsys.errors import ConfigError
from recsys.models import ALSModel

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class SparkALSFit:
    """What one Spark ALS fit gave.

    Attributes:
        model: the behavior model for the bundle (fold-in by Spark's objective).
        reg_param: the ``regParam`` used.
        mean_items_per_user: ``mean(n_u)`` of the cells (the mapping's denominator).
    """

    model: ALSModel
    reg_param: float
    mean_items_per_user: float


def reg_param_for(config: BehaviorConfig, n_cells: int, n_users: int) -> float:
    """Spark's ``regParam`` that gives the average user the local ridge ``regularization``."""
    mean = n_cells / max(n_users, 1)
    return config.regularization / max(mean, 1.0)


def _factors(frame: DataFrame, n: int, rank: int) -> npt.NDArray[np.float32]:
    """A factor frame (``id, features``) as an ``(n, rank)`` array; rows Spark left out are 0."""
    table = frame.toArrow()
    out = np.zeros((n, rank), dtype=np.float32)
    ids = table.column("id").to_numpy().astype(np.int64)
    if ids.size:
        values = table.column("features").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        out[ids] = np.asarray(values, dtype=np.float32).reshape(ids.size, rank)
    return out


def fit_spark_als(
    cells: DataFrame,
    n_users: int,
    n_items: int,
    known_items: npt.NDArray[np.bool_],
    config: BehaviorConfig,
    blocks: int,
    checkpoint_dir: str,
    reg_param: float | None = None,
) -> SparkALSFit:
    """Fit ``ALS(implicitPrefs=True)`` on the matrix cells and return the bundle's model.

    Args:
        cells: ``u int, i int, w double`` (``recsys.spark.matrix.SparkMatrix.cells``).
        n_users: rows of the matrix.
        n_items: columns of the matrix.
        known_items: items with at least one cell.
        config: the behavior config (``algorithm`` must be ``als``).
        blocks: user and item blocks (the ALS's parallelism).
        checkpoint_dir: where long lineages are cut (a folder every executor can reach; set
            ``spark.checkpoint.dir`` in the conf for a cluster without a shared file system).
        reg_param: Spark's ``regParam`` (default: :func:`reg_param_for`).

    Raises:
        ConfigError: for an algorithm other than ALS.
    """
    from pyspark.ml.recommendation import ALS

    if config.algorithm != "als":
        raise ConfigError(
            f"the Spark engine trains behavior.algorithm='als' only, not {config.algorithm!r}"
        )
    n_cells = cells.count()
    reg = reg_param if reg_param is not None else reg_param_for(config, n_cells, n_users)
    spark = cells.sparkSession
    if not spark.conf.get("spark.checkpoint.dir", None):
        spark.sparkContext.setCheckpointDir(checkpoint_dir)
    als = ALS(
        rank=config.factors,
        maxIter=config.iterations,
        regParam=reg,
        alpha=config.alpha,
        implicitPrefs=True,
        userCol="u",
        itemCol="i",
        ratingCol="w",
        seed=config.seed,
        numUserBlocks=blocks,
        numItemBlocks=blocks,
        checkpointInterval=5,
    )
    fitted = als.fit(cells)
    user = _factors(fitted.userFactors, n_users, config.factors)
    item = _factors(fitted.itemFactors, n_items, config.factors)
    model = ALSModel.from_factors(config, user, item, known_items, ridge_per_item=reg)
    return SparkALSFit(model, reg, n_cells / max(n_users, 1))
