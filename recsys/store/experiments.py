"""The store's experiment records: definitions, the answers shown (exposures) and event links.

An experiment's definition is JSON text (``recsys.experiments.spec``), so every API host that
shares the store sees the same experiments. Each answer served inside an experiment is an
*exposure* (who, when, which variant) with one *impression* per item shown; an event sent with
the ``recommendation_id`` of an answer is *linked* to it. The report
(``recsys.experiments.analysis``) reads them back with :meth:`ExperimentsMixin.experiment_log`.
All three carry a user id (directly or through the exposure), so erasing a user deletes them
(:meth:`recsys.store.privacy.PrivacyMixin.delete_user`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import polars as pl

from recsys.store.base import StoreBase
from recsys.store.schema import EXPOSURE_SCHEMA, IMPRESSION_SCHEMA, LINKED_EVENT_SCHEMA
from recsys.types import Exposure


class ExperimentLog(NamedTuple):
    """What the store holds of one experiment, as the report reads it.

    Attributes:
        exposures: ``recommendation_id, experiment, variant, user_id, ts, n_items`` per answer.
        impressions: ``recommendation_id, position, item_id`` per item shown.
        events: every event of the exposed users from ``since`` to ``until``: ``user_id, item_id,
            type, ts, recommendation_id, position`` (the last two null unless the event named
            an answer).
    """

    exposures: pl.DataFrame
    impressions: pl.DataFrame
    events: pl.DataFrame


def link_rows(events: pl.DataFrame) -> list[tuple[Any, ...]]:
    """``(user_id, item_id, type, ts, recommendation_id, position)`` per event naming an answer."""
    if "recommendation_id" not in events.columns:
        return []
    named = events.filter(pl.col("recommendation_id").is_not_null())
    if named.height == 0:
        return []
    if "position" not in named.columns:
        named = named.with_columns(pl.lit(None, dtype=pl.Int64).alias("position"))
    return named.select(
        "user_id",
        "item_id",
        "type",
        pl.col("ts").cast(pl.Float64),
        "recommendation_id",
        pl.col("position").cast(pl.Int64),
    ).rows()


def _frame(rows: list[tuple[Any, ...]], schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def exposure_rows(
    exposures: Sequence[Exposure],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The ``exposures`` and ``impressions`` table rows of ``exposures``."""
    heads = [
        (e.recommendation_id, e.experiment, e.variant, e.user_id, float(e.ts), len(e.item_ids))
        for e in exposures
    ]
    items = [(e.recommendation_id, p, item) for e in exposures for p, item in enumerate(e.item_ids)]
    return heads, items


class ExperimentsMixin(StoreBase):
    """Experiments, exposures and event links of :class:`~recsys.store.sqlite.SQLiteStore`."""

    def put_experiment(self, name: str, spec: str, now: float | None = None) -> None:
        """Create or replace the definition of experiment ``name`` (JSON text)."""
        now = time.time() if now is None else now
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO experiments (name, spec, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, "
                "updated_at = excluded.updated_at",
                (name, spec, now),
            )

    def experiment_specs(self) -> dict[str, str]:
        """``{name: definition JSON}`` of every experiment, oldest first."""
        rows = self._read().execute("SELECT name, spec FROM experiments ORDER BY rowid").fetchall()
        return dict(rows)

    def add_exposures(self, exposures: Sequence[Exposure]) -> int:
        """Record served answers and their items (one transaction); return how many were new.

        An answer already recorded (same ``recommendation_id``) is skipped. Exposures of a user
        erased after the answer was served are not stored.
        """
        if not exposures:
            return 0
        heads, items = exposure_rows(exposures)
        with self._transaction() as conn:
            erased = self._erased_among(conn, {h[3] for h in heads})
            if erased:
                gone = {h[0] for h in heads if h[3] in erased and h[4] <= erased[h[3]]}
                heads = [h for h in heads if h[0] not in gone]
                items = [i for i in items if i[0] not in gone]
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO exposures "
                "(recommendation_id, experiment, variant, user_id, ts, n_items) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                heads,
            )
            new = conn.total_changes - before
            conn.executemany(
                "INSERT OR IGNORE INTO impressions (recommendation_id, position, item_id) "
                "VALUES (?, ?, ?)",
                items,
            )
            return new

    def _add_links(self, links: Sequence[tuple[Any, ...]]) -> None:
        """Store event links (see :func:`link_rows`), skipping erased users' old events."""
        with self._transaction() as conn:
            erased = self._erased_among(conn, {r[0] for r in links})
            if erased:
                links = [r for r in links if not (r[0] in erased and r[3] <= erased[r[0]])]
            conn.executemany(
                "INSERT OR IGNORE INTO event_links "
                "(user_id, item_id, type, ts, recommendation_id, position) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                links,
            )

    def experiment_log(
        self, experiment: str, since: float, until: float | None = None
    ) -> ExperimentLog:
        """Everything the report of ``experiment`` reads (see :class:`ExperimentLog`).

        Events are those with ``since <= ts`` (and ``ts <= until`` when given: a stopped
        experiment's report ends with its last attribution window).
        """
        read = self._read()
        heads = read.execute(
            "SELECT recommendation_id, experiment, variant, user_id, ts, n_items "
            "FROM exposures WHERE experiment = ?",
            (experiment,),
        ).fetchall()
        items = read.execute(
            "SELECT i.recommendation_id, i.position, i.item_id FROM impressions i "
            "JOIN exposures x ON x.recommendation_id = i.recommendation_id "
            "WHERE x.experiment = ?",
            (experiment,),
        ).fetchall()
        last = float("inf") if until is None else until
        events = read.execute(_LOG_EVENTS, (experiment, since, last, experiment)).fetchall()
        return ExperimentLog(
            _frame(heads, EXPOSURE_SCHEMA),
            _frame(items, IMPRESSION_SCHEMA),
            _frame(events, LINKED_EVENT_SCHEMA),
        )

    def _delete_experiment_rows(self, conn: sqlite3.Connection, user_id: str) -> None:
        """Delete the user's exposures, impressions and event links (inside an erasure)."""
        conn.execute(
            "DELETE FROM impressions WHERE recommendation_id IN "
            "(SELECT recommendation_id FROM exposures WHERE user_id = ?)",
            (user_id,),
        )
        conn.execute("DELETE FROM exposures WHERE user_id = ?", (user_id,))
        conn.execute("DELETE FROM event_links WHERE user_id = ?", (user_id,))


# the events of the experiment's users since it started, each with the answer it named (an event
# sent twice with two answers' ids counts once, with the greater id)
_LOG_EVENTS = """
SELECT e.user_id, e.item_id, e.type, e.ts, l.rid, l.pos FROM events e
LEFT JOIN (
    SELECT user_id, item_id, type, ts, MAX(recommendation_id) AS rid, MAX(position) AS pos
    FROM event_links
    WHERE user_id IN (SELECT user_id FROM exposures WHERE experiment = ?)
    GROUP BY user_id, item_id, type, ts
) l ON l.user_id = e.user_id AND l.item_id = e.item_id AND l.type = e.type AND l.ts = e.ts
WHERE e.ts >= ? AND e.ts <= ?
  AND e.user_id IN (SELECT user_id FROM exposures WHERE experiment = ?)
ORDER BY e.seq
"""
