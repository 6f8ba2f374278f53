"""Edges of the real server (``recsys serve``) and of the keys on the system routes.

- gunicorn's own answers (a request it cannot parse never reaches Flask) are JSON errors too;
- two servers of the same OS user do not share (and remove) a gunicorn control socket;
- a reload (HUP) gives new workers that read the config file again, and the server keeps serving;
- with ``read_requires_key`` (or ``metrics_keys``), ``/metrics`` and ``/openapi.json`` need a key
  while ``/healthz`` and ``/readyz`` stay open for probes.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from api_testing import ADMIN_KEY, WRITE_KEY, auth
from flask import Flask

from api.app import create_app
from api.config import load_api_config
from api.testing import ServerProcess, free_port

METRICS_KEY = "test-metrics-key"


class Server(ServerProcess):
    """``recsys serve`` on 127.0.0.1 over an empty home (no model: /healthz answers, /readyz 503).

    ``HOME`` is a private folder and ``XDG_RUNTIME_DIR`` is unset, so gunicorn's default control
    socket would be ``<home>/.gunicorn/gunicorn.ctl``: nothing touches the real ``~/.gunicorn``.
    """

    def __init__(
        self, root: Path, user_home: Path, port: int, name: str, config: Path | None = None
    ) -> None:
        env: dict[str, str | None] = {
            "HOME": str(user_home),
            "RECSYS_API_WRITE_KEYS": WRITE_KEY,
            "XDG_RUNTIME_DIR": None,
            "RECSYS_API_CONFIG": None if config is None else str(config),
            "RECSYS_HOME": None,
        }
        home, log = root / name, root / f"{name}.log"
        super().__init__(home, port, log, workers=1, threads=2, env=env)


def unix_sockets(pid: int) -> set[str]:
    """Paths of the unix sockets the process listens on."""
    import psutil

    return {
        c.laddr
        for c in psutil.Process(pid).net_connections(kind="unix")
        if isinstance(c.laddr, str) and c.laddr and c.status in (psutil.CONN_LISTEN, "NONE")
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("edges")
    (root / "user").mkdir()
    srv = Server(root, root / "user", free_port(), "one")
    try:
        srv.wait_alive()
        yield srv
    finally:
        srv.stop()


def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes as one request; the answer's status, headers (lower-case names), body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock)
        response.begin()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, response.read()


BIG_HEADER = b"X-Big: " + b"a" * 100_000 + b"\r\n"
MALFORMED = {
    "header_100kb": (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + BIG_HEADER + b"\r\n", 431),
    "uri_too_long": (b"GET /" + b"a" * 9_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "bad_request_line": (b"NONSENSE\r\n\r\n", 400),
    "bad_header_name": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400),
    "bad_http_version": (b"GET /healthz HTTP/7.1\r\nHost: x\r\n\r\n", 400),
    "unknown_transfer_coding": (
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo\r\n\r\n",
        501,
    ),
    "chunked_not_last": (
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        400,
    ),
}


@pytest.mark.parametrize(("raw", "status"), MALFORMED.values(), ids=list(MALFORMED))
def test_requests_gunicorn_rejects_get_json_errors(server: Server, raw: bytes, status: int) -> None:
    got, headers, body = exchange(server.port, raw)
    assert got == status, body[:300]
    assert headers["content-type"] == "application/json", body[:300]
    assert int(headers["content-length"]) == len(body)
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message"}
    assert error["code"] and error["code"].islower() and " " not in error["code"]
    assert isinstance(error["message"], str) and 0 < len(error["message"]) <= 500
    assert server.get("/healthz") == 200  # the worker is fine afterwards


def test_a_malformed_chunked_body_is_a_json_400_not_a_500(server: Server) -> None:
    # gunicorn parses the chunks while the route reads the body, so the error reaches Flask
    raw = (
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + WRITE_KEY.encode()
        + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"zz\r\n{}\r\n0\r\n\r\n"
    )
    status, headers, body = exchange(server.port, raw)
    assert status == 400 and headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"]["code"] == "bad_request"


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_gunicorn_internal_errors_are_json_and_say_nothing_inside() -> None:
    """A 500 from gunicorn itself (e.g. a bad response header): JSON, without the exception."""
    from gunicorn.http.errors import InvalidHeader

    from api.gunicorn_worker import JsonErrorWorker

    worker = object.__new__(JsonErrorWorker)  # handle_error needs only the logger here
    worker.log = mock.Mock()
    answers = {}
    for exc in (RuntimeError("secret internals"), InvalidHeader("X-Y")):
        ours, theirs = socket.socketpair()
        with ours, theirs:
            worker.handle_error(None, ours, ("127.0.0.1", 1), exc)
            ours.shutdown(socket.SHUT_WR)
            answers[type(exc).__name__] = read_all(theirs)
    head, _, body = answers["RuntimeError"].partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 500 Internal Server Error"
    assert b"\r\nContent-Type: application/json" in head
    assert b"\r\nConnection: close" in head
    assert json.loads(body) == {
        "error": {"code": "internal_error", "message": "internal server error"}
    }
    head, _, body = answers["InvalidHeader"].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert json.loads(body)["error"] == {
        "code": "bad_request",
        "message": "bad request: " + str(InvalidHeader("X-Y")),
    }
    worker.log.exception.assert_called()  # gunicorn still logged the 500


@pytest.mark.slow  # two servers start and stop (3-8 s on 2 cores)
def test_two_servers_of_one_user_do_not_share_a_control_socket(tmp_path: Path) -> None:
    user_home = tmp_path / "user"
    user_home.mkdir()
    first = Server(tmp_path, user_home, free_port(), "first")
    second = Server(tmp_path, user_home, free_port(), "second")
    try:
        first.wait_alive()
        second.wait_alive()
        first_sockets = unix_sockets(first.proc.pid)
        second.stop()
        # whatever unix sockets the first server listens on still exist after the second stopped
        missing = sorted(p for p in first_sockets if not os.path.exists(p))
        assert missing == [], first.log.read_text()[-2000:]
        # recsys serve runs no control socket at all (nothing for `gunicornc` to reach)
        assert not (user_home / ".gunicorn" / "gunicorn.ctl").exists()
        assert first_sockets == set()
        assert first.get("/healthz") == 200
    finally:
        second.stop()
        first.stop()
    assert "Control socket" not in first.log.read_text()


@pytest.mark.slow  # a server starts, reloads its workers and stops (4-7 s on 2 cores)
def test_hup_starts_new_workers_that_reread_the_config_and_the_server_keeps_serving(
    tmp_path: Path,
) -> None:
    """A worker that exits (HUP, TTOU, its timeout) must not take the shared metrics folder along.

    Each new worker creates its metric files in ``PROMETHEUS_MULTIPROC_DIR``: without the folder
    it fails to boot, and gunicorn then stops the whole server.
    """
    import psutil

    config = tmp_path / "api.toml"
    config.write_text("read_requires_key = false\n")
    srv = Server(tmp_path, tmp_path, free_port(), "hup", config)
    try:
        srv.wait_alive()
        assert srv.get("/openapi.json") == 200
        old = {p.pid for p in psutil.Process(srv.proc.pid).children()}
        config.write_text("read_requires_key = true\n")
        os.kill(srv.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and srv.proc.poll() is None:
            workers = {p.pid for p in psutil.Process(srv.proc.pid).children()}
            if workers and not workers & old and srv.get("/healthz") == 200:
                break
            time.sleep(0.2)
        time.sleep(1.0)  # a worker failing to boot would stop the master within this
        assert srv.proc.poll() is None, srv.log.read_text()[-3000:]
        assert srv.get("/openapi.json") == 401  # the new worker read the changed config file
        assert srv.get("/healthz") == 200
    finally:
        srv.stop()


# ------------------------------------------------------------------- keys on the system routes
def system_app(tmp_path: Path, **overrides: Any) -> Flask:
    """An app over an empty home (no model needed for these routes), with test keys."""
    config = {
        "home": str(tmp_path / "home"),
        "write_keys": [WRITE_KEY],
        "admin_keys": [ADMIN_KEY],
        "watch": False,
        "TESTING": True,
        **overrides,
    }
    return create_app(config)


def assert_401(response: Any) -> None:
    assert response.status_code == 401, response.data
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="recsys"'


def test_metrics_and_openapi_follow_read_keys(tmp_path: Path) -> None:
    app = system_app(tmp_path, read_requires_key=True)
    try:
        client = app.test_client()
        for path in ("/metrics", "/openapi.json"):
            assert_401(client.get(path))
            assert_401(client.get(path, headers=auth("wrong")))
            assert client.get(path, headers=auth(WRITE_KEY)).status_code == 200
            assert client.get(path, headers=auth(ADMIN_KEY)).status_code == 200
        assert client.get("/healthz").status_code == 200  # probes stay open
        assert client.get("/readyz").status_code == 503  # not 401: nothing is loaded
    finally:
        app.extensions["recsys"].close()


def test_metrics_and_openapi_stay_open_by_default(tmp_path: Path) -> None:
    app = system_app(tmp_path)
    try:
        client = app.test_client()
        assert client.get("/metrics").status_code == 200
        assert client.get("/openapi.json").status_code == 200
    finally:
        app.extensions["recsys"].close()


def test_a_metrics_key_opens_metrics_only(tmp_path: Path) -> None:
    app = system_app(tmp_path, metrics_keys=[METRICS_KEY])
    try:
        client = app.test_client()
        assert_401(client.get("/metrics"))  # a metrics key configured: /metrics needs a key
        assert client.get("/metrics", headers=auth(METRICS_KEY)).status_code == 200
        assert client.get("/metrics", headers=auth(WRITE_KEY)).status_code == 200
        assert client.get("/openapi.json").status_code == 200  # reads stay open here
        event = {"user_id": "u1", "item_id": "k1", "type": "view"}
        assert_401(client.post("/v1/events", json=event, headers=auth(METRICS_KEY)))
        assert_401(client.delete("/v1/users/u1", headers=auth(METRICS_KEY)))
    finally:
        app.extensions["recsys"].close()
    app = system_app(tmp_path, metrics_keys=[METRICS_KEY], read_requires_key=True)
    try:
        client = app.test_client()
        assert client.get("/metrics", headers=auth(METRICS_KEY)).status_code == 200
        assert_401(client.get("/openapi.json", headers=auth(METRICS_KEY)))  # not a read key
        assert_401(client.get("/v1/model", headers=auth(METRICS_KEY)))
    finally:
        app.extensions["recsys"].close()


def test_metrics_keys_come_from_the_environment() -> None:
    cfg = load_api_config(environ={"RECSYS_API_METRICS_KEYS": "m1, m2"})
    assert cfg.metrics_keys == ("m1", "m2")
