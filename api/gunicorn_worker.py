"""The gunicorn worker of ``recsys serve``: gthread, with gunicorn's own error answers in JSON.

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

import json
import re
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
