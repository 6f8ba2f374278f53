"""The report of one nightly run, typed while the run builds it, JSON only where it is written.

The steps fill a :class:`RunReport`; :meth:`RunReport.to_json` turns it into the dict that
:func:`jobs.nightly.report.write_report` writes as ``<run_id>.json``. That JSON is an interface for
operators' scripts (``docs/operations.md``, "Reading the report"), so its keys, their order and
their nesting stay as they are. The values below keep their names from before the job said
"current" ("kept_live", "live_mode", ``bundle.live_before``, ...): they all mean the current bundle,
the one ``CURRENT`` names.
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from jobs.nightly.inbox import InboxFile
from recsys.gate import GateResult
from recsys.nightly.config import NightlyConfig

Decision = Literal["published", "up_to_date", "kept_live", "not_enough_data", "error"]
CurrentMode = Literal["none", "as_is", "replica", "same_config", "unreadable"]  # how judged
PitchStatus = Literal["done", "failed", "skipped"]
MetricSummary = dict[str, Any]  # as recsys.gate.evaluate_bundle returns it: users, recall@k, ...


def iso(ts: float) -> str:
    """Epoch seconds as an ISO 8601 UTC time (how the report writes times)."""
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class DataSummary:
    """The read step: what the job trains on (``data``)."""

    events: int
    users: int
    items_with_events: int
    catalog_items: int
    window: str  # "last N days" or "all events"
    fingerprint: str  # see jobs.nightly.data.data_fingerprint
    first_event: str | None = None  # ISO times; absent when there are no events
    last_event: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The report's ``data``."""
        return _drop_none(asdict(self))


@dataclass(frozen=True)
class HoldoutSummary:
    """The evaluate step's holdout (``holdout``)."""

    rule: str
    events: int  # holdout events
    train_events: int  # events before the holdout
    cut: str | None  # first holdout time (None: an empty holdout)
    users_judged: int


@dataclass(frozen=True)
class Judgement:
    """Candidate and current bundle judged on the holdout (``metrics``)."""

    candidate: MetricSummary
    current: MetricSummary | None  # written as "live"
    mode: CurrentMode  # written as "live_mode"
    current_version: str | None  # written as "live_version"

    def to_json(self) -> dict[str, Any]:
        """The report's ``metrics``."""
        return {
            "candidate": self.candidate,
            "live": self.current,
            "live_mode": self.mode,
            "live_version": self.current_version,
        }


@dataclass(frozen=True)
class GateSummary:
    """The gate's verdict and the tolerance it applied (``gate``)."""

    result: GateResult
    tolerance: float
    tolerance_mode: str

    def to_json(self) -> dict[str, Any]:
        """The report's ``gate``."""
        return {
            **asdict(self.result),
            "tolerance": self.tolerance,
            "tolerance_mode": self.tolerance_mode,
        }


@dataclass(frozen=True)
class Reused:
    """An ``up_to_date`` run: the holdout and metrics of the run that built the current bundle.

    They are copied from that bundle's manifest as they were recorded there (an older release may
    have recorded other keys), so they stay plain JSON.
    """

    run_id: str | None
    metrics: dict[str, Any]
    holdout: dict[str, Any]


@dataclass(frozen=True)
class EmbeddingCounts:
    """Texts of one build sent to the text model vs served from the cache (``embedding``)."""

    embedded: int
    cached: int


@dataclass(frozen=True)
class PitchSummary:
    """The pitch pre-write step (``pitches``); fields that do not apply are left out."""

    status: PitchStatus
    reason: str | None = None  # why skipped or failed
    users: int | None = None
    written: int | None = None
    cached: int | None = None
    template: int | None = None
    failed: int | None = None
    elapsed_s: float | None = None
    skipped: int | None = None  # items left when the budget ran out

    def to_json(self) -> dict[str, Any]:
        """The report's ``pitches``."""
        return _drop_none(asdict(self))


@dataclass
class BundleSummary:
    """Versions before and after the run (``bundle``); "live" means the current bundle."""

    live_before: str | None = None
    live_after: str | None = None
    candidate: str | None = None  # the version this run wrote
    pruned: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Recovered:
    """What the run cleaned up after a run that died (``recovered``).

    ``stale`` is the dead run's lock record as it was found (pid, host, run id, step, version).
    """

    stale: dict[str, Any] | None
    removed: list[str]

    def to_json(self) -> dict[str, Any]:
        """The report's ``recovered``."""
        return {**(self.stale or {}), "removed": self.removed}


@dataclass(frozen=True)
class Compaction:
    """The compact step (``compacted``), run when an erasure left the store to rewrite."""

    due_since: float
    seconds: float


@dataclass
class RunReport:
    """Everything one run reports, filled in by its steps."""

    run_id: str
    config: NightlyConfig
    forced: bool
    timings: dict[str, float]  # the run's StepTimer's (``timings_s``; the same dict, it grows)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    recovered: Recovered | None = None
    inbox: list[InboxFile] = field(default_factory=list)
    data: DataSummary | None = None
    holdout: HoldoutSummary | None = None
    judgement: Judgement | None = None
    gate: GateSummary | None = None
    reused: Reused | None = None  # an up_to_date run: holdout and metrics of the current bundle
    embedding: dict[str, EmbeddingCounts] = field(default_factory=dict)  # per build
    build_timings: dict[str, dict[str, float]] = field(default_factory=dict)  # per build
    pitches: PitchSummary | None = None
    bundle: BundleSummary = field(default_factory=BundleSummary)
    compacted: Compaction | None = None
    error: str | None = None  # "Type: message" of the exception that ended the run
    decision: Decision | None = None
    exit_code: int | None = None
    reason: str | None = None
    finished_at: str | None = None

    def holdout_json(self) -> dict[str, Any]:
        """``holdout`` as written (also recorded in the bundle's manifest)."""
        if self.reused is not None:
            return self.reused.holdout
        return asdict(self.holdout) if self.holdout is not None else {}

    def metrics_json(self) -> dict[str, Any]:
        """``metrics`` as written (also recorded in the bundle's manifest)."""
        if self.reused is not None:
            return {**self.reused.metrics, "from_run": self.reused.run_id}
        return self.judgement.to_json() if self.judgement is not None else {}

    def gate_json(self) -> dict[str, Any]:
        """``gate`` as written (also recorded in the bundle's manifest)."""
        return self.gate.to_json() if self.gate is not None else {}

    def to_json(self) -> dict[str, Any]:
        """The JSON report (docs/operations.md); keys in the order they have always been written."""
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "host": self.host,
            "pid": self.pid,
            "forced": self.forced,
            "config": self.config.to_dict(),
            "recovered": self.recovered.to_json() if self.recovered is not None else None,
            "inbox": [asdict(f) for f in self.inbox],
            "data": self.data.to_json() if self.data is not None else {},
            "holdout": self.holdout_json(),
            "metrics": self.metrics_json(),
            "gate": self.gate_json(),
            "embedding": {name: asdict(c) for name, c in self.embedding.items()},
            "build_timings_s": self.build_timings,
            "pitches": self.pitches.to_json() if self.pitches is not None else None,
            "bundle": asdict(self.bundle),
            "timings_s": self.timings,  # not a copy: the "report" step's time lands after writing
        }
        if self.compacted is not None:
            out["compacted"] = asdict(self.compacted)
        if self.error is not None:
            out["error"] = self.error
        if self.decision is not None:
            out.update(decision=self.decision, exit_code=self.exit_code, reason=self.reason)
        if self.finished_at is not None:
            out["finished_at"] = self.finished_at
        return out
