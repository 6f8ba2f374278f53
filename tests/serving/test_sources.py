"""Contract suite every candidate source passes.

Over the tiny ``shop`` (tests/conftest.py): running items r1..r5, kitchen items k1..k5, users
run1..run4 and cook1..cook4. A source is one class in ``recsys/serving/sources/``; adding one
without a contract class here fails ``test_every_registered_source_has_a_contract_suite``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import polars as pl
import pytest

from recsys.bundle import Bundle
from recsys.config import TrainConfig
from recsys.serving import HybridRecommender
from recsys.serving.sources import REASON_CODES, CandidateSource, reason_sources, sources
from recsys.text import TextEncoder
from recsys.training import build_bundle
from recsys.types import Reason, UserEvent

Shop = tuple[pl.DataFrame, pl.DataFrame]
DAY = 86_400.0
# every source on: re-buying allowed (repeat)
EVERY_SOURCE = {
    "behavior": {"factors": 2, "iterations": 10},
    "hybrid": {
        "exclude_seen": False,
        "exclude_purchased": False,
        "popularity_weight": 0.5,
    },
}


@pytest.fixture(scope="module")
def trained(encoder: TextEncoder) -> dict[str, Bundle]:
    return {}


@pytest.fixture
def bundle(shop: Shop, encoder: TextEncoder, trained: dict[str, Bundle]) -> Bundle:
    if "every" not in trained:
        events, catalog = shop
        config = TrainConfig.from_dict(EVERY_SOURCE)
        trained["every"] = build_bundle(events, catalog, config, encoder=encoder)[0]
    return trained["every"]


@pytest.fixture
def rec(bundle: Bundle) -> HybridRecommender:
    return HybridRecommender(bundle)


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

    def test_spread_floor_is_a_finite_non_negative_number(self, src: CandidateSource) -> None:
        floor = src.spread_floor()
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
    }
