"""The shared store: events, catalog and erasures in PostgreSQL, for several API hosts at once.

:class:`PostgresStore` keeps the contract of :mod:`recsys.store.contract` (the same test suite runs
against it and :class:`~recsys.store.sqlite.SQLiteStore`), so any number of ``recsys serve``
processes on any number of hosts see the same events, catalog and erasures. The tables are
created and migrated by ``recsys db migrate`` (:func:`migrate`), never implicitly: a store
whose tables are missing or older raises :class:`~recsys.errors.StoreSchemaError` naming the
command.

How the SQLite semantics carry over:

- **Positions visible in order.** ``seq`` comes from an identity column, and every write
  transaction first takes one transaction-level advisory lock (:data:`WRITE_LOCK`), so writers
  commit one at a time, in the order they took their positions: a reader that sees position p
  never sees a smaller one appear later (without the lock, two concurrent transactions could
  commit out of order, and a bundle's watermark would hide an event forever). It is the same
  one-writer-at-a-time rule as SQLite's, across all hosts; a write commits in about a
  millisecond, and bulk imports commit in chunks so API writes wait at most one chunk.
- **Durable answers.** A write returns after ``COMMIT`` (``synchronous_commit`` as the server
  has it: on by default, so the commit is flushed to the server's WAL).
- **Busy and down.** A write that cannot get the lock within ``write_timeout_s``
  (``lock_timeout``) raises :class:`~recsys.errors.StoreBusyError`; a server that cannot be
  reached raises :class:`~recsys.errors.StoreUnavailableError`, and for
  :data:`DOWN_BACKOFF_S` after that every call raises it at once, so an API keeps answering
  from its bundle without waiting on a dead server for each request.
- **Erasure.** Postgres has no ``secure_delete``: a deleted row's bytes stay in the table's
  pages until ``VACUUM`` reuses them, and in the server's WAL files (and any WAL archive or
  backup) until those are recycled. :meth:`PostgresStore.compact` rewrites the event tables
  (``VACUUM FULL``); WAL retention and backups are the database operator's policy
  (``docs/deployment.md``).

Connections come from a small pool per store (:class:`ConnectionPool`; open one store per
process, its methods may be called from any thread). Reads run in autocommit mode, one statement
each. The pool opens connections on demand from the calling thread and drops broken ones, so a
server that comes back is used by the very next call (``psycopg_pool`` retries in the background
with an exponential backoff, which kept a store unusable for tens of seconds after a restart).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Self

import polars as pl

from recsys.errors import ConfigError, StoreBusyError, StoreSchemaError, StoreUnavailableError
from recsys.store.catalog import complete_items
from recsys.store.contract import SCHEMA_VERSION, read_history
from recsys.store.events import event_rows
from recsys.store.experiments import (
    EXPOSURE_COLUMNS,
    ExperimentLog,
    exposure_rows,
    link_rows,
    log_of,
)
from recsys.store.privacy import tombstone_key
from recsys.store.schema import (
    EVENT_SCHEMA,
    ITEM_COLUMNS,
    ITEM_SCHEMA,
    EventRow,
)
from recsys.types import EVENT_TYPES, Exposure, UserEvent, UserHistory

log = logging.getLogger(__name__)

try:  # the [postgres] extra: without it this module imports, and opening a store says so
    import psycopg
    import psycopg.errors
except ImportError:  # pragma: no cover - exercised by the plain-install check
    psycopg = None  # type: ignore[assignment, unused-ignore]  # (unused when psycopg is absent)


def _require_psycopg() -> None:
    if psycopg is None:
        raise ConfigError(
            "a postgresql:// store needs psycopg 3, which is not installed: "
            "pip install 'recsys-shop[postgres]'"
        )


__all__ = ["MIGRATIONS", "PostgresStore", "migrate", "redact_url"]

# ``write(conn, chunk) -> rows written``: one chunk of a bulk write, inside its transaction
ChunkWriter = Callable[["psycopg.Connection[Any]", Sequence[Any]], int]

WRITE_LOCK = 0x7265_6373  # the advisory lock every write transaction takes ("recs")
MIGRATE_LOCK = 0x7265_6D67  # held by `recsys db migrate` while it changes the tables
WRITE_TIMEOUT_S = 5.0  # how long a write waits for the write lock before StoreBusyError
CONNECT_TIMEOUT_S = 2  # libpq connect_timeout: how long opening a connection may take
DOWN_BACKOFF_S = 1.0  # after a failure to reach the server, calls fail at once this long
POOL_SIZE = 8  # connections per store (per API worker process)
CHUNK_ROWS = 5_000  # rows per transaction of a bulk write (an API write waits at most one)
BULK_RETRIES = 5  # a bulk write's chunk is retried this often when the store is busy

_VALID = (  # what the table's constraints accept; SQLite's INSERT OR IGNORE skips the rest
    "u IS NOT NULL AND i IS NOT NULL AND ts IS NOT NULL AND t = ANY(%(types)s::text[])"
)

# version k+1 is reached by running MIGRATIONS[k] (in one transaction). An entry never changes
# once released: a change of the schema (a new event type in the CHECK, a column) is a new entry
# and SCHEMA_VERSION + 1 (tests/store/test_postgres.py pins version 1's text)
MIGRATIONS: tuple[str, ...] = (
    f"""
CREATE TABLE events (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    type       TEXT NOT NULL CHECK (type IN ({", ".join(f"'{t}'" for t in EVENT_TYPES)})),
    ts         DOUBLE PRECISION NOT NULL,
    session_id TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX events_natural_key ON events (user_id, item_id, type, ts, session_id);
CREATE INDEX events_user_ts ON events (user_id, ts);
CREATE INDEX events_user_seq ON events (user_id, seq);
CREATE TABLE items (
    item_id     TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    category    TEXT NOT NULL DEFAULT '',
    price       DOUBLE PRECISION,
    currency    TEXT NOT NULL DEFAULT '',
    in_stock    INTEGER NOT NULL DEFAULT 1,
    attributes  TEXT NOT NULL DEFAULT '{{}}',
    updated_at  DOUBLE PRECISION NOT NULL
);
CREATE TABLE event_ids (
    user_id  TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (user_id, event_id)
);
CREATE TABLE erasures (
    user_key  TEXT PRIMARY KEY,  -- HMAC-SHA256 of the user id (PostgresStore.user_key)
    erased_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX erasures_erased_at ON erasures (erased_at);  -- every API worker polls it
CREATE TABLE item_log (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id    TEXT NOT NULL,
    changed_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX item_log_changed_at ON item_log (changed_at);
""",
    """
CREATE TABLE experiments (
    name       TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    created    BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE TABLE exposures (
    recommendation_id TEXT NOT NULL,  -- random: unique without an index to keep it so
    experiment        TEXT NOT NULL,
    variant           TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    ts                DOUBLE PRECISION NOT NULL,
    n_items           INTEGER NOT NULL,
    items             TEXT NOT NULL
);
CREATE INDEX exposures_experiment ON exposures (experiment, user_id);
CREATE TABLE event_links (
    user_id           TEXT NOT NULL,
    item_id           TEXT NOT NULL,
    type              TEXT NOT NULL,
    ts                DOUBLE PRECISION NOT NULL,
    recommendation_id TEXT NOT NULL,
    position          INTEGER,
    PRIMARY KEY (user_id, item_id, type, ts, recommendation_id)
);
""",
    # version 3: exposures indexed in the order they are written (see recsys/store/schema.py)
    """
DROP INDEX IF EXISTS exposures_experiment;
CREATE INDEX exposures_time ON exposures (experiment, ts, user_id);
""",
)
assert len(MIGRATIONS) == SCHEMA_VERSION


# the events of an experiment's users since it started, each with the answer it named
_LOG_EVENTS = """
SELECT e.user_id, e.item_id, e.type, e.ts, l.rid, l.pos FROM events e
LEFT JOIN (
    SELECT user_id, item_id, type, ts, MAX(recommendation_id) AS rid, MAX(position) AS pos
    FROM event_links
    WHERE user_id IN (SELECT user_id FROM exposures WHERE experiment = %(experiment)s)
    GROUP BY user_id, item_id, type, ts
) l ON l.user_id = e.user_id AND l.item_id = e.item_id AND l.type = e.type AND l.ts = e.ts
WHERE e.ts >= %(since)s AND e.ts <= %(until)s
  AND e.user_id IN (SELECT user_id FROM exposures WHERE experiment = %(experiment)s)
ORDER BY e.seq
"""


def redact_url(url: str) -> str:
    """``url`` without its password (for messages, logs and the served manifest).

    Masks the password of the user part (``user:secret@``, also with several hosts) and a
    ``password=`` query parameter.
    """
    masked = re.sub(r"(://[^/@:]*):[^@/]*@", r"\1:***@", url, count=1)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", masked)


def _connect(url: str) -> psycopg.Connection[Any]:
    # keepalives and tcp_user_timeout: a server host that vanishes (a network partition) fails
    # a call within about 15 s instead of TCP's own ~15 minutes
    return psycopg.connect(
        url,
        autocommit=True,
        connect_timeout=CONNECT_TIMEOUT_S,
        keepalives=1,
        keepalives_idle=30,
        keepalives_interval=10,
        keepalives_count=3,
        tcp_user_timeout=15_000,
    )


def migrate(url: str) -> tuple[int, int]:
    """Create or upgrade the recsys tables in the database at ``url``.

    Safe to run from several hosts at once (a session advisory lock makes them take turns) and
    again at any time (a store at :data:`~recsys.store.contract.SCHEMA_VERSION` is left alone).

    Returns:
        ``(version before, version after)``; 0 before means the tables were created.

    Raises:
        StoreUnavailableError: the server cannot be reached.
        StoreSchemaError: the tables are of a newer version than this recsys knows.
    """
    _require_psycopg()
    try:
        conn = _connect(url)
    except psycopg.OperationalError as exc:
        raise StoreUnavailableError(f"cannot connect to {redact_url(url)}: {exc}") from exc
    try:
        with conn:
            return _migrate(conn, url)
    except psycopg.OperationalError as exc:
        raise StoreUnavailableError(f"lost {redact_url(url)} while migrating: {exc}") from exc
    except psycopg.Error as exc:  # e.g. the role may not create tables
        raise StoreSchemaError(f"migrating {redact_url(url)} failed: {exc}") from exc


def _migrate(conn: psycopg.Connection[Any], url: str) -> tuple[int, int]:
    """:func:`migrate` on an open connection (the advisory lock is released with it)."""
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    before = int(row[0]) if row else 0
    if before > len(MIGRATIONS):
        raise StoreSchemaError(
            f"the store at {redact_url(url)} has schema version {before}, newer than this "
            f"recsys knows ({len(MIGRATIONS)}): upgrade recsys"
        )
    for version in range(before, len(MIGRATIONS)):
        with conn.transaction():
            conn.execute(MIGRATIONS[version])
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(version + 1),),
            )
        log.info("store %s: schema version %d -> %d", redact_url(url), version, version + 1)
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('erasure_secret', %s) ON CONFLICT DO NOTHING",
        (secrets.token_hex(32),),
    )
    conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))
    return before, len(MIGRATIONS)


class _StaleConnectionError(StoreUnavailableError):
    """A reused connection was found dead (the server restarted): no back-off, a read retries."""


class PoolExhaustedError(Exception):
    """Every connection of the pool stayed in use for the whole wait."""


class ConnectionPool:
    """At most ``size`` autocommit connections to ``url``, opened on demand, reused LIFO.

    A connection that comes back broken, closed or inside a transaction is closed and dropped;
    the next call opens a new one (or raises ``psycopg.OperationalError`` at once when the
    server is down).
    """

    def __init__(self, url: str, size: int, setup: str) -> None:
        self.url, self.setup = url, setup
        self._slots = threading.BoundedSemaphore(max(1, size))
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._closed = False
        self._local = threading.local()  # whether this thread's connection was reused

    @contextmanager
    def connection(self, timeout: float) -> Iterator[psycopg.Connection[Any]]:
        """A connection for the duration of the block.

        Raises:
            PoolExhaustedError: no connection was free within ``timeout`` seconds.
            psycopg.OperationalError: a new connection could not be opened.
        """
        if not self._slots.acquire(timeout=timeout):
            raise PoolExhaustedError
        conn = None
        try:
            with self._lock:
                if self._closed:
                    raise psycopg.OperationalError("the store was closed")
                conn = self._idle.pop() if self._idle else None
            self._local.reused = conn is not None
            if conn is None:
                conn = _connect(self.url)
                conn.execute(self.setup)
            yield conn
        finally:
            if conn is not None:
                self._put(conn)
            self._slots.release()

    def _put(self, conn: psycopg.Connection[Any]) -> None:
        idle = psycopg.pq.TransactionStatus.IDLE
        healthy = not conn.closed and not conn.broken and conn.info.transaction_status == idle
        with self._lock:
            if healthy and not self._closed:
                self._idle.append(conn)
                return
        with suppress(psycopg.Error):
            conn.close()

    def reused(self) -> bool:
        """Whether the calling thread's last connection came from the idle list."""
        return bool(getattr(self._local, "reused", False))

    def discard_idle(self) -> None:
        """Close the idle connections (one was found dead: a server restart kills them all)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            with suppress(psycopg.Error):
                conn.close()

    def close(self) -> None:
        """Close the idle connections; connections in use close when they come back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            with suppress(psycopg.Error):
                conn.close()


class PostgresStore:
    """Events, catalog and erasures in a PostgreSQL database (``postgresql://`` URL).

    Args:
        url: a libpq URL, e.g. ``postgresql://recsys@db.internal/shop`` (a password may come
            from ``~/.pgpass`` or ``PGPASSWORD``, as for ``psql``).
        write_timeout_s: how long a write waits for the write lock (and a call for a pooled
            connection) before :class:`~recsys.errors.StoreBusyError`.
        pool_size: most connections this store opens (one per concurrent request thread).

    Raises:
        StoreSchemaError: the tables are missing or of another version (``recsys db migrate``).
            A server that is down when the store is opened is not an error: the first call
            that needs it raises :class:`~recsys.errors.StoreUnavailableError`.

    Example:
        >>> store = PostgresStore("postgresql://shop@127.0.0.1/shop")
        >>> store.add_events(frame)
        >>> store.close()
    """

    def __init__(
        self, url: str, write_timeout_s: float = WRITE_TIMEOUT_S, pool_size: int = POOL_SIZE
    ) -> None:
        _require_psycopg()
        self.url = url
        self.location = redact_url(url)
        self.write_timeout_s = float(write_timeout_s)
        lock_ms = max(1, int(self.write_timeout_s * 1000))
        self._pool = ConnectionPool(url, pool_size, f"SET lock_timeout = {lock_ms}")
        self._down_until = 0.0
        self._ready_lock = threading.Lock()
        self._secret: bytes | None = None
        self._version = 0
        try:
            self._ready()
        except StoreUnavailableError as exc:
            log.warning("store %s is unreachable for now: %s", self.location, exc)
        except BaseException:
            self._pool.close()
            raise

    # ------------------------------------------------------------------------ connections
    def _ready(self) -> bytes:
        """The erasure secret, after checking the schema version once (on first success)."""
        if self._secret is not None:
            return self._secret
        with self._ready_lock:
            if self._secret is None:
                with self._connection() as conn:
                    try:
                        rows = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                    except psycopg.errors.UndefinedTable as exc:
                        raise StoreSchemaError(
                            f"the store at {self.location} has no recsys tables: run "
                            "`recsys db migrate` (with RECSYS_STORE set to it) first"
                        ) from exc
                version = int(rows.get("schema_version", 0))
                if version != SCHEMA_VERSION or "erasure_secret" not in rows:
                    newer = version > SCHEMA_VERSION
                    raise StoreSchemaError(
                        f"the store at {self.location} has schema version {version}; this recsys "
                        f"needs {SCHEMA_VERSION}: "
                        + ("upgrade recsys" if newer else "run `recsys db migrate`")
                    )
                self._version = version
                self._secret = bytes.fromhex(rows["erasure_secret"])
        return self._secret

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection; server trouble becomes Store{Unavailable,Busy}Error."""
        if time.monotonic() < self._down_until:
            raise StoreUnavailableError(
                f"the store at {self.location} is unreachable; retry", retry_after_s=2.0
            )
        try:
            with self._pool.connection(self.write_timeout_s) as conn:
                yield conn
        except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as exc:
            raise StoreBusyError(
                f"the store is busy (a write held it over {self.write_timeout_s:g} s); retry",
                retry_after_s=1.0,
            ) from exc
        except PoolExhaustedError as exc:
            raise StoreBusyError(
                f"every connection to the store was in use for {self.write_timeout_s:g} s; retry",
                retry_after_s=1.0,
            ) from exc
        except psycopg.errors.ReadOnlySqlTransaction as exc:  # a failover to a standby
            self._down(exc)
        except psycopg.OperationalError as exc:  # lost or refused connection, server shutdown
            if self._pool.reused():  # a pooled connection went stale (a restart, an idle cut)
                self._pool.discard_idle()  # its siblings too; a new one may well connect
                raise _StaleConnectionError(
                    f"a connection to the store at {self.location} was lost; retry",
                    retry_after_s=1.0,
                ) from exc
            self._down(exc)

    def _down(self, exc: Exception) -> None:
        self._down_until = time.monotonic() + DOWN_BACKOFF_S
        log.warning("store %s unreachable: %s", self.location, str(exc).strip()[:200])
        raise StoreUnavailableError(
            f"the store at {self.location} is unreachable ({type(exc).__name__}); retry",
            retry_after_s=2.0,
        ) from exc

    def _rows(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        try:
            with self._connection() as conn:
                rows: list[tuple[Any, ...]] = conn.execute(sql, params).fetchall()
        except _StaleConnectionError:  # a read may be repeated: once, on a new connection
            with self._connection() as conn:
                rows = conn.execute(sql, params).fetchall()
        return rows

    def _one(self, sql: str, params: Any = None) -> tuple[Any, ...]:
        rows = self._rows(sql, params)
        return rows[0]

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One write transaction holding :data:`WRITE_LOCK` (commits on exit)."""
        self._ready()
        with self._connection() as conn:
            try:
                conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})")
                yield conn
            except BaseException:
                if not conn.closed:
                    with suppress(psycopg.Error):
                        conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _bulk(self, rows: Sequence[Any], write: ChunkWriter, atomic: bool = False) -> int:
        """Write ``rows`` with ``write``, :data:`CHUNK_ROWS` a transaction (one if ``atomic``).

        Each chunk commits on its own (a write cut short stores a prefix, which writing again
        completes without duplicates), so an API write waiting for the lock waits one chunk
        (Postgres grants a lock to its waiters in turn). A chunk that finds the store busy is
        retried :data:`BULK_RETRIES` times when there are several chunks.
        """
        size = len(rows) if atomic else CHUNK_ROWS
        done = 0
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            for attempt in range(BULK_RETRIES + 1):
                try:
                    with self._transaction() as conn:
                        done += write(conn, chunk)
                    break
                except StoreBusyError:
                    if len(rows) <= size or attempt == BULK_RETRIES:
                        raise
                    log.info("store busy; retrying a chunk of %d rows", len(chunk))
                    time.sleep(min(2.0, 0.25 * 2**attempt))
        return done

    def close(self) -> None:
        """Close the pool's connections."""
        self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        """The schema version of the tables (checked when the store is first reached)."""
        self._ready()
        return self._version

    # ------------------------------------------------------------------------------ events
    def add_events(self, events: pl.DataFrame, atomic: bool = False) -> int:
        """Store validated events once each (see ``SQLiteStore.add_events``); count the new."""
        if events.height == 0:
            return 0
        stored = self.add_event_rows(event_rows(events), atomic)
        links = link_rows(events)
        if links:  # events that named the answer they came from (an experiment's attribution)
            with self._transaction() as conn:
                erased = self._erased_among(conn, {r[0] for r in links})
                links = [r for r in links if not (r[0] in erased and r[3] <= erased[r[0]])]
                if links:
                    conn.cursor().executemany(
                        "INSERT INTO event_links "
                        "(user_id, item_id, type, ts, recommendation_id, position) "
                        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        links,
                    )
        return stored

    def add_event_rows(self, rows: Sequence[EventRow], atomic: bool = False) -> int:
        """Store validated rows once each (see ``SQLiteStore.add_event_rows``); count the new."""
        if not rows:
            return 0

        def write(conn: Any, chunk: Sequence[EventRow]) -> int:
            erased = self._erased_among(conn, {r[0] for r in chunk})
            if erased:  # an erased user's old events never come back (a re-imported export)
                chunk = [r for r in chunk if not (r[0] in erased and r[3] <= erased[r[0]])]
            plain = [r for r in chunk if r[5] is None]
            keys: set[tuple[Any, Any]] = set()
            keyed: list[EventRow] = []
            for r in chunk:  # a key repeated within the batch: only its first event counts
                if r[5] is not None and (r[0], r[5]) not in keys:
                    keys.add((r[0], r[5]))
                    keyed.append(r)
            stored = 0
            if plain:
                stored += _insert(conn, plain, keyed=False)
            if keyed:
                stored += _insert(conn, keyed, keyed=True)
                conn.execute(
                    "INSERT INTO event_ids (user_id, event_id) "
                    "SELECT * FROM unnest(%s::text[], %s::text[]) ON CONFLICT DO NOTHING",
                    ([r[0] for r in keyed], [r[5] for r in keyed]),
                )
            return stored

        return self._bulk(rows, write, atomic)

    def events_frame(
        self, since_ts: float | None = None, until_seq: int | None = None
    ) -> pl.DataFrame:
        """All events in position order (see ``SQLiteStore.events_frame``)."""
        sql = "SELECT user_id, item_id, type, ts, session_id FROM events"
        where, params = [], []
        if since_ts is not None:
            where.append("ts >= %s")
            params.append(float(since_ts))
        if until_seq is not None:
            where.append("seq <= %s")
            params.append(int(until_seq))
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq"
        chunks = []
        with (
            self._connection() as conn,
            conn.transaction(),
            conn.cursor(name="recsys_events_frame") as cursor,
        ):
            cursor.itersize = 200_000
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(200_000):
                chunks.append(pl.DataFrame(batch, schema=EVENT_SCHEMA, orient="row"))
        if not chunks:
            return pl.DataFrame(schema=EVENT_SCHEMA)
        return pl.concat(chunks, rechunk=True)

    def user_events(self, user_id: str, limit: int = 200) -> list[UserEvent]:
        """The user's newest events, newest first (empty for an unknown user)."""
        rows = self._rows(
            "SELECT item_id, type, ts FROM events WHERE user_id = %s "
            "ORDER BY ts DESC, seq DESC LIMIT %s",
            (user_id, int(limit)),
        )
        return [UserEvent._make(r) for r in rows]

    def user_item_types(self, user_id: str) -> list[tuple[str, str]]:
        """The distinct ``(item_id, type)`` pairs of the user's whole history."""
        sql = "SELECT DISTINCT item_id, type FROM events WHERE user_id = %s"
        rows = self._rows(sql, (user_id,))
        return [(r[0], r[1]) for r in rows]

    def user_history(self, user_id: str, limit: int) -> UserHistory:
        """The newest ``limit`` events, and the whole history's pairs when there are more."""
        return read_history(self, user_id, limit)

    def user_events_since(
        self, user_id: str, limit: int, after_seq: int
    ) -> tuple[list[UserEvent], list[tuple[str, str]]]:
        """The newest ``limit`` events, and the distinct pairs stored after ``after_seq``."""
        events = self.user_events(user_id, limit=limit)
        rows = self._rows(
            "SELECT DISTINCT item_id, type FROM events WHERE user_id = %s AND seq > %s",
            (user_id, int(after_seq)),
        )
        return events, [(r[0], r[1]) for r in rows]

    def user_events_after(
        self, user_id: str, after_seq: int, until_seq: int | None = None
    ) -> list[tuple[str, str, float, int]]:
        """The user's events stored after ``after_seq`` (to ``until_seq``), in position order."""
        until = 2**63 - 1 if until_seq is None else int(until_seq)  # BIGINT's largest
        rows = self._rows(
            "SELECT item_id, type, ts, seq FROM events "
            "WHERE user_id = %s AND seq > %s AND seq <= %s ORDER BY seq",
            (user_id, int(after_seq), until),
        )
        return [(r[0], r[1], float(r[2]), int(r[3])) for r in rows]

    def last_seq(self) -> int:
        """Position of the newest stored event (0 when none; positions are never reused)."""
        return int(self._one("SELECT COALESCE(MAX(seq), 0) FROM events")[0])

    def count_events(self) -> int:
        """The number of stored events."""
        return int(self._one("SELECT COUNT(*) FROM events")[0])

    # ----------------------------------------------------------------------------- catalog
    def upsert_items(self, items: pl.DataFrame, atomic: bool = False) -> int:
        """Insert or replace catalog items (see ``SQLiteStore.upsert_items``)."""
        if items.height == 0:
            return 0
        now = time.time()
        rows = complete_items(items, now).select(ITEM_COLUMNS).rows()

        def write(conn: Any, chunk: Sequence[tuple[Any, ...]]) -> int:
            conn.execute(
                "INSERT INTO item_log (item_id, changed_at) SELECT unnest(%s::text[]), %s",
                ([r[0] for r in chunk], now),
            )
            last = list({r[0]: r for r in chunk}.values())  # an id twice: the later row wins
            columns = list(zip(*last, strict=True))
            conn.execute(
                "INSERT INTO items (item_id, title, description, category, price, currency, "
                "in_stock, attributes, updated_at) SELECT * FROM unnest(%s::text[], %s::text[], "
                "%s::text[], %s::text[], %s::float8[], %s::text[], %s::int[], %s::text[], "
                "%s::float8[]) ON CONFLICT (item_id) DO UPDATE SET title = excluded.title, "
                "description = excluded.description, category = excluded.category, "
                "price = excluded.price, currency = excluded.currency, "
                "in_stock = excluded.in_stock, attributes = excluded.attributes, "
                "updated_at = excluded.updated_at",
                [list(c) for c in columns],
            )
            return len(chunk)

        return self._bulk(rows, write, atomic)

    def catalog_frame(self) -> pl.DataFrame:
        """The whole catalog ordered by item id (``attributes`` as a JSON string)."""
        rows = self._rows(f"SELECT {', '.join(ITEM_COLUMNS)} FROM items ORDER BY item_id")
        return pl.DataFrame(rows, schema=ITEM_SCHEMA, orient="row")

    def get_item(self, item_id: str) -> dict[str, Any] | None:
        """One catalog item as a dict (attributes parsed), or None if unknown."""
        rows = self._rows(
            f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE item_id = %s", (item_id,)
        )
        if not rows:
            return None
        item = dict(zip(ITEM_COLUMNS, rows[0], strict=True))
        item["in_stock"] = bool(item["in_stock"])
        item["attributes"] = json.loads(item["attributes"])
        return item

    def get_items(self, item_ids: Sequence[str]) -> pl.DataFrame:
        """The catalog rows of ``item_ids`` (unknown ids are absent), ordered by item id."""
        rows = self._rows(
            f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE item_id = ANY(%s::text[]) "
            "ORDER BY item_id",
            (sorted(set(item_ids)),),
        )
        return pl.DataFrame(rows, schema=ITEM_SCHEMA, orient="row")

    def item_log_position(self, since: float | None = None) -> int:
        """The last catalog-log position written before ``since`` (the newest when None)."""
        if since is None:
            row = self._one("SELECT COALESCE(MAX(seq), 0) FROM item_log")
        else:
            row = self._one(
                "SELECT COALESCE(MAX(seq), 0) FROM item_log WHERE changed_at < %s", (since,)
            )
        return int(row[0])

    def item_changes(self, after_seq: int) -> tuple[int, list[str]]:
        """``(newest position, item ids upserted after after_seq)`` (ids unique, sorted)."""
        rows = self._rows(
            "SELECT seq, item_id FROM item_log WHERE seq > %s ORDER BY seq", (int(after_seq),)
        )
        if not rows:
            return int(after_seq), []
        return int(rows[-1][0]), sorted({r[1] for r in rows})

    def count_items(self) -> int:
        """The number of catalog items."""
        return int(self._one("SELECT COUNT(*) FROM items")[0])

    # ----------------------------------------------------------------------------- privacy
    def user_key(self, user_id: str) -> str:
        """The tombstone key of ``user_id``: HMAC-SHA256 under this database's secret (hex)."""
        return tombstone_key(self._ready(), user_id)

    def user_state(self, user_id: str) -> tuple[int | None, float | None]:
        """``(position of the user's newest event, when the user was last erased)``."""
        row = self._one(
            "SELECT (SELECT MAX(seq) FROM events WHERE user_id = %s), "
            "(SELECT erased_at FROM erasures WHERE user_key = %s)",
            (user_id, self.user_key(user_id)),
        )
        return (
            None if row[0] is None else int(row[0]),
            None if row[1] is None else float(row[1]),
        )

    def user_state_after(
        self, user_id: str, after_seq: int
    ) -> tuple[int | None, float | None, int]:
        """``(user's newest position after after_seq, when erased, position covered)``.

        One seek of ``events_user_seq``. Here positions come from a sequence, and concurrent
        transactions can make them visible out of order, so the position this vouches for is
        the user's own newest, never the store's.
        """
        row = self._one(
            "SELECT (SELECT MAX(seq) FROM events WHERE user_id = %s AND seq > %s), "
            "(SELECT erased_at FROM erasures WHERE user_key = %s)",
            (user_id, int(after_seq), self.user_key(user_id)),
        )
        newer = None if row[0] is None else int(row[0])
        return (
            newer,
            None if row[1] is None else float(row[1]),
            int(after_seq) if newer is None else newer,
        )

    def delete_user(self, user_id: str, now: float | None = None) -> int:
        """Erase the user's events, event ids and experiment records, record a tombstone.

        Returns the number of events deleted (see ``SQLiteStore.delete_user``).
        """
        now = time.time() if now is None else now
        key = self.user_key(user_id)
        with self._transaction() as conn:
            deleted = conn.execute("DELETE FROM events WHERE user_id = %s", (user_id,)).rowcount
            conn.execute("DELETE FROM event_ids WHERE user_id = %s", (user_id,))
            conn.execute(  # a scan of each experiment's entries in the exposures_time index
                "DELETE FROM exposures WHERE experiment IN (SELECT name FROM experiments) "
                "AND user_id = %s",
                (user_id,),
            )
            conn.execute("DELETE FROM event_links WHERE user_id = %s", (user_id,))
            conn.execute(
                "INSERT INTO erasures (user_key, erased_at) VALUES (%s, %s) "
                "ON CONFLICT (user_key) DO UPDATE SET erased_at = excluded.erased_at",
                (key, now),
            )
            return int(deleted)

    # ------------------------------------------------------------------------ experiments
    def put_experiment(self, name: str, spec: str, now: float | None = None) -> None:
        """Create or replace an experiment's definition (see ``SQLiteStore.put_experiment``)."""
        now = time.time() if now is None else now
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO experiments (name, spec, updated_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, "
                "updated_at = excluded.updated_at",
                (name, spec, now),
            )

    def experiment_specs(self) -> dict[str, str]:
        """``{name: definition JSON}`` of every experiment, oldest first."""
        return dict(self._rows("SELECT name, spec FROM experiments ORDER BY created"))

    def add_exposures(self, exposures: Sequence[Exposure]) -> int:
        """Record served answers and their items (see ``SQLiteStore.add_exposures``)."""
        if not exposures:
            return 0
        heads = exposure_rows(exposures)
        with self._transaction() as conn:
            erased = self._erased_among(conn, {h[3] for h in heads})
            if erased:
                heads = [h for h in heads if not (h[3] in erased and h[4] <= erased[h[3]])]
            names = sorted({h[1] for h in heads})
            found = conn.execute(
                "SELECT name FROM experiments WHERE name = ANY(%s::text[])", (names,)
            ).fetchall()
            known = {r[0] for r in found}
            if len(known) < len(names):  # an erasure finds rows through their experiment
                heads = [h for h in heads if h[1] in known]
            if not heads:
                return 0
            new = conn.execute(
                "INSERT INTO exposures "
                "(recommendation_id, experiment, variant, user_id, ts, n_items, items) "
                "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], "
                "%s::float8[], %s::int[], %s::text[])",
                [list(c) for c in zip(*heads, strict=True)],
            ).rowcount
            return int(new)

    def experiment_log(
        self, experiment: str, since: float, until: float | None = None
    ) -> ExperimentLog:
        """Everything an experiment's report reads (see ``SQLiteStore.experiment_log``)."""
        rows = self._rows(
            f"SELECT {EXPOSURE_COLUMNS} FROM exposures WHERE experiment = %s", (experiment,)
        )
        last = float("inf") if until is None else float(until)
        params = {"experiment": experiment, "since": float(since), "until": last}
        return log_of(rows, self._rows(_LOG_EVENTS, params))

    def erased_at(self, user_id: str) -> float | None:
        """When ``user_id`` was last erased (epoch seconds), or None if never."""
        rows = self._rows(
            "SELECT erased_at FROM erasures WHERE user_key = %s", (self.user_key(user_id),)
        )
        return float(rows[0][0]) if rows else None

    def erasures_since(self, since: float) -> dict[str, float]:
        """Tombstones written at or after ``since``: ``{user key: erased_at}``."""
        rows = self._rows(
            "SELECT user_key, erased_at FROM erasures WHERE erased_at >= %s", (since,)
        )
        return {str(k): float(t) for k, t in rows}

    def _erased_among(self, conn: Any, user_ids: set[str]) -> dict[str, float]:
        """``{user id: erased_at}`` for the erased users among ``user_ids`` (inside a write)."""
        keys = {self.user_key(u): u for u in user_ids}
        found = conn.execute(
            "SELECT user_key, erased_at FROM erasures WHERE user_key = ANY(%s::text[])",
            (list(keys),),
        ).fetchall()
        return {keys[k]: float(at) for k, at in found}

    # ------------------------------------------------------------------------- maintenance
    def checkpoint(self, wait_s: float = 10.0) -> bool:
        """Ask the server for a ``CHECKPOINT`` (needs superuser or ``pg_checkpoint``).

        After it, WAL files holding the deleted rows can be recycled; the server decides when,
        and WAL archives and backups are outside the store's reach. Returns False when the
        role may not checkpoint (the server's own checkpoints come within
        ``checkpoint_timeout``, 5 min by default).
        """
        try:
            with self._connection() as conn:
                conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            return False
        return True

    def size_bytes(self) -> int:
        """Bytes of the store's tables and their indexes."""
        tables = ("events", "event_ids", "items", "item_log", "erasures", "meta")
        sql = " + ".join(f"pg_total_relation_size('{t}')" for t in tables)
        return int(self._one(f"SELECT {sql}")[0])

    def compact(self) -> bool:
        """Rewrite the event tables (``VACUUM FULL``) so deleted rows' bytes leave them.

        ``VACUUM FULL`` locks the tables it rewrites: reads and writes of events wait for it
        (up to ``write_timeout_s``, then StoreBusyError), about as long as SQLite's ``VACUUM``.
        A ``CHECKPOINT`` is asked for afterwards (see :meth:`checkpoint`; its outcome is
        reported by the erasure as ``wal_truncated``, not here).

        Returns:
            True: the tables were rewritten.

        Raises:
            StoreBusyError: a transaction held the tables for ``write_timeout_s``.
        """
        with self._connection() as conn:
            conn.execute("VACUUM (FULL, ANALYZE) events, event_ids, erasures")
            conn.execute("DELETE FROM meta WHERE key = 'compact_due'")
        self.checkpoint()
        return True

    def mark_compact_due(self, now: float | None = None) -> None:
        """Record that an erasure left rows only :meth:`compact` removes for good."""
        when = time.time() if now is None else now
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('compact_due', %s) ON CONFLICT DO NOTHING",
                (repr(when),),
            )

    def compact_due(self) -> float | None:
        """Since when a compaction is due (see :meth:`mark_compact_due`), or None."""
        rows = self._rows("SELECT value FROM meta WHERE key = 'compact_due'")
        return float(rows[0][0]) if rows else None


def _insert(conn: Any, rows: Sequence[tuple[Any, ...]], keyed: bool) -> int:
    """Insert events in order, skipping stored natural keys (and seen client keys if ``keyed``)."""
    columns = [list(c) for c in zip(*rows, strict=True)]
    params: dict[str, Any] = {
        "u": columns[0],
        "i": columns[1],
        "t": columns[2],
        "ts": columns[3],
        "s": columns[4],
        "types": list(EVENT_TYPES),
    }
    unseen = ""
    if keyed:
        params["e"] = columns[5]
        unseen = (
            " AND NOT EXISTS (SELECT 1 FROM event_ids k WHERE k.user_id = b.u AND k.event_id = b.e)"
        )
    source = (
        "unnest(%(u)s::text[], %(i)s::text[], %(t)s::text[], %(ts)s::float8[], %(s)s::text[]"
        + (", %(e)s::text[]) WITH ORDINALITY AS b(u, i, t, ts, s, e, n)" if keyed else ")")
        + ("" if keyed else " WITH ORDINALITY AS b(u, i, t, ts, s, n)")
    )
    cursor = conn.execute(
        "INSERT INTO events (user_id, item_id, type, ts, session_id) "
        f"SELECT u, i, t, ts, s FROM {source} WHERE {_VALID}{unseen} ORDER BY n "
        "ON CONFLICT DO NOTHING",
        params,
    )
    return int(cursor.rowcount)
