"""The nightly retraining job: locked, incremental, gated, crash-safe, with a report.

See :mod:`jobs.nightly.job` for the steps, :mod:`jobs.nightly.command` for ``recsys nightly`` and
``recsys rollback``, and ``docs/operations.md`` for running it.
"""

from jobs.nightly.job import ExitCode, NightlyResult, rollback_current, run_nightly
from recsys.nightly.config import NightlyConfig, load_nightly_config

__all__ = [
    "ExitCode",
    "NightlyConfig",
    "NightlyResult",
    "load_nightly_config",
    "rollback_current",
    "run_nightly",
]
