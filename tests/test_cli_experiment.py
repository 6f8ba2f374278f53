"""``recsys experiment``: create, list, simulate, status, report and stop from the command line."""

from __future__ import annotations

import json

import polars as pl
import pytest

from recsys.cli import main
from recsys.config import TrainConfig
from recsys.home import Home
from recsys.store import Store
from recsys.text import TextEncoder
from recsys.training import train


@pytest.fixture
def trained(
    home: Home,
    store: Store,
    shop: tuple[pl.DataFrame, pl.DataFrame],
    encoder: TextEncoder,
    monkeypatch: pytest.MonkeyPatch,
) -> Home:
    events, catalog = shop
    store.upsert_items(catalog)
    store.add_events(events)
    train(home, TrainConfig.from_dict({"behavior": {"factors": 8}}), store=store, encoder=encoder)
    # the simulate command's service reuses the session's loaded text model
    monkeypatch.setattr("recsys.service.snapshots.TextEncoder", lambda *a, **k: encoder)
    return home


def _run(home: Home, *args: str) -> None:
    main(["--home", str(home.root), *args])


def _fails(home: Home, *args: str) -> int:
    with pytest.raises(SystemExit) as info:
        _run(home, *args)
    return int(info.value.code)  # type: ignore[arg-type]


def test_the_experiment_commands(
    trained: Home, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    _run(
        trained,
        "experiment",
        "create",
        "ab",
        "--variant",
        "control=current",
        "--variant",
        "pop=holdout=popular",
        "--traffic",
        "40/60",
        "--metric",
        "ctr",
        "--min-users",
        "2",
    )
    out = capsys.readouterr().out
    assert "experiment ab started" in out and "holdout=popular" in out and "60.0%" in out
    _run(trained, "experiment", "list")
    assert "ab: running; control 40%, pop 60%; decides on ctr" in capsys.readouterr().out
    assert _fails(trained, "experiment", "simulate") == 2  # stored events need --yes
    assert "--yes" in capsys.readouterr().err
    _run(trained, "experiment", "simulate", "--rounds", "2", "--shoppers", "8", "-n", "3", "--yes")
    out = capsys.readouterr().out
    assert "round 2/2" in out
    _run(trained, "experiment", "status", "ab", "--json")
    status = json.loads(capsys.readouterr().out)
    users = {v["name"]: v["users"] for v in status["variants"]}
    assert sum(users.values()) == 8  # every simulated shopper was exposed once per round
    _run(trained, "experiment", "report", "ab")
    folder = trained.root / "reports" / "experiments"
    assert json.loads((folder / "ab.json").read_text())["variants"]
    assert (folder / "ab.png").read_bytes().startswith(b"\x89PNG")
    assert "# Experiment ab" in (folder / "ab.md").read_text()
    _run(trained, "experiment", "stop", "ab")
    assert "stopped" in capsys.readouterr().out


def test_experiment_mistakes_are_usage_errors(
    trained: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _fails(trained, "experiment", "create", "x", "--variant", "a=current") == 2
    assert "at least two variants" in capsys.readouterr().err
    assert _fails(trained, "experiment", "status", "nope") == 2
    assert _fails(trained, "experiment", "simulate", "--yes") == 2
    assert "no experiment is running" in capsys.readouterr().err
    bad = ("--variant", "a=current", "--variant", "b=bundle=v0")
    assert _fails(trained, "experiment", "create", "x", *bad) == 2
    assert "no bundle version" in capsys.readouterr().err


def test_a_fixed_salt_assigns_as_before(trained: Home, capsys: pytest.CaptureFixture[str]) -> None:
    from recsys.experiments.spec import make_experiment

    variants = ("--variant", "control=current", "--variant", "pop=holdout=popular")
    _run(trained, "experiment", "create", "ab", *variants, "--salt", "demo-1", "--json")
    made = json.loads(capsys.readouterr().out)
    assert made["salt"] == "demo-1"
    again = make_experiment("ab", ["control=current", "pop=holdout=popular"], salt="demo-1")
    _run(trained, "recommend", "run1", "--json")
    answer = json.loads(capsys.readouterr().out)
    assert answer["experiment"] == "ab" and answer["variant"] == again.assign("run1").name
