"""A tiny WSGI app served by ``api.serve.run_gunicorn``, which says which thread answered.

``python tests/api/threads_app.py PORT on|off`` serves it on 127.0.0.1:PORT with one worker of
two pool threads, the cheap reads on the main thread (``on``) or not (``off``):

* ``GET /fast``: a cheap read (its ``runs_inline`` accepts it); answers the thread's name;
* ``GET /slow?s=SECONDS``: sleeps, then answers the thread's name (never inline).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

FAST = b"GET /fast HTTP/1.1\r\n"


def runs_inline(head: bytes) -> bool:
    """Only ``GET /fast`` (request line seen whole) runs on the main thread."""
    return head.startswith(FAST)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The WSGI app."""
    path = environ.get("PATH_INFO", "")
    if path == "/slow":
        time.sleep(float(parse_qs(environ.get("QUERY_STRING", "")).get("s", ["0"])[0]))
    elif path != "/fast":
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    body = threading.current_thread().name.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


app.runs_inline = runs_inline  # type: ignore[attr-defined]


def make() -> Any:
    """The factory ``run_gunicorn`` calls in the worker."""
    return app


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
    from api.serve import run_gunicorn

    port, mode = int(sys.argv[1]), sys.argv[2]
    run_gunicorn(make, "127.0.0.1", port, workers=1, threads=2, inline_reads=mode == "on")
