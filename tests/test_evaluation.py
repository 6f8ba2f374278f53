"""Splits and ranking metrics with hand-computed answers."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from recsys.errors import InvalidInputError
from recsys.evaluation import (
    cold_split,
    coverage_and_popularity,
    evaluate_ranker,
    global_time_split,
    history_of,
    ranking_metrics,
    summarize,
    temporal_split,
    truth_of,
)


def _events() -> pl.DataFrame:
    rows = [("u1", f"i{k}", "click", k) for k in range(10)] + [("u2", "i0", "view", 5)]
    return pl.DataFrame(rows, schema=["user_id", "item_id", "type", "ts"], orient="row")


def test_temporal_split_holds_out_each_users_latest_fifth() -> None:
    train, test = temporal_split(_events(), frac=0.2)
    assert sorted(test.filter(pl.col("user_id") == "u1")["item_id"]) == ["i8", "i9"]
    assert test.filter(pl.col("user_id") == "u2").height == 1  # a single event is held out
    assert train.height + test.height == 11


def test_global_time_split_cuts_at_one_moment() -> None:
    train, test = global_time_split(_events(), frac=0.2)
    assert test.height == 2
    assert train["ts"].max() <= test["ts"].min()


def test_cold_split_removes_items_from_training_entirely() -> None:
    train, test, cold = cold_split(_events(), frac=0.3, seed=1)
    assert len(cold) == 3
    assert not set(train["item_id"]) & cold
    assert set(test["item_id"]) == cold


def test_metrics_match_hand_computation() -> None:
    m = ranking_metrics(["a", "b", "c", "d"], {"b", "z"}, ks=(1, 2, 4))
    assert m["recall@1"] == 0.0
    assert m["recall@2"] == 0.5
    dcg = 1 / math.log2(3)
    assert m["ndcg@2"] == pytest.approx(dcg / (1 + 1 / math.log2(3)))
    assert m["ndcg@4"] == pytest.approx(dcg / (1 + 1 / math.log2(3)))


def test_perfect_ranking_scores_one_and_short_lists_are_padded() -> None:
    m = ranking_metrics(["x"], {"x"}, ks=(1, 5))
    assert m["recall@5"] == 1.0 and m["ndcg@5"] == 1.0


def test_empty_truth_and_bad_fraction_are_errors() -> None:
    with pytest.raises(InvalidInputError):
        ranking_metrics(["a"], set())
    with pytest.raises(InvalidInputError):
        temporal_split(_events(), frac=1.5)


def test_evaluate_ranker_averages_users_with_a_confidence_interval() -> None:
    truth = truth_of(pl.DataFrame({"user_id": ["u1", "u2"], "item_id": ["a", "b"]}))
    res = evaluate_ranker(lambda u: ["a"], truth, ks=(1,))
    assert res["users"] == 2
    assert res["recall@1"]["mean"] == 0.5
    assert res["recall@1"]["ci95"] > 0


def test_history_is_newest_first_and_coverage_counts_distinct_items() -> None:
    hist = history_of(_events())
    assert hist["u1"][0].item_id == "i9"
    cov = coverage_and_popularity([["a", "b"], ["a"]], n_catalog=4, popularity={"a": 1.0})
    assert cov == {"coverage": 0.5, "mean_popularity": pytest.approx(2 / 3)}


# ----------------------------------------------------------------------- metric properties
# A small id alphabet, so that generated lists and truths overlap often. Ranked lists hold each
# item once, as every ranker's answer does.
ITEM_IDS = [f"i{k}" for k in range(12)]
ranked_lists = st.lists(st.sampled_from(ITEM_IDS), unique=True, max_size=len(ITEM_IDS))
truths = st.sets(st.sampled_from(ITEM_IDS), min_size=1)
cutoffs = st.lists(st.integers(1, 15), min_size=1, max_size=4, unique=True).map(sorted)


@given(ranked_lists, truths, cutoffs)
def test_every_metric_lies_in_zero_one(ranked: list[str], truth: set[str], ks: list[int]) -> None:
    m = ranking_metrics(ranked, truth, ks)
    assert set(m) == {f"{name}@{k}" for k in ks for name in ("recall", "ndcg")}
    for value in m.values():
        assert 0.0 <= value <= 1.0 + 1e-12


@given(ranked_lists, truths, cutoffs)
def test_recall_counts_the_hits_in_the_top_k(
    ranked: list[str], truth: set[str], ks: list[int]
) -> None:
    m = ranking_metrics(ranked, truth, ks)
    for k in ks:
        assert m[f"recall@{k}"] == pytest.approx(len(set(ranked[:k]) & truth) / len(truth))


@given(ranked_lists, truths, cutoffs)
def test_metrics_never_fall_as_k_grows(ranked: list[str], truth: set[str], ks: list[int]) -> None:
    m = ranking_metrics(ranked, truth, ks)
    recalls = [m[f"recall@{k}"] for k in ks]
    assert recalls == sorted(recalls)


@given(st.permutations(ITEM_IDS), st.integers(1, len(ITEM_IDS)), cutoffs)
def test_a_perfect_list_has_ndcg_one(order: list[str], n_truth: int, ks: list[int]) -> None:
    """Every held-out item first (in any order), then the rest: NDCG@k is 1 for every k."""
    truth = set(order[:n_truth])
    m = ranking_metrics(order, truth, ks)
    for k in ks:
        assert m[f"ndcg@{k}"] == pytest.approx(1.0)
        assert m[f"recall@{k}"] == pytest.approx(min(k, n_truth) / n_truth)


@given(ranked_lists, truths, cutoffs)
def test_a_list_without_hits_scores_zero(ranked: list[str], truth: set[str], ks: list[int]) -> None:
    misses = [i for i in ranked if i not in truth]
    m = ranking_metrics(misses, truth, ks)
    assert all(value == 0.0 for value in m.values())


@given(ranked_lists, truths, st.integers(1, 15), st.data())
def test_moving_a_hit_up_never_lowers_ndcg(
    ranked: list[str], truth: set[str], k: int, data: st.DataObject
) -> None:
    """Swap a hit with a miss ranked above it: NDCG@k may rise, never fall; recall@k stays."""
    pairs = [
        (a, b)
        for a in range(len(ranked))
        for b in range(a + 1, len(ranked))
        if ranked[a] not in truth and ranked[b] in truth
    ]
    assume(pairs)
    a, b = data.draw(st.sampled_from(pairs))
    better = list(ranked)
    better[a], better[b] = better[b], better[a]
    before = ranking_metrics(ranked, truth, (k,))
    after = ranking_metrics(better, truth, (k,))
    assert after[f"ndcg@{k}"] >= before[f"ndcg@{k}"] - 1e-12
    assert after[f"recall@{k}"] >= before[f"recall@{k}"]


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_summary_mean_lies_between_the_rows_and_ci_is_not_negative(values: list[float]) -> None:
    out = summarize([{"recall@10": v} for v in values])["recall@10"]
    assert min(values) - 1e-9 <= out["mean"] <= max(values) + 1e-9
    assert out["ci95"] >= 0.0
    if len(values) == 1:
        assert out["ci95"] == 0.0


@given(st.lists(ranked_lists, max_size=8), st.integers(len(ITEM_IDS), 50))
def test_coverage_is_a_share_of_the_catalog(lists: list[list[str]], n_catalog: int) -> None:
    cov = coverage_and_popularity(lists, n_catalog, popularity={})
    assert 0.0 <= cov["coverage"] <= 1.0
    assert cov["coverage"] == len({i for ranked in lists for i in ranked}) / n_catalog
