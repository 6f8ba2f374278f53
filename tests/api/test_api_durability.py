"""Durability: events acknowledged with 202 survive a SIGKILL of the whole server, exactly once.

4 client processes post 20,000 events (batches of 100, idempotency keys, server-stamped times)
to a real ``recsys serve``; mid-stream the server's process group is killed with SIGKILL and a new
server is started on the same port; clients retry unacknowledged batches with the same keys.
The same scenario runs over the SQLite store in the home and over a PostgreSQL store
(``RECSYS_STORE``), and the acknowledged events are counted in the store the server wrote.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from api_testing import ADMIN_KEY, WRITE_KEY
from test_api_server import Server, free_port

from api.testing import (
    DurabilityResult,
    ServerProcess,
    StoreLocation,
    acknowledged,
    count_stored,
    start_clients,
    summarize_run,
)
from api.testing import kill_server as kill_process_group
from recsys.home import Home

CLIENTS = 4
EVENTS_PER_CLIENT = 5_000
BATCH = 100

# starts a server on (port, log file); the scenario waits for it to be ready
StartServer = Callable[[int, Path], ServerProcess]


@dataclass(frozen=True)
class KillRun:
    """What :func:`run_sigkill_scenario` measured (the store is counted by the caller)."""

    before_kill: int  # events acknowledged when the server was killed
    kill_to_ready_s: float  # from the SIGKILL to the restarted server's ready answer
    wall_s: float  # the whole scenario


def run_sigkill_scenario(start: StartServer, folder: Path) -> KillRun:
    """Post events with :data:`CLIENTS` clients, SIGKILL the server mid-stream, restart it.

    The clients write their acknowledged ids into ``folder``; every client must finish (each of
    its batches acknowledged, retried across the crash with the same event ids).

    Args:
        start: starts a server (the first one, then its replacement on the same port).
        folder: where the clients' ack files and the servers' logs go.
    """
    port = free_port()
    started = time.monotonic()
    server = start(port, folder / "server-1.log")
    restarted: ServerProcess | None = None
    clients = []
    try:
        server.wait_ready()
        clients = start_clients(port, CLIENTS, EVENTS_PER_CLIENT, BATCH, WRITE_KEY, folder)
        total = CLIENTS * EVENTS_PER_CLIENT
        deadline = time.monotonic() + 180
        while len(acknowledged(folder)) < total // 4:  # kill once a quarter is acknowledged
            assert time.monotonic() < deadline, "clients made no progress"
            assert all(c.poll() is None for c in clients), "a client died before the kill"
            time.sleep(0.05)
        kill_process_group(server.proc)
        before_kill = len(acknowledged(folder))
        killed_at = time.monotonic()
        assert before_kill < total, "the kill came too late to test anything"

        restarted = start(port, folder / "server-2.log")
        restarted.wait_ready()
        kill_to_ready = time.monotonic() - killed_at
        for c in clients:
            assert c.wait(timeout=300) == 0
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
                c.wait(timeout=30)
        if restarted is not None:
            restarted.stop()
        server.stop()
    return KillRun(before_kill, kill_to_ready, time.monotonic() - started)


def check_exactly_once(db: StoreLocation, folder: Path, run: KillRun) -> DurabilityResult:
    """Assert that every acknowledged event is stored in ``db`` exactly once."""
    result = summarize_run(
        db, folder, CLIENTS, EVENTS_PER_CLIENT, run.before_kill, run.kill_to_ready_s, run.wall_s
    )
    print(result)
    total = CLIENTS * EVENTS_PER_CLIENT
    assert result.acknowledged == total  # every batch was eventually acknowledged
    assert result.missing == 0  # nothing acknowledged was lost
    assert result.duplicated == 0  # retries did not store anything twice
    assert result.found_once == total
    return result


@pytest.mark.slow
def test_acknowledged_events_survive_sigkill_exactly_once(api_home: Home, tmp_path: Path) -> None:
    def start(port: int, log: Path) -> ServerProcess:
        return Server(api_home, port, log)

    run = run_sigkill_scenario(start, tmp_path)
    check_exactly_once(api_home.db_path, tmp_path, run)


@pytest.mark.slow
def test_acknowledged_events_survive_sigkill_exactly_once_postgres(
    api_home: Home, postgres_url: str, tmp_path: Path
) -> None:
    """The same crash with the events in PostgreSQL; the bundle stays the home's."""
    from recsys.store.postgres import migrate

    migrate(postgres_url)
    env = {
        "RECSYS_API_WRITE_KEYS": WRITE_KEY,
        "RECSYS_API_ADMIN_KEYS": ADMIN_KEY,
        "RECSYS_API_SWAP_POLL_S": "0.2",
        "RECSYS_API_CONFIG": None,  # a developer's config file stays out of the test
        "RECSYS_STORE": postgres_url,
        "RECSYS_ARTIFACTS": None,  # the bundle in the home's artifacts/ folder
    }

    def start(port: int, log: Path) -> ServerProcess:
        return ServerProcess(api_home.root, port, log, workers=2, env=env)

    run = run_sigkill_scenario(start, tmp_path)
    check_exactly_once(postgres_url, tmp_path, run)
    # nothing went to the home's SQLite file: the servers wrote to the store they were given
    assert count_stored(api_home.db_path) == {}
