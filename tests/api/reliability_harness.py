"""Fault-injection harness shared by the durability test and ``benchmarks/reliability.py``.

Durability scenario: client processes post events in batches to a real ``recsys serve``; the
server's whole process group is killed with SIGKILL mid-stream and restarted on the same port.
Clients retry every batch that did not get a 202 (connection refused/reset, timeout, 5xx) with the
SAME idempotency keys (``event_id``) until it is acknowledged. Events carry no ``ts`` (the server
stamps them), so only ``event_id`` can make a retry idempotent. Each event's id is also written
into its ``session_id``, so every stored row can be traced back to the event that produced it.

Run one client by hand:
``python tests/api/reliability_harness.py client PORT INDEX N BATCH KEY OUT``.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ITEMS = ("r1", "r2", "r3", "r4", "k1", "k2", "k3", "k4")


def post_until_acknowledged(port: int, body: bytes, key: str, deadline: float) -> tuple[int, int]:
    """POST one batch until it gets 202; return ``(attempts, 5xx answers seen)``."""
    attempts = errors_5xx = 0
    while True:
        attempts += 1
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request(
                "POST",
                "/v1/events",
                body=body,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            )
            response = conn.getresponse()
            response.read()
            if response.status == 202:
                return attempts, errors_5xx
            if response.status >= 500:
                errors_5xx += 1
            else:
                raise RuntimeError(f"batch refused with {response.status}")
        except (OSError, http.client.HTTPException):
            pass  # server down or killed mid-request: retry the same batch
        finally:
            conn.close()
        if time.monotonic() > deadline:
            raise TimeoutError("server did not come back in time")
        time.sleep(0.1)


def client_main(port: int, index: int, n_events: int, batch: int, key: str, out: Path) -> None:
    """Post ``n_events`` events in batches; append each acknowledged event id to ``out``."""
    deadline = time.monotonic() + 600
    stats = {"batches": 0, "attempts": 0, "errors_5xx": 0}
    with out.open("a", encoding="utf-8") as acks:
        for start in range(0, n_events, batch):
            events = []
            for seq in range(start, min(start + batch, n_events)):
                event_id = f"c{index}-{seq}"
                events.append(
                    {
                        "user_id": f"dur{index}-{seq % 40}",
                        "item_id": ITEMS[seq % len(ITEMS)],
                        "type": "click",
                        "session_id": event_id,
                        "event_id": event_id,
                    }
                )
            body = json.dumps({"events": events}).encode()
            attempts, errors = post_until_acknowledged(port, body, key, deadline)
            stats["batches"] += 1
            stats["attempts"] += attempts
            stats["errors_5xx"] += errors
            acks.write("".join(e["event_id"] + "\n" for e in events))
            acks.flush()
    out.with_suffix(".stats.json").write_text(json.dumps(stats), encoding="utf-8")


def start_clients(
    port: int, n_clients: int, n_events: int, batch: int, key: str, folder: Path
) -> list[subprocess.Popen[bytes]]:
    """Start ``n_clients`` client processes; their ack files are ``folder/acks-<i>.txt``."""
    procs = []
    for i in range(n_clients):
        args = [str(port), str(i), str(n_events), str(batch), key, str(folder / f"acks-{i}.txt")]
        procs.append(
            subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "client", *args])
        )
    return procs


def acknowledged(folder: Path) -> list[str]:
    """Every event id some client saw acknowledged."""
    ids: list[str] = []
    for path in sorted(folder.glob("acks-*.txt")):
        ids.extend(line for line in path.read_text(encoding="utf-8").splitlines() if line)
    return ids


def kill_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a server and all its workers (it was started in its own session)."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@dataclass(frozen=True)
class DurabilityResult:
    """What the durability scenario observed."""

    clients: int
    events_sent: int
    acknowledged_before_kill: int
    acknowledged: int
    found_once: int
    missing: int
    duplicated: int
    retried_batches: int
    kill_to_ready_s: float
    wall_s: float


def count_stored(db_path: Path, prefix: str = "c") -> Counter[str]:
    """How many stored rows each harness event id produced (read straight from SQLite)."""
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute(
            "SELECT session_id, COUNT(*) FROM events WHERE session_id LIKE ? GROUP BY session_id",
            (f"{prefix}%",),
        ).fetchall()
    finally:
        conn.close()
    return Counter({sid: n for sid, n in rows})


def summarize_run(
    db_path: Path,
    folder: Path,
    n_clients: int,
    n_events: int,
    before_kill: int,
    kill_to_ready_s: float,
    wall_s: float,
) -> DurabilityResult:
    """Compare acknowledged ids with what the store holds."""
    acks = set(acknowledged(folder))
    stored = count_stored(db_path)
    retried = 0
    for path in folder.glob("acks-*.stats.json"):
        stats = json.loads(path.read_text(encoding="utf-8"))
        retried += stats["attempts"] - stats["batches"]
    return DurabilityResult(
        clients=n_clients,
        events_sent=n_clients * n_events,
        acknowledged_before_kill=before_kill,
        acknowledged=len(acks),
        found_once=sum(1 for a in acks if stored.get(a) == 1),
        missing=sum(1 for a in acks if a not in stored),
        duplicated=sum(1 for n in stored.values() if n > 1),
        retried_batches=retried,
        kill_to_ready_s=round(kill_to_ready_s, 2),
        wall_s=round(wall_s, 2),
    )


if __name__ == "__main__":
    if len(sys.argv) != 8 or sys.argv[1] != "client":
        sys.exit(__doc__)
    _, _, port_, index_, n_, batch_, key_, out_ = sys.argv
    client_main(int(port_), int(index_), int(n_), int(batch_), key_, Path(out_))
