"""Imports are confined to the inbox: a symbolic link to a file elsewhere is never read."""

from __future__ import annotations

from pathlib import Path

from jobs.nightly.inbox import import_inbox
from recsys.store import SQLiteStore


def test_a_symlink_out_of_the_inbox_is_rejected_unread(tmp_path: Path) -> None:
    outside = tmp_path / "secret" / "events.csv"
    outside.parent.mkdir()
    outside.write_text("user_id,item_id,type,ts\nu1,i1,click,1700000000\n", encoding="utf-8")
    inbox = tmp_path / "home" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "events-link.csv").symlink_to(outside)
    (inbox / "events-real.csv").write_text(
        "user_id,item_id,type,ts\nu2,i2,view,1700000000\n", encoding="utf-8"
    )
    with SQLiteStore(tmp_path / "home" / "db.sqlite3") as store:
        results = {r.name: r for r in import_inbox(store, inbox)}
        assert results["events-link.csv"].status == "rejected"
        assert "symbolic links" in results["events-link.csv"].reason
        assert results["events-real.csv"].status == "done"
        assert store.user_events("u1") == []  # the linked file was never imported
        assert len(store.user_events("u2")) == 1
    assert outside.exists()  # the target is untouched; only the link moved to rejected/
    assert (inbox / "rejected" / "events-link.csv").is_symlink()
