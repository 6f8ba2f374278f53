"""HTTP API latency and throughput under concurrent load, each scenario paired with a bare twin.

Starts the real server (``recsys serve``: gunicorn, gthread workers) on 127.0.0.1 and, with the
same gunicorn settings, the bare Flask app of :func:`api.testing.bare_app`, whose routes answer
with bodies of the API's shapes (20 items, JSON serialized per request) and do no other work: the
framework's ceiling on this machine. Every scenario runs against our server and against its bare
twin (the same number of requests of the same kind), the two alternating ``--repeat`` times; the
report gives per scenario and client the median of the pairs' throughput ratios, the median
p50/p99 of each side and the ratio of the median p99s.

Scenarios (``--scenarios``, comma-separated; default: the first five):

* ``user_recs``: ``GET /v1/users/<random trained user>/recommendations?n=20`` (no pitch) on the
  store as trained: nobody has an event since training, so every answer comes from the user's
  precomputed list. Twin: ``GET /bare?user=<id>&n=20``.
* ``user_recs_live``: the same requests after ONE view event (``ts`` = now, of an item the user
  does not have) was added to the store for every user the scenario requests, so every answer is
  ranked live, as for a shopper who is browsing. Same twin.
* ``similar``: ``GET /v1/items/<random item>/similar?n=20``. Twin:
  ``GET /bare/items/<id>/similar?n=20``.
* ``events``: ``POST /v1/events`` with batches of 100 random events (durable before the 202).
  Twin: ``POST /bare/events`` with the same bodies (parsed, answered 202, not stored).
* ``replay``: a storefront. ``--concurrency`` shoppers (closed loop, no think time), each its own
  user, each page = POST one view event of a random item, then GET the user's recommendations
  (n=20), then GET the items similar to the viewed one (n=20). Reports pages/s (one page = the
  three requests) and each step's latency. The twin sends the same three requests to the bare
  routes.
* extras, run only when named: ``user_recs_flask`` (``user_recs`` on a server started with
  ``RECSYS_API_FAST_PATH=false``: Flask's dispatch instead of the route's lean path) and
  ``user_recs_nolists`` (``RECSYS_API_PRECOMPUTED=false``: ranked live although nobody has an
  event since training).

For every user scenario the ranking counts are read back from ``/metrics`` (answers
``precomputed`` / ``live``, and how many the lean path sent).

Clients (``--client``): ``python``, the asyncio load generator of this file in a process of its
own (protocol callbacks, keep-alive HTTP/1.1, ``--concurrency`` connections, closed loop; every
scenario), and ``wrk`` (``wrk -t1 -c<concurrency> -d<duration>s --latency`` with
``benchmarks/wrk/paths.lua`` rotating over a file of paths this script writes; the GET scenarios
only; skipped with a message when ``wrk`` is not on PATH: ``make bench-tools`` installs it).

Per round (``--repeat`` rounds) one bare server serves every twin; our server is started afresh
for each scenario. The store is snapshotted with SQLite's backup API before a dataset and restored
after every scenario that writes to it (``user_recs_live``, ``events``, ``replay``) and at the end.

Datasets: ``ml-100k`` (a home built with ``recsys load-demo`` + ``recsys train``) and
``synthetic``: 100k items x 50k users written directly through the bundle writer from random
vectors (64-d ALS factors, 384-d unit text vectors, 20 interactions per user, also stored as
events so that user requests read a real history), with the default index config (HNSW above
50k items). Building it takes a few minutes once; it is reused afterwards.

Usage (timing runs hold the shared benchmark lock)::

    make bench-tools                                   # wrk (apt), once
    RECSYS_HOME=var/api-bench .venv/bin/recsys load-demo --dataset ml-100k
    RECSYS_HOME=var/api-bench .venv/bin/recsys train
    .venv/bin/python benchmarks/api_latency.py --build-synthetic
    flock /tmp/recsys-bench.lock .venv/bin/python benchmarks/api_latency.py --dataset both

Writes ``benchmarks/results/api_latency.json`` and ``.md`` (``--out``), including the issue's
target checks, each computed as met or not met.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ML_HOME = ROOT / "var" / "api-bench"
SYNTH_HOME = ROOT / "var" / "api-bench-synth"
LOGS = ROOT / "var" / "api-bench-logs"
WRK_SCRIPT = ROOT / "benchmarks" / "wrk" / "paths.lua"
KEY = "bench-write-key"
SEED = 7
SCHEMA = 2  # the result file's layout; a file of another layout is not merged into
N_REQUESTS = 20_000  # requests built per scenario (the clients cycle through them)
BATCH = 100  # events per POST in the events scenario
N_ITEMS = 20  # n of every recommendation request

# run order within a round; DEFAULT_SCENARIOS run unless --scenarios names others
SCENARIOS = (
    "user_recs",
    "user_recs_flask",
    "user_recs_nolists",
    "similar",
    "user_recs_live",
    "events",
    "replay",
)
DEFAULT_SCENARIOS = ("user_recs", "user_recs_live", "similar", "events", "replay")
USER_SCENARIOS = ("user_recs", "user_recs_live", "user_recs_flask", "user_recs_nolists")
GET_SCENARIOS = (*USER_SCENARIOS, "similar")  # the ones wrk drives too
WRITES = ("user_recs_live", "events", "replay")  # the store is restored after these
SERVER_SETTINGS = {  # environment of our server per scenario, beyond start_server's
    "user_recs_flask": {"RECSYS_API_FAST_PATH": "false"},
    "user_recs_nolists": {"RECSYS_API_PRECOMPUTED": "false"},
}
REPLAY_STEPS = ("event", "recs", "similar")  # one storefront page, in order
CLIENTS = ("python", "wrk")

# The server harness (api.testing: free port, start, wait, stop) is imported where a server
# starts, not at the top: the load generator runs this file in a process of its own whose CPU
# per request is measured (api_spread.py loadgen), and `import api` costs about a second of CPU.
HARNESS = ("free_port", "stop_server", "wait_ready")  # also importable from here


def __getattr__(name: str) -> Any:
    if name in HARNESS:
        from api import testing

        return getattr(testing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------- synthetic bundle
def build_synthetic(home_root: Path, n_items: int, n_users: int, per_user: int) -> str:
    """Write and publish a synthetic bundle (random vectors) and store its events."""
    import polars as pl
    import scipy.sparse as sp

    from recsys.bundle import Bundle, ItemTable, publish, write_bundle
    from recsys.config import TrainConfig
    from recsys.home import Home
    from recsys.index import VectorIndex
    from recsys.models.base import BehaviorModel
    from recsys.store import Store
    from recsys.training import precompute_lists, precompute_similar
    from recsys.vocab import IdVocabulary

    rng = np.random.default_rng(SEED)
    home = Home(home_root).ensure()
    config = TrainConfig.from_dict({"behavior": {"factors": 64}})
    t0 = time.perf_counter()
    # interactions: popularity-skewed items (Zipf-like), per_user distinct items per user
    weights = 1.0 / np.arange(1, n_items + 1) ** 0.8
    weights /= weights.sum()
    c = rng.choice(n_items, size=n_users * per_user, p=weights)
    r = np.repeat(np.arange(n_users), per_user)
    conf = np.full(r.size, 1.0, dtype=np.float32)
    user_items = sp.csr_matrix((conf, (r, c)), shape=(n_users, n_items), dtype=np.float32)
    user_items.sum_duplicates()  # a user drawing one item twice gets confidence 2
    known = np.asarray(user_items.getnnz(axis=0) > 0)
    user_f = (rng.standard_normal((n_users, 64)) * 0.1).astype(np.float32)
    item_f = (rng.standard_normal((n_items, 64)) * 0.1).astype(np.float32)
    model_dir = home.cache / "synthetic-model"
    model_dir.mkdir(parents=True, exist_ok=True)
    np.savez(model_dir / "model.npz", known=known, user_factors=user_f, item_factors=item_f)
    meta = {"name": "als", "config": config.behavior.__dict__}
    (model_dir / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    behavior = BehaviorModel.load(model_dir)
    print(f"matrix + factors {time.perf_counter() - t0:.1f}s", flush=True)

    text = rng.standard_normal((n_items, 384)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    t1 = time.perf_counter()
    known_idx = np.flatnonzero(known)
    behavior_index = VectorIndex(config.index).build(item_f[known_idx], known_idx)
    print(f"behavior index ({behavior_index.kind}) {time.perf_counter() - t1:.1f}s", flush=True)
    t1 = time.perf_counter()
    text_index = VectorIndex(config.index).build(text)
    print(f"text index ({text_index.kind}) {time.perf_counter() - t1:.1f}s", flush=True)

    item_ids = [f"i{k}" for k in range(n_items)]
    user_ids = [f"u{k}" for k in range(n_users)]
    categories = [f"cat{k % 50}" for k in range(n_items)]
    frame = pl.DataFrame(
        {
            "item_id": item_ids,
            "title": [f"Product {k}" for k in range(n_items)],
            "description": [""] * n_items,
            "category": categories,
            "price": rng.uniform(1, 200, n_items).round(2),
            "currency": ["EUR"] * n_items,
            "in_stock": rng.random(n_items) > 0.05,
            "attributes": ["{}"] * n_items,
        }
    )
    bundle = Bundle(
        version="unsaved",
        path=None,  # type: ignore[arg-type]
        manifest={
            "synthetic": {"items": n_items, "users": n_users, "per_user": per_user, "seed": SEED}
        },
        config=config,
        users=IdVocabulary(user_ids),
        items=IdVocabulary(item_ids),
        user_items=user_items,
        popularity=np.log1p(user_items.getnnz(axis=0)).astype(np.float32),
        behavior=behavior,
        behavior_index=behavior_index,
        text_vectors=text,
        text_mask=np.ones(n_items, dtype=bool),
        text_index=text_index,
        item_table=ItemTable.from_frame(frame),
    )
    coo = user_items.tocoo()
    ts = 1_700_000_000.0 + rng.uniform(0, 86_400 * 90, coo.nnz)
    events = pl.DataFrame(
        {
            "user_id": [user_ids[u] for u in coo.row],
            "item_id": [item_ids[i] for i in coo.col],
            "type": rng.choice(
                ["view", "click", "add_to_cart", "purchase"], coo.nnz, p=[0.6, 0.25, 0.1, 0.05]
            ),
            "ts": ts,
            "session_id": [""] * coo.nnz,
        }
    )
    with Store(home.db_path) as store:
        store.add_events(events)  # a rebuild with the same seed stores nothing new
        watermark = store.last_seq()
        stored = store.events_frame(until_seq=watermark)
    t1 = time.perf_counter()
    bundle.precomputed = precompute_lists(bundle, stored, watermark, show_progress=True)
    bundle.similar = precompute_similar(bundle, show_progress=True)
    print(f"precomputed lists {time.perf_counter() - t1:.1f}s", flush=True)
    version = write_bundle(home.artifacts, bundle)
    publish(home.artifacts, version)
    print(f"synthetic bundle {version}: {time.perf_counter() - t0:.1f}s total", flush=True)
    return version


# ------------------------------------------------------------------------------- servers
def start_server(
    kind: str,
    home: Path | None,
    port: int,
    workers: int,
    threads: int,
    log: Path,
    settings: dict[str, str] | None = None,
    reuse_port: bool = True,
) -> subprocess.Popen[bytes]:
    """``recsys serve`` over ``home`` (or, for ``kind="bare"``, the bare app) on 127.0.0.1."""
    from api.testing import bare_command, serve_command, start_process

    env = {
        "RECSYS_API_WRITE_KEYS": KEY,
        "RECSYS_API_SWAP_POLL_S": "2",
        "RECSYS_API_PRECOMPUTED": "true",
        "RECSYS_API_FAST_PATH": "true",
        **(settings or {}),
    }
    if kind == "bare":
        cmd = bare_command(port, workers=workers, threads=threads, reuse_port=reuse_port)
    elif home is None:
        raise ValueError(f"a {kind!r} server needs a home")
    else:
        cmd = serve_command(home, port, workers=workers, threads=threads, reuse_port=reuse_port)
    return start_process(cmd, log, env)


# -------------------------------------------------------------------------- load generator
Request = tuple[str, bytes]  # (step label, the raw HTTP/1.1 request)


@dataclass(frozen=True)
class LoadPlan:
    """What each simulated client sends: its own list of requests, cycled from an offset.

    A page is ``len(steps)`` consecutive requests (``("request",)`` for the one-request
    scenarios; the storefront replay's event, recommendations and similar items); a client
    stops only between pages, and a page's latency runs from its first request's send to its
    last answer.

    Attributes:
        steps: the labels of one page's requests, in order.
        requests: per client, the requests it cycles through (clients may share one list); each
            list's length is a multiple of ``len(steps)`` and its labels follow ``steps``.
        offsets: per client, the index of its first request (a multiple of ``len(steps)``).
    """

    steps: tuple[str, ...]
    requests: list[list[Request]]
    offsets: list[int]


class _Client(asyncio.Protocol):
    """One keep-alive connection in a closed loop: send a request, wait for the whole answer.

    A protocol rather than stream reads: its callbacks run no coroutine per request, so the load
    generator takes less of the CPUs it shares with the server (measured: ~100 us of CPU per
    request instead of ~147 us with ``StreamReader.readline`` per header line). It cycles through
    its plan's requests page by page and records each answer's latency under its step's label.
    """

    def __init__(self, run: _Run, index: int, offset: int, page_t0: float = 0.0) -> None:
        self.run = run
        self.index = index
        self.requests = run.plan.requests[index]
        self.k = offset
        self.buffer = b""
        self.t0 = 0.0
        self.page_t0 = page_t0  # when the current page's first request was sent
        self.label = ""
        self.waiting = False  # a request was sent and its answer is not complete
        self.transport: asyncio.Transport | None = None
        self.closed = run.loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.send()

    def send(self) -> None:
        run = self.run
        now = time.perf_counter()
        assert self.transport is not None
        if self.k % run.page_len == 0:  # a new page: stop here once the time is up
            if now >= run.deadline:
                self.transport.close()
                return
            self.page_t0 = now
        self.buffer = b""
        self.waiting = True
        self.label, raw = self.requests[self.k % len(self.requests)]
        if UNIQUE in raw:  # an event batch: new ids for every request (same length)
            raw = raw.replace(UNIQUE, f"{self.index:03x}{self.k:07x}".encode())
        self.t0 = now
        self.transport.write(raw)
        self.k += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        length, close = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and b"close" in value:
                close = True
        if len(self.buffer) < end + 4 + length:
            return  # the body is still arriving
        now = time.perf_counter()
        self.waiting = False
        run = self.run
        run.record(self.label, self.t0, now - self.t0, int(head.split()[1]))
        if self.k % run.page_len == 0:
            run.page(self.page_t0, now - self.page_t0)
        if close:
            assert self.transport is not None
            self.transport.close()
            run.reconnect(self.index, self.k, self.page_t0)
        else:
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiting:  # the server dropped the connection before answering
            self.waiting = False
            self.run.failed(self.t0, type(exc).__name__ if exc else "ConnectionClosed")
            if time.perf_counter() < self.run.deadline:
                self.run.reconnect(self.index, self.k, self.page_t0)
        if not self.closed.done():
            self.closed.set_result(None)


class _Run:
    """Shared state of one load run: the plan, the clock, the results."""

    def __init__(self, port: int, plan: LoadPlan, measure_from: float, deadline: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.port, self.plan, self.page_len = port, plan, len(plan.steps)
        self.measure_from, self.deadline = measure_from, deadline
        self.lat: dict[str, list[float]] = {label: [] for label in plan.steps}
        self.pages: list[float] = []
        self.errors: list[str] = []
        self.clients: list[_Client] = []

    def record(self, label: str, t0: float, dt: float, status: int) -> None:
        if t0 >= self.measure_from:
            self.lat[label].append(dt)
            if status >= 300:
                self.errors.append(str(status))

    def page(self, t0: float, dt: float) -> None:
        if t0 >= self.measure_from:
            self.pages.append(dt)

    def failed(self, t0: float, kind: str) -> None:
        if t0 >= self.measure_from:
            self.errors.append(kind)

    def reconnect(self, index: int, offset: int, page_t0: float) -> None:
        # a closed connection: the client goes on with its next request (mid-page too, and the
        # page's latency includes the reconnection), as a browser's connection pool would
        self.loop.create_task(self.connect(index, offset, page_t0))

    async def connect(self, index: int, offset: int, page_t0: float = 0.0) -> None:
        _, client = await self.loop.create_connection(
            lambda: _Client(self, index, offset, page_t0), "127.0.0.1", self.port
        )
        self.clients.append(client)


def latency_stats(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50, p95, p99 and max of latencies given in seconds, in milliseconds (None if empty)."""
    ms = np.asarray(seconds, dtype=float) * 1000.0
    if not ms.size:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def run_load(port: int, plan: LoadPlan, warmup: float, duration: float) -> dict[str, Any]:
    """Closed-loop load for warmup + duration seconds; latencies of the measured part.

    Args:
        port: the server's port on 127.0.0.1.
        plan: one client (connection) per entry of ``plan.requests``.
        warmup: seconds run before measuring.
        duration: seconds measured (requests sent from then on, until the end, are counted).

    Returns:
        ``requests``, ``errors`` (non-2xx answers and dropped connections), ``error_kinds``,
        ``rps`` and latency percentiles (``p50_ms`` ...). With pages of several steps also
        ``pages``, ``pages_per_s`` and ``steps`` (each step's count and percentiles); the
        top-level percentiles are then those of whole pages.
    """
    result: dict[str, Any] = {}

    async def main() -> None:
        start = time.perf_counter()
        run = _Run(port, plan, start + warmup, start + warmup + duration)
        await asyncio.gather(*(run.connect(i, offset) for i, offset in enumerate(plan.offsets)))
        await asyncio.sleep(warmup + duration)
        give_up = time.perf_counter() + 30
        while not all(c.closed.done() for c in run.clients):  # let the last answers arrive
            if time.perf_counter() > give_up:
                for client in run.clients:
                    if client.transport is not None:
                        client.transport.abort()
                raise RuntimeError("the server did not answer within 30 s of the end")
            await asyncio.sleep(0.05)
        result["run"] = run

    asyncio.run(main())
    run: _Run = result["run"]
    every = [dt for label in plan.steps for dt in run.lat[label]]
    out: dict[str, Any] = {
        "requests": len(every),
        "errors": len(run.errors),
        "error_kinds": sorted(set(run.errors))[:5],
        "rps": round(len(every) / duration, 1),
    }
    if len(plan.steps) == 1:
        return out | latency_stats(every)
    steps = {}
    for label in plan.steps:
        steps[label] = {"requests": len(run.lat[label]), **latency_stats(run.lat[label])}
    return out | {
        "pages": len(run.pages),
        "pages_per_s": round(len(run.pages) / duration, 1),
        **latency_stats(run.pages),
        "steps": steps,
    }


def http_request(method: str, path: str, body: bytes = b"", auth: bool = False) -> bytes:
    """The bytes of one keep-alive HTTP/1.1 request (``api.testing.raw_request``, unimported)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    if body:
        head += "Content-Type: application/json\r\n"
    if auth:
        head += f"Authorization: Bearer {KEY}\r\n"
    return (head + "\r\n").encode() + body


def user_path(user: str, target: str) -> str:
    """A user recommendation request's path on ``target`` (``ours`` or ``bare``)."""
    if target == "bare":
        return f"/bare?user={quote(user, safe='')}&n={N_ITEMS}"
    return f"/v1/users/{quote(user, safe='')}/recommendations?n={N_ITEMS}"


def similar_path(item: str, target: str) -> str:
    """A similar-items request's path on ``target`` (``ours`` or ``bare``)."""
    prefix = "/bare" if target == "bare" else "/v1"
    return f"{prefix}/items/{quote(item, safe='')}/similar?n={N_ITEMS}"


def events_path(target: str) -> str:
    """The event batch route on ``target`` (``ours`` or ``bare``)."""
    return "/bare/events" if target == "bare" else "/v1/events"


def requested_users(users: Sequence[str], n: int = N_REQUESTS) -> list[str]:
    """The users a user scenario requests, in order (seeded; the same for every target)."""
    return [str(u) for u in np.random.default_rng(SEED).choice(users, n)]


def get_paths(
    scenario: str, target: str, users: Sequence[str], items: Sequence[str], n: int = N_REQUESTS
) -> list[str]:
    """The request paths of a GET scenario on ``target``, in the order the clients send them.

    Both clients (the Python generator and wrk) and both targets use the same ids in the same
    order, so a pair differs only in the server.
    """
    if scenario in USER_SCENARIOS:
        return [user_path(u, target) for u in requested_users(users, n)]
    if scenario == "similar":
        chosen = np.random.default_rng(SEED).choice(items, n)
        return [similar_path(str(i), target) for i in chosen]
    raise ValueError(f"{scenario!r} is not a GET scenario")


# Placeholder in event ids that the load generator replaces, per request sent, by the client's
# number and its request count: every batch it sends is new. Without it the clients, which cycle
# through a shared list of bodies from staggered offsets, re-send batches another client already
# sent once the rate is high enough (at ~400 batches/s after ~5 s), and the run measures
# idempotent retries (nothing stored) instead of writes.
UNIQUE = b"@@@@@@@@@@"


def event_bodies(users: Sequence[str], items: Sequence[str], batches: int) -> list[bytes]:
    """``batches`` JSON bodies of ``BATCH`` random events each, every event with its own id.

    The ids hold :data:`UNIQUE`, which the load generator makes unique per request sent.
    """
    rng = np.random.default_rng(SEED)
    types = ["view", "click", "add_to_cart", "purchase"]
    out = []
    for b in range(batches):
        drawn = zip(
            rng.choice(users, BATCH),
            rng.choice(items, BATCH),
            rng.choice(types, BATCH),
            strict=True,
        )
        events = [
            {
                "user_id": str(u),
                "item_id": str(i),
                "type": str(t),
                "event_id": f"b{b}-{k}-{UNIQUE.decode()}",
            }
            for k, (u, i, t) in enumerate(drawn)
        ]
        out.append(json.dumps({"events": events}).encode())
    return out


def replay_plan(
    target: str, users: Sequence[str], items: Sequence[str], n: int, concurrency: int
) -> LoadPlan:
    """The storefront replay: one shopper (user) per client, pages of event, recs, similar.

    Each client cycles through its own ``n // concurrency`` pages, each viewing a random item:
    POST the view event (no ``ts``: the server stamps it; no ``event_id``: every view is a new
    event), GET the shopper's recommendations, GET the items similar to the viewed one.
    """
    rng = np.random.default_rng(SEED + 1)
    shoppers = rng.choice(users, concurrency, replace=len(users) < concurrency)
    pages = max(1, n // concurrency)
    requests: list[list[Request]] = []
    for user in (str(u) for u in shoppers):
        own: list[Request] = []
        for item in (str(i) for i in rng.choice(items, pages)):
            body = json.dumps({"events": [{"user_id": user, "item_id": item, "type": "view"}]})
            own += [
                ("event", http_request("POST", events_path(target), body.encode(), auth=True)),
                ("recs", http_request("GET", user_path(user, target))),
                ("similar", http_request("GET", similar_path(item, target))),
            ]
        requests.append(own)
    return LoadPlan(REPLAY_STEPS, requests, [0] * concurrency)


def scenario_plan(
    scenario: str,
    target: str,
    users: Sequence[str],
    items: Sequence[str],
    n: int,
    concurrency: int,
) -> LoadPlan:
    """The requests of ``scenario`` on ``target`` (``ours``/``bare``), one list per client.

    ``scenario="bare"`` (``api_spread.py``'s name) is the bare twin of ``user_recs``. The
    one-request scenarios share one list of ``n`` requests, each client starting at its own
    offset; the replay gives each client its own list.
    """
    if scenario == "bare":
        scenario, target = "user_recs", "bare"
    if scenario == "replay":
        return replay_plan(target, users, items, n, concurrency)
    if scenario == "events":
        path = events_path(target)
        bodies = event_bodies(users, items, max(1, n // 10))
        shared = [("request", http_request("POST", path, body, auth=True)) for body in bodies]
    else:
        shared = [
            ("request", http_request("GET", p))
            for p in get_paths(scenario, target, users, items, n)
        ]
    step = max(1, len(shared) // concurrency)
    return LoadPlan(("request",), [shared] * concurrency, [i * step for i in range(concurrency)])


def load_process(args: argparse.Namespace) -> None:
    """Entry point of the load-generator process: prints one JSON line."""
    spec = json.loads(Path(args.load).read_text())
    plan = scenario_plan(
        spec["scenario"],
        spec.get("target", "ours"),
        spec["users"],
        spec["items"],
        spec["n"],
        spec["concurrency"],
    )
    result = run_load(spec["port"], plan, spec["warmup"], spec["duration"])
    print(json.dumps(result), flush=True)


def drive(
    scenario: str,
    target: str,
    port: int,
    users: list[str],
    items: list[str],
    args: argparse.Namespace,
    tmp: Path,
) -> dict[str, Any]:
    """One run of the Python load generator (a process of its own) against ``port``."""
    spec = {
        "scenario": scenario,
        "target": target,
        "port": port,
        "users": users,
        "items": items,
        "n": N_REQUESTS,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "duration": args.duration,
    }
    spec_path = tmp / f"load-{scenario}-{target}.json"
    spec_path.write_text(json.dumps(spec))
    out = subprocess.run(
        [sys.executable, __file__, "--load", str(spec_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------------- wrk
WRK_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}


def wrk_ms(text: str) -> float:
    """A wrk duration (``812.00us``, ``4.10ms``, ``1.02s``, ``1.00m``) in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * WRK_UNITS_MS[match[2]]


def parse_wrk(output: str) -> dict[str, Any]:
    """Throughput, latency percentiles and errors from the output of ``wrk --latency``.

    Args:
        output: wrk's standard output.

    Returns:
        ``requests``, ``elapsed_s``, ``rps``, ``p50_ms``/``p75_ms``/``p90_ms``/``p99_ms`` (from
        the latency distribution), ``max_ms``, and ``errors`` (non-2xx/3xx answers plus socket
        errors) with ``error_kinds``.

    Raises:
        ValueError: the output lacks the summary or the latency distribution.
    """
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in (\S+?),", output, re.M)
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)(?:\.0+)?%\s+(\S+)\s*$", output, re.M))
    if rate is None or total is None or set(percentiles) != {"50", "75", "90", "99"}:
        raise ValueError(f"not the output of wrk --latency:\n{output}")
    latency = re.search(r"^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)", output, re.M)
    out: dict[str, Any] = {
        "requests": int(total[1]),
        "elapsed_s": round(wrk_ms(total[2]) / 1000.0, 2),
        "rps": round(float(rate[1]), 1),
    }
    for p in ("50", "75", "90", "99"):
        out[f"p{p}_ms"] = round(wrk_ms(percentiles[p]), 2)
    out["max_ms"] = round(wrk_ms(latency[3]), 2) if latency else None
    kinds: dict[str, int] = {}
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        kinds["non-2xx"] = int(non_2xx[1])
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sockets:
        for name, value in zip(
            ("connect", "read", "write", "timeout"), sockets.groups(), strict=True
        ):
            if int(value):
                kinds[name] = int(value)
    out["errors"] = sum(kinds.values())
    out["error_kinds"] = sorted(kinds)
    return out


def wrk_version() -> str | None:
    """``wrk``'s version line, or None when it is not on PATH."""
    exe = shutil.which("wrk")
    if exe is None:
        return None
    proc = subprocess.run([exe, "-v"], capture_output=True, text=True, check=False)
    first = (proc.stdout or proc.stderr).strip().splitlines()
    return first[0].split(" [")[0].split(" Copyright")[0] if first else "wrk"


def drive_wrk(
    scenario: str,
    target: str,
    port: int,
    users: list[str],
    items: list[str],
    args: argparse.Namespace,
    tmp: Path,
) -> dict[str, Any]:
    """One wrk run (a warm-up run first, discarded) of a GET scenario against ``port``.

    wrk takes whole seconds: ``--duration`` and ``--warmup`` are rounded (at least 1 s).
    """
    paths = tmp / f"wrk-{scenario}-{target}.txt"
    paths.write_text("\n".join(get_paths(scenario, target, users, items)) + "\n")
    url = f"http://127.0.0.1:{port}"

    def wrk(seconds: float) -> str:
        cmd = ["wrk", "-t1", f"-c{args.concurrency}", f"-d{max(1, round(seconds))}s", "--latency"]
        cmd += ["-s", str(WRK_SCRIPT), url, "--", str(paths)]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, check=True, timeout=seconds + 120
        )
        return proc.stdout

    if args.warmup > 0:
        wrk(args.warmup)
    return parse_wrk(wrk(args.duration))


# ------------------------------------------------------------------------------- the store
def copy_sqlite(src: Path, dst: Path) -> None:
    """Copy a SQLite database with its online backup API (consistent, WAL included)."""
    import sqlite3

    with sqlite3.connect(src) as source, sqlite3.connect(dst) as target:
        source.backup(target)
    source.close()
    target.close()


def bundle_ids(home: Path) -> tuple[list[str], list[str], Any]:
    """The served bundle's user ids, item ids and user x item matrix (what each user has)."""
    from recsys.bundle import load_bundle
    from recsys.home import Home

    bundle = load_bundle(Home(home).artifacts)
    return bundle.users.ids(), bundle.items.ids(), bundle.user_items.tocsr()


def add_live_events(
    home: Path,
    requested: Sequence[str],
    users: Sequence[str],
    items: Sequence[str],
    owned: Any,
) -> int:
    """Store one view event, ``ts`` = now, for each requested user: their answers become live.

    A user with an event since training is ranked live on every request, as a browsing shopper
    is. Each event's item is drawn (seeded) among the items the user has no training event
    with, so the view adds to the user's history rather than repeating it.

    Args:
        home: the data home whose store receives the events.
        requested: the user ids to give an event (duplicates are ignored).
        users: the bundle's user ids, in the order of ``owned``'s rows.
        items: the bundle's item ids, in the order of ``owned``'s columns.
        owned: the bundle's user x item matrix (CSR).

    Returns:
        How many events were stored.
    """
    import polars as pl

    from recsys.store import Store

    rng = np.random.default_rng(SEED + 2)
    row_of = {u: k for k, u in enumerate(users)}
    chosen = list(dict.fromkeys(requested))
    viewed = []
    for user in chosen:
        row = row_of.get(user)
        have = (
            set() if row is None else set(owned.indices[owned.indptr[row] : owned.indptr[row + 1]])
        )
        pick = int(rng.integers(len(items)))
        while pick in have and len(have) < len(items):
            pick = int(rng.integers(len(items)))
        viewed.append(items[pick])
    now = time.time()
    frame = pl.DataFrame(
        {
            "user_id": chosen,
            "item_id": viewed,
            "type": ["view"] * len(chosen),
            "ts": [now] * len(chosen),
        }
    )
    with Store(home / "recsys.sqlite3") as store:
        return store.add_events(frame)


# ---------------------------------------------------------------------------------- runs
def ranking_counts(port: int) -> dict[str, float]:
    """How the server answered users so far (``/metrics``, all workers).

    Returns:
        Answers by ranking (``precomputed``, ``live``) and ``fast_path``: how many of them the
        route's lean path sent (the rest went through Flask).
    """
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    prefix = 'recsys_user_recommendations_total{ranking="'
    counts = {"precomputed": 0.0, "live": 0.0, "fast_path": 0.0}
    for line in text.splitlines():
        if line.startswith(prefix):
            label, value = line[len(prefix) :].split('"} ')
            counts[label] = float(value)
        elif line.startswith("recsys_fast_path_answers_total "):
            counts["fast_path"] = float(line.split()[1])
    return counts


def measure(
    client: str,
    scenario: str,
    target: str,
    port: int,
    users: list[str],
    items: list[str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """One run of ``client`` (``python`` or ``wrk``) on ``target``'s server; prints a line."""
    runner = drive if client == "python" else drive_wrk
    run = runner(scenario, target, port, users, items, args, LOGS)
    unit = "pages/s" if scenario == "replay" else "req/s"
    print(
        f"  {scenario:<17} {client:<6} {target:<4} {throughput(run):>8.1f} {unit:<7} "
        f"p50 {run['p50_ms']} ms  p99 {run['p99_ms']} ms  errors {run['errors']}",
        flush=True,
    )
    return run


def clients_of(scenario: str, clients: Sequence[str]) -> list[str]:
    """The clients that drive ``scenario``: wrk only sends the GET scenarios."""
    return [c for c in clients if c == "python" or scenario in GET_SCENARIOS]


def bench_dataset(
    name: str, home: Path, args: argparse.Namespace, clients: Sequence[str]
) -> dict[str, Any]:
    """Every chosen scenario and client on one data home, ``--repeat`` rounds of pairs.

    Per round: one bare server for all twins; for each scenario our server, started afresh
    (with the scenario's settings, after the live events for ``user_recs_live``), and per client
    a bare run followed by our run. The store is restored after each scenario that writes.

    Returns:
        The dataset's results: per scenario and client the runs, pair rows and summary, and
        the target checks.
    """
    from api.testing import free_port, stop_server, wait_ready

    LOGS.mkdir(parents=True, exist_ok=True)
    users, items, owned = bundle_ids(home)
    print(f"{name}: {len(users)} users, {len(items)} items", flush=True)
    chosen = [s for s in SCENARIOS if s in args.scenarios]
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for scenario in chosen:
        if clients_of(scenario, clients):
            runs[scenario] = {c: [] for c in clients_of(scenario, clients)}
        else:
            print(f"{scenario}: no chosen client sends it (wrk sends GET scenarios only)")
    live_users = list(dict.fromkeys(requested_users(users)))
    store = home / "recsys.sqlite3"
    snapshot = LOGS / f"{name}-store-before.sqlite3"
    copy_sqlite(store, snapshot)
    added = 0
    try:
        for round_ in range(args.repeat):
            print(f"{name}: round {round_ + 1} of {args.repeat}", flush=True)
            bare_port = free_port()
            bare_log = LOGS / f"{name}-bare.log"
            bare = start_server("bare", None, bare_port, args.workers, args.threads, bare_log)
            try:
                wait_ready(bare_port, "/bare", bare, log=bare_log)
                for scenario, per_client in runs.items():
                    if scenario == "user_recs_live":
                        added = add_live_events(home, live_users, users, items, owned)
                    port = free_port()
                    log = LOGS / f"{name}-{scenario}.log"
                    settings = SERVER_SETTINGS.get(scenario)
                    proc = start_server(
                        "api", home, port, args.workers, args.threads, log, settings
                    )
                    counted = scenario in USER_SCENARIOS or scenario == "replay"
                    try:
                        wait_ready(port, "/readyz", proc, log=log)
                        for client, pairs in per_client.items():
                            twin = measure(client, scenario, "bare", bare_port, users, items, args)
                            before = ranking_counts(port) if counted else {}
                            ours = measure(client, scenario, "ours", port, users, items, args)
                            if counted:  # this run's answers only: the counters are cumulative
                                after = ranking_counts(port)
                                ours["ranking"] = {k: after[k] - before.get(k, 0.0) for k in after}
                            pairs.append({"bare": twin, "ours": ours})
                    finally:
                        stop_server(proc)
                        if scenario in WRITES:
                            copy_sqlite(snapshot, store)
            finally:
                stop_server(bare)
    finally:
        copy_sqlite(snapshot, store)
        snapshot.unlink()
    results = {
        scenario: {client: summarize(scenario, pairs) for client, pairs in per_client.items()}
        for scenario, per_client in runs.items()
    }
    return {
        "users": len(users),
        "items": len(items),
        "scenarios": list(runs),
        "clients": list(clients),
        "live_users": len(live_users),
        "live_events_added": added,
        "results": results,
        "targets": target_checks(results),
    }


# ------------------------------------------------------------------------------ summaries
def throughput(run: dict[str, Any]) -> float:
    """A run's throughput: pages/s for the replay, requests/s otherwise."""
    return float(run["pages_per_s"] if "pages_per_s" in run else run["rps"])


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else round(a / b, 3)


def _median(values: Sequence[float | None], digits: int = 2) -> float | None:
    known = [v for v in values if v is not None]
    return round(float(np.median(known)), digits) if known else None


def pair_row(scenario: str, bare: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """One bare/ours pair side by side: throughput, ratio, p50/p99 of each, p99 ratio."""
    row: dict[str, Any] = {
        "ours": throughput(ours),
        "bare": throughput(bare),
        "ratio": _ratio(throughput(ours), throughput(bare)),
        "ours_p50_ms": ours["p50_ms"],
        "bare_p50_ms": bare["p50_ms"],
        "ours_p99_ms": ours["p99_ms"],
        "bare_p99_ms": bare["p99_ms"],
        "p99_ratio": _ratio(ours["p99_ms"], bare["p99_ms"]),
        "ours_errors": ours["errors"],
        "bare_errors": bare["errors"],
    }
    if scenario == "events":
        row["events_per_s"] = round(throughput(ours) * BATCH, 1)
    if "steps" in ours and "steps" in bare:
        row["steps"] = {
            label: {
                "ours_p50_ms": ours["steps"][label]["p50_ms"],
                "ours_p99_ms": ours["steps"][label]["p99_ms"],
                "bare_p50_ms": bare["steps"][label]["p50_ms"],
                "bare_p99_ms": bare["steps"][label]["p99_ms"],
                "p99_ratio": _ratio(ours["steps"][label]["p99_ms"], bare["steps"][label]["p99_ms"]),
            }
            for label in ours["steps"]
        }
    return row


def summarize(scenario: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The pairs of one scenario and client, and their medians.

    Args:
        scenario: the scenario's name.
        runs: ``[{"bare": run, "ours": run}, ...]`` in the order measured.

    Returns:
        ``runs``, ``pairs`` (:func:`pair_row` of each) and ``summary``: the median of each side's
        throughput and percentiles over the pairs, ``ratio`` = the median of the pairs'
        throughput ratios, ``p99_ratio`` = our median p99 / bare's median p99, error totals, the
        replay's steps likewise, and the ranking counts summed over our runs.
    """
    rows = [pair_row(scenario, r["bare"], r["ours"]) for r in runs]

    def med(key: str, digits: int = 2) -> float | None:
        return _median([row[key] for row in rows], digits)

    summary: dict[str, Any] = {
        "pairs": len(rows),
        "ours": med("ours", 1),
        "bare": med("bare", 1),
        "ratio": med("ratio", 3),
        **{
            f"{side}_{p}_ms": med(f"{side}_{p}_ms")
            for side in ("ours", "bare")
            for p in ("p50", "p99")
        },
        "ours_errors": sum(row["ours_errors"] for row in rows),
        "bare_errors": sum(row["bare_errors"] for row in rows),
    }
    summary["p99_ratio"] = _ratio(summary["ours_p99_ms"], summary["bare_p99_ms"])
    if scenario == "events":
        summary["events_per_s"] = med("events_per_s", 1)
    if rows and all("steps" in row for row in rows):
        summary["steps"] = {}
        for label in rows[0]["steps"]:
            step = {
                key: _median([row["steps"][label][key] for row in rows])
                for key in ("ours_p50_ms", "ours_p99_ms", "bare_p50_ms", "bare_p99_ms")
            }
            step["p99_ratio"] = _ratio(step["ours_p99_ms"], step["bare_p99_ms"])
            summary["steps"][label] = step
    counts = [r["ours"]["ranking"] for r in runs if "ranking" in r["ours"]]
    if counts:
        summary["ranking"] = {k: sum(c.get(k, 0.0) for c in counts) for k in counts[0]}
    return {"summary": summary, "pairs": rows, "runs": runs}


# -------------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class Target:
    """One of issue 20's targets: conditions on a scenario's summary (or one pair's row).

    Attributes:
        name: what the target is about.
        scenario: the scenario it judges.
        min_ratio: lowest throughput as a share of the bare twin's.
        max_p99_ratio: highest p99 as a multiple of the bare twin's p99.
        p99_step: the replay step whose p99 ``max_p99_ratio`` compares (None: the scenario's).
        min_events_per_s: lowest ingestion rate, events per second.
        max_p99_ms: highest p99, milliseconds.
    """

    name: str
    scenario: str
    min_ratio: float | None = None
    max_p99_ratio: float | None = None
    p99_step: str | None = None
    min_events_per_s: float | None = None
    max_p99_ms: float | None = None

    def requirement(self) -> str:
        """The target in words."""
        unit = "pages/s" if self.scenario == "replay" else "req/s"
        step = f"{self.p99_step} step's " if self.p99_step else ""
        parts = []
        if self.min_ratio is not None:
            parts.append(f"{unit} >= {self.min_ratio:g} x bare's")
        if self.max_p99_ratio is not None:
            parts.append(f"{step}p99 <= {self.max_p99_ratio:g} x bare's {step}p99")
        if self.min_events_per_s is not None:
            parts.append(f">= {self.min_events_per_s:,.0f} events/s")
        if self.max_p99_ms is not None:
            parts.append(f"p99 <= {self.max_p99_ms:g} ms")
        return " and ".join(parts)

    def check(self, values: dict[str, Any]) -> tuple[bool, str]:
        """Whether ``values`` (a summary or a pair row) meet the target, and what they are."""
        met, seen = True, []
        if self.min_ratio is not None:
            ratio = values.get("ratio")
            met &= ratio is not None and ratio >= self.min_ratio
            seen.append("ratio n/a" if ratio is None else f"{ratio:.0%} of bare")
        if self.max_p99_ratio is not None:
            source = values.get("steps", {}).get(self.p99_step, {}) if self.p99_step else values
            p99_ratio = source.get("p99_ratio")
            met &= p99_ratio is not None and p99_ratio <= self.max_p99_ratio
            step = f"{self.p99_step} " if self.p99_step else ""
            seen.append(
                f"{step}p99 n/a"
                if p99_ratio is None
                else f"{step}p99 {p99_ratio:.2f} x bare's "
                f"({source.get('ours_p99_ms')} vs {source.get('bare_p99_ms')} ms)"
            )
        if self.min_events_per_s is not None:
            rate = values.get("events_per_s")
            met &= rate is not None and rate >= self.min_events_per_s
            seen.append("events/s n/a" if rate is None else f"{rate:,.0f} events/s")
        if self.max_p99_ms is not None:
            p99 = values.get("ours_p99_ms")
            met &= p99 is not None and p99 <= self.max_p99_ms
            seen.append("p99 n/a" if p99 is None else f"p99 {p99} ms")
        return bool(met), ", ".join(seen)


TARGETS = (
    Target("live user recommendations", "user_recs_live", min_ratio=0.5, max_p99_ratio=2.0),
    Target("similar items", "similar", min_ratio=0.6, max_p99_ratio=2.0),
    Target("storefront replay", "replay", min_ratio=0.4, max_p99_ratio=2.0, p99_step="recs"),
    Target("event batches of 100", "events", min_events_per_s=5000, max_p99_ms=150),
)


def target_checks(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every target checked on each client's summary of its scenario (and on each pair).

    Args:
        results: per scenario and client, :func:`summarize`'s output.

    Returns:
        One entry per target and client: ``target``, ``scenario``, ``client``, ``requirement``,
        ``measured``, ``met`` (None when the scenario was not run), and ``pairs_met`` of
        ``pairs``: how many single pairs meet it.
    """
    checks = []
    for target in TARGETS:
        per_client = results.get(target.scenario, {})
        if not per_client:
            checks.append(
                {
                    "target": target.name,
                    "scenario": target.scenario,
                    "client": None,
                    "requirement": target.requirement(),
                    "measured": "not run",
                    "met": None,
                    "pairs_met": 0,
                    "pairs": 0,
                }
            )
        for client, data in per_client.items():
            met, measured = target.check(data["summary"])
            checks.append(
                {
                    "target": target.name,
                    "scenario": target.scenario,
                    "client": client,
                    "requirement": target.requirement(),
                    "measured": measured,
                    "met": met,
                    "pairs_met": sum(target.check(row)[0] for row in data["pairs"]),
                    "pairs": len(data["pairs"]),
                }
            )
    return checks


def verdict(met: bool | None) -> str:
    """``met``, ``not met`` or ``not run``."""
    return "not run" if met is None else "met" if met else "not met"


# ------------------------------------------------------------------------------- markdown
def _cell(value: Any, fmt: str = "") -> str:
    return "-" if value is None else format(value, fmt)


def _note(scenario: str, summary: dict[str, Any]) -> str:
    if scenario == "events":
        return f"{_cell(summary.get('events_per_s'), ',.0f')} events/s (batches of {BATCH})"
    counts = summary.get("ranking") or {}
    total = (counts.get("precomputed", 0.0) + counts.get("live", 0.0)) or 1.0
    live = f"{counts.get('live', 0.0) / total:.0%} ranked live"
    if scenario == "replay":
        return f"pages/s (event + recs + similar), p50/p99 of whole pages; recs {live}"
    if not counts:
        return ""
    return (
        f"{counts.get('precomputed', 0.0) / total:.0%} precomputed, {live}; "
        f"{counts.get('fast_path', 0.0) / total:.0%} sent by the lean path"
    )


def markdown(result: dict[str, Any]) -> str:
    """The report: per dataset the scenario table, the replay's steps, the pairs, the targets."""
    wrk = result.get("wrk") or "not installed"
    lines = [
        f"Machine: {result['machine']}. Per dataset, scenario and client {result['repeat']} "
        f"pair{'s' if result['repeat'] != 1 else ''}, each a run on the bare twin then one on "
        "our server: "
        f"{result['concurrency']} concurrent keep-alive connections, {result['duration_s']} s "
        f"measured after {result['warmup_s']} s warm-up; gunicorn gthread, "
        f"{result['workers']} workers x {result['threads']} threads. Clients: `python` (the "
        f"asyncio generator, a process of its own), `wrk` ({wrk}; `-t1`, GET scenarios only), "
        "both on the same machine. Medians over the pairs: each side's req/s, p50 and p99; "
        "ratio = median of the pairs' throughput ratios; p99 ratio = our median p99 / bare's.",
        "",
    ]
    for name, data in result["datasets"].items():
        results = data["results"]
        lines += [
            f"### {name} ({data['users']} users, {data['items']} items)",
            "",
            f"Run {data['started']}; load average before `{data['loadavg_before']}`, after "
            f"`{data['loadavg_after']}`. `user_recs_live`: one view event added for each of "
            f"its {data['live_users']} users ({data['live_events_added']} stored).",
            "",
            "| scenario | client | ours req/s | bare req/s | ratio | ours p50 ms | "
            "bare p50 ms | ours p99 ms | bare p99 ms | p99 ratio | errors ours/bare | note |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for scenario, per_client in results.items():
            for client, entry in per_client.items():
                s = entry["summary"]
                lines.append(
                    f"| {scenario} | {client} | {_cell(s['ours'], '.0f')} | "
                    f"{_cell(s['bare'], '.0f')} | {_cell(s['ratio'], '.0%')} | "
                    f"{_cell(s['ours_p50_ms'])} | {_cell(s['bare_p50_ms'])} | "
                    f"{_cell(s['ours_p99_ms'])} | {_cell(s['bare_p99_ms'])} | "
                    f"{_cell(s['p99_ratio'], '.2f')} | {s['ours_errors']}/{s['bare_errors']} | "
                    f"{_note(scenario, s)} |"
                )
        for client, entry in results.get("replay", {}).items():
            s = entry["summary"]
            lines += [
                "",
                f"Storefront replay ({client}), per step: {_cell(s['ours'], '.0f')} pages/s "
                f"against {_cell(s['bare'], '.0f')} on the bare routes.",
                "",
                "| step | ours p50 ms | ours p99 ms | bare p50 ms | bare p99 ms | p99 ratio |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            for label, step in s.get("steps", {}).items():
                lines.append(
                    f"| {label} | {_cell(step['ours_p50_ms'])} | {_cell(step['ours_p99_ms'])} | "
                    f"{_cell(step['bare_p50_ms'])} | {_cell(step['bare_p99_ms'])} | "
                    f"{_cell(step['p99_ratio'], '.2f')} |"
                )
            lines.append(
                f"| whole page | {_cell(s['ours_p50_ms'])} | {_cell(s['ours_p99_ms'])} | "
                f"{_cell(s['bare_p50_ms'])} | {_cell(s['bare_p99_ms'])} | "
                f"{_cell(s['p99_ratio'], '.2f')} |"
            )
        lines += ["", "Pairs in order (ours/bare throughput = ratio; p99 ours/bare ms):", ""]
        for scenario, per_client in results.items():
            for client, entry in per_client.items():
                shown = ", ".join(
                    f"{p['ours']:.0f}/{p['bare']:.0f} = {_cell(p['ratio'], '.0%')} "
                    f"(p99 {_cell(p['ours_p99_ms'])}/{_cell(p['bare_p99_ms'])})"
                    for p in entry["pairs"]
                )
                lines.append(f"- {scenario}, {client}: {shown}")
        lines += ["", "Targets (issue 20), on the medians:", ""]
        for check in data["targets"]:
            where = (
                f"{check['scenario']}, {check['client']}" if check["client"] else check["scenario"]
            )
            pairs = (
                f" ({check['pairs_met']} of {check['pairs']} pairs meet it)"
                if check["pairs"]
                else ""
            )
            lines.append(
                f"- {check['target']} ({where}): {check['requirement']}: {check['measured']}: "
                f"**{verdict(check['met'])}**{pairs}"
            )
        lines.append("")
    return "\n".join(lines)


def parse_scenarios(text: str) -> tuple[str, ...]:
    """``--scenarios``: comma-separated names, ``default`` or ``all``.

    Raises:
        argparse.ArgumentTypeError: an unknown name.
    """
    names: list[str] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "all":
            names += SCENARIOS
        elif part == "default":
            names += DEFAULT_SCENARIOS
        elif part in SCENARIOS:
            names.append(part)
        else:
            raise argparse.ArgumentTypeError(
                f"unknown scenario {part!r}; choose from {', '.join(SCENARIOS)}, default, all"
            )
    if not names:
        raise argparse.ArgumentTypeError("no scenario named")
    return tuple(dict.fromkeys(names))


def choose_clients(wanted: str) -> tuple[list[str], str | None]:
    """The clients to run for ``--client`` and wrk's version (None: not installed)."""
    clients = list(CLIENTS) if wanted == "both" else [wanted]
    version = wrk_version()
    if "wrk" in clients and version is None:
        print(
            "wrk is not on PATH: skipping the wrk rows (install it with `make bench-tools`, "
            "which runs `apt-get install -y wrk`)",
            flush=True,
        )
        clients.remove("wrk")
    return clients, version


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark (or build the synthetic home, or be a load generator process)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--dataset", choices=["ml-100k", "synthetic", "both"], default="both")
    parser.add_argument(
        "--scenarios",
        type=parse_scenarios,
        default=DEFAULT_SCENARIOS,
        help=f"comma-separated, of {', '.join(SCENARIOS)}; or default, all "
        f"(default: {','.join(DEFAULT_SCENARIOS)})",
    )
    parser.add_argument("--client", choices=["python", "wrk", "both"], default="both")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--repeat", type=int, default=3, help="bare/ours pairs per scenario and client (median)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--build-synthetic", action="store_true")
    parser.add_argument("--synthetic-items", type=int, default=100_000)
    parser.add_argument("--synthetic-users", type=int, default=50_000)
    parser.add_argument("--ml-home", type=Path, default=ML_HOME)
    parser.add_argument("--synthetic-home", type=Path, default=SYNTH_HOME)
    parser.add_argument("--out", type=Path, default=RESULTS / "api_latency.json")
    parser.add_argument("--load", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load:
        load_process(args)
        return
    if args.build_synthetic:
        build_synthetic(
            args.synthetic_home, args.synthetic_items, args.synthetic_users, per_user=20
        )
        return
    clients, version = choose_clients(args.client)
    if not clients:
        parser.error("no client left to run (wrk is not installed)")
    homes = {"ml-100k": args.ml_home, "synthetic": args.synthetic_home}
    chosen = list(homes) if args.dataset == "both" else [args.dataset]
    result: dict[str, Any] = {"datasets": {}}
    if args.out.is_file():  # keep other datasets' latest results (datasets may run separately)
        previous = json.loads(args.out.read_text())
        if previous.get("schema") == SCHEMA:
            result = previous
    result |= {
        "schema": SCHEMA,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}",
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "repeat": args.repeat,
        "workers": args.workers,
        "threads": args.threads,
        "wrk": version,
    }
    for name in chosen:
        started = datetime.now(UTC).isoformat(timespec="seconds")
        before = Path("/proc/loadavg").read_text().strip()
        data = bench_dataset(name, homes[name], args, clients)
        data |= {
            "started": started,
            "loadavg_before": before,
            "loadavg_after": Path("/proc/loadavg").read_text().strip(),
        }
        result["datasets"][name] = data
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
