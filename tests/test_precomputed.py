"""Precomputed lists (recsys.precomputed, recsys.serving.precompute).

They give the live answer, and serve only while valid.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys.bundle import Bundle, load_bundle
from recsys.catalog_overlay import training_started
from recsys.config import TrainConfig
from recsys.errors import UnknownItemError
from recsys.home import Home
from recsys.overlay_embed import TRAINING_MARGIN_S
from recsys.precomputed import PrecomputedLists
from recsys.service import RecommendationService
from recsys.serving import HybridRecommender
from recsys.serving.pool import user_pool
from recsys.serving.precompute import rank_every_user, user_histories
from recsys.serving.similar import answer_from_similar
from recsys.store import SQLiteStore, Store
from recsys.text import TextEncoder
from recsys.training import train
from recsys.types import HISTORY_LIMIT, SIMILAR_MODES, Filters, Recommendations

NO_TEXT = {"behavior": {"factors": 8, "iterations": 10}, "text": {"enabled": False}}
TYPES = ["view", "click", "add_to_cart", "purchase"]


def _random_shop(seed: int = 3, n_users: int = 60, n_items: int = 150) -> tuple[pl.DataFrame, ...]:
    """Random events (many equal timestamps, to exercise tie-breaks) over a 6-category catalog."""
    rng = np.random.default_rng(seed)
    n_events = n_users * 25
    events = pl.DataFrame(
        {
            "user_id": [f"u{u}" for u in rng.integers(0, n_users, n_events)],
            "item_id": [f"i{i}" for i in rng.zipf(1.3, n_events) % n_items],
            "type": [TYPES[t] for t in rng.integers(0, 4, n_events)],
            "ts": (1_700_000_000 + rng.integers(0, 40, n_events) * 3600).astype(float),
        }
    )
    catalog = pl.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(n_items)],
            "title": [f"Item {i}" for i in range(n_items)],
            "description": ["" for _ in range(n_items)],
            "category": [f"c{i % 6}" for i in range(n_items)],
            "price": [float(i) for i in range(n_items)],
            "currency": ["EUR"] * n_items,
            "in_stock": [i % 17 != 0 for i in range(n_items)],
            "attributes": ["{}"] * n_items,
            "updated_at": [0.0] * n_items,
        }
    )
    return events, catalog


def _trained_home(
    root: Path,
    settings: dict[str, object],
    shop: tuple[pl.DataFrame, pl.DataFrame] | None = None,
    encoder: TextEncoder | None = None,
) -> Home:
    """A home storing ``shop`` (default: the random shop), trained with ``settings``."""
    home = Home(root).ensure()
    events, catalog = shop if shop is not None else _random_shop()
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog)
        store.add_events(events)
        train(home, TrainConfig.from_dict(settings), store=store, encoder=encoder)
    return home


@pytest.fixture(scope="module")
def random_home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """A home with the random shop, trained with the default hybrid settings (lists on)."""
    return _trained_home(tmp_path_factory.mktemp("toplists") / "home", NO_TEXT)


def _same(a: Recommendations, b: Recommendations) -> None:
    assert (a.strategy, a.model_version) == (b.strategy, b.model_version)
    assert [i.item_id for i in a.items] == [i.item_id for i in b.items]
    # the lists were scored at training under one BLAS/FAISS thread, the live answer under the
    # default count: other summation orders may differ in the last float ulps
    assert [i.score for i in a.items] == pytest.approx(
        [i.score for i in b.items], rel=1e-6, abs=1e-9
    )
    assert [i.reason for i in a.items] == [i.reason for i in b.items]


def _check_every_user(home: Home, ns: tuple[int, ...]) -> int:
    """Compare every user's precomputed answer with the live one; return how many had a list."""
    bundle = load_bundle(home.artifacts)
    assert bundle.precomputed is not None
    rec = HybridRecommender(bundle)
    with_list = 0
    with SQLiteStore(home.db_path) as store:
        for user_id in bundle.users.ids():
            ranked = bundle.precomputed.get(bundle.users.index(user_id))
            history = store.user_history(user_id, HISTORY_LIMIT)
            if ranked is None:
                assert rec.recommend_user(user_id, history.events, n=5).strategy != "hybrid"
                continue
            with_list += 1
            for n in ns:
                fast = rec.recommend_ranked(ranked, n)
                assert fast is not None, (user_id, n)
                live = rec.recommend_user(
                    user_id, history.events, n=n, explain=False, item_types=history.item_types
                )
                _same(fast, live)
    return with_list


def test_user_histories_are_what_the_store_returns(store: Store) -> None:
    events, _ = _random_shop()
    store.add_events(events)
    frame = store.events_frame()
    for limit in (3, HISTORY_LIMIT):
        got = dict(user_histories(frame, limit=limit, chunk_rows=100))  # many chunks
        users = sorted(set(events["user_id"].to_list()))
        assert sorted(got) == users
        for user_id in users:
            want = store.user_history(user_id, limit)
            assert got[user_id].events == want.events, user_id
            if want.item_types is None:  # fewer than `limit` events: the history is whole
                assert got[user_id].item_types is None, user_id
            else:
                assert got[user_id].item_types is not None, user_id
                assert sorted(got[user_id].item_types) == sorted(want.item_types), user_id


def test_every_users_precomputed_answer_equals_the_live_answer(random_home: Home) -> None:
    assert _check_every_user(random_home, ns=(1, 7, 20, 25)) >= 50


def test_equal_answers_with_the_category_cap_and_without_the_recent_source(
    tmp_path: Path,
) -> None:
    settings = {**NO_TEXT, "hybrid": {"max_category_share": 0.3, "recent_weight": 0.0}}
    home = _trained_home(tmp_path / "home", settings)
    assert _check_every_user(home, ns=(3, 10)) >= 50


def test_equal_answers_with_text(
    tmp_path: Path, shop: tuple[pl.DataFrame, pl.DataFrame], encoder: TextEncoder
) -> None:
    home = _trained_home(tmp_path / "home", {"behavior": NO_TEXT["behavior"]}, shop, encoder)
    assert _check_every_user(home, ns=(1, 3)) == 8
    bundle = load_bundle(home.artifacts)
    assert bundle.text_vectors is not None
    rec = HybridRecommender(bundle)
    assert bundle.precomputed is not None
    ranked = bundle.precomputed.get(bundle.users.index("run1"))
    assert ranked is not None
    run1 = rec.recommend_ranked(ranked, 1)
    assert run1 is not None and run1.items[0].item_id == "r1"  # the running item run1 lacks


def test_with_text_a_stock_change_keeps_the_lists_and_a_text_change_does_not(
    tmp_path: Path, shop: tuple[pl.DataFrame, pl.DataFrame], encoder: TextEncoder
) -> None:
    home = _trained_home(tmp_path / "home", {"behavior": NO_TEXT["behavior"]}, shop, encoder)
    service = RecommendationService(home, encoder=encoder)
    try:
        base = service.snapshot
        assert base.precomputed is not None
        row = service.store.get_items(["k1"]).drop("updated_at")
        service.upsert_items(row.with_columns(pl.lit(False).alias("in_stock")))
        snap = service.snapshot
        assert snap.bundle.text_index is base.bundle.text_index  # no text changed: same index
        assert snap.precomputed is not None
        assert service.recommend_user("cook1", n=1, reasons=False).ranking == "precomputed"
        service.upsert_items(row.with_columns(pl.lit("Chef knife, 20 cm").alias("title")))
        assert service.snapshot.precomputed is None  # k1's text vector changed
        assert service.recommend_user("cook1", n=1, reasons=False).ranking == "live"
    finally:
        service.close()


def test_requests_the_lists_cannot_answer_exactly(random_home: Home) -> None:
    bundle = load_bundle(random_home.artifacts)
    rec = HybridRecommender(bundle)
    assert rec.serves_ranked(25, Filters())
    assert rec.serves_ranked(10, Filters(exclude=frozenset({"i1"}), in_stock_only=True))
    assert not rec.serves_ranked(26, Filters())  # 4n > candidates: more candidates are gathered
    assert not rec.serves_ranked(10, Filters(category="c1"))
    assert not rec.serves_ranked(10, Filters(in_stock_only=False))
    assert bundle.precomputed is not None
    user = next(u for u in range(len(bundle.users)) if bundle.precomputed.get(u) is not None)
    ranked = bundle.precomputed.get(user)
    assert ranked is not None
    assert rec.recommend_ranked(ranked, 10, Filters(category="c1")) is None
    short = type(ranked)(ranked.items[:5], ranked.scores[:5], ranked.sources[:5])
    assert rec.recommend_ranked(short, 6) is None  # fewer than n left: compute live


def test_excluded_and_out_of_stock_items_are_skipped_in_order(random_home: Home) -> None:
    bundle = load_bundle(random_home.artifacts)
    assert bundle.precomputed is not None
    user = next(u for u in range(len(bundle.users)) if bundle.precomputed.get(u) is not None)
    ranked = bundle.precomputed.get(user)
    assert ranked is not None
    order = bundle.items.ids(ranked.items[ranked.items >= 0])
    rec = HybridRecommender(bundle)
    answer = rec.recommend_ranked(ranked, 5, Filters(exclude=frozenset(order[:2])))
    assert answer is not None
    assert [i.item_id for i in answer.items] == order[2:7]
    # the third item goes out of stock after training: skipped, the rest move up
    bundle.item_table.in_stock[bundle.items.index(order[2])] = False
    answer = rec.recommend_ranked(ranked, 5)
    assert answer is not None
    assert [i.item_id for i in answer.items] == [*order[:2], *order[3:6]]


def test_lists_round_trip_through_the_bundle(random_home: Home, tmp_path: Path) -> None:
    bundle = load_bundle(random_home.artifacts)
    lists = bundle.precomputed
    assert lists is not None
    assert lists.depth == 50
    assert bundle.manifest["toplists"] == {
        "users": lists.n_lists,
        "depth": 50,
        "watermark": lists.watermark,
    }
    with SQLiteStore(random_home.db_path) as store:
        assert lists.watermark == store.last_seq() > 0
    assert training_started(bundle) == bundle.manifest["read_at"] - TRAINING_MARGIN_S
    lists.save(tmp_path / "t.npz")
    again = PrecomputedLists.load(tmp_path / "t.npz")
    for name in ("items", "scores", "sources"):
        assert np.array_equal(getattr(again, name), getattr(lists, name))
    assert again.watermark == lists.watermark


def test_no_lists_when_turned_off(tmp_path: Path) -> None:
    home = _trained_home(tmp_path / "home", {**NO_TEXT, "hybrid": {"precomputed_items": 0}})
    bundle = load_bundle(home.artifacts)
    assert bundle.precomputed is None and bundle.manifest["toplists"] is None
    service = RecommendationService(home)
    try:
        answer = service.recommend_user(bundle.users.ids()[0], n=5, reasons=False)
        assert answer.ranking == "live"
    finally:
        service.close()


def test_rank_every_user_depth_and_watermark(random_home: Home) -> None:
    bundle = load_bundle(random_home.artifacts)
    with SQLiteStore(random_home.db_path) as store:
        events = store.events_frame()
    lists = rank_every_user(HybridRecommender(bundle), events, watermark=7, depth=3)
    assert lists.items.shape == (len(bundle.users), 3) and lists.watermark == 7
    assert bundle.precomputed is not None
    have = bundle.precomputed.items[:, 0] >= 0
    assert np.array_equal(lists.items[have], bundle.precomputed.items[have, :3])


def _events(*rows: tuple[str, str, str, float]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["user_id", "item_id", "type", "ts"], orient="row")


class TestService:
    """The service answers from a list only while the user's history and the catalog allow."""

    @pytest.fixture
    def service(self, random_home: Home, tmp_path: Path) -> Iterator[RecommendationService]:
        root = tmp_path / "home"
        shutil.copytree(random_home.root, root)
        svc = RecommendationService(Home(root), live_catalog=True)
        yield svc
        svc.close()

    def _user(self, service: RecommendationService) -> str:
        snap = service.snapshot
        assert snap.precomputed is not None
        u = next(u for u in range(len(snap.bundle.users)) if snap.precomputed.get(u) is not None)
        return snap.bundle.users.id(u)

    def _live(self, service: RecommendationService, user_id: str, n: int) -> list[str]:
        history = service.user_history(user_id)
        answer = service.recommend_user(user_id, n=n, history=history, reasons=False)
        assert answer.ranking == "live"
        return [i.item_id for i in answer.items]

    def test_unchanged_user_is_answered_from_the_list(self, service: RecommendationService) -> None:
        user = self._user(service)
        answer = service.recommend_user(user, n=10, reasons=False)
        assert answer.ranking == "precomputed" and answer.strategy == "hybrid"
        assert [i.item_id for i in answer.items] == self._live(service, user, 10)
        assert service.recommend_user(user, n=10, reasons=True).ranking == "live"
        category = service.recommend_user(user, n=10, filters=Filters(category="c2"), reasons=False)
        assert category.ranking == "live"
        assert {f.category for f in category.facts} == {"c2"}

    def test_a_new_purchase_is_excluded_at_once(self, service: RecommendationService) -> None:
        user = self._user(service)
        first = service.recommend_user(user, n=10, reasons=False)
        top = first.items[0].item_id
        service.add_events(_events((user, top, "purchase", 1_800_000_000.0)))
        after = service.recommend_user(user, n=10, reasons=False)
        assert after.ranking == "live"
        assert top not in [i.item_id for i in after.items]

    def test_an_erased_user_is_not_personalized(self, service: RecommendationService) -> None:
        user = self._user(service)
        assert service.recommend_user(user, n=5, reasons=False).ranking == "precomputed"
        service.erase_users([user])
        answer = service.recommend_user(user, n=5, reasons=False)
        assert (answer.ranking, answer.strategy) == ("live", "popular")

    def test_an_added_item_turns_the_lists_off(self, service: RecommendationService) -> None:
        user = self._user(service)
        price_only = service.store.get_items(["i3"]).with_columns(pl.lit(99.0).alias("price"))
        service.upsert_items(price_only.drop("updated_at"))
        answer = service.recommend_user(user, n=5, reasons=False)
        assert answer.ranking == "precomputed"  # a price change keeps the lists
        new = price_only.with_columns(pl.lit("i-new").alias("item_id")).drop("updated_at")
        service.upsert_items(new)
        assert service.snapshot.precomputed is None
        assert service.recommend_user(user, n=5, reasons=False).ranking == "live"

    def test_an_out_of_stock_item_is_skipped(self, service: RecommendationService) -> None:
        user = self._user(service)
        before = [i.item_id for i in service.recommend_user(user, n=6, reasons=False).items]
        gone = service.store.get_items([before[0]]).with_columns(pl.lit(False).alias("in_stock"))
        service.upsert_items(gone.drop("updated_at"))
        answer = service.recommend_user(user, n=5, reasons=False)
        assert answer.ranking == "precomputed"
        assert [i.item_id for i in answer.items] == before[1:6]

    def test_an_item_back_in_stock_turns_the_lists_off(
        self, service: RecommendationService
    ) -> None:
        user = self._user(service)
        assert not bool(
            service.snapshot.bundle.item_table.in_stock[service.snapshot.bundle.items.index("i0")]
        )  # i0 was out of stock at training: it is in no list
        back = service.store.get_items(["i0"]).with_columns(pl.lit(True).alias("in_stock"))
        service.upsert_items(back.drop("updated_at"))
        assert service.snapshot.precomputed is None
        answer = service.recommend_user(user, n=10, reasons=False)
        assert answer.ranking == "live"
        assert [i.item_id for i in answer.items] == self._live(service, user, 10)

    def test_an_erasure_since_training_ranks_live(
        self, service: RecommendationService, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # erasing deletes the events too, so this state needs a store that still reports some
        user = self._user(service)
        snap = service.snapshot
        assert snap.precomputed is not None
        state = (snap.precomputed.watermark, snap.trained_from + 1.0)
        monkeypatch.setattr(service.store, "user_state", lambda _user_id: state)
        answer = service.recommend_user(user, n=5, reasons=False)
        assert answer.ranking == "live"
        state = (snap.precomputed.watermark, snap.trained_from - 1.0)  # erased before training
        answer = service.recommend_user(user, n=5, reasons=False)
        assert answer.ranking == "precomputed"

    def test_a_reconfigured_recommender_ranks_live(self, service: RecommendationService) -> None:
        import dataclasses

        user = self._user(service)
        rec = service.snapshot.recommender
        rec.config = dataclasses.replace(rec.config, recent_weight=0.0)
        assert service.recommend_user(user, n=5, reasons=False).ranking == "live"


def test_histories_of_a_bundle_user_without_events_are_skipped(random_home: Home) -> None:
    bundle: Bundle = load_bundle(random_home.artifacts)
    empty = pl.DataFrame(
        schema={"user_id": pl.String, "item_id": pl.String, "type": pl.String, "ts": pl.Float64}
    )
    lists = rank_every_user(HybridRecommender(bundle), empty, watermark=0)
    assert lists.n_lists == 0
    assert list(user_histories(empty)) == []


# ------------------------------------------------------------------------- similar items
def _check_every_item(home: Home, ns: tuple[int, ...]) -> int:
    """Compare every item's precomputed similar items with the live ranking, in every mode."""
    bundle = load_bundle(home.artifacts)
    assert bundle.similar is not None and bundle.similar.modes == SIMILAR_MODES
    rec = HybridRecommender(bundle)
    answered = 0
    for item_id in bundle.items.ids():
        for mode in SIMILAR_MODES:
            for n in ns:
                fast = answer_from_similar(
                    bundle, rec.config, bundle.similar, item_id, n, mode, Filters()
                )
                live = rec.similar(item_id, n=n, mode=mode)
                if fast is None:  # fewer than n similar items: the live answer is short too
                    assert len(live.items) < n, (item_id, mode, n)
                    continue
                answered += 1
                _same(fast, live)
    return answered


def test_every_items_precomputed_similar_items_equal_the_live_ranking(random_home: Home) -> None:
    assert _check_every_item(random_home, ns=(1, 5, 25)) >= 150 * 2  # behavior and hybrid modes


def test_similar_items_with_text_and_the_category_cap(
    tmp_path: Path, shop: tuple[pl.DataFrame, pl.DataFrame], encoder: TextEncoder
) -> None:
    settings = {"behavior": NO_TEXT["behavior"], "hybrid": {"max_category_share": 0.5}}
    home = _trained_home(tmp_path / "home", settings, shop, encoder)
    assert _check_every_item(home, ns=(1, 2, 3)) >= 8 * 3  # every mode answers for every item


def test_similar_lists_answer_only_what_they_can(random_home: Home) -> None:
    bundle = load_bundle(random_home.artifacts)
    lists = bundle.similar
    assert lists is not None and lists.depth == 50
    rec = HybridRecommender(bundle)

    def ask(n: int, filters: Filters, item: str = "i1") -> Recommendations | None:
        return answer_from_similar(bundle, rec.config, lists, item, n, "hybrid", filters)

    assert ask(10, Filters()) is not None
    assert ask(26, Filters()) is None  # 4n > candidates: more candidates are gathered
    assert ask(10, Filters(category="c1")) is None
    assert ask(10, Filters(in_stock_only=False)) is None
    excluded = ask(10, Filters(exclude=frozenset({"i2", "i3"})))
    live = rec.similar("i1", n=10, filters=Filters(exclude=frozenset({"i2", "i3"})))
    assert excluded is not None
    assert {"i2", "i3"}.isdisjoint(i.item_id for i in excluded.items)
    assert [i.item_id for i in excluded.items] == [i.item_id for i in live.items]
    with pytest.raises(UnknownItemError):
        ask(10, Filters(), item="nope")


def test_the_service_answers_similar_items_from_the_lists_while_valid(
    tmp_path: Path, shop: tuple[pl.DataFrame, pl.DataFrame], encoder: TextEncoder
) -> None:
    home = _trained_home(tmp_path / "home", {"behavior": NO_TEXT["behavior"]}, shop, encoder)
    service = RecommendationService(home, encoder=encoder)
    try:
        assert service.similar("r1", n=2).ranking == "precomputed"
        assert service.similar("r1", n=2, filters=Filters(category="Running")).ranking == "live"
        service.use_precomputed = False
        assert service.similar("r1", n=2).ranking == "live"
        service.use_precomputed = True
        row = service.store.get_items(["k1"]).drop("updated_at")
        service.upsert_items(row.with_columns(pl.lit("Chef knife, 20 cm").alias("title")))
        assert service.snapshot.similar is None  # k1's text vector changed
        assert service.similar("r1", n=2).ranking == "live"
    finally:
        service.close()


# ------------------------------------------------------------------- live answers from pools
def test_a_browsing_shopper_is_ranked_over_the_pool_and_never_gets_what_they_own(
    tmp_path: Path,
) -> None:
    home = _trained_home(tmp_path / "home", NO_TEXT)
    service = RecommendationService(home)
    try:
        snap = service.snapshot
        assert snap.precomputed is not None and snap.similar is not None
        bundle = snap.bundle
        users = [u for u in bundle.users.ids() if snap.precomputed.get(bundle.users.index(u))]
        assert len(users) >= 40
        now = service.store.user_history(users[0], 1).events[0].ts + 3600
        viewed = {u: f"i{k % 150}" for k, u in enumerate(users)}
        service.add_events(
            pl.DataFrame(
                {
                    "user_id": users,
                    "item_id": [viewed[u] for u in users],
                    "type": ["view"] * len(users),
                    "ts": [now] * len(users),
                }
            )
        )
        calls: list[int] = []
        original = HybridRecommender.recommend_pooled

        def counting(*args: object, **kwargs: object) -> Recommendations:
            calls.append(1)
            return original(*args, **kwargs)  # type: ignore[arg-type]

        HybridRecommender.recommend_pooled = counting  # type: ignore[method-assign]
        try:
            for user_id in users:
                answer = service.recommend_user(user_id, n=10, reasons=False)
                assert answer.ranking == "live"
                history = service.user_history(user_id)
                owned = {e.item_id for e in history.events} | {
                    i for i, _ in history.item_types or ()
                }
                got = [i.item_id for i in answer.items]
                assert len(got) == 10 and owned.isdisjoint(got), user_id
        finally:
            HybridRecommender.recommend_pooled = original  # type: ignore[method-assign]
        assert len(calls) == len(users)  # every answer was ranked over a pool
        ranked = snap.precomputed.get(bundle.users.index(users[0]))
        assert ranked is not None
        taken = snap.recommender.config.live_pool_similar
        events = service.user_history(users[0]).events
        pool = user_pool(bundle, ranked, snap.similar, events, 5, taken)
        newest = snap.similar.get("hybrid", bundle.items.index(viewed[users[0]]))
        assert newest is not None
        listed = set(ranked.items[ranked.items >= 0].tolist())
        neighbours = set(newest.items[newest.items >= 0][:taken].tolist())
        assert listed | neighbours <= set(pool.tolist())
    finally:
        service.close()


def test_pooling_is_off_with_live_pool_items_zero_and_for_unchanged_users(tmp_path: Path) -> None:
    home = _trained_home(tmp_path / "home", {**NO_TEXT, "hybrid": {"live_pool_items": 0}})
    service = RecommendationService(home)
    calls: list[int] = []
    original = HybridRecommender.recommend_pooled

    def counting(*args: object, **kwargs: object) -> Recommendations:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    HybridRecommender.recommend_pooled = counting  # type: ignore[method-assign]
    try:
        snap = service.snapshot
        assert snap.precomputed is not None
        users = [
            u for u in snap.bundle.users.ids() if snap.precomputed.get(snap.bundle.users.index(u))
        ]
        for user_id in users[:10]:  # no events since training: explained answers scan the catalog
            service.recommend_user(user_id, n=5, reasons=True)
        assert calls == []
        ts = service.user_history(users[0]).events[0].ts + 60
        service.add_events(
            pl.DataFrame({"user_id": [users[0]], "item_id": ["i1"], "type": ["view"], "ts": [ts]})
        )
        assert service.recommend_user(users[0], n=5, reasons=False).ranking == "live"
        assert calls == []  # live_pool_items = 0
    finally:
        HybridRecommender.recommend_pooled = original  # type: ignore[method-assign]
        service.close()


def test_get_finds_exactly_the_users_with_a_list() -> None:
    items = np.array([[3, 1], [-1, -1], [2, -1]], dtype=np.int32)
    lists = PrecomputedLists(items, np.zeros((3, 2)), np.zeros((3, 2), np.int8), watermark=4)
    found = [lists.get(u) for u in (-1, 0, 1, 2, 3)]
    assert [f is not None for f in found] == [False, True, False, True, False]
    assert found[1] is not None and found[1].items.tolist() == [3, 1]
    assert found[3] is not None and found[3].items.tolist() == [2, -1]
    empty = PrecomputedLists(
        np.zeros((0, 0), np.int32), np.zeros((0, 0)), np.zeros((0, 0), np.int8), 0
    )
    assert empty.get(0) is None
