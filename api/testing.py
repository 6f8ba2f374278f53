"""The real server in tests and benchmarks: start it, wait for it, talk to it, stop it.

Like ``flask.testing``, this ships with the package so that ``tests/`` and ``benchmarks/`` share
one harness instead of three copies (``from api.testing import ServerProcess, free_port``)::

    with ServerProcess(home, free_port(), tmp / "server.log") as server:
        server.wait_ready()
        status, body = server.request("GET", "/v1/users/u1/recommendations?n=5")

Every server binds 127.0.0.1 only and runs in its own session (process group), so that stopping
it reaches the gunicorn master and all its workers: ``stop`` sends SIGTERM to the group and
SIGKILL if it has not exited within the timeout; ``kill`` sends SIGKILL at once (crash tests).
Output goes to a log file whose tail is quoted when a server fails to come up.

Two more pieces the reliability scenarios share:

* ``bare_app``: a Flask app whose routes answer like the API's without doing its work (a
  20-item ``UserRecommendations`` body, a 20-item ``SimilarItems`` body, an event batch parsed
  and acknowledged), served with the same gunicorn settings as the API (``python -m api.testing
  serve-bare --port P``): the framework's ceiling in the latency benchmarks.
* The durability clients: processes that post events in batches with idempotency keys and retry
  every batch until it is acknowledged (``start_clients``, ``acknowledged``,
  ``summarize_run``), while the test or benchmark SIGKILLs and restarts the server. Events carry
  no ``ts`` (the server stamps them), so only ``event_id`` can make a retry idempotent; each
  event's id is also written into its ``session_id``, so every stored row can be traced back to
  the event that produced it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

LOOPBACK = "127.0.0.1"  # every server of the harness binds this interface only
RECSYS = Path(sys.executable).parent / "recsys"  # the venv's `recsys` command
READY_TIMEOUT_S = 180.0  # a 100k-item bundle takes a while to load on 2 cores
STOP_TIMEOUT_S = 20.0  # SIGTERM first; SIGKILL after this many seconds

Env = Mapping[str, str | None]  # variables to set; None removes one from the inherited environment


# ------------------------------------------------------------------------------ processes
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def serve_command(
    home: Path,
    port: int,
    *,
    workers: int = 2,
    threads: int | None = None,
    reuse_port: bool = True,
    inline_reads: bool | None = None,
) -> list[str]:
    """The command line of ``recsys serve`` over ``home`` on ``127.0.0.1:port``.

    Args:
        home: the data home (``--home``).
        port: TCP port.
        workers: gunicorn worker processes.
        threads: threads per worker; None keeps the command's default.
        reuse_port: False passes ``--no-reuse-port`` (one listening socket shared by the workers).
        inline_reads: ``--inline-reads`` / ``--no-inline-reads``; None keeps the command's
            default (on over an SQLite store).

    Returns:
        The argument list for :func:`start_process`.
    """
    cmd = [str(RECSYS), "--home", str(home), "serve", "--host", LOOPBACK, "--port", str(port)]
    cmd += ["--workers", str(workers)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    if not reuse_port:
        cmd.append("--no-reuse-port")
    if inline_reads is not None:
        cmd.append("--inline-reads" if inline_reads else "--no-inline-reads")
    return cmd


def bare_command(
    port: int,
    *,
    workers: int = 2,
    threads: int = 4,
    reuse_port: bool = True,
    inline_reads: bool = True,
) -> list[str]:
    """The command line of the bare Flask app (:func:`bare_app`) under gunicorn on 127.0.0.1.

    Args:
        port: TCP port.
        workers: gunicorn worker processes.
        threads: threads per worker.
        reuse_port: False passes ``--no-reuse-port`` (one listening socket shared by the workers).
        inline_reads: False passes ``--no-inline-reads`` (every request in a pool thread).

    Returns:
        The argument list for :func:`start_process`.
    """
    cmd = [sys.executable, "-m", "api.testing", "serve-bare", "--port", str(port)]
    cmd += ["--workers", str(workers), "--threads", str(threads)]
    if not reuse_port:
        cmd.append("--no-reuse-port")
    if not inline_reads:
        cmd.append("--no-inline-reads")
    return cmd


def start_process(cmd: Sequence[str], log: Path, env: Env | None = None) -> subprocess.Popen[bytes]:
    """Start a server command in its own session, stdout and stderr into ``log``.

    Args:
        cmd: the command line (:func:`serve_command`, :func:`bare_command`).
        log: file that receives the server's output (created or truncated).
        env: changes to this process's environment; a None value removes the variable.

    Returns:
        The process; stop it with :func:`stop_server` (or :func:`kill_server`).
    """
    environ = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            list(cmd), env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def start_server(
    home: Path,
    port: int,
    log: Path,
    *,
    workers: int = 2,
    threads: int | None = None,
    env: Env | None = None,
    reuse_port: bool = True,
) -> subprocess.Popen[bytes]:
    """Start ``recsys serve`` over ``home`` on ``127.0.0.1:port`` (not yet ready: wait for it)."""
    cmd = serve_command(home, port, workers=workers, threads=threads, reuse_port=reuse_port)
    return start_process(cmd, log, env)


def _log_tail(log: Path | None) -> str:
    if log is None or not log.is_file():
        return ""
    return ": " + log.read_text(encoding="utf-8", errors="replace")[-3000:]


def wait_ready(
    port: int,
    path: str = "/readyz",
    proc: subprocess.Popen[bytes] | None = None,
    timeout: float = READY_TIMEOUT_S,
    log: Path | None = None,
) -> None:
    """Poll ``GET path`` on 127.0.0.1 until it answers 200.

    Args:
        port: the server's port.
        path: ``/readyz`` (a model is loaded), ``/healthz`` (the process answers) or any route.
        proc: the server process: its early exit fails the wait at once.
        timeout: seconds to wait.
        log: the server's log, quoted in the error.

    Raises:
        RuntimeError: the server exited, or did not answer 200 within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}{_log_tail(log)}")
        try:
            if request(port, "GET", path, timeout=5)[0] == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready in {timeout:.0f} s{_log_tail(log)}")


def stop_server(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the server's process group; SIGKILL it if it has not exited within ``timeout``."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        except ProcessLookupError:  # exited between the poll and the signal
            proc.wait(timeout=30)


def kill_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a server and all its workers at once (a crash: nothing is flushed or removed)."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


# ----------------------------------------------------------------------------------- HTTP
def request(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    conn: http.client.HTTPConnection | None = None,
    timeout: float = 30.0,
) -> tuple[int, Any]:
    """One HTTP request to 127.0.0.1.

    Args:
        port: the server's port.
        method: HTTP method.
        path: path and query string.
        body: sent as JSON unless None (bytes are sent as they are).
        headers: extra request headers.
        conn: a keep-alive connection to reuse (left open); None opens and closes one.
        timeout: socket timeout in seconds for a new connection.

    Returns:
        ``(status, body)``: the body parsed as JSON when the answer says it is JSON, else text.
    """
    own = conn is None
    conn = conn or http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        conn.request(
            method,
            path,
            body=data,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        response = conn.getresponse()
        raw = response.read()
        ctype = response.getheader("Content-Type", "") or ""
        return response.status, json.loads(raw) if "json" in ctype else raw.decode()
    finally:
        if own:
            conn.close()


def raw_request(method: str, path: str, body: bytes = b"", key: str | None = None) -> bytes:
    """The bytes of one keep-alive HTTP/1.1 request, for load generators that write sockets."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\nContent-Length: {len(body)}\r\n"
    if body:
        head += "Content-Type: application/json\r\n"
    if key is not None:
        head += f"Authorization: Bearer {key}\r\n"
    return (head + "\r\n").encode() + body


def served_ids(home: Path) -> tuple[list[str], list[str]]:
    """The user ids and item ids of the bundle published in ``home`` (to build requests from)."""
    from recsys.bundle import load_bundle
    from recsys.home import Home

    bundle = load_bundle(Home(home).artifacts)
    return bundle.users.ids(), bundle.items.ids()


class ServerProcess:
    """A running ``recsys serve`` on 127.0.0.1, with a small HTTP client for it.

    A context manager: leaving the ``with`` block stops the server (so does :meth:`stop`).

    Args:
        home: the data home to serve.
        port: TCP port (:func:`free_port`).
        log: file for the server's output.
        workers: gunicorn worker processes.
        threads: threads per worker; None keeps the command's default.
        env: changes to the environment; a None value removes a variable (for example
            ``{"RECSYS_API_CONFIG": None}`` keeps a developer's API config file out of a test).
        reuse_port: False shares one listening socket between the workers.
    """

    def __init__(
        self,
        home: Path,
        port: int,
        log: Path,
        *,
        workers: int = 2,
        threads: int | None = None,
        env: Env | None = None,
        reuse_port: bool = True,
    ) -> None:
        self.home = home
        self.port = port
        self.log = log
        self.proc = start_server(
            home, port, log, workers=workers, threads=threads, env=env, reuse_port=reuse_port
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        conn: http.client.HTTPConnection | None = None,
    ) -> tuple[int, Any]:
        """One request to this server (see :func:`request`)."""
        return request(self.port, method, path, body, headers, conn)

    def get(self, path: str) -> int:
        """The status of ``GET path``."""
        return self.request("GET", path)[0]

    def wait_ready(self, path: str = "/readyz", timeout: float = READY_TIMEOUT_S) -> None:
        """Wait until ``GET path`` answers 200 (see :func:`wait_ready`)."""
        wait_ready(self.port, path, self.proc, timeout, self.log)

    def wait_alive(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Wait until the process answers (``/healthz``), with or without a model."""
        self.wait_ready("/healthz", timeout)

    def stop(self) -> None:
        """SIGTERM the server's process group (SIGKILL after a timeout); idempotent."""
        stop_server(self.proc)

    def kill(self) -> None:
        """SIGKILL the server's process group: a crash."""
        kill_server(self.proc)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# ------------------------------------------------------------------------------ bare app
BARE_ITEMS = 20  # items in each of the bare app's answers, as in the benchmarks' n=20 requests
# the bare app's GET requests (whole request line seen): run on the worker's main thread
BARE_INLINE = re.compile(rb"GET /bare(?:/items/[^/?# ]+/similar)?(?:\?[^ ]*)? HTTP/1\.[01]\r\n")


def bare_items(n: int = BARE_ITEMS) -> list[dict[str, Any]]:
    """The bare app's fixed items, shaped as the API's ``RecommendedItem`` (no ``reason``)."""
    return [
        {
            "item_id": str(1000 + k),
            "score": round(0.9731 - 0.0137 * k, 6),
            "title": f"Bare product number {k} (1997)",
            "category": ("Drama", "Comedy", "Action", "Thriller")[k % 4],
            "price": round(9.99 + 1.5 * k, 2),
            "currency": "EUR",
            "in_stock": True,
        }
        for k in range(n)
    ]


def bare_app() -> Any:
    """The bare Flask app: the API's answers without the API's work, the benchmarks' ceiling.

    Each route parses what the API's twin route parses and serializes a body of the same shape
    with ``jsonify`` per request, written by ``orjson`` as the API writes its answers (compact,
    keys in order), and does nothing else:

    * ``GET /bare?user=<id>&n=20``: a ``UserRecommendations`` body with 20 fixed items (``n``
      above 20 still gives 20);
    * ``GET /bare/items/<item_id>/similar?n=20``: a ``SimilarItems`` body with 20 fixed items;
    * ``POST /bare/events``: reads and JSON-parses the body and answers 202
      ``{"accepted": N, "stored": N}`` for its ``events`` list, storing nothing.

    Every answer carries a new request id in ``X-Request-ID`` and, for recommendations, in the
    body's ``request_id``, as the API's do; the bodies validate against the API's OpenAPI
    schemas (``UserRecommendations``, ``SimilarItems``, ``EventsAccepted``).

    Returns:
        The Flask app (a WSGI callable).
    """
    import uuid

    import orjson
    from flask import Flask, Response, jsonify, request
    from flask.json.provider import DefaultJSONProvider

    class OrjsonProvider(DefaultJSONProvider):
        """The API's encoder (``api.app.OrjsonProvider``): ``orjson``, compact, keys in order."""

        def dumps(self, obj: Any, **kwargs: Any) -> str:
            return orjson.dumps(obj).decode()

        def response(self, *args: Any, **kwargs: Any) -> Response:
            obj = self._prepare_response_obj(args, kwargs)
            return Response(orjson.dumps(obj), mimetype=self.mimetype)

    app = Flask("bare")
    app.json = OrjsonProvider(app)
    items = bare_items()

    def answer(body: dict[str, Any], status: int = 200, in_body: bool = True) -> Any:
        rid = uuid.uuid4().hex
        if in_body:  # as the API: in recommendation answers, and always as a header
            body["request_id"] = rid
        response = jsonify(body)
        response.status_code = status
        response.headers["X-Request-ID"] = rid
        return response

    def count() -> int:
        try:
            return max(1, min(BARE_ITEMS, int(request.args.get("n", BARE_ITEMS))))
        except ValueError:
            return BARE_ITEMS

    @app.get("/bare")
    def bare() -> Any:
        body = {
            "user_id": request.args.get("user", "bare-user"),
            "model_version": "bare",
            "strategy": "hybrid",
            "ranking": "precomputed",
            "items": items[: count()],
            "recommendation_id": os.urandom(8).hex(),  # a fresh id per answer, as the API's
            "experiment": None,
            "variant": None,
        }
        return answer(body)

    @app.get("/bare/items/<item_id>/similar")
    def bare_similar(item_id: str) -> Any:
        body = {
            "item_id": item_id,
            "mode": request.args.get("mode", "hybrid"),
            "model_version": "bare",
            "strategy": "hybrid",
            "items": items[: count()],
            "recommendation_id": os.urandom(8).hex(),
            "experiment": None,
            "variant": None,
        }
        return answer(body)

    @app.post("/bare/events")
    def bare_events() -> Any:
        payload = json.loads(request.get_data())
        events = payload.get("events", []) if isinstance(payload, dict) else []
        n = len(events) if isinstance(events, list) else 0
        return answer({"accepted": n, "stored": n}, 202, in_body=False)

    # as the API's app: its reads run on the worker's main thread (api.gunicorn_worker)
    app.runs_inline = lambda head: BARE_INLINE.match(head) is not None  # type: ignore[attr-defined]
    return app


def serve_bare(
    port: int, workers: int, threads: int, reuse_port: bool, inline_reads: bool = True
) -> None:
    """Serve :func:`bare_app` with the API's gunicorn settings on 127.0.0.1 until stopped.

    Args:
        port: TCP port.
        workers: gunicorn worker processes.
        threads: threads per worker.
        reuse_port: one listening socket per worker (``SO_REUSEPORT``), as ``recsys serve``.
        inline_reads: answer the GET routes on each worker's main thread, as ``recsys serve``
            does by default over an SQLite store (``--inline-reads``).
    """
    from api.serve import run_gunicorn

    run_gunicorn(
        bare_app, LOOPBACK, port, workers, threads, reuse_port=reuse_port, inline_reads=inline_reads
    )


# ---------------------------------------------------------------------- durability clients
ITEMS = ("r1", "r2", "r3", "r4", "k1", "k2", "k3", "k4")  # items of the tests' tiny shop


def post_until_acknowledged(port: int, body: bytes, key: str, deadline: float) -> tuple[int, int]:
    """POST one batch of events until it gets 202.

    Returns:
        ``(attempts, 5xx answers seen)``.

    Raises:
        RuntimeError: the batch was refused with a 4xx (a bug, not an outage).
        TimeoutError: ``deadline`` (``time.monotonic()``) passed without a 202.
    """
    attempts = errors_5xx = 0
    headers = {"Authorization": f"Bearer {key}"}
    while True:
        attempts += 1
        try:
            status, _ = request(port, "POST", "/v1/events", body, headers, timeout=10)
            if status == 202:
                return attempts, errors_5xx
            if status >= 500:
                errors_5xx += 1
            else:
                raise RuntimeError(f"batch refused with {status}")
        except (OSError, http.client.HTTPException):
            pass  # server down or killed mid-request: retry the same batch
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
        procs.append(subprocess.Popen([sys.executable, "-m", "api.testing", "client", *args]))
    return procs


def acknowledged(folder: Path) -> list[str]:
    """Every event id some client saw acknowledged."""
    ids: list[str] = []
    for path in sorted(folder.glob("acks-*.txt")):
        ids.extend(line for line in path.read_text(encoding="utf-8").splitlines() if line)
    return ids


@dataclass(frozen=True)
class DurabilityResult:
    """What the durability scenario observed."""

    clients: int  # client processes
    events_sent: int  # events the clients were to post in all
    acknowledged_before_kill: int  # acknowledged when the server was killed
    acknowledged: int  # distinct event ids acknowledged in the end
    found_once: int  # acknowledged and stored exactly once
    missing: int  # acknowledged but not stored (lost)
    duplicated: int  # stored more than once (a retry not deduplicated)
    retried_batches: int  # POSTs beyond the first per batch
    kill_to_ready_s: float  # from the SIGKILL to the restarted server's ready answer
    wall_s: float  # the whole scenario


POSTGRES_SCHEMES = ("postgresql://", "postgres://")  # a store URL, not a SQLite file

StoreLocation = Path | str  # a SQLite file, or a postgresql:// URL


def count_stored(db: StoreLocation, prefix: str = "c") -> Counter[str]:
    """How many stored rows each harness event id produced, read straight from the store.

    Args:
        db: the SQLite file (a path), or a ``postgresql://`` URL (read with psycopg, which is
            imported only then: the ``[postgres]`` extra).
        prefix: the event ids' prefix (the durability clients' ids start with ``c``).

    Returns:
        ``{event id: stored rows whose session_id is that id}`` for the ids with ``prefix``.
    """
    pattern = f"{prefix}%"
    rows: list[tuple[Any, ...]]
    if isinstance(db, str) and db.startswith(POSTGRES_SCHEMES):
        import psycopg

        with psycopg.connect(db, autocommit=True, connect_timeout=10) as pg:
            rows = pg.execute(
                "SELECT session_id, COUNT(*) FROM events WHERE session_id LIKE %s "
                "GROUP BY session_id",
                (pattern,),
            ).fetchall()
    else:
        conn = sqlite3.connect(Path(db))
        try:
            rows = conn.execute(
                "SELECT session_id, COUNT(*) FROM events WHERE session_id LIKE ? "
                "GROUP BY session_id",
                (pattern,),
            ).fetchall()
        finally:
            conn.close()
    return Counter({str(sid): int(n) for sid, n in rows})


def summarize_run(
    db: StoreLocation,
    folder: Path,
    n_clients: int,
    n_events: int,
    before_kill: int,
    kill_to_ready_s: float,
    wall_s: float,
) -> DurabilityResult:
    """Compare the acknowledged ids in ``folder`` with what the store ``db`` holds.

    ``db`` is the SQLite file or a ``postgresql://`` URL (see :func:`count_stored`).
    """
    acks = set(acknowledged(folder))
    stored = count_stored(db)
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


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m api.testing client ...`` (one durability client) or ``serve-bare ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m api.testing", description=(__doc__ or "").split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    client = sub.add_parser("client", help="post events until every batch is acknowledged")
    for name in ("port", "index", "n_events", "batch"):
        client.add_argument(name, type=int)
    client.add_argument("key")
    client.add_argument("out", type=Path)
    bare = sub.add_parser("serve-bare", help="serve the bare Flask app on 127.0.0.1")
    bare.add_argument("--port", type=int, required=True)
    bare.add_argument("--workers", type=int, default=2)
    bare.add_argument("--threads", type=int, default=4)
    bare.add_argument("--no-reuse-port", dest="reuse_port", action="store_false")
    bare.add_argument("--no-inline-reads", dest="inline_reads", action="store_false")
    args = parser.parse_args(argv)
    if args.command == "client":
        client_main(args.port, args.index, args.n_events, args.batch, args.key, args.out)
    else:
        serve_bare(args.port, args.workers, args.threads, args.reuse_port, args.inline_reads)


if __name__ == "__main__":
    main()
