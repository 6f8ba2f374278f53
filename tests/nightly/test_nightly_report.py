"""The run report's JSON is an interface: its keys, nesting and order are those documented.

docs/operations.md ("Reading the report") lists the keys in the order they are written; operators'
scripts read them. The job builds a typed :class:`RunReport` and turns it into JSON only when it
writes it; these tests pin that JSON to the documentation.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from nightly_data import catalog, clustered_events, config

import jobs.nightly.job
from jobs.nightly import run_nightly
from jobs.nightly.run_report import (
    Compaction,
    GateSummary,
    HoldoutSummary,
    Judgement,
    PitchSummary,
    Recovered,
    RunReport,
)
from recsys.bundle import load_bundle
from recsys.gate import GateResult
from recsys.home import Home
from recsys.nightly.config import NightlyConfig
from recsys.store import SQLiteStore

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
ONLY_SOMETIMES = {"compacted", "error", "plot"}  # documented as present only when ...


def documented_keys() -> list[str]:
    """Top-level report keys in the order docs/operations.md lists them."""
    text = OPERATIONS.read_text(encoding="utf-8")
    section = text.split("## Reading the report", 1)[1].split("\n## ", 1)[0]
    keys: list[str] = []
    for line in section.splitlines():
        if line.startswith("- `"):
            head = line[2:].split(" — ", 1)[0]
            keys += re.findall(r"`([a-z_0-9]+)`", head)
    return keys


def _seed(home: Home) -> None:
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog())
        store.add_events(clustered_events())


def test_the_documented_list_is_complete_and_in_order() -> None:
    keys = documented_keys()
    assert len(keys) == len(set(keys))
    assert keys[:4] == ["run_id", "started_at", "host", "pid"]
    assert keys[-1] == "plot"


def test_a_typical_run_writes_exactly_the_documented_keys(home: Home) -> None:
    _seed(home)
    inbox = home.root / "inbox"
    inbox.mkdir()
    clustered_events().head(20).write_csv(inbox / "events-again.csv")
    result = run_nightly(home, config(pitch_users=3, pitch={"backend": "template"}))
    assert result.decision == "published"
    written = json.loads(
        (home.root / "reports" / f"{result.run_id}.json").read_text(encoding="utf-8")
    )

    expected = [k for k in documented_keys() if k not in ONLY_SOMETIMES - {"plot"}]
    assert list(written) == expected
    assert list(result.report) == expected
    # the result carries the report as written (its "report" step's time lands after writing)
    timings = dict(result.report["timings_s"])
    assert timings.pop("report") >= 0
    assert written == {**result.report, "timings_s": timings}

    assert list(written["data"]) == [
        "events",
        "users",
        "items_with_events",
        "catalog_items",
        "window",
        "fingerprint",
        "first_event",
        "last_event",
    ]
    assert list(written["holdout"]) == ["rule", "events", "train_events", "cut", "users_judged"]
    assert list(written["metrics"]) == ["candidate", "live", "live_mode", "live_version"]
    assert {"users", "recall@10", "recall@20", "ndcg@10", "ndcg@20"} <= set(
        written["metrics"]["candidate"]
    )
    assert set(written["metrics"]["candidate"]["recall@20"]) == {"mean", "ci95"}
    assert list(written["gate"]) == [
        "passed",
        "metric",
        "candidate",
        "current",
        "threshold",
        "reason",
        "tolerance",
        "tolerance_mode",
    ]
    assert list(written["bundle"]) == ["live_before", "live_after", "candidate", "pruned"]
    assert list(written["inbox"][0]) == [
        "name",
        "kind",
        "status",
        "moved_to",
        "rows",
        "stored",
        "rejected_rows",
        "reason",
    ]
    assert list(written["pitches"]) == [
        "status",
        "users",
        "written",
        "cached",
        "template",
        "failed",
        "elapsed_s",
        "skipped",
    ]
    assert written["recovered"] is None
    assert written["embedding"] == {}  # text is off in these configs
    assert list(written["build_timings_s"]) == ["candidate_eval", "candidate"]
    # the run's record in the bundle's manifest holds the same holdout, metrics and gate
    record = load_bundle(home.artifacts).manifest["nightly"]
    assert (record["holdout"], record["metrics"], record["gate"]) == (
        written["holdout"],
        written["metrics"],
        written["gate"],
    )

    again = run_nightly(home, config(pitch_users=3, pitch={"backend": "template"}))
    assert again.decision == "up_to_date"
    assert list(again.report) == expected
    assert again.report["holdout"] == written["holdout"]
    assert again.report["metrics"] == {**written["metrics"], "from_run": result.run_id}
    assert again.report["gate"] == {} and again.report["pitches"] is None


def test_a_failed_run_reports_the_error_before_the_verdict(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(jobs.nightly.job, "train", broken)
    _seed(home)
    with pytest.raises(RuntimeError, match="disk on fire"):
        run_nightly(home, config())
    written = json.loads((home.root / "reports" / "latest.json").read_text(encoding="utf-8"))
    order = [k for k in documented_keys() if k not in {"compacted", "plot"}]
    assert [k for k in written if k != "plot"] == order
    assert written["error"] == "RuntimeError: disk on fire"
    assert (written["decision"], written["exit_code"]) == ("error", 1)
    assert written["bundle"]["candidate"] is None
    assert written["gate"]["passed"] is True  # judged before training failed


def _full_report() -> RunReport:
    report = RunReport(run_id="r1", config=NightlyConfig(), forced=True, timings={"read": 0.5})
    report.recovered = Recovered({"pid": 7, "run_id": "r0", "step": "write"}, ["v-orphan"])
    report.holdout = HoldoutSummary("last 10% of events", 10, 90, None, 3)
    metrics: dict[str, Any] = {"users": 3, "recall@20": {"mean": 0.5, "ci95": 0.1}}
    report.judgement = Judgement(metrics, None, "none", None)
    report.gate = GateSummary(
        GateResult(True, "recall@20", 0.5, None, None, "no current"), 0.02, "relative"
    )
    report.pitches = PitchSummary("failed", reason="RuntimeError: x", users=2)
    report.compacted = Compaction(due_since=123.0, seconds=1.5)
    report.error = "RuntimeError: x"
    report.decision, report.exit_code, report.reason = "error", 1, "the run failed"
    report.finished_at = "2026-01-01T00:00:00+00:00"
    return report


def test_every_key_a_report_can_have_is_documented_in_order() -> None:
    written = _full_report().to_json()
    assert list(written) == [k for k in documented_keys() if k != "plot"]
    assert written["recovered"] == {
        "pid": 7,
        "run_id": "r0",
        "step": "write",
        "removed": ["v-orphan"],
    }
    assert written["compacted"] == {"due_since": 123.0, "seconds": 1.5}
    assert written["pitches"] == {"status": "failed", "reason": "RuntimeError: x", "users": 2}
    assert written["metrics"] == {
        "candidate": {"users": 3, "recall@20": {"mean": 0.5, "ci95": 0.1}},
        "live": None,
        "live_mode": "none",
        "live_version": None,
    }
    assert written["holdout"]["cut"] is None  # an empty holdout keeps its key
    assert json.loads(json.dumps(written)) == written  # plain JSON


def test_an_empty_report_keeps_its_empty_sections() -> None:
    written = RunReport(run_id="r1", config=NightlyConfig(), forced=False, timings={}).to_json()
    assert written["recovered"] is None and written["pitches"] is None
    assert written["data"] == written["holdout"] == written["metrics"] == written["gate"] == {}
    assert written["inbox"] == [] and written["embedding"] == {}
    assert written["bundle"] == {
        "live_before": None,
        "live_after": None,
        "candidate": None,
        "pruned": [],
    }
    assert "decision" not in written and "compacted" not in written and "error" not in written
