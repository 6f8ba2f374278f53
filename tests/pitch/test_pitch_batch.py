"""prewrite_pitches (time budget, counts) and the `recsys pitch` command."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import polars as pl
import pytest
from click.testing import CliRunner

from recsys.cli import cli
from recsys.config import TrainConfig
from recsys.errors import InvalidInputError, UnknownItemError
from recsys.home import Home
from recsys.pitch.batch import prewrite_pitches
from recsys.pitch.config import PitchConfig
from recsys.store import Store
from recsys.training import build_bundle, train

SMALL = {"behavior": {"factors": 8, "iterations": 10}, "text": {"enabled": False}}


def pitch_for(messages):  # type: ignore[no-untyped-def]
    """Continue the started answer ("This pick is"), as the local runtimes do."""
    assert messages[-1]["role"] == "assistant"
    return [f"{messages[-1]['content']} a fine choice for every day of the week."]


def test_prewrite_counts_and_cache(shop_home: Home, shop_store: Store, fake_model) -> None:
    bundle, _ = build_bundle(
        shop_store.events_frame(), shop_store.catalog_frame(), TrainConfig.from_dict(SMALL)
    )
    model = fake_model(reply_fn=pitch_for)
    cfg = PitchConfig(n_samples=1, rerank=False)
    users = ["run1", "cook1"]
    report = prewrite_pitches(
        shop_home, bundle, shop_store, users, 2, 60.0, config=cfg, model=model
    )
    assert (report.written, report.cached, report.template, report.failed) == (4, 0, 0, 0)
    again = prewrite_pitches(shop_home, bundle, shop_store, users, 2, 60.0, config=cfg, model=model)
    assert (again.written, again.cached) == (0, 4) and len(model.calls) == 4
    with closing(sqlite3.connect(shop_home.pitch_cache_path)) as db:
        rows = db.execute("SELECT text, origin FROM pitches").fetchall()
    assert len(rows) == 4 and {origin for _, origin in rows} == {"llm"}
    for text, _ in rows:  # the link, then the model's sentence
        assert text.startswith("Because you bought ")
        assert text.endswith("for you. This pick is a fine choice for every day of the week.")


def test_prewrite_budget_and_bad_input(shop_home: Home, shop_store: Store, fake_model) -> None:
    bundle, _ = build_bundle(
        shop_store.events_frame(), shop_store.catalog_frame(), TrainConfig.from_dict(SMALL)
    )
    model = fake_model(reply_fn=pitch_for, delay_s=0.3)
    cfg = PitchConfig(n_samples=1, rerank=False)
    report = prewrite_pitches(
        shop_home, bundle, shop_store, ["run1", "cook1"], 3, 0.2, config=cfg, model=model
    )
    assert report.written == 1 and report.skipped == 5 and report.elapsed_s < 2
    with pytest.raises(InvalidInputError, match="items_per_user"):
        prewrite_pitches(shop_home, bundle, shop_store, ["run1"], 0, 1.0, config=cfg, model=model)


def test_cli_pitch_template_backend(
    home: Home, store: Store, shop: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    events, items = shop
    store.upsert_items(items)
    store.add_events(events)
    train(home, TrainConfig.from_dict(SMALL), store=store)
    runner = CliRunner()
    base = ["--home", str(home.root), "pitch", "run1"]
    out = runner.invoke(cli, [*base, "--backend", "template", "-n", "2", "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert len(rows) == 2 and all(r["source"] == "template" for r in rows)
    one = runner.invoke(cli, [*base, "k3", "--backend", "template", "--language", "de"])
    assert one.exit_code == 0 and "Frying pan" in one.output and "Weil Sie" in one.output
    bad = runner.invoke(cli, [*base, "nope", "--backend", "template"])
    assert isinstance(bad.exception, UnknownItemError) and bad.exception.item_id == "nope"
