"""How connections spread over gunicorn workers, and what the load generator costs.

Two measurements behind ``benchmarks/README.md`` (HTTP API section) that ``api_latency.py``
does not make itself:

* ``spread``: start the server (``recsys serve``, or the bare app), drive it with
  ``api_latency.py``'s load generator, and midway count each worker's established connections
  (psutil); print the counts with the run's throughput and p99. ``--no-reuse-port`` uses
  gunicorn's shared listening socket instead of one socket per worker.
* ``loadgen``: the load generator's own CPU per request against the bare endpoint (CPU time of
  the load process over its whole run, divided by the requests it completed, warm-up included).
  ``--load-script`` runs another copy of ``api_latency.py`` as the generator, e.g. an older one
  from git, to compare generators.

Usage::

    .venv/bin/python benchmarks/api_spread.py spread --home var/api-bench-synth --threads 2
    .venv/bin/python benchmarks/api_spread.py spread --home var/api-bench-synth --threads 2 \\
        --no-reuse-port
    git show 6250af3:benchmarks/api_latency.py > /tmp/old_api_latency.py
    .venv/bin/python benchmarks/api_spread.py loadgen [--load-script /tmp/old_api_latency.py]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from api.testing import (
    bare_command,
    free_port,
    serve_command,
    served_ids,
    start_process,
    stop_server,
    wait_ready,
)

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "var" / "api-bench-logs"
# as in api_latency.py: the precomputed lists and the lean path on, whatever the defaults
SETTINGS = {
    "RECSYS_API_SWAP_POLL_S": "2",
    "RECSYS_API_PRECOMPUTED": "true",
    "RECSYS_API_FAST_PATH": "true",
}


def start_server(
    home: Path | None, port: int, workers: int, threads: int, log: Path, reuse_port: bool = True
) -> subprocess.Popen[bytes]:
    """``recsys serve`` over ``home``, or the bare app when ``home`` is None, on 127.0.0.1."""
    if home is None:
        cmd = bare_command(port, workers=workers, threads=threads, reuse_port=reuse_port)
    else:
        cmd = serve_command(home, port, workers=workers, threads=threads, reuse_port=reuse_port)
    return start_process(cmd, log, SETTINGS)


def load(script: Path, spec: dict[str, Any]) -> subprocess.Popen[str]:
    """Start the load generator of ``script`` on ``spec`` (its ``--load`` mode)."""
    path = LOGS / "spread-load.json"
    path.write_text(json.dumps(spec))
    return subprocess.Popen(
        [sys.executable, str(script), "--load", str(path)], stdout=subprocess.PIPE, text=True
    )


def result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=300)
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def connections_per_worker(server: subprocess.Popen[bytes], port: int) -> list[int]:
    """Established connections on ``port`` held by each gunicorn worker, ascending."""
    counts = []
    for worker in psutil.Process(server.pid).children():  # the gunicorn workers
        conns = worker.net_connections(kind="tcp")
        counts.append(
            sum(c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port for c in conns)
        )
    return sorted(counts)


def spread(args: argparse.Namespace) -> None:
    kind = "bare" if args.home is None else "api"
    users, items = served_ids(args.home) if args.home is not None else (["1"], ["1"])
    scenario = "user_recs" if kind == "api" else "bare"
    for trial in range(args.trials):
        port = free_port()
        log = LOGS / f"spread-{kind}.log"
        server = start_server(
            args.home, port, args.workers, args.threads, log, reuse_port=args.reuse_port
        )
        try:
            wait_ready(port, "/readyz" if kind == "api" else "/bare", server)
            spec = {
                "scenario": scenario,
                "port": port,
                "users": users,
                "items": items,
                "n": 20_000,
                "concurrency": args.concurrency,
                "warmup": 1.0,
                "duration": args.duration,
            }
            generator = load(args.load_script, spec)
            time.sleep(1.0 + args.duration / 2)
            counts = connections_per_worker(server, port)
            r = result(generator)
        finally:
            stop_server(server)
        print(
            f"trial {trial + 1}: connections per worker {counts}  {r['rps']:.0f} req/s  "
            f"p99 {r['p99_ms']} ms  errors {r['errors']}",
            flush=True,
        )


def loadgen(args: argparse.Namespace) -> None:
    port = free_port()
    server = start_server(None, port, args.workers, args.threads, LOGS / "spread-bare.log")
    try:
        wait_ready(port, "/bare", server)
        warmup = 2.0
        spec = {
            "scenario": "bare",
            "port": port,
            "users": ["1"],
            "items": ["1"],
            "n": 100,
            "concurrency": args.concurrency,
            "warmup": warmup,
            "duration": args.duration,
        }
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = result(load(args.load_script, spec))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        stop_server(server)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    total = r["rps"] * (warmup + args.duration)  # requests over the whole run, warm-up included
    print(
        f"load generator {args.load_script.name}: {cpu:.2f} s CPU for ~{total:.0f} requests = "
        f"{cpu / total * 1e6:.0f} us/request (bare {r['rps']:.0f} req/s, p99 {r['p99_ms']} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["spread", "loadgen"])
    parser.add_argument("--home", type=Path, default=None, help="API home (spread; none: bare)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--reuse-port", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--load-script", type=Path, default=ROOT / "benchmarks" / "api_latency.py")
    args = parser.parse_args()
    LOGS.mkdir(parents=True, exist_ok=True)
    if args.what == "spread":
        spread(args)
    else:
        loadgen(args)


if __name__ == "__main__":
    main()
