"""The nightly inbox: files imported, then moved to done/ or rejected/ with a reason file."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from nightly_data import catalog, clustered_events

from jobs.nightly.inbox import import_inbox, kind_of, pending_files
from recsys.home import Home
from recsys.store import Store


def _inbox(home: Home) -> Path:
    inbox = home.root / "inbox"
    inbox.mkdir()
    return inbox


def test_kind_and_order_of_pending_files(home: Home) -> None:
    inbox = _inbox(home)
    for name in (
        "events-2.csv",
        "catalog.csv",
        "events-1.jsonl",
        ".hidden.csv",
        "events-3.csv.part",
        "notes.txt",
    ):
        (inbox / name).write_text("x\n", encoding="utf-8")
    (inbox / "done").mkdir()
    assert [p.name for p in pending_files(inbox)] == [
        "catalog.csv",
        "events-1.jsonl",
        "events-2.csv",
        "notes.txt",
    ]
    assert kind_of("Products_2026.parquet") == "catalog"
    assert kind_of("items.csv") == "catalog"
    assert kind_of("events.csv") == "events"
    assert kind_of("notes.txt") is None


def test_good_files_are_imported_and_moved_to_done(home: Home, store: Store) -> None:
    inbox = _inbox(home)
    events = clustered_events(n_users=20, events_per_user=5)
    catalog().write_csv(inbox / "catalog.csv")
    events.write_csv(inbox / "events.csv")

    results = import_inbox(store, inbox)
    assert [(r.name, r.kind, r.status, r.rows, r.stored, r.rejected_rows) for r in results] == [
        ("catalog.csv", "catalog", "done", 72, 72, 0),
        ("events.csv", "events", "done", 100, events.unique().height, 0),
    ]
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["catalog.csv", "events.csv"]
    assert not list(inbox.glob("*.csv"))
    assert store.count_events() == events.unique().height

    # the same file again (say, re-sent after a crash): moved under a new name, nothing duplicated
    events.write_csv(inbox / "events.csv")
    again = import_inbox(store, inbox)
    assert (again[0].status, again[0].stored, again[0].moved_to) == ("done", 0, "done/events-2.csv")
    assert store.count_events() == events.unique().height


def test_bad_files_are_rejected_whole_with_a_reason(home: Home, store: Store) -> None:
    inbox = _inbox(home)
    good = clustered_events(n_users=5, events_per_user=4)
    broken = good.with_columns(
        pl.when(pl.int_range(pl.len()) % 2 == 0)
        .then(pl.lit("teleport"))
        .otherwise(pl.col("type"))
        .alias("type")
    )
    broken.write_csv(inbox / "events-broken.csv")
    (inbox / "events-garbage.parquet").write_bytes(b"not parquet at all")
    good.write_csv(inbox / "stuff.csv")

    results = {r.name: r for r in import_inbox(store, inbox)}
    assert store.count_events() == 0  # nothing of a rejected file lands
    rejected = inbox / "rejected"
    assert {r.status for r in results.values()} == {"rejected"}
    assert results["events-broken.csv"].rejected_rows == 10
    reason = (rejected / "events-broken.csv.reason.txt").read_text(encoding="utf-8")
    assert "10 of 20 rows invalid" in reason
    assert "nothing of this file was imported" in reason
    assert "line 2: unknown event type 'teleport'" in reason
    assert "cannot read" in (rejected / "events-garbage.parquet.reason.txt").read_text(
        encoding="utf-8"
    )
    assert "cannot tell what" in (rejected / "stuff.csv.reason.txt").read_text(encoding="utf-8")
    assert (rejected / "events-broken.csv").is_file()
    assert not [p for p in inbox.iterdir() if p.is_file()]


def test_few_bad_rows_are_skipped_and_listed(home: Home, store: Store) -> None:
    inbox = _inbox(home)
    good = clustered_events(n_users=10, events_per_user=10)
    rows = good.with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(pl.lit(""))
        .otherwise(pl.col("user_id"))
        .alias("user_id")
    )
    rows.write_csv(inbox / "events.csv")
    [result] = import_inbox(store, inbox, max_rejected_share=0.05)
    assert (result.status, result.rows, result.rejected_rows) == ("done", 100, 1)
    assert store.count_events() == rows.filter(pl.col("user_id") != "").unique().height
    note = (inbox / "done" / "events.csv.reason.txt").read_text(encoding="utf-8")
    assert "1 of 100 rows invalid and skipped" in note
    assert "line 7" in note
