"""Contract suite every candidate source passes, and the trending source's known answers.

Over the tiny ``shop`` (tests/conftest.py): running items r1..r5, kitchen items k1..k5, users
run1..run4 and cook1..cook4. A source is one class in ``recsys/serving/sources/``; adding one
without a contract class here fails ``test_every_registered_source_has_a_contract_suite``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import ClassVar

import numpy as np
import polars as pl
import pytest

from recsys.bundle import Bundle
from recsys.config import HybridConfig, TrainConfig
from recsys.serving import FrameEvents, HybridRecommender
from recsys.serving.precompute import rank_every_user
from recsys.serving.sources import REASON_CODES, CandidateSource, reason_sources, sources
from recsys.serving.sources.trending import trend_scores
from recsys.text import TextEncoder
from recsys.training import build_bundle
from recsys.types import Reason, UserEvent

Shop = tuple[pl.DataFrame, pl.DataFrame]
DAY = 86_400.0
# every source on: re-buying allowed (repeat), trending weighed in
EVERY_SOURCE = {
    "behavior": {"factors": 2, "iterations": 10},
    "hybrid": {
        "exclude_seen": False,
        "exclude_purchased": False,
        "popularity_weight": 0.5,
        "trending_weight": 1.0,
    },
}


@pytest.fixture(scope="module")
def bundle(shop: Shop, encoder: TextEncoder) -> Bundle:
    events, catalog = shop
    return build_bundle(events, catalog, TrainConfig.from_dict(EVERY_SOURCE), encoder=encoder)[0]


def _end(bundle: Bundle) -> float:
    return datetime.fromisoformat(bundle.manifest["data_window"]["last_event"]).timestamp()


def _burst(bundle: Bundle) -> pl.DataFrame:
    """r1 bought twice in the window before and four times in the last week; r2 fading."""
    end = _end(bundle)
    rows = [("a", "r1", "purchase", end - 10 * DAY), ("b", "r1", "purchase", end - 9 * DAY)]
    rows += [(f"n{u}", "r1", "purchase", end - u * DAY) for u in range(4)]
    rows += [(f"o{u}", "r2", "purchase", end - 8 * DAY - u) for u in range(3)]
    rows += [("c", "k1", "view", end - DAY)]
    rows += [("far", "k2", "purchase", end - 30 * DAY), ("late", "k3", "purchase", end + DAY)]
    return pl.DataFrame(
        rows,
        schema={"user_id": pl.String, "item_id": pl.String, "type": pl.String, "ts": float},
        orient="row",
    )


@pytest.fixture
def rec(bundle: Bundle) -> HybridRecommender:
    return HybridRecommender(bundle, events=FrameEvents(_burst(bundle)))


def _history(*items: tuple[str, str]) -> list[UserEvent]:
    return [UserEvent(i, t, 1.8e9 - k * 60.0) for k, (i, t) in enumerate(items)]


QUERIES = {
    "hybrid": ("run1", (("r2", "purchase"), ("r3", "purchase"), ("r4", "view"))),
    "content": ("someone-new", (("k2", "view"), ("k3", "purchase"))),
    "popular": ("nobody", ()),
}


class SourceContract:
    """What every candidate source must do; subclass with ``source`` set to its name."""

    source: ClassVar[str]

    @pytest.fixture
    def src(self, rec: HybridRecommender) -> CandidateSource:
        return rec.sources[self.source]

    def test_is_registered_with_a_consistent_reason_code(self) -> None:
        cls = {c.name: c for c in sources()}[self.source]
        assert REASON_CODES[cls.reason] == cls.reason_code
        assert cls.reason in reason_sources()

    @pytest.mark.parametrize("strategy", sorted(QUERIES))
    def test_gathers_valid_item_indices_and_scores_them(
        self, rec: HybridRecommender, src: CandidateSource, strategy: str
    ) -> None:
        user, items = QUERIES[strategy]
        q = rec.query(user, _history(*items), n=3)
        assert q.strategy == strategy
        weight = src.weight(q)
        assert weight >= 0 and np.isfinite(weight)
        cand = src.gather(q)
        if cand is None:
            return
        assert cand.dtype == np.int64 and cand.ndim == 1
        assert ((cand >= 0) & (cand < len(rec.bundle.items))).all()
        every = np.arange(len(rec.bundle.items), dtype=np.int64)
        scores = src.score(q, every)
        assert scores.shape == every.shape and scores.dtype == np.float32
        assert not np.isnan(scores).any()
        # no hidden state, and an item's score does not depend on the others asked with it
        # (tolerance: BLAS may sum in another order for another layout)
        np.testing.assert_allclose(src.score(q, every), scores, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(src.score(q, every[::-1]), scores[::-1], rtol=1e-5, atol=1e-6)

    @pytest.mark.parametrize("strategy", sorted(QUERIES))
    def test_prepare_scores_as_gather_does(
        self, rec: HybridRecommender, src: CandidateSource, strategy: str
    ) -> None:
        """A pooled request (``prepare``, no candidates) scores items as a gathering one."""
        user, items = QUERIES[strategy]
        gathered = rec.query(user, _history(*items), n=3)
        prepared = rec.query(user, _history(*items), n=3)
        takes_part = src.gather(gathered) is not None
        assert src.prepare(prepared) == takes_part
        if takes_part:
            every = np.arange(len(rec.bundle.items), dtype=np.int64)
            np.testing.assert_allclose(
                src.score(prepared, every), src.score(gathered, every), rtol=1e-5, atol=1e-6
            )

    def test_personal_sources_take_no_part_without_a_history(
        self, rec: HybridRecommender, src: CandidateSource
    ) -> None:
        q = rec.query("nobody", [], n=3)
        if src.personal:
            assert src.gather(q) is None or src.weight(q) == 0

    def test_explains_with_its_own_reason_or_defers(
        self, rec: HybridRecommender, src: CandidateSource
    ) -> None:
        user, items = QUERIES["hybrid"]
        q = rec.query(user, _history(*items), n=3)
        src.gather(q)
        for idx in range(len(rec.bundle.items)):
            reason = src.explain(q, idx)
            assert reason is None or (isinstance(reason, Reason) and reason.source == src.reason)
        if not src.personal:  # a shop-wide source always explains itself
            assert src.explain(q, 0) is not None

    def test_spread_floor_is_a_finite_non_negative_number(
        self, rec: HybridRecommender, src: CandidateSource
    ) -> None:
        assert all(s >= 0 and np.isfinite(s) for s in src.typical_spreads())
        floor = rec.spread_floor(src.name)
        assert floor >= 0 and np.isfinite(floor)


class TestBehavior(SourceContract):
    source = "behavior"


class TestRecent(SourceContract):
    source = "recent"


class TestText(SourceContract):
    source = "text"


class TestPopularity(SourceContract):
    source = "popularity"


class TestRepeat(SourceContract):
    source = "repeat"


class TestTrending(SourceContract):
    source = "trending"


def test_every_registered_source_has_a_contract_suite() -> None:
    covered = {c.source for c in SourceContract.__subclasses__()}
    assert covered == {c.name for c in sources()}


def test_reason_codes_keep_their_meaning() -> None:
    # precomputed lists in published bundles store these codes: they never change meaning
    assert REASON_CODES == {
        "behavior": 0,
        "text": 1,
        "popularity": 2,
        "repeat": 3,
        "trending": 4,
    }


# ------------------------------------------------------------------------------ trending
def test_trend_scores_by_hand(bundle: Bundle) -> None:
    trend = trend_scores(bundle, _burst(bundle), _end(bundle), 7.0)
    score = dict(zip(bundle.items.ids(), trend.tolist(), strict=True))
    assert score["r1"] == pytest.approx((4 * 5.0 - 2 * 5.0) / np.sqrt(2 * 5.0 + 1))
    assert score["k1"] == pytest.approx(0.5)  # one view, nothing before
    assert score["r2"] == pytest.approx((0 - 3 * 5.0) / np.sqrt(3 * 5.0 + 1))  # fading
    assert score["k2"] == 0.0 and score["k3"] == 0.0  # before both windows / after the end


def test_a_trending_item_leads_for_a_new_shopper_and_says_why(rec: HybridRecommender) -> None:
    answer = rec.recommend_user("nobody", [], n=3)
    assert answer.strategy == "popular"
    top = answer.items[0]
    assert top.item_id == "r1"
    assert top.reason == Reason("popular", "trending", (), "Trending in Running")


def test_trending_is_off_by_default_and_without_events(bundle: Bundle) -> None:
    off = dataclasses.replace(bundle.config.hybrid, trending_weight=0.0)
    answers = [
        HybridRecommender(bundle, off, events=FrameEvents(_burst(bundle))),
        HybridRecommender(bundle),  # no event log: the source cannot see a trend
    ]
    for rec in answers:
        for user, items in QUERIES.values():
            got = rec.recommend_user(user, _history(*items), n=5)
            assert all(i.reason.source != "trending" for i in got.items)
    assert HybridConfig().trending_weight == 0.0


def test_precomputed_lists_with_trending_equal_live_answers(
    bundle: Bundle, rec: HybridRecommender, shop: Shop
) -> None:
    events = shop[0]
    lists = rank_every_user(rec, events, watermark=len(events), depth=20)
    for user in bundle.users.ids():
        history = [
            UserEvent(r["item_id"], r["type"], r["ts"])
            for r in events.filter(pl.col("user_id") == user)
            .sort("ts", descending=True)
            .iter_rows(named=True)
        ]
        ranked = lists.get(bundle.users.index(user))
        live = rec.recommend_user(user, history, n=3, explain=False)
        from_list = rec.recommend_ranked(ranked, 3) if ranked is not None else None
        assert from_list is not None
        assert from_list.items == live.items
