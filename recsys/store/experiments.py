"""The store's experiment records: definitions, the answers shown (exposures) and event links.

An experiment's definition is JSON text (``recsys.experiments.spec``), so every API host that
shares the store sees the same experiments. Each answer served inside an experiment is an
*exposure* (who, when, which variant, and the items shown: one *impression* each, kept as a
JSON array on the exposure's row and read back as one row per impression); an event sent with
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

import orjson
import polars as pl

from recsys.store.base import StoreBase, statement_parts, value_marks
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


def log_of(rows: list[tuple[Any, ...]], events: list[tuple[Any, ...]]) -> ExperimentLog:
    """The :class:`ExperimentLog` of both backends' query rows.

    Args:
        rows: ``exposures`` rows (:data:`EXPOSURE_COLUMNS`, ``items`` last).
        events: rows of :data:`LINKED_EVENT_SCHEMA`'s columns.
    """
    return ExperimentLog(
        _frame([r[:6] for r in rows], EXPOSURE_SCHEMA),
        impressions_of([(r[0], r[6]) for r in rows]),
        _frame(events, LINKED_EVENT_SCHEMA),
    )


# what experiment_log selects from ``exposures``, in both backends
EXPOSURE_COLUMNS = "recommendation_id, experiment, variant, user_id, ts, n_items, items"


def exposure_rows(exposures: Sequence[Exposure]) -> list[tuple[Any, ...]]:
    """The ``exposures`` table rows: the items shown as one JSON array per answer.

    One row per answer, not one per item: an answer of 20 items costs one insert instead of
    21, which is what keeps the logging inside its budget (docs/experiments.md). The array is
    written by orjson (0.3 us per answer; ``json.dumps`` with compact separators builds an
    encoder per call, 5 us).
    """
    dumps = orjson.dumps
    return [
        (
            e.recommendation_id,
            e.experiment,
            e.variant,
            e.user_id,
            float(e.ts),
            len(e.item_ids),
            dumps(e.item_ids).decode(),
        )
        for e in exposures
    ]


def impressions_of(heads: list[tuple[Any, ...]]) -> pl.DataFrame:
    """The impressions frame (``recommendation_id, position, item_id``) of exposures rows.

    Args:
        heads: ``(recommendation_id, items JSON)`` per answer.
    """
    if not heads:
        return pl.DataFrame(schema=IMPRESSION_SCHEMA)
    shown = pl.DataFrame(
        heads, schema={"recommendation_id": pl.String, "items": pl.String}, orient="row"
    )
    return (
        shown.with_columns(pl.col("items").str.json_decode(pl.List(pl.String)))
        .filter(pl.col("items").list.len() > 0)
        .with_columns(position=pl.int_ranges(pl.col("items").list.len()))
        .explode("items", "position")
        .select("recommendation_id", pl.col("position").cast(pl.Int64), item_id="items")
    )


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
        """Record served answers and their items (one transaction); return how many were stored.

        Exposures of a user erased after the answer was served are not stored, nor exposures
        of an experiment the store has no definition of (``put_experiment``). Each answer is
        written once (its id is random, 64 bits; ``recsys.service.exposures`` writes a batch
        once or, when its transaction fails, again after the rollback), so the table keeps no
        unique index: it would cost each write a random-key index insert.
        """
        if not exposures:
            return 0
        heads = exposure_rows(exposures)
        with self._transaction() as conn:
            erased = self._erased_among(conn, {h[3] for h in heads})
            if erased:
                heads = [h for h in heads if not (h[3] in erased and h[4] <= erased[h[3]])]
            names = sorted({h[1] for h in heads})
            known = {
                r[0]
                for r in conn.execute(
                    f"SELECT name FROM experiments WHERE name IN ({', '.join('?' * len(names))})",
                    names,
                )
            }
            if len(known) < len(names):  # an erasure finds rows through their experiment
                heads = [h for h in heads if h[1] in known]
            before = conn.total_changes
            for part in statement_parts(conn, heads, 7):  # not executemany: see statement_parts
                conn.execute(
                    "INSERT INTO exposures "
                    "(recommendation_id, experiment, variant, user_id, ts, n_items, items) "
                    "VALUES " + value_marks(len(part), 7),
                    [v for row in part for v in row],
                )
            return conn.total_changes - before

    def _add_links(self, links: Sequence[tuple[Any, ...]]) -> None:
        """Store event links (see :func:`link_rows`), skipping erased users' old events."""
        with self._transaction() as conn:
            erased = self._erased_among(conn, {r[0] for r in links})
            if erased:
                links = [r for r in links if not (r[0] in erased and r[3] <= erased[r[0]])]
            for part in statement_parts(conn, links, 6):
                conn.execute(
                    "INSERT OR IGNORE INTO event_links "
                    "(user_id, item_id, type, ts, recommendation_id, position) "
                    "VALUES " + value_marks(len(part), 6),
                    [v for row in part for v in row],
                )

    def experiment_log(
        self, experiment: str, since: float, until: float | None = None
    ) -> ExperimentLog:
        """Everything the report of ``experiment`` reads (see :class:`ExperimentLog`).

        Events are those with ``since <= ts`` (and ``ts <= until`` when given: a stopped
        experiment's report ends with its last attribution window).
        """
        read = self._read()
        rows = read.execute(
            f"SELECT {EXPOSURE_COLUMNS} FROM exposures WHERE experiment = ?", (experiment,)
        ).fetchall()
        last = float("inf") if until is None else until
        events = read.execute(_LOG_EVENTS, (experiment, since, last, experiment)).fetchall()
        return log_of(rows, events)

    def _delete_experiment_rows(self, conn: sqlite3.Connection, user_id: str) -> None:
        """Delete the user's exposures (with their items) and event links (inside an erasure)."""
        # every exposure's experiment is in ``experiments``: the user's rows are found by a
        # scan of each experiment's entries in the (experiment, ts, user_id) index, without
        # reading the table (about 0.1 s per million answers). An index keyed by user would
        # find them at once, but cost every answer's write a random-page insert (schema.py).
        conn.execute(
            "DELETE FROM exposures WHERE experiment IN (SELECT name FROM experiments) "
            "AND user_id = ?",
            (user_id,),
        )
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
