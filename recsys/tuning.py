"""Tune our model on a validation split carved from the training events (``recsys tune``).

Two stages with a fixed, small budget:

1. **behavior**: the first ``behavior_trials`` configs of :data:`BEHAVIOR_GRID` (ALS factors,
   regularization, alpha) are fitted on the inner training part and scored, behavior only, on every
   validation user.
2. **blend**: with the best behavior config, one bundle is trained and the first ``blend_trials``
   weight sets of :data:`BLEND_GRID` (text / popularity / recent / repeat weights) are served
   through :class:`~recsys.hybrid.HybridRecommender` to a seeded sample of at most
   ``max_val_users`` validation users.

The validation split is per user, by time: the last ``val_frac`` of each user's events (see
:func:`recsys.evaluation.temporal_split`). The test data of a benchmark is never seen here.

Example:
    >>> result = tune(events, catalog, TrainConfig(), encoder=TextEncoder())
    >>> result.config.behavior.factors, result.best("blend").params
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import polars as pl

from recsys.config import TrainConfig
from recsys.errors import ConfigError, EmptyDataError
from recsys.evaluation import history_of, ranking_metrics, temporal_split, truth_of
from recsys.hybrid import HybridRecommender
from recsys.matrix import build_interactions
from recsys.models import make_model, top_n
from recsys.pipeline import build_bundle
from recsys.text import EmbeddingCache, TextEncoder

log = logging.getLogger(__name__)

Stage = Literal["behavior", "blend"]

# Ordered so that any prefix is a reasonable spread (the budget takes the first N).
BEHAVIOR_GRID: tuple[dict[str, Any], ...] = (
    {"factors": 32, "regularization": 0.5, "alpha": 1.0},
    {"factors": 16, "regularization": 0.5, "alpha": 1.0},
    {"factors": 64, "regularization": 0.5, "alpha": 1.0},
    {"factors": 32, "regularization": 0.05, "alpha": 2.0},
    {"factors": 32, "regularization": 5.0, "alpha": 1.0},
    {"factors": 64, "regularization": 0.05, "alpha": 5.0},
    {"factors": 128, "regularization": 1.0, "alpha": 1.0},
    {"factors": 16, "regularization": 0.05, "alpha": 0.5},
)
BLEND_GRID: tuple[dict[str, Any], ...] = (
    {"text_weight": 0.2, "popularity_weight": 0.0, "recent_weight": 2.0},
    {"text_weight": 0.1, "popularity_weight": 0.0, "recent_weight": 1.0},
    {"text_weight": 0.2, "popularity_weight": 0.0, "recent_weight": 0.0},
    {"text_weight": 0.0, "popularity_weight": 0.0, "recent_weight": 2.0},
    {"text_weight": 0.1, "popularity_weight": 0.1, "recent_weight": 2.0},
    {"text_weight": 0.3, "popularity_weight": 0.1, "recent_weight": 4.0},
)
REPEAT_GRID: tuple[float, ...] = (1.0, 3.0, 0.3)  # extra repeat weights tried when re-buying


@dataclass(frozen=True)
class TuneSettings:
    """Budget and protocol of a tuning run."""

    val_frac: float = 0.2  # share of each user's latest training events used for validation
    behavior_trials: int = 6  # behavior configs tried (a prefix of BEHAVIOR_GRID)
    blend_trials: int = 6  # blend weight sets tried (a prefix of BLEND_GRID, x REPEAT_GRID)
    max_val_users: int = 300  # blend stage: seeded sample of validation users served
    k: int = 20  # the metric optimized is recall@k
    seed: int = 42  # user sampling

    def __post_init__(self) -> None:
        if not 0 < self.val_frac < 1:
            raise ConfigError(f"val_frac={self.val_frac!r} is not allowed: must be in (0, 1)")
        for name, top in (
            ("behavior_trials", len(BEHAVIOR_GRID)),
            ("blend_trials", len(BLEND_GRID)),
        ):
            value = getattr(self, name)
            if not 1 <= value <= top:
                raise ConfigError(f"{name}={value!r} is not allowed: must be in [1, {top}]")
        if self.max_val_users < 1 or self.k < 1:
            raise ConfigError("max_val_users and k must be >= 1")


@dataclass(frozen=True)
class Trial:
    """One evaluated config on the validation split."""

    stage: Stage
    params: dict[str, Any]  # the fields changed (behavior.* or hybrid.*)
    recall: float  # mean recall@k over validation users
    ndcg: float  # mean NDCG@k
    users: int  # validation users evaluated
    seconds: float  # fit + evaluation time


@dataclass(frozen=True)
class TuneResult:
    """The tuned config and every trial, in the order run."""

    config: TrainConfig
    trials: list[Trial] = field(default_factory=list)
    k: int = 20

    def best(self, stage: Stage) -> Trial:
        """The best trial of a stage (highest recall, then NDCG, then earliest)."""
        trials = [t for t in self.trials if t.stage == stage]
        return max(trials, key=lambda t: (t.recall, t.ndcg, -self.trials.index(t)))


def _metrics(
    lists: dict[str, list[str]], truth: dict[str, set[str]], k: int
) -> tuple[float, float]:
    rows = [ranking_metrics(lists.get(u, []), t, (k,)) for u, t in truth.items() if t]
    if not rows:
        return 0.0, 0.0
    return (
        float(np.mean([r[f"recall@{k}"] for r in rows])),
        float(np.mean([r[f"ndcg@{k}"] for r in rows])),
    )


def _behavior_lists(
    inner: pl.DataFrame,
    catalog: pl.DataFrame,
    config: TrainConfig,
    users: Sequence[str],
    k: int,
) -> dict[str, list[str]]:
    """Top-k lists of the behavior model alone (training items excluded when configured)."""
    inter = build_interactions(inner, config.matrix, item_ids=catalog["item_id"].to_list())
    model = make_model(config.behavior).fit(inter.matrix)
    exclude = config.hybrid.exclude_seen
    out: dict[str, list[str]] = {}
    for user_id in users:
        u = inter.users.index(user_id)
        if u < 0:
            continue
        row = inter.matrix[u]
        scores = model.score_items(u, row).astype(np.float64)
        if exclude:
            scores[row.indices] = -np.inf
        out[user_id] = inter.items.ids(top_n(scores, k))
    return out


def tune(
    events: pl.DataFrame,
    catalog: pl.DataFrame,
    base: TrainConfig | None = None,
    *,
    settings: TuneSettings | None = None,
    encoder: TextEncoder | None = None,
    cache: EmbeddingCache | None = None,
    on_trial: Callable[[Trial], None] | None = None,
) -> TuneResult:
    """Tune behavior hyperparameters, then blend weights, on a validation split of ``events``.

    Args:
        events: the training events (``user_id, item_id, type, ts``); a benchmark passes its
            training part only.
        catalog: catalog frame (may be empty).
        base: the config to start from (its matrix weights and filters are kept).
        settings: budget and protocol.
        encoder: text encoder for the blend stage (created when needed and text is enabled).
        cache: embedding cache (None: embed everything).
        on_trial: called after each trial (progress output).

    Returns:
        :class:`TuneResult` whose ``config`` is ``base`` with the best behavior and blend fields.

    Raises:
        EmptyDataError: if the validation split has no user known to training.
    """
    base = base or TrainConfig()
    s = settings or TuneSettings()
    inner, val = temporal_split(events, s.val_frac)
    inner_users = set(inner["user_id"].unique().to_list())
    truth = truth_of(val, inner_users)
    if not truth:
        raise EmptyDataError("no validation user has training events: too few events to tune")
    users = sorted(truth)
    trials: list[Trial] = []

    def record(trial: Trial) -> None:
        trials.append(trial)
        log.info("tune %s %s recall@%d %.4f", trial.stage, trial.params, s.k, trial.recall)
        if on_trial is not None:
            on_trial(trial)

    for params in BEHAVIOR_GRID[: s.behavior_trials]:
        start = time.perf_counter()
        cfg = replace(base, behavior=replace(base.behavior, **params))
        lists = _behavior_lists(inner, catalog, cfg, users, s.k)
        recall, ndcg = _metrics(lists, truth, s.k)
        record(Trial("behavior", params, recall, ndcg, len(truth), time.perf_counter() - start))
    best_behavior = max(
        (t for t in trials if t.stage == "behavior"), key=lambda t: (t.recall, t.ndcg)
    )
    behavior = replace(base.behavior, **best_behavior.params)
    config = replace(base, behavior=behavior)

    start = time.perf_counter()
    bundle, _ = build_bundle(inner, catalog, config, encoder=encoder, cache=cache)
    fit_s = time.perf_counter() - start
    rng = np.random.default_rng(s.seed)
    sample = (
        users
        if len(users) <= s.max_val_users
        else sorted(rng.choice(users, size=s.max_val_users, replace=False).tolist())
    )
    sample_truth = {u: truth[u] for u in sample}
    histories = history_of(inner.filter(pl.col("user_id").is_in(sample)))
    rebuy = not (base.hybrid.exclude_seen or base.hybrid.exclude_purchased)
    grid: list[dict[str, Any]] = list(BLEND_GRID[: s.blend_trials])
    if rebuy:
        grid = [{**g, "repeat_weight": r} for g in grid for r in REPEAT_GRID]
    for params in grid:
        start = time.perf_counter()
        rec = HybridRecommender(bundle, replace(base.hybrid, **params))
        lists = {
            u: [i.item_id for i in rec.recommend_user(u, histories.get(u, []), n=s.k).items]
            for u in sample
        }
        recall, ndcg = _metrics(lists, sample_truth, s.k)
        seconds = time.perf_counter() - start + fit_s / len(grid)
        record(Trial("blend", params, recall, ndcg, len(sample), seconds))
    best_blend = max((t for t in trials if t.stage == "blend"), key=lambda t: (t.recall, t.ndcg))
    config = replace(config, hybrid=replace(base.hybrid, **best_blend.params))
    return TuneResult(config=config, trials=trials, k=s.k)


def to_toml(config: TrainConfig) -> str:
    """Write a config as TOML that :func:`recsys.config.load_config` reads back.

    ``None`` has no TOML spelling: such fields are written as comments and take their default
    (which is ``None`` for every optional field of the config) when read back.
    """
    lines = [
        "# written by `recsys tune`; use with `recsys train --config FILE`",
        f"keep_versions = {config.keep_versions}",
    ]
    for section, values in config.to_dict().items():
        if not isinstance(values, dict):
            continue
        lines += ["", f"[{section}]"]
        for key, value in values.items():
            if value is None:
                lines.append(f"# {key} = (none)")
            elif isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, int | float):
                lines.append(f"{key} = {value!r}")
            else:
                escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
                lines.append(f'{key} = "{escaped}"')
    return "\n".join(lines) + "\n"
