"""Splits and ranking metrics with hand-computed answers."""

from __future__ import annotations

import math

import polars as pl
import pytest

from recsys.errors import InvalidInputError
from recsys.evaluation import (
    cold_split,
    coverage_and_popularity,
    evaluate_ranker,
    global_time_split,
    history_of,
    ranking_metrics,
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
