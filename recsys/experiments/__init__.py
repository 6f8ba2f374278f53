"""A/B experiments: variants, sticky assignment, attribution of events to answers, and reports.

:mod:`recsys.experiments.spec` defines an experiment and assigns shoppers to its variants;
:mod:`recsys.experiments.stats` and :mod:`recsys.experiments.analysis` attribute events to the
answers shoppers were shown and compute the report; :func:`report_for` reads an experiment's
records from the store and reports on them.
"""

from recsys.experiments.reporting import report_for
from recsys.experiments.spec import (
    Experiment,
    Variant,
    get_experiment,
    list_experiments,
    make_experiment,
    running_experiment,
    start_experiment,
    stop_experiment,
)

__all__ = [
    "Experiment",
    "Variant",
    "get_experiment",
    "list_experiments",
    "make_experiment",
    "report_for",
    "running_experiment",
    "start_experiment",
    "stop_experiment",
]
