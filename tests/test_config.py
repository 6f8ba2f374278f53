"""Typed, frozen configs: defaults, strict parsing from plain data and files, stable hashes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from recsys.config import (
    BehaviorConfig,
    HybridConfig,
    IndexConfig,
    MatrixConfig,
    TextConfig,
    TrainConfig,
    load_config,
)
from recsys.errors import ConfigError


@pytest.mark.parametrize(
    "cls", [MatrixConfig, BehaviorConfig, TextConfig, IndexConfig, HybridConfig, TrainConfig]
)
def test_defaults_are_valid_and_frozen(cls: type) -> None:
    cfg = cls()
    first = dataclasses.fields(cfg)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(cfg, first, getattr(cfg, first))


def test_from_empty_dict_is_the_default() -> None:
    assert TrainConfig.from_dict({}) == TrainConfig()


def test_from_dict_overrides_nested_fields_only() -> None:
    cfg = TrainConfig.from_dict(
        {
            "behavior": {"factors": 32, "algorithm": "bpr"},
            "matrix": {"half_life_days": 30},
            "hybrid": {"max_category_share": 0.5, "exclude_seen": False},
            "keep_versions": 2,
        }
    )
    assert cfg.behavior == BehaviorConfig(algorithm="bpr", factors=32)
    assert cfg.matrix.half_life_days == 30.0
    assert isinstance(cfg.matrix.half_life_days, float)
    assert cfg.hybrid.max_category_share == 0.5
    assert cfg.hybrid.exclude_seen is False
    assert cfg.keep_versions == 2
    assert cfg.text == TextConfig()
    assert cfg.index == IndexConfig()


@pytest.mark.parametrize(
    ("data", "name"),
    [
        ({"bogus": 1}, "bogus"),
        ({"behavior": {"factor": 8}}, "behavior.factor"),
        ({"hybrid": {"text_weigth": 0.2}}, "hybrid.text_weigth"),
    ],
)
def test_unknown_key_is_named(data: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown config key.*'{name}'"):
        TrainConfig.from_dict(data)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        ({"behavior": {"factors": "x"}}, "behavior.factors"),
        ({"behavior": {"factors": True}}, "behavior.factors"),
        ({"behavior": {"factors": 8.0}}, "behavior.factors"),
        ({"behavior": {"algorithm": "svd"}}, "behavior.algorithm"),
        ({"matrix": {"view": "1"}}, "matrix.view"),
        ({"matrix": {"view": False}}, "matrix.view"),
        ({"matrix": {"half_life_days": "soon"}}, "matrix.half_life_days"),
        ({"text": {"enabled": 1}}, "text.enabled"),
        ({"text": {"model": 3}}, "text.model"),
        ({"hybrid": 5}, "hybrid"),
        ({"keep_versions": None}, "keep_versions"),
    ],
)
def test_wrong_type_is_rejected(data: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        TrainConfig.from_dict(data)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        ({"behavior": {"factors": 0}}, "behavior.factors"),
        ({"behavior": {"iterations": 0}}, "behavior.iterations"),
        ({"behavior": {"learning_rate": 0.0}}, "behavior.learning_rate"),
        ({"matrix": {"purchase": -1.0}}, "matrix.purchase"),
        ({"matrix": {"view": 0, "click": 0, "add_to_cart": 0, "purchase": 0}}, "matrix weights"),
        ({"matrix": {"half_life_days": 0}}, "matrix.half_life_days"),
        ({"matrix": {"window_days": -1}}, "matrix.window_days"),
        ({"hybrid": {"text_weight": -0.1}}, "hybrid.text_weight"),
        ({"hybrid": {"recent_weight": -1}}, "hybrid.recent_weight"),
        ({"hybrid": {"recent_events": 0}}, "hybrid.recent_events"),
        ({"hybrid": {"max_category_share": 2}}, "hybrid.max_category_share"),
        ({"hybrid": {"max_category_share": 0}}, "hybrid.max_category_share"),
        ({"hybrid": {"candidates": 0}}, "hybrid.candidates"),
        ({"index": {"hnsw_m": 2}}, "index.hnsw_m"),
        ({"text": {"batch_size": 0}}, "text.batch_size"),
        ({"keep_versions": 0}, "keep_versions"),
    ],
)
def test_out_of_range_is_rejected(data: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        TrainConfig.from_dict(data)


def test_direct_construction_validates_too() -> None:
    with pytest.raises(ConfigError, match=r"behavior\.factors=0 is not allowed: must be >= 1"):
        BehaviorConfig(factors=0)
    with pytest.raises(ConfigError, match=r"hybrid\.behavior_weight"):
        HybridConfig(behavior_weight=-1.0)


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="bogus"):
        TrainConfig.from_dict({"bogus": 1})


def test_to_dict_from_dict_round_trip() -> None:
    cfg = TrainConfig.from_dict(
        {
            "matrix": {"half_life_days": 14.0, "window_days": 90.0, "view": 0.25},
            "behavior": {"algorithm": "itemknn", "neighbors": 10},
            "text": {"enabled": False},
            "hybrid": {"max_category_share": 0.4},
        }
    )
    data = cfg.to_dict()
    assert TrainConfig.from_dict(data) == cfg
    # and through JSON (what a bundle manifest stores)
    assert TrainConfig.from_dict(json.loads(json.dumps(data))) == cfg
    assert data["behavior"]["neighbors"] == 10


def test_config_hash_is_stable_and_sensitive() -> None:
    a = TrainConfig().config_hash()
    assert a == TrainConfig().config_hash()
    assert a == TrainConfig.from_dict(TrainConfig().to_dict()).config_hash()
    assert len(a) == 64
    assert int(a, 16) >= 0
    changed = {
        TrainConfig.from_dict({"behavior": {"factors": 65}}).config_hash(),
        TrainConfig.from_dict({"hybrid": {"exclude_seen": False}}).config_hash(),
        TrainConfig.from_dict({"matrix": {"half_life_days": 1}}).config_hash(),
        TrainConfig.from_dict({"keep_versions": 6}).config_hash(),
    }
    assert a not in changed
    assert len(changed) == 4


def test_load_config_reads_toml(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text(
        "keep_versions = 3\n"
        '[behavior]\nalgorithm = "bpr"\nfactors = 16\n'
        "[matrix]\nhalf_life_days = 7\n",
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert cfg.behavior == BehaviorConfig(algorithm="bpr", factors=16)
    assert cfg.matrix.half_life_days == 7.0
    assert cfg.keep_versions == 3


def test_load_config_reads_json(tmp_path: Path) -> None:
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"hybrid": {"candidates": 50}}), encoding="utf-8")
    assert load_config(path) == TrainConfig(hybrid=HybridConfig(candidates=50))


def test_load_config_none_is_default() -> None:
    assert load_config(None) == TrainConfig()


def test_load_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize(("name", "content"), [("bad.toml", "[behavior\n"), ("bad.json", "{")])
def test_load_config_invalid_syntax(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid"):
        load_config(path)


def test_load_config_validates_values(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text("[behavior]\nfactors = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"behavior\.factors"):
        load_config(path)


def test_load_config_json_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "train.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(path)
