"""API configuration: defaults → config file → ``RECSYS_*`` environment → explicit overrides.

The file (TOML or JSON) is named by ``RECSYS_API_CONFIG``; its keys are the field names below
(a TOML file may also put them under an ``[api]`` table). A ``[pitch]`` table (and
``[pitch.openai]``) configures the pitch writer of ``?pitch=true``, with the keys of
:class:`recsys.pitch.config.PitchConfig`, as in the nightly job's config. Environment variables are
``RECSYS_HOME`` for ``home`` and ``RECSYS_API_<FIELD>`` for the others (lists comma-separated,
booleans ``true``/``false``). ``create_app(config)`` overrides win over everything.

Keys: writes need a write or admin key, erasure an admin key. ``/healthz`` and ``/readyz`` never
need one. With ``read_requires_key`` the reads, ``/v1/model`` and ``/openapi.json`` need a write
or admin key, and ``/metrics`` needs a metrics, write or admin key; ``metrics_keys`` alone (reads
open) makes ``/metrics`` need a key too. A metrics key opens ``/metrics`` and nothing else.

Example:
    >>> cfg = load_api_config({"write_keys": ["k1"], "read_requires_key": True})
    >>> cfg.read_requires_key, cfg.max_batch
    (True, 1000)
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from recsys.config import from_dict
from recsys.errors import ConfigError
from recsys.pitch.config import PitchConfig

CONFIG_ENV = "RECSYS_API_CONFIG"
ENV_PREFIX = "RECSYS_API_"


@dataclass(frozen=True)
class ApiConfig:
    """Settings of the HTTP API (one instance per app, read-only)."""

    home: str | None = None  # data home; None: $RECSYS_HOME or ./var
    write_keys: tuple[str, ...] = ()  # Bearer keys for POST /v1/events and PUT /v1/items
    admin_keys: tuple[
        str, ...
    ] = ()  # Bearer keys for DELETE /v1/users/<id> (also allowed to write)
    # True: reads need a write or admin key too, and so do /metrics and /openapi.json
    # (/healthz and /readyz stay open for probes and load balancers)
    read_requires_key: bool = False
    # Bearer keys for GET /metrics only (a scraper's key: it cannot read, write or erase); when
    # set, /metrics needs one of these or a write/admin key even if reads are open
    metrics_keys: tuple[str, ...] = ()
    max_body_bytes: int = 2_000_000  # larger request bodies get 413
    max_batch: int = 1000  # events or items per write request
    pitch_wait_ms: int = 300  # default time budget for ?pitch=true
    swap_poll_s: float = 2.0  # how often each worker checks CURRENT and catalog changes
    watch: bool = True  # run the background swap watcher (tests may drive refresh() by hand)
    precomputed: bool = True  # answer unchanged users from the bundle's lists (False: all live)
    fast_path: bool = True  # serve GET /v1/users/<id>/recommendations without Flask's dispatch
    # the pitch writer of ?pitch=true (the config file's [pitch] table)
    pitch: PitchConfig = field(default_factory=PitchConfig)

    def __post_init__(self) -> None:
        for name in ("write_keys", "admin_keys", "metrics_keys"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(k, str) and k for k in value):
                raise ConfigError(f"{name}={value!r} is not allowed: must be non-empty strings")
            object.__setattr__(self, name, tuple(value))
        if not 1_000 <= self.max_body_bytes <= 100_000_000:
            raise ConfigError(
                f"max_body_bytes={self.max_body_bytes!r} is not allowed: must be in [1000, 1e8]"
            )
        if not 1 <= self.max_batch <= 100_000:
            raise ConfigError(f"max_batch={self.max_batch!r} is not allowed: must be in [1, 1e5]")
        if not 0 <= self.pitch_wait_ms <= 60_000:
            raise ConfigError(
                f"pitch_wait_ms={self.pitch_wait_ms!r} is not allowed: must be in [0, 60000]"
            )
        if not 0.05 <= self.swap_poll_s <= 3600:
            raise ConfigError(
                f"swap_poll_s={self.swap_poll_s!r} is not allowed: must be in [0.05, 3600]"
            )

    @property
    def all_keys(self) -> tuple[str, ...]:
        """Every configured key (what reads accept when ``read_requires_key``)."""
        return self.write_keys + self.admin_keys

    @property
    def metrics_need_key(self) -> bool:
        """Whether ``GET /metrics`` needs a key (reads need one, or metrics keys are set)."""
        return self.read_requires_key or bool(self.metrics_keys)


_LIST_FIELDS = {"write_keys", "admin_keys", "metrics_keys"}


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read API config {str(path)!r}: {exc}") from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"API config {str(path)!r} is not valid: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"API config {str(path)!r} must be a table / object")
    pitch = data.get("pitch")
    if isinstance(data.get("api"), dict):
        data = data["api"]
        if pitch is None:  # [api.pitch] is read like [pitch]
            pitch = data.get("pitch")
    out = {k: v for k, v in data.items() if k != "pitch"}
    if pitch is not None:
        out["pitch"] = pitch
    return out


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if environ.get("RECSYS_HOME"):
        out["home"] = environ["RECSYS_HOME"]
    for f in fields(ApiConfig):
        raw = environ.get(ENV_PREFIX + f.name.upper())
        if raw is None or f.name == "home":
            continue
        if f.name in _LIST_FIELDS:
            out[f.name] = [k.strip() for k in raw.split(",") if k.strip()]
        elif f.type in ("bool",):
            word = raw.strip().lower()
            if word not in ("true", "false", "1", "0", "yes", "no"):
                raise ConfigError(f"{ENV_PREFIX}{f.name.upper()}={raw!r} must be true or false")
            out[f.name] = word in ("true", "1", "yes")
        elif f.type == "int":
            try:
                out[f.name] = int(raw)
            except ValueError as exc:
                raise ConfigError(f"{ENV_PREFIX}{f.name.upper()}={raw!r} must be an int") from exc
        elif f.type == "float":
            try:
                out[f.name] = float(raw)
            except ValueError as exc:
                raise ConfigError(f"{ENV_PREFIX}{f.name.upper()}={raw!r} must be a number") from exc
        else:
            out[f.name] = raw
    return out


def load_api_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> ApiConfig:
    """Merge defaults, the config file, the environment and ``overrides`` into an ApiConfig.

    Args:
        overrides: field values that win over everything (e.g. from ``create_app``).
        environ: environment to read (default: ``os.environ``).

    Raises:
        ConfigError: on unknown keys, wrong types or out-of-range values.
    """
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    if environ.get(CONFIG_ENV):
        merged.update(_read_file(Path(environ[CONFIG_ENV])))
    merged.update(_from_env(environ))
    merged.update(overrides or {})
    for name in _LIST_FIELDS:
        if name in merged and isinstance(merged[name], list | tuple):
            merged[name] = tuple(merged[name])
    return _build(merged)


def _build(data: dict[str, Any]) -> ApiConfig:
    pitch = data.pop("pitch", None)
    if pitch is None:
        pitch = PitchConfig()
    elif isinstance(pitch, Mapping):
        pitch = PitchConfig.from_mapping(pitch)
    elif not isinstance(pitch, PitchConfig):
        raise ConfigError(f"pitch={pitch!r} is not allowed: must be a [pitch] table")
    plain = {k: (list(v) if isinstance(v, tuple) else v) for k, v in data.items()}
    # reuse the library's strict key/type checking (lists arrive as lists, the config wants tuples)
    lists = {k: plain.pop(k) for k in _LIST_FIELDS if k in plain}
    for name, value in lists.items():
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise ConfigError(f"{name}={value!r} is not allowed: must be a list of strings")
    cfg = from_dict(_ApiScalars, plain, "api.")
    return ApiConfig(**{**cfg.__dict__, **{k: tuple(v) for k, v in lists.items()}}, pitch=pitch)


@dataclass(frozen=True)
class _ApiScalars:
    """The scalar fields of :class:`ApiConfig`, for type-checked parsing."""

    home: str | None = None
    read_requires_key: bool = False
    max_body_bytes: int = 2_000_000
    max_batch: int = 1000
    pitch_wait_ms: int = 300
    swap_poll_s: float = 2.0
    watch: bool = True
    precomputed: bool = True
    fast_path: bool = True
