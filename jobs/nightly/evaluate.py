"""The evaluate step: the holdout, the candidate and the current bundle judged on it, the gate.

The rule is :mod:`recsys.gate`'s (and docs/operations.md, "The quality gate"): the candidate is a
model of the job's config trained on the events before the holdout; the current bundle is judged as
it is when its data ends before the holdout, the holdout is narrowed to what it never saw when its
data reaches into it, and only when that leaves too few users is a replica (its config, retrained
on the same events) judged instead. This module decides when each case applies and records it in
the run's report; :func:`recsys.gate.decide` gives the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from jobs.nightly.builds import Builds
from jobs.nightly.run_report import (
    CurrentMode,
    GateSummary,
    HoldoutSummary,
    Judgement,
    MetricSummary,
    RunReport,
    iso,
)
from recsys.bundle import Bundle
from recsys.gate import (
    GateResult,
    Holdout,
    decide,
    evaluate_bundle,
    evaluation_set,
    narrow_holdout,
    split_holdout,
)
from recsys.nightly.config import NightlyConfig
from recsys.serving import FrameEvents
from recsys.training import StepTimer, trained_config


def last_event_ts(bundle: Bundle) -> float | None:
    """The newest event the bundle was trained on (epoch s), from its manifest, or None."""
    try:
        return datetime.fromisoformat(bundle.manifest["data_window"]["last_event"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Verdict:
    """The evaluate step's outcome (also recorded in the report)."""

    users_judged: int
    gate: GateResult | None  # None: too few holdout users (or no earlier events) to judge by


class Evaluation:
    """The evaluate step of one run: fills the report's ``holdout``, ``metrics`` and ``gate``."""

    def __init__(
        self, config: NightlyConfig, builds: Builds, steps: StepTimer, report: RunReport
    ) -> None:
        self.config = config
        self.builds = builds
        self.steps = steps
        self.report = report

    def run(
        self,
        events: pl.DataFrame,
        catalog: pl.DataFrame,
        current: Bundle | None,
        unreadable: bool,
    ) -> Verdict:
        """Split the holdout and, when there are enough users to judge by, judge and decide.

        Args:
            events: the events the candidate trains on.
            catalog: the catalog frame.
            current: the current bundle (None: nothing published, or unreadable).
            unreadable: the current bundle exists but could not be loaded.
        """
        cfg = self.config
        holdout = split_holdout(events, cfg)
        truth, histories = evaluation_set(holdout, cfg.eval_max_users, cfg.eval_seed)
        current_last = last_event_ts(current) if current is not None else None
        if current_last is not None and current_last >= holdout.cut_ts:
            # the current bundle saw (part of) the holdout: judge both on what it never saw
            narrowed = narrow_holdout(events, current_last, holdout.rule)
            n_truth, n_hist = evaluation_set(narrowed, cfg.eval_max_users, cfg.eval_seed)
            if len(n_truth) >= cfg.min_eval_users:
                holdout, truth, histories = narrowed, n_truth, n_hist
        self.report.holdout = HoldoutSummary(
            rule=holdout.rule,
            events=holdout.test.height,
            train_events=holdout.train.height,
            cut=iso(holdout.cut_ts) if holdout.test.height else None,
            users_judged=len(truth),
        )
        if len(truth) < cfg.min_eval_users or holdout.train.height == 0:
            return Verdict(len(truth), None)
        gate = self._judge(holdout, catalog, truth, histories, current, unreadable)
        return Verdict(len(truth), gate)

    def _judge(
        self,
        holdout: Holdout,
        catalog: pl.DataFrame,
        truth: dict[str, set[str]],
        histories: dict[str, Any],
        current: Bundle | None,
        unreadable: bool,
    ) -> GateResult:
        cfg = self.config
        step = self.steps.step
        with step("evaluate.train_candidate"):
            candidate = self.builds.build("candidate_eval", holdout.train, catalog, cfg.train)
        seen = FrameEvents(holdout.train)  # what the served recommender would read in the store
        with step("evaluate.judge_candidate"):
            cand_metrics = evaluate_bundle(candidate, truth, histories, seen)
        current_metrics: MetricSummary | None = None
        mode: CurrentMode = "unreadable" if unreadable else "none"
        if current is not None:
            with step("evaluate.judge_current"):
                last = last_event_ts(current)
                if last is not None and last < holdout.cut_ts:
                    mode = "as_is"
                    current_metrics = evaluate_bundle(current, truth, histories, seen)
                elif (
                    current.config.config_hash() == trained_config(catalog, cfg.train).config_hash()
                ):
                    mode = "same_config"
                    current_metrics = cand_metrics
                else:
                    mode = "replica"
                    replica = self.builds.build(
                        "current_replica", holdout.train, catalog, current.config
                    )
                    current_metrics = evaluate_bundle(replica, truth, histories, seen)
        gate = decide(cand_metrics, current_metrics, cfg)
        self.report.judgement = Judgement(
            candidate=cand_metrics,
            current=current_metrics,
            mode=mode,
            current_version=current.version if current is not None else None,
        )
        self.report.gate = GateSummary(gate, cfg.tolerance, cfg.tolerance_mode)
        return gate
