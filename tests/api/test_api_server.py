"""The real server: ``recsys serve`` (gunicorn, 2 workers) on 127.0.0.1, called over HTTP.

Includes the hot-swap test: a new bundle is published while a client thread keeps calling, and
not one request may fail.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_testing import ADMIN_KEY, TRAIN_CONFIG, WRITE_KEY

from api.serve import open_store_first
from api.testing import RECSYS, ServerProcess, free_port
from recsys.bundle import publish, write_bundle
from recsys.config import TrainConfig
from recsys.home import Home
from recsys.store import SQLiteStore
from recsys.text import EmbeddingCache, TextEncoder
from recsys.training import build_bundle

__all__ = ["Server", "free_port"]  # the durability, fuzz and bulk-write tests start these too


class Server(ServerProcess):
    """``recsys serve`` (2 workers) over a test home, with the test keys and a fast swap poll."""

    def __init__(self, home: Home, port: int, log: Path) -> None:
        env = {
            "RECSYS_API_WRITE_KEYS": WRITE_KEY,
            "RECSYS_API_ADMIN_KEYS": ADMIN_KEY,
            "RECSYS_API_SWAP_POLL_S": "0.2",
            "RECSYS_API_CONFIG": None,  # a developer's config file stays out of the test
        }
        super().__init__(home.root, port, log, workers=2, env=env)


@pytest.fixture(scope="module")
def server_home(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Home:
    root = tmp_path_factory.mktemp("server") / "home"
    shutil.copytree(trained_template, root)
    return Home(root)


@pytest.fixture(scope="module")
def server(server_home: Home) -> Iterator[Server]:
    """One server for this module (the swap test, which publishes new bundles, runs last)."""
    srv = Server(server_home, free_port(), server_home.root.parent / "server.log")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def retrain(home: Home, encoder: TextEncoder, factors: int) -> str:
    """Write and publish a new bundle from the store (texts come from the embedding cache)."""
    with SQLiteStore(home.db_path) as store:
        events, catalog = store.events_frame(), store.catalog_frame()
    cache = EmbeddingCache(home.embedding_cache_path)
    try:
        config = TrainConfig.from_dict({**TRAIN_CONFIG, "behavior": {"factors": factors}})
        bundle, _ = build_bundle(events, catalog, config, encoder=encoder, cache=cache)
    finally:
        cache.close()
    version = write_bundle(home.artifacts, bundle)
    publish(home.artifacts, version)
    return version


def test_real_server_over_http(server: Server) -> None:
    status, body = server.request("GET", "/v1/users/run1/recommendations?n=2")
    assert status == 200 and body["items"][0]["item_id"] == "r1"
    status, body = server.request("GET", "/v1/items/nope/similar")
    assert status == 404 and body["error"]["code"] == "unknown_item"
    event = {"user_id": "run1", "item_id": "r1", "type": "purchase"}
    headers = {"Authorization": f"Bearer {WRITE_KEY}"}
    assert server.request("POST", "/v1/events", event, headers)[0] == 202
    # whichever worker answers, the purchase is excluded (both read the same store)
    for _ in range(6):
        status, body = server.request("GET", "/v1/users/run1/recommendations?n=5")
        assert status == 200 and "r1" not in [i["item_id"] for i in body["items"]]
    status, body = server.request("POST", "/v1/events", event)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, text = server.request("GET", "/metrics")
    assert status == 200
    line = 'recsys_http_requests_total{method="POST",route="/v1/events",status="202"} 1.0'
    assert line in text  # summed over both workers (multiprocess mode)
    assert "recsys_model_info" in text
    # the user requests and the stored event took the lean path under gunicorn too
    # (api.fastpath): 7 answers and 1 write (the unkeyed one went to Flask)
    assert "recsys_fast_path_answers_total 8.0" in text


def test_each_worker_listens_on_its_own_socket(server: Server) -> None:
    """SO_REUSEPORT: the kernel spreads connections; the master holds no listening socket."""
    import psutil

    master = psutil.Process(server.proc.pid)
    workers = master.children()
    assert len(workers) == 2

    def listening(process: psutil.Process) -> list[Any]:
        return [
            c
            for c in process.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == server.port
        ]

    assert listening(master) == []
    assert [len(listening(w)) for w in workers] == [1, 1]
    fds = {listening(w)[0].fd for w in workers}  # separate sockets, not one inherited socket
    inodes = {os.stat(f"/proc/{w.pid}/fd/{listening(w)[0].fd}").st_ino for w in workers}
    assert len(inodes) == 2, fds


def _serve_until_it_stops(home: Path, port: int) -> subprocess.CompletedProcess[str]:
    """``recsys serve`` over ``home`` on ``port``, expected to stop by itself (60 s at most)."""
    return subprocess.run(
        [str(RECSYS), "--home", str(home), "serve", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
    )


def test_serve_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve_until_it_stops(tmp_path, port)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr


def test_serve_stops_with_the_reason_when_its_store_cannot_be_opened(tmp_path: Path) -> None:
    # the master opens the store before any worker starts (api.serve.open_store_first): before,
    # every worker failed to boot with a traceback and gunicorn stopped
    Home(tmp_path).db_path.write_bytes(b"not a database, " * 512)
    done = _serve_until_it_stops(tmp_path, free_port())
    assert done.returncode == 1
    assert f"cannot open the store {Home(tmp_path).db_path}: file is not a database" in done.stderr
    assert "Booting worker" not in done.stdout + done.stderr


def test_the_master_upgrades_an_sqlite_store_before_the_workers_open_it(tmp_path: Path) -> None:
    # a store with an index this version drops (STALE_INDEXES; an older recsys made it): one open
    # upgrades it, so the workers' opens find nothing to do and never wait for each other
    SQLiteStore(Home(tmp_path).db_path).close()
    conn = sqlite3.connect(Home(tmp_path).db_path, isolation_level=None)
    conn.execute("CREATE INDEX events_user_ts ON events (user_id, ts)")
    conn.close()

    def indexes() -> set[str]:
        conn = sqlite3.connect(Home(tmp_path).db_path)
        try:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' "
                "AND sql IS NOT NULL"
            ).fetchall()
        finally:
            conn.close()
        return {r[0] for r in rows}

    assert indexes() == {"events_user_ts", "events_user_key"}
    open_store_first({"home": str(tmp_path)}, None)
    assert indexes() == {"events_user_key"}
    # a PostgreSQL store is left alone: never upgraded on open, and it may be down at start
    open_store_first({"home": str(tmp_path), "store": "postgresql://127.0.0.1:1/none"}, None)


@pytest.mark.slow  # a real server; the PUT starts the background embedding job
def test_new_item_reaches_every_worker(server: Server) -> None:
    headers = {"Authorization": f"Bearer {WRITE_KEY}"}
    # a new item added on one worker is served by every worker after its next poll
    item = {"item_id": "r9", "title": "Trail running shoes, waterproof", "category": "Running"}
    assert server.request("PUT", "/v1/items", {"items": [item]}, headers)[0] == 200
    deadline = time.monotonic() + 20
    streak = 0
    while streak < 8 and time.monotonic() < deadline:
        ok = server.request("GET", "/v1/items/r9/similar?mode=content")[0] == 200
        streak = streak + 1 if ok else 0
        time.sleep(0.05)
    assert streak == 8, server.log.read_text()[-3000:]


def test_hot_swap_under_load_has_zero_failures(
    server: Server, server_home: Home, encoder: TextEncoder
) -> None:
    old = server.request("GET", "/readyz")[1]["model_version"]
    failures: list[str] = []
    versions: list[str] = []
    # per client: each keeps one keep-alive connection, so one worker answers all its requests
    seen: list[list[str]] = [[] for _ in range(3)]
    stop = threading.Event()

    def client(mine: list[str]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        paths = ["/v1/users/run1/recommendations?n=3", "/v1/items/r2/similar?n=3"]
        k = 0
        while not stop.is_set():
            path = paths[k % 2]
            k += 1
            try:
                status, body = server.request("GET", path, conn=conn)
            except (OSError, http.client.HTTPException) as exc:
                failures.append(f"{path}: {exc!r}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
                continue
            if status != 200 or not body["items"]:
                failures.append(f"{path}: {status} {body}")
            else:
                versions.append(body["model_version"])
                mine.append(body["model_version"])
        conn.close()

    def swapped(version: str) -> bool:
        """Whether every client's worker answers from ``version`` (its last 10 answers)."""
        return all(len(m) >= 10 and m[-10:] == [version] * 10 for m in seen)

    threads = [threading.Thread(target=client, args=(mine,)) for mine in seen]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        new = retrain(server_home, encoder, factors=6)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not swapped(new):
            time.sleep(0.1)
        newest = retrain(server_home, encoder, factors=4)
        while time.monotonic() < deadline and not swapped(newest):
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert failures == []
    assert old in versions and new in versions and newest in versions
    # every worker a client talked to swapped, and none went back (a client's connection stays
    # on one worker, so answers after its swap are all the newest)
    assert all(m[-10:] == [newest] * 10 for m in seen), [m[-12:] for m in seen]
    assert len(versions) > 100
