"""The ground floor: value types every part of the library passes around, and the closed sets.

Nothing here does work, and this module imports numpy only, so every other module may depend on
it: the store, the engines, the ranker, training, the service and the applications outside the
library (``api/``, ``jobs/``). A closed set (event types, algorithms, strategies, similar modes,
reason kinds) is spelled once, as a ``Literal``; its tuple is derived with ``get_args`` and every
check, enum and choice list is derived from that tuple.

Reason *sources* are not a closed set here: they are whatever the ranker's candidate sources
report (``recsys.serving.sources.reason_sources()``), so a new source adds its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple, get_args

import numpy as np
import numpy.typing as npt

EventType = Literal["view", "click", "add_to_cart", "purchase"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)

Algorithm = Literal["als", "bpr", "itemknn"]
ALGORITHMS: tuple[str, ...] = get_args(Algorithm)

Strategy = Literal["hybrid", "content", "popular"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)

SimilarMode = Literal["hybrid", "behavior", "content"]
SIMILAR_MODES: tuple[str, ...] = get_args(SimilarMode)

ReasonKind = Literal["history", "similar", "popular"]
REASON_KINDS: tuple[str, ...] = get_args(ReasonKind)

# how a user answer was ranked: from the user's list precomputed at training time (no event
# since), or for this request
Ranking = Literal["precomputed", "live"]
RANKINGS: tuple[str, ...] = get_args(Ranking)

MAX_N = 1000  # the longest list the library ranks (the HTTP API allows fewer: api.openapi)

# newest events a user request reads for taste, recency and reasons (the precomputed lists read
# the same); the items to exclude come from the whole history (``Store.user_history``)
HISTORY_LIMIT = 500

# column names of the event and catalog tables (store, matrix, training, datasets)
USER_ID = "user_id"
ITEM_ID = "item_id"
EVENT_TYPE = "type"
TIMESTAMP = "ts"


class UserEvent(NamedTuple):
    """One event of a user's history, newest first when returned by the store.

    A named tuple rather than a dataclass: the API builds up to 500 of these per request.
    """

    item_id: str
    type: str
    ts: float


class UserHistory(NamedTuple):
    """What a request knows of a user's stored history (``Store.user_history``).

    Attributes:
        events: the newest events, newest first (at most the ``limit`` asked for): what taste,
            recency and reasons are computed from.
        item_types: the distinct ``(item_id, type)`` pairs of the *whole* stored history when
            ``events`` is cut short by the limit, so owned items are excluded however long ago
            they were bought; None when ``events`` already is the whole history.
    """

    events: list[UserEvent]
    item_types: list[tuple[str, str]] | None = None


class Exposure(NamedTuple):
    """One answer served inside an experiment: who was shown which items, when, in which variant.

    Recorded off the request path (``recsys.service.exposures``) and read back by the
    experiment report, which attributes later clicks, carts and purchases to it.

    Attributes:
        recommendation_id: the answer's id (the API's ``recommendation_id``).
        experiment: the experiment's name.
        variant: the variant the user is assigned to.
        user_id: the shopper.
        ts: when the answer was served (epoch seconds).
        item_ids: the items shown, best first (empty for a holdout without recommendations).
    """

    recommendation_id: str
    experiment: str
    variant: str
    user_id: str
    ts: float
    item_ids: tuple[str, ...]


@dataclass(frozen=True)
class Filters:
    """Per-request filters (on top of the configured defaults).

    Attributes:
        category: keep only items of this category (None: any).
        exclude: item ids never to return.
        in_stock_only: override the configured ``in_stock_only`` (None: use config).
    """

    category: str | None = None
    exclude: frozenset[str] = field(default_factory=frozenset)
    in_stock_only: bool | None = None


@dataclass(frozen=True)
class Reason:
    """Why an item was recommended.

    Attributes:
        kind: ``history`` (driven by the user's own items), ``similar`` (similar to a given item),
            or ``popular`` (what many shoppers take now).
        source: the candidate source that contributed most, as it reports itself (e.g.
            ``behavior``, ``text``, ``popularity``, ``repeat``; every value:
            ``recsys.serving.sources.reason_sources()``).
        item_ids: the user's items that contributed most (empty for ``popular``).
        text: a short human-readable sentence (blank when the answer was not explained).
    """

    kind: ReasonKind
    source: str
    item_ids: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class RecommendedItem:
    """One recommended item with its blended score and reason."""

    item_id: str
    score: float
    reason: Reason


@dataclass(frozen=True)
class Recommendations:
    """An answer: which strategy served it, from which model version, and the items."""

    strategy: Strategy
    items: list[RecommendedItem]
    model_version: str


@dataclass(frozen=True)
class RankedList:
    """A user's candidates in answer order, precomputed at training time.

    Attributes:
        items: item indices, best first (``-1`` pads unused slots in stored tables).
        scores: blended scores, as the live answer reports them.
        sources: per item, the code of the reason source that contributed most
            (``recsys.serving.sources.reason_code``).
    """

    items: npt.NDArray[np.int32]
    scores: npt.NDArray[np.float64]
    sources: npt.NDArray[np.int8]
