"""Tests for recsys.serving.HybridRecommender over a bundle trained on the tiny ``shop``.

The shop has two taste groups (running r1..r4, kitchen k1..k4), a new item r5 with no events
and an out-of-stock, popular k5 (see ``tests/conftest.py``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest

from recsys.bundle import Bundle
from recsys.config import TrainConfig
from recsys.errors import InvalidInputError, UnknownItemError
from recsys.serving import HybridRecommender
from recsys.serving import select as sel
from recsys.serving.blend import zscore
from recsys.serving.similar import behavior_cosine
from recsys.serving.sources.repeat import repeat_scores
from recsys.text import TextEncoder
from recsys.training import build_bundle
from recsys.types import Filters, Recommendations, UserEvent

Shop = tuple[pl.DataFrame, pl.DataFrame]

# Two latent factors for two taste groups. With many more factors than the shop has users, ALS
# memorizes each user and a folded-in one-item history carries little group signal; the blend's
# spread floor keeps that noise from swamping text (see the session test near the end).
SMALL = {"behavior": {"factors": 2, "iterations": 10}}
RUNNING = {"r1", "r2", "r3", "r4", "r5"}
KITCHEN = {"k1", "k2", "k3", "k4", "k5"}
CATEGORY = {**dict.fromkeys(RUNNING, "Running"), **dict.fromkeys(KITCHEN, "Kitchen")}
USERS = [f"run{u}" for u in range(1, 5)] + [f"cook{u}" for u in range(1, 5)]


def _history(events: pl.DataFrame, user_id: str) -> list[UserEvent]:
    """The user's events from the shop frame, newest first (as ``Store.user_events``)."""
    rows = events.filter(pl.col("user_id") == user_id).sort("ts", descending=True)
    return [UserEvent(r["item_id"], r["type"], r["ts"]) for r in rows.iter_rows(named=True)]


def _ids(answer: Recommendations) -> list[str]:
    return [i.item_id for i in answer.items]


def _train(shop: Shop, encoder: TextEncoder, settings: dict[str, object]) -> Bundle:
    events, catalog = shop
    bundle, _ = build_bundle(events, catalog, TrainConfig.from_dict(settings), encoder=encoder)
    return bundle


@pytest.fixture(scope="module")
def bundle(shop: Shop, encoder: TextEncoder) -> Bundle:
    """Trained once per module (the recommender never mutates its bundle)."""
    return _train(shop, encoder, SMALL)


@pytest.fixture(scope="module")
def hnsw_bundle(shop: Shop, encoder: TextEncoder) -> Bundle:
    """The same, with every index HNSW (the large-catalog path)."""
    return _train(shop, encoder, {**SMALL, "index": {"hnsw_threshold": 1}})


@pytest.fixture
def rec(bundle: Bundle) -> HybridRecommender:
    return HybridRecommender(bundle)


@pytest.fixture
def events(shop: Shop) -> pl.DataFrame:
    return shop[0]


# ------------------------------------------------------------------------- fallback chain
def test_known_user_gets_hybrid_and_the_missing_item_first(
    rec: HybridRecommender, events: pl.DataFrame
) -> None:
    answer = rec.recommend_user("run1", _history(events, "run1"), n=1)
    assert answer.strategy == "hybrid"
    assert _ids(answer) == ["r1"]
    assert answer.model_version == "unsaved"


@pytest.mark.parametrize(("user_id", "missing"), [("run2", "r2"), ("run4", "r4"), ("cook3", "k3")])
def test_every_user_gets_its_missing_item_first(
    rec: HybridRecommender, events: pl.DataFrame, user_id: str, missing: str
) -> None:
    answer = rec.recommend_user(user_id, _history(events, user_id), n=3)
    assert answer.strategy == "hybrid"
    assert _ids(answer)[0] == missing


def test_unknown_user_without_history_gets_popular(rec: HybridRecommender) -> None:
    answer = rec.recommend_user("stranger", [], n=4)
    assert answer.strategy == "popular"
    assert len(answer.items) == 4
    assert "k5" not in _ids(answer)  # the most popular item is out of stock
    assert "r5" not in _ids(answer)  # no events: never popular while others are
    for item in answer.items:
        assert item.reason.kind == "popular"
        assert item.reason.source == "popularity"
        assert item.reason.item_ids == ()
        assert item.reason.text == f"Popular in {CATEGORY[item.item_id]}"


def test_trained_user_with_erased_history_gets_popular(rec: HybridRecommender) -> None:
    assert rec.recommend_user("run1", [], n=3).strategy == "popular"


def test_history_of_unknown_items_only_gets_popular(rec: HybridRecommender) -> None:
    answer = rec.recommend_user("run1", [UserEvent("zz-not-in-bundle", "purchase", 1.0)], n=3)
    assert answer.strategy == "popular"
    assert len(answer.items) == 3


def test_new_user_with_one_event_gets_content(rec: HybridRecommender) -> None:
    answer = rec.recommend_user("newbie", [UserEvent("r2", "view", 1.8e9)], n=3)
    assert answer.strategy == "content"
    assert set(_ids(answer)) <= RUNNING - {"r2"}
    assert len(answer.items) == 3


def test_user_below_min_user_events_gets_content(
    rec: HybridRecommender, bundle: Bundle, events: pl.DataFrame
) -> None:
    strict = rec.with_config(dataclasses.replace(bundle.config.hybrid, min_user_events=4))
    answer = strict.recommend_user("run1", _history(events, "run1"), n=1)
    assert answer.strategy == "content"  # run1 has 3 training interactions
    assert _ids(answer) == ["r1"]


def test_session_of_a_kitchen_item_gets_kitchen_items_first(rec: HybridRecommender) -> None:
    answer = rec.recommend_session(["k1"], n=4)
    assert answer.strategy == "content"
    assert set(_ids(answer)[:3]) == {"k2", "k3", "k4"}


def test_session_of_running_items(rec: HybridRecommender) -> None:
    answer = rec.recommend_session(["r1"], n=3)
    assert answer.strategy == "content"
    assert set(_ids(answer)) <= RUNNING - {"r1"}


def test_session_of_unknown_items_gets_popular(rec: HybridRecommender) -> None:
    assert rec.recommend_session(["nope"], n=2).strategy == "popular"
    assert rec.recommend_session([], n=2).strategy == "popular"


# ------------------------------------------------------------------------------ new items
def test_new_item_is_reachable_by_text(rec: HybridRecommender, bundle: Bundle) -> None:
    assert not bundle.behavior.known_items[bundle.items.index("r5")]  # no events at all
    similar = rec.similar("r1", n=3, mode="content")
    assert similar.strategy == "content"
    assert "r5" in _ids(similar)
    assert set(_ids(similar)) <= RUNNING
    assert "r5" in _ids(rec.recommend_session(["r1", "r2"], n=5))


def test_similar_to_a_new_item_uses_text(rec: HybridRecommender) -> None:
    answer = rec.similar("r5", n=3)
    assert answer.strategy == "content"  # no behavior vector for r5
    assert set(_ids(answer)) <= RUNNING - {"r5"}
    for item in answer.items:
        assert item.reason.kind == "similar"
        assert item.reason.item_ids == ("r5",)
        assert item.reason.text == "Similar to Trail running shoes"


def test_similar_hybrid_and_behavior_modes(rec: HybridRecommender) -> None:
    hybrid = rec.similar("k2", n=3)
    assert hybrid.strategy == "hybrid"
    assert set(_ids(hybrid)) <= KITCHEN - {"k2", "k5"}
    behavior = rec.similar("k2", n=2, mode="behavior")
    assert "k2" not in _ids(behavior)
    assert all(i.reason.source == "behavior" for i in behavior.items)


# ------------------------------------------------------------------------------ bad input
def test_similar_unknown_item_raises(rec: HybridRecommender) -> None:
    with pytest.raises(UnknownItemError, match="nope"):
        rec.similar("nope")


@pytest.mark.parametrize("n", [0, -1, 1001, True, 2.0, "3"])
def test_bad_n_raises(rec: HybridRecommender, events: pl.DataFrame, n: object) -> None:
    with pytest.raises(InvalidInputError, match=r"n="):
        rec.recommend_user("run1", _history(events, "run1"), n=n)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"n="):
        rec.recommend_session(["r1"], n=n)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"n="):
        rec.similar("r1", n=n)  # type: ignore[arg-type]


def test_bad_mode_raises(rec: HybridRecommender) -> None:
    with pytest.raises(InvalidInputError, match="mode"):
        rec.similar("r1", mode="semantic")  # type: ignore[arg-type]


def test_n_at_the_limit_returns_what_exists(rec: HybridRecommender) -> None:
    answer = rec.recommend_user("stranger", [], n=1000)
    assert sorted(_ids(answer)) == sorted((RUNNING | KITCHEN) - {"k5"})


# -------------------------------------------------------------------------------- filters
def test_filters_never_leak(rec: HybridRecommender, events: pl.DataFrame) -> None:
    exclude = frozenset({"r1", "k2"})
    for user_id in [*USERS, "stranger"]:
        history = _history(events, user_id)
        purchased = {e.item_id for e in history if e.type == "purchase"}
        for n in range(1, 10):
            plain = _ids(rec.recommend_user(user_id, history, n=n))
            assert len(plain) == len(set(plain))
            assert not purchased & set(plain), (user_id, n, plain)
            assert "k5" not in plain, (user_id, n, plain)

            excluded = _ids(
                rec.recommend_user(user_id, history, n=n, filters=Filters(exclude=exclude))
            )
            assert not exclude & set(excluded), (user_id, n, excluded)
            assert not purchased & set(excluded)
            assert "k5" not in excluded

            kitchen = _ids(
                rec.recommend_user(user_id, history, n=n, filters=Filters(category="Kitchen"))
            )
            assert set(kitchen) <= KITCHEN - {"k5"} - purchased, (user_id, n, kitchen)


def test_session_and_similar_respect_filters(rec: HybridRecommender) -> None:
    for n in range(1, 10):
        session = _ids(
            rec.recommend_session(["k1", "r1"], n=n, filters=Filters(exclude=frozenset({"k2"})))
        )
        assert not {"k1", "r1", "k2", "k5"} & set(session)
        similar = _ids(rec.similar("k1", n=n, filters=Filters(category="Running")))
        assert set(similar) <= RUNNING
        assert "k5" not in _ids(rec.similar("k4", n=n))


def test_out_of_stock_item_only_when_asked(rec: HybridRecommender, events: pl.DataFrame) -> None:
    history = _history(events, "run1")
    everything = Filters(category="Kitchen", in_stock_only=False)
    assert set(_ids(rec.recommend_user("run1", history, n=5, filters=everything))) == KITCHEN
    assert "k5" in _ids(
        rec.recommend_user("stranger", [], n=1, filters=Filters(in_stock_only=False))
    )


def test_unknown_category_gives_empty_answer(rec: HybridRecommender, events: pl.DataFrame) -> None:
    answer = rec.recommend_user(
        "run1", _history(events, "run1"), n=3, filters=Filters(category="Toys")
    )
    assert answer.items == []


# -------------------------------------------------------------------------------- reasons
def test_hybrid_reasons_point_to_the_users_history(
    rec: HybridRecommender, events: pl.DataFrame
) -> None:
    for user_id in USERS:
        history = _history(events, user_id)
        own = {e.item_id for e in history}
        answer = rec.recommend_user(user_id, history, n=4)
        assert answer.strategy == "hybrid"
        for item in answer.items:
            assert item.reason.kind == "history", (user_id, item)
            assert item.reason.item_ids
            assert set(item.reason.item_ids) <= own
            assert item.reason.source in ("behavior", "text")
            assert item.reason.text.startswith("Because you ")


def test_reason_text_names_the_users_item(rec: HybridRecommender) -> None:
    answer = rec.recommend_user("newbie", [UserEvent("r2", "purchase", 5.0)], n=1)
    assert answer.items[0].reason.item_ids == ("r2",)
    assert answer.items[0].reason.text == "Because you bought Running socks"


# ------------------------------------------------------------------ determinism, diversity
def test_answers_are_deterministic(
    rec: HybridRecommender, bundle: Bundle, events: pl.DataFrame
) -> None:
    other = HybridRecommender(bundle)
    for user_id in ("run1", "cook2", "stranger"):
        history = _history(events, user_id)
        first = rec.recommend_user(user_id, history, n=6)
        assert first == rec.recommend_user(user_id, history, n=6)
        assert first == other.recommend_user(user_id, history, n=6)
    assert rec.recommend_session(["k1", "r1"], n=5) == rec.recommend_session(["k1", "r1"], n=5)
    assert rec.similar("r2", n=5) == rec.similar("r2", n=5)


def test_scores_are_sorted_best_first(rec: HybridRecommender, events: pl.DataFrame) -> None:
    answer = rec.recommend_user("cook1", _history(events, "cook1"), n=6)
    scores = [i.score for i in answer.items]
    assert scores == sorted(scores, reverse=True)


def _per_category(ids: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item_id in ids:
        counts[CATEGORY[item_id]] = counts.get(CATEGORY[item_id], 0) + 1
    return counts


def test_category_cap(rec: HybridRecommender, bundle: Bundle, events: pl.DataFrame) -> None:
    diverse = rec.with_config(dataclasses.replace(bundle.config.hybrid, max_category_share=0.5))
    # without the cap the popular list is all Kitchen (ties broken by id)
    assert _per_category(_ids(rec.recommend_user("stranger", [], n=4))) == {"Kitchen": 4}
    assert _per_category(_ids(diverse.recommend_user("stranger", [], n=4))) == {
        "Kitchen": 2,
        "Running": 2,
    }
    for user_id in ("run1", "run2", "run3", "run4"):  # >= 2 allowed items in each category
        ids = _ids(diverse.recommend_user(user_id, _history(events, user_id), n=4))
        assert len(ids) == 4
        assert max(_per_category(ids).values()) <= 2, (user_id, ids)
    for recent in (["r1"], ["k1"], ["k1", "r1"]):
        ids = _ids(diverse.recommend_session(recent, n=4))
        assert _per_category(ids) == {"Kitchen": 2, "Running": 2}, (recent, ids)


def test_category_cap_relaxes_when_too_few_categories(
    rec: HybridRecommender, bundle: Bundle, events: pl.DataFrame
) -> None:
    diverse = rec.with_config(dataclasses.replace(bundle.config.hybrid, max_category_share=0.5))
    # cook1 may still get only k1 from Kitchen (k2..k4 bought, k5 out of stock)
    ids = _ids(diverse.recommend_user("cook1", _history(events, "cook1"), n=4))
    assert len(ids) == 4
    assert _per_category(ids) == {"Kitchen": 1, "Running": 3}


# --------------------------------------------------------------- known ranking weakness
def test_session_of_a_kitchen_item_with_more_factors(shop: Shop, encoder: TextEncoder) -> None:
    rec = HybridRecommender(_train(shop, encoder, {"behavior": {"factors": 8, "iterations": 10}}))
    answer = rec.recommend_session(["k1"], n=4)
    assert set(_ids(answer)[:3]) == {"k2", "k3", "k4"}


def test_unknown_category_never_matches_items_without_category(shop: Shop) -> None:
    events, catalog = shop
    extra = pl.DataFrame(
        [("run1", "x9", "purchase", 1.8e9, ""), ("cook1", "x9", "view", 1.8e9, "")],
        schema=events.schema,
        orient="row",
    )
    settings = {**SMALL, "text": {"enabled": False}}
    bundle, _ = build_bundle(pl.concat([events, extra]), catalog, TrainConfig.from_dict(settings))
    assert bundle.item_table.row(bundle.items.index("x9"))["category"] == ""  # not in the catalog
    answer = HybridRecommender(bundle).recommend_user(
        "stranger", [], n=3, filters=Filters(category="Toys")
    )
    assert _ids(answer) == []


# ------------------------------------------------------------------------- repeat purchases
REBUY = {"exclude_seen": False, "exclude_purchased": False}


def _buys(*items_and_days: tuple[str, float]) -> list[UserEvent]:
    """Purchases, newest first; day 0 is the newest."""
    events = [UserEvent(i, "purchase", 1.8e9 - d * 86_400.0) for i, d in items_and_days]
    return sorted(events, key=lambda e: -e.ts)


def test_repeat_scores_count_purchases_with_a_half_life(rec: HybridRecommender) -> None:
    history = _buys(("r2", 0), ("r2", 30), ("k1", 60), ("unknown", 0))
    history.append(UserEvent("r3", "view", 1.8e9))
    scores = repeat_scores(rec.bundle, history, rec.config.repeat_half_life_days)
    b = rec.bundle
    assert scores[b.items.index("r2")] == pytest.approx(1.0 + 0.5)  # 30 days = one half-life
    assert scores[b.items.index("k1")] == pytest.approx(0.25)
    assert scores[b.items.index("r3")] == 0  # a view is not a purchase
    assert np.count_nonzero(scores) == 2


def test_regular_purchases_come_back_first_when_rebuying_is_allowed(
    rec: HybridRecommender, bundle: Bundle
) -> None:
    grocery = rec.with_config(dataclasses.replace(bundle.config.hybrid, **REBUY, repeat_weight=3.0))
    history = _buys(("k2", 0), ("k2", 7), ("k2", 14), ("k3", 0), ("r1", 90))
    answer = grocery.recommend_user("cook1", history, n=3)
    assert _ids(answer)[0] == "k2"
    top = answer.items[0].reason
    assert (top.kind, top.source, top.item_ids) == ("history", "repeat", ("k2",))
    assert top.text == "You bought Cutting board 3x before"


def test_repeat_source_never_brings_back_purchases_by_default(rec: HybridRecommender) -> None:
    history = _buys(("k2", 0), ("k2", 7), ("k2", 14))
    assert rec.config.repeat_weight > 0
    assert "k2" not in _ids(rec.recommend_user("cook1", history, n=8))


def test_repeat_weight_zero_turns_the_source_off(rec: HybridRecommender, bundle: Bundle) -> None:
    off = rec.with_config(dataclasses.replace(bundle.config.hybrid, **REBUY, repeat_weight=0.0))
    history = _buys(("k2", 0), ("k2", 7), ("k2", 14))
    answer = off.recommend_user("cook1", history, n=8)
    assert all(i.reason.source != "repeat" for i in answer.items)


# --------------------------------------------------------------------------- blend scaling
def test_spread_floor_keeps_near_constant_scores_small() -> None:
    noise = np.array([0.01, -0.01, 0.02, 0.0], dtype=np.float32)
    assert np.abs(zscore(noise)).max() > 1  # plain z-scoring stretches noise
    assert np.abs(zscore(noise, floor=0.5)).max() < 0.05
    signal = np.array([2.0, -2.0, 1.0, -1.0], dtype=np.float32)
    np.testing.assert_allclose(zscore(signal, floor=0.5), zscore(signal))  # no effect above it
    assert zscore(np.array([1.0, -np.inf], dtype=np.float32), floor=0.5)[1] == 0.0


def test_reasons_prefer_the_history_item_with_more_weight(rec: HybridRecommender) -> None:
    # run1 never bought r1: a purchase of r2 outweighs a view of r3 in the explanation
    history = [
        UserEvent("r3", "view", 1.8e9),
        UserEvent("r2", "purchase", 1.8e9 - 60),
        UserEvent("r4", "view", 1.8e9 - 120),
    ]
    answer = rec.recommend_user("run1", history, n=1)
    assert _ids(answer) == ["r1"]
    assert answer.items[0].reason.item_ids[0] == "r2"


def _select_by_full_sort(
    rec: HybridRecommender, cand: np.ndarray, blended: np.ndarray, n: int, share: float | None
) -> list[int]:
    """The definition of ``select``: sort everything, then walk it with the category cap."""
    ids = rec.bundle.items.ids(cand)
    order = sorted(range(cand.size), key=lambda p: (-blended[p], ids[p]))
    if share is None:
        return order[:n]
    cap = max(1, int(np.ceil(n * share)))
    codes = rec.bundle.item_table.category_codes[cand]
    counts: dict[int, int] = {}
    chosen, overflow = [], []
    for p in order:
        code = int(codes[p])
        if code >= 0 and counts.get(code, 0) >= cap:
            overflow.append(p)
            continue
        counts[code] = counts.get(code, 0) + 1
        chosen.append(p)
        if len(chosen) == n:
            return chosen
    return chosen + overflow[: n - len(chosen)]


def test_capped_walk_on_a_hand_computed_list() -> None:
    # categories A A B A C B A, cap 2, n 5: the third and fourth A are skipped (overflow)
    codes = np.asarray([0, 0, 1, 0, 2, 1, 0, -1], dtype=np.int32)
    chosen, overflow = sel.capped_walk(list(range(8)), codes, 5, 2)
    assert chosen == [0, 1, 2, 4, 5]
    assert overflow == [3]
    # uncategorised items (-1) are never capped
    chosen, overflow = sel.capped_walk([7, 7, 7], codes, 3, 1)
    assert chosen == [7, 7, 7] and overflow == []


@pytest.mark.parametrize("prefix", [1, 8])  # 1: the prefix rarely suffices (full-sort fallback)
@pytest.mark.parametrize("share", [None, 0.5, 0.2])
@pytest.mark.parametrize("seed", range(5))
def test_select_sorts_a_prefix_but_answers_like_a_full_sort(
    rec: HybridRecommender,
    share: float | None,
    seed: int,
    prefix: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("recsys.serving.select.SELECT_PREFIX", prefix)
    rng = np.random.default_rng(seed)
    cand = rng.permutation(len(rec.bundle.items)).astype(np.int64)
    # few distinct values: many ties, so the id tie-break and the tie extension both matter
    blended = rng.integers(0, 4, cand.size).astype(np.float64)
    blended[rng.random(cand.size) < 0.1] = -np.inf
    r = rec.with_config(dataclasses.replace(rec.config, max_category_share=share))
    for n in (1, 2, 3, cand.size):
        expected = _select_by_full_sort(r, cand, blended, n, share)
        assert sel.select(r.bundle, r.config, cand, blended, n) == expected


def test_behavior_cosine_of_candidates_matches_the_full_similarity_row(
    rec: HybridRecommender,
) -> None:
    b = rec.bundle
    cand = np.arange(len(b.items), dtype=np.int64)[::-1].copy()
    for idx in np.flatnonzero(b.behavior.known_items):
        full = b.behavior.item_similarities(np.asarray([idx]))[0][cand]
        np.testing.assert_allclose(behavior_cosine(b, int(idx), cand), full, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- recent source
def _runner_now_cooking(events: pl.DataFrame) -> list[UserEvent]:
    """run1's history (a runner in training) with two kitchen views after it, newest first."""
    history = _history(events, "run1")
    newest = history[0].ts
    return [UserEvent("k2", "view", newest + 120), UserEvent("k1", "view", newest + 60), *history]


@pytest.mark.parametrize("path", ["exact", "hnsw"])
def test_recent_events_steer_a_known_user_to_what_they_do_now(
    rec: HybridRecommender,
    events: pl.DataFrame,
    request: pytest.FixtureRequest,
    path: str,
) -> None:
    if path == "hnsw":  # one combined approximate search instead of exact scores of every item
        rec = HybridRecommender(request.getfixturevalue("hnsw_bundle"))
        assert rec.bundle.behavior_index is not None
        assert rec.bundle.behavior_index.kind == "hnsw"
    history = _runner_now_cooking(events)
    no_text = dataclasses.replace(rec.config, text_weight=0.0)
    long_term = rec.with_config(dataclasses.replace(no_text, recent_weight=0.0))
    assert _ids(long_term.recommend_user("run1", history, n=1)) == ["r1"]  # trained taste only
    now = rec.with_config(dataclasses.replace(no_text, recent_weight=2.0, recent_events=2))
    answer = now.recommend_user("run1", history, n=2)
    assert answer.strategy == "hybrid"
    assert set(_ids(answer)) == {"k3", "k4"}  # the kitchen items run1 has not seen yet
    for item in answer.items:  # explained by the newest items, as the behavior model's reason
        assert item.reason.source == "behavior"
        assert set(item.reason.item_ids) <= {"k1", "k2"}  # not the older running items


def test_recent_reasons_name_only_items_of_the_newest_events(
    rec: HybridRecommender, events: pl.DataFrame
) -> None:
    # the newest 2 events are both about k1: the reason may not reach back to a running item
    history = _history(events, "run1")
    newest = history[0].ts
    history = [UserEvent("k1", "click", newest + 120), UserEvent("k1", "view", newest + 60)]
    history += _history(events, "run1")
    config = dataclasses.replace(rec.config, text_weight=0.0, recent_weight=5.0, recent_events=2)
    answer = rec.with_config(config).recommend_user("run1", history, n=2)
    assert answer.items and all(i.item_id in KITCHEN for i in answer.items)
    for item in answer.items:
        assert item.reason.item_ids == ("k1",)


def test_recent_source_only_reads_the_newest_events(
    rec: HybridRecommender, events: pl.DataFrame
) -> None:
    history = _runner_now_cooking(events)
    no_text = dataclasses.replace(rec.config, text_weight=0.0, recent_weight=2.0)
    # the newest 5 events hold 2 kitchen views and 3 running purchases: running again leads
    wide = rec.with_config(dataclasses.replace(no_text, recent_events=5))
    assert _ids(wide.recommend_user("run1", history, n=1)) == ["r1"]
