"""The quality gate: a time holdout, the metrics of two bundles on it, and the decision.

Pure evaluation, no files: the nightly job (``jobs/nightly``) decides with it whether a candidate
may replace the current bundle (the one ``CURRENT`` names). The current bundle may have been trained
on data that overlaps the holdout, so comparing it as it is against a candidate trained without
the holdout would flatter it. The rule (see ``docs/operations.md``):

* the candidate is judged by a model of its config trained on the events **before** the holdout;
* the current bundle is judged **as it is** when its data ends before the holdout starts (it never
  saw the holdout, and it is exactly what is serving);
* when the current bundle's data reaches into the holdout, the holdout is **narrowed** to the
  events after its last event (:func:`narrow_holdout`), so it can still be judged as it is, on
  data it never saw;
* only when that leaves too few users to judge, a **replica** of the current bundle (its own config
  retrained on the same pre-holdout events) is judged instead; when its config equals the
  candidate's, the replica would be the same model, so the candidate's metrics are reused.

Users judged: holdout users who also have events before the holdout; their truth is the holdout
items they had not interacted with before (already-seen items are never recommended).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from recsys.bundle import Bundle
from recsys.evaluation import evaluate_ranker, global_time_split, history_of, truth_of
from recsys.matrix import DAY_S
from recsys.nightly.config import NightlyConfig
from recsys.serving import EventLog, HybridRecommender
from recsys.store.sqlite import UserEvent
from recsys.types import Filters

EVAL_KS = (10, 20)
EVAL_N = max(EVAL_KS)


@dataclass(frozen=True)
class Holdout:
    """Events split at one moment: ``train`` before ``cut_ts``, ``test`` from it on."""

    train: pl.DataFrame  # events before the holdout
    test: pl.DataFrame  # the holdout events
    cut_ts: float  # first holdout timestamp (epoch s)
    rule: str  # how the cut was chosen, for the report


def split_holdout(events: pl.DataFrame, config: NightlyConfig) -> Holdout:
    """Split off the most recent ``holdout_days`` (when set) or ``holdout_frac`` of events."""
    if events.height == 0:
        return Holdout(events, events, float("nan"), "no events")
    if config.holdout_days is not None:
        newest = float(events["ts"].max())  # type: ignore[arg-type]
        cut = newest - config.holdout_days * DAY_S
        test = events.filter(pl.col("ts") > cut)
        train = events.filter(pl.col("ts") <= cut)
        rule = f"events of the last {config.holdout_days:g} day(s)"
    else:
        train, test = global_time_split(events, config.holdout_frac)
        rule = f"the most recent {config.holdout_frac:.0%} of events"
    cut_ts = float(test["ts"].min()) if test.height else float("nan")  # type: ignore[arg-type]
    return Holdout(train, test, cut_ts, rule)


def narrow_holdout(events: pl.DataFrame, after_ts: float, rule: str) -> Holdout:
    """Holdout of the events strictly after ``after_ts`` (e.g. the current bundle's last event)."""
    test = events.filter(pl.col("ts") > after_ts)
    train = events.filter(pl.col("ts") <= after_ts)
    cut_ts = float(test["ts"].min()) if test.height else float("nan")  # type: ignore[arg-type]
    return Holdout(train, test, cut_ts, f"{rule}, narrowed to events newer than the current bundle")


def evaluation_set(
    holdout: Holdout, max_users: int, seed: int
) -> tuple[dict[str, set[str]], dict[str, list[UserEvent]]]:
    """Truth and pre-holdout histories of the users the gate judges.

    Returns:
        ``(truth, histories)``: user → new holdout items, and user → pre-holdout events (newest
        first). At most ``max_users`` users, a seeded sample when there are more.
    """
    train_users = set(holdout.train["user_id"].unique().to_list())
    truth = truth_of(holdout.test, train_users)
    seen: dict[str, set[str]] = {}
    relevant = holdout.train.filter(pl.col("user_id").is_in(sorted(truth)))
    for u, i in relevant.select("user_id", "item_id").iter_rows():
        seen.setdefault(u, set()).add(i)
    truth = {u: t - seen.get(u, set()) for u, t in truth.items()}
    truth = {u: t for u, t in sorted(truth.items()) if t}
    if len(truth) > max_users:
        rng = np.random.default_rng(seed)
        users = sorted(truth)
        keep = sorted(rng.choice(len(users), size=max_users, replace=False).tolist())
        truth = {users[k]: truth[users[k]] for k in keep}
    histories = history_of(relevant.filter(pl.col("user_id").is_in(sorted(truth))))
    return truth, histories


def evaluate_bundle(
    bundle: Bundle,
    truth: Mapping[str, set[str]],
    histories: Mapping[str, list[UserEvent]],
    events: EventLog | None = None,
) -> dict[str, Any]:
    """recall@k and NDCG@k (k = 10, 20) of ``bundle``'s hybrid recommender on the holdout.

    Stock is not filtered (it changes between training and judging); already-seen items are.
    ``events`` are what sources that read raw events see (the holdout's training events, as
    the served recommender sees the store): without them those sources are judged off.

    Returns:
        ``{"users": n, "recall@20": {"mean", "ci95"}, "ndcg@20": {...}, ...}``.
    """
    rec = HybridRecommender(bundle, events=events)
    filters = Filters(in_stock_only=False)

    def rank(user_id: str) -> list[str]:
        answer = rec.recommend_user(user_id, histories.get(user_id, []), n=EVAL_N, filters=filters)
        return [item.item_id for item in answer.items]

    return evaluate_ranker(rank, truth, EVAL_KS)


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict."""

    passed: bool  # True: the candidate may be published
    metric: str  # metric compared
    candidate: float  # candidate's value
    current: float | None  # the current bundle's value (None: nothing published)
    threshold: float | None  # lowest candidate value that passes
    reason: str  # one sentence for logs and the report


def decide(
    candidate: Mapping[str, Any], current: Mapping[str, Any] | None, config: NightlyConfig
) -> GateResult:
    """Compare metric summaries (as returned by :func:`evaluate_bundle`) under the tolerance.

    Args:
        candidate: the candidate's metrics.
        current: the current bundle's metrics (None: nothing is published yet).
        config: the job config (``gate_metric``, ``tolerance``, ``tolerance_mode``).
    """
    metric = config.gate_metric
    cand = float(candidate[metric]["mean"])
    if current is None:
        return GateResult(True, metric, cand, None, None, "no current bundle to compare with")
    base = float(current[metric]["mean"])
    if config.tolerance_mode == "relative":
        threshold = base * (1.0 - config.tolerance)
        allowed = f"{config.tolerance:.1%} relative"
    else:
        threshold = base - config.tolerance
        allowed = f"{config.tolerance:g} absolute"
    passed = cand >= threshold - 1e-12
    verb = "passes" if passed else "fails"
    reason = (
        f"candidate {metric} {cand:.4f} vs current {base:.4f} ({cand - base:+.4f}); tolerance "
        f"{allowed} gives a threshold of {threshold:.4f}: the candidate {verb}"
    )
    return GateResult(passed, metric, cand, base, threshold, reason)
