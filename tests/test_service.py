"""RecommendationService: typed answers, one ``reasons`` switch, erasure, precomputed lists."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator

import polars as pl
import pytest

from recsys.config import TrainConfig
from recsys.home import Home
from recsys.service import RecommendationService, ServedRecommendations
from recsys.store import Store
from recsys.text import TextEncoder
from recsys.training import TrainReport, train
from recsys.types import Filters, RecommendedItem

SMALL = {"behavior": {"factors": 8, "iterations": 10}}


@pytest.fixture
def service(
    home: Home, store: Store, encoder: TextEncoder, publish_shop: Callable[[], TrainReport]
) -> Iterator[RecommendationService]:
    """A service over the shop, trained and published (with precomputed lists)."""
    publish_shop()
    svc = RecommendationService(home, store=store, live_catalog=False, encoder=encoder)
    yield svc
    svc.close()


@pytest.fixture
def live_service(
    home: Home, store: Store, encoder: TextEncoder, publish_shop: Callable[[], TrainReport]
) -> Iterator[RecommendationService]:
    """The same service with the live catalog overlay (catalog writes are served at once)."""
    publish_shop()
    svc = RecommendationService(home, store=store, encoder=encoder)
    yield svc
    svc.close()


def _ids(answer: ServedRecommendations) -> list[str]:
    return [item.item_id for item in answer.items]


def test_a_user_answer_is_typed_with_the_catalog_facts(service: RecommendationService) -> None:
    answer = service.recommend_user("run1", n=3)
    assert isinstance(answer, ServedRecommendations)
    assert all(isinstance(item, RecommendedItem) for item in answer.items)
    assert (answer.strategy, answer.ranking) == ("hybrid", "live")
    assert answer.model_version == service.snapshot.version
    assert len(answer.facts) == len(answer.items) == 3
    (first, facts), *_ = answer.pairs()
    assert (first.item_id, facts.item_id, facts.title) == ("r1", "r1", "Running shoes")
    assert (facts.category, facts.price, facts.currency, facts.in_stock) == (
        "Running",
        10.0,
        "EUR",
        True,
    )
    assert first.reason.kind == "history" and first.reason.item_ids and first.reason.text
    assert isinstance(first.score, float)  # unrounded: rounding is the applications' job


def test_without_reasons_the_precomputed_list_answers_alike(
    service: RecommendationService,
) -> None:
    answer = service.recommend_user("run1", n=3, reasons=False)
    assert answer.ranking == "precomputed"
    assert all(not i.reason.item_ids and not i.reason.text for i in answer.items)  # bare
    history = service.user_history("run1")
    live = service.recommend_user("run1", n=3, reasons=False, history=history)
    assert live.ranking == "live" and _ids(live) == _ids(answer)
    assert [i.score for i in live.items] == pytest.approx([i.score for i in answer.items])


def test_the_history_a_request_reads(service: RecommendationService) -> None:
    history = service.user_history("run1")
    assert {e.item_id for e in history.events} == {"r2", "r3", "r4"}
    assert history.item_types is None  # the whole history fits


def test_an_equal_config_is_the_lists_config_a_changed_one_is_not(
    service: RecommendationService,
) -> None:
    rec = service.snapshot.recommender
    rec.config = dataclasses.replace(rec.config)  # an equal copy, not the bundle's object
    assert service.recommend_user("run1", n=3, reasons=False).ranking == "precomputed"
    rec.config = dataclasses.replace(rec.config, recent_weight=rec.config.recent_weight + 1.0)
    assert service.recommend_user("run1", n=3, reasons=False).ranking == "live"


def test_an_erased_user_is_served_from_their_new_history_only(
    service: RecommendationService,
) -> None:
    assert service.recommend_user("run1", n=3).strategy == "hybrid"
    service.erase_users(["run1"])
    assert service.recommend_user("run1", n=3).strategy == "popular"
    service.add_events(
        pl.DataFrame(
            {"user_id": ["run1"], "item_id": ["k1"], "type": ["view"], "ts": [1_800_000_000.0]}
        )
    )
    # a history again, but the trained vector is never used: not "hybrid"
    answer = service.recommend_user("run1", n=3)
    assert answer.strategy == "content" and answer.ranking == "live"
    assert "k1" not in _ids(answer)


def test_sessions_and_similar_items_are_typed(service: RecommendationService) -> None:
    session = service.recommend_session(["r1"], n=2, reasons=False)
    assert session.ranking == "live" and session.strategy == "content"
    assert all(not i.reason.text for i in session.items)
    explained = service.recommend_session(["r1"], n=2)
    assert all(i.reason.text for i in explained.items)
    similar = service.similar("r1", n=2, mode="content")
    assert similar.strategy == "content" and "r1" not in _ids(similar)
    assert all(i.reason.kind == "similar" for i in similar.items)
    assert [f.item_id for f in similar.facts] == _ids(similar)


def test_the_state_before_and_after_the_first_answer(service: RecommendationService) -> None:
    assert not service.loaded and service.served_version() == (None, 0.0)  # loads on first use
    snap = service.snapshot
    assert service.loaded and service.served_version() == (snap.version, snap.loaded_at)
    assert service.bundle is snap.bundle and service.recommender is snap.recommender
    assert service.manifest()["version"] == snap.version
    assert service.refresh() is False  # nothing newly published, no catalog change
    assert service.snapshot is snap and service.last_refresh_error is None


def test_a_newly_published_bundle_is_swapped_in_whole(
    service: RecommendationService, home: Home, store: Store, encoder: TextEncoder
) -> None:
    old = service.snapshot
    train(home, TrainConfig.from_dict(SMALL), store=store, encoder=encoder)
    assert service.refresh() is True
    new = service.snapshot
    assert new is not old and new.version != old.version
    assert service.recommend_user("run1", n=3).model_version == new.version
    service.start_watcher(3600.0)
    service.start_watcher(3600.0)  # a second start keeps the one watcher
    service.stop_watcher()


def test_bundle_load_listeners_hear_the_first_load_and_each_swap_only(
    live_service: RecommendationService,
    home: Home,
    store: Store,
    shop: tuple[pl.DataFrame, pl.DataFrame],
    encoder: TextEncoder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    service, catalog = live_service, shop[1]
    heard: list[str] = []
    service.on_bundle_load(lambda snap: heard.append(snap.version))

    def broken(snap: object) -> None:
        raise RuntimeError("listener bug")

    service.on_bundle_load(broken)  # logged; serving and the other listeners go on
    first = service.snapshot
    assert heard == [first.version]
    assert service.snapshot is first and heard == [first.version]  # loaded once
    # a catalog change builds a new snapshot of the same bundle: no bundle was loaded
    service.upsert_items(catalog.filter(pl.col("item_id") == "r1").with_columns(price=11.0))
    service.refresh()
    assert service.snapshot is not first and service.snapshot.version == first.version
    assert heard == [first.version]
    train(home, TrainConfig.from_dict(SMALL), store=store, encoder=encoder)
    assert service.refresh() is True
    assert heard == [first.version, service.snapshot.version] != [first.version] * 2
    assert "a bundle load listener failed" in caplog.text


def test_writes_reach_the_store_and_are_served(
    live_service: RecommendationService, shop: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    service, catalog = live_service, shop[1]
    assert service.upsert_items(catalog.head(1)) == {  # before a bundle is served
        "upserted": 1,
        "new": 0,
        "embedded": 0,
        "pending": 0,
    }
    version = service.snapshot.version
    row = catalog.filter(pl.col("item_id") == "r1").with_columns(in_stock=pl.lit(False))
    counts = service.upsert_items(row)
    assert (counts["upserted"], counts["new"], counts["pending"]) == (1, 0, 0)
    assert service.snapshot.version == version  # the same bundle, with the overlay
    assert "r1" not in _ids(service.recommend_user("run1", n=5))
    assert service.snapshot.precomputed is not None  # out of stock: the lists still answer


def test_while_the_store_is_down_answers_come_from_the_bundle_alone(
    service: RecommendationService, store: Store
) -> None:
    # what RecommendationService.recommend_user falls back to when a shared store raises
    # StoreUnavailableError (the outage itself is tested with a real server: tests/api,
    # tests/store/test_postgres.py)
    from recsys.service.facade import _answer_offline
    from recsys.types import Filters

    snap = service.snapshot
    listed = service.recommend_user("run1", n=3, reasons=False)
    assert listed.ranking == "precomputed"
    offline = _answer_offline(snap, store, {}, 0.0, "run1", 3, Filters())
    assert (offline.ranking, _ids(offline)) == ("precomputed", _ids(listed))
    assert _ids(offline)[0] == "r1"
    # a user erased since training (a tombstone read at the last refresh) is not personalized
    stranger = service.recommend_user("never-seen", n=3)
    assert stranger.strategy == "popular"
    erased = {store.user_key("run1"): snap.trained_from + 1}
    gone = _answer_offline(snap, store, erased, 0.0, "run1", 3, Filters())
    assert (gone.strategy, _ids(gone)) == ("popular", _ids(stranger))
    # an erasure from before the bundle's training does not count: the bundle never saw them
    old = {store.user_key("run1"): snap.trained_from - 1}
    assert _ids(_answer_offline(snap, store, old, 0.0, "run1", 3, Filters())) == _ids(listed)
    # tombstones never read for this bundle (a worker started during an outage): nobody is
    # trusted with a personal list
    assert _ids(_answer_offline(snap, store, {}, None, "run1", 3, Filters())) == _ids(stranger)
    late = snap.trained_from + 10  # read only from after the training began: incomplete
    assert _ids(_answer_offline(snap, store, {}, late, "run1", 3, Filters())) == _ids(stranger)
    # filters still apply to the list
    kitchen = _answer_offline(snap, store, {}, 0.0, "run1", 3, Filters(category="Kitchen"))
    assert kitchen.items and all(i.item_id.startswith("k") for i in kitchen.items)


def test_erasures_made_elsewhere_reach_the_listeners_once(
    service: RecommendationService, home: Home
) -> None:
    from recsys.store import SQLiteStore

    heard: list[dict[str, float]] = []
    service.on_erasures(heard.append)
    _ = service.snapshot
    service.refresh()
    assert heard == []
    with SQLiteStore(home.db_path) as elsewhere:  # another process or API host
        elsewhere.delete_user("cook1")
        key = elsewhere.user_key("cook1")
    service.refresh()
    assert [list(h) for h in heard] == [[key]]
    service.refresh()
    assert len(heard) == 1  # told once
    assert service.recommend_user("cook1", n=3).ranking == "live"  # and not personalized


# ---------------------------------------------------------------------------- reason language
def _texts(answer: ServedRecommendations) -> list[str]:
    return [item.reason.text for item in answer.items]


def test_reasons_in_the_language_a_request_asks_for(service: RecommendationService) -> None:
    english = service.recommend_user("run1", n=3)
    assert all(t.startswith("Because you bought ") for t in _texts(english))
    chinese = service.recommend_user("run1", n=3, language="zh")
    assert _ids(chinese) == _ids(english)
    translated = [t.replace("因为您购买了", "Because you bought ") for t in _texts(chinese)]
    assert translated == _texts(english)
    session = service.recommend_session(["k1"], n=2, language="zh")
    assert _texts(session) == ["因为您浏览了Chef knife"] * 2
    # similar items: the precomputed answer and the live one (a category filter) alike
    listed = service.similar("k1", n=2, language="zh")
    live = service.similar("k1", n=2, filters=Filters(category="Kitchen"), language="zh")
    assert (listed.ranking, live.ranking) == ("precomputed", "live")
    assert _texts(listed) == _texts(live) == ["与Chef knife相似"] * 2
    assert _texts(service.similar("k1", n=2)) == ["Similar to Chef knife"] * 2
    # a precomputed list's reasons are bare: no text in any language
    bare = service.recommend_user("run1", n=3, reasons=False, language="zh")
    assert bare.ranking == "precomputed" and _texts(bare) == ["", "", ""]


def test_a_chinese_catalog_is_answered_in_chinese(
    home: Home, store: Store, encoder: TextEncoder, publish_shop: Callable[[], TrainReport]
) -> None:
    report = publish_shop()
    manifest_path = home.artifacts / report.version / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest_path.write_text(json.dumps({**manifest, "catalog_language": "zh"}), encoding="utf-8")
    service = RecommendationService(home, store=store, live_catalog=False, encoder=encoder)
    try:
        chinese = service.recommend_user("run1", n=3)
        assert all(t.startswith("因为您购买了") for t in _texts(chinese))
        english = service.recommend_user("run1", n=3, language="en")
        assert all(t.startswith("Because you bought ") for t in _texts(english))
        assert _texts(service.similar("k1", n=1)) == ["与Chef knife相似"]
        popular = service.recommend_user("stranger", n=2)
        assert popular.strategy == "popular"
        assert all(t in ("Running热销", "Kitchen热销") for t in _texts(popular))
        # while the store is down, the fallback's reasons are in the catalog's language too
        from recsys.service.facade import _answer_offline

        offline = _answer_offline(service.snapshot, store, {}, None, "run1", 2, Filters())
        assert offline.strategy == "popular"
        assert all(t in ("Running热销", "Kitchen热销") for t in _texts(offline))
        asked = _answer_offline(service.snapshot, store, {}, None, "run1", 2, Filters(), "en")
        assert all(t.startswith("Popular in ") for t in _texts(asked))
    finally:
        service.close()
