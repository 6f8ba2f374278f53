"""Preparing the local pitch model ahead of time: where it lives, idempotence, the CLI command.

Everything but the last test fakes the conversion (the real one takes minutes) and points
``$RECSYS_MODEL_CACHE`` at an empty folder of the test's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from recsys.cli import main
from recsys.home import Home
from recsys.pitch import backends
from recsys.pitch.backends import (
    HF_FILES,
    MODEL_CACHE_ENV,
    ONNX_FILES,
    SMOLLM2_NAME,
    OnnxModel,
    converted_model_dir,
    find_local_model,
    make_model,
    model_cache_dir,
    onnx_model_dir,
    prepare_local_model,
)
from recsys.pitch.config import PitchConfig

ONNX_INT8 = f"{SMOLLM2_NAME}-onnx-int8"


@pytest.fixture
def model_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty shared model cache (the environment's real one is never touched)."""
    folder = tmp_path / "model-cache"
    monkeypatch.setenv(MODEL_CACHE_ENV, str(folder))
    monkeypatch.setattr(backends, "onnx_available", lambda: True)
    return folder


def _fill(folder: Path, files: tuple[str, ...]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        (folder / name).write_text("{}", encoding="utf-8")
    return folder


def _no_conversion(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any) -> Path:
        raise AssertionError("a conversion was started")

    monkeypatch.setattr(backends, "convert_gguf", fail)
    monkeypatch.setattr(backends, "convert_onnx", fail)


def _fake_conversions(
    monkeypatch: pytest.MonkeyPatch, delay_s: float = 0.0, into_home: bool = False
) -> list[list[str]]:
    """Fake the GGUF conversion and the ONNX builder; return the builder's calls."""
    calls: list[list[str]] = []

    def convert_gguf(home: Home) -> Path:
        folder = converted_model_dir(home) if into_home else model_cache_dir() / SMOLLM2_NAME
        return _fill(folder, HF_FILES)

    def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        time.sleep(delay_s)  # long enough for a second caller to arrive while this one builds
        out = Path(cmd[cmd.index("-o") + 1])
        _fill(out, ONNX_FILES)
        (out / "genai_config.json").write_text(
            json.dumps({"model": {"decoder": {}}}), encoding="utf-8"
        )
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(backends, "convert_gguf", convert_gguf)
    monkeypatch.setattr(backends.subprocess, "run", run)
    return calls


def _cli(home: Home, *args: str) -> int:
    try:
        main(["--home", str(home.root), "prepare-pitch-model", *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_the_model_cache_is_the_python_environments_unless_overridden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MODEL_CACHE_ENV, raising=False)
    assert model_cache_dir() == Path(sys.prefix) / "share" / "recsys-shop" / "pitch-models"
    monkeypatch.setenv(MODEL_CACHE_ENV, str(tmp_path / "models"))
    assert model_cache_dir() == tmp_path / "models"


def test_prepare_converts_once_into_the_shared_cache_for_every_home(
    tmp_path: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake_conversions(monkeypatch)
    first, second = Home(tmp_path / "a").ensure(), Home(tmp_path / "b").ensure()
    assert find_local_model(first, PitchConfig()) is None
    prepared = prepare_local_model(first, PitchConfig())
    assert prepared.converted and prepared.runtime == "onnx"
    assert prepared.path == model_cache / ONNX_INT8
    again = prepare_local_model(second, PitchConfig())  # another home: nothing to do
    assert (again.converted, again.path, again.seconds) == (False, prepared.path, 0.0)
    assert len(calls) == 1
    assert not (first.cache / "pitch-models").exists()  # nothing per home


def test_the_command_reports_the_time_then_that_it_is_ready(
    home: Home,
    model_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls = _fake_conversions(monkeypatch)
    assert _cli(home) == 0
    out, err = capsys.readouterr()
    assert "one-time conversion" in err
    assert f"ready: {model_cache / ONNX_INT8} (converted in " in out
    assert _cli(home) == 0
    assert "(already prepared)" in capsys.readouterr().out
    assert _cli(home, "--check") == 0
    assert len(calls) == 1


def test_check_reports_a_missing_model_and_starts_nothing(
    home: Home,
    model_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _no_conversion(monkeypatch)
    assert _cli(home, "--check") == 1
    assert "not prepared; run `recsys prepare-pitch-model`" in capsys.readouterr().err
    assert not model_cache.exists()


def test_a_model_converted_into_the_data_home_is_still_used(
    home: Home,
    model_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _no_conversion(monkeypatch)
    _fill(converted_model_dir(home), HF_FILES)
    legacy = _fill(onnx_model_dir(home, "int8"), ONNX_FILES)
    assert find_local_model(home, PitchConfig()) == legacy
    assert _cli(home) == 0
    assert f"ready: {legacy} (already prepared)" in capsys.readouterr().out
    shared = _fill(model_cache / ONNX_INT8, ONNX_FILES)
    assert find_local_model(home, PitchConfig()) == shared  # the shared copy comes first


def test_an_incomplete_folder_is_not_a_model(home: Home, model_cache: Path) -> None:
    _fill(model_cache / SMOLLM2_NAME, HF_FILES)
    (model_cache / ONNX_INT8).mkdir()
    (model_cache / ONNX_INT8 / "model.onnx").write_text("", encoding="utf-8")
    assert find_local_model(home, PitchConfig()) is None  # no genai_config.json
    assert find_local_model(home, PitchConfig(runtime="transformers")) == model_cache / SMOLLM2_NAME


def test_without_onnxruntime_genai_it_prepares_the_transformers_fallback(
    home: Home, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake_conversions(monkeypatch)
    monkeypatch.setattr(backends, "onnx_available", lambda: False)
    prepared = prepare_local_model(home, PitchConfig())
    assert (prepared.runtime, prepared.path) == ("transformers", model_cache / SMOLLM2_NAME)
    assert calls == []  # no ONNX build


def test_concurrent_preparations_build_once(
    home: Home, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake_conversions(monkeypatch, delay_s=0.3)
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(backends.convert_onnx(home, "int8")))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [model_cache / ONNX_INT8] * 2
    assert len(calls) == 1  # the second waited for the lock, then found the model


def test_an_unwritable_shared_cache_falls_back_to_the_data_home(
    home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv(MODEL_CACHE_ENV, str(blocker / "models"))  # mkdir fails, even as root
    monkeypatch.setattr(backends, "onnx_available", lambda: True)
    _fake_conversions(monkeypatch, into_home=True)
    assert backends.convert_onnx(home, "int8") == onnx_model_dir(home, "int8")
    assert "is not writable" in caplog.text and MODEL_CACHE_ENV in caplog.text


def test_making_an_unprepared_local_model_warns_how_to_prepare_it(
    home: Home, model_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert isinstance(make_model(home, PitchConfig()), OnnxModel)  # nothing loads yet
    assert "not prepared" in caplog.text and "recsys prepare-pitch-model" in caplog.text
    caplog.clear()
    _fill(model_cache / SMOLLM2_NAME, HF_FILES)
    _fill(model_cache / ONNX_INT8, ONNX_FILES)
    make_model(home, PitchConfig())
    assert make_model(home, PitchConfig(backend="template")) is None
    assert "not prepared" not in caplog.text


@pytest.mark.llm
def test_the_real_model_is_prepared_and_reported(home: Home) -> None:
    """The environment's real cache (``make test-llm`` prepares it first; else this converts)."""
    assert _cli(home) == 0
    folder = find_local_model(home, PitchConfig())
    assert folder is not None and (folder / "genai_config.json").is_file()
    assert _cli(home, "--check") == 0
