"""Bulk writes must not stall or fail the API (issue 17, section 3).

* A busy store (another process holds SQLite's write lock, e.g. ``recsys import-events``) is a
  503 with ``Retry-After``, never a 500; reads never wait behind a writer.
* ``PUT /v1/items`` stores the items and answers at once with how many are pending; their texts
  are embedded off the request path, and the worker never loads the text model.

The Flask-client tests are fast; the real-server ones (``recsys serve``, gunicorn, 2 workers on
127.0.0.1, stopped at the end) are marked slow.
"""

from __future__ import annotations

import http.client
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from api_testing import WRITE_KEY, auth
from flask.testing import FlaskClient
from test_api_server import Server, free_port

from recsys import errors
from recsys.home import Home
from recsys.text import TextEncoder

RECSYS = Path(sys.executable).parent / "recsys"
BULK_ROWS = 500_000  # imported in one transaction, these held the write lock for 8-40 s
SHOP_ITEMS = ["r1", "r2", "r3", "r4", "r5", "k1", "k2", "k3", "k4", "k5"]


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["item_id"] for item in body["items"]]


# ------------------------------------------------------------------------ busy store -> 503
def _service(client: FlaskClient) -> Any:
    return client.application.extensions["recsys"].service


def test_a_busy_store_is_a_503_with_retry_after(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(*args: Any, **kwargs: Any) -> Any:
        raise errors.StoreBusyError("the store is busy (a bulk import); retry", retry_after_s=2.2)

    service = _service(client)
    monkeypatch.setattr(service, "add_events", busy)
    monkeypatch.setattr(service, "add_event_rows", busy)  # the lean path's write
    monkeypatch.setattr(service.store, "upsert_items", busy)
    event = {"user_id": "u1", "item_id": "k1", "type": "view"}
    item = {"item_id": "n1", "title": "Pasta pot"}
    for response in (
        client.post("/v1/events", json=event, headers=auth()),
        client.put("/v1/items", json={"items": [item]}, headers=auth()),
    ):
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.headers["Retry-After"] == "3"  # whole seconds, rounded up
        assert response.get_json()["error"]["code"] == "store_busy"
    assert client.get("/v1/users/run1/recommendations").status_code == 200


@pytest.mark.parametrize(
    "message", ["database is locked", "database is busy", "database table is locked"]
)
def test_a_raw_sqlite_lock_error_is_a_503_too(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, message: str
) -> None:
    def locked(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError(message)

    monkeypatch.setattr(_service(client), "add_events", locked)
    monkeypatch.setattr(_service(client), "add_event_rows", locked)  # the lean path's write
    event = {"user_id": "u1", "item_id": "k1", "type": "view"}
    response = client.post("/v1/events", json=event, headers=auth())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["error"]["code"] == "store_busy"


def test_other_sqlite_errors_stay_500s(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("no such table: events")

    monkeypatch.setattr(_service(client), "add_events", broken)
    monkeypatch.setattr(_service(client), "add_event_rows", broken)  # the lean path's write
    event = {"user_id": "u1", "item_id": "k1", "type": "view"}
    response = client.post("/v1/events", json=event, headers=auth())
    assert response.status_code == 500
    assert "Retry-After" not in response.headers
    assert "no such table" not in response.get_data(as_text=True)  # no internals in the body


def test_the_document_promises_503_with_retry_after_on_writes(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    for path, method in (("/v1/events", "post"), ("/v1/items", "put")):
        answer = spec["paths"][path][method]["responses"]["503"]
        assert "Retry-After" in answer["headers"]
    upserted = spec["components"]["schemas"]["CatalogUpserted"]
    assert "pending" in upserted["required"]


# --------------------------------------------------------- PUT /v1/items: embedded afterwards
def _model_live(client: FlaskClient) -> dict[str, int]:
    return client.get("/v1/model").get_json()["manifest"].get("live", {})  # type: ignore[no-any-return]


def test_put_answers_before_embedding_and_serves_facts_meanwhile(
    client: FlaskClient, encoder: TextEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    calls: list[int] = []
    real_encode = encoder.encode

    def slow_encode(texts: Sequence[str], show_progress: bool = False) -> npt.NDArray[np.float32]:
        calls.append(len(texts))
        release.wait(timeout=5)  # the embedding "takes" until the test releases it
        return real_encode(texts, show_progress)

    monkeypatch.setattr(encoder, "encode", slow_encode)
    new = {
        "item_id": "n1",
        "title": "Trail running shoes, waterproof",
        "description": "Running shoes for muddy trails.",
        "category": "Running",
        "price": 99.5,
    }
    scale = {  # k5: the same text as trained, back in stock: a fact, applied at once
        "item_id": "k5",
        "title": "Kitchen scale",
        "description": "Kitchen scale. A kitchen product.",
        "category": "Kitchen",
        "price": 10.0,
        "currency": "EUR",
        "in_stock": True,
    }
    try:
        t0 = time.perf_counter()
        response = client.put("/v1/items", json={"items": [new, scale]}, headers=auth())
        elapsed = time.perf_counter() - t0
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json() == {"upserted": 2, "new": 1, "embedded": 0, "pending": 1}
        assert elapsed < 3.0  # it did not wait for the embedding (blocked for 5 s)
        assert _model_live(client)["pending_embeddings"] == 1
        # served by its facts at once: known to every route, in-stock change applied
        similar = client.get("/v1/items/n1/similar?mode=content")
        assert similar.status_code == 200 and similar.get_json()["items"] == []
        anon = client.post("/v1/recommendations", json={"recent_item_ids": ["k1"], "n": 10})
        assert "k5" in _ids(anon.get_json())
    finally:
        release.set()
    deadline = time.monotonic() + 30
    while _model_live(client).get("pending_embeddings") != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _model_live(client) == {
        "updated_items": 1,
        "appended_items": 1,
        "pending_embeddings": 0,
    }
    assert calls == [1]  # one text embedded (k5's vector came from the cache), off the request
    similar = client.get("/v1/items/n1/similar?n=2&mode=content").get_json()
    assert set(_ids(similar)) <= {"r1", "r5"} and _ids(similar)
    near = client.get("/v1/items/r5/similar?n=2&mode=content").get_json()
    assert "n1" in _ids(near)  # the old items now find the new one by text too


# ------------------------------------------------------------------------------ real server
@dataclass
class Calls:
    """Every request a load client made: kind, start, latency, status, Retry-After."""

    rows: list[tuple[str, float, float, int, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, t0: float, seconds: float, status: int, retry: str | None) -> None:
        with self.lock:
            self.rows.append((kind, t0, seconds, status, retry))

    def of(self, kind: str) -> list[tuple[str, float, float, int, str | None]]:
        return [r for r in self.rows if r[0] == kind]


def _client_loop(
    port: int,
    kind: str,
    make: Callable[[int], tuple[str, str, bytes | None]],
    stop: threading.Event,
    calls: Calls,
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {WRITE_KEY}"}
    k = 0
    while not stop.is_set():
        method, path, body = make(k)
        k += 1
        t0 = time.monotonic()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status, retry = response.status, response.getheader("Retry-After")
        except (OSError, http.client.HTTPException):
            status, retry = -1, None
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        calls.add(kind, t0, time.monotonic() - t0, status, retry)
        time.sleep(0.005)  # a busy shop, not a CPU hog competing with the import
    conn.close()


def _bulk_events(path: Path, n: int) -> None:
    rng = np.random.default_rng(17)
    pl.DataFrame(
        {
            "user_id": [f"bulk{u}" for u in rng.integers(0, 50_000, n)],
            "item_id": np.asarray(SHOP_ITEMS)[rng.integers(0, len(SHOP_ITEMS), n)],
            "type": np.asarray(["view", "click", "add_to_cart", "purchase"])[rng.integers(0, 4, n)],
            "ts": 1_700_000_000.0 + np.arange(n, dtype=np.float64),
        }
    ).write_parquet(path)


class HomeServer(Server):
    """A :class:`Server` that remembers its data home."""

    def __init__(self, home: Home, port: int, log: Path) -> None:
        super().__init__(home, port, log)
        self.home = home


@pytest.fixture
def server_factory(
    trained_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., HomeServer]]:
    """Starts ``recsys serve`` over private copies of the trained shop home; stops them all."""
    started: list[HomeServer] = []

    def start(name: str, **env: str) -> HomeServer:
        root = tmp_path / name / "home"
        shutil.copytree(trained_template, root)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        server = HomeServer(Home(root), free_port(), tmp_path / name / "server.log")
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.mark.slow  # ~20-60 s: a 500,000-row import into the served store
def test_a_bulk_import_never_fails_the_api_and_reads_never_wait(
    server_factory: Callable[..., HomeServer], tmp_path: Path
) -> None:
    server = server_factory("import")
    events = tmp_path / "bulk-events.parquet"
    _bulk_events(events, BULK_ROWS)
    calls, stop = Calls(), threading.Event()
    users = ["run1", "run2", "cook1", "cook3", "stranger", *(f"bulk{u}" for u in range(40))]

    def read(k: int) -> tuple[str, str, bytes | None]:
        return "GET", f"/v1/users/{users[k % len(users)]}/recommendations?n=5", None

    def write(k: int) -> tuple[str, str, bytes | None]:
        event = {
            "user_id": f"live{k % 50}",
            "item_id": SHOP_ITEMS[k % len(SHOP_ITEMS)],
            "type": "click",
            "event_id": f"live-{k}",
        }
        return "POST", "/v1/events", json.dumps(event).encode()

    clients = [
        threading.Thread(target=_client_loop, args=(server.port, "read", read, stop, calls))
        for _ in range(3)
    ] + [
        threading.Thread(target=_client_loop, args=(server.port, "write", write, stop, calls))
        for _ in range(2)
    ]
    for t in clients:
        t.start()
    try:
        time.sleep(1.0)  # some requests before the import starts
        t0 = time.monotonic()
        done = subprocess.run(
            [str(RECSYS), "--home", str(server.home.root), "import-events", str(events)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        import_s = time.monotonic() - t0
        time.sleep(1.0)  # and some after
    finally:
        stop.set()
        for t in clients:
            t.join(timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{BULK_ROWS} stored" in done.stdout
    during = [r for r in calls.rows if t0 <= r[1] <= t0 + import_s]
    reads, writes = calls.of("read"), calls.of("write")
    summary = (
        f"import {import_s:.1f} s; {len(reads)} reads, {len(writes)} writes; statuses "
        f"{sorted({(r[0], r[3]) for r in calls.rows})}; max read "
        f"{max(r[2] for r in reads):.2f} s; log tail: {server.log.read_text()[-2000:]}"
    )
    assert len(during) >= 20, summary
    assert all(r[3] == 200 for r in reads), summary
    # a write is stored (202) or refused for a moment (503 + Retry-After): never a 500
    assert all(r[3] == 202 or (r[3] == 503 and r[4]) for r in writes), summary
    assert max(r[2] for r in reads) < 5.0, summary  # generous: the benchmark has real numbers
    print(summary.split("; log tail")[0])


def _description(rng: random.Random, theme: str, chars: int = 1900) -> str:
    """About ``chars`` characters of words drawn from ``theme`` (items of a theme read alike)."""
    pool, words = theme.split(), []
    while sum(len(w) + 1 for w in words) < chars:
        words.append(rng.choice(pool))
    return " ".join(words)[:chars]


RUNNING = (
    "trail running shoe with a cushioned midsole, grippy lugs for mud and a breathable mesh "
    "upper; built for marathon training, long runs and race day; waterproof membrane, "
    "reflective details, light foam"
)
KITCHEN = (
    "chef knife of forged steel with a full tang, sharp edge for slicing vegetables, meat and "
    "herbs; balanced handle, cutting board friendly, dishwasher safe, kitchen essential"
)


def _worker_rss_mb(server: Server) -> dict[int, float]:
    import psutil

    workers = psutil.Process(server.proc.pid).children()
    return {w.pid: w.memory_info().rss / 2**20 for w in workers}


@pytest.mark.slow  # ~1-3 min: 1,000 texts embedded in the background on 2 cores
def test_put_of_1000_items_answers_at_once_and_workers_never_load_the_model(
    server_factory: Callable[..., HomeServer],
) -> None:
    import psutil

    server = server_factory("put", RECSYS_API_MAX_BODY_BYTES="4000000")
    headers = {"Authorization": f"Bearer {WRITE_KEY}"}
    rng = random.Random(3)
    items = [
        {
            "item_id": f"bulk-{i}",
            "title": ("Trail runner " if i % 2 == 0 else "Chef knife ") + str(i),
            "description": _description(rng, RUNNING if i % 2 == 0 else KITCHEN),
            "category": "Running" if i % 2 == 0 else "Kitchen",
            "price": 50.0 + i % 7,
            "currency": "EUR",
        }
        for i in range(1000)
    ]
    before = _worker_rss_mb(server)
    peak = dict(before)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    t0 = time.monotonic()
    conn.request(
        "PUT",
        "/v1/items",
        body=json.dumps({"items": items}).encode(),
        headers={"Content-Type": "application/json", **headers},
    )
    response = conn.getresponse()
    body = json.loads(response.read())
    answer_s = time.monotonic() - t0
    conn.close()
    assert response.status == 200, body
    assert body == {"upserted": 1000, "new": 1000, "embedded": 0, "pending": 1000}
    assert answer_s < 10.0  # it took 69 s when the worker embedded the texts itself

    deadline = time.monotonic() + 900
    streak = 0
    while streak < 6 and time.monotonic() < deadline:  # both workers: every vector picked up
        status, model = server.request("GET", "/v1/model")
        live = model["manifest"].get("live", {}) if status == 200 else {}
        streak = streak + 1 if live.get("pending_embeddings") == 0 else 0
        for pid, mb in _worker_rss_mb(server).items():
            peak[pid] = max(peak.get(pid, 0.0), mb)
        time.sleep(0.5)
    assert streak == 6, f"still pending: {live}; log: {server.log.read_text()[-3000:]}"
    for _ in range(6):
        status, similar = server.request("GET", "/v1/items/bulk-0/similar?n=5&mode=content")
        assert status == 200 and len(similar["items"]) == 5
        assert {i["category"] for i in similar["items"]} == {"Running"}  # by text

    # the embedding job was a short-lived child: it exits, and no worker grew by a model
    children = [c for w in psutil.Process(server.proc.pid).children() for c in w.children()]
    psutil.wait_procs(children, timeout=60)
    after = _worker_rss_mb(server)
    growth = {pid: round(peak[pid] - mb, 1) for pid, mb in before.items()}
    assert all(g < 250 for g in growth.values()), (before, peak, after)
    assert all(after[pid] - mb < 150 for pid, mb in before.items()), (before, after)
    assert not [c for c in children if c.is_running()]
