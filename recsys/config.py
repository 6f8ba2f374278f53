"""Typed, frozen configuration, and the one mechanism every config in the project is read with.

Every config (training and its parts here, :class:`~recsys.nightly.config.NightlyConfig`,
:class:`~recsys.pitch.config.PitchConfig`, the API's ``ApiConfig``) is a frozen dataclass that
inherits :class:`Config`. Every field has a default and a comment (``docs/config.md`` is generated
from them). Configs are plain data: constructors validate and store, they never do work.

One mechanism, used by all of them:

* :func:`from_dict` builds a config from plain data (a TOML table, a JSON object, a bundle
  manifest): unknown keys are rejected, nested tables become nested configs.
* :func:`read_config_file` reads a TOML (or ``.json``) file into plain data.
* :func:`env_overrides` maps ``PREFIX_FIELD`` environment variables onto fields.
* ``__post_init__`` (in :class:`Config`) checks and normalizes every field's type against its
  annotation, then calls the class's :meth:`Config.validate` for ranges and cross-field rules,
  written with :func:`check` and :func:`check_range`.

So every bad value, whether it comes from a file, the environment or Python, reads the same::

    behavior.factors=0 is not allowed: must be an integer >= 1
    api.max_batch='10' is not allowed: must be an integer
    RECSYS_API_MAX_BATCH='ten' is not allowed: must be an integer
    unknown key 'factor' in [behavior] (did you mean 'factors'?); known: algorithm, factors, ...

A key is named by its path in the file (``train.behavior.factors`` in a nightly config), or by its
class's :attr:`Config.SECTION` when the config is built in Python.

Example:
    >>> cfg = TrainConfig.from_dict({"behavior": {"factors": 32}})
    >>> cfg.behavior.factors
    32
"""

from __future__ import annotations

import contextvars
import dataclasses
import difflib
import hashlib
import json
import numbers
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final, Literal, Self, TypeVar, get_args, get_origin

from recsys.errors import ConfigError
from recsys.types import ALGORITHMS, EVENT_TYPES, Algorithm

__all__ = [
    "ALGORITHMS",
    "EVENT_TYPES",
    "BehaviorConfig",
    "Config",
    "HybridConfig",
    "IndexConfig",
    "MatrixConfig",
    "TextConfig",
    "TrainConfig",
    "check",
    "check_range",
    "config_hash",
    "describe_type",
    "env_overrides",
    "field_default",
    "field_types",
    "from_dict",
    "load_config",
    "read_config_file",
]

T = TypeVar("T")

# (class, key prefix) of the config that from_dict is building right now, so that the checks in
# its __post_init__ name keys by their path in the file ("train.behavior.factors")
_BUILDING: contextvars.ContextVar[tuple[type, str] | None] = contextvars.ContextVar(
    "recsys_config_building", default=None
)


class Config:
    """Base of every config dataclass: type checks on creation, ``from_dict`` and ``to_dict``.

    A subclass is a ``@dataclass(frozen=True)``, sets :attr:`SECTION` and puts its range and
    cross-field rules in :meth:`validate`. Creating an instance (directly, by ``from_dict`` or by
    ``dataclasses.replace``) checks every field against its annotation first, normalizing an
    integer given for a float field to ``float``, a list for a tuple field to ``tuple`` and a
    mapping for a nested config to that config.
    """

    SECTION: ClassVar[str] = ""  # the table name used in messages ("" = the file's top level)

    def __post_init__(self) -> None:
        """Check field types (see :func:`check_fields`), then :meth:`validate`."""
        check_fields(self)
        self.validate()

    def validate(self) -> None:
        """Check ranges and cross-field rules; types are already checked.

        Raises:
            ConfigError: naming the first bad value (use :func:`check` / :func:`check_range`).
        """

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], prefix: str | None = None) -> Self:
        """Build from plain data (a TOML table, a JSON object); missing keys take defaults.

        Args:
            data: the fields as plain data; nested configs as nested mappings.
            prefix: dotted path of the table in messages; default ``SECTION + "."``.

        Raises:
            ConfigError: on unknown keys, wrong types or out-of-range values.
        """
        return from_dict(cls, data, _section_prefix(cls) if prefix is None else prefix)

    def to_dict(self) -> dict[str, Any]:
        """Return the config as plain JSON-able data (``from_dict`` reads it back)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload,no-any-return]


@dataclass(frozen=True)
class MatrixConfig(Config):
    """How events become confidence values in the user x item matrix."""

    SECTION: ClassVar[str] = "matrix"

    view: float = 0.5  # weight of one view event
    click: float = 1.0  # weight of one click
    add_to_cart: float = 3.0  # weight of one add-to-cart
    purchase: float = 5.0  # weight of one purchase
    half_life_days: float | None = None  # decay: an event this old counts half; unset: no decay
    window_days: float | None = None  # only events this recent (vs the newest event); unset: all

    def validate(self) -> None:  # noqa: D102
        check_range(self, *EVENT_TYPES, ge=0)
        weights = [getattr(self, n) for n in EVENT_TYPES]
        check(self, "weights", any(w > 0 for w in weights), "at least one > 0", weights)
        check_range(self, "half_life_days", "window_days", gt=0)

    def weight(self, event_type: str) -> float:
        """Return the weight of one event of ``event_type``."""
        return float(getattr(self, event_type))


@dataclass(frozen=True)
class BehaviorConfig(Config):
    """The implicit-feedback model trained on the interaction matrix."""

    SECTION: ClassVar[str] = "behavior"

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

    def validate(self) -> None:  # noqa: D102
        check_range(self, "factors", "iterations", "neighbors", ge=1)
        check_range(self, "regularization", ge=0)
        check_range(self, "alpha", "learning_rate", gt=0)


@dataclass(frozen=True)
class TextConfig(Config):
    """Product-text embeddings."""

    SECTION: ClassVar[str] = "text"

    enabled: bool = True  # False: no text model (behavior + popularity only)
    # auto: by the catalog's script when training (CJK -> multilingual, else minilm); minilm
    # (English, all-MiniLM-L6-v2); multilingual (USE-m3, 16 languages incl. Chinese); or a
    # sentence-transformers folder
    model: str = "auto"
    batch_size: int = 64  # items per encode batch
    max_description_chars: int = 600  # description is cut here before embedding

    def validate(self) -> None:  # noqa: D102
        check_range(self, "batch_size", ge=1)
        check_range(self, "max_description_chars", ge=0)


@dataclass(frozen=True)
class IndexConfig(Config):
    """FAISS index choice: exact flat index below a size, HNSW above."""

    SECTION: ClassVar[str] = "index"

    hnsw_threshold: int = 50_000  # item count from which HNSW is used instead of a flat index
    hnsw_m: int = 32  # HNSW graph degree
    ef_construction: int = 200  # HNSW build-time search depth
    ef_search: int = 128  # HNSW query-time search depth (the search uses max(ef_search, k))

    def validate(self) -> None:  # noqa: D102
        check_range(self, "hnsw_threshold", ge=1)
        check_range(self, "hnsw_m", ge=4)
        check_range(self, "ef_construction", "ef_search", ge=8)


@dataclass(frozen=True)
class HybridConfig(Config):
    """Blending, filtering and fallback at request time."""

    SECTION: ClassVar[str] = "hybrid"

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
    # repeat purchases (frequency x recency); only acts when re-buying is allowed
    # (exclude_seen = exclude_purchased = false: grocery / consumables shops)
    repeat_weight: float = 3.0
    repeat_half_life_days: float | None = 30.0  # repeat score: a purchase this old counts half
    candidates: int = 100  # candidates per source before blending (at least 4 x n is used)
    min_user_events: int = 3  # users with fewer training events get the content strategy
    recent_items: int = 20  # most recent history items used for the text profile and reasons
    exclude_seen: bool = True  # drop items the user already interacted with
    exclude_purchased: bool = True  # drop items already bought (even if exclude_seen=False)
    in_stock_only: bool = True  # drop out-of-stock items
    max_category_share: float | None = None  # diversity: at most ceil(n * share) items per category
    precomputed_items: int = 50  # per user, ranked at training for the API's fast path; 0: off
    # per item and similar-items mode, ranked at training (recsys.precomputed.SimilarLists); 0: off
    precomputed_similar: int = 50
    # a user with a precomputed list and events since training is ranked over a small pool: the
    # list plus the precomputed similar items of their newest ``live_pool_items`` distinct items
    # (recsys.serving.pool); 0 ranks them over the whole catalog
    live_pool_items: int = 5
    # of each such item's precomputed similar items, the first ``live_pool_similar`` join the pool
    live_pool_similar: int = 20
    # the trending source (recsys.serving.sources.trending): items whose event rate rose most in
    # the last ``trending_window_days`` of training data against the window before; 0 turns it off
    trending_weight: float = 0.0
    trending_window_days: float = 7.0  # length of the trending window (and of the one before)

    def validate(self) -> None:  # noqa: D102
        weights = [f.name for f in dataclasses.fields(self) if f.name.endswith("_weight")]
        check_range(self, *weights, ge=0)
        check_range(self, "repeat_half_life_days", "trending_window_days", gt=0)
        check_range(self, "candidates", "min_user_events", "recent_items", "recent_events", ge=1)
        check_range(self, "precomputed_items", "precomputed_similar", ge=0, le=1000)
        check_range(self, "live_pool_items", ge=0, le=1000)
        check_range(self, "live_pool_similar", ge=1, le=1000)
        check_range(self, "max_category_share", gt=0, le=1)


@dataclass(frozen=True)
class TrainConfig(Config):
    """Everything ``recsys train`` needs; stored in each bundle's manifest."""

    SECTION: ClassVar[str] = ""  # a training config file has these keys at its top level

    matrix: MatrixConfig = field(default_factory=MatrixConfig)  # how events become matrix weights
    behavior: BehaviorConfig = field(default_factory=BehaviorConfig)  # the implicit-feedback model
    text: TextConfig = field(default_factory=TextConfig)  # product-text embeddings
    index: IndexConfig = field(default_factory=IndexConfig)  # FAISS vector indexes
    hybrid: HybridConfig = field(default_factory=HybridConfig)  # blend and filters at request time
    keep_versions: int = 5  # bundles kept on disk for rollback (older ones are deleted)

    def validate(self) -> None:  # noqa: D102
        check_range(self, "keep_versions", ge=1)

    def config_hash(self) -> str:
        """Return a stable SHA-256 hex digest of the config (see :func:`config_hash`)."""
        return config_hash(self)


# --------------------------------------------------------------------------- the stable hash


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The fields every hash includes: those TrainConfig had when its hash was pinned (hash format 1,
# tests/test_config.py). Keep this as it is when adding a field: see config_hash.
_HASHED_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    "TrainConfig": _names("matrix behavior text index hybrid keep_versions"),
    "MatrixConfig": _names("view click add_to_cart purchase half_life_days window_days"),
    "BehaviorConfig": _names(
        "algorithm factors regularization alpha iterations learning_rate neighbors seed"
    ),
    "TextConfig": _names("enabled model batch_size max_description_chars"),
    "IndexConfig": _names("hnsw_threshold hnsw_m ef_construction ef_search"),
    "HybridConfig": _names(
        "behavior_weight recent_weight recent_events text_weight popularity_weight "
        "content_behavior_weight content_text_weight content_popularity_weight "
        "repeat_weight repeat_half_life_days candidates min_user_events recent_items "
        "exclude_seen exclude_purchased in_stock_only max_category_share precomputed_items"
    ),
}


def _hashed_view(cfg: Any) -> dict[str, Any]:
    always = _HASHED_FIELDS.get(type(cfg).__name__, frozenset())
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name not in always and value == field_default(f):
            continue  # a field added after hash format 1, left at its (neutral) default
        out[f.name] = _hashed_view(value) if dataclasses.is_dataclass(value) else value
    return out


def config_hash(cfg: Config) -> str:
    """Return a stable SHA-256 hex digest of a config (what a bundle manifest records).

    The digest is over the config's fields as sorted, compact JSON. It is byte-stable: the same
    config gives the same hash in every release, so a bundle's ``config_hash`` (and the nightly
    job's data fingerprint, which decides whether anything changed) stays valid across upgrades.

    The rule for fields added later: the fields that existed when the hash was pinned
    (``_HASHED_FIELDS``, hash format 1) always count; a field added since counts only when its
    value differs from its default. So a new field whose default is *neutral* (it reproduces the
    behaviour from before the field existed, e.g. ``trending_weight = 0.0``) leaves the hash of
    every existing config unchanged, while setting it changes the hash as it should. A new field
    whose default changes what training produces must be added to ``_HASHED_FIELDS`` instead
    (which changes every hash, on purpose: old bundles then count as trained with another
    config). A field read only when answering, whose default changes no bundle (``HybridConfig``'s
    ``live_pool_items`` and ``live_pool_similar``: how a browsing shopper's pool is drawn from
    the bundle's lists), stays out: retraining would rebuild the same bundle.

    Args:
        cfg: a config (normally a :class:`TrainConfig`).

    Returns:
        64 lowercase hex characters.
    """
    blob = json.dumps(_hashed_view(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def stable_dict(cfg: Config) -> dict[str, Any]:
    """``cfg.to_dict()`` without the fields added since hash format 1 that sit at their default.

    What a bundle manifest records. An older release rejects config keys it does not know, so a
    manifest that named every new field would make every bundle unreadable to the release before
    (a software rollback would then find no bundle it can serve). Left out at their neutral
    defaults (the rule of :func:`config_hash`), those fields read back as the same config in
    every release; set, they are recorded, and an older release rightly refuses the bundle.
    """
    out = cfg.to_dict()

    def prune(c: Any, d: dict[str, Any]) -> None:
        always = _HASHED_FIELDS.get(type(c).__name__)
        for f in dataclasses.fields(c):
            value = getattr(c, f.name)
            if always is not None and f.name not in always and value == field_default(f):
                d.pop(f.name, None)
            elif dataclasses.is_dataclass(value) and isinstance(d.get(f.name), dict):
                prune(value, d[f.name])

    prune(cfg, out)
    return out


# --------------------------------------------------------------------------- checks


def field_default(f: dataclasses.Field[Any]) -> Any:
    """The default value of a dataclass field (calling its ``default_factory``)."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING  # pragma: no cover - every config field has a default


def _section_prefix(cls: type) -> str:
    section: str = getattr(cls, "SECTION", "")
    return f"{section}." if section else ""


def _key(cfg: object, name: str) -> str:
    building = _BUILDING.get()
    if building is not None and building[0] is type(cfg):
        return building[1] + name
    return _section_prefix(type(cfg)) + name


def _not_allowed(key: str, value: object, allowed: str) -> ConfigError:
    return ConfigError(f"{key}={value!r} is not allowed: must be {allowed}")


_MISSING: Any = object()


def check(cfg: object, name: str, ok: bool, allowed: str, value: Any = _MISSING) -> None:
    """Raise the house-style error for ``cfg.<name>`` unless ``ok``.

    Args:
        cfg: the config being checked (its section or file path names the key).
        name: the field (or a label for several fields).
        ok: whether the value is allowed.
        allowed: what is allowed, read after "must be" ("an integer >= 1").
        value: the value shown; default ``getattr(cfg, name)``.

    Raises:
        ConfigError: ``<key>=<value> is not allowed: must be <allowed>`` when not ``ok``.
    """
    if not ok:
        shown = getattr(cfg, name) if value is _MISSING else value
        raise _not_allowed(_key(cfg, name), shown, allowed)


def _bound_text(ge: float | None, gt: float | None, le: float | None, lt: float | None) -> str:
    low = f"[{ge}" if ge is not None else f"({gt}" if gt is not None else ""
    high = f"{le}]" if le is not None else f"{lt})" if lt is not None else ""
    if low and high:
        return f"in {low}, {high}"
    if low:
        return f">= {ge}" if ge is not None else f"> {gt}"
    return f"<= {le}" if le is not None else f"< {lt}" if lt is not None else ""


def check_range(
    cfg: object,
    *names: str,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> None:
    """Check that numeric fields lie within bounds; ``None`` passes for optional fields.

    Args:
        cfg: the config being checked.
        *names: its fields to check.
        ge: inclusive lower bound.
        gt: exclusive lower bound.
        le: inclusive upper bound.
        lt: exclusive upper bound.

    Raises:
        ConfigError: e.g. ``hybrid.precomputed_items=2000 is not allowed: must be an integer in
            [0, 1000]``; an optional field's message ends ``, or unset``.
    """
    hints = field_types(type(cfg))
    bounds = _bound_text(ge, gt, le, lt)
    for name in names:
        value = getattr(cfg, name)
        tp = hints[name]
        optional = _is_optional(tp)
        if value is None and optional:
            continue
        ok = (
            (ge is None or value >= ge)
            and (gt is None or value > gt)
            and (le is None or value <= le)
            and (lt is None or value < lt)
        )
        if not ok:
            base = describe_type(_strip_optional(tp))
            raise _not_allowed(
                _key(cfg, name), value, f"{base} {bounds}" + (", or unset" if optional else "")
            )


_FIELD_TYPES: dict[type, dict[str, Any]] = {}


def field_types(cls: type) -> dict[str, Any]:
    """The resolved annotations of a dataclass (cached per class)."""
    hints = _FIELD_TYPES.get(cls)
    if hints is None:
        hints = _FIELD_TYPES[cls] = typing.get_type_hints(cls)
    return hints


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (typing.Union, types.UnionType)


def _is_optional(tp: Any) -> bool:
    return _is_union(tp) and type(None) in get_args(tp)


def _strip_optional(tp: Any) -> Any:
    if not _is_optional(tp):
        return tp
    rest = [a for a in get_args(tp) if a is not type(None)]
    return rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007


def describe_type(tp: Any) -> str:
    """What a value of annotation ``tp`` must be, in words (``"an integer"``, ``"a table"``).

    Args:
        tp: a field annotation (resolved, not a string).

    Returns:
        The phrase used after "must be" in error messages.
    """
    if _is_union(tp):
        parts = [describe_type(a) for a in get_args(tp) if a is not type(None)]
        return " or ".join(parts) + (", or unset" if _is_optional(tp) else "")
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if get_origin(tp) is tuple:
        plural = {str: "strings", int: "integers", float: "numbers"}
        return f"a list of {plural.get(get_args(tp)[0], 'values')}"
    if dataclasses.is_dataclass(tp):
        return "a table"
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return words.get(tp, repr(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """``value`` as annotation ``tp`` wants it (normalized), or a ConfigError naming ``key``."""
    if _is_union(tp):
        if value is None and _is_optional(tp):
            return None
        for option in get_args(tp):
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError:
                pass
        raise _not_allowed(key, value, describe_type(tp))
    if get_origin(tp) is Literal:
        if not any(value == a and type(value) is type(a) for a in get_args(tp)):
            raise _not_allowed(key, value, describe_type(tp))
        return value
    if get_origin(tp) is tuple:
        item = get_args(tp)[0]
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise _not_allowed(key, value, describe_type(tp))
        items = tuple(_coerce(v, item, key) for v in value)
        return value if items == value and type(value) is tuple else items
    if dataclasses.is_dataclass(tp):
        if isinstance(value, typing.cast(type, tp)):
            return value
        if not isinstance(value, Mapping):
            raise _not_allowed(key, value, "a table")
        return from_dict(tp, value, key + ".")  # type: ignore[arg-type]
    ok: bool
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    elif tp is str:
        ok = isinstance(value, str)
    else:  # pragma: no cover - a config field of a type this parser does not know
        raise ConfigError(f"{key}: unsupported config type {tp!r}")
    if not ok:
        raise _not_allowed(key, value, describe_type(tp))
    return value if type(value) is tp else tp(value)


def check_fields(cfg: object) -> None:
    """Check every field of a config dataclass against its annotation, normalizing in place.

    An integer given for a float field becomes ``float``, a list for a tuple field a ``tuple``,
    a mapping for a nested config that config; a bool is never an integer, a float never an int.

    Raises:
        ConfigError: ``<key>=<value> is not allowed: must be <type in words>``.
    """
    hints = field_types(type(cfg))
    for f in dataclasses.fields(cfg):  # type: ignore[arg-type]
        value = getattr(cfg, f.name)
        new = _coerce(value, hints[f.name], _key(cfg, f.name))
        if new is not value:
            object.__setattr__(cfg, f.name, new)


def _unknown_key_message(unknown: list[str], known: list[str], prefix: str) -> str:
    where = f"in [{prefix.rstrip('.')}]" if prefix else "at the top level"
    keys = ", ".join(repr(k) for k in unknown)
    head = f"unknown key{'s' if len(unknown) > 1 else ''} {keys} {where}"
    close = difflib.get_close_matches(unknown[0], known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{head}{hint}; known: {', '.join(known)}"


def from_dict(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build the config dataclass ``cls`` from plain data, checking keys and types.

    Args:
        cls: a config dataclass (normally a :class:`Config` subclass).
        data: its fields as plain data; missing fields take defaults; nested configs as
            nested mappings (or ready config instances).
        prefix: dotted path of ``data`` in the file, used in messages (``"train.behavior."``).

    Returns:
        The config instance.

    Raises:
        ConfigError: on unknown keys (``unknown key 'x' in [api]; known: ...``), wrong types or
            out-of-range values (``api.max_batch=0 is not allowed: must be ...``).
    """
    if not isinstance(data, Mapping):
        raise _not_allowed(prefix.rstrip(".") or "config", data, "a table")
    known = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in set(data) - set(known))
    if unknown:
        raise ConfigError(_unknown_key_message(unknown, known, prefix))
    token = _BUILDING.set((cls, prefix))
    try:
        return cls(**data)
    finally:
        _BUILDING.reset(token)


# --------------------------------------------------------------------------- files and env


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The contents of a TOML file (or a ``.json`` file) as plain data (not checked further).

    Raises:
        ConfigError: if the file is missing, unreadable, invalid, or not a table at the top.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
        data = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"config file {str(p)!r} cannot be read: {exc}") from exc
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(p)!r} is not valid: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {str(p)!r} must be a mapping (a JSON object), got {type(data).__name__}"
        )
    return data


_TRUE: Final = frozenset(("true", "1", "yes", "on"))
_FALSE: Final = frozenset(("false", "0", "no", "off"))


def _parse_env(raw: str, tp: Any, var: str) -> Any:
    text = raw.strip()
    if _is_union(tp):
        for option in get_args(tp):
            if option is type(None):
                continue
            try:
                return _parse_env(raw, option, var)
            except ConfigError:
                pass
        raise _not_allowed(var, raw, describe_type(_strip_optional(tp)))
    if get_origin(tp) is tuple:
        return tuple(part.strip() for part in text.split(",") if part.strip())
    if tp is bool:
        word = text.lower()
        if word not in _TRUE | _FALSE:
            raise _not_allowed(var, raw, "true or false")
        return word in _TRUE
    if tp in (int, float):
        try:
            return tp(text)
        except ValueError:
            raise _not_allowed(var, raw, describe_type(tp)) from None
    return text  # str and Literal: the type check on creation names what is allowed


def env_overrides(
    cls: type,
    environ: Mapping[str, str],
    prefix: str,
    aliases: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The fields of ``cls`` set by environment variables ``<prefix><FIELD>`` (upper case).

    Values are parsed by the field's annotation: integers and numbers as written, booleans from
    ``true/false/1/0/yes/no/on/off``, lists comma-separated (an empty value is an empty list).
    An empty value of any other field counts as unset. Nested configs are not read from the
    environment. The result feeds :func:`from_dict` (which checks the values like a file's).

    Args:
        cls: a config dataclass.
        environ: the environment (normally ``os.environ``).
        prefix: variable name prefix, e.g. ``"RECSYS_API_"``.
        aliases: field -> variable name, replacing ``prefix + FIELD`` for that field
            (``{"home": "RECSYS_HOME"}``).

    Returns:
        field name -> typed value, for the variables that are set.

    Raises:
        ConfigError: ``RECSYS_API_MAX_BATCH='ten' is not allowed: must be an integer``.
    """
    aliases = aliases or {}
    hints = field_types(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            continue
        var = aliases.get(f.name, prefix + f.name.upper())
        raw = environ.get(var)
        if raw is None or (not raw.strip() and get_origin(tp) is not tuple):
            continue
        out[f.name] = _parse_env(raw, tp, var)
    return out


def load_config(path: str | Path | None) -> TrainConfig:
    """Read a TOML or JSON training config file; ``None`` gives the defaults.

    Raises:
        ConfigError: if the file is missing, unreadable or invalid.
    """
    if path is None:
        return TrainConfig()
    return TrainConfig.from_dict(read_config_file(path))
