"""The nightly config is read by the same mechanism as every other config (recsys.config)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recsys.config import TrainConfig
from recsys.errors import ConfigError
from recsys.nightly.config import NightlyConfig, load_nightly_config
from recsys.pitch.config import PitchConfig


def test_defaults_and_nested_tables() -> None:
    assert NightlyConfig.from_dict({}) == NightlyConfig()
    cfg = NightlyConfig.from_dict(
        {"tolerance": 0.05, "train": {"keep_versions": 7, "behavior": {"factors": 8}}}
    )
    assert cfg.tolerance == 0.05 and cfg.train.keep_versions == 7
    assert cfg.train.behavior.factors == 8 and cfg.train.text == TrainConfig().text
    assert cfg.pitch == PitchConfig()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"train": {"behavior": {"factors": 0}}},
            "train.behavior.factors=0 is not allowed: must be an integer >= 1",
        ),
        (
            {"train": {"matrix": {"half_life_days": -1}}},
            "train.matrix.half_life_days=-1.0 is not allowed: must be a number > 0, or unset",
        ),
        ({"holdout_frac": 1}, "holdout_frac=1.0 is not allowed: must be a number in (0, 1)"),
        ({"window_days": 0}, "window_days=0.0 is not allowed: must be a number > 0, or unset"),
        (
            {"tolerance": 1.5},
            "tolerance=1.5 is not allowed: must be a number < 1 when tolerance_mode is 'relative'",
        ),
        (
            {"gate_metric": "auc"},
            "gate_metric='auc' is not allowed: must be one of 'recall@20', 'ndcg@20'",
        ),
        ({"inbox": "yes"}, "inbox='yes' is not allowed: must be true or false"),
        (
            {"pitch": {"n_samples": 0}},
            "pitch.n_samples=0 is not allowed: must be an integer in [1, 16]",
        ),
        (
            {"pitch": {"openai": {"retries": 11}}},
            "pitch.openai.retries=11 is not allowed: must be an integer in [0, 10]",
        ),
        ({"train": 3}, "train=3 is not allowed: must be a table"),
    ],
)
def test_bad_values_name_their_key_in_the_file(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        NightlyConfig.from_dict(data)
    assert str(info.value) == message


def test_absolute_tolerance_may_exceed_one() -> None:
    assert NightlyConfig(tolerance=1.5, tolerance_mode="absolute").tolerance == 1.5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"holdout_fracs": 0.1}, "unknown key 'holdout_fracs' at the top level (did you mean"),
        ({"train": {"behaviour": {}}}, "unknown key 'behaviour' in [train] (did you mean"),
        ({"pitch": {"samples": 3}}, "unknown key 'samples' in [pitch] (did you mean 'n_samples'"),
    ],
)
def test_unknown_keys_name_their_table(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        NightlyConfig.from_dict(data)
    assert str(info.value).startswith(message)


def test_load_nightly_config_reads_toml(tmp_path: Path) -> None:
    path = tmp_path / "nightly.toml"
    path.write_text(
        'holdout_days = 2\ngate_metric = "ndcg@20"\n[train.behavior]\nfactors = 64\n'
        '[pitch]\nbackend = "template"\n',
        encoding="utf-8",
    )
    cfg = load_nightly_config(path)
    assert cfg.holdout_days == 2.0 and cfg.gate_metric == "ndcg@20"
    assert cfg.train.behavior.factors == 64 and cfg.pitch.backend == "template"
    assert load_nightly_config(None) == NightlyConfig()
    path.write_text("[train.behavior]\nfactors = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^train\.behavior\.factors=0 is not allowed"):
        load_nightly_config(path)
