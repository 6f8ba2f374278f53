"""HTTP API latency and throughput under concurrent load, beside a bare Flask endpoint.

Starts the real server (``recsys serve``: gunicorn, gthread workers) on 127.0.0.1 and, with the
same gunicorn settings, a bare Flask app whose one route returns a small JSON object (the
framework's ceiling on this machine). A load generator in a separate process (asyncio protocol
callbacks, keep-alive HTTP/1.1 connections, ``--concurrency`` clients, closed loop) drives each
scenario for a fixed time after a warm-up and records every request's latency:

* ``bare``: ``GET /bare`` on the bare app;
* ``user_recs``: ``GET /v1/users/<random trained user>/recommendations?n=20`` (no pitch), on a
  store whose users have no events since training, so answers come from the precomputed lists
  (the share is read from ``/metrics`` and reported);
* ``user_recs_flask``: the same requests on a server started with ``RECSYS_API_FAST_PATH=false``:
  answered through Flask's dispatch instead of the route's lean path (``api.fastpath``);
* ``user_recs_live``: the same requests on a server started with ``RECSYS_API_PRECOMPUTED=false``:
  every answer ranked live, as for a user with events since training;
* ``similar``: ``GET /v1/items/<random item>/similar?n=20``;
* ``events``: ``POST /v1/events`` with batches of 100 random events (durable before 202).

Datasets: ``ml-100k`` (a home built with ``recsys load-demo`` + ``recsys train``) and
``synthetic``: 100k items x 50k users written directly through the bundle writer from random
vectors (64-d ALS factors, 384-d unit text vectors, 20 interactions per user, also stored as
events so that user requests read a real history), with the default index config (HNSW above
50k items). Building it takes a few minutes once; it is reused afterwards.

Usage (timing runs hold the shared benchmark lock)::

    RECSYS_HOME=var/api-bench .venv/bin/recsys load-demo --dataset ml-100k
    RECSYS_HOME=var/api-bench .venv/bin/recsys train
    .venv/bin/python benchmarks/api_latency.py --build-synthetic
    flock /tmp/recsys-bench.lock .venv/bin/python benchmarks/api_latency.py --dataset both

Writes ``benchmarks/results/api_latency.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ML_HOME = ROOT / "var" / "api-bench"
SYNTH_HOME = ROOT / "var" / "api-bench-synth"
KEY = "bench-write-key"
SEED = 7
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
    from recsys.training import precompute_lists
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
class _Client(asyncio.Protocol):
    """One keep-alive connection in a closed loop: send a request, wait for the whole answer.

    A protocol rather than stream reads: its callbacks run no coroutine per request, so the load
    generator takes less of the CPUs it shares with the server (measured: ~100 us of CPU per
    request instead of ~147 us with ``StreamReader.readline`` per header line).
    """

    def __init__(self, run: _Run, offset: int) -> None:
        self.run = run
        self.k = offset
        self.buffer = b""
        self.t0 = 0.0
        self.waiting = False  # a request was sent and its answer is not complete
        self.transport: asyncio.Transport | None = None
        self.closed = run.loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.send()

    def send(self) -> None:
        run = self.run
        if time.perf_counter() >= run.deadline:
            assert self.transport is not None
            self.transport.close()
            return
        self.buffer = b""
        self.waiting = True
        self.t0 = time.perf_counter()
        assert self.transport is not None
        self.transport.write(run.requests[self.k % len(run.requests)])
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
        self.waiting = False
        self.run.record(self.t0, time.perf_counter() - self.t0, int(head.split()[1]))
        if close:
            assert self.transport is not None
            self.transport.close()
            self.run.reconnect(self.k)
        else:
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiting:  # the server dropped the connection before answering
            self.waiting = False
            self.run.failed(self.t0, type(exc).__name__ if exc else "ConnectionClosed")
            if time.perf_counter() < self.run.deadline:
                self.run.reconnect(self.k)
        if not self.closed.done():
            self.closed.set_result(None)


class _Run:
    """Shared state of one load run: requests, clock, results."""

    def __init__(
        self, port: int, requests: list[bytes], measure_from: float, deadline: float
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.port, self.requests = port, requests
        self.measure_from, self.deadline = measure_from, deadline
        self.lat: list[float] = []
        self.errors: list[str] = []
        self.clients: list[_Client] = []

    def record(self, t0: float, dt: float, status: int) -> None:
        if t0 >= self.measure_from:
            self.lat.append(dt)
            if status >= 300:
                self.errors.append(str(status))

    def failed(self, t0: float, kind: str) -> None:
        if t0 >= self.measure_from:
            self.errors.append(kind)

    def reconnect(self, offset: int) -> None:
        self.loop.create_task(self.connect(offset))

    async def connect(self, offset: int) -> None:
        _, client = await self.loop.create_connection(
            lambda: _Client(self, offset), "127.0.0.1", self.port
        )
        self.clients.append(client)


def run_load(
    port: int, requests: list[bytes], concurrency: int, warmup: float, duration: float
) -> dict[str, Any]:
    """Closed-loop load for warmup + duration seconds; latencies of the measured part."""
    result: dict[str, list[Any]] = {}

    async def main() -> None:
        start = time.perf_counter()
        run = _Run(port, requests, start + warmup, start + warmup + duration)
        step = max(1, len(requests) // concurrency)
        await asyncio.gather(*(run.connect(i * step) for i in range(concurrency)))
        await asyncio.sleep(warmup + duration)
        give_up = time.perf_counter() + 30
        while not all(c.closed.done() for c in run.clients):  # let the last answers arrive
            if time.perf_counter() > give_up:
                for client in run.clients:
                    if client.transport is not None:
                        client.transport.abort()
                raise RuntimeError("the server did not answer within 30 s of the end")
            await asyncio.sleep(0.05)
        result["lat"], result["errors"] = run.lat, run.errors

    asyncio.run(main())
    lat, errors = result["lat"], result["errors"]
    ms = np.asarray(lat) * 1000.0
    return {
        "requests": len(lat),
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "rps": round(len(lat) / duration, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2) if ms.size else None,
        "p95_ms": round(float(np.percentile(ms, 95)), 2) if ms.size else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 2) if ms.size else None,
        "max_ms": round(float(ms.max()), 2) if ms.size else None,
    }


def http_request(method: str, path: str, body: bytes = b"", auth: bool = False) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    if body:
        head += "Content-Type: application/json\r\n"
    if auth:
        head += f"Authorization: Bearer {KEY}\r\n"
    return (head + "\r\n").encode() + body


def scenario_requests(name: str, users: list[str], items: list[str], n: int) -> list[bytes]:
    rng = np.random.default_rng(SEED)
    if name == "bare":
        return [http_request("GET", "/bare")]
    if name == "user_recs":
        return [
            http_request("GET", f"/v1/users/{u}/recommendations?n=20") for u in rng.choice(users, n)
        ]
    if name == "similar":
        return [http_request("GET", f"/v1/items/{i}/similar?n=20") for i in rng.choice(items, n)]
    if name == "events":
        out = []
        types = ["view", "click", "add_to_cart", "purchase"]
        for b in range(max(1, n // 10)):
            events = [
                {"user_id": str(u), "item_id": str(i), "type": str(t), "event_id": f"b{b}-{k}"}
                for k, (u, i, t) in enumerate(
                    zip(
                        rng.choice(users, 100),
                        rng.choice(items, 100),
                        rng.choice(types, 100),
                        strict=True,
                    )
                )
            ]
            out.append(
                http_request(
                    "POST", "/v1/events", json.dumps({"events": events}).encode(), auth=True
                )
            )
        return out
    raise ValueError(name)


def load_process(args: argparse.Namespace) -> None:
    """Entry point of the load-generator process: prints one JSON line."""
    spec = json.loads(Path(args.load).read_text())
    requests = scenario_requests(spec["scenario"], spec["users"], spec["items"], spec["n"])
    result = run_load(spec["port"], requests, spec["concurrency"], spec["warmup"], spec["duration"])
    print(json.dumps(result), flush=True)


def drive(
    scenario: str,
    port: int,
    users: list[str],
    items: list[str],
    args: argparse.Namespace,
    tmp: Path,
) -> dict[str, Any]:
    spec = {
        "scenario": scenario,
        "port": port,
        "users": users,
        "items": items,
        "n": 20_000,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "duration": args.duration,
    }
    spec_path = tmp / f"load-{scenario}.json"
    spec_path.write_text(json.dumps(spec))
    out = subprocess.run(
        [sys.executable, __file__, "--load", str(spec_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if scenario == "events":
        result["events_per_s"] = round(result["rps"] * 100, 1)
    print(f"  {scenario:<10} {result}", flush=True)
    return result


def copy_sqlite(src: Path, dst: Path) -> None:
    """Copy a SQLite database with its online backup API (consistent, WAL included)."""
    import sqlite3

    with sqlite3.connect(src) as source, sqlite3.connect(dst) as target:
        source.backup(target)
    source.close()
    target.close()


def bench_dataset(name: str, home: Path, args: argparse.Namespace) -> dict[str, Any]:
    from api.testing import free_port, served_ids, stop_server, wait_ready

    tmp = ROOT / "var" / "api-bench-logs"
    tmp.mkdir(parents=True, exist_ok=True)
    users, items = served_ids(home)
    print(f"{name}: {len(users)} users, {len(items)} items", flush=True)
    out: dict[str, Any] = {"users": len(users), "items": len(items)}
    # bare and user_recs alternate `--repeat` times, each on a fresh server: on this shared
    # 2-core VM one 20 s run varies by +-30%, so the verdict uses the pairs' medians
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for _ in range(args.repeat):
        port = free_port()
        log = tmp / f"{name}-bare.log"
        proc = start_server("bare", None, port, args.workers, args.threads, log)
        try:
            wait_ready(port, "/bare", proc)
            bare = drive("bare", port, users, items, args, tmp)
        finally:
            stop_server(proc)
        port = free_port()
        proc = start_server("api", home, port, args.workers, args.threads, tmp / f"{name}-api.log")
        try:
            wait_ready(port, "/readyz", proc)
            recs = drive("user_recs", port, users, items, args, tmp)
            recs["ranking"] = ranking_counts(port)
        finally:
            stop_server(proc)
        pairs.append((bare, recs))
    ratios = [r["rps"] / b["rps"] for b, r in pairs]
    middle = sorted(range(len(pairs)), key=lambda k: ratios[k])[len(pairs) // 2]
    out["bare"], out["user_recs"] = pairs[middle]  # the pair with the median ratio
    out["pairs"] = [
        {
            "bare_rps": b["rps"],
            "user_recs_rps": r["rps"],
            "ratio": round(r["rps"] / b["rps"], 3),
            "user_recs_p99_ms": r["p99_ms"],
            "bare_p99_ms": b["p99_ms"],
        }
        for b, r in pairs
    ]
    out["user_recs_p99_median_ms"] = float(np.median([r["p99_ms"] for _, r in pairs]))
    port = free_port()
    # the events scenario writes ~100k events into the store; without a restore every later run
    # would serve users whose histories grew by them (ML-100K: 100k -> 283k events after two runs)
    store = home / "recsys.sqlite3"
    snapshot = tmp / f"{name}-store-before.sqlite3"
    copy_sqlite(store, snapshot)
    proc = start_server("api", home, port, args.workers, args.threads, tmp / f"{name}-api.log")
    try:
        wait_ready(port, "/readyz", proc)
        for scenario in ("similar", "events"):
            out[scenario] = drive(scenario, port, users, items, args, tmp)
    finally:
        stop_server(proc)
        copy_sqlite(snapshot, store)
    # the same requests answered through Flask's dispatch (no fast path), and ranked live (what
    # users with events since training get)
    variants = {
        "user_recs_flask": {"RECSYS_API_FAST_PATH": "false"},
        "user_recs_live": {"RECSYS_API_PRECOMPUTED": "false"},
    }
    try:
        for scenario, settings in variants.items():
            port = free_port()
            log = tmp / f"{name}-{scenario}.log"
            proc = start_server("api", home, port, args.workers, args.threads, log, settings)
            try:
                wait_ready(port, "/readyz", proc)
                out[scenario] = drive("user_recs", port, users, items, args, tmp)
                out[scenario]["ranking"] = ranking_counts(port)
            finally:
                stop_server(proc)
    finally:
        copy_sqlite(snapshot, store)
        snapshot.unlink()
    out["user_recs_vs_bare"] = round(float(np.median(ratios)), 3)
    for scenario in variants:
        out[f"{scenario}_vs_bare"] = round(out[scenario]["rps"] / out["bare"]["rps"], 3)
    return out


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
    counts = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            label, value = line[len(prefix) :].split('"} ')
            counts[label] = float(value)
        elif line.startswith("recsys_fast_path_answers_total "):
            counts["fast_path"] = float(line.split()[1])
    return counts


SCENARIOS = ("bare", "user_recs", "user_recs_flask", "user_recs_live", "similar", "events")


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Machine: {result['machine']}. Per dataset: {result['concurrency']} concurrent "
        f"keep-alive clients, {result['duration_s']} s measured after {result['warmup_s']} s "
        f"warm-up per scenario; gunicorn gthread, {result['workers']} workers x "
        f"{result['threads']} threads; load generator in its own process on the same machine.",
        "",
    ]
    for name, data in result["datasets"].items():
        lines.append(
            f"- {name} ({data['users']} users, {data['items']} items): run {data['started']}, "
            f"load average before `{data['loadavg_before']}`, after `{data['loadavg_after']}`"
        )
        if data.get("pairs"):
            shown = ", ".join(
                f"{p['user_recs_rps']:.0f}/{p['bare_rps']:.0f} = {p['ratio']:.0%} "
                f"(p99 {p['user_recs_p99_ms']} ms)"
                for p in data["pairs"]
            )
            lines.append(
                f"  - user_recs/bare pairs: {shown}; median ratio "
                f"{data['user_recs_vs_bare']:.0%}, median user_recs p99 "
                f"{data['user_recs_p99_median_ms']} ms (the table shows the median pair)"
            )
    lines += [
        "",
        "| dataset | scenario | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, data in result["datasets"].items():
        for scenario in SCENARIOS:
            if scenario not in data:
                continue
            r = data[scenario]
            note = ""
            if scenario.startswith("user_recs"):
                counts = r.get("ranking", {})
                total = (counts.get("precomputed", 0.0) + counts.get("live", 0.0)) or 1.0
                note = (
                    f"{data[scenario + '_vs_bare']:.0%} of bare throughput; "
                    f"{counts.get('precomputed', 0.0) / total:.0%} of answers precomputed, "
                    f"{counts.get('fast_path', 0.0) / total:.0%} sent by the lean path"
                )
            if scenario == "events":
                note = f"{r['events_per_s']:.0f} events/s (batches of 100)"
            lines.append(
                f"| {name} | {scenario} | {r['rps']:.0f} | {r['p50_ms']} | {r['p95_ms']} | "
                f"{r['p99_ms']} | {r['max_ms']} | {r['errors']} | {note} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["ml-100k", "synthetic", "both"], default="both")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--repeat", type=int, default=3, help="bare + user_recs pairs per dataset (median used)"
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
    args = parser.parse_args()
    if args.load:
        load_process(args)
        return
    if args.build_synthetic:
        build_synthetic(
            args.synthetic_home, args.synthetic_items, args.synthetic_users, per_user=20
        )
        return
    homes = {"ml-100k": args.ml_home, "synthetic": args.synthetic_home}
    chosen = list(homes) if args.dataset == "both" else [args.dataset]
    result: dict[str, Any] = {"datasets": {}}
    if args.out.is_file():  # keep other datasets' latest results (datasets may run separately)
        result = json.loads(args.out.read_text())
    result |= {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}",
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "workers": args.workers,
        "threads": args.threads,
    }
    for name in chosen:
        started = datetime.now(UTC).isoformat(timespec="seconds")
        before = Path("/proc/loadavg").read_text().strip()
        data = bench_dataset(name, homes[name], args)
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
