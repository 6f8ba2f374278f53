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
    # a browsing shopper's answer (issue 20): on a copy of H with one view event stored for each
    # of up to 2,000 trained users (ranked live over their pool), ?n=20 as WSGI, 5 passes each
    # through the fused, compiled pass and through the general stages, alternating
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/api_cpu.py --home var/api-bench --browsing
    # the cost of an experiment (issue 24): ?n=20 as WSGI with api_latency.py's A/A experiment
    # switched on and off in alternating passes, the exposure writes included (on a copy of H)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/api_cpu.py --home var/api-bench --ab
    # the same with N request threads and the exposure writer on its timer, as in a worker
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/api_cpu.py --home var/api-bench --ab --threads 4
    # a page view's event (issue 20): CPU per one-event POST /v1/events as WSGI (no ts, as a
    # storefront sends it), on a copy of H, 5 passes each through the lean path and through
    # Flask, alternating; the durable write (commit, fsync) included
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/api_cpu.py --home var/api-bench --events
    # a storefront's pages in one process (issue 20): 16 shoppers, each page a one-event POST,
    # their recommendations (n=20) and the viewed item's similar items, as WSGI; passes with
    # the browsing shoppers' reads by increments (recsys.service.recent) and without, alternating
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/api_cpu.py --home var/api-bench --pages
    # what threads cost an answer (issue 20): precomputed and browsing answers, ?n=20 as WSGI,
    # from 1, 2 and 4 request threads in one process (a copy of H with one view event per user)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/api_cpu.py --home var/api-bench --thread-tax
    # what a cold CPU cache costs an answer (issue 20): browsing answers and the bare route, as
    # WSGI, each request timed alone, with the caches left warm and with 8 MB of other data
    # written just before it (what another worker or the load generator leaves behind)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/api_cpu.py --home var/api-bench --cold
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

from api.app import create_app
from api.testing import bare_app
from recsys.bundle import load_bundle
from recsys.home import Home

ROOT = Path(__file__).resolve().parents[1]

QUERIES = ("n=20", "n=20&explain=true", "n=20&category=Drama")
sys.path.insert(0, str(ROOT / "benchmarks"))  # api_latency's setups (imported where used)


def start_response(
    status: str, headers: list[tuple[str, str]], exc_info: Any = None
) -> Callable[[bytes], object]:
    """The WSGI ``start_response`` of the measured calls: every answer must be a 200."""
    assert status.startswith("200"), status
    return len  # the write callable (the apps return their body instead)


def user_environs(users: list[str]) -> list[dict[str, Any]]:
    """The WSGI environ of ``GET /v1/users/<u>/recommendations?n=20`` for each user."""
    return [
        EnvironBuilder(path=f"/v1/users/{u}/recommendations", query_string="n=20").get_environ()
        for u in users
    ]


@contextmanager
def home_copy(home: Path, prefix: str) -> Iterator[Path]:
    """A throw-away copy of ``home`` (its logs left out), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        copy = Path(tmp) / "home"
        shutil.copytree(home, copy, ignore=shutil.ignore_patterns("*.log"))
        yield copy


@contextmanager
def browsing_app(home: Path, prefix: str) -> Iterator[tuple[Any, list[str]]]:
    """The app on a copy of ``home`` where up to 2,000 trained users (seeded) are browsing.

    ``api_latency.py``'s ``user_recs_live`` setup: one view event since training for each of
    them, so each answer is ranked live over the user's pool. Yields ``(app, those users)``.
    """
    from api_latency import add_live_events, bundle_ids

    with home_copy(home, prefix) as copy:
        users, items, owned = bundle_ids(copy)
        chosen = list(users)
        random.Random(3).shuffle(chosen)
        chosen = chosen[:2000]
        add_live_events(copy, chosen, users, items, owned)
        yield create_app({"home": str(copy), "watch": False, "precomputed": True}), chosen


def wsgi_costs(app: Any, users: list[str]) -> None:
    """CPU per ``?n=20`` request called as WSGI (no test client), beside a bare Flask route.

    The environ of every request is built before the clock starts; the best of five passes is
    printed (the spread between passes is this VM's noise, not the code's).
    """
    bare = bare_app()  # the bare endpoint of the load benchmarks
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


def print_passes(found: dict[str, list[float]], what: str, per: str) -> dict[str, float]:
    """Print each way's µs per pass and their median; return the medians by way."""
    medians = {way: statistics.median(values) for way, values in found.items()}
    for way, values in found.items():
        passes = ", ".join(f"{x:.0f}" for x in values)
        print(f"{what}, {way}: {passes} us per {per}; median {medians[way]:.0f} us")
    return medians


def browsing_costs(home: Path, passes: int = 5) -> dict[str, list[float]]:
    """CPU per ``?n=20`` WSGI answer for shoppers with an event since training (issue 20).

    On a copy of ``home``, ``api_latency.py``'s ``user_recs_live`` setup: one view event of an
    item the user has no training event with, for each of up to 2,000 trained users (seeded),
    so each answer is ranked live over the user's pool, as a browsing shopper's is. Every user
    is asked once unmeasured, then ``passes`` times in each of two ways, alternating: through
    the fused, compiled pass (``recsys.serving.pooled``, what the server does) and through the
    general stages (the fused pass switched off). Prints and returns each pass's CPU µs per
    answer (the median is the number; the spread is this VM's noise).
    """

    from recsys.serving import pooled

    pooled.compile_kernel()
    fused_answer = pooled.FusedRanker.answer
    found: dict[str, list[float]] = {"fused": [], "stages": []}
    with browsing_app(home, "api-cpu-browsing-") as (app, chosen):
        environs = user_environs(chosen)
        rankings = [
            json.loads(b"".join(app(dict(environ), start_response)))["ranking"]
            for environ in environs
        ]
        if rankings.count("live") < len(environs):
            raise SystemExit(f"only {rankings.count('live')} of {len(environs)} answers were live")
        try:
            for _ in range(passes):
                for way in found:
                    pooled.FusedRanker.answer = (  # type: ignore[method-assign]
                        fused_answer if way == "fused" else lambda *_a, **_k: None
                    )
                    batch = [dict(e) for e in environs]
                    cpu0 = time.process_time()
                    for environ in batch:
                        b"".join(app(environ, start_response))
                    found[way].append((time.process_time() - cpu0) / len(batch) * 1e6)
        finally:
            pooled.FusedRanker.answer = fused_answer  # type: ignore[method-assign]
        app.extensions["recsys"].close()
    what = f"browsing shoppers (one event since training), ?n=20 as WSGI over {len(environs)} users"
    medians = print_passes(found, what, "answer")
    print(f"fused / stages: {medians['fused'] / medians['stages']:.2f}")
    return found


EVENT_KEY = "api-cpu-write-key"


def event_environs(
    users: list[str], items: list[str], count: int, seed: int
) -> list[dict[str, Any]]:
    """``count`` WSGI environs of a one-event ``POST /v1/events`` (a page view, no ``ts``)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        event = {"user_id": rng.choice(users), "item_id": rng.choice(items), "type": "view"}
        body = json.dumps({"events": [event]}).encode()
        out.append(
            EnvironBuilder(
                path="/v1/events",
                method="POST",
                data=body,
                content_type="application/json",
                headers=[("Authorization", f"Bearer {EVENT_KEY}")],
            ).get_environ()
        )
    return out


def event_costs(home: Path, passes: int = 5, count: int = 600) -> dict[str, list[float]]:
    """CPU per one-event ``POST /v1/events`` as WSGI: the lean path against Flask (issue 20).

    On a copy of ``home``, two apps over the same store, one with the lean path
    (``api.fastpath``) and one without; each pass posts ``count`` page views of random trained
    users and items (``202`` each), the two ways alternating. The CPU includes the durable
    write (SQLite's commit and its fsync, counted as the kernel's CPU) but no wait for another
    writer. Prints and returns each pass's CPU µs per event.
    """
    from api_latency import bundle_ids

    def accepted(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        assert status.startswith("202"), status
        return len

    found: dict[str, list[float]] = {"lean path": [], "flask": []}
    with home_copy(home, "api-cpu-events-") as copy:
        users, items, _ = bundle_ids(copy)
        apps = {
            way: create_app(
                {
                    "home": str(copy),
                    "watch": False,
                    "write_keys": [EVENT_KEY],
                    "fast_path": way == "lean path",
                }
            )
            for way in found
        }
        for k, app in enumerate(apps.values()):  # warm up
            for environ in event_environs(users, items, 100, seed=k):
                b"".join(app(environ, accepted))
        for p in range(passes):
            for k, (way, app) in enumerate(apps.items()):
                environs = event_environs(users, items, count, seed=100 + 2 * p + k)
                cpu0 = time.process_time()
                for environ in environs:
                    b"".join(app(environ, accepted))
                found[way].append((time.process_time() - cpu0) / count * 1e6)
        for app in apps.values():
            app.extensions["recsys"].close()
    medians = print_passes(found, "one-event POST /v1/events as WSGI", "event")
    print(f"lean path / flask: {medians['lean path'] / medians['flask']:.2f}")
    return found


def page_costs(
    home: Path, passes: int = 5, pages: int = 400, shoppers: int = 16
) -> dict[str, list[float]]:
    """CPU per storefront page in one process, as WSGI: event, recommendations, similar items.

    ``api_latency.py``'s replay without the server: on a copy of ``home``, ``shoppers`` trained
    users (seeded) take turns; each page is a one-event ``POST /v1/events`` (a view of a random
    item, no ``ts``), ``GET /v1/users/<u>/recommendations?n=20`` (ranked live: the shopper has
    events since training) and ``GET /v1/items/<item>/similar?n=20``. Passes of ``pages`` pages
    alternate between the service reading each shopper's events by increments
    (:mod:`recsys.service.recent`, the default) and reading them whole on every page. The
    shoppers' histories grow as the passes go on, alike for both ways. Prints and returns each
    pass's CPU µs per page.
    """
    from api_latency import bundle_ids

    def ok(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        assert status[:3] in ("200", "202"), status
        return len

    found: dict[str, list[float]] = {"increments": [], "whole reads": []}
    with home_copy(home, "api-cpu-pages-") as copy:
        users, items, _ = bundle_ids(copy)
        rng = random.Random(4)
        who = rng.sample(list(users), shoppers)
        app = create_app({"home": str(copy), "watch": False, "write_keys": [EVENT_KEY]})
        service = app.extensions["recsys"].service
        recent = service._recent

        def page_environs(count: int) -> list[dict[str, Any]]:
            out = []
            for k in range(count):
                user, item = who[k % shoppers], rng.choice(items)
                (event,) = event_environs([user], [item], 1, seed=k)
                out += [
                    event,
                    *user_environs([user]),
                    EnvironBuilder(
                        path=f"/v1/items/{item}/similar", query_string="n=20"
                    ).get_environ(),
                ]
            return out

        for environ in page_environs(shoppers * 4):  # warm up: every shopper browsing
            b"".join(app(environ, ok))
        for _ in range(passes):
            for way in found:
                service._recent = recent if way == "increments" else None
                environs = page_environs(pages)
                cpu0 = time.process_time()
                for environ in environs:
                    b"".join(app(environ, ok))
                found[way].append((time.process_time() - cpu0) / pages * 1e6)
        service._recent = recent
        print(f"reads: {recent.reads}")
        app.extensions["recsys"].close()
    what = f"a page (event, recommendations, similar items) as WSGI, {shoppers} shoppers"
    medians = print_passes(found, what, "page")
    print(f"increments / whole reads: {medians['increments'] / medians['whole reads']:.2f}")
    return found


@contextmanager
def ab_app(home: Path, prefix: str) -> Iterator[tuple[Any, Any, Any]]:
    """``(app, service, experiment)`` over a copy of ``home`` with the A/A experiment started.

    ``api_latency.py``'s A/A experiment: two variants serving what the plain path serves. The
    experiment is read but its switching is the caller's (``service._state.experiment``).
    """
    from api_latency import start_ab_experiment

    with home_copy(home, prefix) as copy:
        start_ab_experiment(copy)
        app = create_app({"home": str(copy), "watch": False, "precomputed": True})
        service = app.extensions["recsys"].service
        try:
            yield app, service, service._state.read_experiment()
        finally:
            app.extensions["recsys"].close()


def ab_costs(home: Path, users: list[str], passes: int = 15) -> None:
    """CPU per ``?n=20`` WSGI request without and with an A/A experiment, writes included.

    On a copy of ``home``: ``api_latency.py``'s A/A experiment (two variants serving what the
    plain path serves) is started in its store; passes over the same requests alternate the
    served experiment off and on (the first of each kind unmeasured). A pass with it on ends with
    the exposure log's write of the pass's answers (the background thread's work, on this
    thread), timed with it. Prints the minimum over passes of each (the spread is this VM's
    noise, which only ever adds), and the extra per answer.
    """
    with ab_app(home, "api-cpu-ab-") as (app, service, experiment):
        state = service._state
        state.exposures.flush_s = 3600.0  # written at the end of each pass, on the clock
        environs = user_environs(users)

        def one_pass(on: bool) -> tuple[float, float]:
            state.experiment = experiment if on else None
            batch = [dict(e) for e in environs]
            cpu0 = time.process_time()
            for environ in batch:
                b"".join(app(environ, start_response))
            cpu1 = time.process_time()
            written = service.flush_exposures()
            cpu2 = time.process_time()
            assert written == (len(batch) if on else 0), written
            return (cpu1 - cpu0) / len(batch) * 1e6, (cpu2 - cpu1) / len(batch) * 1e6

        one_pass(False), one_pass(True)
        found: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for k in range(passes):
            for on in (False, True) if k % 2 == 0 else (True, False):
                found[on].append(one_pass(on))
        plain = min(r for r, _ in found[False])
        request = min(r for r, _ in found[True])
        write = min(w for _, w in found[True])
        print(
            f"WSGI ?n=20 over {len(users)} users, min of {passes} passes: plain {plain:.1f} us; "
            f"with the A/A experiment {request:.1f} us + {write:.1f} us written = "
            f"{request + write:.1f} us (+{request + write - plain:.1f} us, "
            f"{(request + write) / plain - 1:.1%})"
        )


def ab_threaded_costs(
    home: Path, users: list[str], threads: int, passes: int = 6, seconds: float = 5.0
) -> None:
    """Process CPU per ``?n=20`` WSGI request with ``threads`` request threads, without and with
    an A/A experiment, the exposure writer on its own timer (as in a server's worker).

    Unlike :func:`ab_costs`, the exposure log writes from its background thread every second
    while the request threads run, as it does in a server, and the CPU of every thread of the
    process is counted. Passes of ``seconds`` alternate the experiment off and on (the first of
    each kind unmeasured); each ends with 1.2 s for the writer's last flush. Prints the medians.
    """
    with ab_app(home, "api-cpu-ab-threads-") as (app, service, experiment):
        state = service._state
        environs = user_environs(users)

        def one_pass(on: bool) -> float:
            state.experiment = experiment if on else None
            # 1.2 s after the threads: the writer's flush of this pass's last second, counted
            cpu, _ = threaded_pass(app, environs, threads, seconds, settle_s=1.2)
            service.flush_exposures()
            return cpu

        one_pass(False), one_pass(True)
        found: dict[bool, list[float]] = {False: [], True: []}
        for k in range(passes):
            for on in (False, True) if k % 2 == 0 else (True, False):
                found[on].append(one_pass(on))
        plain, ab = statistics.median(found[False]), statistics.median(found[True])
        print(
            f"WSGI ?n=20, {threads} request thread(s), median of {passes} passes of {seconds:g} s: "
            f"plain {plain:.1f} us, with the A/A experiment {ab:.1f} us "
            f"(+{ab - plain:.1f} us, cost {1 - plain / ab:.1%}); per pass plain "
            f"{[round(x, 1) for x in found[False]]}, A/A {[round(x, 1) for x in found[True]]}"
        )


def threaded_pass(
    app: Any,
    environs: list[dict[str, Any]],
    threads: int,
    seconds: float = 4.0,
    settle_s: float = 0.0,
) -> tuple[float, float]:
    """``threads`` threads answer ``environs`` in turn for ``seconds``.

    ``settle_s``: seconds waited after the threads end whose CPU still counts (a background
    writer's last flush).

    Returns:
        ``(CPU µs per answer, answers per second)``; every thread's CPU counts (the process's).
    """
    import threading

    stop = time.perf_counter() + seconds
    counts = [0] * threads

    def work(k: int) -> None:
        i = k
        while time.perf_counter() < stop:
            b"".join(app(dict(environs[i % len(environs)]), start_response))
            i += threads
            counts[k] += 1

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - wall0
    time.sleep(settle_s)
    cpu = time.process_time() - cpu0
    return cpu / sum(counts) * 1e6, sum(counts) / wall


def thread_tax(
    home: Path, counts: tuple[int, ...] = (1, 2, 4), passes: int = 3, seconds: float = 4.0
) -> dict[str, dict[int, float]]:
    """CPU per ``?n=20`` WSGI answer when ``counts`` request threads of one process answer.

    Two kinds of answer on a copy of ``home``: the precomputed list (the trained users as
    trained) and a browsing shopper's (``api_latency.py``'s ``user_recs_live`` setup: one view
    event since training each, so each is ranked live), each for up to 2,000 users, half the
    trained users at most (a seeded split). Each pass runs the threads for ``seconds`` over the
    users in turn; every thread's CPU counts. Prints and returns the median over ``passes`` of
    CPU µs per answer (and prints answers per second), per kind and thread count.
    Python lets one thread run at a time; the others take over whenever it lets go of the
    lock (an SQLite step, a larger numpy operation, BLAS), a thread switch each.
    """
    from api_latency import add_live_events, bundle_ids

    with home_copy(home, "api-cpu-threads-") as copy:
        users, items, owned = bundle_ids(copy)
        chosen = list(users)
        random.Random(3).shuffle(chosen)
        half = min(2000, len(chosen) // 2)
        live, listed = chosen[:half], chosen[half : 2 * half]
        add_live_events(copy, live, users, items, owned)
        app = create_app({"home": str(copy), "watch": False, "precomputed": True})
        result: dict[str, dict[int, float]] = {}
        for kind, who in {"precomputed": listed, "browsing": live}.items():
            environs = user_environs(who)
            for environ in environs:  # warm, and check the ranking
                answer = json.loads(b"".join(app(dict(environ), start_response)))
                expected = "live" if kind == "browsing" else "precomputed"
                if answer["ranking"] != expected:
                    raise SystemExit(f"{kind}: an answer was {answer['ranking']}")

            found: dict[int, list[tuple[float, float]]] = {n: [] for n in counts}
            for _ in range(passes):
                for n in counts:
                    found[n].append(threaded_pass(app, environs, n, seconds))
            result[kind] = {}
            for n in counts:
                cpu = result[kind][n] = statistics.median(c for c, _ in found[n])
                rate = statistics.median(r for _, r in found[n])
                print(
                    f"{kind} answers, {n} request thread(s), median of {passes} passes of "
                    f"{seconds:g} s over {len(who)} users: "
                    f"{cpu:.1f} µs CPU per answer, {rate:,.0f} answers/s"
                )
        app.extensions["recsys"].close()
    return result


def cold_costs(
    home: Path, passes: int = 3, evict_mb: float = 8.0
) -> dict[str, dict[str, list[float]]]:
    """CPU per WSGI request with the CPU's caches warm and after other work evicted them.

    Two requests: a browsing shopper's answer (``?n=20``, the ``--browsing`` setup on a copy of
    ``home``) and the bare Flask route of the load benchmarks. Each request's own thread CPU
    is timed alone; in the ``cold`` passes, ``evict_mb`` MB of another buffer are written just
    before each request, as a second worker or the load generator sharing the core would
    leave the caches. Warm and cold passes alternate. Prints and returns each pass's µs per
    request.
    """
    import numpy as np

    from recsys.serving import pooled

    pooled.compile_kernel()
    buffer = np.zeros(int(evict_mb * 2**20) // 8)
    found: dict[str, dict[str, list[float]]] = {}
    with browsing_app(home, "api-cpu-cold-") as (app, chosen):
        cases = {
            "browsing answer": (app, user_environs(chosen)),
            "bare Flask route": (
                bare_app(),
                [EnvironBuilder(path="/bare").get_environ() for _ in chosen],
            ),
        }
        for name, (wsgi, environs) in cases.items():
            for environ in environs:  # warm-up: every shopper is remembered, as in a server
                b"".join(wsgi(dict(environ), start_response))
            found[name] = {"warm": [], "cold": []}
            for _ in range(passes):
                for way, per in found[name].items():
                    spent = 0
                    for environ in [dict(e) for e in environs]:
                        if way == "cold":
                            buffer += 1.0
                        t0 = time.thread_time_ns()
                        b"".join(wsgi(environ, start_response))
                        spent += time.thread_time_ns() - t0
                    per.append(spent / len(environs) / 1e3)
            medians = print_passes(found[name], f"{name}, ?n=20 as WSGI", "request")
            print(f"{name}: cold / warm {medians['cold'] / medians['warm']:.2f}")
        app.extensions["recsys"].close()
    return found


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
        "--browsing",
        action="store_true",
        help="only measure n=20 as WSGI for users with one event since training (a copy of H)",
    )
    parser.add_argument(
        "--events",
        action="store_true",
        help="only measure one-event POST /v1/events as WSGI, lean path and Flask (a copy of H)",
    )
    parser.add_argument(
        "--pages",
        action="store_true",
        help="only measure storefront pages (event, recs, similar) as WSGI in one process",
    )
    parser.add_argument(
        "--ab",
        action="store_true",
        help="only measure n=20 as WSGI with and without an A/A experiment (on a copy of the home)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="with --ab: N request threads for timed passes, the exposure writer on its timer",
    )
    parser.add_argument(
        "--thread-tax",
        action="store_true",
        help="only measure precomputed and browsing answers from 1, 2 and 4 request threads",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="only measure browsing answers and the bare route with warm and evicted CPU caches",
    )
    parser.add_argument(
        "--hybrid",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a [hybrid] setting of the served bundle (JSON value), repeatable",
    )
    args = parser.parse_args()
    if args.cold:
        cold_costs(args.home)
        return
    if args.thread_tax:
        thread_tax(args.home)
        return
    if args.browsing:
        browsing_costs(args.home)
        return
    if args.events:
        event_costs(args.home)
        return
    if args.pages:
        page_costs(args.home)
        return
    if args.ab:
        users = load_bundle(Home(args.home).artifacts).users.ids()
        if args.threads:
            ab_threaded_costs(args.home, users, args.threads)
            return
        ab_costs(args.home, random.Random(2026).choices(users, k=2000))
        return
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
