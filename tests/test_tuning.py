"""Tests for recsys.tuning (validation-split tuning) and the ``recsys tune`` command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys.cli import main
from recsys.config import TrainConfig, load_config
from recsys.errors import ConfigError, EmptyDataError
from recsys.home import Home
from recsys.store import Store
from recsys.tuning import BEHAVIOR_GRID, BLEND_GRID, REPEAT_GRID, TuneSettings, to_toml, tune

NO_TEXT = TrainConfig.from_dict({"text": {"enabled": False}})
EMPTY_CATALOG = pl.DataFrame(schema={"item_id": pl.String})


def _groups(rng: np.random.Generator, users: int = 40, items: int = 60) -> pl.DataFrame:
    """Two taste groups: each user buys 12 random items of their group's ``items``, over time."""
    rows = []
    for u in range(users):
        group = u % 2
        picks = rng.choice(items, size=12, replace=False)
        for t, i in enumerate(picks):
            rows.append((f"u{u}", f"g{group}-{i}", "purchase", 1.7e9 + 3600.0 * t, ""))
    return pl.DataFrame(
        rows,
        schema={
            "user_id": pl.String,
            "item_id": pl.String,
            "type": pl.String,
            "ts": pl.Float64,
            "session_id": pl.String,
        },
        orient="row",
    )


def test_tuning_runs_the_budget_and_picks_the_best_trial(rng: np.random.Generator) -> None:
    events = _groups(rng)
    settings = TuneSettings(behavior_trials=3, blend_trials=2, k=10)
    seen = []
    result = tune(events, EMPTY_CATALOG, NO_TEXT, settings=settings, on_trial=seen.append)
    assert [t.stage for t in result.trials] == ["behavior"] * 3 + ["blend"] * 2
    assert seen == result.trials
    assert [t.params for t in result.trials[:3]] == list(BEHAVIOR_GRID[:3])
    best = result.best("behavior")
    assert best.recall == max(t.recall for t in result.trials[:3])
    assert result.config.behavior.factors == best.params["factors"]
    assert result.config.hybrid.text_weight == result.best("blend").params["text_weight"]
    # held-out items come from the user's own group of 60: chance recall@10 is ~10/108
    assert best.recall > 0.15
    assert result.config.text == NO_TEXT.text  # untouched sections are kept


def test_rebuy_configs_also_tune_the_repeat_weight(rng: np.random.Generator) -> None:
    base = TrainConfig.from_dict(
        {"text": {"enabled": False}, "hybrid": {"exclude_seen": False, "exclude_purchased": False}}
    )
    settings = TuneSettings(behavior_trials=1, blend_trials=1, k=10)
    result = tune(_groups(rng, users=20), EMPTY_CATALOG, base, settings=settings)
    blend = [t.params for t in result.trials if t.stage == "blend"]
    assert blend == [{**BLEND_GRID[0], "repeat_weight": r} for r in REPEAT_GRID]
    assert result.config.hybrid.exclude_seen is False


def test_too_little_data_is_a_clear_error() -> None:
    one = pl.DataFrame(
        {"user_id": ["a"], "item_id": ["x"], "type": ["view"], "ts": [1.0], "session_id": [""]}
    )
    with pytest.raises(EmptyDataError, match="validation"):
        tune(one, EMPTY_CATALOG, NO_TEXT)


@pytest.mark.parametrize(
    "kwargs", [{"behavior_trials": 0}, {"blend_trials": 99}, {"val_frac": 1.0}, {"k": 0}]
)
def test_settings_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        TuneSettings(**kwargs)  # type: ignore[arg-type]


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
    path.write_text(to_toml(config), encoding="utf-8")
    assert load_config(path) == config


def test_tune_command_writes_a_config_train_accepts(
    home: Home,
    store: Store,
    rng: np.random.Generator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store.add_events(_groups(rng, users=20))
    base = tmp_path / "base.toml"
    base.write_text("[text]\nenabled = false\n", encoding="utf-8")
    out = tmp_path / "best.toml"
    main(
        [
            "--home",
            str(home.root),
            "tune",
            "--config",
            str(base),
            "--out",
            str(out),
            "--behavior-trials",
            "2",
            "--blend-trials",
            "1",
        ]
    )
    printed = capsys.readouterr().out
    assert "recall@20" in printed and f"wrote {out}" in printed
    assert printed.count("\nbehavior ") == 2 and printed.count("\nblend ") == 1
    tuned = load_config(out)
    assert tuned.text.enabled is False
    assert {"factors": tuned.behavior.factors} in [
        {"factors": g["factors"]} for g in BEHAVIOR_GRID[:2]
    ]
    main(["--home", str(home.root), "train", "--config", str(out)])
    assert "published" in capsys.readouterr().out


def test_tune_command_without_events_fails_cleanly(
    home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--home", str(home.root), "tune"])
    assert info.value.code == 1
    assert "no events" in capsys.readouterr().err
