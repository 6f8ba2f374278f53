"""Reliability figures for benchmarks/RELIABILITY.md: fuzzing, bad input, durability, load during
hot swaps, and worker memory over many requests.

All scenarios run against the real server (``recsys serve``, gunicorn) on 127.0.0.1, on a private
copy of an ML-100K home (built with ``recsys load-demo`` + ``recsys train``):

* ``fuzz``: schemathesis against the served ``/openapi.json`` (all operations, ``--max-examples``
  per operation and phase, stateful phase included), with an admin key.
* ``badinput``: the bad-input corpus and security tests (``tests/api/test_api_bad_input.py``,
  ``tests/api/test_api_security.py``), counted from their pytest run.
* ``durability``: 4 client processes post 20,000 events in batches of 100 with idempotency keys;
  the server's process group is SIGKILLed when a quarter is acknowledged and restarted; then
  every acknowledged event is looked up in SQLite (see ``api/testing.py``).
* ``swap``: ``--swap-seconds`` of closed-loop load at ``--concurrency`` clients on user
  recommendations while ``recsys nightly --force`` runs twice (each publishes a new bundle that
  every worker hot-swaps); failed requests and p50/p99 before, during and after the swaps.
* ``rss``: the resident memory of each worker before and after ``--rss-requests`` requests
  (user recommendations, similar items, sessions and event batches mixed).

Usage::

    RECSYS_HOME=var/api-bench .venv/bin/recsys load-demo --dataset ml-100k
    RECSYS_HOME=var/api-bench .venv/bin/recsys train
    flock /tmp/recsys-bench.lock .venv/bin/python benchmarks/reliability.py --home var/api-bench

Writes ``benchmarks/results/reliability.json`` (and prints a summary).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

# The server harness (api.testing) is imported in the functions that start servers, not at the
# top: the load children run this file too, and `import api` takes about a second of CPU.
ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-write-key"
RECSYS = Path(sys.executable).parent / "recsys"
# RELIABILITY.md from this heading on is written by other scripts (erasure, bad_imports,
# bulk_writes) and kept when this script rewrites the page
OTHER_SCRIPTS = "## Privacy and data integrity"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
SEED = 2026


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def start(home: Path, port: int, log: Path, workers: int = 2) -> subprocess.Popen[bytes]:
    """``recsys serve`` over ``home`` on 127.0.0.1 (``workers`` x 4 threads), ready."""
    from api.testing import start_server, wait_ready

    settings = {  # the settings of api_latency.py's servers, which these runs always used
        "RECSYS_API_WRITE_KEYS": KEY,
        "RECSYS_API_SWAP_POLL_S": "2",
        "RECSYS_API_PRECOMPUTED": "true",
        "RECSYS_API_FAST_PATH": "true",
    }
    proc = start_server(home, port, log, workers=workers, threads=4, env=settings)
    wait_ready(port, "/readyz", proc, log=log)
    return proc


def http_request(method: str, path: str, body: bytes = b"", auth: bool = False) -> bytes:
    from api.testing import raw_request

    return raw_request(method, path, body, KEY if auth else None)


# ------------------------------------------------------------------------------------ fuzz
def fuzz(home: Path, tmp: Path, max_examples: int) -> dict[str, Any]:
    from api.testing import free_port, stop_server

    port = free_port()
    proc = start(home, port, tmp / "fuzz-server.log")
    report_dir = tmp / "fuzz-report"
    t0 = time.perf_counter()
    try:
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--config-file",
                str(ROOT / "schemathesis.toml"),
                "run",
                f"http://127.0.0.1:{port}/openapi.json",
                "-H",
                f"Authorization: Bearer {KEY}-admin",
                "-n",
                str(max_examples),
                "--seed",
                str(SEED),
                "--request-timeout",
                "60",
                "--report",
                "json",
                "--report-dir",
                str(report_dir),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
    finally:
        stop_server(proc)
    report = json.loads(sorted(report_dir.glob("*.json"))[-1].read_text(encoding="utf-8"))
    server_errors = (tmp / "fuzz-server.log").read_text(errors="replace").count("Traceback")
    result = {
        "max_examples_per_operation": max_examples,
        "operations": report.get("operations"),
        "test_cases": report["test_cases"],
        "failures": report["failures"],
        "errors": report["errors"],
        "exit_code": run.returncode,
        "server_tracebacks": server_errors,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    if run.returncode != 0:
        result["output_tail"] = run.stdout[-3000:]
    print(f"fuzz: {json.dumps({k: v for k, v in result.items() if k != 'output_tail'})}")
    return result


# -------------------------------------------------------------------------------- badinput
def badinput() -> dict[str, Any]:
    files = ["tests/api/test_api_bad_input.py", "tests/api/test_api_security.py"]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    last = out.stdout.strip().splitlines()[-1]
    counts = {
        word: int(n) for n, word in (part.split()[:2] for part in last.split(" in ")[0].split(", "))
    }
    result = {"files": files, "summary": last, **counts}
    print(f"badinput: {result}")
    return result


# ------------------------------------------------------------------------------ durability
def durability(home: Path, tmp: Path, clients: int, events: int, batch: int) -> dict[str, Any]:
    from api.testing import (
        acknowledged,
        free_port,
        kill_server,
        start_clients,
        stop_server,
        summarize_run,
    )

    folder = tmp / "durability"
    folder.mkdir()
    port = free_port()
    t0 = time.monotonic()
    proc = start(home, port, tmp / "dur-server-1.log")
    procs = start_clients(port, clients, events, batch, KEY, folder)
    total = clients * events
    while len(acknowledged(folder)) < total // 4:
        time.sleep(0.05)
    kill_server(proc)
    before = len(acknowledged(folder))
    killed = time.monotonic()
    proc2 = start(home, port, tmp / "dur-server-2.log")
    ready = time.monotonic() - killed
    for p in procs:
        p.wait(timeout=600)
    stop_server(proc2)
    res = summarize_run(
        home / "recsys.sqlite3", folder, clients, events, before, ready, time.monotonic() - t0
    )
    result = res.__dict__
    print(f"durability: {result}")
    return result


# ------------------------------------------------------------------------- load with swaps
async def _timed_client(
    port: int, reqs: list[bytes], offset: int, deadline: float, log: list[tuple[float, float, int]]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    k = offset
    while time.time() < deadline:
        req = reqs[k % len(reqs)]
        k += 1
        t0 = time.time()
        status, close = -1, False
        try:
            writer.write(req)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and "close" in value.lower():
                    close = True
            await reader.readexactly(length)
            status = int(status_line.split()[1])
        except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
            close = True
        log.append((t0, time.time() - t0, status))
        if close:
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()


def load_process(spec_path: str) -> None:
    """Child process: closed-loop load; writes (start, latency, status) rows as JSON."""
    spec = json.loads(Path(spec_path).read_text())
    reqs = [r.encode("latin-1") for r in spec["requests"]]
    log: list[tuple[float, float, int]] = []

    async def main() -> None:
        step = max(1, len(reqs) // spec["concurrency"])
        await asyncio.gather(
            *(
                _timed_client(spec["port"], reqs, i * step, spec["deadline"], log)
                for i in range(spec["concurrency"])
            )
        )

    asyncio.run(main())
    Path(spec["out"]).write_text(json.dumps(log))


def window_stats(rows: list[tuple[float, float, int]]) -> dict[str, Any]:
    if not rows:
        return {"requests": 0}
    ms = np.asarray([r[1] for r in rows]) * 1000
    failed = sum(1 for r in rows if not 200 <= r[2] < 300)
    return {
        "requests": len(rows),
        "failed": failed,
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def swap(home: Path, tmp: Path, seconds: float, concurrency: int) -> dict[str, Any]:
    from api.testing import free_port, served_ids, stop_server
    from recsys.bundle import current_version

    users, _ = served_ids(home)
    rng = np.random.default_rng(SEED)
    reqs = [
        http_request("GET", f"/v1/users/{u}/recommendations?n=20").decode("latin-1")
        for u in rng.choice(users, 5000)
    ]
    port = free_port()
    proc = start(home, port, tmp / "swap-server.log")
    start_t = time.time() + 1.0
    spec = {
        "port": port,
        "requests": reqs,
        "concurrency": concurrency,
        "deadline": start_t + seconds,
        "out": str(tmp / "swap-log.json"),
    }
    (tmp / "swap-spec.json").write_text(json.dumps(spec))
    loader = subprocess.Popen([sys.executable, __file__, "--load", str(tmp / "swap-spec.json")])
    versions = [current_version(home / "artifacts")]
    runs = []
    time.sleep(seconds * 0.2)  # a quiet "before" window
    for _ in range(2):
        t0 = time.time()
        out = subprocess.run(
            [
                str(RECSYS),
                "--home",
                str(home),
                "--no-progress",
                "nightly",
                "--force",
                "--no-inbox",
                "--no-pitches",
            ],
            capture_output=True,
            text=True,
        )
        runs.append(
            {
                "start": t0,
                "end": time.time(),
                "exit_code": out.returncode,
                "version": current_version(home / "artifacts"),
            }
        )
        versions.append(current_version(home / "artifacts"))
        if out.returncode != 0:
            print(out.stdout[-2000:], out.stderr[-2000:])
    loader.wait(timeout=seconds + 120)
    served = set()
    for _ in range(20):  # both workers answer over separate connections
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/v1/model")
        served.add(json.loads(conn.getresponse().read())["model_version"])
        conn.close()
    stop_server(proc)
    rows = json.loads((tmp / "swap-log.json").read_text())
    first, last = runs[0]["start"], runs[-1]["end"] + 3.0  # + swap poll and load time
    result = {
        "seconds": seconds,
        "concurrency": concurrency,
        "nightly_runs": [
            {
                "wall_s": round(r["end"] - r["start"], 1),
                "exit_code": r["exit_code"],
                "published": r["version"],
            }
            for r in runs
        ],
        "versions_published": versions,
        "served_at_the_end": sorted(served),
        "total": window_stats(rows),
        "before": window_stats([r for r in rows if r[0] < first]),
        "during": window_stats([r for r in rows if first <= r[0] <= last]),
        "after": window_stats([r for r in rows if r[0] > last]),
    }
    print(f"swap: {json.dumps(result)}")
    return result


# ------------------------------------------------------------------------------------- rss
def rss(home: Path, tmp: Path, n_requests: int, concurrency: int) -> dict[str, Any]:
    import psutil

    from api.testing import free_port, served_ids, stop_server

    users, items = served_ids(home)
    rng = np.random.default_rng(SEED + 1)
    reqs: list[str] = []
    for k in range(4000):
        kind = k % 4
        if kind == 0:
            reqs.append(
                http_request("GET", f"/v1/users/{rng.choice(users)}/recommendations?n=20").decode(
                    "latin-1"
                )
            )
        elif kind == 1:
            reqs.append(
                http_request("GET", f"/v1/items/{rng.choice(items)}/similar?n=20").decode("latin-1")
            )
        elif kind == 2:
            body = json.dumps({"recent_item_ids": [str(i) for i in rng.choice(items, 3)]})
            reqs.append(
                http_request("POST", "/v1/recommendations", body.encode()).decode("latin-1")
            )
        else:
            events = [
                {
                    "user_id": f"rss-{k}",
                    "item_id": str(i),
                    "type": "click",
                    "event_id": f"rss-{k}-{j}",
                }
                for j, i in enumerate(rng.choice(items, 5))
            ]
            reqs.append(
                http_request(
                    "POST", "/v1/events", json.dumps({"events": events}).encode(), auth=True
                ).decode("latin-1")
            )
    port = free_port()
    proc = start(home, port, tmp / "rss-server.log")
    master = psutil.Process(proc.pid)

    def worker_rss() -> dict[int, float]:
        return {
            c.pid: round(c.memory_info().rss / 2**20, 1) for c in master.children(recursive=True)
        }

    def drive(count: int) -> tuple[float, int, int]:
        # closed loop until `count` requests are done (checked via a generous deadline + count)
        spec = {
            "port": port,
            "requests": reqs,
            "concurrency": concurrency,
            "deadline": time.time() + 3600,
            "out": str(tmp / "rss-log.json"),
            "max_requests": count,
        }
        (tmp / "rss-spec.json").write_text(json.dumps(spec))
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--load-count", str(tmp / "rss-spec.json")], check=True
        )
        rows = json.loads((tmp / "rss-log.json").read_text())
        failed = sum(1 for r in rows if not 200 <= r[2] < 300)
        return time.perf_counter() - t0, len(rows), failed

    _warm_s, warm_n, warm_failed = drive(2000)  # warm-up: caches, lazily built structures
    before = worker_rss()
    run_s, done, failed = drive(n_requests)
    after = worker_rss()
    stop_server(proc)
    result = {
        "warmup_requests": warm_n,
        "requests": done,
        "failed": failed + warm_failed,
        "rps": round(done / run_s, 1),
        "rss_mb_before": before,
        "rss_mb_after": after,
        "rss_growth_mb": {
            pid: round(after.get(pid, float("nan")) - v, 1) for pid, v in before.items()
        },
        "workers_replaced": sorted(set(after) ^ set(before)),
    }
    print(f"rss: {json.dumps(result)}")
    return result


def load_count_process(spec_path: str) -> None:
    """Child process: exactly ``max_requests`` requests over ``concurrency`` connections."""
    spec = json.loads(Path(spec_path).read_text())
    reqs = [r.encode("latin-1") for r in spec["requests"]]
    log: list[tuple[float, float, int]] = []
    budget = {"left": spec["max_requests"]}

    async def client(offset: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", spec["port"])
        k = offset
        while budget["left"] > 0:
            budget["left"] -= 1
            req = reqs[k % len(reqs)]
            k += 1
            t0 = time.time()
            status = -1
            try:
                writer.write(req)
                status_line = await reader.readline()
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                status = int(status_line.split()[1])
            except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", spec["port"])
            log.append((t0, time.time() - t0, status))
        writer.close()

    async def main() -> None:
        step = max(1, len(reqs) // spec["concurrency"])
        await asyncio.gather(*(client(i * step) for i in range(spec["concurrency"])))

    asyncio.run(main())
    Path(spec["out"]).write_text(json.dumps(log))


# -------------------------------------------------------------------------------- markdown
def markdown(r: dict[str, Any]) -> str:
    """The figures of ``results/reliability.json`` as the body of RELIABILITY.md."""
    out = [
        "# Reliability figures",
        "",
        "Produced by `benchmarks/reliability.py` (see its docstring for the exact protocol)",
        f"on the reference machine ({r['machine']['cpus']} CPU cores, "
        f"{r['machine']['platform']}), against",
        "the real server (`recsys serve`, gunicorn, 2 workers x 4 threads) on 127.0.0.1 over a",
        "private copy of an ML-100K home. Raw numbers: `results/reliability.json`.",
        "Other agents were using the same 2 cores during these runs (load averages below), so",
        "latencies are pessimistic; counts (failures, events, cases) do not depend on load.",
        "",
    ]
    if "fuzz" in r:
        f = r["fuzz"]
        tc = f["test_cases"]
        out += [
            "## Fuzzing (schemathesis against the served /openapi.json)",
            "",
            f"- {tc['generated']} test cases generated over all operations "
            f"(`--max-examples {f['max_examples_per_operation']}`, examples, coverage, fuzzing "
            "and stateful phases), admin key supplied",
            f"- failures: {len(f['failures'])} "
            + (
                f"({', '.join(x['code'] + ' ' + x['title'] for x in f['failures'])})"
                if f["failures"]
                else "(zero 5xx, zero schema violations)"
            ),
            f"- server-side tracebacks in the log: {f['server_tracebacks']}; "
            f"schemathesis exit code {f['exit_code']}; wall {f['wall_s']} s; "
            f"load average {f['loadavg_before']} -> {f['loadavg_after']}",
            "",
        ]
    if "badinput" in r:
        b = r["badinput"]
        out += [
            "## Bad input and security corpus",
            "",
            f"- `{' '.join(b['files'])}`: {b['summary']}",
            "",
        ]
    if "durability" in r:
        d = r["durability"]
        out += [
            "## Durability (SIGKILL mid-stream)",
            "",
            "| clients | events sent | acknowledged before kill | acknowledged | found exactly "
            "once | missing | duplicated | retried batches | kill -> ready |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| {d['clients']} | {d['events_sent']} | {d['acknowledged_before_kill']} | "
            f"{d['acknowledged']} | {d['found_once']} | {d['missing']} | {d['duplicated']} | "
            f"{d['retried_batches']} | {d['kill_to_ready_s']} s |",
            "",
        ]
    if "swap" in r:
        w = r["swap"]
        runs = ", ".join(f"{x['wall_s']} s (exit {x['exit_code']})" for x in w["nightly_runs"])
        out += [
            "## Load during hot swaps",
            "",
            f"{w['seconds']:.0f} s of closed-loop load, {w['concurrency']} concurrent clients, "
            f"`GET /v1/users/<id>/recommendations?n=20`, while `recsys nightly --force` ran twice "
            f"({runs}); versions published: {len(set(w['versions_published']))}, served by every "
            f"worker at the end: {w['served_at_the_end']}.",
            "",
            "| window | requests | failed | p50 ms | p99 ms | max ms |",
            "|---|---|---|---|---|---|",
        ]
        for name in ("before", "during", "after", "total"):
            x = w[name]
            if x.get("requests"):
                out.append(
                    f"| {name} | {x['requests']} | {x['failed']} | {x['p50_ms']} | "
                    f"{x['p99_ms']} | {x['max_ms']} |"
                )
        out += ["", f"Load average {w['loadavg_before']} -> {w['loadavg_after']}.", ""]
    if "rss" in r:
        m = r["rss"]
        out += [
            "## Worker memory over many requests",
            "",
            f"{m['requests']} requests (after {m['warmup_requests']} warm-up requests; user "
            f"recommendations, similar items, sessions and 5-event batches mixed) at "
            f"{m['rps']} requests/s, {m['failed']} failed.",
            "",
            "| worker pid | RSS before (MB) | RSS after (MB) | growth (MB) |",
            "|---|---|---|---|",
        ]
        for pid, before in m["rss_mb_before"].items():
            out.append(
                f"| {pid} | {before} | {m['rss_mb_after'].get(pid)} | "
                f"{m['rss_growth_mb'].get(pid)} |"
            )
        out += ["", f"Workers replaced during the run: {m['workers_replaced'] or 'none'}.", ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=ROOT / "var" / "api-bench")
    parser.add_argument(
        "--only", nargs="*", default=["fuzz", "badinput", "durability", "swap", "rss"]
    )
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--swap-seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rss-requests", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--load-count", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        load_process(args.load)
        return
    if args.load_count:
        load_count_process(args.load_count)
        return

    os.environ["RECSYS_API_ADMIN_KEYS"] = KEY + "-admin"  # inherited by every server started
    if not (args.home / "artifacts" / "CURRENT").exists():
        sys.exit(f"{args.home} has no published bundle: see the usage in this script's docstring")
    path = args.out / "reliability.json"
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    results["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count()}
    for name in args.only:
        with tempfile.TemporaryDirectory(prefix=f"recsys-rel-{name}-") as tmp_s:
            tmp = Path(tmp_s)
            home = tmp / "home"  # every scenario writes: work on a private copy of the home
            shutil.copytree(args.home, home, ignore=shutil.ignore_patterns("reports", "*.lock"))
            la = loadavg()
            t0 = time.perf_counter()
            if name == "fuzz":
                res = fuzz(home, tmp, args.max_examples)
            elif name == "badinput":
                res = badinput()
            elif name == "durability":
                res = durability(home, tmp, 4, 5000, 100)
            elif name == "swap":
                res = swap(home, tmp, args.swap_seconds, args.concurrency)
            elif name == "rss":
                res = rss(home, tmp, args.rss_requests, 16)
            else:
                raise SystemExit(f"unknown scenario {name}")
            res["loadavg_before"] = la
            res["loadavg_after"] = loadavg()
            res["scenario_wall_s"] = round(time.perf_counter() - t0, 1)
            results[name] = res
            args.out.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results, indent=2), encoding="utf-8")
    if args.out == ROOT / "benchmarks" / "results":
        page = ROOT / "benchmarks" / "RELIABILITY.md"
        old = page.read_text(encoding="utf-8") if page.is_file() else ""
        kept = old[old.index(OTHER_SCRIPTS) :] if OTHER_SCRIPTS in old else ""
        page.write_text(markdown(results) + ("\n" + kept if kept else ""), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
