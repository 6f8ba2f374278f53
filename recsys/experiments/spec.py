"""What an experiment is, how shoppers are assigned to its variants, and where it is kept.

An :class:`Experiment` splits shoppers between :class:`Variant` s by a salted hash of the user
id: the same shopper always lands in the same variant of one experiment (sticky, whatever
bundle is served), and each experiment has its own salt, so being in the treatment of one
experiment says nothing about the next. The first variant is the control.

A variant changes what the shopper is served: a pinned bundle version, blend settings (any
:class:`~recsys.config.HybridConfig` field, such as ``text_weight`` or ``trending_weight``),
pitches on or off, or a holdout (``popular``: the shop-wide popular items; ``none``: no
recommendations at all). Definitions live in the store (``Store.put_experiment``), so every API
host sharing it serves the same split. One experiment runs at a time: two running experiments
would each change the same answers, and neither report could say which change did what.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from recsys.config import HybridConfig
from recsys.errors import InvalidInputError
from recsys.store.contract import Store

Metric = Literal["ctr", "add_to_cart", "conversion", "revenue", "conversion_total", "revenue_total"]
METRICS: tuple[str, ...] = get_args(Metric)
# the metrics that count only events on items an answer showed: a holdout that shows nothing
# has none of them by construction, so it is compared on the *_total ones
ATTRIBUTED: frozenset[str] = frozenset({"ctr", "add_to_cart", "conversion", "revenue"})
Holdout = Literal["popular", "none"]
HOLDOUTS: tuple[str, ...] = get_args(Holdout)
EXPERIMENT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
VARIANT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# the blend settings a variant may change: every HybridConfig field but the training-time ones
# (precomputed lists are ranked at training; a variant that changes the blend is ranked live)
_TRAINING_ONLY = {"precomputed_items", "precomputed_similar"}
OVERRIDABLE = tuple(
    f.name for f in dataclasses.fields(HybridConfig) if f.name not in _TRAINING_ONLY
)
Override = float | int | bool | None


def bucket(salt: str, user_id: str) -> float:
    """The user's place in ``[0, 1)`` for the experiment salted ``salt`` (a SHA-256 hash)."""
    digest = hashlib.sha256(f"{salt}\x00{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@dataclass(frozen=True)
class Variant:
    """One arm of an experiment.

    Attributes:
        name: the variant's name (``[a-z0-9][a-z0-9_-]{0,31}``), e.g. ``control``.
        share: the percent of all shoppers assigned to it.
        bundle: the bundle version it serves (None: the current one, which follows publishes).
        overrides: ``(HybridConfig field, value)`` pairs laid over the served bundle's config.
        pitch: pitches on (True) or off (False) whatever the storefront asks; None: as asked.
        holdout: ``popular`` (the popular items only) or ``none`` (an empty answer); None: not
            a holdout.
    """

    name: str
    share: float
    bundle: str | None = None
    overrides: tuple[tuple[str, Override], ...] = ()
    pitch: bool | None = None
    holdout: Holdout | None = None

    @property
    def changes_blend(self) -> bool:
        """Whether the variant ranks with settings other than the served bundle's."""
        return bool(self.overrides)

    def describe(self) -> str:
        """What the variant changes, in the syntax :func:`parse_variant` reads."""
        parts = []
        if self.bundle is not None:
            parts.append(f"bundle={self.bundle}")
        parts += [f"{k}={_text(v)}" for k, v in self.overrides]
        if self.pitch is not None:
            parts.append(f"pitch={'on' if self.pitch else 'off'}")
        if self.holdout is not None:
            parts.append(f"holdout={self.holdout}")
        return ",".join(parts) or "current"

    def config(self, base: HybridConfig) -> HybridConfig:
        """``base`` with the variant's overrides (``base`` itself when there are none)."""
        if not self.overrides:
            return base
        changes: dict[str, Any] = dict(self.overrides)
        return dataclasses.replace(base, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The variant as JSON-ready values."""
        return {
            "name": self.name,
            "share": self.share,
            "bundle": self.bundle,
            "overrides": dict(self.overrides),
            "pitch": self.pitch,
            "holdout": self.holdout,
            "describe": self.describe(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Variant:
        """The variant :meth:`to_dict` wrote."""
        return cls(
            name=str(data["name"]),
            share=float(data["share"]),
            bundle=data.get("bundle"),
            overrides=tuple(sorted(dict(data.get("overrides") or {}).items())),
            pitch=data.get("pitch"),
            holdout=data.get("holdout"),
        )


def _text(value: Override) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "none" if value is None else str(value)


def _typed(key: str, raw: str) -> Override:
    """``raw`` read as the type of HybridConfig field ``key``."""
    kind = str(next(f.type for f in dataclasses.fields(HybridConfig) if f.name == key))
    low = raw.strip().lower()
    if "None" in kind and low in ("none", "null", ""):
        return None
    try:
        if kind.startswith("bool"):
            if low in ("true", "on", "1", "yes"):
                return True
            if low in ("false", "off", "0", "no"):
                return False
            raise ValueError(raw)
        if kind.startswith("int"):
            return int(raw)
        return float(raw)
    except ValueError:
        raise InvalidInputError(f"{key}={raw!r}: expected a {kind.split(' ')[0]}") from None


def parse_variant(text: str, share: float) -> Variant:
    """A variant from ``NAME=SPEC`` (the CLI's ``--variant`` and the admin API's ``spec``).

    ``SPEC`` is ``current`` (or empty: the served bundle as it is) or comma-separated
    ``key=value`` pairs: ``bundle=<version>``, ``pitch=on|off``, ``holdout=popular|none``, or
    a blend setting (:data:`OVERRIDABLE`), e.g. ``treatment=text_weight=0.6,trending_weight=1``.

    Raises:
        InvalidInputError: a bad name, an unknown key or value, or a holdout combined with
            anything else.
    """
    name, sep, spec = text.partition("=")
    name = name.strip()
    if not sep and not VARIANT_NAME.fullmatch(name):
        raise InvalidInputError(f"variant {text!r}: expected NAME=SPEC, e.g. control=current")
    if not VARIANT_NAME.fullmatch(name):
        raise InvalidInputError(f"variant name {name!r}: use [a-z0-9][a-z0-9_-]{{0,31}}")
    spec = spec.strip()
    bundle: str | None = None
    pitch: bool | None = None
    holdout: Holdout | None = None
    overrides: dict[str, Override] = {}
    for part in [] if spec in ("", "current") else spec.split(","):
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not eq:
            raise InvalidInputError(f"variant {name}: {part!r} is not key=value")
        if key == "bundle":
            if not value:
                raise InvalidInputError(f"variant {name}: bundle= needs a version")
            bundle = value
        elif key == "pitch":
            if value not in ("on", "off"):
                raise InvalidInputError(f"variant {name}: pitch must be on or off, not {value!r}")
            pitch = value == "on"
        elif key == "holdout":
            if value not in HOLDOUTS:
                raise InvalidInputError(
                    f"variant {name}: holdout must be one of {', '.join(HOLDOUTS)}, not {value!r}"
                )
            holdout = cast(Holdout, value)
        elif key in OVERRIDABLE:
            overrides[key] = _typed(key, value)
        else:
            raise InvalidInputError(
                f"variant {name}: unknown setting {key!r} (bundle, pitch, holdout or a blend "
                f"setting: {', '.join(OVERRIDABLE)})"
            )
    if holdout is not None and (bundle or overrides or pitch is not None):
        raise InvalidInputError(f"variant {name}: a holdout changes nothing else")
    variant = Variant(name, share, bundle, tuple(sorted(overrides.items())), pitch, holdout)
    try:
        variant.config(HybridConfig())  # the values must make a valid config
    except Exception as exc:
        raise InvalidInputError(f"variant {name}: {exc}") from None
    return variant


def parse_traffic(text: str | None, n_variants: int) -> list[float]:
    """Percent per variant from ``"50/50"`` (default: an equal split of everyone).

    Raises:
        InvalidInputError: not one positive number per variant, or a sum over 100.
    """
    if text is None or not text.strip():
        return [100.0 / n_variants] * n_variants
    try:
        shares = [float(p) for p in text.split("/")]
    except ValueError:
        raise InvalidInputError(f"traffic {text!r}: expected percents like 50/50") from None
    if len(shares) != n_variants:
        raise InvalidInputError(f"traffic {text!r}: {len(shares)} shares for {n_variants} variants")
    if any(not 0 < s <= 100 for s in shares) or sum(shares) > 100 + 1e-9:
        raise InvalidInputError(f"traffic {text!r}: each share in (0, 100], at most 100 in all")
    return shares


@dataclass(frozen=True)
class Experiment:
    """An experiment: its variants, how the report decides, and when it ran.

    Attributes:
        name: the experiment's name (``[a-z0-9][a-z0-9_-]{0,63}``).
        salt: the assignment hash's salt (random per experiment).
        variants: the arms, the control first.
        primary: the metric the decision is made on (``ctr``, ``add_to_cart``,
            ``conversion``, ``revenue``, or ``conversion_total``, ``revenue_total``: every
            purchase after a shopper's first exposure, attributed or not).
        alpha: the false-positive rate the decision is held to, however often the report is
            read.
        window_s: an event counts for an answer it follows within this many seconds.
        min_users: no decision before every variant has this many exposed shoppers.
        started_at: when it started (epoch seconds).
        stopped_at: when it stopped (None: running).
    """

    name: str
    salt: str
    variants: tuple[Variant, ...]
    primary: Metric = "conversion"
    alpha: float = 0.05
    window_s: float = 86_400.0
    min_users: int = 100
    started_at: float = field(default_factory=time.time)
    stopped_at: float | None = None

    @property
    def running(self) -> bool:
        """Whether the experiment is still assigning shoppers."""
        return self.stopped_at is None

    @property
    def shares(self) -> list[float]:
        """Percent of all shoppers per variant, in order."""
        return [v.share for v in self.variants]

    def variant(self, name: str) -> Variant:
        """The variant called ``name``.

        Raises:
            InvalidInputError: no such variant.
        """
        for v in self.variants:
            if v.name == name:
                return v
        raise InvalidInputError(f"experiment {self.name} has no variant {name!r}")

    def assign(self, user_id: str) -> Variant | None:
        """The user's variant (None: outside the experiment's traffic). Deterministic."""
        place = bucket(self.salt, user_id) * 100.0
        edge = 0.0
        for v in self.variants:
            edge += v.share
            if place < edge:
                return v
        return None

    def to_json(self) -> str:
        """The definition as the store keeps it."""
        return json.dumps(
            {
                "name": self.name,
                "salt": self.salt,
                "variants": [v.to_dict() for v in self.variants],
                "primary": self.primary,
                "alpha": self.alpha,
                "window_s": self.window_s,
                "min_users": self.min_users,
                "started_at": self.started_at,
                "stopped_at": self.stopped_at,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Experiment:
        """The experiment :meth:`to_json` wrote."""
        data = json.loads(text)
        return cls(
            name=data["name"],
            salt=data["salt"],
            variants=tuple(Variant.from_dict(v) for v in data["variants"]),
            primary=data["primary"],
            alpha=float(data["alpha"]),
            window_s=float(data["window_s"]),
            min_users=int(data["min_users"]),
            started_at=float(data["started_at"]),
            stopped_at=None if data.get("stopped_at") is None else float(data["stopped_at"]),
        )


def make_experiment(
    name: str,
    variants: Sequence[str],
    traffic: str | None = None,
    *,
    primary: str = "conversion",
    alpha: float = 0.05,
    window_s: float = 86_400.0,
    min_users: int = 100,
    salt: str | None = None,
    now: float | None = None,
) -> Experiment:
    """An experiment from the CLI's and the admin API's words (checked, not stored).

    Args:
        name: the experiment's name.
        variants: ``NAME=SPEC`` per variant (:func:`parse_variant`), the control first.
        traffic: percent per variant, ``"50/50"`` (default: an equal split of everyone).
        primary: the decision's metric (:data:`METRICS`).
        alpha: the decision's false-positive rate, in (0, 0.5].
        window_s: the attribution window in seconds (> 0).
        min_users: the users every variant needs before a decision (>= 1).
        salt: the assignment salt (default: random).
        now: the start time (default: now).

    Raises:
        InvalidInputError: anything malformed.
    """
    if not EXPERIMENT_NAME.fullmatch(name):
        raise InvalidInputError(f"experiment name {name!r}: use [a-z0-9][a-z0-9_-]{{0,63}}")
    if len(variants) < 2:
        raise InvalidInputError("an experiment needs at least two variants (the first: control)")
    if primary not in METRICS:
        raise InvalidInputError(f"metric {primary!r}: one of {', '.join(METRICS)}")
    if not 0 < alpha <= 0.5:
        raise InvalidInputError(f"alpha {alpha}: expected a number in (0, 0.5]")
    if not window_s > 0:
        raise InvalidInputError(f"window {window_s}: expected seconds > 0")
    if min_users < 1:
        raise InvalidInputError(f"min_users {min_users}: expected >= 1")
    shares = parse_traffic(traffic, len(variants))
    arms = tuple(parse_variant(text, share) for text, share in zip(variants, shares, strict=True))
    names = [v.name for v in arms]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"variant names repeat: {', '.join(names)}")
    empty = [v.name for v in arms if v.holdout == "none"]
    if empty and primary in ATTRIBUTED:
        raise InvalidInputError(
            f"variant {empty[0]} shows nothing, so it has no {primary} by construction: "
            "decide on conversion_total or revenue_total (every purchase after a shopper's "
            "first exposure)"
        )
    return Experiment(
        name=name,
        salt=salt or secrets.token_hex(8),
        variants=arms,
        primary=cast(Metric, primary),
        alpha=alpha,
        window_s=window_s,
        min_users=min_users,
        started_at=time.time() if now is None else now,
    )


def list_experiments(store: Store) -> list[Experiment]:
    """Every experiment in the store, oldest first."""
    return [Experiment.from_json(text) for text in store.experiment_specs().values()]


def get_experiment(store: Store, name: str) -> Experiment:
    """The experiment called ``name``.

    Raises:
        InvalidInputError: no such experiment.
    """
    text = store.experiment_specs().get(name)
    if text is None:
        raise InvalidInputError(f"no experiment named {name!r}")
    return Experiment.from_json(text)


def running_experiment(store: Store) -> Experiment | None:
    """The running experiment (None: none runs)."""
    running = [e for e in list_experiments(store) if e.running]
    return running[-1] if running else None


def start_experiment(
    store: Store, experiment: Experiment, known_versions: Sequence[str] | None = None
) -> Experiment:
    """Store ``experiment`` as running.

    Args:
        store: the store every API host reads experiments from.
        experiment: from :func:`make_experiment`.
        known_versions: the bundle versions on disk; a variant pinned to another is refused
            (None: not checked).

    Raises:
        InvalidInputError: the name is taken, another experiment runs, or a pinned bundle
            version is unknown.
    """
    specs = store.experiment_specs()
    if experiment.name in specs:
        raise InvalidInputError(f"an experiment named {experiment.name!r} exists already")
    other = running_experiment(store)
    if other is not None:
        raise InvalidInputError(
            f"experiment {other.name!r} is running: stop it first (one experiment at a time)"
        )
    if known_versions is not None:
        for v in experiment.variants:
            if v.bundle is not None and v.bundle not in known_versions:
                raise InvalidInputError(f"variant {v.name}: no bundle version {v.bundle!r}")
    store.put_experiment(experiment.name, experiment.to_json())
    return experiment


def stop_experiment(store: Store, name: str, now: float | None = None) -> Experiment:
    """Stop assigning shoppers to ``name`` (its records stay for the report).

    Raises:
        InvalidInputError: no such experiment, or it is stopped already.
    """
    experiment = get_experiment(store, name)
    if not experiment.running:
        raise InvalidInputError(f"experiment {name!r} is stopped already")
    stopped = dataclasses.replace(experiment, stopped_at=time.time() if now is None else now)
    store.put_experiment(name, stopped.to_json())
    return stopped
