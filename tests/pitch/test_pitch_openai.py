"""OpenAI-compatible backend against a real HTTP server on 127.0.0.1 (canned answers).

The server (``openai_server.py``, the ``server`` fixture of ``conftest.py``) speaks the
chat-completions protocol (``POST /v1/chat/completions``, JSON in and out) and follows a script
per test: error statuses, ``Retry-After``, slow answers, one choice per request (as Ollama and
llama.cpp's server do), broken bodies.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from openai_server import REPLY, Answer, FakeServer, fast

from recsys.errors import ConfigError, PitchModelError
from recsys.nightly.config import load_nightly_config
from recsys.pitch.backends import OpenAIModel, join_prefix
from recsys.pitch.config import OpenAIConfig, PitchConfig
from recsys.pitch.facts import ItemFacts, ShopperContext
from recsys.pitch.writer import PitchWriter

USER = [{"role": "user", "content": "x"}]
FACTS = ItemFacts("r1", "Trail running shoes", "Running")


def write(model: OpenAIModel, n: int = 2) -> Any:
    """The writer-level entry point: only ``.pitch.source`` is relied on."""
    cfg = PitchConfig(backend="openai", n_samples=n, rerank=False, openai=model.config)
    return PitchWriter(model, cfg, names=None).write(FACTS, ShopperContext(), use_cache=False)


# ----------------------------------------------------------------------------- protocol


def test_chat_completion_request_and_pitch(server: FakeServer) -> None:
    model = fast(server, api_key="k1")
    result = write(model)
    assert (result.pitch.source, result.pitch.model) == ("llm", "openai/smol")
    sent = server.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer k1"
    body = sent["body"]
    assert set(body) == {"model", "messages", "n", "max_tokens", "temperature", "seed"}
    defaults = PitchConfig()
    assert body["model"] == "smol" and body["n"] == 2
    assert (body["max_tokens"], body["temperature"]) == (
        defaults.max_new_tokens,
        defaults.temperature,
    )
    assert body["messages"][0]["role"] == "system"
    assert len(server.requests) == 1  # two choices in one answer: no top-up request


def test_no_key_sends_no_authorization(server: FakeServer, monkeypatch: Any) -> None:
    monkeypatch.delenv("RECSYS_PITCH_API_KEY", raising=False)
    assert fast(server).generate(USER, 1, 10, 0.5, 1) == [REPLY]
    assert server.requests[0]["auth"] is None
    monkeypatch.setenv("RECSYS_PITCH_API_KEY", "from-env")
    fast(server).generate(USER, 1, 10, 0.5, 1)
    assert server.requests[1]["auth"] == "Bearer from-env"


# ----------------------------------------------------------------------------- retries


def test_retries_after_503_then_succeeds(server: FakeServer) -> None:
    server.script.extend([Answer(503), Answer(503)])
    assert fast(server, retries=2).generate(USER, 2, 10, 0.5, 7) == [REPLY, REPLY]
    assert len(server.requests) == 3
    assert all(b == server.requests[0]["body"] for b in server.bodies())  # the same request


@pytest.mark.parametrize("status", [500, 502, 504])
def test_other_server_errors_are_retried(server: FakeServer, status: int) -> None:
    server.script.append(Answer(status))
    assert fast(server).generate(USER, 1, 10, 0.5, 1) == [REPLY]
    assert len(server.requests) == 2


def test_429_with_retry_after_zero_is_retried_at_once(server: FakeServer) -> None:
    server.script.append(Answer(429, {"Retry-After": "0"}))
    started = time.monotonic()
    # backoff_s alone would wait 5 s: the server's Retry-After (0 s) is used instead
    assert fast(server, backoff_s=5.0).generate(USER, 1, 10, 0.5, 1) == [REPLY]
    assert time.monotonic() - started < 1.0
    assert len(server.requests) == 2


def test_retry_after_past_the_deadline_fails_at_once(server: FakeServer) -> None:
    server.script.append(Answer(429, {"Retry-After": "30"}))
    started = time.monotonic()
    with pytest.raises(PitchModelError, match=r"HTTP 429.*deadline_s=1\.0"):
        fast(server, deadline_s=1.0).generate(USER, 1, 10, 0.5, 1)
    assert time.monotonic() - started < 0.5  # no sleeping towards a retry that cannot happen
    assert len(server.requests) == 1


def test_gives_up_after_retries_naming_the_status(server: FakeServer) -> None:
    server.default = Answer(503)
    with pytest.raises(PitchModelError, match=r"HTTP 503: scripted 503 \(3 attempts\)"):
        fast(server, retries=2).generate(USER, 1, 10, 0.5, 1)
    assert len(server.requests) == 3
    server.requests.clear()
    with pytest.raises(PitchModelError, match="HTTP 503"):
        fast(server, retries=0).generate(USER, 1, 10, 0.5, 1)
    assert len(server.requests) == 1


def test_backoff_doubles(server: FakeServer) -> None:
    server.default = Answer(503)
    started = time.monotonic()
    with pytest.raises(PitchModelError):
        fast(server, retries=2, backoff_s=0.1).generate(USER, 1, 10, 0.5, 1)
    assert 0.3 <= time.monotonic() - started < 1.5  # 0.1 + 0.2 s of waiting


def test_401_fails_at_once_and_mentions_the_key(server: FakeServer) -> None:
    server.default = Answer(401)
    with pytest.raises(PitchModelError, match=r"HTTP 401.*api key"):
        fast(server, retries=3).generate(USER, 1, 10, 0.5, 1)
    assert len(server.requests) == 1


@pytest.mark.parametrize(("status", "hint"), [(400, "scripted 400"), (404, "base_url")])
def test_other_client_errors_fail_at_once(server: FakeServer, status: int, hint: str) -> None:
    server.default = Answer(status)
    with pytest.raises(PitchModelError, match=f"HTTP {status}.*{hint}"):
        fast(server, retries=3).generate(USER, 1, 10, 0.5, 1)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("raw", "problem"),
    [(b"<html>busy</html>", "invalid JSON"), (b'{"choices": []}', "no choices")],
)
def test_bad_answers_fail_at_once(server: FakeServer, raw: bytes, problem: str) -> None:
    server.default = Answer(raw=raw)
    with pytest.raises(PitchModelError, match=problem):
        fast(server, retries=3).generate(USER, 1, 10, 0.5, 1)
    assert len(server.requests) == 1


def test_slow_server_times_out_within_the_retry_budget(server: FakeServer) -> None:
    server.default = Answer(delay_s=3.0)
    model = fast(server, timeout_s=0.2, retries=1, backoff_s=0.05)
    started = time.monotonic()
    with pytest.raises(PitchModelError, match=r"timed out.*\(2 attempts\)"):
        model.generate(USER, 1, 10, 0.5, 1)
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 0.2 * 2 + 0.05 + 0.6  # two timeouts and one backoff, generously
    assert len(server.requests) == 2


def test_deadline_caps_the_whole_call(server: FakeServer) -> None:
    server.default = Answer(delay_s=3.0)
    model = fast(server, timeout_s=0.2, retries=10, backoff_s=0.01, deadline_s=0.35)
    started = time.monotonic()
    with pytest.raises(PitchModelError, match=r"deadline_s=0\.35"):
        model.generate(USER, 1, 10, 0.5, 1)
    assert time.monotonic() - started < 0.35 + 0.3
    assert len(server.requests) < 11  # ten retries were allowed; the deadline stopped them


def test_unreachable_endpoint_is_retried_and_fails_quickly() -> None:
    model = OpenAIModel(
        OpenAIConfig(base_url="http://127.0.0.1:9/v1", timeout_s=0.5, backoff_s=0.01)
    )
    started = time.monotonic()
    with pytest.raises(PitchModelError, match=r"unreachable.*\(3 attempts\)"):
        model.generate(USER, 1, 10, 0.5, 1)
    assert time.monotonic() - started < 2.0


def test_rate_limit_spaces_requests(server: FakeServer) -> None:
    model = OpenAIModel(OpenAIConfig(base_url=server.url, rate_limit_per_s=10.0))
    started = time.perf_counter()
    for _ in range(3):
        model.generate(USER, 1, 10, 0.5, 1)
    assert time.perf_counter() - started >= 0.19


# ----------------------------------------------------------------------------- n, prefill


def test_server_ignoring_n_gets_one_request_per_reply(server: FakeServer) -> None:
    server.default = Answer(choices=1)  # Ollama, llama-server: one choice whatever n says
    replies = fast(server).generate(USER, 3, 10, 0.5, 100)
    assert replies == [REPLY] * 3
    assert len(server.requests) == 3
    assert [b["n"] for b in server.bodies()] == [3, 2, 1]  # asks only for what is missing
    assert [b["seed"] for b in server.bodies()] == [100, 101, 102]  # not the same sample again


def test_server_refusing_n_is_asked_one_choice_at_a_time(server: FakeServer) -> None:
    server.default = Answer(one_choice_only=True)  # llama-server
    model = fast(server, retries=2)
    assert model.generate(USER, 3, 10, 0.5, 100) == [REPLY] * 3
    assert [b["n"] for b in server.bodies()] == [3, 1, 1, 1]  # the refusal is not retried
    assert [b["seed"] for b in server.bodies()][1:] == [100, 101, 102]
    server.requests.clear()
    assert model.generate(USER, 2, 10, 0.5, 5) == [REPLY] * 2
    assert [b["n"] for b in server.bodies()] == [1, 1]  # remembered


def test_some_replies_are_kept_when_a_top_up_fails(server: FakeServer) -> None:
    server.script.append(Answer(choices=1))
    server.default = Answer(400)
    assert fast(server).generate(USER, 3, 10, 0.5, 1) == [REPLY]
    assert len(server.requests) == 2


def test_prefill_becomes_an_instruction_and_is_joined(server: FakeServer) -> None:
    server.reply = "is a gripping film."
    messages = [
        {"role": "system", "content": "Write copy."},
        {"role": "user", "content": "<facts>Kind: film</facts>\nOne sentence, please."},
        {"role": "assistant", "content": "This film is"},
    ]
    replies = fast(server).generate(messages, 1, 10, 0.5, 1)
    assert replies == ["This film is a gripping film."]
    sent = server.bodies()[0]["messages"]
    assert [m["role"] for m in sent] == ["system", "user"]  # no assistant message
    assert sent[-1]["content"].endswith(
        'One sentence, please.\nBegin your answer with the words "This film is".'
    )
    assert messages[-1]["role"] == "assistant"  # the caller's list is untouched


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("This film is a gripping film.", "This film is a gripping film."),
        ('  "this film is tense."', '  "this film is tense."'),  # starts with it: as is
        ("a gripping thriller.", "This film is a gripping thriller."),  # the continuation
        ("is a gripping film.", "This film is a gripping film."),  # repeats the last word
        ("A gripping thriller.", "A gripping thriller."),  # a sentence of its own: as is
        ("Heat is a gripping thriller.", "Heat is a gripping thriller."),
    ],
)
def test_join_prefix(reply: str, expected: str) -> None:
    assert join_prefix("This film is", reply) == expected


def test_join_prefix_without_overlap() -> None:
    assert join_prefix("This film", "is a gripping film.") == "This film is a gripping film."
    assert join_prefix("", "anything.") == "anything."


# ----------------------------------------------------------------------------- the validator


def test_a_clean_reply_is_an_llm_pitch(server: FakeServer) -> None:
    server.reply = "is a joy on muddy trails."  # a continuation of the answer start
    assert write(fast(server)).pitch.source == "llm"


def test_a_reply_with_a_link_falls_back_to_the_template(server: FakeServer) -> None:
    server.reply = "is on sale at http://example.com today."
    assert write(fast(server)).pitch.source == "template"
    assert len(server.requests) == 1


def test_http_error_becomes_template(server: FakeServer) -> None:
    server.default = Answer(503)
    model = fast(server, retries=1)
    with pytest.raises(PitchModelError, match="HTTP 503"):
        model.generate(USER, 1, 10, 0.5, 1)
    assert write(model).pitch.source == "template"


# ----------------------------------------------------------------------------- config


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        OpenAIConfig(base_url="ftp://x")
    with pytest.raises(ConfigError, match="backend"):
        PitchConfig(backend="gpt")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"unknown key 'bogus' in \[pitch\]"):
        PitchConfig.from_dict({"bogus": 1})
    cfg = PitchConfig.from_dict({"n_samples": 2, "openai": {"model": "m", "retries": 0}})
    assert (cfg.n_samples, cfg.openai.model, cfg.openai.retries) == (2, "m", 0)
    defaults = OpenAIConfig()
    assert (defaults.retries, defaults.backoff_s, defaults.deadline_s) == (2, 0.5, 20.0)
    for bad in ({"retries": -1}, {"retries": 11}, {"retries": 1.5}, {"retries": True}):
        with pytest.raises(ConfigError, match=r"openai\.retries"):
            OpenAIConfig(**bad)
    with pytest.raises(ConfigError, match=r"openai\.backoff_s"):
        OpenAIConfig(backoff_s=-0.1)
    with pytest.raises(ConfigError, match=r"openai\.deadline_s"):
        OpenAIConfig(deadline_s=0)
    assert OpenAIConfig(retries=0, backoff_s=0.0, deadline_s=1.0, timeout_s=5.0).deadline_s == 1.0


def test_nightly_toml_tables_as_documented(tmp_path: Path) -> None:
    """The ``[pitch]`` / ``[pitch.openai]`` example of docs/pitch-backends.md parses."""
    path = tmp_path / "nightly.toml"
    path.write_text(
        "[pitch]\n"
        'backend = "openai"\n'
        "n_samples = 3\n"
        "[pitch.openai]\n"
        'base_url = "http://127.0.0.1:11434/v1"\n'
        'model = "smollm2:1.7b"\n'
        "timeout_s = 10\n"
        "retries = 2\n"
        "backoff_s = 0.5\n"
        "deadline_s = 20\n",
        encoding="utf-8",
    )
    pitch = load_nightly_config(path).pitch
    assert pitch.backend == "openai"
    assert pitch.openai == OpenAIConfig(
        base_url="http://127.0.0.1:11434/v1", model="smollm2:1.7b", deadline_s=20.0
    )
