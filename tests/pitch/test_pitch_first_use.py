"""First use of an unprepared local model: the conversion never runs inside a request.

The real ``OnnxModel`` is used; only its conversion (minutes on 2 cores) is replaced by one that
takes 3 s, so the test shows where that time is spent: in the provider's background worker,
while the request returns the template within ``wait_ms``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from recsys.errors import PitchModelError
from recsys.home import Home
from recsys.pitch import backends
from recsys.pitch.config import PitchConfig
from recsys.pitch.serving import PitchProvider
from recsys.store import Store

ITEMS = [{"item_id": "r1", "title": "Running shoes", "category": "Running", "price": 10.0}]


def test_an_unprepared_model_converts_in_the_background_not_in_the_request(
    shop_home: Home, shop_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    started_converting = threading.Event()

    def slow_convert(home: Home, precision: str) -> Path:
        started_converting.set()
        time.sleep(3.0)
        raise PitchModelError("conversion stopped by the test")

    monkeypatch.setattr(backends, "convert_onnx", slow_convert)
    model = backends.OnnxModel(shop_home, PitchConfig())
    provider = PitchProvider(
        shop_home, PitchConfig(n_samples=1, rerank=False), store=shop_store, model=model
    )
    try:
        history = shop_store.user_events("run1")
        began = time.perf_counter()
        first = provider.pitches_for("run1", history, ITEMS, wait_ms=200)
        elapsed = time.perf_counter() - began
        assert first[0].source == "template"
        assert elapsed < 1.5  # wait_ms plus overhead, not the 3 s conversion
        assert started_converting.wait(2.0)  # the conversion did start, in the worker
        began = time.perf_counter()
        again = provider.pitches_for("run1", history, ITEMS, wait_ms=0)
        assert again[0].source == "template" and time.perf_counter() - began < 0.5
    finally:
        provider.close(timeout_s=5.0)


def test_prepare_is_what_make_runs_before_anything_serves() -> None:
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text(encoding="utf-8")
    # `make demo`, `make venv` and the LLM tests depend on the pitch-model target, which runs
    # `recsys prepare-pitch-model`: the conversion happens at setup, not on a shopper's request
    assert "pitch-model: $(STAMP)\n\t$(BIN)/recsys prepare-pitch-model" in makefile
    for target in ("demo:", "venv:", "test-llm:"):
        line = next(x for x in makefile.splitlines() if x.startswith(target))
        assert "pitch-model" in line, line
