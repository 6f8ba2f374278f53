"""Tests for recsys.tuning (validation-split tuning) and the ``recsys tune`` command."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys.cli import main
from recsys.config import TrainConfig, load_config
from recsys.errors import ConfigError, EmptyDataError, InvalidInputError
from recsys.home import Home
from recsys.store import Store
from recsys.tuning import (
    BEHAVIOR_GRID,
    BLEND_GRID,
    REPEAT_GRID,
    PairedDiff,
    Trial,
    TuneSettings,
    choose,
    paired_diff,
    to_toml,
    tune,
)

NO_TEXT = TrainConfig.from_dict({"text": {"enabled": False}})
EMPTY_CATALOG = pl.DataFrame(schema={"item_id": pl.String})
# defaults that are clearly bad on two taste groups: a 1-factor model shrunk to nothing ranks
# items by arbitrary ties, so any grid entry is better beyond the interval
BAD = TrainConfig.from_dict(
    {"text": {"enabled": False}, "behavior": {"factors": 1, "regularization": 1000.0}}
)
SCHEMA = {
    "user_id": pl.String,
    "item_id": pl.String,
    "type": pl.String,
    "ts": pl.Float64,
    "session_id": pl.String,
}


def _groups(rng: np.random.Generator, users: int = 40, items: int = 60) -> pl.DataFrame:
    """Two taste groups: each user buys 12 random items of their group's ``items``, over time."""
    rows = []
    for u in range(users):
        group = u % 2
        picks = rng.choice(items, size=12, replace=False)
        for t, i in enumerate(picks):
            rows.append((f"u{u}", f"g{group}-{i}", "purchase", 1.7e9 + 3600.0 * t, ""))
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def _unreachable(rng: np.random.Generator, users: int = 20) -> pl.DataFrame:
    """``_groups``, but each user's last 3 events (their validation part) are items nobody else
    has and no one had before: no config can recommend them, so every config scores recall 0 for
    every user and no candidate can beat the defaults."""
    events = _groups(rng, users=users).sort(["user_id", "ts"])
    late = (
        events.with_columns(pl.int_range(pl.len()).over("user_id").alias("r"))
        .filter(pl.col("r") >= 9)
        .with_columns(
            (pl.lit("new-") + pl.col("user_id") + pl.lit("-") + pl.col("r").cast(pl.String)).alias(
                "item_id"
            )
        )
        .drop("r")
    )
    early = events.with_columns(pl.int_range(pl.len()).over("user_id").alias("r")).filter(
        pl.col("r") < 9
    )
    return pl.concat([early.drop("r"), late])


def _expected_behavior(base: TrainConfig, trials: int) -> list[dict[str, object]]:
    """Grid entries that differ from the defaults (an equal one is the defaults' trial)."""
    return [
        g
        for g in BEHAVIOR_GRID[:trials]
        if replace(base.behavior, **g) != base.behavior  # type: ignore[arg-type]
    ]


# ----------------------------------------------------------------------- the paired interval
def test_paired_diff_matches_the_normal_approximation_by_hand() -> None:
    # differences 0, 0.5, 0.5: mean 1/3, sd sqrt(1/12), half-width 1.96 * sd / sqrt(3) = 0.32667
    d = paired_diff([0.5, 0.5, 1.0], [0.5, 0.0, 0.5])
    assert d.n == 3
    assert d.mean == pytest.approx(1 / 3)
    assert d.low == pytest.approx(1 / 3 - 0.98 / 3)
    assert d.high == pytest.approx(1 / 3 + 0.98 / 3)
    assert d.beats_defaults
    assert str(d) == "+0.3333 [+0.0067, +0.6600]"


def test_identical_vectors_give_a_zero_width_interval_that_keeps_the_defaults() -> None:
    v = np.array([0.0, 0.25, 1.0, 0.5])
    d = paired_diff(v, v.copy())
    assert (d.mean, d.low, d.high, d.n) == (0.0, 0.0, 0.0, 4)
    assert not d.beats_defaults


def test_one_user_is_no_evidence() -> None:
    d = paired_diff([1.0], [0.0])
    assert d.mean == 1.0 and d.low == -math.inf and d.high == math.inf
    assert not d.beats_defaults


@pytest.mark.parametrize(
    ("a", "b"), [([], []), ([1.0, 2.0], [1.0]), ([[1.0], [2.0]], [[1.0], [2.0]])]
)
def test_paired_diff_rejects_unpaired_vectors(a: list[float], b: list[float]) -> None:
    with pytest.raises(InvalidInputError, match="paired vectors"):
        paired_diff(a, b)


def _trial(recall: np.ndarray, defaults: Trial | None, name: str) -> Trial:
    return Trial(
        "blend",
        {"name": name},
        float(recall.mean()),
        0.0,
        recall.size,
        0.0,
        is_defaults=defaults is None,
        vs_defaults=None if defaults is None else paired_diff(recall, defaults.user_recall),
        user_recall=recall,
    )


def test_choose_picks_a_clearly_better_candidate_and_keeps_the_defaults_on_a_noisy_tie() -> None:
    rng = np.random.default_rng(7)
    n = 400
    base = rng.uniform(0, 1, n)
    defaults = _trial(base, None, "defaults")
    # +0.05 for every user: the interval is [+0.05, +0.05]
    better = _trial(base + 0.05, defaults, "better")
    # +0.02 on average, but +0.52 for half the users and -0.48 for the other half: sd ~0.5, so
    # the half-width is 1.96 * 0.5 / sqrt(400) ~ 0.049 and the interval spans 0
    noisy = _trial(base + np.tile([0.52, -0.48], n // 2), defaults, "noisy")
    same = _trial(base.copy(), defaults, "same")
    assert better.vs_defaults is not None and better.vs_defaults.low == pytest.approx(0.05)
    assert noisy.vs_defaults is not None
    assert noisy.vs_defaults.mean == pytest.approx(0.02)  # better on average ...
    assert noisy.vs_defaults.low == pytest.approx(
        0.02 - 1.96 * np.std([0.52, -0.48] * 200, ddof=1) / 20
    )
    assert noisy.vs_defaults.low < 0 < noisy.vs_defaults.high  # ... but not beyond the interval

    assert choose([defaults, noisy, better, same]) is better
    assert choose([defaults, noisy, same]) is None
    assert choose([defaults]) is None
    # among several that pass, the largest mean difference wins (not the first)
    best = _trial(base + 0.08, defaults, "best")
    assert choose([defaults, better, best]) is best


def test_paired_diff_str_has_signed_numbers() -> None:
    assert str(PairedDiff(0.004, -0.003, 0.011, 671)) == "+0.0040 [-0.0030, +0.0110]"


# ----------------------------------------------------------------------------- the tuning run
def test_every_trial_is_paired_with_the_stage_defaults_on_all_validation_users(
    rng: np.random.Generator,
) -> None:
    events = _groups(rng)  # 40 users x 12 events: the last 3 of each are validation
    settings = TuneSettings(behavior_trials=3, blend_trials=2, k=10)
    seen: list[Trial] = []
    result = tune(events, EMPTY_CATALOG, NO_TEXT, settings=settings, on_trial=seen.append)
    assert seen == result.trials
    assert result.val_users == 40
    # all validation users scored by default, in both stages
    assert {(t.users, t.val_users) for t in result.trials} == {(40, 40)}
    assert all(t.user_recall.shape == (40,) for t in result.trials)
    # per-user vectors are aligned on the same, sorted user ids in every trial
    assert {t.user_ids for t in result.trials} == {tuple(sorted(f"u{u}" for u in range(40)))}

    behavior = [t for t in result.trials if t.stage == "behavior"]
    assert behavior[0].is_defaults and behavior[0].vs_defaults is None
    assert behavior[0].params == {
        k: getattr(NO_TEXT.behavior, k) for k in ("factors", "regularization", "alpha")
    }
    assert [t.params for t in behavior[1:]] == _expected_behavior(NO_TEXT, 3)
    for t in behavior[1:]:
        assert t.vs_defaults == paired_diff(t.user_recall, behavior[0].user_recall)
        assert t.recall == pytest.approx(float(t.user_recall.mean()))
    # held-out items come from the user's own group of 60: chance recall@10 is ~10/108
    assert max(t.recall for t in behavior) > 0.15

    blend = [t for t in result.trials if t.stage == "blend"]
    assert blend[0].is_defaults and blend[0].config == NO_TEXT  # the full defaults, end to end
    assert all(not t.is_defaults for t in blend[1:])
    assert [t.stage for t in result.trials] == ["behavior"] * len(behavior) + ["blend"] * len(blend)
    picked = choose(blend)
    if picked is None:
        assert result.config == NO_TEXT
        assert result.decision.startswith("kept the defaults: no candidate beat them")
    else:
        assert picked.vs_defaults is not None and picked.vs_defaults.low > 0
        assert result.config == picked.config
        assert result.decision.startswith("chose ")
    assert result.decision.count("on 40 validation users") == 1
    assert result.config.text == NO_TEXT.text  # untouched sections are kept


def test_clearly_bad_defaults_are_replaced_by_a_config_that_beats_them_end_to_end(
    rng: np.random.Generator,
) -> None:
    # 100 users: enough that the gap (about +0.1 recall@10) clears the interval end to end too
    settings = TuneSettings(behavior_trials=3, blend_trials=2, k=10)
    result = tune(_groups(rng, users=100), EMPTY_CATALOG, BAD, settings=settings)
    behavior = [t for t in result.trials if t.stage == "behavior"]
    assert behavior[0].params == {
        "factors": 1,
        "regularization": 1000.0,
        "alpha": BAD.behavior.alpha,
    }
    assert len(behavior) == 4  # the defaults + the first 3 grid entries (none equals them)
    winner = result.best("behavior")
    assert not winner.is_defaults and winner.vs_defaults is not None
    assert winner.vs_defaults.low > 0
    assert result.decisions["behavior"].startswith("chose behavior.factors=")

    blend = [t for t in result.trials if t.stage == "blend"]
    assert blend[0].is_defaults and blend[0].config == BAD
    # the behavior winner with the default blend is the first candidate: it must earn its place
    assert blend[1].config == replace(BAD, behavior=winner.config.behavior)  # type: ignore[union-attr]
    chosen = result.best("blend")
    assert not chosen.is_defaults and chosen.vs_defaults is not None
    assert chosen.vs_defaults.low > 0
    assert result.config == chosen.config and result.config.behavior == winner.config.behavior  # type: ignore[union-attr]
    # the blend stage may add blend weights to the behavior winner: the sentence names them all
    assert result.decision.startswith(
        f"chose behavior.factors={result.config.behavior.factors}, behavior.regularization=0.5"
    )
    assert result.decision.endswith(
        f": recall@10 {chosen.vs_defaults} over the defaults on 100 validation users"
    )


def test_nothing_can_beat_the_defaults_so_they_are_kept(rng: np.random.Generator) -> None:
    settings = TuneSettings(behavior_trials=3, blend_trials=3)
    result = tune(_unreachable(rng), EMPTY_CATALOG, NO_TEXT, settings=settings)
    assert result.config == NO_TEXT
    for t in result.trials:
        assert t.users == 20 and t.recall == 0.0
        if not t.is_defaults:
            assert t.vs_defaults == PairedDiff(0.0, 0.0, 0.0, 20)
    assert result.best("blend").is_defaults and result.best("behavior").is_defaults
    first = _expected_behavior(NO_TEXT, 3)[0]
    label = ", ".join(f"{k}={v}" for k, v in first.items())
    assert result.decisions["behavior"] == (
        "kept the defaults: no candidate beat them beyond the 95% interval on 20 validation users "
        f"(best: {label}, recall@20 +0.0000 [+0.0000, +0.0000])"
    )
    assert result.decision.startswith(
        "kept the defaults: no candidate beat them beyond the 95% interval on 20 validation users"
    )


def test_max_val_users_caps_the_blend_stage_to_a_seeded_sample(rng: np.random.Generator) -> None:
    events = _groups(rng)
    settings = TuneSettings(behavior_trials=1, blend_trials=2, k=10, max_val_users=10)
    result = tune(events, EMPTY_CATALOG, NO_TEXT, settings=settings)
    assert {t.users for t in result.trials if t.stage == "behavior"} == {40}
    assert {(t.users, t.val_users) for t in result.trials if t.stage == "blend"} == {(10, 40)}
    assert result.decision.endswith("(a seeded sample of 10 of 40)")
    again = tune(events, EMPTY_CATALOG, NO_TEXT, settings=settings)
    assert [t.recall for t in again.trials] == [t.recall for t in result.trials]


def test_rebuy_configs_also_tune_the_repeat_weight(rng: np.random.Generator) -> None:
    base = TrainConfig.from_dict(
        {"text": {"enabled": False}, "hybrid": {"exclude_seen": False, "exclude_purchased": False}}
    )
    settings = TuneSettings(behavior_trials=1, blend_trials=1, k=10)
    result = tune(_groups(rng, users=20), EMPTY_CATALOG, base, settings=settings)
    blend = [t for t in result.trials if t.stage == "blend"]
    keys = [*BLEND_GRID[0], "repeat_weight"]
    assert blend[0].params == {k: getattr(base.hybrid, k) for k in keys}
    tried = [
        {**BLEND_GRID[0], "repeat_weight": r}
        for r in REPEAT_GRID
        if replace(base.hybrid, **BLEND_GRID[0], repeat_weight=r) != base.hybrid
    ]
    assert [t.params for t in blend if not t.is_defaults] == tried
    assert len(tried) == len(REPEAT_GRID) - (BLEND_GRID[0]["text_weight"] == 0.2)
    assert result.config.hybrid.exclude_seen is False


def test_too_little_data_is_a_clear_error() -> None:
    one = pl.DataFrame(
        {"user_id": ["a"], "item_id": ["x"], "type": ["view"], "ts": [1.0], "session_id": [""]}
    )
    with pytest.raises(EmptyDataError, match="validation"):
        tune(one, EMPTY_CATALOG, NO_TEXT)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"behavior_trials": 0},
        {"blend_trials": 99},
        {"val_frac": 1.0},
        {"k": 0},
        {"max_val_users": 0},
    ],
)
def test_settings_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        TuneSettings(**kwargs)  # type: ignore[arg-type]


def test_all_validation_users_are_the_default() -> None:
    assert TuneSettings().max_val_users is None


def test_toml_round_trips_through_load_config(tmp_path: Path) -> None:
    config = TrainConfig.from_dict(
        {
            "behavior": {"factors": 16, "regularization": 0.25},
            "hybrid": {"text_weight": 0.3},
            "matrix": {"half_life_days": 30.0},
            "text": {"model": 'odd "name"'},
        }
    )
    path = tmp_path / "tuned.toml"
    note = "kept the defaults: no candidate beat them " + "beyond the interval " * 8 + "[-0.0030]"
    text = to_toml(config, [note])
    path.write_text(text, encoding="utf-8")
    assert load_config(path) == config
    lines = text.splitlines()
    assert lines[0].startswith("# written by `recsys tune`")
    assert all(len(line) <= 98 for line in lines)
    assert _header(path) == note


# ------------------------------------------------------------------------------- the command
def _run_tune(home: Home, tmp_path: Path, *extra: str) -> Path:
    base = tmp_path / "base.toml"
    base.write_text("[text]\nenabled = false\n", encoding="utf-8")
    out = tmp_path / "best.toml"
    main(["--home", str(home.root), "tune", "--config", str(base), "--out", str(out), *extra])
    return out


def _header(path: Path) -> str:
    """The written config's header comment, unwrapped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    head = lines[1 : next(i for i, line in enumerate(lines) if not line.startswith("#"))]
    return " ".join(line.lstrip("#").strip() for line in head)


def test_tune_command_writes_a_config_train_accepts(
    home: Home,
    store: Store,
    rng: np.random.Generator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store.add_events(_groups(rng, users=20))
    out = _run_tune(home, tmp_path, "--behavior-trials", "2", "--blend-trials", "1")
    printed = capsys.readouterr().out
    assert "recall@20" in printed and "vs defaults [95% interval]" in printed
    assert f"wrote {out}" in printed
    # all 20 validation users scored by default, shown as scored/total on every row
    rows = [line for line in printed.splitlines() if re.match(r"(behavior|blend) +\d", line)]
    assert rows and all(" 20/20 " in line for line in rows)
    assert sum(line.startswith("behavior ") for line in rows) == 1 + len(
        _expected_behavior(NO_TEXT, 2)
    )
    assert "(the defaults)" in rows[0] and "(defaults) factors=" in rows[0]
    tuned = load_config(out)
    assert tuned.text.enabled is False
    final = printed.splitlines()[-2]
    assert final.startswith("result (served end to end, against the defaults): ")
    assert final.endswith("on 20 validation users") or "kept the defaults" in final
    assert final.split(": ", 1)[1] in _header(out)
    main(["--home", str(home.root), "train", "--config", str(out)])
    assert "published" in capsys.readouterr().out


def test_tune_command_keeps_the_defaults_and_says_why_in_the_header(
    home: Home,
    store: Store,
    rng: np.random.Generator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store.add_events(_unreachable(rng, users=20))
    out = _run_tune(home, tmp_path, "--behavior-trials", "2", "--blend-trials", "2")
    printed = capsys.readouterr().out
    assert load_config(out) == NO_TEXT  # the defaults passed in, unchanged
    kept = (
        "kept the defaults: no candidate beat them beyond the 95% interval on 20 validation users"
    )
    last = printed.splitlines()[-2]
    assert last.startswith(f"result (served end to end, against the defaults): {kept} (best: ")
    assert last.endswith(", recall@20 +0.0000 [+0.0000, +0.0000])")
    header = _header(out)
    assert header.startswith(
        "behavior stage (behavior model alone, the blend builds on its pick): "
    )
    assert f"result (served end to end, against the defaults): {kept}" in header
    assert last in header


def test_tune_command_without_events_fails_cleanly(
    home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--home", str(home.root), "tune"])
    assert info.value.code == 1
    assert "no events" in capsys.readouterr().err
