"""The nightly retraining job: locked, incremental, gated, crash-safe, with a report.

See :mod:`recsys.nightly.job` for the steps and ``docs/operations.md`` for running it.
"""

from recsys.nightly.config import NightlyConfig, load_nightly_config
from recsys.nightly.job import ExitCode, NightlyResult, rollback_current, run_nightly

__all__ = [
    "ExitCode",
    "NightlyConfig",
    "NightlyResult",
    "load_nightly_config",
    "rollback_current",
    "run_nightly",
]
