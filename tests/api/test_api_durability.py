"""Durability: events acknowledged with 202 survive a SIGKILL of the whole server, exactly once.

4 client processes post 20,000 events (batches of 100, idempotency keys, server-stamped times)
to a real ``recsys serve``; mid-stream the server's process group is killed with SIGKILL and a new
server is started on the same port; clients retry unacknowledged batches with the same keys.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from api_testing import WRITE_KEY
from test_api_server import Server, free_port

from api.testing import acknowledged, start_clients, summarize_run
from api.testing import kill_server as kill_process_group
from recsys.home import Home

CLIENTS = 4
EVENTS_PER_CLIENT = 5_000
BATCH = 100


@pytest.mark.slow
def test_acknowledged_events_survive_sigkill_exactly_once(api_home: Home, tmp_path: Path) -> None:
    port = free_port()
    started = time.monotonic()
    server = Server(api_home, port, tmp_path / "server-1.log")
    server.wait_ready()
    clients = start_clients(port, CLIENTS, EVENTS_PER_CLIENT, BATCH, WRITE_KEY, tmp_path)
    restarted: Server | None = None
    try:
        total = CLIENTS * EVENTS_PER_CLIENT
        deadline = time.monotonic() + 180
        while len(acknowledged(tmp_path)) < total // 4:  # kill once a quarter is acknowledged
            assert time.monotonic() < deadline, "clients made no progress"
            assert all(c.poll() is None for c in clients), "a client died before the kill"
            time.sleep(0.05)
        kill_process_group(server.proc)
        before_kill = len(acknowledged(tmp_path))
        killed_at = time.monotonic()
        assert before_kill < total, "the kill came too late to test anything"

        restarted = Server(api_home, port, tmp_path / "server-2.log")
        restarted.wait_ready()
        kill_to_ready = time.monotonic() - killed_at
        for c in clients:
            assert c.wait(timeout=300) == 0
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
        if restarted is not None:
            restarted.stop()
        server.stop()

    result = summarize_run(
        api_home.db_path,
        tmp_path,
        CLIENTS,
        EVENTS_PER_CLIENT,
        before_kill,
        kill_to_ready,
        time.monotonic() - started,
    )
    print(result)
    assert result.acknowledged == total  # every batch was eventually acknowledged
    assert result.missing == 0  # nothing acknowledged was lost
    assert result.duplicated == 0  # retries did not store anything twice
    assert result.found_once == total
