"""Helpers shared by the API tests (keys, app construction, training the tiny shop)."""

from __future__ import annotations

import re
from typing import Any

import polars as pl
from flask import Flask

from api.app import create_app
from recsys.config import TrainConfig
from recsys.home import Home
from recsys.service import RecommendationService
from recsys.store import SQLiteStore
from recsys.text import TextEncoder
from recsys.training import train

WRITE_KEY = "test-write-key"
ADMIN_KEY = "test-admin-key"
TRAIN_CONFIG = {"behavior": {"factors": 8, "iterations": 10}}
# valid request-body parts the schema tests mutate (test_api_openapi, test_api_validation)
BATCH = 3  # a small batch limit, so that mutations reach maxItems
EVENT = {
    "user_id": "u1",
    "item_id": "k1",
    "type": "view",
    "ts": 1_700_000_000,
    "session_id": "s1",
    "event_id": "e1",
}
ITEM = {
    "item_id": "n1",
    "title": "Pasta pot",
    "description": "A pot.",
    "category": "Kitchen",
    "price": 12.5,
    "currency": "EUR",
    "in_stock": True,
    "attributes": {"size": "L"},
}


def train_into(
    home: Home, events: pl.DataFrame, catalog: pl.DataFrame, encoder: TextEncoder
) -> str:
    """Store the shop, then train a bundle with text and precomputed lists and publish it.

    Returns:
        The published version.
    """
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog)
        store.add_events(events)
        report = train(home, TrainConfig.from_dict(TRAIN_CONFIG), store=store, encoder=encoder)
    return report.version


def make_app(home: Home, encoder: TextEncoder, **overrides: Any) -> Flask:
    """An app over ``home`` with test keys; the watcher is off unless asked for."""
    config: dict[str, Any] = {
        "home": str(home.root),
        "write_keys": [WRITE_KEY],
        "admin_keys": [ADMIN_KEY],
        "watch": False,
        "TESTING": True,
    }
    pitch = overrides.pop("pitch_provider", None)
    config.update(overrides)
    service = RecommendationService(home, encoder=encoder)
    return create_app(config, pitch_provider=pitch, service=service)


def auth(key: str = WRITE_KEY) -> dict[str, str]:
    """Authorization header."""
    return {"Authorization": f"Bearer {key}"}


def answer_bytes(body: bytes) -> bytes:
    """``body`` with its random ``recommendation_id`` (16 hex digits) replaced by ``"0"``.

    Two apps (the lean path and Flask) answer a request alike but for the answer's fresh id.
    """
    return re.sub(rb'"recommendation_id":"[0-9a-f]{16}"', b'"recommendation_id":"0"', body)
