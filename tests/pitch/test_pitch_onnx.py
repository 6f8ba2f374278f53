"""The onnxruntime-genai runtime without the real model: config, fallback, conversion, sampling."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recsys.errors import ConfigError, PitchModelError
from recsys.home import Home
from recsys.pitch import backends
from recsys.pitch.backends import (
    MODEL_CACHE_ENV,
    OnnxModel,
    TransformersModel,
    convert_onnx,
    make_model,
    model_cache_dir,
    sample_token,
    split_prefill,
    token_logprob,
)
from recsys.pitch.config import PitchConfig
from recsys.pitch.facts import ItemFacts, RecentItem, ShopperContext
from recsys.pitch.writer import PitchWriter

FACTS = ItemFacts("r1", "Trail shoes", "Running", kind="shoes")
CTX = ShopperContext((RecentItem("r2", "Running socks", "bought"),))
LINK = "Because you bought Running socks, we picked Trail shoes for you."
GOOD = "These shoes grip well on wet trails."
BAD = "These shoes are a top seller in the market."  # a popularity claim the facts do not make


@pytest.fixture(autouse=True)
def model_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty pitch model cache of the test's own, never the environment's shared one.

    A fake build must not land where real pitches load from, and a real model there must not
    hide what these tests expect of a missing one.
    """
    folder = tmp_path / "model-cache"
    monkeypatch.setenv(MODEL_CACHE_ENV, str(folder))
    return folder


def test_runtime_is_validated_and_bf16_needs_transformers() -> None:
    assert PitchConfig().runtime == "onnx" and PitchConfig().precision == "int8"
    with pytest.raises(ConfigError, match=r"pitch\.runtime"):
        PitchConfig(runtime="tensorrt")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="bf16"):
        PitchConfig(precision="bf16")
    assert PitchConfig(runtime="transformers", precision="bf16").precision == "bf16"


def test_int4_is_an_onnx_only_precision() -> None:
    assert PitchConfig(precision="int4").precision == "int4"
    for runtime in ("transformers", "llamacpp"):
        with pytest.raises(ConfigError, match=r"pitch\.precision='int4' is not allowed"):
            PitchConfig(runtime=runtime, precision="int4")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"precision='int2' is not allowed: must be one of"):
        PitchConfig(precision="int2")  # type: ignore[arg-type]
    assert PitchConfig.from_dict({"precision": "int4"}).precision == "int4"


def test_make_model_prefers_onnx_and_falls_back_with_a_warning(
    home: Home, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(backends, "onnx_available", lambda: True)
    assert isinstance(make_model(home, PitchConfig()), OnnxModel)
    monkeypatch.setattr(backends, "onnx_available", lambda: False)
    model = make_model(home, PitchConfig())
    assert isinstance(model, TransformersModel)
    assert "onnxruntime-genai is not installed" in caplog.text
    assert isinstance(make_model(home, PitchConfig(runtime="transformers")), TransformersModel)


def test_convert_onnx_without_the_package_says_how_to_install(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backends, "onnx_available", lambda: False)
    with pytest.raises(PitchModelError, match="pip install 'onnxruntime-genai"):
        convert_onnx(home, "int8")
    with pytest.raises(PitchModelError, match="supports precision"):
        convert_onnx(home, "bf16")


def _fake_builder(ok: bool, calls: list[list[str]]) -> Any:
    def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        out = Path(cmd[cmd.index("-o") + 1])
        out.mkdir(parents=True)
        (out / "model.onnx").write_bytes(b"onnx")
        if ok:
            config = {"model": {"decoder": {"session_options": {}}}}
            (out / "genai_config.json").write_text(json.dumps(config), encoding="utf-8")
            return subprocess.CompletedProcess(cmd, 0, "", "")
        return subprocess.CompletedProcess(cmd, 1, "", "Traceback...\nValueError: bad weights")

    return run


def test_convert_onnx_builds_once_atomically_and_a_failure_leaves_nothing(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backends, "onnx_available", lambda: True)
    monkeypatch.setattr(backends, "convert_gguf", lambda h: h.cache / "hf")
    calls: list[list[str]] = []
    monkeypatch.setattr(backends.subprocess, "run", _fake_builder(False, calls))
    with pytest.raises(PitchModelError, match="ValueError: bad weights"):
        convert_onnx(home, "int8")
    target = model_cache_dir() / "smollm2-135m-instruct-onnx-int8"
    assert not target.exists()
    assert not list(target.parent.glob(target.name + ".tmp*"))  # the partial build is removed

    monkeypatch.setattr(backends.subprocess, "run", _fake_builder(True, calls))
    assert convert_onnx(home, "int8") == target
    assert (target / "genai_config.json").is_file()
    assert convert_onnx(home, "int8") == target  # cached: the builder is not run again
    assert len(calls) == 2
    cmd = calls[-1]
    assert cmd[cmd.index("-p") + 1] == "int8" and "prune_lm_head=true" in cmd
    backends._set_onnx_threads(target, 2)
    config = json.loads((target / "genai_config.json").read_text(encoding="utf-8"))
    assert config["model"]["decoder"]["session_options"]["intra_op_num_threads"] == 2


def test_convert_onnx_int4_is_cached_apart_from_int8(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backends, "onnx_available", lambda: True)
    monkeypatch.setattr(backends, "convert_gguf", lambda h: h.cache / "hf")
    calls: list[list[str]] = []
    envs: list[dict[str, str]] = []
    builder = _fake_builder(True, calls)

    def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        envs.append(kwargs["env"])
        return builder(cmd, **kwargs)

    monkeypatch.setattr(backends.subprocess, "run", run)
    int4, int8 = convert_onnx(home, "int4"), convert_onnx(home, "int8")
    assert int4 == model_cache_dir() / "smollm2-135m-instruct-onnx-int4" != int8
    assert [c[c.index("-p") + 1] for c in calls] == ["int4", "int8"]
    assert all(e["HF_HUB_OFFLINE"] == e["TRANSFORMERS_OFFLINE"] == "1" for e in envs)
    assert OnnxModel(home, PitchConfig(precision="int4")).name.endswith("/onnx-int4")


def test_split_prefill() -> None:
    msgs = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "Since you"}]
    assert split_prefill(msgs) == (msgs[:1], "Since you")
    assert split_prefill(msgs[:1]) == (msgs[:1], "")


class SequentialFake:
    """Answers one sample per call from a script, like the onnx runtime."""

    sequential = True
    name = "sequential-fake"

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.calls: list[tuple[int, int]] = []

    def generate(
        self,
        messages: list[dict[str, str]],
        n: int,
        max_new_tokens: int,
        temperature: float,
        seed: int,
    ) -> list[str]:
        self.calls.append((n, seed))
        return [self.script[len(self.calls) - 1]]


def test_writer_stops_at_the_first_valid_sample_of_a_sequential_model() -> None:
    model = SequentialFake([BAD, GOOD, GOOD])
    writer = PitchWriter(model, PitchConfig(n_samples=3, rerank=False))
    result = writer.write(FACTS, CTX, use_cache=False)
    assert (result.pitch.source, result.pitch.text) == ("llm", f"{LINK} {GOOD}")
    assert result.samples == (BAD, GOOD)
    assert [n for n, _ in model.calls] == [1, 1]  # stopped after the second sample
    assert model.calls[1][1] == model.calls[0][1] + 1  # a new seed per sample
    assert result.first_ok is False


def test_writer_draws_all_n_when_none_is_valid_or_first_valid_is_off() -> None:
    model = SequentialFake([BAD, BAD, BAD])
    result = PitchWriter(model, PitchConfig(n_samples=3, rerank=False)).write(
        FACTS, CTX, use_cache=False
    )
    assert result.pitch.source == "template" and len(model.calls) == 3
    batched = SequentialFake([GOOD])
    cfg = PitchConfig(n_samples=3, rerank=False, first_valid=False)
    PitchWriter(batched, cfg).write(FACTS, CTX, use_cache=False)
    assert batched.calls[0][0] == 3  # one call asking for all n


def test_llamacpp_runtime_is_optional_and_says_how_to_install(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_model(home, PitchConfig(runtime="llamacpp"))
    assert isinstance(model, backends.LlamaCppModel) and model.sequential
    monkeypatch.setattr(backends, "llamacpp_available", lambda: False)
    with pytest.raises(PitchModelError, match="pip install llama-cpp-python"):
        model.load()
    with pytest.raises(ConfigError, match="bf16"):
        PitchConfig(runtime="llamacpp", precision="bf16")


def test_packaged_model_runtimes_write_english_only() -> None:
    """SmolLM2-135M writes English only: the writer gives other languages the template."""
    for runtime in (OnnxModel, TransformersModel, backends.LlamaCppModel):
        assert runtime.languages == ("en",)
    model = SequentialFake([GOOD])
    model.languages = ("en",)  # type: ignore[attr-defined]
    german = ShopperContext(CTX.recent, "de")
    result = PitchWriter(model, PitchConfig(rerank=False)).write(FACTS, german, use_cache=False)
    assert result.pitch.source == "template" and model.calls == []
    assert result.pitch.text.startswith("Weil Sie Running socks gekauft haben")


def test_sample_token_is_greedy_at_temperature_zero_and_keeps_the_nucleus() -> None:
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    rng = np.random.default_rng(0)
    assert sample_token(logits, 0.0, 0.9, rng) == 0
    # top-p 0.7: 0.5 alone is short of it, 0.5 + 0.3 reaches it, so only tokens 0 and 1
    drawn = [sample_token(logits, 1.0, 0.7, rng) for _ in range(2_000)]
    assert set(drawn) == {0, 1}
    assert abs(drawn.count(0) / 2_000 - 0.5 / 0.8) < 0.04  # renormalised over the nucleus
    # top-p 1: every token, at its probability (3 standard errors of 4,000 draws is 0.024)
    drawn = [sample_token(logits, 1.0, 1.0, rng) for _ in range(4_000)]
    shares = np.bincount(drawn, minlength=4) / 4_000
    assert np.abs(shares - np.array([0.5, 0.3, 0.15, 0.05])).max() < 0.025
    # a low temperature sharpens: token 0 almost always
    cold = [sample_token(logits, 0.1, 1.0, rng) for _ in range(500)]
    assert cold.count(0) > 490
    # a masked token (the end token before min_new_tokens) is never drawn
    masked = logits.copy()
    masked[0] = -np.inf
    assert 0 not in {sample_token(masked, 1.0, 1.0, rng) for _ in range(500)}
    assert 0 not in {sample_token(masked, 0.0, 1.0, rng) for _ in range(5)}


def _sample_token_sorting_everything(
    logits: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator
) -> int:
    """The nucleus draw written out the slow way: sort the whole vocabulary."""
    z = (logits - logits.max()) / temperature
    p = np.exp(z) / np.exp(z).sum()
    order = np.argsort(-p, kind="stable")
    kept = int(np.searchsorted(np.cumsum(p[order]), min(top_p, 1.0) * (1 - 1e-12))) + 1
    top = order[:kept]
    return int(top[int(rng.choice(kept, p=p[top] / p[top].sum()))])


def test_sample_token_draws_what_sorting_the_whole_vocabulary_draws() -> None:
    # only the most likely tokens are sorted: the same set in the same order, so the same draw,
    # also with ties at the candidates' edge, flat distributions and masked tokens
    cases = np.random.default_rng(0)
    for case in range(600):
        size = int(cases.integers(2, 2_000))
        logits = cases.normal(size=size) * cases.uniform(0.05, 6)
        if case % 3 == 0:
            logits = np.round(logits)  # many ties
        if case % 5 == 0:
            logits[cases.integers(size)] = -np.inf
        temperature = float(cases.choice([0.3, 0.6, 1.0, 3.0]))
        top_p = float(cases.choice([0.3, 0.9, 0.99, 1.0]))
        fast = sample_token(logits, temperature, top_p, np.random.default_rng(case))
        slow = _sample_token_sorting_everything(
            logits, temperature, top_p, np.random.default_rng(case)
        )
        assert fast == slow, (case, size, temperature, top_p)


def test_sample_token_depends_only_on_its_generator() -> None:
    logits = np.random.default_rng(3).normal(size=1_000)
    first = [sample_token(logits, 0.3, 0.9, np.random.default_rng(s)) for s in range(50)]
    again = [sample_token(logits, 0.3, 0.9, np.random.default_rng(s)) for s in range(50)]
    assert first == again and len(set(first)) > 1


def test_token_logprob_is_the_log_softmax() -> None:
    logits = np.array([2.0, 1.0, -1.0, 1000.0, 1000.0])  # large values do not overflow
    assert token_logprob(logits, 3) == pytest.approx(np.log(0.5))
    small = np.array([0.0, np.log(3.0)])
    assert token_logprob(small, 1) == pytest.approx(np.log(0.75))
