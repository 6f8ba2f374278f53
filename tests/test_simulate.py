"""The traffic simulator: a good variant must beat a worse one, and A/A must call nothing.

A shop with two clearly separated kinds of shoppers (runners want running gear, cooks kitchen
things) and a trained bundle: the hybrid ranker recommends each shopper their own kind; the
worse variant recommends by popularity only, which mixes both kinds. Simulated shoppers click
their own kind far more often (their hidden preferences), so the report must name the hybrid.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys.config import TrainConfig
from recsys.errors import InvalidInputError
from recsys.experiments import make_experiment, report_for, start_experiment
from recsys.home import Home
from recsys.service import RecommendationService
from recsys.simulate import CategoryPreferences, HeldOutPreferences, ShopperModel, simulate
from recsys.store import SQLiteStore
from recsys.store.schema import EVENT_SCHEMA
from recsys.text import TextEncoder
from recsys.training import train

KINDS = {"run": ("Running", "Running gear"), "cook": ("Kitchen", "Kitchen tool")}


def _shop(seed: int = 3) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    items, rows = [], []
    for prefix, (category, noun) in KINDS.items():
        for i in range(12):
            items.append(
                {
                    "item_id": f"{prefix}-{i}",
                    "title": f"{noun} {i}",
                    "category": category,
                    "price": 10.0 + i,
                }
            )
    ts = 1_700_000_000.0
    for u in range(240):
        prefix = "run" if u % 2 == 0 else "cook"
        for i in rng.choice(12, size=4, replace=False):
            ts += 60.0
            rows.append((f"u{u}", f"{prefix}-{int(i)}", "purchase", ts, ""))
    events = pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row")
    return events, pl.DataFrame(items)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, encoder: TextEncoder) -> Path:
    root = tmp_path_factory.mktemp("simulate") / "home"
    home = Home(root).ensure()
    events, catalog = _shop()
    config = TrainConfig.from_dict({"behavior": {"factors": 8, "iterations": 15}})
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog)
        store.add_events(events)
        train(home, config, store=store, encoder=encoder)
    return root


@pytest.fixture
def service(trained: Path, tmp_path: Path, encoder: TextEncoder) -> Iterator[RecommendationService]:
    import shutil

    root = tmp_path / "home"
    shutil.copytree(trained, root)
    svc = RecommendationService(Home(root), encoder=encoder)
    yield svc
    svc.close()


def _run(service: RecommendationService, variants: list[str], seed: int) -> str:
    made = make_experiment("sim", variants, "50/50", primary="ctr", min_users=50)
    start_experiment(service.store, made)
    service.read_experiment()
    users = [f"u{u}" for u in range(240)]
    prefs = CategoryPreferences.from_store(service.store)
    rounds = simulate(service, users, prefs, rounds=3, n=6, seed=seed)
    assert sum(r.visits.get(v.name, 0) for r in rounds for v in made.variants) == 3 * 240
    return report_for(service.store, "sim").decision


def test_the_report_names_the_good_variant(service: RecommendationService) -> None:
    worse = "worse=behavior_weight=0,recent_weight=0,text_weight=0,popularity_weight=1"
    assert _run(service, ["good=current", worse], seed=1) in ("winner: good", "loser: worse")


def test_an_aa_experiment_names_no_winner(service: RecommendationService) -> None:
    assert _run(service, ["a=current", "b=current"], seed=2) == "no decision yet"


def test_events_name_the_answer_they_came_from(service: RecommendationService) -> None:
    start_experiment(service.store, make_experiment("sim", ["a=current", "b=current"]))
    service.read_experiment()
    prefs = HeldOutPreferences({"u0": frozenset({"run-1", "run-2"})})
    model = ShopperModel(click_base=1.0, click_relevant=1.0, attention=1.0)  # clicks everything
    (counts,) = simulate(service, ["u0"], prefs, rounds=1, n=3, model=model)
    log = service.store.experiment_log("sim", 0.0)
    clicks = log.events.filter(pl.col("type") == "click")
    assert clicks.height == 3 == sum(counts.clicks.values())
    assert set(clicks["recommendation_id"]) == set(log.exposures["recommendation_id"])
    assert sorted(clicks["position"].to_list()) == [0, 1, 2]


def test_preferences_and_mistakes() -> None:
    held = HeldOutPreferences.from_events(
        pl.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"]})
    )
    assert held.relevance("a", ["x", "z", "y"]).tolist() == [1.0, 0.0, 1.0]
    assert held.relevance("nobody", ["x"]).tolist() == [0.0]
    taste = CategoryPreferences({"a": {"Run": 1.0, "Cook": 0.25}}, {"x": "Run", "y": "Cook"})
    assert taste.relevance("a", ["x", "y", "q"]).tolist() == [1.0, 0.25, 0.0]
    with pytest.raises(InvalidInputError):
        ShopperModel(click_base=1.5)
    with pytest.raises(InvalidInputError):
        simulate(None, [], held)  # type: ignore[arg-type]
