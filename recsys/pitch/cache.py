"""SQLite cache of written pitches under the data home.

Key: (item id, hash of the shopper context, prompt version, model name). A pitch written for one
shopper context is served again for any shopper with the same context (same recent items and
language); a new prompt version or model simply misses.

A pitch is derived from a shopper's history, so it is personal data of every shopper it was
written or served for. ``pitch_users`` links each ``(item id, context hash)`` to those shoppers
(:meth:`PitchCache.link`); erasing a shopper (:meth:`PitchCache.forget_users`) deletes every
pitch linked to them, with ``secure_delete`` on and the write-ahead log truncated afterwards. A
pitch written after its only shoppers were erased is dropped by :meth:`PitchCache.drop_unlinked`.
A cache file from before links existed is emptied when first opened (its pitches cannot be
attributed; they are written again on demand).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS pitches (
    item_id TEXT NOT NULL,
    context_hash TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    origin TEXT NOT NULL,           -- 'llm' or 'template' (the LLM failed validation)
    created_at REAL NOT NULL,
    PRIMARY KEY (item_id, context_hash, prompt_version, model)
);
CREATE TABLE IF NOT EXISTS pitch_users (
    user_id      TEXT NOT NULL,
    item_id      TEXT NOT NULL,
    context_hash TEXT NOT NULL,
    PRIMARY KEY (user_id, item_id, context_hash)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pitch_users_pitch ON pitch_users (item_id, context_hash);
"""


@dataclass(frozen=True)
class CacheKey:
    """Identity of one cached pitch."""

    item_id: str
    context_hash: str
    prompt_version: str
    model: str


@dataclass(frozen=True)
class CachedPitch:
    """A cached pitch and who wrote it."""

    text: str
    origin: str  # "llm" | "template"
    created_at: float


class PitchCache:
    """Pitches in one SQLite file (WAL; safe for several threads and processes).

    Example:
        >>> cache = PitchCache(home.cache / "pitches.sqlite3")
        >>> cache.put(key, "Because you bought ...", "llm")
        >>> cache.get(key).text
        'Because you bought ...'
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            self.path, timeout=30.0, check_same_thread=False, isolation_level=None
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA secure_delete=ON")
        linked = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pitch_users'"
        ).fetchone()
        if linked is None:  # a new file, or one from before links: create (and empty) it once
            self._create()

    def _create(self) -> None:
        """Create the tables; a file from before links loses its unattributable pitches."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                linked = self._conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pitch_users'"
                ).fetchone()
                for statement in SCHEMA.split(";"):  # not executescript: it would commit
                    if statement.strip():
                        self._conn.execute(statement)
                if linked is None:
                    dropped = self._conn.execute("DELETE FROM pitches").rowcount
                    if dropped:
                        log.info("pitch cache: dropped %d pitches written before links", dropped)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def get(self, key: CacheKey) -> CachedPitch | None:
        """The cached pitch for ``key``, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT text, origin, created_at FROM pitches WHERE item_id=? AND context_hash=? "
                "AND prompt_version=? AND model=?",
                (key.item_id, key.context_hash, key.prompt_version, key.model),
            ).fetchone()
        return CachedPitch(*row) if row else None

    def put(self, key: CacheKey, text: str, origin: str, now: float | None = None) -> None:
        """Store (or replace) the pitch for ``key``."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO pitches VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key.item_id,
                    key.context_hash,
                    key.prompt_version,
                    key.model,
                    text,
                    origin,
                    time.time() if now is None else now,
                ),
            )

    def link(self, user_id: str, keys: Iterable[CacheKey]) -> None:
        """Record that pitches for ``keys`` were written or served for ``user_id``.

        Call it before the pitch is written (for a miss) or served (for a hit), so that an
        erasure running at the same time finds the link (see :meth:`drop_unlinked`).
        """
        rows = sorted({(user_id, k.item_id, k.context_hash) for k in keys})
        if not rows:
            return
        with self._lock:
            self._conn.executemany("INSERT OR IGNORE INTO pitch_users VALUES (?, ?, ?)", rows)

    def linked_users(self) -> list[str]:
        """Every shopper some cached pitch is linked to (to match against new erasures)."""
        with self._lock:
            rows = self._conn.execute("SELECT DISTINCT user_id FROM pitch_users").fetchall()
        return [str(r[0]) for r in rows]

    def forget_keyed(self, tombstones: Mapping[str, float], key_of: Callable[[str], str]) -> int:
        """Forget the shoppers whose key (``key_of(user id)``) is in ``tombstones``.

        For erasures known only by their tombstone keys (made through another host).

        Returns:
            The number of pitches deleted.
        """
        if not tombstones:
            return 0
        erased = [u for u in self.linked_users() if key_of(u) in tombstones]
        return self.forget_users(erased) if erased else 0

    def forget_users(self, user_ids: Sequence[str]) -> int:
        """Delete every pitch linked to these shoppers, and their links; return pitches deleted.

        When anything was deleted the file is then compacted (:meth:`compact`), so no copy of a
        pitch stays in a page gap or in the write-ahead log.
        """
        deleted = 0
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for user_id in user_ids:
                    deleted += self._conn.execute(
                        "DELETE FROM pitches WHERE (item_id, context_hash) IN "
                        "(SELECT item_id, context_hash FROM pitch_users WHERE user_id = ?)",
                        (user_id,),
                    ).rowcount
                    self._conn.execute("DELETE FROM pitch_users WHERE user_id = ?", (user_id,))
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        if deleted:
            self.compact()
        return deleted

    def drop_unlinked(self, keys: Iterable[CacheKey]) -> int:
        """Delete the pitches of ``keys`` that no shopper links to any more; return how many.

        A writer calls it after :meth:`put`: if every shopper the pitch was for was erased while
        it was being written, the erasure could not delete it yet, so it goes now (and the file
        is compacted, so the text is not left in the write-ahead log either).
        """
        deleted = 0
        with self._lock:
            for k in keys:
                deleted += self._conn.execute(
                    "DELETE FROM pitches WHERE item_id = ? AND context_hash = ? AND NOT EXISTS "
                    "(SELECT 1 FROM pitch_users WHERE item_id = ? AND context_hash = ?)",
                    (k.item_id, k.context_hash, k.item_id, k.context_hash),
                ).rowcount
        if deleted:
            self.compact()
        return deleted

    def compact(self) -> bool:
        """Rewrite the file (``VACUUM``: no stale copy of a deleted pitch stays in page gaps)."""
        with self._lock:
            self._conn.execute("VACUUM")
        return self.checkpoint()

    def checkpoint(self, wait_s: float = 5.0) -> bool:
        """Truncate the write-ahead log (after an erasure), waiting up to ``wait_s`` for readers.

        Returns:
            False if a reader or writer (another API worker's pitch writer) kept it busy.
        """
        deadline = time.monotonic() + wait_s
        while True:
            try:
                with self._lock:
                    busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.OperationalError as exc:
                log.debug("pitch cache checkpoint: %s", exc)
                busy = 1
            if not busy:
                return True
            if time.monotonic() >= deadline:
                log.warning("pitch cache: write-ahead log still in use after %.1f s", wait_s)
                return False
            time.sleep(0.05)

    def count(self) -> int:
        """Number of cached pitches."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM pitches").fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
