"""Tune our model on a validation split carved from the training events (``recsys tune``).

Two stages with a fixed, small budget, each comparing its candidates with the **defaults** (the
config passed in, e.g. :class:`~recsys.config.TrainConfig`'s built-in values) on the same users:

1. **behavior**: the defaults' behavior model and the first ``behavior_trials`` configs of
   :data:`BEHAVIOR_GRID` (ALS factors, regularization, alpha) are fitted on the inner training
   part and scored, behavior only, on every validation user.
2. **blend**: the defaults are served end to end through
   :class:`~recsys.serving.HybridRecommender`, then the candidates: the behavior-stage winner with
   the default blend (when the behavior stage changed anything) and the first ``blend_trials``
   weight sets of :data:`BLEND_GRID` (text / popularity / recent, x :data:`REPEAT_GRID` when
   re-buying is allowed) on the behavior-stage winner. All validation users are served unless
   ``max_val_users`` caps them (a seeded sample).

**Keeping the defaults unless beaten.** Each candidate's per-user recall@k is paired with the
defaults' on the same users (:func:`paired_diff`): the mean difference and its 95% interval. A
candidate may replace the defaults only when the interval's lower bound is above 0; among those
the highest mean difference wins (:func:`choose`), otherwise the defaults stay.

**How the stages chain.** The behavior stage's winner (by the same rule, on the behavior-only
metric) only decides which behavior model the blend stage builds on. The blend stage compares
every candidate with the *full* defaults (default behavior model and default blend), not with the
behavior winner: a better behavior-only list does not guarantee a better served list (the blend
adds text, recent-events and popularity sources), so the behavior winner with the default blend
is itself a blend-stage candidate and must earn its place. The written config is therefore always
either the defaults or a config shown better than the defaults, end to end, beyond the interval.
The cost is one extra model fit when the behavior stage changed anything. Blend weights are not
tried on the default behavior model when the behavior stage picked another one (budget).

The validation split is per user, by time: the last ``val_frac`` of each user's events (see
:func:`recsys.evaluation.temporal_split`). The test data of a benchmark is never seen here.

Example:
    >>> result = tune(events, catalog, TrainConfig(), encoder=TextEncoder())
    >>> result.decision  # 'kept the defaults: ...' or 'chose ...'
    >>> result.config  # the defaults, or the config that beat them
"""

from __future__ import annotations

import logging
import math
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from recsys.bundle import Bundle
from recsys.config import BehaviorConfig, TrainConfig
from recsys.errors import ConfigError, EmptyDataError, InvalidInputError
from recsys.evaluation import history_of, ranking_metrics, temporal_split, truth_of
from recsys.matrix import build_interactions
from recsys.models import make_model, top_n
from recsys.serving import FrameEvents, HybridRecommender
from recsys.text import EmbeddingCache, TextEncoder
from recsys.training import build_bundle

log = logging.getLogger(__name__)

Stage = Literal["behavior", "blend"]

Z95 = 1.96  # two-sided 95% quantile of the normal distribution

# Ordered so that any prefix is a reasonable spread (the budget takes the first N). An entry equal
# to the defaults is not fitted twice: the defaults' trial stands for it.
BEHAVIOR_GRID: tuple[dict[str, Any], ...] = (
    # around the defaults (factors 32, regularization 0.5, alpha 0.25); regularization 8 was
    # better still for ALS on the ML-100K validation split (benchmarks/README.md, ALS objective)
    {"factors": 32, "regularization": 0.5, "alpha": 0.25},
    {"factors": 16, "regularization": 0.5, "alpha": 0.25},
    {"factors": 64, "regularization": 0.5, "alpha": 0.25},
    {"factors": 32, "regularization": 8.0, "alpha": 0.25},
    {"factors": 32, "regularization": 0.5, "alpha": 1.0},
    {"factors": 32, "regularization": 2.0, "alpha": 0.1},
    {"factors": 128, "regularization": 1.0, "alpha": 0.25},
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
    # blend stage: None serves every validation user (the default: a sample of 300 picked a
    # config that lost on test); a number caps them to a seeded sample of that size, for speed
    max_val_users: int | None = None
    k: int = 20  # the metric compared is recall@k (per user, paired with the defaults)
    seed: int = 42  # user sampling when max_val_users caps the blend stage

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
        if self.max_val_users is not None and self.max_val_users < 1:
            raise ConfigError(
                f"max_val_users={self.max_val_users!r} is not allowed: must be >= 1 or None (all)"
            )
        if self.k < 1:
            raise ConfigError(f"k={self.k!r} is not allowed: must be >= 1")


@dataclass(frozen=True)
class PairedDiff:
    """Mean per-user difference (candidate - defaults) and its 95% interval.

    ``low > 0`` means the candidate is better than the defaults beyond the interval.
    """

    mean: float  # mean over users of candidate - defaults
    low: float  # mean - 1.96 * sd / sqrt(n); -inf when n < 2 (no spread can be measured)
    high: float  # mean + 1.96 * sd / sqrt(n); +inf when n < 2
    n: int  # users paired

    @property
    def beats_defaults(self) -> bool:
        """True when the whole interval is above 0."""
        return self.low > 0

    def __str__(self) -> str:
        return f"{self.mean:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"


def paired_diff(candidate: npt.ArrayLike, defaults: npt.ArrayLike, z: float = Z95) -> PairedDiff:
    """Paired difference of two per-user metric vectors, with a normal-approximation interval.

    The differences ``d = candidate - defaults`` are taken user by user (both vectors must list
    the same users in the same order), and the interval is ``mean(d) ± z · sd(d) / sqrt(n)``
    with the sample standard deviation (``ddof=1``): the normal approximation of the mean over
    users, fair for the hundreds of validation users a tuning run has (per-user recall is bounded,
    so the central limit theorem applies quickly). Pairing removes the between-user spread that
    both configs share, so the interval is much narrower than comparing two independent means.

    Args:
        candidate: shape ``(n,)`` per-user metric of the candidate, float.
        defaults: shape ``(n,)`` per-user metric of the defaults on the same users.
        z: normal quantile (1.96: a 95% two-sided interval).

    Returns:
        :class:`PairedDiff`; identical vectors give ``0 [0, 0]`` (not better); ``n == 1`` gives
        an infinite interval (one user is no evidence).

    Raises:
        InvalidInputError: if the vectors are empty, not 1-D or differ in length.

    Example:
        >>> str(paired_diff([0.5, 0.5, 1.0], [0.5, 0.0, 0.5]))
        '+0.3333 [+0.0067, +0.6600]'
    """
    c = np.asarray(candidate, dtype=np.float64)
    d0 = np.asarray(defaults, dtype=np.float64)
    if c.ndim != 1 or c.shape != d0.shape or c.size == 0:
        raise InvalidInputError(
            f"paired vectors must be 1-D, non-empty and of one length: got {c.shape}, {d0.shape}"
        )
    d = c - d0
    mean = float(d.mean())
    if d.size < 2:
        return PairedDiff(mean, -math.inf, math.inf, int(d.size))
    half = float(z * d.std(ddof=1) / math.sqrt(d.size))
    return PairedDiff(mean, mean - half, mean + half, int(d.size))


@dataclass(frozen=True)
class Trial:
    """One evaluated config on the validation split."""

    stage: Stage
    params: dict[str, Any]  # the fields set (behavior.* or hybrid.*); the defaults' values for them
    recall: float  # mean recall@k over the users scored
    ndcg: float  # mean NDCG@k
    users: int  # validation users scored
    seconds: float  # fit + evaluation time
    is_defaults: bool = False  # the defaults of this stage, which every candidate is compared with
    vs_defaults: PairedDiff | None = None  # recall@k difference (None for the defaults' trial)
    val_users: int = 0  # validation users in all (``users`` of them were scored)
    # the full config evaluated, the users scored and their per-user metrics in that order
    # (shape (users,), float64; the same users as the stage's defaults); left out of ==
    config: TrainConfig | None = field(default=None, compare=False, repr=False)
    user_ids: tuple[str, ...] = field(default=(), compare=False, repr=False)  # users scored
    user_recall: npt.NDArray[np.float64] = field(
        default_factory=lambda: np.zeros(0), compare=False, repr=False
    )
    user_ndcg: npt.NDArray[np.float64] = field(
        default_factory=lambda: np.zeros(0), compare=False, repr=False
    )

    def label(self) -> str:
        """``params`` as ``key=value, ...``, prefixed ``(defaults)`` for the defaults' trial."""
        text = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"(defaults) {text}" if self.is_defaults else text


@dataclass(frozen=True)
class TuneResult:
    """The tuned config, every trial in the order run, and what was decided."""

    config: TrainConfig  # the defaults, or the blend-stage candidate that beat them
    trials: list[Trial] = field(default_factory=list)
    k: int = 20
    val_users: int = 0  # validation users (users with held-out events known to training)
    # stage -> one sentence: what the stage kept or chose, and why (numbers and users)
    decisions: dict[str, str] = field(default_factory=dict)

    @property
    def decision(self) -> str:
        """The final decision (the blend stage's), e.g. ``kept the defaults: ...``."""
        return self.decisions.get("blend", "")

    def best(self, stage: Stage) -> Trial:
        """The trial a stage picked: the candidate that beat the defaults, else the defaults."""
        trials = [t for t in self.trials if t.stage == stage]
        return choose(trials) or next(t for t in trials if t.is_defaults)


def choose(trials: Sequence[Trial]) -> Trial | None:
    """The candidate that beat the defaults by the most, or None to keep the defaults.

    A candidate qualifies only when the lower bound of its paired 95% interval against the
    defaults is above 0; among those the highest mean difference wins (then the earliest).

    Args:
        trials: one stage's trials (the defaults' trial is skipped).

    Returns:
        The winning trial, or None when no candidate is better beyond the interval.
    """
    passing = [
        (t.vs_defaults.mean, -j, t)
        for j, t in enumerate(trials)
        if not t.is_defaults and t.vs_defaults is not None and t.vs_defaults.beats_defaults
    ]
    return max(passing, key=lambda x: x[:2])[2] if passing else None


def _top(trials: Sequence[Trial]) -> Trial | None:
    """The candidate with the highest mean difference, beyond the interval or not."""
    ranked = [
        (t.vs_defaults.mean, -j, t)
        for j, t in enumerate(trials)
        if not t.is_defaults and t.vs_defaults is not None
    ]
    return max(ranked, key=lambda x: x[:2])[2] if ranked else None


def _decide(trials: Sequence[Trial], base: TrainConfig, k: int) -> str:
    """One sentence: which config a stage keeps and why, with the numbers."""
    users = next(t.users for t in trials if t.is_defaults)
    picked = choose(trials)
    if picked is not None and picked.vs_defaults is not None and picked.config is not None:
        return (
            f"chose {describe_changes(base, picked.config)}: recall@{k} {picked.vs_defaults} "
            f"over the defaults on {users} validation users"
        )
    top = _top(trials)
    if top is None:
        return f"kept the defaults: no candidate to try on {users} validation users"
    return (
        f"kept the defaults: no candidate beat them beyond the 95% interval on {users} "
        f"validation users (best: {top.label()}, recall@{k} {top.vs_defaults})"
    )


def describe_changes(base: TrainConfig, config: TrainConfig) -> str:
    """The fields of ``config`` that differ from ``base``, as ``section.key=value, ...``."""
    old, new = base.to_dict(), config.to_dict()
    parts = []
    for section, values in new.items():
        if not isinstance(values, dict):
            if values != old[section]:
                parts.append(f"{section}={values}")
            continue
        parts += [f"{section}.{k}={v}" for k, v in values.items() if v != old[section][k]]
    return ", ".join(parts) or "the defaults' values"


def _per_user(
    lists: dict[str, list[str]], truth: dict[str, set[str]], users: Sequence[str], k: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per-user recall@k and NDCG@k, shape ``(len(users),)`` each, in ``users`` order.

    A user without a list (not served) scores 0, so every trial has a value for every user.
    """
    recall = np.zeros(len(users), dtype=np.float64)
    ndcg = np.zeros(len(users), dtype=np.float64)
    for j, user_id in enumerate(users):
        m = ranking_metrics(lists.get(user_id, []), truth[user_id], (k,))
        recall[j], ndcg[j] = m[f"recall@{k}"], m[f"ndcg@{k}"]
    return recall, ndcg


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
    """Tune behavior hyperparameters, then blend weights, keeping the defaults unless beaten.

    See the module docstring for the protocol: every candidate is compared with the defaults on
    the same validation users (paired, 95% interval), and the result is the defaults unless a
    blend-stage candidate is better beyond the interval.

    Args:
        events: the training events (``user_id, item_id, type, ts``); a benchmark passes its
            training part only.
        catalog: catalog frame (may be empty).
        base: the defaults: the config to start from and to beat (None: the built-in defaults).
            Its matrix weights, filters and untuned fields are kept.
        settings: budget and protocol.
        encoder: text encoder for the blend stage (created when needed and text is enabled).
        cache: embedding cache (None: embed everything).
        on_trial: called after each trial (progress output); the defaults' trial of a stage
            comes first, so each candidate arrives with its ``vs_defaults``.

    Returns:
        :class:`TuneResult` whose ``config`` is ``base`` or the blend-stage candidate that beat
        it, and whose ``decisions`` say which and why.

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
    scorer = _Scorer(truth, s.k, on_trial)
    users = sorted(truth)

    behavior_trials = _behavior_stage(scorer, inner, catalog, base, users, s)
    decisions = {"behavior": _decide(behavior_trials, base, s.k)}
    winner = choose(behavior_trials)
    behavior = base.behavior if winner is None or winner.config is None else winner.config.behavior

    if s.max_val_users is None or len(users) <= s.max_val_users:
        sample = users
    else:
        rng = np.random.default_rng(s.seed)
        sample = sorted(rng.choice(users, size=s.max_val_users, replace=False).tolist())
    blend_trials = _blend_stage(
        scorer, inner, catalog, base, behavior, sample, s, encoder=encoder, cache=cache
    )
    decisions["blend"] = _decide(blend_trials, base, s.k)
    if len(sample) < len(users):
        decisions["blend"] += f" (a seeded sample of {len(sample)} of {len(users)})"
    picked = choose(blend_trials)
    config = base if picked is None or picked.config is None else picked.config
    return TuneResult(
        config=config, trials=scorer.trials, k=s.k, val_users=len(users), decisions=decisions
    )


@dataclass
class _Scorer:
    """Turns one config's top-k lists into a :class:`Trial` paired with its stage's defaults."""

    truth: dict[str, set[str]]  # every validation user -> held-out items
    k: int
    on_trial: Callable[[Trial], None] | None
    trials: list[Trial] = field(default_factory=list)  # every trial so far, in order

    def score(
        self,
        stage: Stage,
        params: dict[str, Any],
        config: TrainConfig,
        lists: dict[str, list[str]],
        users: Sequence[str],
        seconds: float,
        defaults: Trial | None,
    ) -> Trial:
        """Score ``lists`` on ``users``; ``defaults`` None makes this the stage's defaults."""
        if defaults is not None and list(defaults.user_ids) != list(users):
            raise InvalidInputError("a candidate must be scored on the defaults' users")
        recall, ndcg = _per_user(lists, self.truth, users, self.k)
        trial = Trial(
            stage=stage,
            params=params,
            recall=float(recall.mean()),
            ndcg=float(ndcg.mean()),
            users=len(users),
            seconds=seconds,
            is_defaults=defaults is None,
            vs_defaults=None if defaults is None else paired_diff(recall, defaults.user_recall),
            val_users=len(self.truth),
            config=config,
            user_ids=tuple(users),
            user_recall=recall,
            user_ndcg=ndcg,
        )
        self.trials.append(trial)
        # debug, not info: the CLI prints every trial as a table row already
        log.debug(
            "tune %s %s recall@%d %.4f vs defaults %s",
            stage,
            params,
            self.k,
            trial.recall,
            trial.vs_defaults or "-",
        )
        if self.on_trial is not None:
            self.on_trial(trial)
        return trial


def _behavior_stage(
    scorer: _Scorer,
    inner: pl.DataFrame,
    catalog: pl.DataFrame,
    base: TrainConfig,
    users: Sequence[str],
    s: TuneSettings,
) -> list[Trial]:
    """The defaults' behavior model, then the grid entries that differ from it, behavior only."""
    keys = list(dict.fromkeys(k for g in BEHAVIOR_GRID for k in g))
    configs = [({k: getattr(base.behavior, k) for k in keys}, base)]
    for params in BEHAVIOR_GRID[: s.behavior_trials]:
        cfg = replace(base, behavior=replace(base.behavior, **params))
        if cfg.behavior != base.behavior:  # an entry equal to the defaults is their trial
            configs.append((dict(params), cfg))
    trials: list[Trial] = []
    for params, cfg in configs:
        start = time.perf_counter()
        lists = _behavior_lists(inner, catalog, cfg, users, s.k)
        seconds = time.perf_counter() - start
        defaults = trials[0] if trials else None
        trials.append(scorer.score("behavior", params, cfg, lists, users, seconds, defaults))
    return trials


def _blend_stage(
    scorer: _Scorer,
    inner: pl.DataFrame,
    catalog: pl.DataFrame,
    base: TrainConfig,
    behavior: BehaviorConfig,
    users: Sequence[str],
    s: TuneSettings,
    *,
    encoder: TextEncoder | None,
    cache: EmbeddingCache | None,
) -> list[Trial]:
    """The full defaults served end to end, then the candidates on the ``behavior`` model.

    Candidates: ``behavior`` with the default blend (when it is not the defaults' behavior), then
    the blend grid entries that differ from the default blend. All are paired with the full
    defaults, so the pick can never be a config that was not shown better than them.
    """
    histories = history_of(inner.filter(pl.col("user_id").is_in(users)))
    rebuy = not (base.hybrid.exclude_seen or base.hybrid.exclude_purchased)
    grid: list[dict[str, Any]] = list(BLEND_GRID[: s.blend_trials])
    if rebuy:
        grid = [{**g, "repeat_weight": r} for g in grid for r in REPEAT_GRID]
    default_blend = {k: getattr(base.hybrid, k) for k in dict.fromkeys(k for g in grid for k in g)}
    changed_behavior = {
        f.name: getattr(behavior, f.name)
        for f in fields(behavior)
        if getattr(behavior, f.name) != getattr(base.behavior, f.name)
    }
    candidates: list[dict[str, Any]] = []
    if changed_behavior:  # the behavior winner must beat the defaults end to end too
        candidates.append({})
    for params in grid:
        if replace(base.hybrid, **params) != base.hybrid:  # the default blend is tried already
            candidates.append(params)

    def serve(bundle: Bundle, cfg: TrainConfig) -> dict[str, list[str]]:
        rec = HybridRecommender(bundle, cfg.hybrid, events=FrameEvents(inner))
        return {
            u: [
                i.item_id
                # explain=False: the same ranking without the reasons (about half the cost)
                for i in rec.recommend_user(u, histories.get(u, []), n=s.k, explain=False).items
            ]
            for u in users
        }

    start = time.perf_counter()
    bundle, _ = build_bundle(inner, catalog, base, encoder=encoder, cache=cache)
    lists = serve(bundle, base)
    seconds = time.perf_counter() - start
    defaults = scorer.score("blend", dict(default_blend), base, lists, users, seconds, None)
    trials = [defaults]
    fit_s = 0.0
    if changed_behavior:
        start = time.perf_counter()
        tuned = replace(base, behavior=behavior)
        bundle, _ = build_bundle(inner, catalog, tuned, encoder=encoder, cache=cache)
        fit_s = time.perf_counter() - start
    for params in candidates:
        start = time.perf_counter()
        cfg = replace(base, behavior=behavior, hybrid=replace(base.hybrid, **params))
        lists = serve(bundle, cfg)
        shown = {**changed_behavior, **default_blend, **params}
        seconds = time.perf_counter() - start + fit_s / len(candidates)
        trials.append(scorer.score("blend", shown, cfg, lists, users, seconds, defaults))
    return trials


def to_toml(config: TrainConfig, notes: Sequence[str] = ()) -> str:
    """Write a config as TOML that :func:`recsys.config.load_config` reads back.

    ``None`` has no TOML spelling: such fields are written as comments and take their default
    (which is ``None`` for every optional field of the config) when read back.

    Args:
        config: the config to write.
        notes: sentences for the header comment (e.g. :attr:`TuneResult.decisions`), wrapped.

    Returns:
        The TOML text.
    """
    lines = ["# written by `recsys tune`; use with `recsys train --config FILE`"]
    for note in notes:
        lines += textwrap.wrap(
            note,
            width=98,
            initial_indent="# ",
            subsequent_indent="#   ",
            break_long_words=False,
            break_on_hyphens=False,  # keep "-0.0030" and "end-to-end" whole
        )
    lines.append(f"keep_versions = {config.keep_versions}")
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
