"""Erasure leaves nothing behind: a user's markers are written everywhere, erased, then grepped.

The user has a unique id (with a ``/``), unique session ids and event ids, events in two kept
model bundles (trained by the one training door), a precomputed list, pitches written from their
history, and rows in a kept inbox file. Before the erasure every marker is found in the files
where it should be (so the grep can see them); after ``POST /v1/erasures`` returns, no file
under the data home holds any of them, the bundles still load and answer for other users, and an
audit line records the erasure without the id. (Plain ids through ``DELETE /v1/users/<id>``
share the same code: ``tests/api/test_api_routes.py``.)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import pytest
from api_testing import ADMIN_KEY, WRITE_KEY, auth, make_app

from jobs.nightly.inbox import import_inbox
from recsys.bundle import list_versions, load_bundle
from recsys.config import TrainConfig
from recsys.home import Home
from recsys.pitch.config import PitchConfig
from recsys.pitch.serving import PitchProvider
from recsys.serving import HybridRecommender
from recsys.store import SQLiteStore
from recsys.text import TextEncoder
from recsys.training import train

USER = "zq/mark-user-51c7"  # contains "/": POST /v1/events accepts it, so it must be erasable
SESSION = "zq-mark-session-8d2e"
EVENT_ID = "zq-mark-event-4b90"
INBOX_SESSION = "zq-mark-inbox-session-77a1"
# the model's sentence (the pitch is the link sentence, then this); valid for any item pitched
PITCH = "This pick is a zqmarkpace treat for every day of the week."
SMALL = TrainConfig.from_dict({"behavior": {"factors": 8, "iterations": 10}})


def files_with(root: Path, marker: str) -> list[str]:
    """Every file under ``root`` whose bytes contain ``marker`` (UTF-8)."""
    needle = marker.encode("utf-8")
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and needle in p.read_bytes()
    )


def answers_for_others(home: Home) -> dict[tuple[str, str], list[str]]:
    """Every kept bundle's live answer for two other users (item ids, in order)."""
    out = {}
    with SQLiteStore(home.db_path) as store:
        for version in list_versions(home.artifacts):
            recommender = HybridRecommender(load_bundle(home.artifacts, version))
            for user in ("run2", "cook3"):
                recs = recommender.recommend_user(user, store.user_events(user), n=5)
                out[(version, user)] = [r.item_id for r in recs.items]
    return out


@pytest.fixture
def marked_home(tmp_path: Path, shop: tuple[pl.DataFrame, pl.DataFrame]) -> Home:
    """The tiny shop plus the marked user: store, inbox file, two kept bundles."""
    events, catalog = shop
    home = Home(tmp_path / "home").ensure()
    ts = 1_700_100_000.0
    mine = pl.DataFrame(
        {
            "user_id": [USER, USER, USER],
            "item_id": ["r2", "r3", "r4"],
            "type": ["purchase", "purchase", "view"],
            "ts": [ts, ts + 60, ts + 120],
            "session_id": [SESSION, SESSION, SESSION],
        }
    )
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog)
        store.add_events(pl.concat([events, mine]))
        inbox = home.root / "inbox"
        inbox.mkdir()
        (inbox / "events-shop.csv").write_text(
            "user_id,item_id,type,ts,session_id\n"
            f'"{USER}",r3,click,{ts + 200},{INBOX_SESSION}\n'
            f"run1,r1,view,{ts + 300},\n",
            encoding="utf-8",
        )
        assert [f.status for f in import_inbox(store, inbox)] == ["done"]
        train(home, SMALL, store=store)
        train(home, SMALL, store=store)
    assert len(list_versions(home.artifacts)) == 2
    return home


def test_erasure_leaves_no_marker_anywhere(
    marked_home: Home, encoder: TextEncoder, fake_model
) -> None:
    home = marked_home
    model = fake_model(reply_fn=lambda messages: [PITCH])
    provider = PitchProvider(
        home, PitchConfig(n_samples=1, rerank=False), model=model, store=SQLiteStore(home.db_path)
    )
    app = make_app(home, encoder, pitch_provider=provider)
    client = app.test_client()
    try:
        # the user's live events, with a client event id, then a pitched answer from their history
        posted = client.post(
            "/v1/events",
            json={
                "user_id": USER,
                "item_id": "r1",
                "type": "view",
                "session_id": SESSION,
                "event_id": EVENT_ID,
            },
            headers=auth(WRITE_KEY),
        )
        assert posted.status_code == 202
        answer = client.get(f"/v1/users/{USER}/recommendations?pitch=true&pitch_wait_ms=3000")
        assert answer.status_code == 200
        texts = [item["pitch"]["text"] for item in answer.get_json()["items"]]
        # the LLM pitch (validated and cached), not the template
        assert any(t.startswith("Because you ") and t.endswith(f" {PITCH}") for t in texts), texts

        # positive control: the grep sees every marker where it is stored
        assert any(f.startswith("recsys.sqlite3") for f in files_with(home.root, SESSION))
        for version in list_versions(home.artifacts):
            assert f"artifacts/{version}/users.json" in files_with(home.root, USER)
        assert files_with(home.root / "inbox", INBOX_SESSION) == ["done/events-shop.csv"]
        assert any("pitches.sqlite3" in f for f in files_with(home.root, "zqmarkpace"))
        assert any(f.startswith("recsys.sqlite3") for f in files_with(home.root, EVENT_ID))

        before = answers_for_others(home)
        started = time.time()
        # an id with "/": POST /v1/erasures (DELETE /v1/users/<id> takes one path segment)
        erased = client.post("/v1/erasures", json={"user_ids": [USER]}, headers=auth(ADMIN_KEY))
        assert erased.status_code == 200, erased.get_json()
        body = erased.get_json()
        assert body["users"] == 1 and body["deleted_events"] == 5  # 3 + inbox 1 + posted 1
        report = body["erasure"]
        assert report["events"] == 5 and report["pitches"] >= 1
        assert len(report["bundles"]) == 2 and report["inbox_rows"] == 1
        assert report["wal_truncated"] is True and report["unreadable_files"] == []

        # when the call has returned, no file under the home holds any marker
        for marker in (USER, SESSION, EVENT_ID, INBOX_SESSION, "zqmarkpace", "mark-user-51c7"):
            assert files_with(home.root, marker) == [], marker
        # every kept bundle still loads and still answers for the other users
        for version in list_versions(home.artifacts):
            assert USER not in load_bundle(home.artifacts, version).users
        assert answers_for_others(home) == before
        # personalization stopped; the audit line says what happened, not to whom
        again = client.get(f"/v1/users/{USER}/recommendations").get_json()
        stranger = client.get("/v1/users/never-seen-9/recommendations").get_json()
        assert again["strategy"] == stranger["strategy"] and again["items"] == stranger["items"]
        lines = (home.root / "audit.log").read_text(encoding="utf-8").splitlines()
        audit = json.loads(lines[-1])
        assert audit["action"] == "erase" and audit["events"] == 5 and audit["source"] == "api"
        assert audit["erasure_id"] == report["erasure_id"]
        assert time.time() - started < 30
    finally:
        app.extensions["recsys"].close()
