"""The fused pooled answer (``recsys.serving.pooled``) against the stages it replaces.

A browsing shopper's answer comes from one compiled pass when the request allows it. Every
fused answer here is compared with the stages' answer to the same request (the general
``recommend_user`` over the same pool): the same items in the same order with the same
reasons, scores equal to float rounding. The kernel's parts are compared with the functions
they copy, on hypothesis-drawn inputs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.bundle import Bundle, load_bundle
from recsys.config import BehaviorConfig, TrainConfig
from recsys.home import Home
from recsys.matrix import decay_rate
from recsys.models.implicit_models import FEW_ITEMS, ALSModel
from recsys.precomputed import SimilarLists
from recsys.serving import HybridRecommender, pooled
from recsys.serving import pool_kernel as kernel
from recsys.serving.blend import zscore
from recsys.serving.pool import user_pool
from recsys.serving.query import csr_row, history_row
from recsys.store import SQLiteStore
from recsys.text import TextEncoder
from recsys.training import train
from recsys.types import HISTORY_LIMIT, Filters, Recommendations, UserEvent

TYPES = ["view", "click", "add_to_cart", "purchase"]
N_ITEMS = 150
SETTINGS: dict[str, Any] = {
    "behavior": {"factors": 8, "iterations": 10},
    "hybrid": {"candidates": 20},
}


@pytest.fixture(scope="module", autouse=True)
def compiled() -> None:
    """The kernel compiled before the tests (a first compile takes seconds)."""
    pooled.compile_kernel()


def _shop(seed: int = 5, n_users: int = 60) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Random events over a 150-item catalog with texts, some items out of stock."""
    rng = np.random.default_rng(seed)
    n_events = n_users * 25
    events = pl.DataFrame(
        {
            "user_id": [f"u{u}" for u in rng.integers(0, n_users, n_events)],
            "item_id": [f"i{i}" for i in rng.zipf(1.3, n_events) % N_ITEMS],
            "type": [TYPES[t] for t in rng.integers(0, 4, n_events)],
            "ts": (1_700_000_000 + rng.integers(0, 400, n_events) * 3600).astype(float),
        }
    )
    words = ["red", "blue", "wool", "steel", "shoe", "pan", "coat", "knife", "lamp", "cup"]
    catalog = pl.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(N_ITEMS)],
            "title": [f"{words[i % 10]} {words[(i // 10) % 10]} {i}" for i in range(N_ITEMS)],
            "description": ["" for _ in range(N_ITEMS)],
            "category": [f"c{i % 6}" for i in range(N_ITEMS)],
            "price": [float(i) for i in range(N_ITEMS)],
            "currency": ["EUR"] * N_ITEMS,
            "in_stock": [i % 17 != 0 for i in range(N_ITEMS)],
            "attributes": ["{}"] * N_ITEMS,
            "updated_at": [0.0] * N_ITEMS,
        }
    )
    return events, catalog


def _browsing_home(root: Path, settings_: dict[str, Any], encoder: TextEncoder | None) -> Home:
    """A trained home whose users then browsed: 1-12 events each since training.

    The new events mix every type, repeat items, name an item the catalog does not know, and
    some fall on the same second (the history's order is the store's).
    """
    home = Home(root).ensure()
    events, catalog = _shop()
    rng = np.random.default_rng(11)
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog)
        store.add_events(events)
        train(home, TrainConfig.from_dict(settings_), store=store, encoder=encoder)
        now = float(events["ts"].max()) + 3600
        rows = []
        for u in range(60):
            for e in range(int(rng.integers(1, 13))):
                item = "unknown" if rng.random() < 0.05 else f"i{int(rng.integers(0, N_ITEMS))}"
                kind = TYPES[int(rng.integers(0, 4))]
                rows.append((f"u{u}", item, kind, now + 60 * (e // 2)))
        store.add_events(
            pl.DataFrame(rows, schema=["user_id", "item_id", "type", "ts"], orient="row")
        )
    return home


@pytest.fixture(scope="module")
def text_home(tmp_path_factory: pytest.TempPathFactory, encoder: TextEncoder) -> Home:
    return _browsing_home(tmp_path_factory.mktemp("pooled") / "home", SETTINGS, encoder)


def _requests(
    rec: HybridRecommender, bundle: Bundle, home: Home
) -> list[tuple[str, int, list[UserEvent], list[tuple[str, str]] | None, Any, Any]]:
    """Every trained user's pooled request, read as the service reads it (both ways).

    The bounded read (the newest events, the pairs since training, the training row) and the
    whole history (its pairs, no training row).
    """
    assert bundle.precomputed is not None
    matrix = bundle.user_items
    out = []
    with SQLiteStore(home.db_path) as store:
        for user_id in bundle.users.ids():
            user_idx = bundle.users.index(user_id)
            ranked = bundle.precomputed.get(user_idx)
            if ranked is None:
                continue
            events, since = store.user_events_since(user_id, 40, bundle.precomputed.watermark)
            row = matrix.indices[matrix.indptr[user_idx] : matrix.indptr[user_idx + 1]]
            out.append((user_id, user_idx, events, since, row.astype(np.int64), ranked))
            whole = store.user_history(user_id, HISTORY_LIMIT)
            out.append((user_id, user_idx, whole.events, whole.item_types, None, ranked))
    return out


def _same(fused: Recommendations, stages: Recommendations) -> None:
    assert (fused.strategy, fused.model_version) == (stages.strategy, stages.model_version)
    assert [i.item_id for i in fused.items] == [i.item_id for i in stages.items]
    assert [i.reason for i in fused.items] == [i.reason for i in stages.items]
    assert [i.score for i in fused.items] == pytest.approx(
        [i.score for i in stages.items], rel=0, abs=kernel.NEAR / 2
    )


def _compare_all(rec: HybridRecommender, home: Home, ns: tuple[int, ...]) -> tuple[int, int]:
    """Compare the fused answer with the stages' for every request; ``(fused, asked)``."""
    bundle = rec.bundle
    similar = bundle.similar
    assert isinstance(similar, SimilarLists)
    fused = asked = 0
    for user_id, user_idx, events, pairs, owned, ranked in _requests(rec, bundle, home):
        if rec._strategy(user_id, events)[0] != "hybrid":
            continue
        for n in ns:
            asked += 1
            got = rec.fused_ranker().answer(user_idx, events, n, pairs, ranked, similar, 5, owned)
            pool = user_pool(bundle, ranked, similar, events, 5, rec.config.live_pool_similar)
            want = rec.recommend_user(
                user_id, events, n=n, explain=False, item_types=pairs, pool=pool, owned=owned
            )
            # recommend_pooled is the door the service uses: it gives one of the two
            door = rec.recommend_pooled(
                user_id, events, ranked, similar, 5, n=n, explain=False, item_types=pairs,
                owned=owned,
            )  # fmt: skip
            _same(door, want)
            if got is not None:
                fused += 1
                _same(got, want)
    return fused, asked


def test_fused_answers_equal_the_stages_with_text(text_home: Home) -> None:
    bundle = load_bundle(text_home.artifacts)
    rec = HybridRecommender(bundle)
    assert rec.fused_ranker().fuses
    fused, asked = _compare_all(rec, text_home, ns=(1, 5, 10))
    assert asked >= 300
    assert fused >= 0.9 * asked  # the rest: near ties and too few candidates


@pytest.mark.parametrize(
    "change",
    [
        {"recent_weight": 0.0},
        {"text_weight": 0.0, "popularity_weight": 0.5},
        {"exclude_seen": False},  # bought items are still excluded; the repeat source is off
        {"in_stock_only": False},
        {"behavior_weight": 0.0, "recent_events": 3, "recent_items": 4},
        {"live_pool_similar": 3},  # the first 3 of each newest item's similar items
    ],
)
def test_fused_answers_equal_the_stages_under_other_blends(
    text_home: Home, change: dict[str, Any]
) -> None:
    bundle = load_bundle(text_home.artifacts)
    rec = HybridRecommender(bundle)
    rec = rec.with_config(dataclasses.replace(rec.config, **change))
    assert rec.fused_ranker().fuses
    fused, asked = _compare_all(rec, text_home, ns=(5,))
    assert fused >= 0.8 * asked


def test_the_stages_pool_takes_the_configs_similar_items(text_home: Home) -> None:
    # explained answers never take the compiled pass: recommend_pooled ranks them over
    # user_pool(..., live_pool_similar), and 2 similar items each changes some of them
    bundle = load_bundle(text_home.artifacts)
    base = HybridRecommender(bundle)
    rec = base.with_config(dataclasses.replace(base.config, live_pool_similar=2))
    similar = bundle.similar
    assert similar is not None
    asked = differ = 0
    for user_id, _, events, pairs, owned, ranked in _requests(rec, bundle, text_home)[::2]:
        if rec._strategy(user_id, events)[0] != "hybrid":
            continue
        asked += 1
        door = rec.recommend_pooled(
            user_id, events, ranked, similar, 5, n=10, item_types=pairs, owned=owned
        )
        answers = {}
        for count in (2, None):
            pool = user_pool(bundle, ranked, similar, events, 5, count)
            answers[count] = rec.recommend_user(
                user_id, events, n=10, item_types=pairs, pool=pool, owned=owned
            )
        assert door.items == answers[2].items
        differ += [i.item_id for i in answers[2].items] != [i.item_id for i in answers[None].items]
    assert asked >= 30
    assert differ >= 5  # the count matters: an answer that ignored it would fail above


def test_fused_answers_with_decay_and_without_text(tmp_path: Path) -> None:
    settings_ = {**SETTINGS, "matrix": {"half_life_days": 3.0}, "text": {"enabled": False}}
    home = _browsing_home(tmp_path / "home", settings_, None)
    bundle = load_bundle(home.artifacts)
    assert bundle.text_vectors is None
    rec = HybridRecommender(bundle)
    fused, asked = _compare_all(rec, home, ns=(5,))
    assert fused >= 0.8 * asked


def test_what_is_not_fused(text_home: Home) -> None:
    bundle = load_bundle(text_home.artifacts)
    rec = HybridRecommender(bundle)
    c = rec.config

    # repeat purchases take part once bought items may come back; a diversity cap
    def fuses(**change: Any) -> bool:
        return rec.with_config(dataclasses.replace(c, **change)).fused_ranker().fuses

    assert not fuses(exclude_purchased=False)
    assert not fuses(max_category_share=0.3)
    assert fuses(exclude_purchased=False, repeat_weight=0.0)
    assert fuses(trending_weight=1.0)  # no trend without events to read: it takes no part
    assert pooled.unfiltered(Filters())
    assert not pooled.unfiltered(Filters(category="c1"))
    assert not pooled.unfiltered(Filters(exclude=frozenset({"i1"})))
    assert not pooled.unfiltered(Filters(in_stock_only=False))
    # a catalog the stock and exclusions leave at most 2 k items of: every allowed item scored
    wide = rec.with_config(dataclasses.replace(c, candidates=100))
    (_, user_idx, events, pairs, owned, ranked), *_ = _requests(wide, bundle, text_home)
    assert bundle.similar is not None
    got = wide.fused_ranker().answer(user_idx, events, 5, pairs, ranked, bundle.similar, 5, owned)
    assert got is None


def test_items_the_bundle_does_not_know_are_skipped(text_home: Home) -> None:
    # pairs since training may name items added to the catalog after it (index -1): the
    # kernel skips them, and the answers, and the next ones, are the stages'
    bundle = load_bundle(text_home.artifacts)
    rec = HybridRecommender(bundle)
    similar = bundle.similar
    assert similar is not None
    fused = 0
    for user_id, user_idx, events, pairs, owned, ranked in _requests(rec, bundle, text_home)[:40]:
        if pairs is None or rec._strategy(user_id, events)[0] != "hybrid":
            continue
        pairs = [("new-item-1", "purchase"), *pairs, ("new-item-2", "view")]
        got = rec.fused_ranker().answer(user_idx, events, 5, pairs, ranked, similar, 5, owned)
        pool = user_pool(bundle, ranked, similar, events, 5, rec.config.live_pool_similar)
        want = rec.recommend_user(
            user_id, events, n=5, explain=False, item_types=pairs, pool=pool, owned=owned
        )
        if got is not None:
            fused += 1
            _same(got, want)
    assert fused >= 10


def test_marks_carry_nothing_from_one_answer_to_the_next(text_home: Home) -> None:
    # the kernel's scratch marks are kept between calls: answers in any order, after the
    # marks' counter wraps, and from another thread are the ones a fresh ranker gives
    import threading

    bundle = load_bundle(text_home.artifacts)
    assert bundle.similar is not None
    requests = _requests(HybridRecommender(bundle), bundle, text_home)[::2][:20]

    def ask(ranker: pooled.FusedRanker, request: Any) -> Recommendations | None:
        _, user_idx, events, pairs, owned, ranked = request
        return ranker.answer(user_idx, events, 5, pairs, ranked, bundle.similar, 5, owned)

    fresh = [ask(HybridRecommender(bundle).fused_ranker(), r) for r in requests]
    assert sum(a is not None for a in fresh) >= 15
    reused = HybridRecommender(bundle).fused_ranker()
    assert [ask(reused, r) for r in reversed(requests)][::-1] == fresh
    reused._scratch.marks[-1] = 4_000_000_000_000_000_001  # the counter at its reset
    assert [ask(reused, r) for r in requests] == fresh
    assert reused._scratch.marks[-1] < 100  # cleared and counted again
    other: list[Any] = []
    thread = threading.Thread(target=lambda: other.extend(ask(reused, r) for r in requests))
    thread.start()
    thread.join()
    assert other == fresh


def test_until_compiled_the_stages_answer(text_home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = load_bundle(text_home.artifacts)
    rec = HybridRecommender(bundle)
    started: list[bool] = []
    monkeypatch.setattr(pooled, "_READY", type(pooled._READY)())
    monkeypatch.setattr(pooled, "warm_up", lambda: started.append(True))
    (user_id, user_idx, events, pairs, owned, ranked), *_ = _requests(rec, bundle, text_home)
    assert bundle.similar is not None
    args = (user_idx, events, 5, pairs, ranked, bundle.similar, 5, owned)
    assert rec.fused_ranker().answer(*args) is None
    assert started == [True]  # asking starts the compile
    door = rec.recommend_pooled(user_id, events, ranked, bundle.similar, 5, n=5, explain=False,
                                item_types=pairs, owned=owned)  # fmt: skip
    assert len(door.items) == 5


# ------------------------------------------------------------------- the kernel's parts
events_ = st.lists(
    st.tuples(st.integers(-1, 7), st.sampled_from([0.0, 0.5, 1.0, 3.0]), st.integers(0, 5)),
    min_size=0,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(events_, st.sampled_from([None, 1.0, 30.0]), st.integers(0, 12))
def test_row_sums_are_history_rows(
    rows: list[tuple[int, float, int]], half_life: float | None, count: int
) -> None:
    idx = np.array([r[0] for r in rows], np.int64)
    w = np.array([r[1] for r in rows], np.float64)
    ts = np.array([1e6 + 3600.0 * r[2] for r in rows], np.float64)
    count = min(count, len(rows))
    rate = 0.0 if half_life is None else decay_rate(half_life)
    items, sums = kernel._row_sums(idx, w, ts, count, rate)
    # the definition, as history_row computes it
    want: dict[int, float] = {}
    newest = max(ts[:count], default=0.0)
    for e in range(count):
        weight = w[e] * (1.0 if half_life is None else float(np.exp(max(newest - ts[e], 0) * rate)))
        if weight > 0 and idx[e] >= 0:
            want[int(idx[e])] = want.get(int(idx[e]), 0.0) + weight
    assert items.tolist() == sorted(want)
    assert sums.tolist() == pytest.approx([want[i] for i in sorted(want)], rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(-5, 5, width=32), st.just(float("-inf"))), min_size=1, max_size=30
    ),
    st.sampled_from([0.0, 0.5, 10.0]),
    st.sampled_from([0.2, 1.0, 2.0]),
)
def test_zscore_is_the_blends(values: list[float], floor: float, weight: float) -> None:
    v = np.array(values, np.float32)
    out = np.empty(v.size, np.float64)
    kernel._zscore(v, floor, weight, out)
    want = weight * zscore(v, floor).astype(np.float64)
    assert out.tolist() == pytest.approx(want.tolist(), rel=1e-6, abs=1e-6)


_MODELS: dict[float, ALSModel] = {}  # fitted once per confidence offset


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 29), st.sampled_from([0.5, 1.0, 3.0, 5.0])), max_size=12),
    st.sampled_from([0.0, 1.0]),
)
def test_fold_in_is_the_als_models(rows: list[tuple[int, float]], offset: float) -> None:
    model = _MODELS.get(offset)
    if model is None:  # one small fitted model per offset, for every example
        rng = np.random.default_rng(0)
        data = sp.random(20, 30, density=0.2, format="csr", random_state=1, dtype=np.float32)
        data.data[:] = rng.integers(1, 4, data.nnz)
        model = _MODELS[offset] = ALSModel(BehaviorConfig(factors=6, iterations=3)).fit(data)
        model.confidence_offset = offset
    sums: dict[int, float] = {}
    for i, w in rows:
        sums[i] = sums.get(i, 0.0) + w
    items = np.array(sorted(sums), np.int64)
    values = np.array([sums[i] for i in sorted(sums)], np.float64)
    row = csr_row(values.astype(np.float32), items.astype(np.int32), 30)
    want = model.user_vector(-1, row)
    got = kernel._fold_in(
        items, values, model.item_vectors, model.gram_inverse(),
        np.float32(model.confidence_offset), np.float32(model.config.alpha), FEW_ITEMS,
    )  # fmt: skip
    assert got.tolist() == pytest.approx(want.tolist(), rel=1e-4, abs=1e-5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-1, 9), max_size=15),
    st.lists(st.integers(-1, 9), min_size=1, max_size=6),
    st.integers(0, 4),
    st.integers(1, 4),
)
def test_user_pool_is_the_pools(
    history: list[int], listed: list[int], newest: int, similar_items: int
) -> None:
    from recsys.vocab import IdVocabulary

    rng = np.random.default_rng(len(history))
    table = rng.integers(-1, 10, (1, 8, 5)).astype(np.int32)  # 8 items have similar lists
    similar = SimilarLists(("hybrid",), table, np.zeros(table.shape, np.float32),
                           np.zeros(table.shape, np.int8))  # fmt: skip
    events = [UserEvent(item_id=f"i{i}" if i >= 0 else "x", type="view", ts=0.0) for i in history]

    class _Bundle:
        items = IdVocabulary([f"i{i}" for i in range(10)])

    ranked = type("R", (), {"items": np.array(listed, np.int32)})()
    bundle: Any = _Bundle()
    want = user_pool(bundle, ranked, similar, events, newest, similar_items)
    idx = np.array(history, np.int64)
    rows = np.ascontiguousarray(table[0][:, :similar_items])  # as FusedRanker passes them
    newest_idx = kernel._newest_items(idx, rows.shape[0], newest)
    cand = np.empty(len(listed) + newest_idx.size * rows.shape[1], np.int64)
    marks = np.zeros(11, np.int64)
    size = kernel._add_pool(cand, 0, newest_idx, np.array(listed, np.int32), rows,
                            np.ones(0, np.bool_), False, marks, 1, 2)  # fmt: skip
    assert sorted(cand[:size].tolist()) == want.tolist()  # each pool item once
    assert marks[cand[:size]].tolist() == [2] * size  # marked as taken


def test_user_pool_takes_the_first_similar_items_of_the_newest() -> None:
    from recsys.vocab import IdVocabulary

    # item 1's similar items, most similar first: 5, 6, 7, 8; item 2's: 9, 3, -1 (a short row)
    table = np.full((1, 10, 4), -1, np.int32)
    table[0, 1], table[0, 2] = [5, 6, 7, 8], [9, 3, -1, -1]
    similar = SimilarLists(("hybrid",), table, np.zeros(table.shape, np.float32),
                           np.zeros(table.shape, np.int8))  # fmt: skip
    bundle: Any = type("B", (), {"items": IdVocabulary([f"i{i}" for i in range(10)])})()
    ranked: Any = type("R", (), {"items": np.array([0, 5, -1], np.int32)})()
    events = [UserEvent("i2", "view", 2.0), UserEvent("i1", "view", 1.0)]  # newest first
    assert user_pool(bundle, ranked, similar, events, 2, 2).tolist() == [0, 3, 5, 6, 9]
    assert user_pool(bundle, ranked, similar, events, 1, 1).tolist() == [0, 5, 9]
    assert user_pool(bundle, ranked, similar, events, 2, None).tolist() == [0, 3, 5, 6, 7, 8, 9]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(0, 10_000))
def test_solve_is_numpys(k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, k)) + k * np.eye(k)
    b = rng.normal(size=k)
    assert kernel._solve(a, b).tolist() == pytest.approx(
        np.linalg.solve(a, b).tolist(), rel=1e-9, abs=1e-12
    )
    assert kernel._solve(np.zeros((k, k)), b).size == 0  # singular: the caller solves it fully


def test_history_rows_feed_the_kernel_as_the_stages_read_them(text_home: Home) -> None:
    """The recent row the kernel folds in is ``history_row`` of the newest events."""
    bundle = load_bundle(text_home.artifacts)
    rec = HybridRecommender(bundle)
    plan = rec.fused_ranker().plan
    assert plan
    for _, _, events, *_ in _requests(rec, bundle, text_home)[:40]:
        events = events[: rec.config.recent_events]
        idx = bundle.items.indices([e.item_id for e in events])
        w = np.array([plan["type_weights"][plan["codes"][e.type]] for e in events], np.float64)
        ts = np.array([e.ts for e in events], np.float64)
        items, sums = kernel._row_sums(idx, w, ts, len(events), plan["rate"])
        row = history_row(bundle, events)
        assert items.tolist() == row.indices.tolist()
        assert sums.astype(np.float32).tolist() == row.data.tolist()
