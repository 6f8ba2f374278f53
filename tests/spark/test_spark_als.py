"""Spark's ALS as the bundle's model: its fold-in solves the objective Spark trained with."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from spark_events import random_events

from recsys.config import BehaviorConfig, MatrixConfig
from recsys.errors import ConfigError
from recsys.models import ALSModel, BehaviorModel
from recsys.spark.als import fit_spark_als, reg_param_for
from recsys.spark.matrix import ORDER, read_events, spark_interactions

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CONFIG = BehaviorConfig(factors=8, iterations=10, regularization=0.5, alpha=2.0, seed=3)


@pytest.fixture(scope="module")
def fitted(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    folder = tmp_path_factory.mktemp("als")
    events = random_events(n_users=50, n_items=30, per_user=15)
    path = folder / "e.parquet"
    events.with_row_index(ORDER).with_columns(pl.col(ORDER).cast(pl.Int64)).write_parquet(path)
    frame, _ = read_events(spark, str(path), ordered=True)
    matrix = spark_interactions(spark, frame, MatrixConfig(), [])
    inter = matrix.interactions
    known = np.asarray(inter.matrix.getnnz(axis=0) > 0)
    fit = fit_spark_als(
        matrix.cells,
        len(inter.users),
        len(inter.items),
        known,
        CONFIG,
        blocks=2,
        checkpoint_dir=str(folder / "checkpoints"),
    )
    return fit, inter.matrix


def test_fold_in_reproduces_spark_user_factors(fitted: tuple) -> None:
    # Spark's last half-iteration solves every user against the final item factors, so folding
    # a trained user's own row in must give back Spark's vector -- with Spark's ridge only
    fit, matrix = fitted
    model = fit.model
    local_objective = ALSModel.from_factors(
        CONFIG, model._user, model._item, model.known_items, ridge_per_item=None
    )
    worst_spark, worst_local = 0.0, 0.0
    for u in range(matrix.shape[0]):
        row = matrix[u]
        trained = model.user_vector(u, row)
        scale = float(np.linalg.norm(trained))
        worst_spark = max(
            worst_spark, float(np.linalg.norm(model.user_vector(-1, row) - trained)) / scale
        )
        worst_local = max(
            worst_local,
            float(np.linalg.norm(local_objective.user_vector(-1, row) - trained)) / scale,
        )
    assert worst_spark < 1e-3  # float32 factors, Spark solves in double
    assert worst_local > 10 * worst_spark  # the local objective's fold-in would not match


def test_reg_param_maps_the_average_user(fitted: tuple) -> None:
    fit, matrix = fitted
    mean = matrix.nnz / matrix.shape[0]
    assert fit.mean_items_per_user == pytest.approx(mean)
    assert fit.reg_param == pytest.approx(CONFIG.regularization / mean)
    assert reg_param_for(CONFIG, n_cells=10, n_users=100) == CONFIG.regularization  # >= 1 item


def test_saved_model_keeps_its_objective(fitted: tuple, tmp_path: Path) -> None:
    fit, matrix = fitted
    fit.model.save(tmp_path / "behavior")
    loaded = BehaviorModel.load(tmp_path / "behavior")
    assert isinstance(loaded, ALSModel) and loaded.ridge_per_item == fit.reg_param
    row = sp.csr_matrix(matrix[3])
    np.testing.assert_array_equal(loaded.user_vector(-1, row), fit.model.user_vector(-1, row))


def test_only_als_trains_on_spark(fitted: tuple, spark: SparkSession) -> None:
    cells = spark.createDataFrame([(0, 0, 1.0)], "u int, i int, w double")
    with pytest.raises(ConfigError, match="als"):
        fit_spark_als(
            cells, 1, 1, np.ones(1, bool), BehaviorConfig(algorithm="bpr"), 1, checkpoint_dir="."
        )
