"""The API's pitch writer is configured like the nightly job's: a [pitch] table in its config
file. Proven end to end with the openai backend against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from api_testing import make_app

from api.config import load_api_config
from recsys.errors import ConfigError
from recsys.home import Home
from recsys.text import TextEncoder

SENTENCE = "This pick is a light and comfortable choice for your daily runs."


class ChatServer(BaseHTTPRequestHandler):
    """Answers every chat completion with SENTENCE (the real protocol, canned text)."""

    bodies: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ChatServer.bodies.append(body)
        n = int(body.get("n") or 1)
        data = json.dumps(
            {
                "choices": [
                    {"index": i, "message": {"role": "assistant", "content": SENTENCE}}
                    for i in range(n)
                ]
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def chat_url() -> Iterator[str]:
    ChatServer.bodies = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ChatServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_config_files_pitch_table_configures_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "api.toml"
    path.write_text(
        '[api]\npitch_wait_ms = 500\n\n[pitch]\nbackend = "openai"\nn_samples = 2\n\n'
        '[pitch.openai]\nbase_url = "http://127.0.0.1:11434/v1"\nmodel = "smollm2:1.7b"\n'
    )
    cfg = load_api_config(environ={"RECSYS_API_CONFIG": str(path)})
    assert cfg.pitch_wait_ms == 500
    assert cfg.pitch.backend == "openai" and cfg.pitch.n_samples == 2
    assert cfg.pitch.openai.base_url == "http://127.0.0.1:11434/v1"
    assert load_api_config(environ={}).pitch.backend == "local"
    path.write_text('[pitch]\nbackend = "gpt"\n')
    with pytest.raises(ConfigError, match="backend"):
        load_api_config(environ={"RECSYS_API_CONFIG": str(path)})
    path.write_text("[pitch]\nsamples = 3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'samples' in \[pitch\]"):
        load_api_config(environ={"RECSYS_API_CONFIG": str(path)})


def test_the_api_writes_pitches_with_the_configured_openai_server(
    api_home: Home, encoder: TextEncoder, chat_url: str
) -> None:
    pitch = {"backend": "openai", "n_samples": 1, "rerank": False, "openai": {"base_url": chat_url}}
    app = make_app(api_home, encoder, pitch=pitch)
    try:
        client = app.test_client()
        body = client.get("/v1/users/run1/recommendations?n=1&pitch=true&pitch_wait_ms=5000")
        item = body.get_json()["items"][0]
        assert item["pitch"]["source"] == "llm", item["pitch"]
        assert item["pitch"]["text"].endswith(SENTENCE)
        assert item["pitch"]["text"].startswith(("Because you", "We picked"))
        assert ChatServer.bodies and ChatServer.bodies[0]["model"] == "smollm2"
    finally:
        app.extensions["recsys"].close()
