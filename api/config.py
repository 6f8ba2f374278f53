"""API configuration: defaults → config file → ``RECSYS_*`` environment → explicit overrides.

The file (TOML or JSON) is named by ``RECSYS_API_CONFIG``; its keys are the field names below
(a TOML file may also put them under an ``[api]`` table). A ``[pitch]`` table (and
``[pitch.openai]``) configures the pitch writer of ``?pitch=true``, with the keys of
:class:`recsys.pitch.config.PitchConfig`, as in the nightly job's config. Environment variables are
``RECSYS_HOME``, ``RECSYS_STORE`` and ``RECSYS_ARTIFACTS`` for ``home``, ``store`` and
``artifacts``, and ``RECSYS_API_<FIELD>`` for the others (lists comma-separated,
booleans ``true``/``false``). ``create_app(config)`` overrides win over everything. All of it is
read and checked by :mod:`recsys.config` (``read_config_file``, ``env_overrides``, ``from_dict``),
like the training, nightly and pitch configs; ``docs/config.md`` lists every key.

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

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from recsys.config import Config, check, check_range, env_overrides, from_dict, read_config_file
from recsys.errors import ConfigError
from recsys.pitch.config import PitchConfig

CONFIG_ENV = "RECSYS_API_CONFIG"
ENV_PREFIX = "RECSYS_API_"
ENV_ALIASES = {
    "home": "RECSYS_HOME",
    "store": "RECSYS_STORE",
    "artifacts": "RECSYS_ARTIFACTS",
}  # fields read from another variable than RECSYS_API_<FIELD>


@dataclass(frozen=True)
class ApiConfig(Config):
    """Settings of the HTTP API (one instance per app, read-only)."""

    SECTION: ClassVar[str] = "api"

    home: str | None = None  # data home; unset: $RECSYS_HOME or ./var
    # the store every API host shares: a postgresql:// URL (docs/deployment.md); unset:
    # $RECSYS_STORE, else the SQLite file in the data home (one host)
    store: str | None = None
    # the bundle folder every API host reads (a shared filesystem path); unset:
    # $RECSYS_ARTIFACTS, else artifacts/ in the data home
    artifacts: str | None = None
    write_keys: tuple[str, ...] = ()  # Bearer keys for POST /v1/events and PUT /v1/items
    admin_keys: tuple[str, ...] = ()  # Bearer keys for DELETE /v1/users/<id> (may write too)
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
    fast_path: bool = True  # serve user recs, similar items, sessions, events without Flask
    # serve the demo storefront at /demo (docs/pages.md); it hands the first write key to every
    # visitor's browser, so never on a public server (`make demo` turns it on)
    demo_pages: bool = False
    # the pitch writer of ?pitch=true (the config file's [pitch] table; not read from the env)
    pitch: PitchConfig = field(default_factory=PitchConfig)

    def validate(self) -> None:  # noqa: D102
        for name in ("write_keys", "admin_keys", "metrics_keys"):
            check(self, name, all(getattr(self, name)), "a list of non-empty strings")
        check_range(self, "max_body_bytes", ge=1_000, le=100_000_000)
        check_range(self, "max_batch", ge=1, le=100_000)
        check_range(self, "pitch_wait_ms", ge=0, le=60_000)
        check_range(self, "swap_poll_s", ge=0.05, le=3600)

    @property
    def all_keys(self) -> tuple[str, ...]:
        """Every configured key (what reads accept when ``read_requires_key``)."""
        return self.write_keys + self.admin_keys

    @property
    def metrics_need_key(self) -> bool:
        """Whether ``GET /metrics`` needs a key (reads need one, or metrics keys are set)."""
        return self.read_requires_key or bool(self.metrics_keys)


def _file_tables(data: dict[str, Any]) -> dict[str, Any]:
    """The API's keys of a config file: top-level keys, or an ``[api]`` table, plus ``[pitch]``.

    ``[api.pitch]`` is read like ``[pitch]``. With an ``[api]`` table, any other top-level table
    than ``[pitch]`` is an unknown key.
    """
    if not isinstance(data.get("api"), Mapping):
        return data
    other = sorted(set(data) - {"api", "pitch"})
    if other:
        raise ConfigError(
            f"unknown key{'s' if len(other) > 1 else ''} {', '.join(map(repr, other))} at the "
            "top level (the API's keys go in [api]); known: api, pitch"
        )
    out = dict(data["api"])
    if "pitch" in data:
        out["pitch"] = data["pitch"]  # a top-level [pitch] wins over [api.pitch]
    return out


def load_api_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> ApiConfig:
    """Merge defaults, the config file, the environment and ``overrides`` into an ApiConfig.

    Args:
        overrides: field values that win over everything (e.g. from ``create_app``); ``pitch``
            may be a mapping (a ``[pitch]`` table) or a :class:`PitchConfig`.
        environ: environment to read (default: ``os.environ``).

    Raises:
        ConfigError: on unknown keys, wrong types or out-of-range values, e.g.
            ``api.max_batch=0 is not allowed: must be an integer in [1, 100000]``.
    """
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    if environ.get(CONFIG_ENV):
        merged.update(_file_tables(read_config_file(environ[CONFIG_ENV])))
    merged.update(env_overrides(ApiConfig, environ, ENV_PREFIX, ENV_ALIASES))
    merged.update(overrides or {})
    if isinstance(merged.get("pitch"), Mapping):  # named [pitch] in messages, as in the file
        merged["pitch"] = from_dict(PitchConfig, merged["pitch"], "pitch.")
    return from_dict(ApiConfig, merged, "api.")
