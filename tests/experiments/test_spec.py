"""Experiments: variant syntax, sticky salted assignment, and the store's one running experiment."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from recsys.config import HybridConfig
from recsys.errors import InvalidInputError
from recsys.experiments import (
    get_experiment,
    list_experiments,
    make_experiment,
    running_experiment,
    start_experiment,
    stop_experiment,
)
from recsys.experiments.spec import Experiment, bucket, parse_traffic, parse_variant
from recsys.store import Store

IDS = [f"user-{i}" for i in range(100_000)]


def _counts(experiment: Experiment) -> dict[str, int]:
    counts: dict[str, int] = {}
    for user in IDS:
        v = experiment.assign(user)
        name = v.name if v is not None else "-"
        counts[name] = counts.get(name, 0) + 1
    return counts


def test_assignment_is_deterministic_and_balanced_on_100k_ids() -> None:
    e = make_experiment("ab", ["control=current", "treatment=text_weight=0.6"], "50/50", salt="s1")
    again = Experiment.from_json(e.to_json())  # as another host reads it from the store
    assert all(e.assign(u) == again.assign(u) for u in IDS[:5000])
    counts = _counts(e)
    assert set(counts) == {"control", "treatment"}
    # a fair split passes a chi-square test at 0.1% (the SRM check's level)
    assert stats.chisquare([counts["control"], counts["treatment"]]).pvalue > 0.001
    assert abs(counts["control"] - 50_000) < 1_000


def test_partial_traffic_leaves_the_rest_out() -> None:
    e = make_experiment("part", ["a=current", "b=current"], "10/30", salt="s2")
    counts = _counts(e)
    assert abs(counts["a"] / 1e5 - 0.10) < 0.005
    assert abs(counts["b"] / 1e5 - 0.30) < 0.005
    assert abs(counts["-"] / 1e5 - 0.60) < 0.005


def test_assignments_of_two_experiments_are_independent() -> None:
    one = make_experiment("one", ["a=current", "b=current"], salt="salt-one")
    two = make_experiment("two", ["a=current", "b=current"], salt="salt-two")
    table = np.zeros((2, 2))
    for user in IDS[:40_000]:
        x, y = one.assign(user), two.assign(user)
        assert x is not None and y is not None
        table[x.name == "b", y.name == "b"] += 1
    assert stats.chi2_contingency(table).pvalue > 0.001
    # the same salt would put everyone in the same arm both times
    assert bucket("salt-one", "u") != bucket("salt-two", "u")


def test_variant_syntax() -> None:
    v = parse_variant("treatment=text_weight=0.6,trending_weight=1,pitch=off", 50)
    assert v.overrides == (("text_weight", 0.6), ("trending_weight", 1.0))
    assert v.pitch is False and v.bundle is None and v.holdout is None
    assert v.config(HybridConfig()).text_weight == 0.6
    assert parse_variant(v.name + "=" + v.describe(), 50) == v  # describe() round-trips
    assert parse_variant("control=current", 50).describe() == "current"
    assert parse_variant("c=", 50).changes_blend is False
    assert parse_variant("h=holdout=none", 10).holdout == "none"
    assert parse_variant("b=bundle=v2,max_category_share=none", 10).overrides == (
        ("max_category_share", None),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Control=current", "variant name"),
        ("t=colour=red", "unknown setting 'colour'"),
        ("t=text_weight=heavy", "expected a float"),
        ("t=text_weight=-1", "text_weight"),
        ("t=pitch=maybe", "pitch must be on or off"),
        ("t=holdout=all", "holdout must be one of"),
        ("t=holdout=none,text_weight=1", "a holdout changes nothing else"),
        ("t=precomputed_items=3", "unknown setting"),
        ("t=text_weight", "not key=value"),
    ],
)
def test_bad_variants_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_variant(text, 50)


def test_traffic() -> None:
    assert parse_traffic(None, 4) == [25.0] * 4
    assert parse_traffic("20/30", 2) == [20.0, 30.0]
    for bad in ("50", "60/50", "0/100", "a/b"):
        with pytest.raises(InvalidInputError):
            parse_traffic(bad, 2)


def test_experiment_words_are_checked() -> None:
    with pytest.raises(InvalidInputError, match="at least two variants"):
        make_experiment("x", ["a=current"])
    with pytest.raises(InvalidInputError, match="repeat"):
        make_experiment("x", ["a=current", "a=text_weight=1"])
    with pytest.raises(InvalidInputError, match="metric"):
        make_experiment("x", ["a=current", "b=current"], primary="clicks")
    with pytest.raises(InvalidInputError, match="experiment name"):
        make_experiment("X Y", ["a=current", "b=current"])


def test_one_experiment_runs_at_a_time_in_the_store(store: Store) -> None:
    assert running_experiment(store) is None
    first = start_experiment(store, make_experiment("first", ["a=current", "b=current"]))
    assert running_experiment(store) == first
    with pytest.raises(InvalidInputError, match="is running"):
        start_experiment(store, make_experiment("second", ["a=current", "b=current"]))
    with pytest.raises(InvalidInputError, match="exists already"):
        start_experiment(store, make_experiment("first", ["a=current", "b=current"]))
    stopped = stop_experiment(store, "first", now=first.started_at + 10)
    assert not stopped.running and stopped.salt == first.salt
    assert running_experiment(store) is None
    with pytest.raises(InvalidInputError, match="stopped already"):
        stop_experiment(store, "first")
    second = start_experiment(store, make_experiment("second", ["a=current", "b=current"]))
    assert [e.name for e in list_experiments(store)] == ["first", "second"]
    assert get_experiment(store, "second") == second
    with pytest.raises(InvalidInputError, match="no experiment named"):
        get_experiment(store, "third")


def test_a_pinned_bundle_must_exist(store: Store) -> None:
    made = make_experiment("pin", ["a=current", "b=bundle=v9"])
    with pytest.raises(InvalidInputError, match="no bundle version 'v9'"):
        start_experiment(store, made, known_versions=["v1"])
