"""CPU time per API request, measured in one process through the Flask test client.

Isolates the application's own cost from the server and the load generator (which share the
2 cores in ``api_latency.py``). For each query string: 50 warm-up requests, then 400 requests for
random trained users; prints CPU ms and wall ms per request.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/api_cpu.py --home var/rel-home
    # every answer ranked live (as for users with events since training)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/api_cpu.py --home H --live
    # through Flask's dispatch instead of the user route's lean path
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/api_cpu.py --home H --flask
    # the request called as plain WSGI (no test client), beside a bare Flask route
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/api_cpu.py --home H --wsgi [--flask]
    # the cost of one source: the same requests with a hybrid setting changed
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/api_cpu.py --home H --hybrid recent_weight=0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
from pathlib import Path
from typing import Any

from api.app import create_app
from api.testing import bare_app

ROOT = Path(__file__).resolve().parents[1]

QUERIES = ("n=20", "n=20&explain=true", "n=20&category=Drama")


def wsgi_costs(app: Any, users: list[str]) -> None:
    """CPU per ``?n=20`` request called as WSGI (no test client), beside a bare Flask route.

    The environ of every request is built before the clock starts; the best of five passes is
    printed (the spread between passes is this VM's noise, not the code's).
    """
    from werkzeug.test import EnvironBuilder

    bare = bare_app()  # the bare endpoint of the load benchmarks

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        assert status.startswith("200"), status

    cases = {
        "bare Flask route": (bare, ["/bare"] * len(users)),
        "user route, n=20": (app, [f"/v1/users/{u}/recommendations" for u in users]),
    }
    for name, (wsgi, paths) in cases.items():
        query = "n=20" if wsgi is app else ""
        environs = [EnvironBuilder(path=p, query_string=query).get_environ() for p in paths]
        best = float("inf")
        for _ in range(5):
            batch = [dict(e) for e in environs]
            cpu0 = time.process_time()
            for environ in batch:
                b"".join(wsgi(environ, start_response))
            best = min(best, (time.process_time() - cpu0) / len(batch) * 1000)
        print(f"WSGI {name:<22} cpu {best:6.3f} ms/request (best of 5 passes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=ROOT / "var" / "api-bench")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument(
        "--live", action="store_true", help="rank every answer live (no precomputed lists)"
    )
    parser.add_argument(
        "--flask",
        action="store_true",
        help="answer through Flask's dispatch (no lean path for the user route, api.fastpath)",
    )
    parser.add_argument(
        "--wsgi",
        action="store_true",
        help="first measure n=20 called as plain WSGI (no test client) beside a bare Flask route",
    )
    parser.add_argument(
        "--hybrid",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a [hybrid] setting of the served bundle (JSON value), repeatable",
    )
    args = parser.parse_args()
    settings = {"precomputed": not args.live, "fast_path": not args.flask}
    app = create_app({"home": str(args.home), "watch": False, **settings})
    if args.hybrid:
        recommender = app.extensions["recsys"].service.snapshot.recommender
        changes = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.hybrid)}
        recommender.config = dataclasses.replace(recommender.config, **changes)
        print(f"hybrid overrides: {changes}")
    client = app.test_client()
    users = app.extensions["recsys"].service.snapshot.bundle.users.ids()
    rng = random.Random(2026)
    sample = [rng.choice(users) for _ in range(args.requests)]
    if args.wsgi:
        wsgi_costs(app, sample)
    for query in QUERIES:
        for u in sample[:50]:
            client.get(f"/v1/users/{u}/recommendations?{query}")
        cpu0, wall0 = time.process_time(), time.perf_counter()
        rankings: dict[str, int] = {}
        for u in sample:
            response = client.get(f"/v1/users/{u}/recommendations?{query}")
            assert response.status_code == 200
            ranking = response.get_json()["ranking"]
            rankings[ranking] = rankings.get(ranking, 0) + 1
        cpu = (time.process_time() - cpu0) / len(sample) * 1000
        wall = (time.perf_counter() - wall0) / len(sample) * 1000
        print(f"{query:<24} cpu {cpu:6.2f} ms/request   wall {wall:6.2f} ms/request   {rankings}")
    app.extensions["recsys"].close()


if __name__ == "__main__":
    main()
