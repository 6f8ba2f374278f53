"""API configuration precedence: defaults, file, environment, explicit overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.config import ApiConfig, load_api_config
from recsys.errors import ConfigError


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
def test_bad_values_raise_config_errors(overrides: dict, environ: dict) -> None:
    with pytest.raises(ConfigError):
        load_api_config(overrides, environ=environ)
