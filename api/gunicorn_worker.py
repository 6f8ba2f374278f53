"""The gunicorn workers of ``recsys serve``: gthread, with gunicorn's own error answers in JSON.

:class:`JsonErrorWorker` answers every request in a pool thread (gthread);
:class:`InlineReadsWorker` (the default over an SQLite store) answers the hot reads on the
thread that polls the sockets and the rest in the pool.

A request gunicorn cannot parse never reaches Flask (a header over 8190 bytes or more than 100
headers: 431; a request line over 8190 bytes: 414; a malformed request line, method, version,
header or transfer coding: 400; an unknown transfer coding: 501), and gunicorn answers it itself
with an HTML page, as it answers an error of its own while sending a response (500). This worker
answers all of them with the API's error body instead, ``{"error": {"code", "message"}}``:

- status and reason are gunicorn's, decided by its own ``handle_error`` (which also logs, and
  writes the access log line), so new kinds of parse errors keep the status gunicorn gives them;
- ``code`` is the API's code for that status (``api.errors.CODES``), else the reason in
  snake case (``request_header_fields_too_large``, ``uri_too_long``, ``not_implemented``);
- ``message`` is the reason and gunicorn's description of the problem, at most
  :data:`MAX_MESSAGE` characters; a 500 says nothing more than ``internal server error``.

Example:
    >>> error_code(431, "Request Header Fields Too Large"), error_code(400, "Bad Request")
    ('request_header_fields_too_large', 'bad_request')
"""

from __future__ import annotations

import contextlib
import json
import re
import selectors
import socket
import struct
import time
from concurrent.futures import Future
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

from api.errors import CODES

MAX_MESSAGE = 500  # characters of gunicorn's description echoed back (it may quote the request)
STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ([^\r\n]*)\r\n")


class _Recorder:
    """Stands in for the client socket while gunicorn writes its HTML error answer."""

    def __init__(self) -> None:
        self.data = bytearray()

    def gettimeout(self) -> float:
        return 0.0  # already non-blocking: gunicorn writes without changing the mode

    def setblocking(self, flag: bool) -> None:
        pass

    def settimeout(self, value: float | None) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.data += data

    def send(self, data: bytes) -> int:
        self.data += data
        return len(data)


def error_code(status: int, reason: str) -> str:
    """The API's code for ``status``, else ``reason`` in snake case."""
    return CODES.get(status) or re.sub(r"[^a-z0-9]+", "_", reason.lower()).strip("_") or "error"


def json_error_response(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 answer (``Connection: close``) with the API's JSON error body.

    Args:
        status: HTTP status code.
        reason: the status line's reason phrase (ASCII).
        message: what went wrong; cut to :data:`MAX_MESSAGE` characters.
    """
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    error = {"code": error_code(status, reason), "message": message}
    body = json.dumps({"error": error}, separators=(",", ":")).encode()  # ASCII (escaped)
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def write_json_error(sock: Any, status: int, reason: str, message: str) -> None:
    """Send :func:`json_error_response` without blocking on a client that does not read."""
    util.write_nonblock(sock, json_error_response(status, reason, message))


class JsonErrorWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's ``gthread`` worker whose own error answers are the API's JSON errors."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """Let gunicorn classify and log the error, then answer its status with a JSON body.

        Args:
            req: the request, when gunicorn had parsed one (else None).
            client: the client socket.
            addr: the client address.
            exc: what went wrong.
        """
        recorder = _Recorder()
        super().handle_error(req, recorder, addr, exc)
        match = STATUS_LINE.match(bytes(recorder.data))
        if match is None:  # gunicorn chose to send nothing
            return
        status, reason = int(match[1]), match[2].decode("latin-1")
        if status == 500:
            message = "internal server error"  # never the exception's text
        else:
            message = f"{reason.lower()}: {exc}" if str(exc) else reason.lower()
        try:
            write_json_error(client, status, reason, message)
        except Exception:
            self.log.debug("Failed to send error message.")


# the most bytes of a request's head read (without consuming them) to choose where it runs: a
# request runs on the main thread only when its whole head is among them
PEEK_BYTES = 4096
# headers that announce a body: such a request is read in the pool (its body may come slowly).
# ``Content-Length: 0`` announces none: some clients send it on every GET (Python's
# http.client does for a request with a body argument, many load generators always)
BODY_HEADERS = re.compile(
    rb"\r\n(?:transfer-encoding\s*:|content-length\s*:(?![ \t]*0+[ \t]*\r\n))", re.IGNORECASE
)
# the longest a main-thread answer waits for a client to take its bytes (SO_SNDTIMEO); past it
# the connection is dropped, so a client that stops reading cannot stop the worker's heartbeat
INLINE_SEND_TIMEOUT_S = 5
# requests answered on the main thread while a connection's read-ahead holds the next one
# (pipelining); past this the next goes to the pool, so a long pipeline cannot recurse deep
MAX_INLINE_CHAIN = 8


class InlineReadsWorker(JsonErrorWorker):
    """:class:`JsonErrorWorker` that answers the app's cheap reads on its main thread.

    gthread hands every request to a pool thread and back: two thread wake-ups per request, and
    while the pool's threads run, each release of the GIL (every SQLite step, numpy's larger
    operations, BLAS) lets another thread take it, a context switch each. On a 2-core VM this
    doubled the CPU of an answer: one process spent 152 µs of CPU per precomputed answer on
    one thread and 337 µs with two, 922 and 1,598 µs per browsing shopper's answer
    (``benchmarks/api_cpu.py --thread-tax``; ``benchmarks/README.md``, "Issue 20, sixth
    pass"). This worker answers the requests its app names as cheap reads in the
    thread that polls the sockets, one after another: a request the app's ``runs_inline``
    predicate accepts (given the request's first bytes, its whole head) never
    leaves the main thread. Everything else (writes, pitches, reports, anything the predicate
    does not know) goes to the pool as in gthread, so a request that waits (a pitch, the
    store's write lock) never holds up the reads.

    A new connection waits for its first bytes on the poller (gthread waits in a pool thread),
    so an idle client holds nothing. The main thread never waits for a client's bytes: a
    request runs there only when its whole head has arrived and it announces no body
    (``Transfer-Encoding``, or a ``Content-Length`` other than 0); one sent in pieces, or with
    a body, is read in the pool as in gthread. It waits to send at most
    :data:`INLINE_SEND_TIMEOUT_S` seconds for a client that does not read its answers, then
    drops the connection. Still, run a server
    that strangers can reach behind a proxy that buffers requests (nginx does by default), as
    gunicorn advises for its sync worker. An app without ``runs_inline``, a TLS socket (whose
    bytes cannot be read ahead) or a gunicorn without gthread's pending connections (before
    25) gets gthread's behaviour.
    """

    _inline_chain = 0

    def enqueue_req(self, conn: Any) -> None:
        """Answer ``conn``'s next request here if it is a cheap read, else in the pool."""
        runs_inline = getattr(self.wsgi, "runs_inline", None)
        if runs_inline is None or self.cfg.is_ssl or not hasattr(self, "pending_conns"):
            super().enqueue_req(conn)
            return
        if not (conn.initialized or conn.data_ready):
            self._await_first_bytes(conn)
            return
        head = _request_head(conn)
        if (
            head is None
            or not _whole_head_without_body(head)
            or not runs_inline(head)
            or self._inline_chain >= MAX_INLINE_CHAIN
        ):
            super().enqueue_req(conn)
            return
        done: Future[Any] = Future()
        self._inline_chain += 1
        try:
            if not getattr(conn, "send_wait_limited", False):  # once per connection
                _limit_send_wait(conn.sock)
                conn.send_wait_limited = True
            try:
                done.set_result(self.handle(conn))
            except Exception as exc:  # handle() answers its own errors; this is a last resort
                done.set_exception(exc)
            self.finish_request(conn, done)  # back on the poller, or closed
        finally:
            self._inline_chain -= 1

    def _await_first_bytes(self, conn: Any) -> None:
        """Put a new connection on the poller until its first bytes arrive (gthread's pending)."""
        conn.sock.setblocking(False)
        conn.timeout = time.monotonic() + self.cfg.keepalive
        self.pending_conns.append(conn)
        self.poller.register(
            conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn)
        )


def _whole_head_without_body(head: bytes) -> bool:
    """Whether ``head`` holds a request's whole head (its blank line) and no body is announced."""
    end = head.find(b"\r\n\r\n")
    return end >= 0 and BODY_HEADERS.search(head, 0, end + 2) is None


def _limit_send_wait(sock: socket.socket) -> None:
    """Make a blocking send on ``sock`` give up after :data:`INLINE_SEND_TIMEOUT_S` (Linux, BSD)."""
    with contextlib.suppress(OSError, AttributeError):
        timeval = struct.pack("ll", INLINE_SEND_TIMEOUT_S, 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


def _request_head(conn: Any) -> bytes | None:
    """The first bytes of ``conn``'s next request, left unread (None: none can be read now).

    A keep-alive connection's parser may already hold them (read ahead with the last request).
    """
    parser = getattr(conn, "parser", None) if conn.initialized else None
    unreader = getattr(parser, "unreader", None)
    buffered = unreader.buf.getvalue() if unreader is not None else b""
    if buffered:
        return bytes(buffered[:PEEK_BYTES])
    try:
        return bytes(conn.sock.recv(PEEK_BYTES, socket.MSG_PEEK))
    except OSError:  # nothing yet (non-blocking), or the socket is gone: the pool decides
        return None
