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

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from recsys.config import TrainConfig, from_dict, read_config_file
from recsys.errors import ConfigError
from recsys.pitch.config import PitchConfig

GateMetric = Literal["recall@20", "ndcg@20"]
ToleranceMode = Literal["relative", "absolute"]


def _check(cond: bool, name: str, value: object, allowed: str) -> None:
    if not cond:
        raise ConfigError(f"{name}={value!r} is not allowed: must be {allowed}")


@dataclass(frozen=True)
class NightlyConfig:
    """Everything ``recsys nightly`` needs besides the data home."""

    train: TrainConfig = field(default_factory=TrainConfig)  # the candidate's training config
    window_days: float | None = None  # read only events this recent (vs the newest); None = all
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

    def __post_init__(self) -> None:
        if self.window_days is not None:
            _check(self.window_days > 0, "window_days", self.window_days, "> 0 or unset")
        _check(0 < self.holdout_frac < 1, "holdout_frac", self.holdout_frac, "in (0, 1)")
        if self.holdout_days is not None:
            _check(self.holdout_days > 0, "holdout_days", self.holdout_days, "> 0 or unset")
        _check(self.tolerance >= 0, "tolerance", self.tolerance, ">= 0")
        if self.tolerance_mode == "relative":
            _check(self.tolerance < 1, "tolerance", self.tolerance, "< 1 when relative")
        _check(self.min_events >= 1, "min_events", self.min_events, ">= 1")
        _check(self.min_eval_users >= 1, "min_eval_users", self.min_eval_users, ">= 1")
        _check(self.eval_max_users >= 1, "eval_max_users", self.eval_max_users, ">= 1")
        _check(
            0 <= self.inbox_max_rejected_share <= 1,
            "inbox_max_rejected_share",
            self.inbox_max_rejected_share,
            "in [0, 1]",
        )
        _check(self.pitch_users >= 0, "pitch_users", self.pitch_users, ">= 0")
        _check(
            self.pitch_items_per_user >= 1,
            "pitch_items_per_user",
            self.pitch_items_per_user,
            ">= 1",
        )
        _check(self.pitch_budget_s >= 0, "pitch_budget_s", self.pitch_budget_s, ">= 0 (0 = off)")
        _check(self.pitch_activity_days > 0, "pitch_activity_days", self.pitch_activity_days, "> 0")
        _check(self.report_runs >= 1, "report_runs", self.report_runs, ">= 1")

    def to_dict(self) -> dict[str, Any]:
        """Return the config as plain JSON-able data."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NightlyConfig:
        """Build from plain data; missing keys take defaults.

        Raises:
            ConfigError: on unknown keys, wrong types or out-of-range values.
        """
        return from_dict(cls, data, "")


def load_nightly_config(path: str | Path | None) -> NightlyConfig:
    """Read a TOML or JSON nightly config file; ``None`` gives the defaults.

    Raises:
        ConfigError: if the file is missing, unreadable or invalid.
    """
    if path is None:
        return NightlyConfig()
    return NightlyConfig.from_dict(read_config_file(path))
