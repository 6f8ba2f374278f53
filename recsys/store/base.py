"""What the parts of the store share: the connections, the write transaction, the tombstone lookup.

:class:`~recsys.store.sqlite.SQLiteStore` is made of one part per concern
(:mod:`~recsys.store.events`, :mod:`~recsys.store.catalog`, :mod:`~recsys.store.privacy`,
:mod:`~recsys.store.maintenance`) on top of the connection core in :mod:`recsys.store.sqlite`.
Each part derives from :class:`StoreBase`, which declares what a part may use of the core and of
the other parts, so each module type-checks on its own and no part imports another (or the core)
to call it.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from recsys.store.turns import FairLock

# ``write(conn, chunk) -> rows written``: one chunk of a bulk write, inside its transaction
ChunkWriter = Callable[[sqlite3.Connection, Sequence[Any]], int]

ROWS_PER_STATEMENT = 500  # rows per multi-row INSERT


def statement_parts(
    conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]], n_columns: int
) -> list[Sequence[Any]]:
    """``rows`` cut into parts that one multi-row statement can bind.

    A statement per part, not per row: each statement is one SQLite call, which releases the GIL
    once. A statement per row waits for the GIL again after every row while the server's other
    threads run: each wait is a thread switch, which costs more than the row's insert.
    """
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // n_columns
    step = max(1, min(ROWS_PER_STATEMENT, limit))
    return [rows[start : start + step] for start in range(0, len(rows), step)]


def value_marks(n_rows: int, n_columns: int) -> str:
    """``(?, ?), (?, ?)``: the VALUES placeholders of ``n_rows`` rows of ``n_columns``."""
    row = "(" + ", ".join("?" * n_columns) + ")"
    return ", ".join([row] * n_rows)


class StoreBase(ABC):
    """The store's shared state and the operations its parts build on.

    Attributes:
        path: the database file.
        write_timeout_s: how long a write waits for the write lock before
            :class:`~recsys.errors.StoreBusyError`.
    """

    path: Path
    write_timeout_s: float
    _lock: FairLock  # held around every use of the write connection
    _conn: sqlite3.Connection  # the process's one write connection (autocommit mode)
    _secret: bytes  # the key of the erasure tombstones (``meta``)

    @abstractmethod
    def _read(self) -> sqlite3.Connection:
        """This thread's read connection (query only; never waits behind a writer)."""

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction on the write connection (commits on exit, rolls back on error)."""

    @abstractmethod
    def _bulk(self, rows: Sequence[Any], write: ChunkWriter, atomic: bool = False) -> int:
        """Write ``rows`` with ``write`` in chunks of one transaction (one chunk if ``atomic``)."""

    @abstractmethod
    def _grouped(self, rows: Sequence[Any], write: ChunkWriter) -> int:
        """Write ``rows`` in one transaction, with the small writes other threads queued then."""

    @abstractmethod
    def _erased_among(self, conn: sqlite3.Connection, user_ids: set[str]) -> dict[str, float]:
        """``{user id: erased_at}`` for the erased users among ``user_ids`` (inside a write)."""

    @abstractmethod
    def _add_links(self, links: Sequence[tuple[Any, ...]]) -> None:
        """Store the links of events that named an answer (``recsys.store.experiments``)."""

    @abstractmethod
    def _delete_experiment_rows(self, conn: sqlite3.Connection, user_id: str) -> None:
        """Delete the user's exposures, impressions and event links (inside an erasure)."""
