"""Tests for recsys.scrub: erased users leave no row in bundles or kept import files."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO

import numpy as np
import polars as pl
import pytest

from recsys import scrub as scrub_mod
from recsys.bundle import Bundle, current_version, load_bundle
from recsys.config import TrainConfig
from recsys.errors import BundleError, InvalidInputError, LockedError
from recsys.home import Home
from recsys.scrub import (
    ID_WHITESPACE,
    ScrubFilesResult,
    placeholder,
    scrub_bundle,
    scrub_bundles,
    scrub_files,
    scrub_lock,
)
from recsys.serving import HybridRecommender
from recsys.store import SQLiteStore
from recsys.store.sqlite import UserEvent
from recsys.training import train
from recsys.types import Recommendations

MARKER = "zz-erase-marker-5d41"  # a user id that occurs nowhere else
NON_ASCII = "jürgen-ü-€"
NO_TEXT = {"behavior": {"factors": 8, "iterations": 10}, "text": {"enabled": False}}
Events = list[tuple[str, str, str, float, str]]


# ---------------------------------------------------------------------------------- bundles
def _shop() -> tuple[Events, pl.DataFrame]:
    """Two taste groups (conftest's shop) where run1 is MARKER and cook4 is NON_ASCII."""
    groups = {"r": [MARKER, "run2", "run3", "run4"], "k": ["cook1", "cook2", "cook3", NON_ASCII]}
    rows: Events = []
    ts = 1_700_000_000.0
    for prefix, users in groups.items():
        for u, user in enumerate(users, start=1):
            for i in range(1, 5):
                if i != u:
                    ts += 60.0
                    rows.append((user, f"{prefix}{i}", "purchase", ts, ""))
    items = [
        {
            "item_id": f"{prefix}{i}",
            "title": f"{category} {i}",
            "description": "",
            "category": category,
            "price": 10.0,
            "currency": "EUR",
            "in_stock": True,
            "attributes": "{}",
            "updated_at": 0.0,
        }
        for prefix, category in (("r", "Running"), ("k", "Kitchen"))
        for i in range(1, 6)
    ]
    return rows, pl.DataFrame(items, schema_overrides={"price": pl.Float64})


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Events]:
    """A bundle trained once (with precomputed lists), and its events."""
    rows, catalog = _shop()
    home = Home(tmp_path_factory.mktemp("scrub") / "home").ensure()
    schema = ["user_id", "item_id", "type", "ts", "session_id"]
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog)
        store.add_events(pl.DataFrame(rows, schema=schema, orient="row"))
        train(home, TrainConfig.from_dict(NO_TEXT), store=store)
    version = current_version(home.artifacts)
    assert version is not None
    return home.artifacts / version, rows


@pytest.fixture
def folder(trained: tuple[Path, Events], tmp_path: Path) -> Path:
    """A fresh copy of the trained bundle, in its own artifacts folder."""
    source, _ = trained
    target = tmp_path / "artifacts" / source.name
    shutil.copytree(source, target)
    return target


def _load(folder: Path) -> Bundle:
    return load_bundle(folder.parent, folder.name)


def _history(rows: Events, user: str) -> list[UserEvent]:
    return [UserEvent(item, kind, ts) for u, item, kind, ts, _ in reversed(rows) if u == user]


def _answers(rec: HybridRecommender, rows: Events, users: list[str]) -> dict[str, Recommendations]:
    return {u: rec.recommend_user(u, _history(rows, u), n=5) for u in users}


def _hits(folder: Path, needle: bytes) -> list[str]:
    return [
        p.relative_to(folder).as_posix()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and needle in p.read_bytes()
    ]


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[p.relative_to(folder).as_posix()] = (p.read_bytes(), st.st_ino, st.st_mtime_ns)
    return out


def test_scrubbed_user_is_gone_and_other_users_are_served_as_before(
    folder: Path, trained: tuple[Path, Events]
) -> None:
    _, rows = trained
    before = _load(folder)
    row = before.users.index(MARKER)
    assert row >= 0 and before.precomputed is not None
    assert _hits(folder, MARKER.encode()) == ["users.json"]  # the id is only in users.json
    others = [u for u in before.users.ids() if u != MARKER]
    rec_before = HybridRecommender(before)
    old = _answers(rec_before, rows, others)
    old_manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))

    assert scrub_bundle(folder, [MARKER, "never-seen"]) == 1

    assert _hits(folder, MARKER.encode()) == []
    after = _load(folder)  # still a loadable bundle
    assert after.users.index(MARKER) == -1
    assert after.users.ids() == [placeholder(row) if u == MARKER else u for u in before.users.ids()]
    # shapes and the other users' rows are unchanged; the user's row holds nothing
    assert after.user_items.shape == before.user_items.shape
    assert after.user_items[row].nnz == 0
    keep = np.arange(len(before.users)) != row
    assert (after.user_items[keep] != before.user_items[keep]).nnz == 0
    state_before, state_after = before.behavior._state(), after.behavior._state()
    assert set(state_after) == set(state_before)
    users_before, users_after = state_before["user_factors"], state_after["user_factors"]
    assert users_after.shape == users_before.shape
    assert not users_after[row].any()
    np.testing.assert_array_equal(users_after[keep], users_before[keep])
    np.testing.assert_array_equal(state_after["item_factors"], state_before["item_factors"])
    np.testing.assert_array_equal(after.behavior.known_items, before.behavior.known_items)
    np.testing.assert_array_equal(after.popularity, before.popularity)
    lists_before, lists_after = before.precomputed, after.precomputed
    assert lists_after is not None
    assert lists_after.get(row) is None
    assert (lists_after.items[row] == -1).all() and not lists_after.scores[row].any()
    assert not lists_after.sources[row].any()
    assert lists_after.watermark == lists_before.watermark
    for name in ("items", "scores", "sources"):
        np.testing.assert_array_equal(
            getattr(lists_after, name)[keep], getattr(lists_before, name)[keep]
        )
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    scrubbed = manifest.pop("scrubbed")
    assert manifest == old_manifest
    assert scrubbed["users"] == 1 and set(scrubbed) == {"users", "at"}
    datetime.fromisoformat(scrubbed["at"])

    # every other user gets the same items, reasons and strategy; the scores differ only through
    # the behavior score-spread floor, which the recommender measures over a sample of trained
    # rows (now including the empty one): pinned to its old value, the answers are identical
    rec_after = HybridRecommender(after)
    new = _answers(rec_after, rows, others)
    for user in others:
        a, b = old[user], new[user]
        assert (a.strategy, [i.item_id for i in a.items], [i.reason for i in a.items]) == (
            b.strategy,
            [i.item_id for i in b.items],
            [i.reason for i in b.items],
        )
        assert [i.score for i in b.items] == pytest.approx([i.score for i in a.items], rel=1e-4)
    pinned = HybridRecommender(after)
    pinned._floors["behavior"] = rec_before.spread_floor("behavior")
    assert _answers(pinned, rows, others) == old
    # the erased user is an unknown user now, whatever history a request brings
    history = _history(rows, MARKER)
    answer = rec_after.recommend_user(MARKER, history, n=5)
    assert answer.strategy != "hybrid"
    assert answer.items == rec_after.recommend_user("never-seen", history, n=5).items


def test_scrub_is_idempotent_and_counts_users_so_far(folder: Path) -> None:
    assert scrub_bundle(folder, [MARKER]) == 1
    snapshot = _snapshot(folder)
    assert scrub_bundle(folder, [MARKER]) == 0
    assert scrub_bundle(folder, []) == 0
    assert scrub_bundle(folder, ["", "\x00erased:0", placeholder(0)]) == 0  # never real ids
    assert _snapshot(folder) == snapshot  # no file touched, not even rewritten alike
    assert scrub_bundle(folder, [MARKER, NON_ASCII]) == 1
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["scrubbed"]["users"] == 2
    assert _hits(folder, NON_ASCII.encode()) == []
    assert not [p for p in folder.rglob("*") if ".scrub-" in p.name]  # no temp file left


def test_bundle_without_toplists(folder: Path) -> None:
    (folder / "toplists.npz").unlink()
    assert scrub_bundle(folder, [NON_ASCII]) == 1
    after = _load(folder)
    assert after.precomputed is None
    assert after.users.index(NON_ASCII) == -1
    assert _hits(folder, NON_ASCII.encode()) == []


def test_two_threads_scrubbing_one_bundle_lose_nothing(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = scrub_mod._replace_atomically

    def slow(path: Path, write: Callable[[IO[bytes]], object]) -> None:
        time.sleep(0.02)  # widen the read-modify-write window: without the lock, one is lost
        real(path, write)

    monkeypatch.setattr(scrub_mod, "_replace_atomically", slow)
    barrier = threading.Barrier(2)
    results: dict[str, int] = {}
    errors: list[BaseException] = []

    def run(user: str) -> None:
        try:
            barrier.wait()
            results[user] = scrub_bundle(folder, [user])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(u,)) for u in (MARKER, NON_ASCII)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert results == {MARKER: 1, NON_ASCII: 1}
    after = _load(folder)
    for user in (MARKER, NON_ASCII):
        assert after.users.index(user) == -1
        assert _hits(folder, user.encode()) == []
    rows = [i for i, u in enumerate(after.users.ids()) if u.startswith("\x00")]
    assert len(rows) == 2
    assert all(after.user_items[r].nnz == 0 for r in rows)
    assert not after.behavior._state()["user_factors"][rows].any()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["scrubbed"]["users"] == 2


def test_a_scrub_waits_for_the_lock(folder: Path) -> None:
    done: list[int] = []
    with scrub_lock(folder):
        worker = threading.Thread(target=lambda: done.append(scrub_bundle(folder, [MARKER])))
        worker.start()
        time.sleep(0.3)
        assert not done and worker.is_alive()
        with pytest.raises(LockedError):
            scrub_bundle(folder, [NON_ASCII], lock_timeout_s=0.1)
    worker.join(30)
    assert done == [1]


def test_refuses_what_is_not_a_complete_bundle(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no manifest"):
        scrub_bundle(tmp_path / "nothing-here", [MARKER])
    half = tmp_path / "half"
    shutil.copytree(folder, half)
    (half / "manifest.json").unlink()
    with pytest.raises(BundleError, match="no manifest"):
        scrub_bundle(half, [MARKER])
    writing = folder.parent / f".tmp-{folder.name}"
    shutil.copytree(folder, writing)
    with pytest.raises(BundleError, match="being written"):
        scrub_bundle(writing, [MARKER])
    with pytest.raises(InvalidInputError):
        scrub_bundle(folder, MARKER)  # one string is not a collection of ids
    # a file that cannot be read: nothing is rewritten
    (folder / "toplists.npz").write_bytes(b"not a zip")
    users = (folder / "users.json").read_bytes()
    with pytest.raises(BundleError, match="toplists"):
        scrub_bundle(folder, [MARKER])
    assert (folder / "users.json").read_bytes() == users


def test_scrub_bundles_covers_every_complete_version(folder: Path) -> None:
    artifacts = folder.parent
    second = artifacts / "v29990101T000000000000-00000000"
    shutil.copytree(folder, second)
    writing = artifacts / ".tmp-v29990102T000000000000-00000000"
    shutil.copytree(folder, writing)
    assert scrub_bundles(artifacts, [MARKER]) == {folder.name: 1, second.name: 1}
    assert _hits(artifacts, MARKER.encode()) == [f"{writing.name}/users.json"]  # not touched
    assert scrub_bundles(artifacts, [MARKER]) == {folder.name: 0, second.name: 0}
    assert scrub_bundles(artifacts / "missing", [MARKER]) == {}
    # a broken version does not stop the others from being scrubbed, but is not passed over
    (folder / "toplists.npz").write_bytes(b"not a zip")
    with pytest.raises(BundleError, match=folder.name):
        scrub_bundles(artifacts, [NON_ASCII])
    assert _hits(second, NON_ASCII.encode()) == []
    assert _hits(folder, NON_ASCII.encode()) == ["users.json"]


def test_a_reader_never_sees_a_torn_bundle(folder: Path) -> None:
    users = [u for u in _load(folder).users.ids() if u != MARKER]
    stop = threading.Event()
    loads: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        while not stop.is_set():
            try:
                bundle = _load(folder)
                loads.append(len(bundle.users))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for user in users:
            assert scrub_bundle(folder, [user]) == 1
    finally:
        stop.set()
        reader.join(30)
    assert not errors
    assert loads and set(loads) == {len(users) + 1}


# ------------------------------------------------------------------------------ kept files
WEIRD = 'we,ird "q"\nline/slash-ñ€😀'  # comma, quotes, newline, slash, non-ASCII
PLAIN = "m-7c1"
LATIN = "josé"
IDS = [WEIRD, PLAIN, LATIN]


def _csv_bytes(rows: list[list[str]], sep: str = ",", terminator: str = "\r\n") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator=terminator).writerows(rows)
    return buf.getvalue().encode("utf-8")


def _utf8_forms(user: str) -> list[bytes]:
    """How an id looks in UTF-8 files: plain, CSV-quoted, JSON-escaped (both ways)."""
    forms = {user, user.replace('"', '""'), json.dumps(user)[1:-1]}
    forms.add(json.dumps(user, ensure_ascii=False)[1:-1])
    return [f.encode("utf-8") for f in forms]


def _inbox(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """An inbox with kept files of every format; returns it and each file's expected bytes."""
    inbox = tmp_path / "inbox"
    done, rejected = inbox / "done", inbox / "rejected"
    (done / "sub").mkdir(parents=True)
    rejected.mkdir()
    expected: dict[str, bytes] = {}

    header = ["user_id", "item_id", "type", "ts"]
    kept = [
        ["u1", "i1", "view", "1700000000"],
        ["u2", 'desc "x", y\nmore', "view", "1700000001"],  # quotes and a newline, kept
        ["m-7c1x", "i2", "view", "1700000002"],  # like PLAIN but another user
        ["u3", WEIRD, "view", "1700000003"],  # the id in another column: not their row
    ]
    gone = [
        [WEIRD, "i3", "purchase", "1700000004"],
        [f"  {PLAIN}\t", "i4", "view", "1700000005"],  # the importer strips ids
    ]
    rows = [header, kept[0], gone[0], kept[1], gone[1], kept[2], kept[3]]
    (done / "events-1.csv").write_bytes(_csv_bytes(rows))
    expected["done/events-1.csv"] = _csv_bytes([header, *kept])

    # TSV, alias column " User " (any case), LF endings, last line without a newline
    tsv = [[" User ", "item", "event", "timestamp"], *kept, *gone]
    data = _csv_bytes(tsv, sep="\t", terminator="\n")
    (done / "events-2.tsv").write_bytes(data.rstrip(b"\n"))
    expected["done/events-2.tsv"] = _csv_bytes(tsv[:-2], sep="\t", terminator="\n")

    lines = [
        b'{"user_id": "u1", "item_id": "i1", "type": "view", "ts": 1}\n',
        json.dumps({"user_id": WEIRD, "item_id": "i1"}).encode() + b"\n",
        json.dumps({"User": WEIRD}, ensure_ascii=False).encode() + b"\r\n",
        b"\n",
        b'{"user_id": " m-7c1 ", "item_id": "i2"}\n',
        b"not json at all\n",
        json.dumps({"user_id": "u2", "note": WEIRD}).encode() + b"\n",
        b'["a", "list"]\n',
        b'{"user_id": "u9", "item_id": "i9"}',  # no newline at the end
    ]
    (rejected / "events-3.jsonl").write_bytes(b"".join(lines))
    expected["rejected/events-3.jsonl"] = b"".join(lines[i] for i in (0, 3, 5, 6, 7, 8))

    frame = pl.DataFrame(
        {
            "user_id": ["u1", WEIRD, "u2", PLAIN],
            "item_id": ["i1", "i2", "i3", "i4"],
            "ts": [1.0, 2.0, 3.0, 4.0],
        }
    )
    frame.write_parquet(done / "sub" / "events-4.parquet")

    reason = (
        "2 of 9 rows invalid\n  line 3: unknown type for 'm-7c1'\n"
        "  line 4: item 'i9' in the future\n"
    )
    (rejected / "events-3.jsonl.reason.txt").write_text(reason, encoding="utf-8")
    expected["rejected/events-3.jsonl.reason.txt"] = (
        b"2 of 9 rows invalid\n  line 4: item 'i9' in the future\n"
    )

    # left alone: no matching row, a catalog, garbage without the ids
    untouched = {
        "done/events-5.csv": _csv_bytes([header, kept[0]]),
        "done/catalog.csv": b"item_id,title\nm-7c1,A product named like a user\n",
        "rejected/events-8.csv": b"\xff\xfe\x00\x81 no id in here \x00\x9c",
        "rejected/empty.parquet": b"",
    }
    # left alone and reported: they may hold an id, but cannot be read
    reported = {
        "events-new.csv.part": _csv_bytes([header, gone[1]]),  # an upload in progress
        "rejected/events-6.parquet": b"PAR1 broken",  # unreadable: compressed, so any
        "rejected/events-7.csv": "user_id,item_id\njosé,i1\n".encode("latin-1"),
        "rejected/events-9.csv": b"\xff\xfe\x00garbage m-7c1 \x81\x00",
        "rejected/notes.xlsx": b"PK\x03\x04 m-7c1",
        "rejected/export.csv": b"customer,product\nm-7c1,i1\n",  # no user column
    }
    for name, content in {**untouched, **reported}.items():
        (inbox / name).write_bytes(content)
    expected.update(untouched)
    expected.update(reported)
    return inbox, expected


def test_scrub_files_removes_rows_of_every_format(tmp_path: Path) -> None:
    inbox, expected = _inbox(tmp_path)
    outside = tmp_path / "outside.csv"  # a link in rejected/ points here: never followed
    outside.write_bytes(b"user_id,item_id\nm-7c1,i1\n")
    (inbox / "rejected" / "linked.csv").symlink_to(outside)
    stats = {n: (inbox / n).stat() for n in expected if n.startswith(("done/events-5", "done/cat"))}

    result = scrub_files(inbox, IDS)

    assert result == ScrubFilesResult(
        files_checked=15,
        files_rewritten=5,
        rows_removed=2 + 2 + 3 + 2 + 1,  # csv, tsv, jsonl, parquet, reason line
        unreadable=[
            "events-new.csv.part",
            "rejected/events-6.parquet",
            "rejected/events-7.csv",
            "rejected/events-9.csv",
            "rejected/export.csv",
            "rejected/notes.xlsx",
        ],
    )
    for name, content in expected.items():
        assert (inbox / name).read_bytes() == content, name
    for name, st in stats.items():
        now = (inbox / name).stat()
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), name
    assert outside.read_bytes() == b"user_id,item_id\nm-7c1,i1\n"
    left = pl.read_parquet(inbox / "done" / "sub" / "events-4.parquet")
    assert left.to_dict(as_series=False) == {
        "user_id": ["u1", "u2"],
        "item_id": ["i1", "i3"],
        "ts": [1.0, 3.0],
    }
    # the ids are left only where another user's row names them, and in the reported files
    for name in ("done/events-1.csv", "done/events-2.tsv", "rejected/events-3.jsonl"):
        data = (inbox / name).read_bytes()
        assert data.count(b"m-7c1") == data.count(b"m-7c1x"), name
        assert sum(data.count(f) for f in _utf8_forms(WEIRD)) == 1, name  # u3's or u2's row
    assert not [p for p in inbox.rglob("*") if ".scrub-" in p.name]

    again = scrub_files(inbox, IDS)
    assert (again.files_rewritten, again.rows_removed) == (0, 0)
    assert again.unreadable == result.unreadable


def test_csv_rows_that_are_not_utf8_stay_byte_for_byte(tmp_path: Path) -> None:
    folder = tmp_path / "done"
    folder.mkdir()
    keep = b"user_id,item_id\r\nu1,caf\xe9\r\nu2,ok\n"
    (folder / "events.csv").write_bytes(keep + b"m-7c1,i1\r\nu3,\xff\xfe\r")
    result = scrub_files(folder, [PLAIN])
    assert (result.files_rewritten, result.rows_removed, result.unreadable) == (1, 1, [])
    assert (folder / "events.csv").read_bytes() == keep + b"u3,\xff\xfe\r"


def test_json_numbers_match_as_the_importer_reads_them(tmp_path: Path) -> None:
    folder = tmp_path / "done"
    folder.mkdir()
    lines = [
        b'{"user_id": 42, "item_id": "a"}\n',
        b'{"user_id": "42 ", "item_id": "b"}\n',
        b'{"user_id": 420, "item_id": "c"}\n',
        b'{"user_id": 42.0, "item_id": "d"}\n',  # the importer would read the id "42.0"
        b'{"USER_ID": "42", "item_id": "e"}\n',
    ]
    (folder / "events.ndjson").write_bytes(b"".join(lines))
    result = scrub_files(folder, ["42"])
    assert (result.files_rewritten, result.rows_removed) == (1, 3)
    assert (folder / "events.ndjson").read_bytes() == lines[2] + lines[3]


def test_scrub_files_edges(tmp_path: Path) -> None:
    assert scrub_files(tmp_path / "missing", IDS) == ScrubFilesResult()
    with pytest.raises(InvalidInputError):
        scrub_files(tmp_path, PLAIN)
    folder = tmp_path / "inbox"
    folder.mkdir()
    with scrub_lock(folder), pytest.raises(LockedError):
        scrub_files(folder, IDS, lock_timeout_s=0.1)


def test_ids_are_stripped_as_polars_strips_them() -> None:
    chars = [chr(c) for c in range(0x3001) if chr(c).isspace()] + ["\u200b", "\ufeff"]
    padded = pl.Series([f"{c}x{c}" for c in chars])
    expected = padded.str.strip_chars().to_list()
    assert [s.strip(ID_WHITESPACE) for s in padded.to_list()] == expected


def test_scrubbed_files_keep_their_permissions(tmp_path: Path) -> None:
    folder = tmp_path / "done"
    folder.mkdir()
    path = folder / "events.csv"
    path.write_bytes(b"user_id\nm-7c1\nu1\n")
    os.chmod(path, 0o644)
    scrub_files(folder, [PLAIN])
    assert path.read_bytes() == b"user_id\nu1\n"
    assert path.stat().st_mode & 0o777 == 0o644


def test_an_interrupted_scrub_is_completed_by_the_next(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = scrub_mod._replace_atomically
    calls: list[str] = []

    def crash_on_second(
        path: Path, write: Callable[[IO[bytes]], object], expect: object = None
    ) -> bool:
        calls.append(path.name)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(path, write)

    row = _load(folder).users.index(MARKER)
    monkeypatch.setattr(scrub_mod, "_replace_atomically", crash_on_second)
    with pytest.raises(OSError, match="disk full"):
        scrub_bundle(folder, [MARKER])
    assert calls == ["user_items.npz", "model.npz"]  # the data before the ids
    assert _load(folder).users.index(MARKER) == row  # still findable: a retry completes it
    monkeypatch.setattr(scrub_mod, "_replace_atomically", real)
    assert scrub_bundle(folder, [MARKER]) == 1
    after = _load(folder)
    assert after.users.id(row) == placeholder(row)
    assert after.user_items[row].nnz == 0
    assert not after.behavior._state()["user_factors"][row].any()
    assert _hits(folder, MARKER.encode()) == []


def test_a_file_that_changes_while_it_is_read_is_reported_not_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    path = folder / "events.csv"
    path.write_bytes(b"user_id\nm-7c1\nu1\n")
    real = scrub_mod._scrub_one

    def append_meanwhile(p: Path, ids: set[str], needles: scrub_mod._Needles) -> scrub_mod._Outcome:
        outcome = real(p, ids, needles)
        with p.open("ab") as fh:  # an uploader still writing
            fh.write(b"u2\n")
        return outcome

    monkeypatch.setattr(scrub_mod, "_scrub_one", append_meanwhile)
    result = scrub_files(folder, [PLAIN])
    assert (result.files_rewritten, result.unreadable) == (0, ["events.csv"])
    assert path.read_bytes() == b"user_id\nm-7c1\nu1\nu2\n"


def test_stale_temp_files_are_judged_by_the_host_that_wrote_them(tmp_path: Path) -> None:
    # several API hosts scrub one shared bundle folder: a pid says something on its host only
    import os
    import time

    from recsys.scrub import _HOST_TAG, _remove_stale_temps

    dead = 2**22 + 7  # above Linux's default pid_max: no such process here
    uid = "0" * 32
    names = {
        "mine_dead": f".users.json.scrub-{dead}@{_HOST_TAG}-{uid}.tmp",
        "mine_alive": f".users.json.scrub-{os.getpid()}@{_HOST_TAG}-{uid}.tmp",
        "legacy_dead": f".users.json.scrub-{dead}-{uid}.tmp",
        "other_host": f".users.json.scrub-{dead}@ffffffff-{uid}.tmp",
        "other_host_old": f".model.npz.scrub-{dead}@ffffffff-{uid}.tmp",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"x")
    long_ago = time.time() - 2 * 86_400
    os.utime(tmp_path / names["other_host_old"], (long_ago, long_ago))
    _remove_stale_temps(tmp_path)
    left = {k for k, name in names.items() if (tmp_path / name).exists()}
    assert left == {"mine_alive", "other_host"}
