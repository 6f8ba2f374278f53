"""A real OpenAI-compatible HTTP server on 127.0.0.1 with canned answers, for the pitch tests.

It speaks the chat-completions protocol (``POST /v1/chat/completions``, JSON in and out), records
every request and follows a script: error statuses, ``Retry-After``, slow answers, one choice per
request (as Ollama and llama.cpp's server do), broken bodies. The ``server`` fixture
(``conftest.py``) runs one per test; :func:`fast` is a backend for it with tiny waits.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from recsys.pitch.backends import OpenAIModel
from recsys.pitch.config import OpenAIConfig

REPLY = "The Trail running shoes grip well on every trail."


@dataclass
class Answer:
    """One scripted answer: a status (with headers), or a 200 body, optionally late."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait this long before answering (cut short at teardown)
    choices: int | None = None  # choices in a 200 answer; None: as many as the request's n
    raw: bytes | None = None  # this body instead of a completion (broken answers)
    one_choice_only: bool = False  # refuse n > 1 with HTTP 500, as llama.cpp's llama-server does


@dataclass
class FakeServer:
    """What the handler answers, and what it was sent."""

    url: str = ""
    reply: str = REPLY  # message content of every choice
    script: deque[Answer] = field(default_factory=deque)  # answers to give first, in order
    default: Answer = field(default_factory=Answer)  # the answer once the script is used up
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests]


class Handler(BaseHTTPRequestHandler):
    server: Any  # the ThreadingHTTPServer, carrying .fake

    def do_POST(self) -> None:
        fake: FakeServer = self.server.fake
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        fake.requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        answer = fake.script.popleft() if fake.script else fake.default
        if answer.delay_s:
            fake.release.wait(answer.delay_s)
        status = answer.status
        if answer.one_choice_only and body["n"] != 1:
            status = 500
            message = "Only one completion choice is allowed"
            data = json.dumps({"error": {"code": 500, "message": message}}).encode()
        elif status != 200:
            data = json.dumps({"error": {"message": f"scripted {status}"}}).encode()
        elif answer.raw is not None:
            data = answer.raw
        else:
            count = body["n"] if answer.choices is None else answer.choices
            data = json.dumps(
                {
                    "object": "chat.completion",
                    "model": body["model"],
                    "choices": [
                        {
                            "index": i,
                            "message": {"role": "assistant", "content": fake.reply},
                            "finish_reason": "stop",
                        }
                        for i in range(count)
                    ],
                }
            ).encode()
        try:
            self.send_response(status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve() -> Iterator[FakeServer]:
    """A chat-completions server on 127.0.0.1 (a free port) for the ``with`` block."""
    fake = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.fake = fake  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield fake
    finally:
        fake.release.set()  # slow answers end now
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def fast(server: FakeServer, **changes: Any) -> OpenAIModel:
    """A model for ``server`` with tiny waits (tests stay well under a second)."""
    values: dict[str, Any] = {
        "base_url": server.url,
        "model": "smol",
        "timeout_s": 1.0,
        "backoff_s": 0.01,
        "rate_limit_per_s": 1000.0,
        **changes,
    }
    return OpenAIModel(OpenAIConfig(**values))
