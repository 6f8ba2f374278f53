"""Bulk writes against a serving API (issue 17, section 3): rows for benchmarks/RELIABILITY.md.

Both scenarios run the real server (``recsys serve``, gunicorn, 2 workers x 4 threads) on
127.0.0.1 over a private copy of a data home with a published bundle (ML-100K by default, built
as in ``benchmarks/reliability.py``), and stop it at the end:

* ``import-load``: a client process drives closed-loop load, ``--readers`` connections of
  ``GET /v1/users/<id>/recommendations?n=20`` (random trained users) and ``--writers``
  connections of ``POST /v1/events`` (one event each, with an idempotency key), and records
  every answer's status, ``Retry-After`` and latency; after ``--quiet-s`` seconds
  ``recsys import-events`` imports ``--rows`` generated events (a Parquet file of random
  trained users and items) in a subprocess; the load goes on ``--quiet-s`` seconds after the
  import ends. Reported: requests, statuses, 5xx (and 503s), read p50/p99/max before, during
  and after the import, write latencies, and the import's rows/s.
* ``catalog-put``: one ``PUT /v1/items`` of ``--items`` new items with ``--desc-chars``
  character descriptions (``max_body_bytes`` raised to 4 MB for it), while one client reads
  user recommendations every 50 ms. Reported: the answer's time and body, the time until every
  worker serves every new item by text (``manifest.live.pending_embeddings`` 0 on both workers
  and a text-similarity answer for a sample of the new items), the workers' resident memory
  before, at their peak and after, and the peak of any embedding subprocess.

Usage::

    RECSYS_HOME=var/api-bench .venv/bin/recsys load-demo --dataset ml-100k
    RECSYS_HOME=var/api-bench .venv/bin/recsys train
    flock /tmp/recsys-bench.lock .venv/bin/python benchmarks/bulk_writes.py --home var/api-bench

Options: ``--only import-load catalog-put``, ``--label`` (the key the results are stored under in
``benchmarks/results/bulk_writes.json``, e.g. ``before`` for a run of older code via
``PYTHONPATH``), ``--rows``, ``--items``. Prints Markdown rows for RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

# The server harness (api.testing) is imported in the functions that use it, not at the top: the
# load child runs this file too, and `import api` takes about a second of CPU.
ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-write-key"
RESULTS = ROOT / "benchmarks" / "results"
RECSYS = Path(sys.executable).parent / "recsys"
SEED = 2026

Row = tuple[str, float, float, int, str | None]  # kind, start, latency s, status, Retry-After


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def start_server(home: Path, port: int, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """``recsys serve`` (2 workers x 4 threads) on 127.0.0.1, ready (stop with ``stop_server``)."""
    from api.testing import start_server as start_process
    from api.testing import stop_server, wait_ready

    settings: dict[str, str | None] = {
        "RECSYS_API_CONFIG": None,
        "RECSYS_API_WRITE_KEYS": KEY,
        "RECSYS_API_SWAP_POLL_S": "0.5",
        "RECSYS_API_PRECOMPUTED": "true",
        "RECSYS_API_FAST_PATH": "true",
        **env,
    }
    proc = start_process(home, port, log, workers=2, threads=4, env=settings)
    try:
        wait_ready(port, "/readyz", proc, log=log)
    except RuntimeError:
        stop_server(proc)
        raise
    return proc


def request(
    port: int, method: str, path: str, body: Any = None, timeout: float = 30
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {KEY}"}
    from api.testing import request as http_call

    return http_call(port, method, path, body, headers, timeout=timeout)


def stats(latencies: list[float]) -> dict[str, Any]:
    if not latencies:
        return {"requests": 0}
    ms = np.asarray(latencies) * 1000
    return {
        "requests": len(latencies),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


# ------------------------------------------------------------------------------ load client
def http_bytes(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def _client(port: int, kind: str, reqs: list[bytes], stop: Path, log: list[Row]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    k = random.randrange(len(reqs))
    while not stop.exists():
        req = reqs[k % len(reqs)]
        k += 1
        t0 = time.time()
        status, retry, close = -1, None, False
        try:
            writer.write(req)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                name = name.lower()
                if name == "content-length":
                    length = int(value)
                elif name == "retry-after":
                    retry = value.strip()
                elif name == "connection" and "close" in value.lower():
                    close = True
            await reader.readexactly(length)
            status = int(status_line.split()[1])
        except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
            close = True
        log.append((kind, t0, time.time() - t0, status, retry))
        if close:
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()


def load_process(spec_path: str) -> None:
    """Child process: closed-loop readers and writers until the stop file exists."""
    spec = json.loads(Path(spec_path).read_text())
    reads = [r.encode("latin-1") for r in spec["reads"]]
    writes = [r.encode("latin-1") for r in spec["writes"]]
    stop = Path(spec["stop"])
    log: list[Row] = []

    async def main() -> None:
        await asyncio.gather(
            *(_client(spec["port"], "read", reads, stop, log) for _ in range(spec["readers"])),
            *(_client(spec["port"], "write", writes, stop, log) for _ in range(spec["writers"])),
        )

    asyncio.run(main())
    Path(spec["out"]).write_text(json.dumps(log))


# ------------------------------------------------------------------------------ import-load
def write_events(path: Path, users: list[str], items: list[str], n: int) -> None:
    import polars as pl

    rng = np.random.default_rng(SEED)
    types = np.asarray(["view", "click", "add_to_cart", "purchase"])
    pl.DataFrame(
        {
            "user_id": np.asarray(users)[rng.integers(0, len(users), n)],
            "item_id": np.asarray(items)[rng.integers(0, len(items), n)],
            "type": types[rng.integers(0, 4, n)],
            "ts": 1_600_000_000.0 + np.arange(n, dtype=np.float64) * 0.5,
        }
    ).write_parquet(path)


def window(rows: list[Row], kind: str, lo: float, hi: float) -> dict[str, Any]:
    part = [r for r in rows if r[0] == kind and lo <= r[1] < hi]
    out = stats([r[2] for r in part])
    out["statuses"] = {
        str(s): sum(1 for r in part if r[3] == s) for s in sorted({r[3] for r in part})
    }
    return out


def import_load(
    home: Path, tmp: Path, rows: int, readers: int, writers: int, quiet_s: float
) -> dict[str, Any]:
    from api.testing import free_port, served_ids, stop_server

    users, items = served_ids(home)
    events = tmp / "bulk-events.parquet"
    t0 = time.perf_counter()
    write_events(events, users, items, rows)
    print(f"import-load: wrote {rows} events in {time.perf_counter() - t0:.1f} s")
    rng = random.Random(SEED)
    reads = [
        http_bytes("GET", f"/v1/users/{rng.choice(users)}/recommendations?n=20").decode("latin-1")
        for _ in range(5000)
    ]
    writes = []
    for k in range(5000):
        event = {
            "user_id": rng.choice(users),
            "item_id": rng.choice(items),
            "type": "click",
            "event_id": f"bulk-bench-{k}",
        }
        writes.append(
            http_bytes("POST", "/v1/events", json.dumps(event).encode()).decode("latin-1")
        )
    port = free_port()
    proc = start_server(home, port, tmp / "server.log")
    stop = tmp / "stop"
    spec = {
        "port": port,
        "reads": reads,
        "writes": writes,
        "readers": readers,
        "writers": writers,
        "stop": str(stop),
        "out": str(tmp / "load.json"),
    }
    (tmp / "spec.json").write_text(json.dumps(spec))
    try:
        loader = subprocess.Popen([sys.executable, __file__, "--load", str(tmp / "spec.json")])
        time.sleep(quiet_s)
        start = time.time()
        done = subprocess.run(
            [str(RECSYS), "--home", str(home), "--no-progress", "import-events", str(events)],
            capture_output=True,
            text=True,
        )
        end = time.time()
        time.sleep(quiet_s)
        stop.touch()
        loader.wait(timeout=900)
    finally:
        stop.touch()
        stop_server(proc)
    log_text = (tmp / "server.log").read_text(errors="replace")
    everything: list[Row] = [
        (str(k), float(t), float(s), int(c), r)
        for k, t, s, c, r in json.loads((tmp / "load.json").read_text())
    ]
    status_counts: dict[str, int] = {}
    for r in everything:
        status_counts[str(r[3])] = status_counts.get(str(r[3]), 0) + 1
    five = [r for r in everything if r[3] >= 500 or r[3] < 0]
    result = {
        "rows": rows,
        "readers": readers,
        "writers": writers,
        "import_exit_code": done.returncode,
        "import_output": (done.stdout + done.stderr).strip()[-500:],
        "import_s": round(end - start, 1),
        "import_rows_per_s": round(rows / (end - start)),
        "requests": len(everything),
        "statuses": status_counts,
        "errors_5xx": len(five),
        "errors_503_with_retry_after": sum(1 for r in five if r[3] == 503 and r[4]),
        "errors_500": sum(1 for r in five if r[3] == 500),
        "server_tracebacks": log_text.count("Traceback"),
        "read": {
            "before": window(everything, "read", 0, start),
            "during": window(everything, "read", start, end),
            "after": window(everything, "read", end, float("inf")),
            "total": window(everything, "read", 0, float("inf")),
        },
        "write": {
            "during": window(everything, "write", start, end),
            "total": window(everything, "write", 0, float("inf")),
        },
    }
    print(f"import-load: {json.dumps(result)}")
    return result


# ------------------------------------------------------------------------------ catalog-put
THEMES = {
    "Running": "trail running shoe cushioned midsole grippy lugs mud breathable mesh upper "
    "marathon training long runs race day waterproof membrane reflective light foam",
    "Kitchen": "chef knife forged steel full tang sharp edge slicing vegetables meat herbs "
    "balanced handle cutting board dishwasher safe kitchen essential",
    "Garden": "garden hose brass fittings kink free lawn watering flower beds spray nozzle "
    "reel patio outdoor summer plants",
    "Audio": "wireless headphones noise cancelling bluetooth battery bass studio sound "
    "microphone calls travel comfortable ear cushions",
}


def catalog_items(n: int, chars: int) -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    names = sorted(THEMES)
    out = []
    for i in range(n):
        category = names[i % len(names)]
        pool = THEMES[category].split()
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < chars:
            words.append(rng.choice(pool))
        out.append(
            {
                "item_id": f"bulk-put-{i}",
                "title": f"{category} item {i}",
                "description": " ".join(words)[:chars],
                "category": category,
                "price": round(5 + rng.random() * 100, 2),
                "currency": "EUR",
            }
        )
    return out


def tree_rss_mb(proc: subprocess.Popen[bytes]) -> tuple[dict[int, float], float]:
    """``({worker pid: RSS MB}, largest RSS MB of any worker's child)``."""
    import psutil

    workers = psutil.Process(proc.pid).children()
    rss = {}
    child_peak = 0.0
    for w in workers:
        try:
            rss[w.pid] = round(w.memory_info().rss / 2**20, 1)
            for c in w.children(recursive=True):
                child_peak = max(child_peak, c.memory_info().rss / 2**20)
        except psutil.NoSuchProcess:
            continue
    return rss, round(child_peak, 1)


def catalog_put(home: Path, tmp: Path, n_items: int, chars: int) -> dict[str, Any]:
    from api.testing import free_port, served_ids, stop_server

    users, _ = served_ids(home)
    items = catalog_items(n_items, chars)
    body = {"items": items}
    port = free_port()
    proc = start_server(home, port, tmp / "server.log", RECSYS_API_MAX_BODY_BYTES="4000000")
    stop = threading.Event()
    reads: list[tuple[float, float, int]] = []

    def reader() -> None:
        rng = random.Random(SEED)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while not stop.is_set():
            t0 = time.time()
            try:
                conn.request("GET", f"/v1/users/{rng.choice(users)}/recommendations?n=20")
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = -1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            reads.append((t0, time.time() - t0, status))
            stop.wait(0.05)
        conn.close()

    try:
        for _ in range(50):  # warm both workers
            request(port, "GET", f"/v1/users/{users[0]}/recommendations?n=20")
        time.sleep(1.0)
        before, _ = tree_rss_mb(proc)
        peak = dict(before)
        child_peak = 0.0
        samples: list[tuple[float, dict[int, float], float]] = []
        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        t0 = time.time()
        status, answer = request(port, "PUT", "/v1/items", body, timeout=1800)
        answered = time.time()
        served_at = None
        streak = 0
        sample_ids = [items[i]["item_id"] for i in range(0, n_items, max(1, n_items // 20))]
        deadline = time.time() + 1800
        while time.time() < deadline:
            rss, child = tree_rss_mb(proc)
            samples.append((round(time.time() - t0, 1), rss, child))
            for pid, mb in rss.items():
                peak[pid] = max(peak.get(pid, 0.0), mb)
            child_peak = max(child_peak, child)
            code, model = request(port, "GET", "/v1/model")
            live = model["manifest"].get("live", {}) if code == 200 else {}
            pending = live.get("pending_embeddings", 0)
            streak = streak + 1 if pending == 0 else 0
            if streak >= 6:  # both workers (several connections): nothing pending anywhere
                by_text = all(
                    request(port, "GET", f"/v1/items/{i}/similar?n=5&mode=content")[1].get("items")
                    for i in sample_ids
                )
                if by_text:
                    served_at = time.time()
                    break
            time.sleep(0.5)
        # the embedding job lingers, then exits; memory is measured once it is gone
        settle = time.time() + 120
        while time.time() < settle and tree_rss_mb(proc)[1] > 0:
            time.sleep(1.0)
        time.sleep(2.0)
        after, child_after = tree_rss_mb(proc)
    finally:
        stop.set()
        stop_server(proc)
    log_text = (tmp / "server.log").read_text(errors="replace")
    during = [r for r in reads if t0 <= r[0] <= (served_at or time.time())]
    result = {
        "items": n_items,
        "description_chars": chars,
        "body_bytes": len(json.dumps(body).encode()),
        "status": status,
        "answer": answer,
        "answer_s": round(answered - t0, 2),
        "served_by_text_after_s": None if served_at is None else round(served_at - t0, 1),
        "worker_rss_mb_before": before,
        "worker_rss_mb_peak": peak,
        "worker_rss_mb_after": after,
        "embed_child_rss_mb_peak": child_peak,
        "embed_child_left_running": child_after > 0,
        "reads_during": {
            **stats([r[1] for r in during]),
            "failed": sum(1 for r in during if r[2] != 200),
        },
        "server_tracebacks": log_text.count("Traceback"),
        "rss_samples": samples[:: max(1, len(samples) // 60)],
    }
    print(f"catalog-put: {json.dumps({k: v for k, v in result.items() if k != 'rss_samples'})}")
    return result


# -------------------------------------------------------------------------------- markdown
def markdown(label: str, r: dict[str, Any]) -> str:
    """Rows for benchmarks/RELIABILITY.md from one label's results."""
    out = []
    if "import-load" in r:
        x = r["import-load"]
        d, t = x["read"]["during"], x["read"]["total"]
        out += [
            "| code | rows imported | import s (rows/s) | requests | 5xx | of which 503 + "
            "Retry-After | read p50 / p99 / max ms during the import | max read ms overall | "
            "max write ms |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| {label} | {x['rows']:,} | {x['import_s']} ({x['import_rows_per_s']:,}) | "
            f"{x['requests']:,} | {x['errors_5xx']} | {x['errors_503_with_retry_after']} | "
            f"{d.get('p50_ms')} / {d.get('p99_ms')} / {d.get('max_ms')} | {t.get('max_ms')} | "
            f"{x['write']['total'].get('max_ms')} |",
            "",
        ]
    if "catalog-put" in r:
        x = r["catalog-put"]

        def mb(values: dict[str, float]) -> str:
            return " / ".join(f"{v:.0f}" for v in values.values())

        out += [
            "| code | items (description chars) | answer s | all served by text after s | "
            "worker RSS MB before | peak | after | embedding job peak RSS MB | reads during: "
            "p50 / p99 / max ms |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| {label} | {x['items']:,} ({x['description_chars']}) | {x['answer_s']} | "
            f"{x['served_by_text_after_s']} | {mb(x['worker_rss_mb_before'])} | "
            f"{mb(x['worker_rss_mb_peak'])} | {mb(x['worker_rss_mb_after'])} | "
            f"{x['embed_child_rss_mb_peak'] or '-'} | {x['reads_during'].get('p50_ms')} / "
            f"{x['reads_during'].get('p99_ms')} / {x['reads_during'].get('max_ms')} |",
            "",
        ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=ROOT / "var" / "api-bench")
    parser.add_argument("--only", nargs="*", default=["import-load", "catalog-put"])
    parser.add_argument("--label", default="after")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--readers", type=int, default=6)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--quiet-s", type=float, default=5.0)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--desc-chars", type=int, default=1900)
    parser.add_argument("--out", type=Path, default=RESULTS / "bulk_writes.json")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        load_process(args.load)
        return
    if not (args.home / "artifacts" / "CURRENT").exists():
        sys.exit(f"{args.home} has no published bundle: see the usage in this script's docstring")
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count()}
    mine = results.setdefault(args.label, {})
    for name in args.only:
        with tempfile.TemporaryDirectory(prefix=f"recsys-bulk-{name}-") as tmp_s:
            tmp = Path(tmp_s)
            home = tmp / "home"  # every scenario writes: work on a private copy of the home
            shutil.copytree(args.home, home, ignore=shutil.ignore_patterns("reports", "*.lock"))
            la = loadavg()
            t0 = time.perf_counter()
            if name == "import-load":
                res = import_load(home, tmp, args.rows, args.readers, args.writers, args.quiet_s)
            elif name == "catalog-put":
                res = catalog_put(home, tmp, args.items, args.desc_chars)
            else:
                raise SystemExit(f"unknown scenario {name}")
            res["loadavg_before"] = la
            res["loadavg_after"] = loadavg()
            res["scenario_wall_s"] = round(time.perf_counter() - t0, 1)
            res["pythonpath"] = os.environ.get("PYTHONPATH", "")
            mine[name] = res
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"wrote {args.out}\n")
    print(markdown(args.label, mine))


if __name__ == "__main__":
    main()
