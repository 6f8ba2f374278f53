"""The recover step: clean up after a run that died (its lock record names it).

A killed run can leave a bundle it wrote but never published (the lock record names its version),
temp folders of its bundle writer, and temp files in the reports folder. The next run removes them
before it starts over; ``CURRENT`` always names a complete bundle, so nothing else needs repair.
"""

from __future__ import annotations

import logging
import shutil
from typing import Any

from jobs.nightly.report import cleanup_report_tmp
from jobs.nightly.run_report import Recovered
from recsys.bundle import cleanup_stale, current_version
from recsys.home import Home

log = logging.getLogger(__name__)


def recover(home: Home, stale: dict[str, Any] | None) -> Recovered | None:
    """Remove what a dead run left behind; None when there was no dead run and nothing to remove.

    Args:
        home: the data home.
        stale: the dead run's lock record (None: the previous run released the lock).
    """
    artifacts = home.artifacts
    removed: list[str] = []
    if stale is not None:
        orphan = stale.get("version")
        if (
            isinstance(orphan, str)
            and orphan
            and orphan != current_version(artifacts)
            and (artifacts / orphan).is_dir()
            and not orphan.startswith(".")
            and "/" not in orphan
        ):
            shutil.rmtree(artifacts / orphan, ignore_errors=True)
            removed.append(orphan)
            log.warning(
                "removed bundle %s written but never published by run %s",
                orphan,
                stale.get("run_id"),
            )
    removed += cleanup_stale(artifacts)
    removed += cleanup_report_tmp(home.root / "reports")
    if stale is None and not removed:
        return None
    return Recovered(stale, removed)
