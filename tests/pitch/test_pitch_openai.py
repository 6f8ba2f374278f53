"""OpenAI-compatible backend against a tiny fake server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from recsys.errors import ConfigError, PitchModelError
from recsys.pitch.backends import OpenAIModel
from recsys.pitch.config import OpenAIConfig, PitchConfig
from recsys.pitch.facts import ItemFacts, ShopperContext
from recsys.pitch.writer import PitchWriter

REPLY = "The Trail running shoes grip well on every trail."


class FakeOpenAI(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, object]]] = []
    status = 200

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOpenAI.requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        if FakeOpenAI.status != 200:
            self.send_response(FakeOpenAI.status)
            self.end_headers()
            return
        data = json.dumps(
            {
                "choices": [
                    {"index": i, "message": {"role": "assistant", "content": REPLY}}
                    for i in range(body["n"])
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
def server() -> Iterator[str]:
    FakeOpenAI.requests = []
    FakeOpenAI.status = 200
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_chat_completion_request_and_pitch(server: str, tmp_path: Path) -> None:
    cfg = PitchConfig(
        backend="openai",
        n_samples=2,
        rerank=False,
        openai=OpenAIConfig(base_url=server, model="smol", api_key="k1"),
    )
    writer = PitchWriter(OpenAIModel(cfg.openai), cfg)
    result = writer.write(ItemFacts("r1", "Trail running shoes"), ShopperContext())
    assert (result.pitch.source, result.pitch.text, result.pitch.model) == (
        "llm",
        REPLY,
        "openai/smol",
    )
    sent = FakeOpenAI.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer k1"
    body = sent["body"]
    assert isinstance(body, dict)
    assert body["model"] == "smol" and body["n"] == 2 and body["max_tokens"] == 40
    assert body["messages"][0]["role"] == "system"


def test_http_error_becomes_template(server: str) -> None:
    FakeOpenAI.status = 503
    cfg = PitchConfig(backend="openai", openai=OpenAIConfig(base_url=server))
    model = OpenAIModel(cfg.openai)
    with pytest.raises(PitchModelError, match="HTTP 503"):
        model.generate([{"role": "user", "content": "x"}], 1, 10, 0.5, 1)
    result = PitchWriter(model, cfg).write(ItemFacts("r1", "Trail running shoes"), ShopperContext())
    assert result.pitch.source == "template" and "HTTP 503" in (result.error or "")


def test_unreachable_endpoint_times_out_quickly() -> None:
    model = OpenAIModel(OpenAIConfig(base_url="http://127.0.0.1:9/v1", timeout_s=0.5))
    with pytest.raises(PitchModelError, match="unreachable"):
        model.generate([{"role": "user", "content": "x"}], 1, 10, 0.5, 1)


def test_rate_limit_spaces_requests(server: str) -> None:
    model = OpenAIModel(OpenAIConfig(base_url=server, rate_limit_per_s=10.0))
    import time

    started = time.perf_counter()
    for _ in range(3):
        model.generate([{"role": "user", "content": "x"}], 1, 10, 0.5, 1)
    assert time.perf_counter() - started >= 0.19


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        OpenAIConfig(base_url="ftp://x")
    with pytest.raises(ConfigError, match="backend"):
        PitchConfig(backend="gpt")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown pitch config keys"):
        PitchConfig.from_mapping({"bogus": 1})
    cfg = PitchConfig.from_mapping({"n_samples": 2, "openai": {"model": "m"}})
    assert (cfg.n_samples, cfg.openai.model) == (2, "m")
