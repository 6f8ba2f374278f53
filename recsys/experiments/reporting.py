"""An experiment's report from the store: the log read back, attributed and tested."""

from __future__ import annotations

import time

import polars as pl

from recsys.experiments.analysis import ExperimentReport, analyze
from recsys.experiments.spec import Experiment, get_experiment
from recsys.store.contract import Store


def report_for(store: Store, name: str | Experiment, now: float | None = None) -> ExperimentReport:
    """The report of experiment ``name`` as of ``now`` (default: now).

    Reads the experiment's answers, their items and its shoppers' events since it started
    (``Store.experiment_log``) and the catalog's prices, then attributes and tests them
    (:func:`recsys.experiments.analysis.analyze`). A stopped experiment's report reads events
    up to one attribution window after the stop: later purchases (its holdout shoppers are
    served as everyone else again) do not move its total metrics.

    Raises:
        InvalidInputError: no such experiment.
    """
    experiment = name if isinstance(name, Experiment) else get_experiment(store, name)
    until = None if experiment.stopped_at is None else experiment.stopped_at + experiment.window_s
    log = store.experiment_log(experiment.name, experiment.started_at, until)
    catalog = store.catalog_frame()
    prices = (
        catalog.select("item_id", pl.col("price").cast(pl.Float64))
        if catalog.height
        else pl.DataFrame(schema={"item_id": pl.String, "price": pl.Float64})
    )
    return analyze(
        log.exposures,
        log.impressions,
        log.events,
        prices,
        variants=[v.name for v in experiment.variants],
        shares=experiment.shares,
        primary=experiment.primary,
        alpha=experiment.alpha,
        window_s=experiment.window_s,
        min_users=experiment.min_users,
        name=experiment.name,
        now=time.time() if now is None else now,
    )
