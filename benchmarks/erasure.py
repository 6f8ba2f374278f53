"""Erasure residue on a real ML-100K home: mark users everywhere, erase them, grep every file.

What a privacy officer would check, on the real server (``recsys serve``, 2 workers):

1. An ML-100K home (``recsys load-demo``) gets 50 marked users: copies of the histories of
   ML-100K users 1..50 under ids ``zq/bench-user-<i>`` (a ``/`` in ids 1..49) and
   ``zq-bench-user-0``, with marked session ids; user 0 also gets a row in a kept inbox file
   (imported by the inbox, kept in ``done/``).
2. ``recsys train`` runs twice: two kept bundles hold every marked user (ids, training rows,
   vectors, precomputed lists).
3. Through the server: user 0 posts events with marked event ids, then asks for pitched
   recommendations (the default local LLM, prepared by ``make pitch-model``) until they are
   cached (or ``--pitch-seconds`` pass). Positive control: every marker is found in the
   files before the erasure.
4. ``DELETE /v1/users/zq-bench-user-0`` (admin key): its time, and then every file under the
   home is grepped for user 0's markers (id, sessions, event ids, pitch texts).
5. ``POST /v1/erasures`` erases users 1..9 (ids with ``/``) in one call; then
   ``recsys erase --from-file`` erases the other 40 at once (each bundle rewritten once): their
   times, and the grep for their markers (after the CLI: all markers of all 50 users).

Usage::

    flock /tmp/recsys-bench.lock .venv/bin/python benchmarks/erasure.py

Writes ``benchmarks/results/erasure.json`` and prints Markdown rows for
``benchmarks/RELIABILITY.md``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

from api_latency import KEY, free_port, start_server, stop_server, wait_ready  # noqa: E402

RECSYS = Path(sys.executable).parent / "recsys"
ADMIN = KEY + "-admin"
MARKED = 50


def run(*args: str, home: Path) -> float:
    """Run a recsys command; return its wall time."""
    started = time.perf_counter()
    subprocess.run([str(RECSYS), "--home", str(home), *args], check=True, capture_output=True)
    return time.perf_counter() - started


def call(
    port: int, method: str, path: str, body: Any = None, key: str = KEY
) -> tuple[int, Any, float]:
    """One HTTP call: (status, parsed JSON, seconds)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    started = time.perf_counter()
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    payload = json.loads(response.read() or b"null")
    conn.close()
    return response.status, payload, time.perf_counter() - started


def grep(root: Path, markers: list[str]) -> dict[str, Any]:
    """Every file under ``root``: how many, how many bytes, and where each marker is found.

    A marker counts when it is not followed by a digit (``zq/bench-user-1`` is not found inside
    ``zq/bench-user-12``).
    """
    files = [p for p in root.rglob("*") if p.is_file()]
    patterns = {m: re.compile(re.escape(m.encode("utf-8")) + rb"(?![0-9])") for m in markers}
    found: dict[str, list[str]] = {}
    size = 0
    for path in files:
        data = path.read_bytes()
        size += len(data)
        for marker, pattern in patterns.items():
            if pattern.search(data):
                found.setdefault(marker, []).append(str(path.relative_to(root)))
    return {"files": len(files), "bytes": size, "found": found}


def mark(home: Path) -> dict[str, list[str]]:
    """Add the marked users (copies of users 1..50) and user 0's inbox file; return markers."""
    import polars as pl

    from jobs.nightly.inbox import import_inbox
    from recsys.store import SQLiteStore

    markers: dict[str, list[str]] = {}
    with SQLiteStore(home / "recsys.sqlite3") as store:
        events = store.events_frame()
        frames = []
        for i in range(MARKED):
            user = "zq-bench-user-0" if i == 0 else f"zq/bench-user-{i}"
            session = f"zq-bench-session-{i}"
            mine = events.filter(pl.col("user_id") == str(i + 1)).with_columns(
                pl.lit(user).alias("user_id"), pl.lit(session).alias("session_id")
            )
            frames.append(mine)
            markers[user] = [user, session]
        store.add_events(pl.concat(frames))
        inbox = home / "inbox"
        inbox.mkdir(exist_ok=True)
        (inbox / "events-bench.csv").write_text(
            "user_id,item_id,type,ts,session_id\n"
            f"zq-bench-user-0,50,click,{time.time() - 60:.0f},zq-bench-inbox-0\n"
            f"1,50,view,{time.time() - 60:.0f},\n",
            encoding="utf-8",
        )
        import_inbox(store, inbox)
    markers["zq-bench-user-0"].append("zq-bench-inbox-0")
    return markers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pitch-seconds", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/erasure.json")
    parser.add_argument("--keep", type=Path, default=None, help="copy the home here at the end")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="recsys-erasure-") as tmp:
        home = Path(tmp) / "home"
        result["load_demo_s"] = round(run("load-demo", "--dataset", "ml-100k", home=home), 1)
        markers = mark(home)
        result["train_s"] = [round(run("train", home=home), 1) for _ in range(2)]
        port = free_port()
        settings = {"RECSYS_API_ADMIN_KEYS": ADMIN}
        proc = start_server("recsys", home, port, 2, 4, Path(tmp) / "server.log", settings)
        try:
            wait_ready(port, "/readyz", proc)
            user = "zq-bench-user-0"
            path = urllib.parse.quote(user, safe="")
            event_ids = [f"zq-bench-event-{k}" for k in range(5)]
            for k, event_id in enumerate(event_ids):
                body = {
                    "user_id": user,
                    "item_id": str(100 + k),
                    "type": "view",
                    "event_id": event_id,
                    "session_id": "zq-bench-session-0",
                }
                assert call(port, "POST", "/v1/events", body)[0] == 202
            markers[user] += event_ids
            texts: set[str] = set()
            deadline = time.monotonic() + args.pitch_seconds
            sources: list[str] = []
            while time.monotonic() < deadline:
                status, answer, _ = call(
                    port,
                    "GET",
                    f"/v1/users/{path}/recommendations?n=3&pitch=true&pitch_wait_ms=5000",
                )
                assert status == 200, answer
                sources = [item["pitch"]["source"] for item in answer["items"]]
                texts |= {item["pitch"]["text"] for item in answer["items"]}
                if all(s in ("cache", "llm") for s in sources):
                    break
            result["pitch_sources_last"] = sources
            cached = [t for t in texts if grep(home / "cache", [t])["found"]]
            result["pitch_texts_cached"] = len(cached)
            markers[user] += cached
            everything = [m for ms in markers.values() for m in ms]
            before = grep(home, everything)
            result["before"] = {
                "files": before["files"],
                "markers": len(everything),
                "markers_found": len(before["found"]),
                "where": sorted({f for fs in before["found"].values() for f in fs}),
            }
            status, erased, seconds = call(port, "DELETE", f"/v1/users/{path}", key=ADMIN)
            assert status == 200, erased
            after_one = grep(home, markers[user])
            result["api_erase"] = {
                "seconds": round(seconds, 3),
                "report": erased["erasure"],
                "files_checked": after_one["files"],
                "bytes_checked": after_one["bytes"],
                "markers": len(markers[user]),
                "markers_found": sum(len(v) for v in after_one["found"].values()),
                "found": after_one["found"],
            }
            batch = [f"zq/bench-user-{i}" for i in range(1, 10)]  # ids with "/": in the body
            status, erased, seconds = call(
                port, "POST", "/v1/erasures", {"user_ids": batch}, key=ADMIN
            )
            assert status == 200, erased
            batch_markers = [m for u in batch for m in markers[u]]
            after_batch = grep(home, batch_markers)
            result["api_batch_erase"] = {
                "users": len(batch),
                "seconds": round(seconds, 3),
                "report": erased["erasure"],
                "files_checked": after_batch["files"],
                "markers": len(batch_markers),
                "markers_found": sum(len(v) for v in after_batch["found"].values()),
                "found": after_batch["found"],
            }
        finally:
            stop_server(proc)
        rest = Path(tmp) / "ids.txt"
        done = {"zq-bench-user-0", *batch}
        rest.write_text("\n".join(u for u in markers if u not in done) + "\n")
        started = time.perf_counter()
        out = subprocess.run(
            [str(RECSYS), "--home", str(home), "erase", "--from-file", str(rest), "--json"],
            check=True,
            capture_output=True,
            text=True,
        )
        cli_s = time.perf_counter() - started
        everything = [m for ms in markers.values() for m in ms]
        after_all = grep(home, everything)
        result["cli_erase"] = {
            "users": MARKED - len(done),
            "seconds": round(cli_s, 2),
            "report": json.loads(out.stdout),
            "files_checked": after_all["files"],
            "bytes_checked": after_all["bytes"],
            "markers": len(everything),
            "markers_found": sum(len(v) for v in after_all["found"].values()),
            "found": after_all["found"],
        }
        result["audit_lines"] = (home / "audit.log").read_text().count("\n")
        if args.keep is not None:
            shutil.copytree(home, args.keep, dirs_exist_ok=True)
    result["load_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    api, cli = result["api_erase"], result["cli_erase"]
    print(json.dumps(result, indent=2))
    print()
    print(
        f"| erasure residue, API (`DELETE /v1/users/zq-bench-user-0`, ML-100K home, 2 kept "
        f"bundles, LLM pitches cached: {result['pitch_texts_cached']}) | "
        f"{api['files_checked']} files ({api['bytes_checked'] / 1e6:.0f} MB) grepped for "
        f"{api['markers']} markers found before in {len(result['before']['where'])} files | "
        f"markers found after: **{api['markers_found']}**; answer in {api['seconds']} s |"
    )
    batch = result["api_batch_erase"]
    print(
        f"| erasure residue, API batch (`POST /v1/erasures`, {batch['users']} ids with `/`) | "
        f"{batch['files_checked']} files grepped for {batch['markers']} markers | "
        f"markers found after: **{batch['markers_found']}**; answer in {batch['seconds']} s |"
    )
    print(
        f"| erasure residue, CLI (`recsys erase --from-file`, {cli['users']} users at once) | "
        f"{cli['files_checked']} files grepped for {cli['markers']} markers | "
        f"markers found after: **{cli['markers_found']}**; {cli['seconds']} s in all |"
    )


if __name__ == "__main__":
    main()
