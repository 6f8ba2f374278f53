"""The pitches step: pre-write pitches for the candidate before it serves.

It runs in the training door's ``before_publish`` hook, for the most active users, within the
config's time budget. It never keeps the candidate unpublished and never fails the night: without a
pre-written pitch the API falls back to a template at request time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import polars as pl

from jobs.nightly.run_report import PitchSummary
from recsys.bundle import Bundle
from recsys.home import Home
from recsys.matrix import DAY_S
from recsys.nightly.config import NightlyConfig
from recsys.store.contract import Store

log = logging.getLogger(__name__)


def most_active_users(events: pl.DataFrame, n: int, days: float) -> list[str]:
    """The ``n`` users with the most events in the last ``days`` (ties by user id)."""
    if n <= 0 or events.height == 0:
        return []
    newest = float(events["ts"].max())  # type: ignore[arg-type]
    recent = events.filter(pl.col("ts") >= newest - days * DAY_S)
    counts = recent.group_by("user_id").len().sort(["len", "user_id"], descending=[True, False])
    return counts["user_id"].head(n).to_list()


@dataclass(frozen=True)
class PitchStep:
    """What the pitches step needs from the run."""

    home: Home
    config: NightlyConfig
    enabled: bool  # False: ``--no-pitches``
    show_progress: bool

    def run(self, bundle: Bundle, store: Store, events: pl.DataFrame) -> PitchSummary:
        """Pre-write pitches for ``bundle`` (the written candidate); report what happened."""
        cfg = self.config
        if not self.enabled or cfg.pitch_users == 0 or cfg.pitch_budget_s == 0:
            return PitchSummary("skipped", reason="disabled")
        users = most_active_users(events, cfg.pitch_users, cfg.pitch_activity_days)
        try:
            from recsys.pitch.batch import prewrite_pitches
        except ImportError as exc:
            log.warning("pitch pre-writing skipped: %s", exc)
            return PitchSummary("skipped", reason=f"pitch writer not available: {exc}")
        try:
            out = prewrite_pitches(
                self.home,
                bundle,
                store,
                users,
                cfg.pitch_items_per_user,
                cfg.pitch_budget_s,
                show_progress=self.show_progress,
                config=cfg.pitch,
            )
        except Exception as exc:  # pitches fall back to templates at request time
            log.warning("pitch pre-writing failed: %s: %s", type(exc).__name__, exc)
            return PitchSummary("failed", reason=f"{type(exc).__name__}: {exc}", users=len(users))
        return PitchSummary(
            "done",
            users=len(users),
            written=out.written,
            cached=out.cached,
            template=out.template,
            failed=out.failed,
            elapsed_s=round(out.elapsed_s, 3),
            skipped=out.skipped,
        )
