"""recsys.erasure: the CLI, bundles trained while a user is erased, and the pitch cache's links.

The end-to-end residue test (markers everywhere, then a grep of every file) is
``tests/api/test_erasure_residue.py``; these cover the paths around it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import recsys.training as pipeline
from recsys.bundle import current_version, load_bundle
from recsys.cli import cli
from recsys.config import TrainConfig
from recsys.erasure import erase_users, scrub_new_bundle
from recsys.errors import InvalidInputError
from recsys.home import Home
from recsys.pitch.cache import CacheKey, PitchCache
from recsys.pitch.config import PitchConfig
from recsys.pitch.serving import PitchProvider
from recsys.store import SQLiteStore

SMALL = TrainConfig.from_dict({"behavior": {"factors": 8, "iterations": 5}})


@pytest.fixture
def shop_home(home: Home, shop: tuple[pl.DataFrame, pl.DataFrame]) -> Home:
    events, catalog = shop
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog)
        store.add_events(events)
    return home


def key(item: str, context: str) -> CacheKey:
    return CacheKey(item, context, "v1", "m")


def test_cli_erases_many_users_and_audits_without_ids(shop_home: Home, tmp_path: Path) -> None:
    pipeline.train(shop_home, SMALL)
    ids = tmp_path / "ids.txt"
    ids.write_text("cook1\n\ncook2\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["--home", str(shop_home.root), "erase", "run1", "--from-file", str(ids), "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["users"] == 3 and report["events"] == 3 + 4 + 4  # cooks also viewed k5
    assert list(report["bundles"].values()) == [3] and report["wal_truncated"] is True
    bundle = load_bundle(shop_home.artifacts)
    assert not {"run1", "cook1", "cook2"} & set(bundle.users.ids())
    audit = (shop_home.root / "audit.log").read_text(encoding="utf-8")
    assert '"source": "cli"' in audit and '"users": 3' in audit
    assert not any(u in audit for u in ("run1", "cook1", "cook2"))
    plain = runner.invoke(cli, ["--home", str(shop_home.root), "erase", "run2"])
    assert plain.exit_code == 0 and "erased 1 user(s): 3 events" in plain.output
    none = runner.invoke(cli, ["--home", str(shop_home.root), "erase"])
    assert none.exit_code == 2 and "USER_ID" in none.output


def test_erase_rejects_no_or_empty_ids(shop_home: Home) -> None:
    with SQLiteStore(shop_home.db_path) as store:
        for bad in ([], [""]):
            with pytest.raises(InvalidInputError):
                erase_users(shop_home, store, bad, source="test")


def test_a_user_erased_while_training_runs_is_not_in_the_published_bundle(
    shop_home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pipeline.precompute_lists

    def erase_midway(*args, **kwargs):  # type: ignore[no-untyped-def]
        # training has read the store (run3 is in its data); the erasure lands now
        with SQLiteStore(shop_home.db_path) as other:
            erase_users(shop_home, other, ["run3"], source="test")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "precompute_lists", erase_midway)
    pipeline.train(shop_home, SMALL)
    bundle = load_bundle(shop_home.artifacts)
    assert "run3" not in bundle.users and "run4" in bundle.users
    raw = (
        shop_home.artifacts / str(current_version(shop_home.artifacts)) / "users.json"
    ).read_text()
    assert "run3" not in raw


def test_scrub_new_bundle_only_looks_at_erasures_since_the_read(shop_home: Home) -> None:
    pipeline.train(shop_home, SMALL)
    version = str(current_version(shop_home.artifacts))
    read_at = float(load_bundle(shop_home.artifacts).manifest["read_at"])
    with SQLiteStore(shop_home.db_path) as store:
        store.delete_user("cook4", now=read_at - 3600)  # before the read: not this bundle's job
        assert scrub_new_bundle(store, shop_home.artifacts, version, read_at) == 0
        store.delete_user("cook3", now=read_at + 1)
        assert scrub_new_bundle(store, shop_home.artifacts, version, read_at) == 1
    assert "cook3" not in load_bundle(shop_home.artifacts).users


def test_pitch_cache_forgets_linked_pitches_and_drops_orphans(tmp_path: Path) -> None:
    cache = PitchCache(tmp_path / "pitches.sqlite3")
    shared, own = key("r1", "ctx-shared"), key("r2", "ctx-own")
    cache.put(shared, "shared text", "llm")
    cache.put(own, "own text", "llm")
    cache.link("alice", [shared, own])
    cache.link("bob", [shared])
    assert cache.forget_users(["alice"]) == 2  # bob shares the context: it is alice's data too
    assert cache.count() == 0
    cache.put(shared, "written again for bob", "llm")
    assert cache.drop_unlinked([shared]) == 0  # bob's link still stands
    cache.put(own, "written after alice was erased", "llm")
    assert cache.drop_unlinked([own]) == 1
    assert cache.count() == 1 and cache.checkpoint() is True
    cache.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"alice" not in data and b"own text" not in data and b"after alice" not in data


def test_a_pitch_cache_from_before_links_is_emptied_once(tmp_path: Path) -> None:
    path = tmp_path / "pitches.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE pitches (item_id TEXT NOT NULL, context_hash TEXT NOT NULL, "
        "prompt_version TEXT NOT NULL, model TEXT NOT NULL, text TEXT NOT NULL, "
        "origin TEXT NOT NULL, created_at REAL NOT NULL, "
        "PRIMARY KEY (item_id, context_hash, prompt_version, model))"
    )
    old.execute("INSERT INTO pitches VALUES ('r1', 'c', 'v', 'm', 'unattributable', 'llm', 0)")
    old.commit()
    old.close()
    cache = PitchCache(path)
    assert cache.count() == 0
    cache.put(key("r1", "c"), "new", "llm")
    cache.close()
    assert PitchCache(path).count() == 1  # only the first open empties it


def test_a_pitch_being_written_when_its_shopper_is_erased_is_not_kept(
    shop_home: Home, fake_model
) -> None:
    jacket = "This pick is a jacket that keeps you warm on every run."
    model = fake_model([jacket])
    model.release.clear()  # the model blocks until released: the erasure lands meanwhile
    with SQLiteStore(shop_home.db_path) as store:
        provider = PitchProvider(
            shop_home, PitchConfig(n_samples=1, rerank=False), store=store, model=model
        )
        try:
            items = [{"item_id": "r4", "title": "Running jacket", "category": "Running"}]
            first = provider.pitches_for("run1", store.user_events("run1"), items, wait_ms=0)
            assert first[0].source == "template"
            report = erase_users(shop_home, store, ["run1"], source="test")
            assert report.pitches == 0  # nothing written yet
            model.release.set()
            deadline = time.monotonic() + 5
            while provider._pending and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not provider._pending
            assert PitchCache(shop_home.pitch_cache_path).count() == 0
            assert model.calls  # the pitch was written (then dropped), not skipped
            facts, context = provider.facts_and_context(store.user_events("run1"), items)[0]
            assert provider.writer.check(jacket, facts, context).ok  # it would have been kept
            # nor is its text left in the file's free space or its write-ahead log
            cache_files = shop_home.pitch_cache_path.parent.glob("pitches.sqlite3*")
            assert not any(b"keeps you warm" in p.read_bytes() for p in cache_files)
        finally:
            model.release.set()
            provider.close()


def test_a_large_store_is_left_due_for_the_nightly_run(
    shop_home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    import recsys.erasure as erasure

    monkeypatch.setattr(erasure, "COMPACT_NOW_MAX_BYTES", 1)  # every store counts as large
    with SQLiteStore(shop_home.db_path) as store:
        report = erase_users(shop_home, store, ["run1"], source="test")
        assert report.compacted is False and store.compact_due() is not None
        forced = erase_users(shop_home, store, ["run2"], source="test", compact=True)
        assert forced.compacted is True and store.compact_due() is None
    result = CliRunner().invoke(cli, ["--home", str(shop_home.root), "compact"])
    assert result.exit_code == 0 and "compacted the store" in result.output


def test_a_bundle_folder_this_host_cannot_write_is_reported_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an API host whose shared bundle folder is mounted read-only (EROFS, simulated: as root
    # no permission stops a write here): the store part of the erasure stands, the report says
    # why the bundles were not scrubbed, and the call does not fail with a 500
    import errno

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("recsys.erasure.scrub_bundles", read_only)
    home = Home(tmp_path / "home", shared_artifacts=tmp_path / "shared").ensure()
    with SQLiteStore(home.db_path) as store:
        store.add_events(
            pl.DataFrame({"user_id": ["u1"], "item_id": ["i"], "type": ["view"], "ts": [1.0]})
        )
        report = erase_users(home, store, ["u1"], source="cli")
        assert report.events == 1 and store.erased_at("u1") is not None
    assert report.failed_bundles and "Read-only" in report.failed_bundles[0]


def test_the_nightly_host_sweeps_its_own_files_of_shoppers_erased_elsewhere(
    tmp_path: Path,
) -> None:
    # several hosts, one store: u1 is erased through an API host, whose home has no inbox; the
    # nightly host's kept import files and pitch cache still name u1 until it sweeps
    from recsys.erasure import sweep_erasures

    api_host, nightly = Home(tmp_path / "api").ensure(), Home(tmp_path / "nightly").ensure()
    done = nightly.root / "inbox" / "done"
    done.mkdir(parents=True)
    (done / "events-1.csv").write_text(
        "user_id,item_id,type,ts\nu1,i1,view,1\nu2,i1,view,2\nu1,i2,purchase,3\n"
    )
    (done / "events-2.jsonl").write_text('{"user": "u1", "item_id": "i3", "type": "view"}\n')
    cache = PitchCache(nightly.pitch_cache_path)
    key = CacheKey("i1", "ctx", "v1", "m")
    cache.put(key, "A pitch from u1's history.", "llm")
    cache.link("u1", [key])
    cache.close()
    with SQLiteStore(api_host.db_path) as store:  # the shared store
        assert sweep_erasures(nightly, store)["erasures"] == 0
        erase_users(api_host, store, ["u1"], source="api")
        swept = sweep_erasures(nightly, store)
        assert swept == {
            "erasures": 1,
            "pitches": 1,
            "inbox_files": 2,
            "inbox_rows": 3,
            "unreadable_files": 0,
        }
        again = sweep_erasures(nightly, store)
        assert again["inbox_files"] == again["pitches"] == 0
    assert (done / "events-1.csv").read_text() == "user_id,item_id,type,ts\nu2,i1,view,2\n"
    assert (done / "events-2.jsonl").read_text() == ""
    audit = [json.loads(line) for line in (nightly.root / "audit.log").read_text().splitlines()]
    assert [a["action"] for a in audit] == ["sweep"] and "u1" not in json.dumps(audit)
