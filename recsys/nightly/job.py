"""The nightly retraining job, one step after another under a run lock.

Steps: lock → recover → inbox → read → evaluate (and gate) → train → write → pitches → publish →
report.

Crash safety comes from the pieces: the run lock is a ``flock`` (released by the kernel when the
process dies) whose file names the crashed run and the bundle it wrote; bundles are written to a
temp folder and renamed when complete; ``CURRENT`` is replaced atomically; imports are transactions
that deduplicate; reports are written to temp names and renamed. The next run removes what a killed
run left behind (temp folders of dead writers, its unpublished bundle) and starts over.

Steps can be made observable for crash tests: with ``RECSYS_NIGHTLY_PAUSE_AT=<step>`` the job writes
``<home>/.nightly-paused-<step>`` when it reaches that step and sleeps ``RECSYS_NIGHTLY_PAUSE_S``
seconds (default 300). Test-only; never set it in production.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from recsys.bundle import (
    Bundle,
    cleanup_stale,
    current_version,
    load_bundle,
    prune,
    publish,
    write_bundle,
)
from recsys.config import TextConfig, TrainConfig
from recsys.erasure import compact_home, scrub_new_bundle
from recsys.errors import BundleError
from recsys.home import Home
from recsys.nightly.config import NightlyConfig
from recsys.nightly.gate import (
    GateResult,
    Holdout,
    decide,
    evaluate_bundle,
    evaluation_set,
    narrow_holdout,
    split_holdout,
)
from recsys.nightly.inbox import import_inbox
from recsys.nightly.lock import RunLock
from recsys.nightly.report import cleanup_report_tmp, write_report
from recsys.pipeline import build_bundle, precompute_lists
from recsys.store.sqlite import CATALOG_COLUMNS, Store
from recsys.text import EmbeddingCache, TextEncoder

log = logging.getLogger(__name__)

PAUSE_ENV = "RECSYS_NIGHTLY_PAUSE_AT"
PAUSE_SECONDS_ENV = "RECSYS_NIGHTLY_PAUSE_S"
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
DAY_S = 86_400.0
FINGERPRINT_ITEM_COLUMNS = CATALOG_COLUMNS

Decision = Literal["published", "up_to_date", "kept_live", "not_enough_data", "error"]
LiveMode = Literal["none", "as_is", "replica", "same_config", "unreadable"]


class ExitCode(IntEnum):
    """Process exit codes of ``recsys nightly`` (documented in docs/operations.md)."""

    OK = 0  # a new bundle was published, or the live one is already built from this data
    ERROR = 1  # unexpected failure; the live bundle is untouched
    USAGE = 2  # bad command line or config
    KEPT_LIVE = 3  # the quality gate rejected the candidate; the live bundle stays
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
    live_before: str | None  # version CURRENT named at the start
    live_after: str | None  # version CURRENT names now
    report: dict[str, Any] = field(default_factory=dict)  # the JSON report
    report_paths: list[Path] = field(default_factory=list)  # files written under <home>/reports


def pause_point(home: Home, step: str) -> None:
    """Test hook: when ``$RECSYS_NIGHTLY_PAUSE_AT`` names ``step``, write a marker and sleep."""
    if os.environ.get(PAUSE_ENV) != step:
        return
    marker = home.root / f".nightly-paused-{step}"
    marker.write_text(f"{os.getpid()}\n", encoding="utf-8")
    log.warning("%s=%s: paused (pid %d)", PAUSE_ENV, step, os.getpid())
    time.sleep(float(os.environ.get(PAUSE_SECONDS_ENV, "300")))


def data_fingerprint(events: pl.DataFrame, catalog: pl.DataFrame, config: NightlyConfig) -> str:
    """SHA-256 of the event set, the catalog facts and the training config (order-independent).

    Equal fingerprints mean training would see exactly the same data with the same config.
    ``updated_at`` is left out, so re-importing an unchanged catalog changes nothing.
    """
    h = hashlib.sha256()
    h.update(config.train.config_hash().encode())
    h.update(metadata.version("polars").encode())  # row hashes are stable within one version
    frames = (
        events.select("user_id", "item_id", "type", "ts", "session_id"),
        catalog.select(FINGERPRINT_ITEM_COLUMNS),
    )
    for frame in frames:
        h.update(str(frame.height).encode())
        if frame.height:
            rows = frame.hash_rows(seed=0).to_numpy()
            h.update(np.sort(rows).tobytes())
    return h.hexdigest()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _last_event_ts(bundle: Bundle) -> float | None:
    try:
        return datetime.fromisoformat(bundle.manifest["data_window"]["last_event"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


def most_active_users(events: pl.DataFrame, n: int, days: float) -> list[str]:
    """The ``n`` users with the most events in the last ``days`` (ties by user id)."""
    if n <= 0 or events.height == 0:
        return []
    newest = float(events["ts"].max())  # type: ignore[arg-type]
    recent = events.filter(pl.col("ts") >= newest - days * DAY_S)
    counts = recent.group_by("user_id").len().sort(["len", "user_id"], descending=[True, False])
    return counts["user_id"].head(n).to_list()


class _Run:
    """State of one run (kept out of the public API)."""

    def __init__(
        self,
        home: Home,
        config: NightlyConfig,
        force: bool,
        store: Store | None,
        encoder: TextEncoder | None,
        show_progress: bool,
        now: float | None,
        run_pitches: bool,
    ) -> None:
        self.home = home.ensure()
        self.config = config
        self.force = force
        self.store = store
        self.own_store = store is None
        self.encoder = encoder
        self.show_progress = show_progress
        self.now = now
        self.run_pitches = run_pitches
        started = datetime.now(UTC)
        self.run_id = f"{started.strftime('%Y%m%dT%H%M%S%fZ')}-{os.getpid()}"
        self.lock = RunLock(home.root / LOCK_NAME)
        self.timings: dict[str, float] = {}
        self.report: dict[str, Any] = {
            "run_id": self.run_id,
            "started_at": started.isoformat(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "forced": force,
            "config": config.to_dict(),
            "recovered": None,
            "inbox": [],
            "data": {},
            "holdout": {},
            "metrics": {},
            "gate": {},
            "embedding": {},
            "build_timings_s": {},
            "pitches": None,
            "bundle": {"live_before": None, "live_after": None, "candidate": None, "pruned": []},
            "timings_s": self.timings,
        }
        self.cache: EmbeddingCache | None = None

    # ----------------------------------------------------------------------------- helpers
    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.lock.update(step=name)
        if name != "write":  # "write" pauses inside write_bundle, with the temp folder complete
            pause_point(self.home, name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 3)
            log.info("nightly step %s: %.2fs", name, self.timings[name])

    def _encoder_for(self, bundle_config_text: TextConfig) -> TextEncoder | None:
        if not bundle_config_text.enabled:
            return None
        if bundle_config_text != self.config.train.text:
            return None  # build_bundle makes one for that text config
        if self.encoder is None:
            self.encoder = TextEncoder(self.config.train.text)
        return self.encoder

    def build(
        self, name: str, events: pl.DataFrame, catalog: pl.DataFrame, train_config: TrainConfig
    ) -> Bundle:
        timings: dict[str, float] = {}
        bundle, counts = build_bundle(
            events,
            catalog,
            train_config,
            encoder=self._encoder_for(train_config.text),
            cache=self.cache,
            show_progress=self.show_progress,
            timings=timings,
        )
        self.report["build_timings_s"][name] = timings
        if train_config.text.enabled:
            self.report["embedding"][name] = counts
        return bundle

    def finish(self, decision: Decision, reason: str) -> NightlyResult:
        code = int(EXIT_OF[decision])
        self.report.update(decision=decision, exit_code=code, reason=reason)
        live_after = current_version(self.home.artifacts)
        self.report["bundle"]["live_after"] = live_after
        paths: list[Path] = []
        with self.step("report"):
            self.report["finished_at"] = datetime.now(UTC).isoformat()
            paths = write_report(self.home.root / "reports", self.report, self.config.report_runs)
        log.info("nightly %s: %s (exit %d) %s", self.run_id, decision, code, reason)
        return NightlyResult(
            run_id=self.run_id,
            decision=decision,
            exit_code=code,
            reason=reason,
            live_before=self.report["bundle"]["live_before"],
            live_after=live_after,
            report=self.report,
            report_paths=paths,
        )

    # ----------------------------------------------------------------------------- steps
    def recover(self, stale: dict[str, Any] | None) -> None:
        artifacts = self.home.artifacts
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
        removed += cleanup_report_tmp(self.home.root / "reports")
        if stale is not None:
            self.report["recovered"] = {**stale, "removed": removed}
        elif removed:
            self.report["recovered"] = {"removed": removed}

    def run(self) -> NightlyResult:
        stale = self.lock.acquire(self.run_id)  # LockedError propagates: nothing was touched
        try:
            self.report["bundle"]["live_before"] = current_version(self.home.artifacts)
            try:
                return self._run(stale)
            except BaseException as exc:
                if isinstance(exc, Exception):
                    self.report["error"] = f"{type(exc).__name__}: {exc}"
                    try:
                        self.finish("error", f"the run failed: {type(exc).__name__}: {exc}")
                    except Exception as report_exc:  # the original error matters more
                        log.error("could not write the error report: %s", report_exc)
                raise
        finally:
            if self.cache is not None:
                self.cache.close()
            if self.own_store and self.store is not None:
                self.store.close()
            self.lock.release()

    def _run(self, stale: dict[str, Any] | None) -> NightlyResult:
        cfg = self.config
        home = self.home
        with self.step("recover"):
            self.recover(stale)
        if self.store is None:
            self.store = Store(home.db_path)
        store = self.store
        due = store.compact_due()
        if due is not None:  # an erasure left a large store to rewrite: this run is the deadline
            with self.step("compact"):
                seconds = compact_home(home, store)
                self.report["compacted"] = {"due_since": due, "seconds": round(seconds, 2)}
        with self.step("inbox"):
            if cfg.inbox:
                files = import_inbox(
                    store, home.root / "inbox", cfg.inbox_max_rejected_share, now=self.now
                )
                self.report["inbox"] = [asdict(f) for f in files]
        with self.step("read"):
            read_at = time.time()
            watermark = store.last_seq()
            events = stored_events = store.events_frame(until_seq=watermark)
            catalog = store.catalog_frame()
            window = "all events"
            if cfg.window_days is not None and events.height:
                newest = float(events["ts"].max())  # type: ignore[arg-type]
                events = events.filter(pl.col("ts") >= newest - cfg.window_days * DAY_S)
                window = f"last {cfg.window_days:g} days"
            fingerprint = data_fingerprint(events, catalog, cfg)
        data: dict[str, Any] = {
            "events": events.height,
            "users": events["user_id"].n_unique() if events.height else 0,
            "items_with_events": events["item_id"].n_unique() if events.height else 0,
            "catalog_items": catalog.height,
            "window": window,
            "fingerprint": fingerprint,
        }
        if events.height:
            data["first_event"] = _iso(float(events["ts"].min()))  # type: ignore[arg-type]
            data["last_event"] = _iso(float(events["ts"].max()))  # type: ignore[arg-type]
        self.report["data"] = data

        live: Bundle | None = None
        live_note = ""
        live_version = self.report["bundle"]["live_before"]
        if live_version is not None:
            try:
                live = load_bundle(home.artifacts, live_version)
            except BundleError as exc:
                live_note = f"live bundle {live_version} is unreadable ({exc}); "
                log.warning("%s", live_note)
        live_run = (live.manifest.get("nightly") or {}) if live is not None else {}
        if live is not None and not self.force and live_run.get("fingerprint") == fingerprint:
            self.report["metrics"] = {
                **(live_run.get("metrics") or {}),
                "from_run": live_run.get("run_id"),
            }
            self.report["holdout"] = live_run.get("holdout") or {}
            return self.finish(
                "up_to_date",
                f"the live bundle {live.version} was built from exactly this data and config; "
                "nothing to do",
            )

        if events.height < cfg.min_events and not (self.force and events.height):
            return self.finish(
                "not_enough_data",
                f"{events.height} events in the window, fewer than min_events={cfg.min_events}",
            )
        self.cache = EmbeddingCache(home.embedding_cache_path)
        gate: GateResult | None = None
        with self.step("evaluate"):
            holdout = split_holdout(events, cfg)
            truth, histories = evaluation_set(holdout, cfg.eval_max_users, cfg.eval_seed)
            live_last = _last_event_ts(live) if live is not None else None
            if live_last is not None and live_last >= holdout.cut_ts:
                # the live bundle saw (part of) the holdout: judge both on what it never saw
                narrowed = narrow_holdout(events, live_last, holdout.rule)
                n_truth, n_hist = evaluation_set(narrowed, cfg.eval_max_users, cfg.eval_seed)
                if len(n_truth) >= cfg.min_eval_users:
                    holdout, truth, histories = narrowed, n_truth, n_hist
            self.report["holdout"] = {
                "rule": holdout.rule,
                "events": holdout.test.height,
                "train_events": holdout.train.height,
                "cut": _iso(holdout.cut_ts) if holdout.test.height else None,
                "users_judged": len(truth),
            }
            enough = len(truth) >= cfg.min_eval_users and holdout.train.height > 0
            if enough:
                gate = self.evaluate(holdout, catalog, truth, histories, live, live_note)
        if not enough and not self.force:
            return self.finish(
                "not_enough_data",
                f"{len(truth)} holdout users with earlier events to judge by, fewer than "
                f"min_eval_users={cfg.min_eval_users}",
            )
        if gate is not None and not gate.passed and not self.force:
            return self.finish("kept_live", f"{live_note}quality gate: {gate.reason}")

        with self.step("train"):
            bundle = self.build("candidate", events, catalog, cfg.train)
            bundle.manifest["metrics"] = self.report["metrics"].get("candidate") or {}
            bundle.toplists = precompute_lists(bundle, stored_events, watermark, self.show_progress)
            bundle.manifest["read_at"] = read_at  # erasures and catalog changes after it count
            bundle.manifest["nightly"] = {
                "run_id": self.run_id,
                "fingerprint": fingerprint,
                "holdout": self.report["holdout"],
                "metrics": self.report["metrics"],
                "gate": self.report["gate"],
                "forced": self.force,
            }
        with self.step("write"):
            version = write_bundle(
                home.artifacts, bundle, on_complete=lambda _tmp: pause_point(home, "write")
            )
            self.lock.update(version=version)
            self.report["bundle"]["candidate"] = version
            # users erased while this run trained leave the bundle before it can be published
            scrub_new_bundle(self.store, home.artifacts, version, bundle.manifest["read_at"])
        with self.step("pitches"):
            self.report["pitches"] = self.pitches(bundle, events)
        with self.step("publish"):
            publish(home.artifacts, version)
            self.report["bundle"]["pruned"] = prune(home.artifacts, cfg.train.keep_versions)
        if gate is None:
            why = "forced: published without a gate" if self.force else "no gate"
            if not enough:
                why = "forced: too little holdout data to judge, published without a gate"
        elif not gate.passed:
            why = f"forced past a failing gate: {gate.reason}"
        else:
            why = f"quality gate: {gate.reason}"
        return self.finish("published", f"{live_note}published {version}; {why}")

    def evaluate(
        self,
        holdout: Holdout,
        catalog: pl.DataFrame,
        truth: dict[str, set[str]],
        histories: dict[str, Any],
        live: Bundle | None,
        live_note: str,
    ) -> GateResult:
        cfg = self.config
        start = time.perf_counter()
        candidate = self.build("candidate_eval", holdout.train, catalog, cfg.train)
        self.timings["evaluate.train_candidate"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        cand_metrics = evaluate_bundle(candidate, truth, histories)
        self.timings["evaluate.judge_candidate"] = round(time.perf_counter() - start, 3)
        live_metrics: dict[str, Any] | None = None
        mode: LiveMode = "unreadable" if live_note else "none"
        if live is not None:
            start = time.perf_counter()
            last = _last_event_ts(live)
            if last is not None and last < holdout.cut_ts:
                mode = "as_is"
                live_metrics = evaluate_bundle(live, truth, histories)
            elif live.config.config_hash() == cfg.train.config_hash():
                mode = "same_config"
                live_metrics = cand_metrics
            else:
                mode = "replica"
                replica = self.build("live_replica", holdout.train, catalog, live.config)
                live_metrics = evaluate_bundle(replica, truth, histories)
            self.timings["evaluate.judge_live"] = round(time.perf_counter() - start, 3)
        gate = decide(cand_metrics, live_metrics, cfg)
        self.report["metrics"] = {
            "candidate": cand_metrics,
            "live": live_metrics,
            "live_mode": mode,
            "live_version": live.version if live is not None else None,
        }
        self.report["gate"] = {
            **asdict(gate),
            "tolerance": cfg.tolerance,
            "tolerance_mode": cfg.tolerance_mode,
        }
        return gate

    def pitches(self, bundle: Bundle, events: pl.DataFrame) -> dict[str, Any]:
        cfg = self.config
        if not self.run_pitches or cfg.pitch_users == 0 or cfg.pitch_budget_s == 0:
            return {"status": "skipped", "reason": "disabled"}
        users = most_active_users(events, cfg.pitch_users, cfg.pitch_activity_days)
        try:
            from recsys.pitch.batch import prewrite_pitches
        except ImportError as exc:
            log.warning("pitch pre-writing skipped: %s", exc)
            return {"status": "skipped", "reason": f"pitch writer not available: {exc}"}
        assert self.store is not None
        try:
            out = prewrite_pitches(
                self.home,
                bundle,
                self.store,
                users,
                cfg.pitch_items_per_user,
                cfg.pitch_budget_s,
                show_progress=self.show_progress,
                config=cfg.pitch,
            )
        except Exception as exc:  # pitches fall back to templates at request time
            log.warning("pitch pre-writing failed: %s: %s", type(exc).__name__, exc)
            return {
                "status": "failed",
                "reason": f"{type(exc).__name__}: {exc}",
                "users": len(users),
            }
        return {
            "status": "done",
            "users": len(users),
            "written": int(out.written),
            "cached": int(out.cached),
            "template": int(out.template),
            "failed": int(out.failed),
            "elapsed_s": round(float(out.elapsed_s), 3),
            "skipped": int(getattr(out, "skipped", 0)),  # items left when the budget ran out
        }


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

    Returns:
        The :class:`NightlyResult`; ``exit_code`` is the process exit code for it.

    Raises:
        LockedError: if another run holds the lock (nothing is touched).
    """
    run = _Run(home, config or NightlyConfig(), force, store, encoder, show_progress, now, pitches)
    return run.run()


def rollback_current(home: Home, version: str | None = None) -> tuple[str | None, str]:
    """Point ``CURRENT`` back (under the job lock, so no nightly run publishes meanwhile).

    Raises:
        LockedError: if a nightly run is in progress.
        BundleError: if there is nothing to roll back to, or the target is broken.
    """
    from recsys.bundle import rollback

    lock = RunLock(home.root / LOCK_NAME)
    lock.acquire(f"rollback-{os.getpid()}")
    try:
        lock.update(step="rollback")
        return rollback(home.artifacts, version)
    finally:
        lock.release()


__all__ = [
    "EXIT_OF",
    "PAUSE_ENV",
    "STEPS",
    "ExitCode",
    "NightlyResult",
    "data_fingerprint",
    "most_active_users",
    "rollback_current",
    "run_nightly",
]
