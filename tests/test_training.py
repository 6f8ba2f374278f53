"""Tests for recsys.training: build_bundle on frames and train(), the one training door."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys.bundle import Bundle, current_version, list_versions, load_bundle
from recsys.config import TrainConfig
from recsys.errors import EmptyDataError
from recsys.home import Home
from recsys.store import SQLiteStore, Store
from recsys.text import EmbeddingCache, TextEncoder
from recsys.training import (
    BuiltBundle,
    StepTimer,
    TrainingData,
    TrainReport,
    build_bundle,
    precompute_lists,
    read_training_data,
    train,
)

Shop = tuple[pl.DataFrame, pl.DataFrame]
SMALL = {"behavior": {"factors": 8, "iterations": 10}}
NO_TEXT = {**SMALL, "text": {"enabled": False}}


def _fill(store: Store, shop: Shop) -> None:
    events, catalog = shop
    store.upsert_items(catalog)
    store.add_events(events)


def test_train_on_empty_store_raises(home: Home, store: Store) -> None:
    with pytest.raises(EmptyDataError, match="no events"):
        train(home, TrainConfig.from_dict(NO_TEXT), store=store)
    assert current_version(home.artifacts) is None
    assert list_versions(home.artifacts) == []


def test_catalog_without_events_is_still_empty_data(home: Home, store: Store, shop: Shop) -> None:
    store.upsert_items(shop[1])
    with pytest.raises(EmptyDataError):
        train(home, TrainConfig.from_dict(NO_TEXT), store=store)


def test_train_report_counts(home: Home, store: Store, shop: Shop, encoder: TextEncoder) -> None:
    _fill(store, shop)
    report = train(home, TrainConfig.from_dict(SMALL), store=store, encoder=encoder)
    assert isinstance(report, TrainReport)
    assert report.published is True
    assert current_version(home.artifacts) == report.version
    assert report.n_events == 28  # 8 users x 3 purchases + 4 views of k5
    assert report.n_users == 8
    assert report.n_items == 10  # r5 has no events but is in the catalog
    assert report.n_interactions == 28
    assert (report.n_embedded, report.n_cached) == (10, 0)
    assert {"read", "matrix", "behavior", "embed", "text_index", "write"} <= set(report.timings)
    bundle = load_bundle(home.artifacts)
    assert bundle.manifest["counts"]["users"] == report.n_users
    assert bundle.user_items.shape == (8, 10)


def test_no_publish_leaves_current_unchanged(
    home: Home, store: Store, shop: Shop, encoder: TextEncoder
) -> None:
    _fill(store, shop)
    config = TrainConfig.from_dict(SMALL)
    first = train(home, config, store=store, encoder=encoder)
    second = train(home, config, store=store, encoder=encoder, publish_bundle=False)
    assert second.published is False
    assert second.version != first.version
    assert current_version(home.artifacts) == first.version
    assert list_versions(home.artifacts) == [first.version, second.version]
    assert load_bundle(home.artifacts, second.version).version == second.version


def test_before_publish_may_keep_the_bundle_unpublished(
    home: Home, store: Store, shop: Shop
) -> None:
    _fill(store, shop)
    config = TrainConfig.from_dict(NO_TEXT)
    first = train(home, config, store=store)
    seen: list[tuple[str, str]] = []

    def after_write(bundle: Bundle) -> None:
        seen.append(("after_write", bundle.version))

    def veto(bundle: Bundle) -> bool:
        seen.append(("before_publish", bundle.version))
        assert (bundle.path / "manifest.json").is_file()  # written and complete
        return False

    second = train(home, config, store=store, after_write=after_write, before_publish=veto)
    assert seen == [("after_write", second.version), ("before_publish", second.version)]
    assert second.published is False
    assert "publish" not in second.timings
    assert current_version(home.artifacts) == first.version
    assert list_versions(home.artifacts) == [first.version, second.version]

    third = train(home, config, store=store, before_publish=lambda bundle: True)
    assert third.published is True
    assert current_version(home.artifacts) == third.version


def test_steps_are_announced_and_data_read_by_the_caller_is_used(
    home: Home, store: Store, shop: Shop
) -> None:
    _fill(store, shop)
    announced: list[str] = []
    timer = StepTimer(on_step=announced.append)
    report = train(home, TrainConfig.from_dict(NO_TEXT), store=store, steps=timer)
    assert announced == ["read", "train", "write", "publish"]
    assert set(timer.timings) == {"read", "train", "write", "publish"}
    assert {"read", "matrix", "behavior", "toplists", "write", "publish"} <= set(report.timings)

    events = shop[0]
    newest = float(events["ts"].max())  # type: ignore[arg-type]
    data = read_training_data(store, window_days=600 / 86_400)  # the last ten minutes
    assert 0 < data.events.height < events.height
    assert data.events.height == events.filter(pl.col("ts") >= newest - 600).height
    assert data.stored_events.height == events.height
    announced.clear()
    windowed = train(
        home,
        TrainConfig.from_dict(NO_TEXT),
        store=store,
        data=data,
        steps=timer,
        manifest={"note": "x"},
    )
    assert announced == ["train", "write", "publish"]  # nothing read again
    assert windowed.n_events == data.events.height
    bundle = load_bundle(home.artifacts)
    assert bundle.manifest["note"] == "x"
    assert bundle.manifest["read_at"] == data.read_at
    assert bundle.precomputed is not None
    assert bundle.precomputed.watermark == data.watermark


def test_train_prunes_to_keep_versions(home: Home, store: Store, shop: Shop) -> None:
    _fill(store, shop)
    config = TrainConfig.from_dict({**NO_TEXT, "keep_versions": 2})
    reports = [train(home, config, store=store) for _ in range(3)]
    versions = [r.version for r in reports]
    assert list_versions(home.artifacts) == versions[1:]
    assert reports[-1].pruned == versions[:1]
    assert current_version(home.artifacts) == versions[-1]


def test_train_opens_its_own_store_and_records_metrics(home: Home, shop: Shop) -> None:
    with SQLiteStore(home.db_path) as store:
        _fill(store, shop)
    report = train(home, TrainConfig.from_dict(NO_TEXT), metrics={"recall@10": 0.5})
    assert report.n_users == 8
    assert load_bundle(home.artifacts).manifest["metrics"] == {"recall@10": 0.5}


def test_new_events_change_the_next_bundle(home: Home, store: Store, shop: Shop) -> None:
    _fill(store, shop)
    config = TrainConfig.from_dict(NO_TEXT)
    before = train(home, config, store=store)
    old = load_bundle(home.artifacts)
    assert not old.behavior.known_items[old.items.index("r5")]
    store.add_events(
        pl.DataFrame({"user_id": ["run9"], "item_id": ["r5"], "type": ["purchase"], "ts": [1.8e9]})
    )
    after = train(home, config, store=store)
    assert (after.n_events, after.n_users, after.n_interactions) == (
        before.n_events + 1,
        before.n_users + 1,
        before.n_interactions + 1,
    )
    new = load_bundle(home.artifacts)
    assert new.behavior.known_items[new.items.index("r5")]  # r5 now has behavior


def test_build_bundle_without_text_needs_no_encoder(shop: Shop) -> None:
    events, catalog = shop
    timings: dict[str, float] = {}
    bundle, counts = build_bundle(events, catalog, TrainConfig.from_dict(NO_TEXT), timings=timings)
    assert counts == {"embedded": 0, "cached": 0}
    assert bundle.text_vectors is None
    assert bundle.text_index is None
    assert not bundle.text_mask.any()
    assert "embed" not in timings
    assert bundle.version == "unsaved"
    # popularity: log(1 + distinct users per item)
    users_per_item = dict(
        zip(*np.unique(events["item_id"].to_numpy(), return_counts=True), strict=True)
    )
    for item_id in ("r1", "k5", "r5"):
        expected = np.log1p(users_per_item.get(item_id, 0))
        assert bundle.popularity[bundle.items.index(item_id)] == pytest.approx(expected)


def test_event_only_items_get_no_text(shop: Shop, encoder: TextEncoder) -> None:
    events, catalog = shop
    extra = pl.DataFrame(
        [("run1", "x9", "purchase", 1.8e9, "")], schema=events.schema, orient="row"
    )
    bundle, counts = build_bundle(
        pl.concat([events, extra]), catalog, TrainConfig.from_dict(SMALL), encoder=encoder
    )
    idx = bundle.items.index("x9")
    assert idx == 10  # after the catalog's items
    assert counts["embedded"] == 10
    assert bundle.item_table.title(idx) == "x9"
    assert bool(bundle.text_mask[idx]) is False
    assert bundle.text_mask.sum() == 10
    assert bundle.text_vectors is not None
    assert not bundle.text_vectors[idx].any()
    assert bundle.text_index is not None
    assert bundle.text_index.ntotal == 10
    found = bundle.text_index.search(bundle.text_vectors[0], 20)[0]
    assert idx not in found.tolist()


def test_events_without_catalog(shop: Shop) -> None:
    events, catalog = shop
    bundle, _ = build_bundle(events, catalog.clear(), TrainConfig.from_dict(SMALL))
    assert len(bundle.items) == 9  # r5 has no events and no catalog row
    assert bundle.text_vectors is None
    assert bundle.item_table.title(bundle.items.index("k1")) == "k1"


def test_zero_weight_events_are_empty_data(shop: Shop) -> None:
    events, catalog = shop
    views = events.filter(pl.col("type") == "view")
    config = TrainConfig.from_dict({**NO_TEXT, "matrix": {"view": 0.0}})
    with pytest.raises(EmptyDataError, match="zero weight"):
        build_bundle(views, catalog, config)
    with pytest.raises(EmptyDataError):
        build_bundle(events.clear(), catalog, config)


class _CallerEngine:
    """A training engine that builds locally and says so: what ``train`` does with any engine."""

    def __init__(self) -> None:
        self.given: list[TrainingData | None] = []
        self.read_at = 0.0

    def build(
        self,
        home: Home,
        store: Store,
        config: TrainConfig,
        data: TrainingData | None,
        *,
        cache: EmbeddingCache | None,
        show_progress: bool,
        timings: dict[str, float],
    ) -> BuiltBundle:
        self.given.append(data)
        data = data if data is not None else read_training_data(store)
        return self.build_frames(data, config, cache=cache, timings=timings)

    def build_frames(
        self,
        data: TrainingData,
        config: TrainConfig,
        *,
        cache: EmbeddingCache | None = None,
        show_progress: bool = False,
        timings: dict[str, float] | None = None,
    ) -> BuiltBundle:
        bundle, counts = build_bundle(data.events, data.catalog, config, timings=timings)
        bundle.precomputed = precompute_lists(bundle, data.stored_events, data.watermark)
        self.read_at = data.read_at - 5.0  # any value: the door must record the engine's
        return BuiltBundle(bundle, counts, self.read_at, 7, {"name": "caller", "x": 1})


def test_an_engine_builds_and_the_door_writes_and_publishes(
    home: Home, store: Store, shop: Shop
) -> None:
    _fill(store, shop)
    local = train(home, TrainConfig.from_dict(NO_TEXT), store=store)
    assert load_bundle(home.artifacts).manifest["engine"] == {"name": "local"}
    engine = _CallerEngine()
    announced: list[str] = []
    report = train(
        home,
        TrainConfig.from_dict(NO_TEXT),
        store=store,
        engine=engine,
        steps=StepTimer(on_step=announced.append),
    )
    assert engine.given == [None]  # the engine reads for itself: the door read nothing
    assert announced == ["train", "write", "publish"]
    assert report.published and report.version != local.version
    assert report.n_events == 7  # the engine's count, reported as it is
    bundle = load_bundle(home.artifacts)
    assert bundle.manifest["engine"] == {"name": "caller", "x": 1}
    assert bundle.manifest["read_at"] == engine.read_at > 0
    assert bundle.precomputed is not None and bundle.precomputed.n_lists > 0
