"""Typed, frozen configuration of the nightly job (training config included).

A nightly config file is TOML (or JSON) with the job's keys at the top level and the training
config under ``[train]`` (the same keys ``recsys train --config`` reads)::

    holdout_frac = 0.1
    tolerance = 0.02
    [train.behavior]
    factors = 64

Example:
    >>> cfg = NightlyConfig.from_dict({"tolerance": 0.05, "train": {"keep_versions": 7}})
    >>> cfg.train.keep_versions
    7
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from recsys.config import Config, TrainConfig, check, check_range, read_config_file
from recsys.pitch.config import PitchConfig

GateMetric = Literal["recall@20", "ndcg@20"]
ToleranceMode = Literal["relative", "absolute"]


@dataclass(frozen=True)
class NightlyConfig(Config):
    """Everything ``recsys nightly`` needs besides the data home."""

    SECTION: ClassVar[str] = ""  # a nightly config file has these keys at its top level

    train: TrainConfig = field(default_factory=TrainConfig)  # the candidate's training config
    window_days: float | None = None  # read only events this recent (vs the newest); unset: all
    holdout_frac: float = 0.1  # holdout = the most recent share of events in the window ...
    holdout_days: float | None = None  # ... or, when set, the events of the last N days
    gate_metric: GateMetric = "recall@20"  # metric the gate compares (NDCG@20 is reported too)
    tolerance: float = 0.02  # candidate may be this much worse than the live bundle and still win
    tolerance_mode: ToleranceMode = "relative"  # relative: share of live's value; absolute: points
    min_events: int = 1000  # fewer events in the window: "not enough data" (exit 5)
    min_eval_users: int = 20  # fewer holdout users with a training history: "not enough data"
    eval_max_users: int = 1000  # holdout users judged (a seeded sample when there are more)
    eval_seed: int = 2026  # seed of that sample
    inbox: bool = True  # import files from <home>/inbox before training
    inbox_max_rejected_share: float = 0.05  # a file with more bad rows is rejected whole
    pitch_users: int = 200  # pre-write pitches for this many most active users (0 = off)
    pitch_items_per_user: int = 3  # ... for their top items
    pitch_budget_s: float = 120.0  # wall-time budget of the pitch step
    pitch_activity_days: float = 7.0  # "most active" = most events in the last N days
    pitch: PitchConfig = field(default_factory=PitchConfig)  # pitch writer ([pitch] table)
    report_runs: int = 30  # runs shown in the metrics plot

    def validate(self) -> None:  # noqa: D102
        check_range(self, "window_days", "holdout_days", "pitch_activity_days", gt=0)
        check_range(self, "holdout_frac", gt=0, lt=1)
        check_range(self, "tolerance", "pitch_users", "pitch_budget_s", ge=0)
        if self.tolerance_mode == "relative":
            check(
                self,
                "tolerance",
                self.tolerance < 1,
                "a number < 1 when tolerance_mode is 'relative'",
            )
        check_range(self, "min_events", "min_eval_users", "eval_max_users", ge=1)
        check_range(self, "pitch_items_per_user", "report_runs", ge=1)
        check_range(self, "inbox_max_rejected_share", ge=0, le=1)


def load_nightly_config(path: str | Path | None) -> NightlyConfig:
    """Read a TOML or JSON nightly config file; ``None`` gives the defaults.

    Raises:
        ConfigError: if the file is missing, unreadable or invalid.
    """
    if path is None:
        return NightlyConfig()
    return NightlyConfig.from_dict(read_config_file(path))
