"""A traffic simulator: shoppers with hidden preferences visit, click and buy through the service.

Each simulated shopper has a hidden relevance for every item (:class:`Preferences`: the items
they really went on to want, or their taste for categories). On each visit (one per shopper per
round, a round standing for a day) the shopper is served recommendations by the real
:class:`~recsys.service.RecommendationService` (so an experiment's assignment, variants and
exposure log all run as in production), looks down the list, clicks an item with a probability
that grows with its relevance and falls with its position, may add a clicked item to the cart
and may buy a carted one (:class:`ShopperModel`). The events go back into the store through the
service, naming the answer (``recommendation_id``) and the position they came from, so the next
round is ranked from them and the experiment report can attribute them.

A variant that recommends what shoppers want earns more clicks and purchases, so an experiment
between a good and a deliberately worse variant must name the good one; an A/A experiment must
name none (``benchmarks/experiments.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
import polars as pl

from recsys.errors import InvalidInputError
from recsys.service import RecommendationService
from recsys.store.contract import Store
from recsys.store.schema import EVENT_SCHEMA


class Preferences(Protocol):
    """A shopper's hidden relevance of items, in ``[0, 1]``."""

    def relevance(self, user_id: str, item_ids: Sequence[str]) -> npt.NDArray[np.float64]:
        """The relevance of each of ``item_ids`` to ``user_id`` (same order)."""
        ...


@dataclass(frozen=True)
class HeldOutPreferences:
    """Relevance 1 for the items a shopper really interacted with later (held out), else 0.

    The truth of an offline evaluation, made interactive: train on the past, and let each
    shopper want what they went on to want.

    Attributes:
        wanted: ``{user_id: items they interacted with after the training data ends}``.
    """

    wanted: Mapping[str, frozenset[str]]

    @classmethod
    def from_events(cls, held_out: pl.DataFrame) -> HeldOutPreferences:
        """From the held-out events (``user_id``, ``item_id`` columns)."""
        grouped = held_out.group_by("user_id").agg(pl.col("item_id").unique())
        return cls({u: frozenset(items) for u, items in grouped.iter_rows()})

    def relevance(self, user_id: str, item_ids: Sequence[str]) -> npt.NDArray[np.float64]:
        """1.0 for each item the shopper wanted, 0.0 otherwise."""
        wanted = self.wanted.get(user_id, frozenset())
        return np.array([1.0 if i in wanted else 0.0 for i in item_ids], dtype=np.float64)


@dataclass(frozen=True)
class CategoryPreferences:
    """Relevance = the shopper's share of interest in the item's category (their hidden taste).

    Attributes:
        shares: ``{user_id: {category: share of their events, the largest scaled to 1}}``.
        category: ``{item_id: category}``.
    """

    shares: Mapping[str, Mapping[str, float]]
    category: Mapping[str, str]

    @classmethod
    def from_store(cls, store: Store) -> CategoryPreferences:
        """Tastes read from every stored event (each shopper's categories, scaled to [0, 1])."""
        catalog = store.catalog_frame().select("item_id", "category")
        events = store.events_frame().select("user_id", "item_id")
        counts = (
            events.join(catalog, on="item_id", how="inner")
            .filter(pl.col("category") != "")
            .group_by("user_id", "category")
            .len()
            .with_columns(share=pl.col("len") / pl.col("len").max().over("user_id"))
        )
        shares: dict[str, dict[str, float]] = {}
        for user, cat, share in counts.select("user_id", "category", "share").iter_rows():
            shares.setdefault(user, {})[cat] = float(share)
        return cls(shares, dict(catalog.iter_rows()))

    def relevance(self, user_id: str, item_ids: Sequence[str]) -> npt.NDArray[np.float64]:
        """The shopper's scaled share of each item's category (0 for categories never touched)."""
        mine = self.shares.get(user_id, {})
        return np.array(
            [mine.get(self.category.get(i, ""), 0.0) for i in item_ids], dtype=np.float64
        )


@dataclass(frozen=True)
class ShopperModel:
    """How a simulated shopper acts on a list of recommendations.

    The chance to click the item at position ``p`` (0: first) with relevance ``r`` is
    ``(click_base + (click_relevant - click_base) * r) * attention ** p``; a clicked item is
    added to the cart with ``cart_after_click``, a carted one bought with ``buy_after_cart``.

    Attributes:
        click_base: click chance of an irrelevant item at the top.
        click_relevant: click chance of a fully relevant item at the top.
        attention: how much less likely each next position is looked at.
        cart_after_click: chance a clicked item is added to the cart.
        buy_after_cart: chance a carted item is bought.
    """

    click_base: float = 0.02
    click_relevant: float = 0.30
    attention: float = 0.92
    cart_after_click: float = 0.35
    buy_after_cart: float = 0.5

    def __post_init__(self) -> None:
        for name in ("click_base", "click_relevant", "attention"):
            if not 0 <= getattr(self, name) <= 1:
                raise InvalidInputError(f"{name} must be in [0, 1]")
        for name in ("cart_after_click", "buy_after_cart"):
            if not 0 <= getattr(self, name) <= 1:
                raise InvalidInputError(f"{name} must be in [0, 1]")


@dataclass
class RoundCounts:
    """What one round (a simulated day) produced, per variant (``-``: outside an experiment)."""

    started_at: float
    ended_at: float = 0.0
    visits: dict[str, int] = field(default_factory=dict)
    impressions: dict[str, int] = field(default_factory=dict)
    clicks: dict[str, int] = field(default_factory=dict)
    carts: dict[str, int] = field(default_factory=dict)
    purchases: dict[str, int] = field(default_factory=dict)

    def add(self, variant: str, impressions: int, clicks: int, carts: int, buys: int) -> None:
        """Count one visit."""
        for table, value in (
            (self.visits, 1),
            (self.impressions, impressions),
            (self.clicks, clicks),
            (self.carts, carts),
            (self.purchases, buys),
        ):
            table[variant] = table.get(variant, 0) + value


# an event as the API stores it, with the answer it names
_EVENT_SCHEMA = {**EVENT_SCHEMA, "recommendation_id": pl.String, "position": pl.Int64}


def simulate(
    service: RecommendationService,
    users: Sequence[str],
    preferences: Preferences,
    *,
    rounds: int = 1,
    n: int = 10,
    model: ShopperModel | None = None,
    seed: int = 0,
    on_round: Callable[[int, RoundCounts], None] | None = None,
) -> list[RoundCounts]:
    """Let ``users`` visit ``rounds`` times each, acting on what the service recommends.

    Args:
        service: the service to ask (its running experiment assigns and logs as in production).
        users: the simulated shoppers' ids.
        preferences: their hidden relevance of items.
        rounds: visits per shopper (a round stands for a day; each is one "look" of a report).
        n: recommendations per visit.
        model: how shoppers act (default :class:`ShopperModel`).
        seed: seed of every random choice (the same arguments give the same clicks).
        on_round: called after each round with its index and counts (e.g. to read the report
            as an operator would each day); the round's exposures are written before.

    Returns:
        One :class:`RoundCounts` per round.

    Raises:
        InvalidInputError: no users, ``rounds < 1`` or ``n < 1``.
    """
    if not users:
        raise InvalidInputError("simulate needs at least one shopper")
    if rounds < 1 or n < 1:
        raise InvalidInputError("rounds and n must be at least 1")
    model = model or ShopperModel()
    rng = np.random.default_rng(seed)
    decay = model.attention ** np.arange(n, dtype=np.float64)
    results: list[RoundCounts] = []
    for r in range(rounds):
        counts = RoundCounts(started_at=time.time())
        order = rng.permutation(len(users))
        for k in order:
            user = users[int(k)]
            answer = service.recommend_user(user, n=n, reasons=False)
            ids = [item.item_id for item in answer.items]
            variant = answer.variant or "-"
            rows: list[tuple[object, ...]] = []
            clicks = carts = buys = 0
            if ids:
                rel = np.clip(preferences.relevance(user, ids), 0.0, 1.0)
                top = model.click_base + (model.click_relevant - model.click_base) * rel
                clicked = rng.random(len(ids)) < top * decay[: len(ids)]
                carted = clicked & (rng.random(len(ids)) < model.cart_after_click)
                bought = carted & (rng.random(len(ids)) < model.buy_after_cart)
                ts = time.time()
                rid = answer.recommendation_id
                for pos in np.flatnonzero(clicked):
                    p = int(pos)
                    steps = ["click"]
                    if carted[p]:
                        steps.append("add_to_cart")
                    if bought[p]:
                        steps.append("purchase")
                    for step in steps:
                        ts += 0.001  # distinct times: each event is its own
                        rows.append((user, ids[p], step, ts, "", rid, p))
                clicks, carts, buys = int(clicked.sum()), int(carted.sum()), int(bought.sum())
            if rows:
                service.add_events(pl.DataFrame(rows, schema=_EVENT_SCHEMA, orient="row"))
            counts.add(variant, len(ids), clicks, carts, buys)
        service.flush_exposures()
        counts.ended_at = time.time()
        results.append(counts)
        if on_round is not None:
            on_round(r, counts)
    return results
