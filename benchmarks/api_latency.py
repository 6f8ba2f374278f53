r"""HTTP API latency and throughput under concurrent load, each scenario paired with a bare twin.

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
  ``RECSYS_API_FAST_PATH=false``: Flask's dispatch instead of the route's lean path),
  ``user_recs_nolists`` (``RECSYS_API_PRECOMPUTED=false``: ranked live although nobody has an
  event since training), and ``user_recs_ab`` / ``user_recs_live_ab``: ``user_recs`` /
  ``user_recs_live`` with an A/A experiment running (``bench-aa``: ``control=current``,
  ``b=current``, 50/50, a fixed salt), started in the store with ``recsys.experiments``
  (``make_experiment`` + ``start_experiment``) before our server starts. Both variants serve
  what the plain path serves, so the only extra work is the experiment's: assigning the user,
  the answer's ``experiment``/``variant``/``recommendation_id`` and one queued exposure per
  answer, which a background thread writes to the store every second. Each runs next to its
  plain twin (the twin first in even rounds, second in odd ones); before the load, one answer is
  checked to name the experiment, and after it (2.5 s later: the writer has flushed) the
  experiment's rows of the store's ``exposures`` table are counted, against the answers sent
  (``/metrics``). No exposure written stops the run with an error: the measurement would be
  invalid. The report's "experiment impression logging" table gives issue 24's **logging cost
  = 1 - ab/plain** (the medians of our server's throughput), checked against 5%, and per round
  the paired ab/plain and the same normalized by each run's bare twin (median, min, max).

For every user scenario the ranking counts are read back from ``/metrics`` (answers
``precomputed`` / ``live``, and how many the lean path sent).

Clients (``--client``): ``python``, the asyncio load generator of this file in a process of its
own (protocol callbacks, keep-alive HTTP/1.1, ``--concurrency`` connections, closed loop; every
scenario), and ``wrk`` (``wrk -t1 -c<concurrency> -d<duration>s --latency`` with
``benchmarks/wrk/paths.lua`` rotating over a file of paths this script writes; the GET scenarios
only; skipped with a message when ``wrk`` is not on PATH: ``make bench-tools`` installs it).

Per round (``--repeat`` rounds) one bare server serves every twin; our server is started afresh
for each scenario. The store is snapshotted with SQLite's backup API before a dataset and restored
after every scenario that writes to it (``user_recs_live``, ``events``, ``replay``, and the
``*_ab`` scenarios: their experiment and exposures go too) and at the end.

Stores (``--store sqlite|postgresql|both``, default ``sqlite``): ``sqlite`` is the home's SQLite
file, as above. ``postgresql`` runs every scenario against ``recsys serve`` with
``RECSYS_STORE=postgresql://...`` (bundles still from the home's ``artifacts/``): the run starts
ONE throw-away PostgreSQL server (``tests/pg_server.py``: Debian's package, on 127.0.0.1 of this
machine, with its default settings: ``fsync`` on, ``synchronous_commit`` on, 128 MB
``shared_buffers``), and per dataset creates a database, runs ``migrate`` and copies the home's
SQLite store into it in store order (``events_frame`` -> ``add_events``, ``catalog_frame`` ->
``upsert_items``, the catalog log's times as in SQLite), so that every event keeps its position
(``seq``) and the bundle's precomputed lists' watermark means the same in both stores (a gap in
SQLite's positions is reproduced by restarting the identity). ``VACUUM ANALYZE``, then the
database is copied to a template (``CREATE DATABASE <snap> TEMPLATE <db>``); after every scenario
that writes, the database is restored with ``DROP DATABASE <db> WITH (FORCE)`` + ``CREATE
DATABASE <db> TEMPLATE <snap>`` and a ``CHECKPOINT``, so no scenario measures another's writes or
flushes. The PostgreSQL server runs on the same machine as the API servers and the load
generator (2 cores on the benchmark host) and competes with them for the same CPUs, as a
database on the API's own host would; an API on its own hosts in front of a database server
would see different numbers. With ``both`` every scenario runs on each store, one after the other
within each round (the order alternating between rounds), each with its own bare twin run: the
report gives every scenario row once per store and a "PostgreSQL vs SQLite" table (throughput:
req/s, events/s for ``events``, pages/s for ``replay``; p50 and p99 of each store; ratios
postgresql/sqlite). The issue's target checks are computed on the SQLite rows only.

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
    # the same scenarios on the PostgreSQL store vs SQLite, in one run (the python client):
    flock /tmp/recsys-bench.lock .venv/bin/python benchmarks/api_latency.py \
        --store both --client python
    # the cost of experiment impression logging (issue 24), in a result file of its own:
    flock /tmp/recsys-bench.lock .venv/bin/python benchmarks/api_latency.py --dataset ml-100k \
        --client python --scenarios user_recs,user_recs_ab,user_recs_live,user_recs_live_ab \
        --out benchmarks/results/api_latency_ab.json

Writes ``benchmarks/results/api_latency.json`` and ``.md`` (``--out``), including the issue's
target checks, each computed as met or not met; with ``--store postgresql`` or ``both`` the
default is ``benchmarks/results/api_latency_postgres.json`` and ``.md`` instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import re
import shutil
import signal
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
    "user_recs_ab",
    "user_recs_flask",
    "user_recs_nolists",
    "similar",
    "user_recs_live",
    "user_recs_live_ab",
    "events",
    "replay",
)
DEFAULT_SCENARIOS = ("user_recs", "user_recs_live", "similar", "events", "replay")
# {scenario with an A/A experiment running: its plain twin}; the pair runs next to each other,
# in alternating order between rounds, and the report compares them (issue 24's logging cost)
AB_TWINS = {"user_recs_ab": "user_recs", "user_recs_live_ab": "user_recs_live"}
USER_SCENARIOS = (
    "user_recs",
    "user_recs_live",
    "user_recs_flask",
    "user_recs_nolists",
    *AB_TWINS,
)
LIVE_SCENARIOS = ("user_recs_live", "user_recs_live_ab")  # one view event per requested user
GET_SCENARIOS = (*USER_SCENARIOS, "similar")  # the ones wrk drives too
# the store is restored after these (the A/A scenarios: the experiment and its exposures)
WRITES = ("user_recs_live", "events", "replay", *AB_TWINS)
AB_EXPERIMENT = "bench-aa"  # the A/A experiment's name
AB_VARIANTS = ("control=current", "b=current")  # both serve what the plain path serves
AB_TRAFFIC = "50/50"  # everybody enrolled
AB_SALT = "be0c4aa000000007"  # fixed (hex): the same split of users in every run
MAX_LOGGING_COST = 0.05  # issue 24: impression logging costs <= 5% of user-recs throughput
EXPOSURE_SETTLE_S = 2.5  # wait after an A/A scenario's runs: the exposure log writes every 1 s
SERVER_SETTINGS = {  # environment of our server per scenario, beyond start_server's
    "user_recs_flask": {"RECSYS_API_FAST_PATH": "false"},
    "user_recs_nolists": {"RECSYS_API_PRECOMPUTED": "false"},
}
REPLAY_STEPS = ("event", "recs", "similar")  # one storefront page, in order
CLIENTS = ("python", "wrk")
STORES = ("sqlite", "postgresql")  # --store both runs them in this order (alternating by round)
PG_COPY_ROWS = 100_000  # events per add_events call when copying a store into PostgreSQL

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
    from recsys.store import SQLiteStore
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
    with SQLiteStore(home.db_path) as store:
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
    settings: dict[str, str | None] | None = None,
    reuse_port: bool = True,
    inline_reads: bool = True,
) -> subprocess.Popen[bytes]:
    """``recsys serve`` over ``home`` (or, for ``kind="bare"``, the bare app) on 127.0.0.1.

    ``inline_reads`` is passed to both kinds (``--inline-reads`` / ``--no-inline-reads``), so a
    pair runs the same worker whatever ``recsys serve`` would pick for the store.

    ``settings`` are environment changes on top of the benchmark's (a None value removes a
    variable): e.g. ``RECSYS_STORE`` = a PostgreSQL URL for the ``postgresql`` store, or None
    for the SQLite file in the home.
    """
    from api.testing import bare_command, serve_command, start_process

    env: dict[str, str | None] = {
        "RECSYS_API_WRITE_KEYS": KEY,
        "RECSYS_API_SWAP_POLL_S": "2",
        "RECSYS_API_PRECOMPUTED": "true",
        "RECSYS_API_FAST_PATH": "true",
        **(settings or {}),
    }
    if kind == "bare":
        cmd = bare_command(
            port, workers=workers, threads=threads, reuse_port=reuse_port, inline_reads=inline_reads
        )
    elif home is None:
        raise ValueError(f"a {kind!r} server needs a home")
    else:
        cmd = serve_command(
            home,
            port,
            workers=workers,
            threads=threads,
            reuse_port=reuse_port,
            inline_reads=inline_reads,
        )
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


def start_postgres() -> Any:
    """Start the run's throw-away PostgreSQL server (``tests/pg_server.py``), default settings.

    Returns:
        The started ``PostgresServer``; close it (or use it as a context manager) when done.

    Raises:
        SystemExit: no PostgreSQL server can be started here, or psycopg is missing.
    """
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from pg_server import PostgresServer

    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise SystemExit(
            "--store postgresql needs psycopg 3: pip install 'recsys-shop[postgres]'"
        ) from None
    if not PostgresServer.available():
        raise SystemExit(
            "--store postgresql needs a local PostgreSQL server (initdb, pg_ctl; as root also "
            "the postgres OS user and runuser): apt-get install postgresql"
        )
    server = PostgresServer().start()
    print(f"PostgreSQL server on 127.0.0.1:{server.port} ({server.directory})", flush=True)
    return server


class PostgresCopy:
    """A data home's SQLite store copied into a database of the run's PostgreSQL server.

    ``url`` names the database the servers under test use (``RECSYS_STORE``); :meth:`create`
    fills it from the SQLite file and makes a template of it, from which :meth:`restore`
    recreates it after a scenario that writes. :meth:`drop` removes both databases.
    """

    def __init__(self, server: Any, dataset: str) -> None:
        base = re.sub(r"\W", "_", dataset).lower()  # "ml-100k" -> "ml_100k"
        self.server = server
        self.db, self.snap = f"bench_{base}", f"bench_{base}_snap"
        self.url: str = server.url(self.db)
        self.copy_clause = ""  # CREATE DATABASE's STRATEGY (PostgreSQL 15+), set by create

    def _admin(self, *statements: str) -> list[Any]:
        """Run statements one by one on the ``postgres`` database (autocommit); first values."""
        import psycopg

        out = []
        url = self.server.url("postgres")
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            for statement in statements:
                cursor = conn.execute(statement)
                row = cursor.fetchone() if cursor.description else None
                out.append(row[0] if row else None)
        return out

    def server_info(self) -> dict[str, Any]:
        """The server's version and the settings that matter for write latency."""
        names = ("fsync", "synchronous_commit", "shared_buffers", "wal_level", "max_wal_size")
        values = self._admin("SHOW server_version", *(f"SHOW {n}" for n in names))
        return {"server_version": values[0], **dict(zip(names, values[1:], strict=True))}

    def create(self, home: Path) -> dict[str, Any]:
        """Create the database, migrate it, copy the home's SQLite store, make the template.

        Returns:
            What was copied (:func:`copy_store_to_postgres`) and how long it took.
        """
        from recsys.store.postgres import migrate

        t0 = time.perf_counter()
        (version,) = self._admin("SHOW server_version_num")
        self.copy_clause = " STRATEGY = FILE_COPY" if int(version) >= 150000 else ""
        self.drop()
        self._admin(f'CREATE DATABASE "{self.db}"')
        migrate(self.url)
        copied = copy_store_to_postgres(home / "recsys.sqlite3", self.url)
        import psycopg

        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            conn.execute("VACUUM ANALYZE")  # no autovacuum of the copy during a measurement
        # a template needs no connection to it: every store above is closed
        self._admin(
            f'CREATE DATABASE "{self.snap}" TEMPLATE "{self.db}"{self.copy_clause}', "CHECKPOINT"
        )
        return copied | {"copy_s": round(time.perf_counter() - t0, 1)}

    def restore(self) -> None:
        """Recreate the database from the template (closing any connection left to it)."""
        self._admin(
            f'DROP DATABASE "{self.db}" WITH (FORCE)',
            f'CREATE DATABASE "{self.db}" TEMPLATE "{self.snap}"{self.copy_clause}',
            "CHECKPOINT",  # the copy's writes are flushed now, not during the next scenario
        )

    def drop(self) -> None:
        """Remove the database and its template (if they exist)."""
        self._admin(
            f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)',
            f'DROP DATABASE IF EXISTS "{self.snap}" WITH (FORCE)',
        )


def copy_store_to_postgres(src: Path, url: str) -> dict[str, Any]:
    """Copy a SQLite store's events and catalog into the (migrated, empty) PostgreSQL store.

    In store order, through the store's own writes: ``events_frame()`` into ``add_events`` in
    chunks of :data:`PG_COPY_ROWS`, ``catalog_frame()`` into ``upsert_items``. Every event keeps
    its position: a gap in SQLite's positions (erased events) is reproduced by restarting the
    identity at the next position, and the next new event gets the position SQLite would give
    it. The catalog log (``item_log``) is replaced by SQLite's, times included, so the API's
    catalog overlay sees the same changes since training in both stores (none, for a home as
    trained). Client event ids and erasures are not copied (a note says how many there were).

    Returns:
        ``events``, ``items``, ``last_seq``, ``gaps`` (runs of missing positions reproduced) and
        ``not_copied`` (rows of event_ids and erasures).

    Raises:
        RuntimeError: the copy differs from the SQLite store (count, positions or catalog).
    """
    import sqlite3
    from contextlib import closing

    import psycopg

    from recsys.store import SQLiteStore
    from recsys.store.postgres import PostgresStore

    with SQLiteStore(src) as lite:
        events = lite.events_frame()
        catalog = lite.catalog_frame()
        last, count = lite.last_seq(), lite.count_events()
    with closing(sqlite3.connect(f"file:{src}?mode=ro", uri=True)) as raw:
        seqs = np.fromiter(
            (r[0] for r in raw.execute("SELECT seq FROM events ORDER BY seq")), np.int64
        )
        used = dict(raw.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
        item_log = raw.execute(
            "SELECT seq, item_id, changed_at FROM item_log ORDER BY seq"
        ).fetchall()
        not_copied = {
            table: int(raw.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in ("event_ids", "erasures")
        }
    if not (len(seqs) == events.height == count) or (count and int(seqs[-1]) != last):
        raise RuntimeError(
            f"{src} changed while it was read ({count} events, {len(seqs)} positions, "
            f"{events.height} rows read): is a server or a benchmark using this home?"
        )
    starts = [0, *(np.flatnonzero(np.diff(seqs) != 1) + 1).tolist(), len(seqs)]
    gaps = len(starts) - 2 + int(count > 0 and int(seqs[0]) != 1)  # runs of missing positions
    if gaps:
        print(
            f"  {src}: positions 1..{last} have {gaps} gap(s) ({last - count} missing, e.g. "
            "erased events): the copy skips the same positions",
            flush=True,
        )
    with (
        PostgresStore(url) as pg,
        psycopg.connect(url, autocommit=True, connect_timeout=10) as conn,
    ):

        def restart(table: str, position: int) -> None:
            conn.execute(f"ALTER TABLE {table} ALTER COLUMN seq RESTART WITH {int(position)}")

        for a, b in itertools.pairwise(starts):
            if a == b:
                continue
            if int(seqs[a]) != pg.last_seq() + 1:  # a gap: the next position is seqs[a]
                restart("events", int(seqs[a]))
            for c in range(a, b, PG_COPY_ROWS):
                part = events.slice(c, min(PG_COPY_ROWS, b - c))
                stored = pg.add_events(part)
                if stored != part.height:
                    raise RuntimeError(
                        f"copying {src} to PostgreSQL stored {stored} of {part.height} events "
                        f"(rows {c}..{c + part.height - 1} in store order)"
                    )
            if pg.last_seq() != int(seqs[b - 1]):
                raise RuntimeError(
                    f"copying {src}: PostgreSQL's last position is {pg.last_seq()} after the "
                    f"event at SQLite position {int(seqs[b - 1])}"
                )
        if used.get("events", last) > last:  # the newest positions were erased in SQLite
            restart("events", int(used["events"]) + 1)
        pg.upsert_items(catalog)
        with conn.transaction():  # SQLite's catalog log, positions and times as they are
            conn.execute("DELETE FROM item_log")
            if item_log:
                conn.execute(
                    "INSERT INTO item_log (seq, item_id, changed_at) OVERRIDING SYSTEM VALUE "
                    "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::float8[])",
                    [list(c) for c in zip(*item_log, strict=True)],
                )
        newest_log = int(item_log[-1][0]) if item_log else 0
        restart("item_log", max(int(used.get("item_log", 0)), newest_log) + 1)
        pg_last, pg_count, pg_items = pg.last_seq(), pg.count_events(), pg.count_items()
    if (pg_last, pg_count, pg_items) != (last, count, catalog.height):
        raise RuntimeError(
            f"the PostgreSQL copy of {src} has {pg_count} events up to position {pg_last} and "
            f"{pg_items} items; SQLite has {count} up to {last} and {catalog.height}"
        )
    return {
        "events": count,
        "items": catalog.height,
        "last_seq": last,
        "gaps": gaps,
        "not_copied": not_copied,
    }


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
    store_url: str | None = None,
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
        store_url: the PostgreSQL store the server under test reads (``RECSYS_STORE``); None:
            the home's SQLite file.

    Returns:
        How many events were stored.
    """
    import polars as pl

    from recsys.home import Home
    from recsys.store import open_store

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
    with open_store(Home(home, store=store_url)) as store:  # the store the server opens
        return store.add_events(frame)


def machine_line() -> str:
    """The machine a result was measured on, as the result files name it."""
    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def write_result(out: Path, result: dict[str, Any], markdown_text: str) -> None:
    """Write ``result`` to ``out`` (JSON) and its Markdown next to it (``.md``)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown_text)


def start_ab_experiment(home: Path, store_url: str | None = None) -> str:
    """Start the A/A experiment of the ``*_ab`` scenarios in the store the server will read.

    Both variants (``control`` and ``b``) serve the current bundle with its own settings, each
    to 50% of the users: every answer is the plain path's, plus the experiment's fields and one
    queued exposure (``recsys.service.exposures.ExposureLog``, written every second).

    Args:
        home: the data home (its bundles; its SQLite file unless ``store_url``).
        store_url: the PostgreSQL store the server under test reads; None: the SQLite file.

    Returns:
        The experiment's name.
    """
    from recsys.experiments import make_experiment, start_experiment
    from recsys.home import Home
    from recsys.store import open_store

    made = make_experiment(AB_EXPERIMENT, list(AB_VARIANTS), AB_TRAFFIC, salt=AB_SALT)
    with open_store(Home(home, store=store_url)) as store:
        return start_experiment(store, made).name


def count_exposures(home: Path, store_url: str | None = None) -> int:
    """The A/A experiment's exposures (answers recorded) in the store, as of now.

    The SQLite store is counted with ``SELECT COUNT(*)`` on its ``exposures`` table; the
    PostgreSQL store through ``Store.experiment_log``.
    """
    if store_url is None:
        import sqlite3

        with contextlib.closing(sqlite3.connect(home / "recsys.sqlite3")) as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM exposures WHERE experiment = ?", (AB_EXPERIMENT,)
            ).fetchone()
        return int(row[0])
    from recsys.home import Home
    from recsys.store import open_store

    with open_store(Home(home, store=store_url)) as store:
        return store.experiment_log(AB_EXPERIMENT, 0.0).exposures.height


def check_ab_answer(port: int, user: str) -> dict[str, Any]:
    """One answer of our server to ``user``, checked to come from the A/A experiment.

    Raises:
        RuntimeError: the answer names no experiment, another one, or no variant of it: the
            ``*_ab`` scenario would measure the plain path.
    """
    import urllib.request

    url = f"http://127.0.0.1:{port}{user_path(user, 'ours')}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
    seen = {k: body.get(k) for k in ("experiment", "variant", "recommendation_id")}
    if seen["experiment"] != AB_EXPERIMENT or seen["variant"] not in ("control", "b"):
        raise RuntimeError(f"the server does not answer inside {AB_EXPERIMENT!r}: {seen}")
    return seen


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
    store: str | None = None,
) -> dict[str, Any]:
    """One run of ``client`` (``python`` or ``wrk``) on ``target``'s server; prints a line.

    ``store`` (the server's store) is shown in the line when the run compares stores.
    """
    runner = drive if client == "python" else drive_wrk
    run = runner(scenario, target, port, users, items, args, LOGS)
    unit = "pages/s" if scenario == "replay" else "req/s"
    where = f"{target:<4}" if store is None else f"{target:<4} {store:<10}"
    kinds = f" {run['error_kinds']}" if run["errors"] else ""
    print(
        f"  {scenario:<17} {client:<6} {where} {throughput(run):>8.1f} {unit:<7} "
        f"p50 {run['p50_ms']} ms  p99 {run['p99_ms']} ms  errors {run['errors']}{kinds}",
        flush=True,
    )
    return run


def round_order(chosen: Sequence[str], round_: int) -> list[str]:
    """The scenarios of round ``round_`` (0-based): each A/A scenario next to its plain twin.

    In even rounds the plain twin runs first, in odd rounds the A/A scenario, so neither side of
    the logging-cost comparison always runs on a machine that the other has just warmed (or
    loaded).
    """
    order = list(chosen)
    if round_ % 2 == 1:
        for ab, plain in AB_TWINS.items():
            if ab in order and plain in order:
                i, j = order.index(plain), order.index(ab)
                order[i], order[j] = order[j], order[i]
    return order


def clients_of(scenario: str, clients: Sequence[str]) -> list[str]:
    """The clients that drive ``scenario``: wrk only sends the GET scenarios."""
    return [c for c in clients if c == "python" or scenario in GET_SCENARIOS]


def bench_dataset(
    name: str,
    home: Path,
    args: argparse.Namespace,
    clients: Sequence[str],
    pg_server: Any = None,
) -> dict[str, Any]:
    """Every chosen scenario and client on one data home, ``--repeat`` rounds of pairs.

    Per round: one bare server for all twins; for each scenario and store (``args.stores``; the
    stores' order alternates between rounds) our server, started afresh (with the scenario's
    settings and the store's ``RECSYS_STORE``, after the live events for ``user_recs_live``),
    and per client a bare run followed by our run. Each store is restored after each scenario
    that writes: the SQLite file from a backup, the PostgreSQL database (a copy of the SQLite
    store in ``pg_server``, made first) from its template.

    Returns:
        The dataset's results: per scenario and client the runs, pair rows and summary of the
        SQLite store (``results``) and the target checks on them; with the PostgreSQL store its
        results, copy and server settings under ``postgresql``, and with both stores the
        ``comparison`` rows (:func:`store_comparison`).
    """
    from api.testing import free_port, stop_server, wait_ready

    LOGS.mkdir(parents=True, exist_ok=True)
    stores: list[str] = list(args.stores)
    users, items, owned = bundle_ids(home)
    print(f"{name}: {len(users)} users, {len(items)} items", flush=True)
    chosen = [s for s in SCENARIOS if s in args.scenarios]
    scenarios: dict[str, list[str]] = {}
    for scenario in chosen:
        if clients_of(scenario, clients):
            scenarios[scenario] = clients_of(scenario, clients)
        else:
            print(f"{scenario}: no chosen client sends it (wrk sends GET scenarios only)")
    runs: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {
        store: {scenario: {c: [] for c in per} for scenario, per in scenarios.items()}
        for store in stores
    }
    live_users = list(dict.fromkeys(requested_users(users)))
    pg: PostgresCopy | None = None
    pg_data: dict[str, Any] = {}
    if "postgresql" in stores:
        pg = PostgresCopy(pg_server, name)
        print(f"{name}: copying {home / 'recsys.sqlite3'} into PostgreSQL ({pg.db})", flush=True)
        pg_data = {"store": pg.url, **pg.server_info(), "copy": pg.create(home)}
        print(f"{name}: PostgreSQL copy {pg_data['copy']}", flush=True)
    urls = {"sqlite": None, "postgresql": pg.url if pg else None}
    store = home / "recsys.sqlite3"
    snapshot = LOGS / f"{name}-store-before.sqlite3"
    copy_sqlite(store, snapshot)
    added: dict[str, int] = {}
    # per store and A/A scenario, one entry per round: the exposures it wrote, the answers it
    # sent (ranking counts, warm-ups included) and one probe answer's experiment fields
    exposures: dict[str, dict[str, list[dict[str, Any]]]] = {
        which: {s: [] for s in scenarios if s in AB_TWINS} for which in stores
    }

    def restore(which: str) -> None:
        if which == "sqlite":
            copy_sqlite(snapshot, store)
        elif pg is not None:
            pg.restore()

    try:
        for round_ in range(args.repeat):
            print(f"{name}: round {round_ + 1} of {args.repeat}", flush=True)
            order = stores if round_ % 2 == 0 else stores[::-1]
            bare_port = free_port()
            bare_log = LOGS / f"{name}-bare.log"
            bare = start_server(
                "bare",
                None,
                bare_port,
                args.workers,
                args.threads,
                bare_log,
                inline_reads=args.inline_reads == "on",
            )
            try:
                wait_ready(bare_port, "/bare", bare, log=bare_log)
                for scenario in round_order(list(scenarios), round_):
                    scenario_clients = scenarios[scenario]
                    for which in order:
                        shown = which if len(stores) > 1 or which != "sqlite" else None
                        if scenario in LIVE_SCENARIOS:
                            added[which] = add_live_events(
                                home, live_users, users, items, owned, urls[which]
                            )
                        if scenario in AB_TWINS:  # read by the server as it starts
                            start_ab_experiment(home, urls[which])
                        port = free_port()
                        suffix = "" if which == "sqlite" else f"-{which}"
                        log = LOGS / f"{name}-{scenario}{suffix}.log"
                        settings = {
                            **SERVER_SETTINGS.get(scenario, {}),
                            "RECSYS_STORE": urls[which],
                        }
                        proc = start_server(
                            "api",
                            home,
                            port,
                            args.workers,
                            args.threads,
                            log,
                            settings,
                            inline_reads=args.inline_reads == "on",
                        )
                        counted = scenario in USER_SCENARIOS or scenario == "replay"
                        logged: dict[str, Any] | None = None
                        try:
                            wait_ready(port, "/readyz", proc, log=log)
                            if scenario in AB_TWINS:
                                logged = {"probe": check_ab_answer(port, live_users[0])}
                            for client in scenario_clients:
                                twin = measure(
                                    client, scenario, "bare", bare_port, users, items, args, shown
                                )
                                before = ranking_counts(port) if counted else {}
                                ours = measure(
                                    client, scenario, "ours", port, users, items, args, shown
                                )
                                if counted:  # this run's answers only: the counters add up
                                    after = ranking_counts(port)
                                    ours["ranking"] = {
                                        k: after[k] - before.get(k, 0.0) for k in after
                                    }
                                runs[which][scenario][client].append({"bare": twin, "ours": ours})
                            if logged is not None:  # the writer thread flushes every second
                                time.sleep(EXPOSURE_SETTLE_S)
                                logged["answers"] = sum(
                                    r["ours"]["ranking"].get(k, 0.0)
                                    for per in runs[which][scenario].values()
                                    for r in per[-1:]
                                    for k in ("precomputed", "live")
                                )
                                logged["exposures"] = count_exposures(home, urls[which])
                        finally:
                            stop_server(proc)
                            if scenario in WRITES:
                                restore(which)
                        if logged is not None:
                            exposures[which][scenario].append(logged)
                            print(
                                f"  {scenario:<17} {which}: {logged['exposures']} exposures "
                                f"written for {logged['answers']:.0f} answers (store restored)",
                                flush=True,
                            )
                            if logged["exposures"] <= 0:
                                raise RuntimeError(
                                    f"{scenario}: no exposure was written to the {which} store: "
                                    "the logging cost cannot be measured"
                                )
            finally:
                stop_server(bare)
    finally:
        copy_sqlite(snapshot, store)
        snapshot.unlink()
        if pg is not None:
            pg.drop()
    results = {
        which: {
            scenario: {
                client: summarize(scenario, pairs, which) for client, pairs in per_client.items()
            }
            for scenario, per_client in per_store.items()
        }
        for which, per_store in runs.items()
    }
    sqlite_results = results.get("sqlite", {})
    data: dict[str, Any] = {
        "users": len(users),
        "items": len(items),
        "scenarios": list(scenarios),
        "clients": list(clients),
        "stores": stores,
        "live_users": len(live_users),
        "live_events_added": added.get("sqlite", 0),
        "results": sqlite_results,  # the SQLite store's: what the targets are checked on
        "targets": target_checks(sqlite_results),
    }
    if any(exposures.get("sqlite", {}).values()):
        data["exposures"] = exposures["sqlite"]
        data["logging_cost"] = logging_costs(sqlite_results)
    if pg is not None:
        data["postgresql"] = pg_data | {
            "live_events_added": added.get("postgresql", 0),
            "results": results["postgresql"],
        }
        if any(exposures["postgresql"].values()):
            data["postgresql"] |= {
                "exposures": exposures["postgresql"],
                "logging_cost": logging_costs(results["postgresql"]),
            }
    if "sqlite" in results and "postgresql" in results:
        data["comparison"] = store_comparison(results["sqlite"], results["postgresql"])
    return data


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


def summarize(scenario: str, runs: list[dict[str, Any]], store: str = "sqlite") -> dict[str, Any]:
    """The pairs of one scenario and client, and their medians.

    Args:
        scenario: the scenario's name.
        runs: ``[{"bare": run, "ours": run}, ...]`` in the order measured.
        store: the store our server used (``sqlite`` or ``postgresql``), kept in the summary.

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
        "store": store,
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


def store_comparison(
    sqlite: dict[str, dict[str, Any]], postgresql: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """PostgreSQL vs SQLite per scenario and client, on the medians of our server's runs.

    Args:
        sqlite: per scenario and client, :func:`summarize`'s output on the SQLite store.
        postgresql: the same on the PostgreSQL store.

    Returns:
        One row per scenario and client run on both stores: ``unit`` (``req/s``; ``events/s``
        for ``events`` = req/s x the batch size; ``pages/s`` for the replay), each store's
        throughput, p50 and p99 (ms) and error total, ``ratio`` = postgresql / sqlite
        throughput and ``p99_ratio`` = postgresql / sqlite p99; after a replay row one row per
        step (``step`` set; p50/p99 only).
    """
    rows: list[dict[str, Any]] = []
    for scenario, per_client in sqlite.items():
        for client, entry in per_client.items():
            other = postgresql.get(scenario, {}).get(client)
            if other is None:
                continue
            a, b = entry["summary"], other["summary"]
            key, unit = {"events": ("events_per_s", "events/s"), "replay": ("ours", "pages/s")}.get(
                scenario, ("ours", "req/s")
            )
            rows.append(
                {
                    "scenario": scenario,
                    "client": client,
                    "step": None,
                    "unit": unit,
                    "sqlite": a.get(key),
                    "postgresql": b.get(key),
                    "ratio": _ratio(b.get(key), a.get(key)),
                    "sqlite_p50_ms": a["ours_p50_ms"],
                    "postgresql_p50_ms": b["ours_p50_ms"],
                    "sqlite_p99_ms": a["ours_p99_ms"],
                    "postgresql_p99_ms": b["ours_p99_ms"],
                    "p99_ratio": _ratio(b["ours_p99_ms"], a["ours_p99_ms"]),
                    "sqlite_errors": a["ours_errors"],
                    "postgresql_errors": b["ours_errors"],
                }
            )
            for label, step in a.get("steps", {}).items():
                other_step = b.get("steps", {}).get(label)
                if other_step is None:
                    continue
                rows.append(
                    {
                        "scenario": scenario,
                        "client": client,
                        "step": label,
                        "unit": None,
                        "sqlite": None,
                        "postgresql": None,
                        "ratio": None,
                        "sqlite_p50_ms": step["ours_p50_ms"],
                        "postgresql_p50_ms": other_step["ours_p50_ms"],
                        "sqlite_p99_ms": step["ours_p99_ms"],
                        "postgresql_p99_ms": other_step["ours_p99_ms"],
                        "p99_ratio": _ratio(other_step["ours_p99_ms"], step["ours_p99_ms"]),
                        "sqlite_errors": None,
                        "postgresql_errors": None,
                    }
                )
    return rows


def logging_costs(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The cost of experiment impression logging: each A/A scenario against its plain twin.

    Args:
        results: per scenario and client, :func:`summarize`'s output on one store.

    Returns:
        One row per A/A scenario and client run with its plain twin: ``plain`` and ``ab`` (the
        medians of our server's throughput), ``ratio`` = ab / plain (ratio of the medians) and
        ``cost`` = 1 - ratio (issue 24's measure, ``met`` when <= :data:`MAX_LOGGING_COST`);
        ``paired``: per round ab / plain of the two runs of that round (they run next to each
        other), and ``normalized``: per round (ab / its bare twin) / (plain / its bare twin),
        each with its median, min and max; both sides' median p50 and p99.
    """
    rows = []
    for ab, plain in AB_TWINS.items():
        for client in results.get(ab, {}):
            if client not in results.get(plain, {}):
                continue
            a, p = results[ab][client], results[plain][client]
            rounds = list(zip(p["pairs"], a["pairs"], strict=False))
            paired = [_ratio(y["ours"], x["ours"]) for x, y in rounds]
            normalized = [_ratio(y["ratio"], x["ratio"]) for x, y in rounds]
            ratio = _ratio(a["summary"]["ours"], p["summary"]["ours"])
            cost = None if ratio is None else round(1.0 - ratio, 3)
            rows.append(
                {
                    "scenario": ab,
                    "twin": plain,
                    "client": client,
                    "plain": p["summary"]["ours"],
                    "ab": a["summary"]["ours"],
                    "ratio": ratio,
                    "cost": cost,
                    "met": None if cost is None else cost <= MAX_LOGGING_COST,
                    "paired": _spread(paired),
                    "normalized": _spread(normalized),
                    **{
                        f"{side}_{q}_ms": entry["summary"][f"ours_{q}_ms"]
                        for side, entry in (("plain", p), ("ab", a))
                        for q in ("p50", "p99")
                    },
                }
            )
    return rows


def _spread(values: Sequence[float | None]) -> dict[str, Any]:
    """``values`` (one per round) with their median, min and max (None when none is known)."""
    known = [v for v in values if v is not None]
    return {
        "values": list(values),
        "median": _median(known, 3),
        "min": min(known) if known else None,
        "max": max(known) if known else None,
    }


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
        results: per scenario and client, :func:`summarize`'s output on the SQLite store (the
            targets are about it; each check says so in ``store``).

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
                    "store": "sqlite",
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
                    "store": "sqlite",
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


def store_results(data: dict[str, Any], store: str) -> dict[str, dict[str, Any]]:
    """A dataset's results on ``store`` (per scenario and client; empty when not run)."""
    if store == "sqlite":
        return data.get("results", {})  # type: ignore[no-any-return]
    return data.get(store, {}).get("results", {})  # type: ignore[no-any-return]


def _stores_note(data: dict[str, Any]) -> str:
    """How the stores were set up, for a dataset run on the PostgreSQL store."""
    pg = data.get("postgresql")
    if not pg:
        return ""
    copy = pg.get("copy", {})
    skipped = {k: v for k, v in copy.get("not_copied", {}).items() if v}
    return (
        f"Stores: {', '.join(f'`{s}`' for s in data['stores'])}. `postgresql`: PostgreSQL "
        f"{pg.get('server_version')} on 127.0.0.1 of this machine, with its default settings "
        f"(fsync {pg.get('fsync')}, synchronous_commit {pg.get('synchronous_commit')}, "
        f"shared_buffers {pg.get('shared_buffers')}), sharing the CPUs with the API servers and "
        f"the load generator; a copy of the home's SQLite store in store order "
        f"({copy.get('events')} events, positions up to {copy.get('last_seq')} as in SQLite, "
        f"{copy.get('gaps', 0)} gap(s); {copy.get('items')} items; {copy.get('copy_s')} s"
        + (f"; not copied: {skipped}" if skipped else "")
        + "). After each scenario that writes, the store is restored: "
        + ("SQLite from a backup, " if "sqlite" in data["stores"] else "")
        + "PostgreSQL by DROP DATABASE ... WITH (FORCE) + CREATE DATABASE ... TEMPLATE "
        "<snapshot> + CHECKPOINT."
    )


def _comparison_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The "PostgreSQL vs SQLite" table of :func:`store_comparison`'s rows."""
    lines = [
        "PostgreSQL vs SQLite (our server's medians on each store; ratio = postgresql / "
        "sqlite; events/s = req/s x "
        f"{BATCH} events per batch):",
        "",
        "| scenario | client | unit | sqlite | postgresql | ratio | sqlite p50 ms | "
        "postgresql p50 ms | sqlite p99 ms | postgresql p99 ms | p99 ratio | "
        "errors sqlite/postgresql |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        scenario = row["scenario"] + (f" ({row['step']} step)" if row["step"] else "")
        errors = "" if row["step"] else f"{row['sqlite_errors']}/{row['postgresql_errors']}"
        lines.append(
            f"| {scenario} | {row['client']} | {row['unit'] or ''} | "
            f"{'' if row['step'] else _cell(row['sqlite'], ',.0f')} | "
            f"{'' if row['step'] else _cell(row['postgresql'], ',.0f')} | "
            f"{'' if row['step'] else _cell(row['ratio'], '.2f')} | "
            f"{_cell(row['sqlite_p50_ms'])} | {_cell(row['postgresql_p50_ms'])} | "
            f"{_cell(row['sqlite_p99_ms'])} | {_cell(row['postgresql_p99_ms'])} | "
            f"{_cell(row['p99_ratio'], '.2f')} | {errors} |"
        )
    return lines


def _logging_lines(
    rows: list[dict[str, Any]], exposures: dict[str, list[dict[str, Any]]], store: str
) -> list[str]:
    """The "experiment impression logging" section of :func:`logging_costs`'s rows."""
    lines = [
        f"Experiment impression logging (issue 24; {store} store): each `*_ab` scenario is its "
        f"plain twin with an A/A experiment (`{AB_EXPERIMENT}`: "
        f"{', '.join(f'`{v}`' for v in AB_VARIANTS)}, {AB_TRAFFIC}, every user enrolled) "
        "started in the store before our server starts, so every answer is the plain path's "
        "plus the experiment's fields and one exposure, written by a background thread every "
        "second; the two run next to each other in every round (in alternating order). "
        "**Logging cost = 1 - ab/plain** (medians of our server's throughput); also per round "
        "the paired ab/plain and the same normalized by each run's bare twin "
        "(median [min, max]). Target: cost <= "
        f"{MAX_LOGGING_COST:.0%}.",
        "",
        "| scenario | client | plain req/s | ab req/s | ab/plain | logging cost | "
        "paired ab/plain | bare-normalized | p99 plain/ab ms | exposures per round | target |",
        "|---|---|---:|---:|---:|---:|---|---|---|---|---|",
    ]

    def spread(entry: dict[str, Any]) -> str:
        return (
            f"{_cell(entry['median'], '.3f')} [{_cell(entry['min'], '.3f')}, "
            f"{_cell(entry['max'], '.3f')}]"
        )

    for row in rows:
        logged = exposures.get(row["scenario"], [])
        written = ", ".join(f"{e['exposures']:,}/{e['answers']:,.0f}" for e in logged)
        lines.append(
            f"| {row['scenario']} vs {row['twin']} | {row['client']} | "
            f"{_cell(row['plain'], ',.0f')} | {_cell(row['ab'], ',.0f')} | "
            f"{_cell(row['ratio'], '.3f')} | {_cell(row['cost'], '.1%')} | "
            f"{spread(row['paired'])} | {spread(row['normalized'])} | "
            f"{_cell(row['plain_p99_ms'])}/{_cell(row['ab_p99_ms'])} | "
            f"{written or '-'} | **{verdict(row['met'])}** |"
        )
    lines += [
        "",
        "Exposures per round = rows of the experiment in the store's `exposures` table after the "
        "scenario's runs (counted before the store was restored) / answers our server sent "
        "during them (`/metrics` ranking counts; all clients, warm-ups included). The store is "
        "restored after every `*_ab` scenario, so neither the experiment nor its exposures "
        "reach another scenario.",
    ]
    return lines


def markdown(result: dict[str, Any]) -> str:
    """The report: per dataset the scenario table, the replay's steps, the pairs, the targets.

    A dataset run on the PostgreSQL store also gets a ``store`` column, each store's replay
    steps and pairs, and (with both stores) the "PostgreSQL vs SQLite" table.
    """
    wrk = result.get("wrk") or "not installed"
    lines = [
        f"Machine: {result['machine']}. Per dataset, scenario and client {result['repeat']} "
        f"pair{'s' if result['repeat'] != 1 else ''}, each a run on the bare twin then one on "
        "our server: "
        f"{result['concurrency']} concurrent keep-alive connections, {result['duration_s']} s "
        f"measured after {result['warmup_s']} s warm-up; gunicorn gthread, "
        f"{result['workers']} workers x {result['threads']} threads, "
        + (
            "GET reads on each worker's main thread (`--inline-reads`). "
            if result.get("inline_reads", "off") == "on"
            else "every request in a pool thread. "
        )
        + "Clients: `python` (the "
        f"asyncio generator, a process of its own), `wrk` ({wrk}; `-t1`, GET scenarios only), "
        "both on the same machine. Medians over the pairs: each side's req/s, p50 and p99; "
        "ratio = median of the pairs' throughput ratios; p99 ratio = our median p99 / bare's.",
        "",
    ]
    for name, data in result["datasets"].items():
        stores = data.get("stores", ["sqlite"])
        plain = stores == ["sqlite"]  # the report as before the store option
        added = f"{data.get('live_events_added', 0)} stored"
        if not plain:
            counts = {
                s: (data if s == "sqlite" else data[s]).get("live_events_added", 0) for s in stores
            }
            added = ", ".join(f"{n} stored in {s}" for s, n in counts.items())
        lines += [
            f"### {name} ({data['users']} users, {data['items']} items)",
            "",
            f"Run {data['started']}; load average before `{data['loadavg_before']}`, after "
            f"`{data['loadavg_after']}`. `user_recs_live`: one view event added for each of "
            f"its {data['live_users']} users ({added}).",
            "",
        ]
        if not plain:
            lines += [_stores_note(data), ""]
        store_col = "" if plain else " store |"
        lines += [
            f"| scenario | client |{store_col} ours req/s | bare req/s | ratio | ours p50 ms | "
            "bare p50 ms | ours p99 ms | bare p99 ms | p99 ratio | errors ours/bare | note |",
            "|---|---|"
            + ("" if plain else "---|")
            + "---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        ran = [store_results(data, store) for store in stores]
        for scenario in dict.fromkeys(sc for results in ran for sc in results):
            for client in dict.fromkeys(c for results in ran for c in results.get(scenario, {})):
                for store in stores:
                    entry = store_results(data, store).get(scenario, {}).get(client)
                    if entry is None:
                        continue
                    s = entry["summary"]
                    shown = "" if plain else f" {store} |"
                    lines.append(
                        f"| {scenario} | {client} |{shown} {_cell(s['ours'], '.0f')} | "
                        f"{_cell(s['bare'], '.0f')} | {_cell(s['ratio'], '.0%')} | "
                        f"{_cell(s['ours_p50_ms'])} | {_cell(s['bare_p50_ms'])} | "
                        f"{_cell(s['ours_p99_ms'])} | {_cell(s['bare_p99_ms'])} | "
                        f"{_cell(s['p99_ratio'], '.2f')} | {s['ours_errors']}/{s['bare_errors']} | "
                        f"{_note(scenario, s)} |"
                    )
        for store in stores:
            for client, entry in store_results(data, store).get("replay", {}).items():
                s = entry["summary"]
                on = "" if plain else f", {store}"
                lines += [
                    "",
                    f"Storefront replay ({client}{on}), per step: {_cell(s['ours'], '.0f')} "
                    f"pages/s against {_cell(s['bare'], '.0f')} on the bare routes.",
                    "",
                    "| step | ours p50 ms | ours p99 ms | bare p50 ms | bare p99 ms | p99 ratio |",
                    "|---|---:|---:|---:|---:|---:|",
                ]
                for label, step in s.get("steps", {}).items():
                    lines.append(
                        f"| {label} | {_cell(step['ours_p50_ms'])} | "
                        f"{_cell(step['ours_p99_ms'])} | {_cell(step['bare_p50_ms'])} | "
                        f"{_cell(step['bare_p99_ms'])} | {_cell(step['p99_ratio'], '.2f')} |"
                    )
                lines.append(
                    f"| whole page | {_cell(s['ours_p50_ms'])} | {_cell(s['ours_p99_ms'])} | "
                    f"{_cell(s['bare_p50_ms'])} | {_cell(s['bare_p99_ms'])} | "
                    f"{_cell(s['p99_ratio'], '.2f')} |"
                )
        if data.get("comparison"):
            lines += ["", *_comparison_lines(data["comparison"])]
        lines += ["", "Pairs in order (ours/bare throughput = ratio; p99 ours/bare ms):", ""]
        for store in stores:
            for scenario, per_client in store_results(data, store).items():
                for client, entry in per_client.items():
                    shown = ", ".join(
                        f"{p['ours']:.0f}/{p['bare']:.0f} = {_cell(p['ratio'], '.0%')} "
                        f"(p99 {_cell(p['ours_p99_ms'])}/{_cell(p['bare_p99_ms'])})"
                        for p in entry["pairs"]
                    )
                    on = "" if plain else f", {store}"
                    lines.append(f"- {scenario}, {client}{on}: {shown}")
        on_rows = "" if plain else " of the SQLite store's rows only"
        lines += ["", f"Targets (issue 20), on the medians{on_rows}:", ""]
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
        for store in stores:
            where = data if store == "sqlite" else data.get(store, {})
            if where.get("logging_cost"):
                lines += ["", *_logging_lines(where["logging_cost"], where["exposures"], store)]
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
    parser.add_argument(
        "--inline-reads",
        choices=["on", "off"],
        default="on",
        help="both servers answer their GET reads on each worker's main thread (on: `recsys "
        "serve`'s default over SQLite) or every request in a pool thread (off: gthread, the "
        "default before 2026-12-07 and over PostgreSQL)",
    )
    parser.add_argument(
        "--store",
        choices=["sqlite", "postgresql", "both"],
        default="sqlite",
        help="the store our server uses: the home's SQLite file, a PostgreSQL copy of it on a "
        "throw-away local server, or both in one run (default: sqlite)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="result file (default: benchmarks/results/api_latency.json; with --store "
        "postgresql or both: api_latency_postgres.json)",
    )
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
    args.stores = list(STORES) if args.store == "both" else [args.store]
    if args.out is None:
        stem = "api_latency" if args.store == "sqlite" else "api_latency_postgres"
        args.out = RESULTS / f"{stem}.json"
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
        "machine": machine_line(),
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "repeat": args.repeat,
        "workers": args.workers,
        "threads": args.threads,
        "inline_reads": args.inline_reads,
        "wrk": version,
    }
    with contextlib.ExitStack() as stack:
        pg_server = None
        if "postgresql" in args.stores:  # one server for the run, a database per dataset
            pg_server = start_postgres()
            stack.callback(pg_server.close)
        for name in chosen:
            started = datetime.now(UTC).isoformat(timespec="seconds")
            before = Path("/proc/loadavg").read_text().strip()
            data = bench_dataset(name, homes[name], args, clients, pg_server)
            data |= {
                "started": started,
                "loadavg_before": before,
                "loadavg_after": Path("/proc/loadavg").read_text().strip(),
            }
            result["datasets"][name] = data
    write_result(args.out, result, markdown(result))
    print(markdown(result))


def exit_on_sigterm() -> None:
    """Make ``kill`` / ``pkill`` (SIGTERM) unwind the run as Ctrl-C does.

    Python's default for SIGTERM ends the process at once, skipping every ``finally``: a write
    scenario's events then stayed in the benchmark home (277,300 of them in the synthetic
    store on 2026-12-07) and its servers kept running. Raised as ``SystemExit`` instead, the
    ``finally`` blocks stop the servers and restore the stores.
    """

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


if __name__ == "__main__":
    exit_on_sigterm()
    main()
