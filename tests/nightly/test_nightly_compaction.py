"""The nightly run is the deadline for an erasure's deferred compaction (stores over 128 MB)."""

from __future__ import annotations

import json

from nightly_data import catalog, clustered_events, config

from jobs.nightly import run_nightly
from recsys.home import Home
from recsys.store import SQLiteStore


def test_a_due_compaction_runs_first_and_is_cleared(home: Home) -> None:
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog())
        store.add_events(clustered_events())
        store.mark_compact_due(now=123.0)
    result = run_nightly(home, config())
    report = json.loads((home.root / "reports" / f"{result.run_id}.json").read_text())
    assert report["compacted"]["due_since"] == 123.0
    assert "compact" in report["timings_s"]
    with SQLiteStore(home.db_path) as store:
        assert store.compact_due() is None
    audit = [json.loads(line) for line in (home.root / "audit.log").read_text().splitlines()]
    assert [a["action"] for a in audit] == ["compact"]
    again = run_nightly(home, config())  # nothing due: no compaction step
    report = json.loads((home.root / "reports" / f"{again.run_id}.json").read_text())
    assert "compacted" not in report and "compact" not in report["timings_s"]
