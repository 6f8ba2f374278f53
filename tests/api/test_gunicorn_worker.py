"""``api.gunicorn_worker.InlineReadsWorker``: cheap reads on the main thread, the rest in the pool.

A real gunicorn serves ``threads_app.py``, a WSGI app whose answers name the thread that wrote
them; ``GET /fast`` is its cheap read, ``GET /slow`` sleeps in the pool.
"""

from __future__ import annotations

import http.client
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner

from api.testing import free_port, start_process, stop_server, wait_ready
from recsys.cli import cli

APP = Path(__file__).with_name("threads_app.py")


class Served:
    """``threads_app.py`` under ``run_gunicorn`` (one worker, two pool threads)."""

    def __init__(self, tmp: Path, inline: bool) -> None:
        self.port = free_port()
        self.log = tmp / f"threads-{'on' if inline else 'off'}.log"
        cmd = [sys.executable, str(APP), str(self.port), "on" if inline else "off"]
        self.proc = start_process(cmd, self.log)
        wait_ready(self.port, path="/fast", proc=self.proc, log=self.log)

    def get(self, path: str, timeout: float = 10) -> tuple[int, str]:
        """One request on a new connection: ``(status, body)``."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def inline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = Served(tmp_path_factory.mktemp("inline"), inline=True)
    try:
        yield served
    finally:
        stop_server(served.proc)


def test_a_cheap_read_runs_on_the_main_thread_and_the_rest_in_the_pool(inline: Served) -> None:
    assert inline.get("/fast") == (200, "MainThread")
    status, thread = inline.get("/slow?s=0")
    assert status == 200 and thread.startswith("ThreadPoolExecutor"), thread
    assert inline.get("/nowhere")[0] == 404
    assert "InlineReadsWorker" in inline.log.read_text()


def test_without_inline_reads_every_request_runs_in_the_pool(tmp_path: Path) -> None:
    served = Served(tmp_path, inline=False)
    try:
        status, thread = served.get("/fast")
        assert status == 200 and thread.startswith("ThreadPoolExecutor"), thread
        assert "JsonErrorWorker" in served.log.read_text()
    finally:
        stop_server(served.proc)


def test_a_kept_alive_connection_answers_request_after_request(inline: Served) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", inline.port, timeout=10)
    try:
        threads, ends = [], set()
        for path in ("/fast", "/slow?s=0", "/fast", "/fast"):
            conn.request("GET", path)
            response = conn.getresponse()
            assert response.status == 200
            threads.append(response.read().decode())
            assert conn.sock is not None
            ends.add(conn.sock.getsockname())
        assert len(ends) == 1  # one connection throughout
        assert threads[0] == threads[2] == threads[3] == "MainThread"
        assert threads[1].startswith("ThreadPoolExecutor")
    finally:
        conn.close()


def test_a_slow_request_in_the_pool_does_not_hold_up_the_cheap_reads(inline: Served) -> None:
    slow: dict[str, object] = {}

    def ask_slow() -> None:
        slow["answer"] = inline.get("/slow?s=3")

    asking = threading.Thread(target=ask_slow)
    asking.start()
    time.sleep(0.5)  # the slow request is in the pool by now
    try:
        for _ in range(5):
            assert inline.get("/fast") == (200, "MainThread")
        assert "answer" not in slow  # answered while the slow one still sleeps
    finally:
        asking.join()
    assert slow["answer"][0] == 200  # type: ignore[index]


def test_an_idle_connection_holds_nothing(inline: Served) -> None:
    with socket.create_connection(("127.0.0.1", inline.port), timeout=10):
        time.sleep(0.2)  # accepted, and silent
        for _ in range(3):
            assert inline.get("/fast") == (200, "MainThread")


def read_answers(sock: socket.socket, count: int) -> list[str]:
    """Read ``count`` HTTP/1.1 answers (each with Content-Length) from ``sock``: their bodies."""
    data, bodies = b"", list[str]()
    while len(bodies) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(bodies)} answers"
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(data) < length:
            chunk = sock.recv(65536)
            assert chunk
            data += chunk
        bodies.append(data[:length].decode())
        data = data[length:]
    return bodies


@pytest.mark.parametrize("cut", [7, 28], ids=["in-the-request-line", "before-the-blank-line"])
def test_a_request_sent_in_pieces_is_read_in_the_pool(inline: Served, cut: int) -> None:
    request = b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", inline.port), timeout=10) as sock:
        sock.sendall(request[:cut])
        time.sleep(0.3)  # the worker sees a head that is not whole: the main thread never waits
        sock.sendall(request[cut:])
        assert read_answers(sock, 1)[0].startswith("ThreadPoolExecutor")
        sock.sendall(request)  # the next one comes whole
        assert read_answers(sock, 1) == ["MainThread"]


@pytest.mark.parametrize(
    "header",
    [
        b"Content-Length: 3",
        b"content-length:3",
        b"Content-Length: 03",
        b"Transfer-Encoding: chunked",
    ],
)
def test_a_read_that_announces_a_body_is_read_in_the_pool(inline: Served, header: bytes) -> None:
    with socket.create_connection(("127.0.0.1", inline.port), timeout=10) as sock:
        body = b"3\r\nabc\r\n0\r\n\r\n" if header.startswith(b"Transfer") else b"abc"
        sock.sendall(b"GET /fast HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n" + body)
        assert read_answers(sock, 1)[0].startswith("ThreadPoolExecutor")


@pytest.mark.parametrize("header", [b"Content-Length: 0", b"content-length:00 ", b"X-A: 1"])
def test_a_read_that_announces_no_body_runs_on_the_main_thread(
    inline: Served, header: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", inline.port), timeout=10) as sock:
        sock.sendall(b"GET /fast HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n")
        assert read_answers(sock, 1) == ["MainThread"]


def test_the_main_thread_waits_for_a_client_to_read_at_most_a_few_seconds() -> None:
    from api.gunicorn_worker import INLINE_SEND_TIMEOUT_S, _limit_send_wait

    with socket.socket() as sock:
        _limit_send_wait(sock)
        seconds, micros = struct.unpack(
            "ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, 16)
        )
        assert seconds + micros / 1e6 == INLINE_SEND_TIMEOUT_S > 0


def test_pipelined_requests_are_all_answered_in_order(inline: Served) -> None:
    requests = [b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n"] * 20
    requests[5] = b"GET /slow?s=0 HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", inline.port), timeout=10) as sock:
        sock.sendall(b"".join(requests))
        answers = read_answers(sock, len(requests))
    assert answers[5].startswith("ThreadPoolExecutor")
    assert all(a == "MainThread" or a.startswith("ThreadPoolExecutor") for a in answers)
    assert answers.count("MainThread") >= 8  # a chain runs inline up to MAX_INLINE_CHAIN deep


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], True),  # an SQLite store: on
        (["--no-inline-reads"], False),
        (["--store", "postgresql://127.0.0.1:1/none"], False),  # reads wait on the network
        (["--store", "postgresql://127.0.0.1:1/none", "--inline-reads"], True),
    ],
)
def test_serve_runs_reads_inline_over_sqlite_unless_told(
    tmp_path: Path, args: list[str], expected: bool
) -> None:
    store = [a for a in args[:2] if args[:1] == ["--store"]]
    rest = args[2:] if store else args
    with mock.patch("api.serve.run_gunicorn") as run:
        result = CliRunner().invoke(cli, ["--home", str(tmp_path), *store, "serve", *rest])
    assert result.exit_code == 0, result.output
    assert run.call_args.kwargs["inline_reads"] is expected
