"""Keeping the database file small and free of old copies: WAL checkpoints and compaction.

After an erasure, copies of the deleted rows can outlive ``secure_delete`` in two places: the
write-ahead log (``recsys.sqlite3-wal``), which :meth:`MaintenanceMixin.checkpoint` copies into
the database file and truncates, and unused gaps of pages that rows were moved out of, which only
rewriting the database removes (:meth:`MaintenanceMixin.compact`). Compaction makes writers wait,
so an erasure on a large store (or one that found the store busy) records that one is due
(:meth:`MaintenanceMixin.mark_compact_due`), and the nightly job or ``recsys compact`` runs it
(see :mod:`recsys.erasure`).
"""

from __future__ import annotations

import logging
import sqlite3
import time

from recsys.errors import StoreBusyError
from recsys.store.base import StoreBase

log = logging.getLogger(__name__)


class MaintenanceMixin(StoreBase):
    """Checkpoints, size and compaction of :class:`~recsys.store.sqlite.SQLiteStore`."""

    def checkpoint(self, wait_s: float = 10.0) -> bool:
        """Copy the write-ahead log into the database file and truncate it to zero bytes.

        Waits for readers still on an older snapshot (up to ``wait_s``; an API read takes
        milliseconds, a training read seconds).

        Returns:
            True when the log was truncated; False when a reader or writer kept it busy for
            ``wait_s`` (the old pages stay in the log until a later checkpoint).
        """
        deadline = time.monotonic() + wait_s
        while True:
            try:
                with self._lock:
                    busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.OperationalError as exc:  # another checkpoint or writer
                log.debug("checkpoint: %s", exc)
                busy = 1
            if not busy:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def size_bytes(self) -> int:
        """Bytes of the database file and its write-ahead log."""
        return sum(
            p.stat().st_size
            for p in (self.path, self.path.with_name(self.path.name + "-wal"))
            if p.is_file()
        )

    def compact(self) -> bool:
        """Rewrite the database (``VACUUM``) and truncate its log; clear a due compaction.

        ``secure_delete`` zeroes deleted rows, but SQLite leaves stale copies of rows that a page
        split or merge once *moved* in the unused gap of the page they left (measured: 2 copies
        of one of 49 erased ML-100K users after a bulk erasure). Rewriting every page removes
        them. About 15 ms per MB on 2 cores (1.6 s for 1M events, 112 MB); writers wait
        meanwhile (the API answers 503 after ``write_timeout_s``), readers do not.

        Returns:
            True when the database was rewritten and its log truncated.

        Raises:
            StoreBusyError: another writer held the write lock.
        """
        if not self._lock.acquire(timeout=self.write_timeout_s):
            raise StoreBusyError("the store is busy; compact later", retry_after_s=5.0)
        try:
            try:
                self._conn.execute("VACUUM")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise StoreBusyError(
                        f"the store is busy ({exc}); compact later", retry_after_s=5.0
                    ) from exc
                raise
            self._conn.execute("DELETE FROM meta WHERE key = 'compact_due'")
        finally:
            self._lock.release()
        return self.checkpoint()

    def mark_compact_due(self, now: float | None = None) -> None:
        """Record that an erasure left rows that only :meth:`compact` removes for good."""
        when = time.time() if now is None else now
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('compact_due', ?) "
                "ON CONFLICT(key) DO NOTHING",
                (repr(when),),
            )

    def compact_due(self) -> float | None:
        """Since when a compaction is due (see :meth:`mark_compact_due`), or None."""
        row = self._read().execute("SELECT value FROM meta WHERE key = 'compact_due'").fetchone()
        return None if row is None else float(row[0])
