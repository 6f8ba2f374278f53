"""Synthetic shops for the nightly-job tests (imported by tests/test_nightly*.py)."""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys.config import TrainConfig
from recsys.nightly import NightlyConfig

T0 = 1_700_000_000.0
DAY = 86_400.0
EVENT_SCHEMA = {
    "user_id": pl.String,
    "item_id": pl.String,
    "type": pl.String,
    "ts": pl.Float64,
    "session_id": pl.String,
}
FAST_TRAIN = {"behavior": {"factors": 8, "iterations": 10}, "text": {"enabled": False}}


def config(**overrides: object) -> NightlyConfig:
    """A small, fast nightly config (no text model, small thresholds, no pitches)."""
    data: dict[str, object] = {
        "train": FAST_TRAIN,
        "min_events": 100,
        "min_eval_users": 10,
        "pitch_users": 0,
    }
    data.update(overrides)
    return NightlyConfig.from_dict(data)


def weak_train() -> TrainConfig:
    """A deliberately poor model: one factor, one sweep."""
    return TrainConfig.from_dict(
        {"behavior": {"factors": 1, "iterations": 1}, "text": {"enabled": False}}
    )


def clustered_events(
    seed: int = 7,
    n_users: int = 150,
    n_groups: int = 6,
    items_per_group: int = 12,
    events_per_user: int = 14,
    start: float = T0,
    days: float = 20.0,
) -> pl.DataFrame:
    """Users in taste groups who only touch their group's items: a model should learn the groups."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        g = u % n_groups
        items = rng.choice(items_per_group, size=events_per_user, replace=True)
        for k in items:
            ts = start + float(rng.random()) * days * DAY
            kind = "purchase" if rng.random() < 0.3 else "click"
            rows.append((f"u{u}", f"g{g}-i{k}", kind, round(ts, 3), ""))
    return pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row").sort("ts")


def noise_events(
    seed: int, n: int, n_users: int, n_groups: int, items_per_group: int, start: float, end: float
) -> pl.DataFrame:
    """Random user-item pairs (a corrupted export): they destroy the group structure."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n)
    groups = rng.integers(0, n_groups, n)
    items = rng.integers(0, items_per_group, n)
    ts = start + rng.random(n) * (end - start)
    return pl.DataFrame(
        {
            "user_id": [f"u{u}" for u in users],
            "item_id": [f"g{g}-i{k}" for g, k in zip(groups, items, strict=True)],
            "type": ["purchase"] * n,
            "ts": ts.round(3),
            "session_id": [""] * n,
        },
        schema=EVENT_SCHEMA,
    )


def catalog(n_groups: int = 6, items_per_group: int = 12) -> pl.DataFrame:
    """Catalog rows for every item of :func:`clustered_events`."""
    kinds = ["running", "kitchen", "garden", "camping", "office", "toys", "music", "books"]
    rows = []
    for g in range(n_groups):
        for k in range(items_per_group):
            rows.append(
                {
                    "item_id": f"g{g}-i{k}",
                    "title": f"{kinds[g % len(kinds)].title()} item {k}",
                    "description": f"A {kinds[g % len(kinds)]} product, model {k}.",
                    "category": kinds[g % len(kinds)],
                    "price": 10.0 + k,
                    "currency": "EUR",
                    "in_stock": True,
                    "attributes": "{}",
                    "updated_at": 0.0,
                }
            )
    return pl.DataFrame(rows)
