"""The experiment report on hand-built logs whose right answers are known."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from recsys.errors import InvalidInputError
from recsys.experiments.analysis import METRICS, ExperimentReport, analyze
from recsys.store.schema import EXPOSURE_SCHEMA, IMPRESSION_SCHEMA, LINKED_EVENT_SCHEMA

DAY = 86400.0
T0 = 1_700_000_000.0

# the frames as the store reads them back (Store.experiment_log)
EXPOSURES = EXPOSURE_SCHEMA
IMPRESSIONS = IMPRESSION_SCHEMA
EVENTS = LINKED_EVENT_SCHEMA
PRICES = {"item_id": pl.String, "price": pl.Float64}


class Log:
    """A hand-built experiment log: answers with their items, events, prices."""

    def __init__(self, experiment: str = "exp") -> None:
        self.experiment = experiment
        self.exposures: list[dict[str, Any]] = []
        self.impressions: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.prices: dict[str, float | None] = {}

    def show(
        self,
        rid: str,
        user: str,
        ts: float,
        items: list[str],
        variant: str = "control",
        experiment: str | None = None,
    ) -> Log:
        self.exposures.append(
            {
                "recommendation_id": rid,
                "experiment": experiment or self.experiment,
                "variant": variant,
                "user_id": user,
                "ts": ts,
                "n_items": len(items),
            }
        )
        self.impressions += [
            {"recommendation_id": rid, "position": i, "item_id": item}
            for i, item in enumerate(items)
        ]
        return self

    def event(
        self,
        user: str,
        item: str,
        kind: str,
        ts: float,
        rid: str | None = None,
        position: int | None = None,
    ) -> Log:
        self.events.append(
            {
                "user_id": user,
                "item_id": item,
                "type": kind,
                "ts": ts,
                "recommendation_id": rid,
                "position": position,
            }
        )
        return self

    def analyze(self, **kwargs: Any) -> ExperimentReport:
        kwargs.setdefault("variants", ["control", "treatment"])
        kwargs.setdefault("shares", [50, 50])
        kwargs.setdefault("min_users", 1)
        kwargs.setdefault("name", self.experiment)
        kwargs.setdefault("now", T0 + 100 * DAY)
        return analyze(
            pl.DataFrame(self.exposures, schema=EXPOSURES),
            pl.DataFrame(self.impressions, schema=IMPRESSIONS),
            pl.DataFrame(self.events, schema=EVENTS),
            pl.DataFrame(
                [{"item_id": k, "price": v} for k, v in self.prices.items()], schema=PRICES
            ),
            **kwargs,
        )


def value(report: ExperimentReport, metric: str, variant: str = "control") -> float | None:
    return report.variant(variant).metrics[metric].value


# ---------------------------------------------------------------- attribution


def test_click_inside_the_window_counts_outside_or_before_does_not() -> None:
    log = Log()
    for u in ("inside", "edge", "late", "early", "idle"):
        log.show(f"r-{u}", u, T0, ["a"])
    log.event("inside", "a", "click", T0 + 60)
    log.event("edge", "a", "view", T0 + DAY)  # exactly at the end of the window: counts
    log.event("late", "a", "click", T0 + DAY + 1)
    log.event("early", "a", "click", T0 - 1)
    report = log.analyze()
    assert value(report, "ctr") == pytest.approx(2 / 5)
    assert report.notes.attributed_events == 2
    assert report.notes.events == 4


def test_window_is_configurable() -> None:
    log = Log().show("r1", "u1", T0, ["a"]).event("u1", "a", "click", T0 + 2 * 3600)
    assert value(log.analyze(window_s=3600.0), "ctr") == 0.0
    assert value(log.analyze(window_s=3 * 3600.0), "ctr") == 1.0


def test_event_on_an_item_not_shown_is_not_attributed() -> None:
    log = Log().show("r1", "u1", T0, ["a"]).event("u1", "b", "click", T0 + 10)
    log.event("u1", "a", "add_to_cart", T0 + 10, rid="r1")  # the id names r1, item a: counts
    report = log.analyze()
    assert value(report, "ctr") == 0.0
    assert value(report, "add_to_cart") == 1.0


def test_recommendation_id_on_the_event_chooses_the_impression() -> None:
    # u1 saw item a in two answers; clicks on a after both
    def base() -> Log:
        return Log().show("r1", "u1", T0, ["a"]).show("r2", "u1", T0 + 100, ["a"])

    # without ids both clicks go to the latest impression (r2): 1 clicked impression of 2
    plain = base().event("u1", "a", "click", T0 + 200).event("u1", "a", "click", T0 + 300)
    assert value(plain.analyze(), "ctr") == pytest.approx(1 / 2)
    # the first click names r1: r1 takes it, the second goes to the latest (r2): 2 of 2
    named = base().event("u1", "a", "click", T0 + 200, rid="r1", position=0)
    named.event("u1", "a", "click", T0 + 300)
    assert value(named.analyze(), "ctr") == pytest.approx(2 / 2)
    # an id whose impression is outside the window falls back to the latest qualifying one
    stale = base().event("u1", "a", "click", T0 + DAY + 50, rid="r1")
    stale.event("u1", "a", "click", T0 + DAY + 60)
    assert value(stale.analyze(), "ctr") == pytest.approx(1 / 2)
    # an id of another user's answer does not take the event
    other = base().show("r3", "u2", T0, ["a"]).event("u1", "a", "click", T0 + 200, rid="r3")
    rep = other.analyze()
    assert rep.notes.attributed_events == 1
    assert value(rep, "ctr") == pytest.approx(1 / 3)  # u1's r2 clicked; u2's r3 not


def test_an_event_is_attributed_once_and_an_impression_counts_once() -> None:
    log = Log().show("r1", "u1", T0, ["a"]).show("r2", "u1", T0 + 100, ["a", "b"])
    log.prices = {"a": 10.0, "b": 4.0}
    log.event("u1", "a", "purchase", T0 + 200)  # one event, two qualifying impressions
    report = log.analyze()
    assert report.notes.attributed_events == 1
    assert value(report, "revenue") == pytest.approx(10.0)
    assert value(report, "conversion") == 1.0
    # two purchases from the same impression: the impression counts one purchase
    log.event("u1", "a", "purchase", T0 + 300)
    report = log.analyze()
    assert report.notes.attributed_events == 2
    assert value(report, "revenue") == pytest.approx(10.0)
    assert value(report, "revenue_total") == pytest.approx(20.0)  # every purchase counts there


def test_revenue_from_the_catalog_price_and_null_price_counts_zero() -> None:
    log = Log()
    log.prices = {"a": 10.0, "b": None}
    log.show("r1", "u1", T0, ["a"]).event("u1", "a", "purchase", T0 + 5)
    log.show("r2", "u2", T0, ["b"]).event("u2", "b", "purchase", T0 + 5)  # null price
    log.show("r3", "u3", T0, ["c"]).event("u3", "c", "purchase", T0 + 5)  # not in the catalog
    log.show("r4", "u4", T0, ["a"])  # bought nothing
    report = log.analyze()
    assert value(report, "revenue") == pytest.approx(10.0 / 4)
    assert value(report, "conversion") == pytest.approx(3 / 4)


def test_funnel_counts_one_click_one_cart_one_purchase_per_impression() -> None:
    log = Log().show("r1", "u1", T0, ["a", "b", "c", "d"])
    log.prices = {"a": 5.0}
    for kind in ("view", "click", "add_to_cart", "purchase"):
        log.event("u1", "a", kind, T0 + 10)
    log.event("u1", "b", "click", T0 + 10).event("u1", "b", "add_to_cart", T0 + 11)
    log.event("u1", "c", "remove_from_cart", T0 + 10)  # not a funnel event: ignored
    report = log.analyze()
    assert value(report, "ctr") == pytest.approx(2 / 4)
    assert value(report, "add_to_cart") == pytest.approx(2 / 4)
    assert value(report, "conversion") == 1.0
    assert value(report, "revenue") == pytest.approx(5.0)


def test_total_metrics_count_purchases_after_the_first_exposure_only() -> None:
    log = Log()
    log.prices = {"x": 7.0, "a": 3.0}
    log.show("r1", "u1", T0, ["a"]).event("u1", "x", "purchase", T0 + 10)  # unattributed, after
    log.show("r2", "u2", T0, ["a"]).event("u2", "x", "purchase", T0 - 10)  # before exposure
    log.show("r3", "u3", T0, ["a"]).event("u3", "a", "purchase", T0 + 2 * DAY)  # late: not attr.
    report = log.analyze()
    assert value(report, "conversion") == 0.0
    assert value(report, "conversion_total") == pytest.approx(2 / 3)
    assert value(report, "revenue_total") == pytest.approx((7.0 + 3.0) / 3)
    assert value(report, "revenue") == 0.0


def test_per_variant_users_exposures_and_impressions() -> None:
    log = Log()
    log.show("r1", "u1", T0, ["a", "b"], "control").show("r2", "u1", T0 + 1, ["c"], "control")
    log.show("r3", "u2", T0, ["a", "b", "c"], "treatment")
    log.show("r4", "u3", T0, [], "treatment")  # an empty answer (a "none" holdout): no items
    log.show("r5", "u4", T0, ["a"], "retired")  # not a variant of the report
    log.show("r6", "u5", T0, ["a"], "control", experiment="other")  # another experiment
    log.show("r7", "u2", T0 + 5, ["z"], "control")  # u2 moved variant: stays in treatment
    log.impressions.append({"recommendation_id": "unknown", "position": 0, "item_id": "a"})
    report = log.analyze()
    control, treatment = report.variant("control"), report.variant("treatment")
    assert (control.users, control.exposures, control.impressions) == (1, 2, 3)
    assert (treatment.users, treatment.exposures, treatment.impressions) == (2, 2, 3)
    assert report.notes.exposures_unknown_variant == 1
    assert report.notes.users_in_several_variants == 1
    assert report.notes.impressions_left_out == 4  # unknown; r5, r6, r7 are left out
    # several experiments in the frame without a name is misuse
    with pytest.raises(InvalidInputError, match="several experiments"):
        log.analyze(name="")


def test_open_windows_are_counted() -> None:
    log = Log().show("r1", "u1", T0, ["a", "b"]).show("r2", "u2", T0 - 2 * DAY, ["a"])
    report = log.analyze(now=T0 + 3600)
    assert report.notes.impressions_in_open_window == 2
    assert "2 impressions are younger than the window" in report.markdown()


# ---------------------------------------------------------------- decisions on simulated logs


def simulate(
    n: tuple[int, int],
    conversion: tuple[float, float],
    seed: int,
    variants: tuple[str, str] = ("control", "treatment"),
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """One answer of 3 items per user; a user buys the first item with the arm's probability."""
    rng = np.random.default_rng(seed)
    total = n[0] + n[1]
    arm = np.repeat([0, 1], n)
    users = np.array([f"u{i}" for i in range(total)])
    rid = np.array([f"{i:016x}" for i in range(total)])
    ts = T0 + rng.uniform(0, 10 * DAY, total)
    exposures = pl.DataFrame(
        {
            "recommendation_id": rid,
            "experiment": "sim",
            "variant": np.array(variants)[arm],
            "user_id": users,
            "ts": ts,
            "n_items": np.full(total, 3),
        },
        schema=EXPOSURES,
    )
    items = rng.integers(0, 50, (total, 3))
    impressions = pl.DataFrame(
        {
            "recommendation_id": np.repeat(rid, 3),
            "position": np.tile(np.arange(3), total),
            "item_id": np.char.add("i", items.ravel().astype(str)),
        },
        schema=IMPRESSIONS,
    )
    buys = rng.random(total) < np.array(conversion)[arm]
    events = pl.DataFrame(
        {
            "user_id": users[buys],
            "item_id": np.char.add("i", items[buys, 0].astype(str)),
            "type": "purchase",
            "ts": ts[buys] + 600.0,
            "recommendation_id": rid[buys],
            "position": np.zeros(int(buys.sum()), dtype=np.int64),
        },
        schema=EVENTS,
    )
    prices = pl.DataFrame({"item_id": [f"i{i}" for i in range(50)], "price": 20.0}, schema=PRICES)
    return exposures, impressions, events, prices


def test_lift_sign_and_interval_contain_the_truth_on_a_large_sample() -> None:
    frames = simulate((20_000, 20_000), (0.10, 0.12), seed=1)
    report = analyze(*frames, variants=["control", "treatment"], shares=[50, 50], now=T0)
    lift = report.lift("treatment", "conversion")
    assert lift.lift.value is not None and lift.lift.value > 0
    assert lift.lift.low is not None and lift.lift.high is not None
    assert lift.lift.low <= 0.2 <= lift.lift.high  # true lift 0.12 / 0.10 - 1
    assert lift.difference.low is not None and lift.difference.high is not None
    assert lift.difference.low <= 0.02 <= lift.difference.high
    revenue = report.lift("treatment", "revenue")
    assert revenue.lift.low is not None and revenue.lift.high is not None
    assert revenue.lift.low <= 0.2 <= revenue.lift.high
    assert report.decision == "winner: treatment"
    assert "treatment beats control on conversion" in report.reason
    assert not report.srm.flagged


def test_a_worse_treatment_is_named_the_loser() -> None:
    frames = simulate((5000, 5000), (0.13, 0.10), seed=2)
    report = analyze(*frames, variants=["control", "treatment"], shares=[50, 50], now=T0)
    assert report.decision == "loser: treatment"


def test_aa_gives_no_decision() -> None:
    frames = simulate((5000, 5000), (0.10, 0.10), seed=3)
    report = analyze(*frames, variants=["control", "treatment"], shares=[50, 50], now=T0)
    assert report.decision == "no decision yet"
    assert report.reason.startswith("Not significant")


def test_too_few_users_gives_no_decision() -> None:
    frames = simulate((90, 90), (0.05, 0.60), seed=4)
    report = analyze(*frames, variants=["control", "treatment"], shares=[50, 50], now=T0)
    assert report.decision == "no decision yet"
    assert "Too few users" in report.reason
    assert "control has 90" in report.reason


def test_srm_is_flagged_on_600_400_and_blocks_a_winner() -> None:
    frames = simulate((600, 400), (0.05, 0.60), seed=5)
    report = analyze(*frames, variants=["control", "treatment"], shares=[50, 50], now=T0)
    assert report.srm.flagged
    assert report.srm.observed == (600, 400)
    assert report.decision == "no decision yet"
    assert "Sample ratio mismatch" in report.reason
    assert "**flagged**" in report.markdown()


def test_srm_not_flagged_on_505_495() -> None:
    frames = simulate((505, 495), (0.05, 0.60), seed=6)
    report = analyze(*frames, variants=["control", "treatment"], shares=[50, 50], now=T0)
    assert not report.srm.flagged
    assert report.decision == "winner: treatment"


def test_bonferroni_over_treatments() -> None:
    log = Log()
    report = log.analyze(variants=["a", "b", "c"], shares=[20, 40, 40], alpha=0.06)
    assert report.parameters.threshold == pytest.approx(0.03)
    assert report.decision == "no decision yet"


def _conversions(buyers: dict[str, int], n: int = 400) -> Log:
    """``n`` shoppers per variant, each shown item ``x``; ``buyers[v]`` of them buy it."""
    log = Log()
    for variant, k in buyers.items():
        for i in range(n):
            user = f"{variant}{i}"
            log.show(f"r-{user}", user, T0, ["x"], variant)
            if i < k:
                log.event(user, "x", "purchase", T0 + 10)
    return log


def test_a_second_treatment_halves_the_level_a_lift_must_reach() -> None:
    # find a treatment whose always-valid p against the control lies in (alpha/2, alpha]
    for k in range(45, 120):
        two = _conversions({"a": 40, "b": k}).analyze(variants=["a", "b"], shares=[50, 50])
        p = two.lift("b", "conversion").p_value
        assert p is not None
        if 0.025 < p <= 0.05:
            break
    else:
        pytest.fail("no treatment with 0.025 < p <= 0.05")
    assert two.decision == "winner: b"  # one treatment: alpha = 0.05
    three = _conversions({"a": 40, "b": k, "c": 40}).analyze(
        variants=["a", "b", "c"], shares=[100 / 3] * 3
    )
    assert three.lift("b", "conversion").p_value == pytest.approx(p)  # the same comparison
    assert three.decision == "no decision yet"  # two treatments: each needs p <= 0.025


# ---------------------------------------------------------------- rendering


def test_to_dict_is_strict_json_also_when_nothing_is_defined() -> None:
    report = Log().analyze(min_users=0)  # no users at all: every estimate undefined
    data = report.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["variants"][0]["metrics"]["ctr"]["value"] is None
    assert data["srm"]["chi2"] is None
    assert data["decision"] == "no decision yet"
    assert set(data["variants"][0]["metrics"]) == set(METRICS)
    # a holdout that shows nothing: ctr undefined, lifts over a zero control undefined
    log = Log()
    for i in range(3):
        log.show(f"c{i}", f"c{i}", T0, ["a"], "control")
        log.show(f"h{i}", f"h{i}", T0, [], "treatment")
    log.event("h0", "a", "purchase", T0 + 1)
    data = log.analyze().to_dict()
    json.dumps(data, allow_nan=False)
    assert data["variants"][1]["metrics"]["ctr"]["value"] is None
    assert data["variants"][1]["metrics"]["conversion_total"]["value"] == pytest.approx(1 / 3)


def test_markdown_has_the_decision_tables_and_limits() -> None:
    frames = simulate((2000, 2000), (0.10, 0.20), seed=7)
    report = analyze(
        *frames, variants=["control", "treatment"], shares=[50, 50], name="sim", now=T0
    )
    md = report.markdown()
    assert md.startswith("# Experiment sim")
    assert f"**Decision: {report.decision}.**" in md
    assert "winner: treatment" in md
    for metric in METRICS:
        assert f"## {metric}" in md
    assert "## conversion (primary)" in md
    assert "sample ratio (control/treatment): 2000/2000 users" in md
    assert "## What this does not say" in md
    assert "every purchase" in md
    assert "within 1 d after it was shown" in md


def test_plot_png(tmp_path: Path) -> None:
    frames = simulate((300, 300), (0.10, 0.20), seed=8)
    report = analyze(*frames, variants=["control", "treatment"], shares=[50, 50], now=T0)
    data = report.plot_png()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) < 100_000
    path = tmp_path / "exp.png"
    assert report.plot_png(path) == path.read_bytes()
    # undefined values draw too
    assert Log().analyze(min_users=0).plot_png().startswith(b"\x89PNG")


# ---------------------------------------------------------------- misuse


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shares": [50]}, "one value per variant"),
        ({"shares": [50, 0]}, "positive"),
        ({"variants": ["a", "a"]}, "unique"),
        ({"variants": []}, "non-empty"),
        ({"primary": "clicks"}, "primary must be one of"),
        ({"alpha": 1.5}, "alpha"),
        ({"window_s": 0}, "window_s"),
        ({"min_users": -1}, "min_users"),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        Log().analyze(**kwargs)


def test_missing_column_is_named() -> None:
    empty = pl.DataFrame(schema=EXPOSURES)
    with pytest.raises(InvalidInputError, match=r"events lacks column\(s\) \['type'\]"):
        analyze(
            empty,
            pl.DataFrame(schema=IMPRESSIONS),
            pl.DataFrame(schema=EVENTS).drop("type"),
            pl.DataFrame(schema=PRICES),
            variants=["control"],
            shares=[100],
        )
