"""The report of an A/B experiment: attribute events to impressions, estimate, decide.

:func:`analyze` reads the four frames the store produces (exposures, impressions, events,
prices; columns below) and returns an :class:`ExperimentReport` with, per variant, the users,
exposures and impressions, six metrics with 95% intervals, the relative lift of every treatment
over the control, an always-valid p-value, a sample-ratio-mismatch check and a decision. The
report renders itself as JSON (:meth:`ExperimentReport.to_dict`), Markdown
(:meth:`ExperimentReport.markdown`) and a PNG bar chart (:meth:`ExperimentReport.plot_png`).

Frames (polars; extra columns are ignored):

- exposures: ``recommendation_id`` str, ``experiment`` str, ``variant`` str, ``user_id`` str,
  ``ts`` f64, ``n_items`` i64 -- one served answer each.
- impressions: ``recommendation_id`` str, ``position`` i64, ``item_id`` str -- one shown item.
- events: ``user_id`` str, ``item_id`` str, ``type`` str, ``ts`` f64, ``recommendation_id`` str
  (nullable), ``position`` i64 (nullable).
- prices: ``item_id`` str, ``price`` f64 (nullable).

Attribution rule. An event of type ``view`` or ``click`` (both count as a *click*),
``add_to_cart`` or ``purchase`` by user ``u`` on item ``i`` at time ``t`` is attributed when ``u``
had an impression of ``i`` in this experiment with ``imp_ts <= t <= imp_ts + window_s``
(``imp_ts`` is the exposure's ``ts``). If the event carries the ``recommendation_id`` of such an
impression, that impression takes it; otherwise the latest qualifying impression does. Each
event is attributed to at most one impression; each impression counts at most one click, one
cart and one purchase (a second purchase of the item from the same impression adds nothing),
and an attributed purchase earns the item's catalog price (unknown or null price: 0, but the
purchase still converts).

Metrics per variant (the user is the unit; every exposed user counts, also those who did
nothing):

- ``ctr``: clicked impressions / impressions; ``add_to_cart``: carted impressions / impressions
  (ratio metrics over users, delta-method intervals).
- ``conversion``: share of users with at least one attributed purchase; ``revenue``: attributed
  revenue per user.
- ``conversion_total`` / ``revenue_total``: any purchase (attributed or not) at or after the
  user's first exposure, every purchase event at its price. These are the metrics a holdout
  that shows no recommendations can be compared on.

A user is counted in the variant of their first exposure; exposures of the same user in another
variant (which sticky assignment should never produce) are left out and counted in
:attr:`DataNotes.users_in_several_variants`.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import polars as pl

from recsys.errors import InvalidInputError
from recsys.experiments.stats import (
    DEFAULT_EFFECT_SD,
    SRM_P_THRESHOLD,
    Estimate,
    SrmResult,
    difference,
    mean_estimate,
    ratio_estimate,
    relative_lift,
    sequential_p,
    srm_test,
)

Metric = Literal["ctr", "add_to_cart", "conversion", "revenue", "conversion_total", "revenue_total"]

#: Every metric of the report, in display order.
METRICS: tuple[Metric, ...] = get_args(Metric)

#: Metrics that are rates (shown as percentages); the others are money per user.
RATE_METRICS: frozenset[str] = frozenset({"ctr", "add_to_cart", "conversion", "conversion_total"})

#: Event types that count as a click.
CLICK_TYPES = ("view", "click")

NO_DECISION = "no decision yet"

_REQUIRED: dict[str, tuple[str, ...]] = {
    "exposures": ("recommendation_id", "variant", "user_id", "ts"),
    "impressions": ("recommendation_id", "position", "item_id"),
    "events": ("user_id", "item_id", "type", "ts", "recommendation_id"),
    "prices": ("item_id", "price"),
}


@dataclass(frozen=True)
class ReportParameters:
    """The settings a report was computed with.

    Attributes:
        variants: Variant names; the first is the control.
        shares: Traffic share per variant (percent), as configured.
        primary: The metric the decision is made on.
        alpha: Overall false-positive rate of the decision.
        threshold: ``alpha / (k - 1)``: the per-treatment p-value cut (Bonferroni).
        window_s: Attribution window in seconds.
        min_users: Users every variant needs before a decision.
        effect_sd: mSPRT mixture scale in per-user standard deviations (see
            :data:`recsys.experiments.stats.DEFAULT_EFFECT_SD`).
        srm_threshold: SRM is flagged below this chi-square p-value.
        now: The time the report describes (seconds since the epoch).
    """

    variants: tuple[str, ...]
    shares: tuple[float, ...]
    primary: Metric
    alpha: float
    threshold: float
    window_s: float
    min_users: int
    effect_sd: float
    srm_threshold: float
    now: float


@dataclass(frozen=True)
class VariantResult:
    """One variant's counts and metric estimates.

    Attributes:
        name: Variant name.
        users: Exposed users (counted in this variant).
        exposures: Answers served to them in this variant.
        impressions: Items shown in those answers.
        metrics: One :class:`~recsys.experiments.stats.Estimate` per name in :data:`METRICS`.
    """

    name: str
    users: int
    exposures: int
    impressions: int
    metrics: Mapping[str, Estimate]


@dataclass(frozen=True)
class Lift:
    """One treatment against the control on one metric.

    Attributes:
        variant: The treatment.
        metric: The metric.
        lift: Relative lift ``treatment / control - 1`` (delta-method interval); its value is
            ``None`` when the control's value is 0 or undefined.
        difference: Absolute difference ``treatment - control``.
        p_value: Always-valid (mSPRT) p-value of the difference; ``None`` when undefined.
    """

    variant: str
    metric: Metric
    lift: Estimate
    difference: Estimate
    p_value: float | None


@dataclass(frozen=True)
class DataNotes:
    """What the analysis left out or could not judge yet.

    Attributes:
        exposures_unknown_variant: Exposures whose variant is not among the report's variants.
        users_in_several_variants: Users exposed in more than one variant (kept in the first).
        impressions_left_out: Impressions whose answer is not among the exposures used (an
            unknown answer, another experiment, an unknown variant, or a user's exposure in a
            second variant).
        impressions_in_open_window: Impressions less than ``window_s`` before ``now``: their
            attribution window is still open, so their metrics can still grow.
        attributed_events: Events attributed to an impression.
        events: Relevant events (click, cart, purchase) of exposed users.
    """

    exposures_unknown_variant: int = 0
    users_in_several_variants: int = 0
    impressions_left_out: int = 0
    impressions_in_open_window: int = 0
    attributed_events: int = 0
    events: int = 0


@dataclass(frozen=True)
class ExperimentReport:
    """The result of :func:`analyze`.

    Attributes:
        name: Experiment name ("" when not given).
        parameters: The settings used.
        variants: One :class:`VariantResult` per variant, control first.
        lifts: One :class:`Lift` per treatment and metric.
        srm: The sample-ratio-mismatch check on users per variant.
        decision: ``"winner: <variant>"``, ``"loser: <variant>"`` or ``"no decision yet"``.
        reason: One sentence saying why.
        notes: Counts of what was left out.
    """

    name: str
    parameters: ReportParameters
    variants: tuple[VariantResult, ...]
    lifts: tuple[Lift, ...]
    srm: SrmResult
    decision: str
    reason: str
    notes: DataNotes = field(default_factory=DataNotes)

    @property
    def control(self) -> str:
        """The control variant's name."""
        return self.parameters.variants[0]

    def lift(self, variant: str, metric: Metric) -> Lift:
        """The lift of ``variant`` over the control on ``metric``.

        Raises:
            KeyError: ``variant`` is the control or unknown, or ``metric`` is unknown.
        """
        for lf in self.lifts:
            if lf.variant == variant and lf.metric == metric:
                return lf
        raise KeyError(f"no lift for variant {variant!r} on {metric!r}")

    def variant(self, name: str) -> VariantResult:
        """The result of the variant called ``name``.

        Raises:
            KeyError: no such variant.
        """
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(f"no variant {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON types; undefined and infinite numbers are ``None``.

        ``json.dumps(report.to_dict(), allow_nan=False)`` always succeeds.
        """
        p = self.parameters
        return {
            "name": self.name,
            "decision": self.decision,
            "reason": self.reason,
            "parameters": {
                "variants": list(p.variants),
                "control": p.variants[0],
                "shares": [_num(s) for s in p.shares],
                "primary": p.primary,
                "alpha": _num(p.alpha),
                "threshold": _num(p.threshold),
                "window_s": _num(p.window_s),
                "min_users": p.min_users,
                "effect_sd": _num(p.effect_sd),
                "srm_threshold": _num(p.srm_threshold),
                "now": _num(p.now),
            },
            "variants": [
                {
                    "name": v.name,
                    "users": v.users,
                    "exposures": v.exposures,
                    "impressions": v.impressions,
                    "metrics": {m: _estimate_dict(v.metrics[m]) for m in METRICS},
                }
                for v in self.variants
            ],
            "lifts": [
                {
                    "variant": lf.variant,
                    "metric": lf.metric,
                    **_estimate_dict(lf.lift),
                    "difference": _estimate_dict(lf.difference),
                    "p_value": _num(lf.p_value),
                }
                for lf in self.lifts
            ],
            "srm": {
                "observed": list(self.srm.observed),
                "expected": [_num(e) for e in self.srm.expected],
                "chi2": _num(self.srm.chi2),
                "p_value": _num(self.srm.p_value),
                "flagged": self.srm.flagged,
                "threshold": _num(self.srm.threshold),
            },
            "notes": {
                "exposures_unknown_variant": self.notes.exposures_unknown_variant,
                "users_in_several_variants": self.notes.users_in_several_variants,
                "impressions_left_out": self.notes.impressions_left_out,
                "impressions_in_open_window": self.notes.impressions_in_open_window,
                "attributed_events": self.notes.attributed_events,
                "events": self.notes.events,
            },
        }

    def markdown(self) -> str:
        """The report as Markdown: decision, SRM line, a table per metric, and its limits."""
        p = self.parameters
        title = f"Experiment {self.name}" if self.name else "Experiment report"
        lines = [
            f"# {title}",
            "",
            f"**Decision: {self.decision}.** {self.reason}",
            "",
            f"- control: {self.control}; primary metric: {p.primary}; alpha {p.alpha:g} "
            f"(per treatment {p.threshold:.4g}); at least {p.min_users} users per variant; "
            f"attribution window {_duration(p.window_s)}",
            f"- {_srm_line(self.srm, p.variants)}",
            "",
            "| variant | users | exposures | impressions |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {v.name} | {v.users} | {v.exposures} | {v.impressions} |" for v in self.variants
        ]
        for metric in METRICS:
            heading = f"## {metric}" + (" (primary)" if metric == p.primary else "")
            lines += [
                "",
                heading,
                "",
                "| variant | value | 95% interval | lift vs control | lift 95% interval "
                "| always-valid p |",
                "|---|---:|---|---:|---|---:|",
            ]
            for v in self.variants:
                est = v.metrics[metric]
                row = f"| {v.name} | {_fmt(est.value, metric)} | {_interval(est, metric)} |"
                if v.name == self.control:
                    row += " — | — | — |"
                else:
                    lf = self.lift(v.name, metric)
                    row += (
                        f" {_pct(lf.lift.value, signed=True)} | {_interval(lf.lift, 'lift')} | "
                        f"{_p(lf.p_value)} |"
                    )
                lines.append(row)
        lines += ["", "## What this does not say", "", self.limits()]
        return "\n".join(lines) + "\n"

    def limits(self) -> str:
        """One plain paragraph on what the numbers do not show."""
        p = self.parameters
        open_note = (
            f" {self.notes.impressions_in_open_window} impressions are younger than the window, "
            "so their clicks, carts and purchases may still come."
            if self.notes.impressions_in_open_window
            else ""
        )
        return (
            f"ctr, add_to_cart, conversion and revenue credit the recommendations only with events "
            f"on an item shown to the shopper, within {_duration(p.window_s)} after it was shown; "
            "a later purchase, or one of an item that was not shown, is not counted there, and "
            "a shown item that was bought anyway still is. conversion_total and revenue_total "
            "count every purchase after a shopper's first exposure, whatever led to it. Each "
            "impression counts at most one click, cart and purchase; revenue uses the catalog "
            "price (an unknown price counts as 0). The always-valid p-values stay valid however "
            "often this report is read; the 95% intervals are for this look only." + open_note
        )

    def plot_png(self, path: str | Path | None = None) -> bytes:
        """Bar chart of each variant's primary metric with its 95% interval as whiskers.

        Args:
            path: Also write the PNG there when given.

        Returns:
            The PNG bytes (a few tens of kB).
        """
        from matplotlib.figure import Figure

        metric = self.parameters.primary
        names = [v.name for v in self.variants]
        values, err_low, err_high = [], [], []
        for v in self.variants:
            est = v.metrics[metric]
            val = est.value if est.value is not None else 0.0
            values.append(val)
            err_low.append(val - est.low if est.low is not None else 0.0)
            err_high.append(est.high - val if est.high is not None else 0.0)
        fig = Figure(figsize=(max(4.0, 1.2 * len(names) + 2.0), 3.4), layout="constrained")
        ax = fig.subplots()
        x = np.arange(len(names))
        colors = ["#7f7f7f"] + ["#1f77b4"] * (len(names) - 1)
        ax.bar(x, values, color=colors, yerr=[err_low, err_high], capsize=6)
        for xi, v, top in zip(x, self.variants, np.add(values, err_high), strict=True):
            est = v.metrics[metric]
            label = "n/a" if est.value is None else _fmt(est.value, metric)
            ax.annotate(
                f"{label}\n{v.users} users",
                (float(xi), float(top)),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=8,
            )
        ax.margins(y=0.25)
        ax.set_xticks(x, names)
        ax.set_ylabel(metric)
        ax.grid(axis="y", alpha=0.3)
        title = f"{self.name}: " if self.name else ""
        ax.set_title(f"{title}{metric} per variant (95% interval) — {self.decision}", fontsize=9)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        data = buf.getvalue()
        if path is not None:
            Path(path).write_bytes(data)
        return data


def analyze(
    exposures: pl.DataFrame,
    impressions: pl.DataFrame,
    events: pl.DataFrame,
    prices: pl.DataFrame,
    *,
    variants: Sequence[str],
    shares: Sequence[float],
    primary: Metric = "conversion",
    alpha: float = 0.05,
    window_s: float = 86400.0,
    min_users: int = 100,
    name: str = "",
    now: float | None = None,
    effect_sd: float = DEFAULT_EFFECT_SD,
) -> ExperimentReport:
    """Attribute events to impressions and compute the experiment's report.

    Vectorised with polars (joins and one as-of join, no per-row Python): a million impressions
    take seconds.

    Args:
        exposures: Served answers (see the module docstring for the columns). When ``name`` is
            given only rows whose ``experiment`` equals it are used.
        impressions: Items shown per answer.
        events: Events of the exposed users (others are ignored).
        prices: Catalog price per item; items missing or with a null price earn 0.
        variants: Variant names, control first (at least one, unique).
        shares: Traffic share per variant, positive (percent; normalised for the SRM check).
        primary: The metric the decision is made on.
        alpha: Overall false-positive rate, split over the ``k - 1`` treatments (Bonferroni).
        window_s: Attribution window in seconds, ``> 0``.
        min_users: Users every variant needs before a winner or loser is named.
        name: The experiment's name.
        now: The time of the report (default: the current time); impressions within
            ``window_s`` before it are counted as still open.
        effect_sd: mSPRT mixture scale in per-user standard deviations.

    Returns:
        The :class:`ExperimentReport`.

    Raises:
        InvalidInputError: a frame lacks a column, or a setting is out of range (names the
            value and what is allowed).
    """
    params = _check_params(
        variants, shares, primary, alpha, window_s, min_users, effect_sd, now, exposures
    )
    for what, frame in (
        ("exposures", exposures),
        ("impressions", impressions),
        ("events", events),
        ("prices", prices),
    ):
        missing = [c for c in _REQUIRED[what] if c not in frame.columns]
        if missing:
            raise InvalidInputError(
                f"{what} lacks column(s) {missing}; it needs {list(_REQUIRED[what])}"
            )

    exp = exposures
    if name:
        if "experiment" in exp.columns:
            exp = exp.filter(pl.col("experiment") == name)
    elif "experiment" in exp.columns and exp["experiment"].n_unique() > 1:
        raise InvalidInputError(
            "exposures hold several experiments "
            f"({sorted(exp['experiment'].unique().drop_nulls().to_list())[:5]}): pass name=..."
        )
    exp = exp.select(
        pl.col("recommendation_id").cast(pl.String),
        pl.col("variant").cast(pl.String),
        pl.col("user_id").cast(pl.String),
        pl.col("ts").cast(pl.Float64),
    ).drop_nulls()
    n_exp_all = exp.height
    exp = exp.filter(pl.col("variant").is_in(list(params.variants)))
    unknown_variant = n_exp_all - exp.height

    # every user belongs to the variant of their first exposure
    exp = exp.sort("ts", "recommendation_id").unique(
        subset="recommendation_id", keep="first", maintain_order=True
    )
    first = exp.group_by("user_id").agg(
        pl.col("variant").first().alias("user_variant"),
        pl.col("ts").min().alias("first_ts"),
        pl.col("variant").n_unique().alias("n_variants"),
    )
    several = int((first["n_variants"] > 1).sum())
    exp = exp.join(first.select("user_id", "user_variant"), on="user_id").filter(
        pl.col("variant") == pl.col("user_variant")
    )
    users = first.select("user_id", pl.col("user_variant").alias("variant"), "first_ts").join(
        exp.group_by("user_id").agg(pl.len().alias("exposures")), on="user_id", how="left"
    )

    imp_all = impressions.select(
        pl.col("recommendation_id").cast(pl.String),
        pl.col("position").cast(pl.Int64),
        pl.col("item_id").cast(pl.String),
    )
    imps = imp_all.join(
        exp.select("recommendation_id", "user_id", pl.col("ts").alias("imp_ts")),
        on="recommendation_id",
        how="inner",
    ).with_row_index("imp_key")
    left_out = imp_all.height - imps.height
    open_window = int((imps["imp_ts"] > params.now - window_s).sum())

    evs = (
        events.select(
            pl.col("user_id").cast(pl.String),
            pl.col("item_id").cast(pl.String),
            pl.col("type").cast(pl.String),
            pl.col("ts").cast(pl.Float64),
            pl.col("recommendation_id").cast(pl.String),
        )
        .filter(pl.col("type").is_in([*CLICK_TYPES, "add_to_cart", "purchase"]))
        .filter(pl.col("ts").is_not_null() & pl.col("item_id").is_not_null())
        .join(users.select("user_id", "first_ts"), on="user_id", how="inner")
        .with_columns(
            pl.when(pl.col("type").is_in(list(CLICK_TYPES)))
            .then(pl.lit("click"))
            .otherwise(pl.col("type"))
            .alias("kind")
        )
        .with_row_index("event_idx")
    )
    price = (
        prices.select(pl.col("item_id").cast(pl.String), pl.col("price").cast(pl.Float64))
        .filter(pl.col("item_id").is_not_null())
        .unique(subset="item_id", keep="first")
    )

    attributed = _attribute(evs, imps, window_s)

    # per impression: at most one click, one cart, one purchase
    marks = attributed.select("imp_key", "kind").unique()
    per_imp = marks.join(imps.select("imp_key", "user_id", "item_id"), on="imp_key").join(
        price, on="item_id", how="left"
    )
    per_user_attr = per_imp.group_by("user_id").agg(
        (pl.col("kind") == "click").sum().alias("clicked"),
        (pl.col("kind") == "add_to_cart").sum().alias("carted"),
        (pl.col("kind") == "purchase").sum().alias("purchased"),
        pl.when(pl.col("kind") == "purchase")
        .then(pl.col("price").fill_null(0.0))
        .otherwise(0.0)
        .sum()
        .alias("revenue"),
    )
    per_user_total = (
        evs.filter((pl.col("kind") == "purchase") & (pl.col("ts") >= pl.col("first_ts")))
        .join(price, on="item_id", how="left")
        .group_by("user_id")
        .agg(
            pl.len().alias("purchases_total"),
            pl.col("price").fill_null(0.0).sum().alias("revenue_total"),
        )
    )
    per_user_imps = imps.group_by("user_id").agg(pl.len().alias("impressions"))
    table = (
        users.join(per_user_imps, on="user_id", how="left")
        .join(per_user_attr, on="user_id", how="left")
        .join(per_user_total, on="user_id", how="left")
        .with_columns(
            pl.col("exposures", "impressions", "clicked", "carted", "purchased", "purchases_total")
            .fill_null(0)
            .cast(pl.Int64),
            pl.col("revenue", "revenue_total").fill_null(0.0).cast(pl.Float64),
        )
    )

    results = []
    for v in params.variants:
        part = table.filter(pl.col("variant") == v)
        imp_arr = part["impressions"].to_numpy().astype(np.float64)
        metrics: dict[str, Estimate] = {
            "ctr": ratio_estimate(part["clicked"].to_numpy().astype(np.float64), imp_arr),
            "add_to_cart": ratio_estimate(part["carted"].to_numpy().astype(np.float64), imp_arr),
            "conversion": mean_estimate((part["purchased"].to_numpy() > 0).astype(np.float64)),
            "revenue": mean_estimate(part["revenue"].to_numpy()),
            "conversion_total": mean_estimate(
                (part["purchases_total"].to_numpy() > 0).astype(np.float64)
            ),
            "revenue_total": mean_estimate(part["revenue_total"].to_numpy()),
        }
        results.append(
            VariantResult(
                name=v,
                users=part.height,
                exposures=int(part["exposures"].sum()),
                impressions=int(imp_arr.sum()),
                metrics=metrics,
            )
        )

    control = results[0]
    lifts = tuple(
        Lift(
            variant=t.name,
            metric=m,
            lift=relative_lift(control.metrics[m], t.metrics[m]),
            difference=difference(control.metrics[m], t.metrics[m]),
            p_value=sequential_p(control.metrics[m], t.metrics[m], effect_sd),
        )
        for t in results[1:]
        for m in METRICS
    )
    srm = srm_test([r.users for r in results], params.shares)
    decision, reason = _decide(params, tuple(results), lifts, srm)
    notes = DataNotes(
        exposures_unknown_variant=unknown_variant,
        users_in_several_variants=several,
        impressions_left_out=left_out,
        impressions_in_open_window=open_window,
        attributed_events=attributed.height,
        events=evs.height,
    )
    return ExperimentReport(
        name=name,
        parameters=params,
        variants=tuple(results),
        lifts=lifts,
        srm=srm,
        decision=decision,
        reason=reason,
        notes=notes,
    )


def _attribute(evs: pl.DataFrame, imps: pl.DataFrame, window_s: float) -> pl.DataFrame:
    """Pairs ``(event_idx, imp_key, kind)``: each event attributed to at most one impression."""
    in_window = (pl.col("imp_ts") <= pl.col("ts")) & (pl.col("ts") <= pl.col("imp_ts") + window_s)
    # 1. events naming the answer: that answer's impression of the item, if it qualifies
    named_imps = (
        imps.sort("position")
        .unique(subset=["recommendation_id", "item_id"], keep="first")
        .select(
            "recommendation_id", "item_id", "imp_key", pl.col("user_id").alias("imp_user"), "imp_ts"
        )
    )
    named = (
        evs.filter(pl.col("recommendation_id").is_not_null())
        .join(named_imps, on=["recommendation_id", "item_id"], how="inner")
        .filter((pl.col("user_id") == pl.col("imp_user")) & in_window)
        .select("event_idx", "imp_key", "kind")
    )
    # 2. the rest: the latest impression of the item to the user at or before the event
    rest = evs.join(named.select("event_idx"), on="event_idx", how="anti").sort("ts")
    right = imps.select("user_id", "item_id", "imp_ts", "imp_key").sort("imp_ts")
    latest = (
        rest.join_asof(
            right,
            left_on="ts",
            right_on="imp_ts",
            by=["user_id", "item_id"],
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col("imp_key").is_not_null() & in_window)
        .select("event_idx", "imp_key", "kind")
    )
    return pl.concat([named, latest], how="vertical")


def _check_params(
    variants: Sequence[str],
    shares: Sequence[float],
    primary: str,
    alpha: float,
    window_s: float,
    min_users: int,
    effect_sd: float,
    now: float | None,
    exposures: pl.DataFrame,
) -> ReportParameters:
    names = tuple(variants)
    if not names or any(not isinstance(v, str) or not v for v in names):
        raise InvalidInputError(f"variants must be non-empty strings, got {list(variants)!r}")
    if len(set(names)) != len(names):
        raise InvalidInputError(f"variant names must be unique, got {list(names)!r}")
    sh = tuple(float(s) for s in shares)
    if len(sh) != len(names):
        raise InvalidInputError(
            f"shares must give one value per variant ({len(names)}), got {list(shares)!r}"
        )
    if any(not math.isfinite(s) or s <= 0 for s in sh):
        raise InvalidInputError(f"shares must be positive numbers, got {list(shares)!r}")
    if primary not in METRICS:
        raise InvalidInputError(f"primary must be one of {list(METRICS)}, got {primary!r}")
    if not (isinstance(alpha, int | float) and 0.0 < alpha < 1.0):
        raise InvalidInputError(f"alpha must be in (0, 1), got {alpha!r}")
    if not (isinstance(window_s, int | float) and math.isfinite(window_s) and window_s > 0):
        raise InvalidInputError(f"window_s must be a positive number of seconds, got {window_s!r}")
    if isinstance(min_users, bool) or not isinstance(min_users, int) or min_users < 0:
        raise InvalidInputError(f"min_users must be a non-negative integer, got {min_users!r}")
    if not (isinstance(effect_sd, int | float) and math.isfinite(effect_sd) and effect_sd > 0):
        raise InvalidInputError(f"effect_sd must be a positive number, got {effect_sd!r}")
    if now is None:
        now = time.time()
    elif not math.isfinite(now):
        raise InvalidInputError(f"now must be a finite timestamp, got {now!r}")
    k = len(names)
    return ReportParameters(
        variants=names,
        shares=sh,
        primary=primary,
        alpha=float(alpha),
        threshold=float(alpha) / max(k - 1, 1),
        window_s=float(window_s),
        min_users=min_users,
        effect_sd=float(effect_sd),
        srm_threshold=SRM_P_THRESHOLD,
        now=float(now),
    )


def _decide(
    params: ReportParameters,
    results: tuple[VariantResult, ...],
    lifts: tuple[Lift, ...],
    srm: SrmResult,
) -> tuple[str, str]:
    """The decision string and its reason (see :class:`ExperimentReport`)."""
    if len(results) < 2:
        return NO_DECISION, "There is only one variant: nothing to compare."
    short = [r for r in results if r.users < params.min_users]
    if short:
        listed = ", ".join(f"{r.name} has {r.users}" for r in short)
        return NO_DECISION, (
            f"Too few users: {listed}, of the {params.min_users} each variant needs."
        )
    if srm.flagged:
        return NO_DECISION, (
            f"Sample ratio mismatch (p = {_p(srm.p_value)}): the users per variant are not the "
            "configured split, so assignment or logging is broken and the comparison may be "
            "biased. Fix that before trusting any difference."
        )
    primary = [lf for lf in lifts if lf.metric == params.primary]
    significant = [
        lf
        for lf in primary
        if lf.p_value is not None
        and lf.p_value <= params.threshold
        and lf.difference.value is not None
        and lf.difference.value != 0.0
    ]
    better = [lf for lf in significant if (lf.difference.value or 0.0) > 0]
    worse = [lf for lf in significant if (lf.difference.value or 0.0) < 0]
    cut = f"p <= {params.threshold:.4g}"
    if better:
        best = max(better, key=lambda lf: lf.difference.value or 0.0)
        extra = (
            f" Also worse than the control: {', '.join(w.variant for w in worse)}." if worse else ""
        )
        return f"winner: {best.variant}", (
            f"{best.variant} beats {params.variants[0]} on {params.primary} by "
            f"{_pct(best.lift.value, signed=True)} (always-valid p = {_p(best.p_value)}, "
            f"{cut}).{extra}"
        )
    if worse:
        worst = min(worse, key=lambda lf: lf.difference.value or 0.0)
        return f"loser: {worst.variant}", (
            f"{worst.variant} is worse than {params.variants[0]} on {params.primary} by "
            f"{_pct(worst.lift.value, signed=True)} (always-valid p = {_p(worst.p_value)}, "
            f"{cut})."
        )
    best_p = min((lf.p_value for lf in primary if lf.p_value is not None), default=None)
    return NO_DECISION, (
        f"Not significant yet: the smallest always-valid p on {params.primary} is "
        f"{_p(best_p)}, a decision needs {cut}. Keep the experiment running (looking again "
        "is allowed)."
    )


def _num(x: float | None) -> float | None:
    """``x`` as a JSON-safe float: ``None`` for None, NaN and infinities."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _estimate_dict(est: Estimate) -> dict[str, Any]:
    return {
        "value": _num(est.value),
        "low": _num(est.low),
        "high": _num(est.high),
        "se": _num(est.se),
        "n": est.n,
    }


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{100 * x:+.2f}%" if signed else f"{100 * x:.2f}%"


def _fmt(x: float | None, metric: str) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return _pct(x) if metric in RATE_METRICS else f"{x:.4f}"


def _interval(est: Estimate, metric: str) -> str:
    if est.low is None or est.high is None:
        return "—"
    if metric == "lift":
        return f"[{_pct(est.low, signed=True)}, {_pct(est.high, signed=True)}]"
    return f"[{_fmt(est.low, metric)}, {_fmt(est.high, metric)}]"


def _p(p: float | None) -> str:
    if p is None:
        return "—"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def _srm_line(srm: SrmResult, variants: Sequence[str]) -> str:
    obs = "/".join(str(o) for o in srm.observed)
    exp = "/".join(f"{e:.0f}" for e in srm.expected)
    head = f"sample ratio ({'/'.join(variants)}): {obs} users, expected {exp}"
    if srm.chi2 is None:
        return f"{head}; not tested (no users or one variant)"
    verdict = (
        f"**flagged** (p < {srm.threshold:g}): check assignment and logging"
        if srm.flagged
        else "ok"
    )
    return f"{head}; chi² = {srm.chi2:.2f}, p = {_p(srm.p_value)}: {verdict}"
