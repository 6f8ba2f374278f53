"""The store's catalog: items upserted by id, and a log of which items changed when.

Every catalog upsert is also appended to ``item_log``, which lets API workers pick up catalog
changes made after a model was trained (see :mod:`recsys.catalog_overlay`): a worker remembers a log
position (:meth:`CatalogMixin.item_log_position`) and asks for the items changed since
(:meth:`CatalogMixin.item_changes`) instead of re-reading the whole catalog.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

import polars as pl

from recsys.store.base import StoreBase
from recsys.store.schema import ITEM_COLUMNS, ITEM_SCHEMA


class CatalogMixin(StoreBase):
    """Catalog writes and reads of :class:`~recsys.store.sqlite.SQLiteStore`."""

    def upsert_items(self, items: pl.DataFrame, atomic: bool = False) -> int:
        """Insert or replace catalog items (validated frame with ITEM_COLUMNS).

        One transaction with ``atomic`` (an API batch), else chunks (see
        :meth:`~recsys.store.sqlite.SQLiteStore.add_events`).

        Returns:
            The number of rows written.

        Raises:
            StoreBusyError: the store's write lock could not be had in time.
        """
        if items.height == 0:
            return 0
        now = time.time()
        frame = complete_items(items, now)
        rows = frame.select(ITEM_COLUMNS).rows()

        def write(conn: sqlite3.Connection, chunk: Sequence[tuple[Any, ...]]) -> int:
            conn.executemany(
                "INSERT INTO item_log (item_id, changed_at) VALUES (?, ?)",
                [(r[0], now) for r in chunk],
            )
            conn.executemany(
                "INSERT INTO items (item_id, title, description, category, price, currency, "
                "in_stock, attributes, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(item_id) DO UPDATE SET title=excluded.title, "
                "description=excluded.description, category=excluded.category, "
                "price=excluded.price, currency=excluded.currency, in_stock=excluded.in_stock, "
                "attributes=excluded.attributes, updated_at=excluded.updated_at",
                chunk,
            )
            return len(chunk)

        return self._bulk(rows, write, atomic)

    def catalog_frame(self) -> pl.DataFrame:
        """Return the whole catalog ordered by item id (``attributes`` as a JSON string)."""
        rows = (
            self._read()
            .execute(f"SELECT {', '.join(ITEM_COLUMNS)} FROM items ORDER BY item_id")
            .fetchall()
        )
        return pl.DataFrame(rows, schema=ITEM_SCHEMA, orient="row")

    def get_item(self, item_id: str) -> dict[str, Any] | None:
        """Return one catalog item as a dict (attributes parsed), or None if unknown."""
        row = (
            self._read()
            .execute(f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE item_id = ?", (item_id,))
            .fetchone()
        )
        if row is None:
            return None
        item = dict(zip(ITEM_COLUMNS, row, strict=True))
        item["in_stock"] = bool(item["in_stock"])
        item["attributes"] = json.loads(item["attributes"])
        return item

    def get_items(self, item_ids: Sequence[str]) -> pl.DataFrame:
        """Return the catalog rows of ``item_ids`` (unknown ids are absent), ordered by item id."""
        unique = sorted(set(item_ids))
        rows: list[tuple[Any, ...]] = []
        conn = self._read()
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows += conn.execute(
                f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE item_id IN ({marks}) "
                "ORDER BY item_id",
                chunk,
            ).fetchall()
        frame = pl.DataFrame(rows, schema=ITEM_SCHEMA, orient="row")
        return frame.sort("item_id")

    def item_log_position(self, since: float | None = None) -> int:
        """Return the last ``item_log`` sequence number written before ``since`` (epoch s).

        With ``since=None``, the newest sequence number (0 for an empty log). Use it as the
        starting point for :meth:`item_changes`.
        """
        if since is None:
            row = self._read().execute("SELECT MAX(seq) FROM item_log").fetchone()
        else:
            row = (
                self._read()
                .execute("SELECT MAX(seq) FROM item_log WHERE changed_at < ?", (since,))
                .fetchone()
            )
        return int(row[0] or 0)

    def item_changes(self, after_seq: int) -> tuple[int, list[str]]:
        """Return ``(newest_seq, item_ids)`` upserted after ``after_seq`` (ids unique, sorted)."""
        rows = (
            self._read()
            .execute(
                "SELECT seq, item_id FROM item_log WHERE seq > ? ORDER BY seq", (int(after_seq),)
            )
            .fetchall()
        )
        if not rows:
            return int(after_seq), []
        return int(rows[-1][0]), sorted({r[1] for r in rows})

    def count_items(self) -> int:
        """Return the number of catalog items."""
        return int(self._read().execute("SELECT COUNT(*) FROM items").fetchone()[0])


def complete_items(items: pl.DataFrame, now: float) -> pl.DataFrame:
    """Fill optional catalog columns with their defaults."""
    defaults: dict[str, pl.Expr] = {
        "description": pl.lit(""),
        "category": pl.lit(""),
        "price": pl.lit(None, dtype=pl.Float64),
        "currency": pl.lit(""),
        "in_stock": pl.lit(True),
        "attributes": pl.lit("{}"),
        "updated_at": pl.lit(now),
    }
    missing = [expr.alias(name) for name, expr in defaults.items() if name not in items.columns]
    frame = items.with_columns(missing) if missing else items
    return frame.with_columns(
        pl.col("description").fill_null(""),
        pl.col("category").fill_null(""),
        pl.col("currency").fill_null(""),
        pl.col("in_stock").fill_null(True).cast(pl.Int64),
        pl.col("attributes").fill_null("{}"),
        pl.col("updated_at").fill_null(now).cast(pl.Float64),
        pl.col("price").cast(pl.Float64),
    )
