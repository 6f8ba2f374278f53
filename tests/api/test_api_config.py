"""API configuration precedence: defaults, file, environment, explicit overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from api.config import ApiConfig, load_api_config
from recsys.errors import ConfigError
from recsys.pitch.config import PitchConfig


def test_defaults() -> None:
    cfg = load_api_config(environ={})
    assert cfg == ApiConfig()
    assert cfg.write_keys == () and not cfg.read_requires_key and cfg.max_batch == 1000


def test_file_then_env_then_overrides(tmp_path: Path) -> None:
    toml = tmp_path / "api.toml"
    toml.write_text(
        '[api]\nwrite_keys = ["file-key"]\nmax_batch = 50\nswap_poll_s = 5\npitch_wait_ms = 100\n'
    )
    env = {"RECSYS_API_CONFIG": str(toml)}
    cfg = load_api_config(environ=env)
    assert cfg.write_keys == ("file-key",) and cfg.max_batch == 50 and cfg.swap_poll_s == 5.0
    env |= {
        "RECSYS_API_MAX_BATCH": "70",
        "RECSYS_API_ADMIN_KEYS": "a1, a2",
        "RECSYS_API_READ_REQUIRES_KEY": "true",
        "RECSYS_HOME": "/srv/recsys",
    }
    cfg = load_api_config(environ=env)
    assert cfg.max_batch == 70 and cfg.admin_keys == ("a1", "a2") and cfg.read_requires_key
    assert cfg.home == "/srv/recsys" and cfg.pitch_wait_ms == 100
    cfg = load_api_config({"max_batch": 90, "write_keys": ["o"]}, environ=env)
    assert cfg.max_batch == 90 and cfg.write_keys == ("o",) and cfg.admin_keys == ("a1", "a2")


def test_json_file(tmp_path: Path) -> None:
    path = tmp_path / "api.json"
    path.write_text(json.dumps({"max_body_bytes": 5000, "read_requires_key": True}))
    cfg = load_api_config(environ={"RECSYS_API_CONFIG": str(path)})
    assert cfg.max_body_bytes == 5000 and cfg.read_requires_key


@pytest.mark.parametrize(
    ("overrides", "environ"),
    [
        ({"max_batch": 0}, {}),
        ({"max_batch": "10"}, {}),
        ({"unknown_key": 1}, {}),
        ({"write_keys": "not-a-list"}, {}),
        ({"write_keys": [""]}, {}),
        ({}, {"RECSYS_API_MAX_BATCH": "ten"}),
        ({}, {"RECSYS_API_READ_REQUIRES_KEY": "maybe"}),
        ({}, {"RECSYS_API_CONFIG": "/nonexistent/api.toml"}),
        ({"swap_poll_s": 0}, {}),
    ],
)
def test_bad_values_raise_config_errors(overrides: dict[str, Any], environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_api_config(overrides, environ=environ)


@pytest.mark.parametrize(
    ("overrides", "environ", "message"),
    [
        ({"max_batch": 0}, {}, "api.max_batch=0 is not allowed: must be an integer in [1, 100000]"),
        ({"max_batch": "10"}, {}, "api.max_batch='10' is not allowed: must be an integer"),
        ({"write_keys": "k"}, {}, "api.write_keys='k' is not allowed: must be a list of strings"),
        (
            {"admin_keys": ["a", ""]},
            {},
            "api.admin_keys=('a', '') is not allowed: must be a list of non-empty strings",
        ),
        (
            {},
            {"RECSYS_API_MAX_BATCH": "ten"},
            "RECSYS_API_MAX_BATCH='ten' is not allowed: must be an integer",
        ),
        (
            {},
            {"RECSYS_API_WATCH": "maybe"},
            "RECSYS_API_WATCH='maybe' is not allowed: must be true or false",
        ),
        (
            {"pitch": {"backend": "gpt"}},
            {},
            "pitch.backend='gpt' is not allowed: must be one of 'local', 'openai', 'template'",
        ),
    ],
)
def test_bad_values_read_like_every_other_config(
    overrides: dict[str, Any], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_api_config(overrides, environ=environ)
    assert str(info.value) == message


def test_unknown_keys_name_their_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^unknown key 'max_batches' in \[api\] \(did you mean"):
        load_api_config({"max_batches": 5}, environ={})
    path = tmp_path / "api.toml"
    path.write_text("[api]\nmax_batch = 5\n[train]\nkeep_versions = 2\n")
    with pytest.raises(ConfigError, match=r"^unknown key 'train' at the top level"):
        load_api_config(environ={"RECSYS_API_CONFIG": str(path)})


def test_every_documented_env_variable_works() -> None:
    """The RECSYS_* variables the README and docs/ name keep working."""
    environ = {
        "RECSYS_HOME": "/srv/recsys/var",
        "RECSYS_API_WRITE_KEYS": "w1,w2",
        "RECSYS_API_ADMIN_KEYS": "a1",
        "RECSYS_API_METRICS_KEYS": "m1, m2",
        "RECSYS_API_READ_REQUIRES_KEY": "true",
        "RECSYS_API_PRECOMPUTED": "false",
        "RECSYS_API_FAST_PATH": "0",
        "RECSYS_API_MAX_BODY_BYTES": "5000",
        "RECSYS_API_SWAP_POLL_S": "0.5",
        "RECSYS_API_HOME": "/ignored",  # home is read from RECSYS_HOME only
    }
    cfg = load_api_config(environ=environ)
    assert cfg.home == "/srv/recsys/var"
    assert cfg.write_keys == ("w1", "w2") and cfg.admin_keys == ("a1",)
    assert cfg.metrics_keys == ("m1", "m2") and cfg.read_requires_key
    assert not cfg.precomputed and not cfg.fast_path
    assert cfg.max_body_bytes == 5000 and cfg.swap_poll_s == 0.5
    # an empty list variable means no keys; an empty scalar is unset
    cfg = load_api_config(environ={"RECSYS_API_WRITE_KEYS": "", "RECSYS_HOME": ""})
    assert cfg.write_keys == () and cfg.home is None


def test_overrides_may_carry_a_pitch_config() -> None:
    pitch = PitchConfig(backend="template")
    assert load_api_config({"pitch": pitch}, environ={}).pitch is pitch
    cfg = load_api_config({"pitch": {"openai": {"model": "m"}}}, environ={})
    assert cfg.pitch.openai.model == "m"
