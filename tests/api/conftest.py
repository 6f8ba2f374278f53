"""Fixtures for the API tests: a trained tiny shop home (built once per module), copied per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from api_testing import make_app, train_into
from flask import Flask
from flask.testing import FlaskClient

from recsys.home import Home
from recsys.text import TextEncoder


@pytest.fixture(scope="module")
def trained_template(
    shop: tuple[pl.DataFrame, pl.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
    encoder: TextEncoder,
) -> Path:
    """A home with the ``shop`` fixture's data and a published bundle (built once per module)."""
    root = tmp_path_factory.mktemp("api-template") / "home"
    home = Home(root).ensure()
    events, catalog = shop
    train_into(home, events, catalog, encoder)
    return root


@pytest.fixture
def api_home(trained_template: Path, tmp_path: Path) -> Home:
    """A private copy of the trained home (tests may write to it)."""
    root = tmp_path / "home"
    shutil.copytree(trained_template, root)
    return Home(root)


@pytest.fixture
def app(api_home: Home, encoder: TextEncoder) -> Iterator[Flask]:
    """The app over a private trained home."""
    application = make_app(api_home, encoder)
    yield application
    application.extensions["recsys"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Flask test client."""
    return app.test_client()
