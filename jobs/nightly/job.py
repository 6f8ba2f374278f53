"""The nightly retraining job, one step after another under a run lock.

Steps: lock → recover → (compact) → inbox → read → evaluate (and gate) → train → write →
pitches → publish → report. Training, writing and publishing go through the library's one
training door, :func:`recsys.training.train`; the gate is :mod:`recsys.gate`. "Current" is the
bundle ``CURRENT`` names (the published one); the run's new bundle is the candidate.

This module holds the order of the steps, the decisions between them and the exit codes; each
step's work is beside it (``recover``, ``inbox``, ``data`` for the read, ``evaluate`` with
``builds``, ``pitches``), and the report is a typed ``run_report.RunReport`` until ``report``
writes it as JSON.

Crash safety comes from the pieces: the run lock is a ``flock`` (released by the kernel when the
process dies) whose file names the crashed run, its step and the bundle it wrote; bundles are
written to a temp folder and renamed when complete; ``CURRENT`` is replaced atomically; imports are
transactions that deduplicate; reports are written to temp names and renamed. The next run removes
what a killed run left behind (temp folders of dead writers, its unpublished bundle) and starts
over.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

import polars as pl

from jobs.nightly.builds import Builds
from jobs.nightly.data import data_fingerprint, read_data
from jobs.nightly.evaluate import Evaluation
from jobs.nightly.inbox import import_inbox
from jobs.nightly.lock import RunLock
from jobs.nightly.pitches import PitchStep, most_active_users
from jobs.nightly.recover import recover
from jobs.nightly.report import write_report
from jobs.nightly.run_report import (
    Compaction,
    Decision,
    EmbeddingCounts,
    Reused,
    RunReport,
)
from recsys.bundle import Bundle, current_version, load_bundle, rollback
from recsys.erasure import compact_home, sweep_erasures
from recsys.errors import BundleError
from recsys.home import Home
from recsys.nightly.config import NightlyConfig
from recsys.store import Store, open_store
from recsys.text import TextEncoder
from recsys.training import StepTimer, TrainingData, TrainingEngine, train

log = logging.getLogger(__name__)

STEPS = (
    "recover",
    "compact",
    "inbox",
    "read",
    "evaluate",
    "train",
    "write",
    "pitches",
    "publish",
    "report",
)
LOCK_NAME = "nightly.lock"


class ExitCode(IntEnum):
    """Process exit codes of ``recsys nightly`` (documented in docs/operations.md)."""

    OK = 0  # a new bundle was published, or the current one is already built from this data
    ERROR = 1  # unexpected failure; the current bundle is untouched
    USAGE = 2  # bad command line or config
    KEPT_LIVE = 3  # the quality gate rejected the candidate; the current bundle stays
    LOCKED = 4  # another run holds the lock; nothing was done
    NOT_ENOUGH_DATA = 5  # too few events / evaluable users; nothing was published


EXIT_OF: dict[str, ExitCode] = {
    "published": ExitCode.OK,
    "up_to_date": ExitCode.OK,
    "kept_live": ExitCode.KEPT_LIVE,
    "not_enough_data": ExitCode.NOT_ENOUGH_DATA,
    "error": ExitCode.ERROR,
}


@dataclass
class NightlyResult:
    """Outcome of one run."""

    run_id: str  # unique id of the run (UTC start time + pid)
    decision: Decision  # what happened (see ExitCode)
    exit_code: int  # the process exit code for this decision
    reason: str  # one sentence
    current_before: str | None  # version CURRENT named at the start
    current_after: str | None  # version CURRENT names now
    report: dict[str, Any] = field(default_factory=dict)  # the JSON report, as written
    report_paths: list[Path] = field(default_factory=list)  # files written under <home>/reports


@dataclass(frozen=True)
class _Options:
    """How one run was asked to behave (see :func:`run_nightly`)."""

    force: bool
    encoder: TextEncoder | None
    show_progress: bool
    now: float | None
    pitches: bool
    on_step: Callable[[str], None] | None
    engine: TrainingEngine | None = None


class _Run:
    """One run: its lock, its steps in order, and its report (kept out of the public API).

    The steps' work lives beside it: :mod:`~jobs.nightly.recover`, :mod:`~jobs.nightly.inbox`,
    :mod:`~jobs.nightly.data` (read), :mod:`~jobs.nightly.evaluate` (and the gate),
    :mod:`~jobs.nightly.pitches`; training, writing and publishing are the training door's. The
    report is a :class:`~jobs.nightly.run_report.RunReport` until :meth:`finish` writes it.
    """

    def __init__(
        self, home: Home, config: NightlyConfig, store: Store | None, options: _Options
    ) -> None:
        self.home = home.ensure()
        self.config = config
        self.options = options
        self.force = options.force
        self.store = store
        self.own_store = store is None
        started = datetime.now(UTC)
        self.run_id = f"{started.strftime('%Y%m%dT%H%M%S%fZ')}-{os.getpid()}"
        self.lock = RunLock(home.root / LOCK_NAME)
        self.steps = StepTimer(on_step=self._entered)
        self.report = RunReport(
            run_id=self.run_id,
            config=config,
            forced=self.force,
            timings=self.steps.timings,
            started_at=started.isoformat(),
        )
        self.builds = Builds(
            config,
            self.report,
            encoder=options.encoder,
            show_progress=options.show_progress,
            engine=options.engine,
        )

    def _entered(self, step: str) -> None:
        self.lock.update(step=step)
        if self.options.on_step is not None:
            self.options.on_step(step)

    def finish(self, decision: Decision, reason: str) -> NightlyResult:
        """Record the decision, write the report (the ``report`` step) and return the result."""
        code = int(EXIT_OF[decision])
        report = self.report
        report.decision, report.exit_code, report.reason = decision, code, reason
        current_after = current_version(self.home.artifacts)
        report.bundle.live_after = current_after
        paths: list[Path] = []
        with self.steps.step("report"):
            report.finished_at = datetime.now(UTC).isoformat()
            written = report.to_json()  # write_report adds "plot" to it
            paths = write_report(self.home.root / "reports", written, self.config.report_runs)
        log.info("nightly %s: %s (exit %d) %s", self.run_id, decision, code, reason)
        return NightlyResult(
            run_id=self.run_id,
            decision=decision,
            exit_code=code,
            reason=reason,
            current_before=report.bundle.live_before,
            current_after=current_after,
            report=written,
            report_paths=paths,
        )

    def run(self) -> NightlyResult:
        stale = self.lock.acquire(self.run_id)  # LockedError propagates: nothing was touched
        try:
            self.report.bundle.live_before = current_version(self.home.artifacts)
            try:
                return self._run(stale)
            except BaseException as exc:
                if isinstance(exc, Exception):
                    self.report.error = f"{type(exc).__name__}: {exc}"
                    try:
                        self.finish("error", f"the run failed: {type(exc).__name__}: {exc}")
                    except Exception as report_exc:  # the original error matters more
                        log.error("could not write the error report: %s", report_exc)
                raise
        finally:
            self.builds.close()
            if self.own_store and self.store is not None:
                self.store.close()
            self.lock.release()

    def _load_current(self) -> tuple[Bundle | None, str]:
        """The current bundle, or None with a note for the reason when it is unreadable."""
        version = self.report.bundle.live_before
        if version is None:
            return None, ""
        try:
            return load_bundle(self.home.artifacts, version), ""
        except BundleError as exc:
            note = f"current bundle {version} is unreadable ({exc}); "
            log.warning("%s", note)
            return None, note

    def _prepare(self, stale: dict[str, Any] | None) -> tuple[Store, TrainingData, str]:
        """Steps recover → (compact) → inbox → read: the store, its data and their fingerprint."""
        cfg, home, step = self.config, self.home, self.steps.step
        with step("recover"):
            self.report.recovered = recover(home, stale)
        if self.store is None:
            self.store = open_store(home)
        store = self.store
        due = store.compact_due()
        if due is not None:  # an erasure left a large store to rewrite: this run is the deadline
            with step("compact"):
                seconds = compact_home(home, store)
                self.report.compacted = Compaction(due_since=due, seconds=round(seconds, 2))
        with step("inbox"):
            # shoppers erased through an API host: this host's kept files and pitches too
            try:
                sweep_erasures(home, store)
            except Exception:  # the run goes on; the next run sweeps the same tombstones
                log.exception("erasure sweep failed; the next run retries it")
            if cfg.inbox:
                self.report.inbox = import_inbox(
                    store, home.root / "inbox", cfg.inbox_max_rejected_share, now=self.options.now
                )
        with step("read"):
            data, self.report.data = read_data(store, cfg)
        return store, data, self.report.data.fingerprint

    def _run(self, stale: dict[str, Any] | None) -> NightlyResult:
        cfg = self.config
        store, data, fingerprint = self._prepare(stale)
        events = data.events
        current, note = self._load_current()
        record = (current.manifest.get("nightly") or {}) if current is not None else {}
        if current is not None and not self.force and record.get("fingerprint") == fingerprint:
            self.report.reused = Reused(
                run_id=record.get("run_id"),
                metrics=record.get("metrics") or {},
                holdout=record.get("holdout") or {},
            )
            return self.finish(
                "up_to_date",
                f"the current bundle {current.version} was built from exactly this data and "
                "config; nothing to do",
            )
        if events.height < cfg.min_events and not (self.force and events.height):
            return self.finish(
                "not_enough_data",
                f"{events.height} events in the window, fewer than min_events={cfg.min_events}",
            )
        self.builds.open_cache(self.home)
        with self.steps.step("evaluate"):
            verdict = Evaluation(cfg, self.builds, self.steps, self.report).run(
                events, data.catalog, current, unreadable=bool(note)
            )
        gate = verdict.gate
        if gate is None and not self.force:
            return self.finish(
                "not_enough_data",
                f"{verdict.users_judged} holdout users with earlier events to judge by, fewer "
                f"than min_eval_users={cfg.min_eval_users}",
            )
        if gate is not None and not gate.passed and not self.force:
            return self.finish("kept_live", f"{note}quality gate: {gate.reason}")
        version = self._train(store, data, fingerprint)
        if gate is None:
            why = "forced: too little holdout data to judge, published without a gate"
        elif not gate.passed:
            why = f"forced past a failing gate: {gate.reason}"
        else:
            why = f"quality gate: {gate.reason}"
        return self.finish("published", f"{note}published {version}; {why}")

    def _train(self, store: Store, data: TrainingData, fingerprint: str) -> str:
        """Steps train → write → pitches → publish, through the one training door; the version."""
        cfg, report = self.config, self.report
        metrics = report.metrics_json()
        outcome = train(
            self.home,
            cfg.train,
            store=store,
            data=data,
            encoder=self.builds.encoder_for(cfg.train.text),
            cache=self.builds.cache,
            show_progress=self.options.show_progress,
            manifest={
                "metrics": metrics.get("candidate") or {},
                "nightly": {
                    "run_id": self.run_id,
                    "fingerprint": fingerprint,
                    "holdout": report.holdout_json(),
                    "metrics": metrics,
                    "gate": report.gate_json(),
                    "forced": self.force,
                },
            },
            steps=self.steps,
            after_write=self._written,
            before_publish=lambda bundle: self._before_publish(bundle, store, data.events),
            engine=self.options.engine,
        )
        report.build_timings["candidate"] = outcome.timings
        if cfg.train.text.enabled:
            report.embedding["candidate"] = EmbeddingCounts(outcome.n_embedded, outcome.n_cached)
        report.bundle.pruned = outcome.pruned
        return outcome.version

    def _written(self, bundle: Bundle) -> None:
        """The candidate's folder exists: name it in the lock (a crash from here leaves it)."""
        self.lock.update(version=bundle.version)
        self.report.bundle.candidate = bundle.version

    def _before_publish(self, bundle: Bundle, store: Store, events: pl.DataFrame) -> bool:
        """Pre-write pitches for the candidate before it serves; never keeps it unpublished."""
        pitches = PitchStep(
            self.home, self.config, self.options.pitches, self.options.show_progress
        )
        with self.steps.step("pitches"):
            self.report.pitches = pitches.run(bundle, store, events)
        return True


def run_nightly(
    home: Home,
    config: NightlyConfig | None = None,
    *,
    force: bool = False,
    store: Store | None = None,
    encoder: TextEncoder | None = None,
    show_progress: bool = False,
    now: float | None = None,
    pitches: bool = True,
    on_step: Callable[[str], None] | None = None,
    engine: TrainingEngine | None = None,
) -> NightlyResult:
    """Run the nightly job once (see the module docs and docs/operations.md).

    Args:
        home: the data home.
        config: job config (defaults otherwise).
        force: publish even when the gate fails or there is too little holdout data to judge.
        store: an open store (default: opened on the home's database).
        encoder: a text encoder to reuse (default: created when text is enabled).
        show_progress: progress bars while training and embedding.
        now: reference time for inbox timestamp checks (default: wall clock).
        pitches: run the pitch pre-writing step (when configured).
        on_step: called with each step's name (see :data:`STEPS`) as the job enters it, after the
            lock file records it (progress display; the crash tests pause the job there).
        engine: who trains, the judged candidates included (None: this process;
            ``recsys.spark.SparkEngine``: Apache Spark).

    Returns:
        The :class:`NightlyResult`; ``exit_code`` is the process exit code for it.

    Raises:
        LockedError: if another run holds the lock (nothing is touched).
    """
    options = _Options(force, encoder, show_progress, now, pitches, on_step, engine)
    return _Run(home, config or NightlyConfig(), store, options).run()


def rollback_current(home: Home, version: str | None = None) -> tuple[str | None, str]:
    """Point ``CURRENT`` back (under the job lock, so no nightly run publishes meanwhile).

    Raises:
        LockedError: if a nightly run is in progress.
        BundleError: if there is nothing to roll back to, or the target is broken.
    """
    lock = RunLock(home.root / LOCK_NAME)
    lock.acquire(f"rollback-{os.getpid()}")
    try:
        lock.update(step="rollback")
        return rollback(home.artifacts, version)
    finally:
        lock.release()


__all__ = [
    "EXIT_OF",
    "STEPS",
    "ExitCode",
    "NightlyResult",
    "data_fingerprint",
    "most_active_users",
    "rollback_current",
    "run_nightly",
]
