"""Candidate sources: where a recommendation's candidates and their per-source scores come from.

A source is one small class (a subclass of :class:`CandidateSource`) in a module of this package.
It brings its own candidates for a request (:meth:`CandidateSource.gather`), scores any candidate
(:meth:`CandidateSource.score`), says how much its standardized score weighs in the blend
(:meth:`CandidateSource.weight`, from the config) and, where the user's own items cannot explain
it, explains an item itself (:meth:`CandidateSource.explain`). Every module in this package is
imported below and its sources register themselves (``__init_subclass__``), so adding a source is
adding a module: the blend, selection and explanation stages loop over :func:`sources`.

The built-in sources are the modules beside this one (``behavior.py`` holds two: the behavior
model from the whole history, and from the newest events only).

Each source reports itself in answers under its ``reason`` name (``recent`` reports
``behavior``: both are the behavior model), and precomputed lists store that name as a small
integer, ``reason_code``: codes are part of the bundle format and never change meaning.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import numpy.typing as npt

from recsys.config import HybridConfig
from recsys.errors import ConfigError
from recsys.types import Reason

if TYPE_CHECKING:
    from recsys.bundle import Bundle
    from recsys.serving.query import EventLog, Query

Explained = str | None  # which history similarity explains a source: "behavior", "text" or None


class CandidateSource:
    """Base class and protocol of a candidate source; subclasses register themselves.

    Class attributes a subclass sets:
        name: key of its contribution in the blend (unique).
        reason: the ``Reason.source`` it reports in answers.
        reason_code: the code precomputed lists store for ``reason`` (unique per reason).
        position: blend order (the sum of contributions runs in this order, so answers are
            bit-stable).
        personal: True when the user's own items drive it (off for the ``popular`` strategy,
            explained by the user's items); False for shop-wide signals (e.g. popularity).
        explained_by: the history similarity (``behavior`` or ``text``) that explains an item
            this source brought, or None when :meth:`explain` does it.
        newest_only: explain with the user's newest ``recent_events`` events only.
        scans_catalog: its :meth:`gather` scores the whole catalog or searches an index; a
            pooled request (``HybridRecommender.recommend_user`` with ``pool``) calls
            :meth:`prepare` instead and scores the pool.

    One instance serves one bundle: ``__init__`` may precompute what every request needs.

    Args:
        bundle: the bundle being served.
        config: blend settings.
        events: where to read raw events, for sources that need them (may be None).
    """

    name: ClassVar[str]
    reason: ClassVar[str]
    reason_code: ClassVar[int]
    position: ClassVar[int]
    personal: ClassVar[bool] = True
    explained_by: ClassVar[Explained] = None
    newest_only: ClassVar[bool] = False
    scans_catalog: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            _register(cls)

    def __init__(self, bundle: Bundle, config: HybridConfig, events: EventLog | None) -> None:
        self.bundle = bundle
        self.config = config

    def weight(self, q: Query) -> float:
        """This source's blend weight for ``q`` (0: it takes no part)."""
        raise NotImplementedError

    def gather(self, q: Query) -> npt.NDArray[np.int64] | None:
        """This source's own candidates for ``q`` (item indices; may be empty).

        Returns:
            None when the source takes no part in ``q`` (then it is not scored either).
        """
        raise NotImplementedError

    def prepare(self, q: Query) -> bool:
        """What :meth:`score` needs for ``q``, without gathering candidates (``scans_catalog``).

        Returns:
            Whether the source takes part in ``q`` (as :meth:`gather` not returning None).
            :meth:`score` then gives the same scores as after :meth:`gather`.
        """
        return self.gather(q) is not None

    def score(self, q: Query, cand: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Raw scores of ``cand`` (any scale; ``-inf`` where the source cannot score an item)."""
        raise NotImplementedError

    def typical_spreads(self) -> list[float]:
        """Spreads of this source's scores on sample requests (empty: no floor).

        The blend standardizes the source with a spread of at least
        ``recsys.serving.blend.spread_floor`` of these; the recommender measures it once per
        bundle and keeps it across configs.
        """
        return []

    def explain(self, q: Query, item_idx: int) -> Reason | None:
        """A reason for ``item_idx`` when this source contributed most to it.

        None: explain by the user's items most similar to it (``explained_by``).
        """
        return None


_REGISTRY: dict[str, type[CandidateSource]] = {}


def _register(cls: type[CandidateSource]) -> None:
    if cls.name in _REGISTRY:
        raise ConfigError(f"two candidate sources are named {cls.name!r}")
    for other in _REGISTRY.values():
        if (other.reason == cls.reason) != (other.reason_code == cls.reason_code):
            raise ConfigError(
                f"sources {other.name!r} and {cls.name!r}: a reason name and its code must "
                "match one to one"
            )
    _REGISTRY[cls.name] = cls


def sources() -> list[type[CandidateSource]]:
    """Every registered source class, in blend order."""
    return sorted(_REGISTRY.values(), key=lambda c: c.position)


def reason_sources() -> tuple[str, ...]:
    """Every ``Reason.source`` value an answer can carry, by code (for enums and docs)."""
    return tuple(REASON_NAMES[c] for c in sorted(REASON_NAMES))


def reason_code(reason: str) -> int:
    """The code precomputed lists store for the reason source ``reason``."""
    return REASON_CODES[reason]


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

REASON_CODES: dict[str, int] = {c.reason: c.reason_code for c in _REGISTRY.values()}
REASON_NAMES: dict[int, str] = {v: k for k, v in REASON_CODES.items()}

__all__ = ["CandidateSource", "reason_code", "reason_sources", "sources"]
