"""SQLite cache of written pitches under the data home.

Key: (item id, hash of the shopper context, prompt version, model name). A pitch written for one
shopper context is served again for any shopper with the same context (same recent items and
language); a new prompt version or model simply misses.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

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
        >>> cache.put(key, "Since you bought ...", "llm")
        >>> cache.get(key).text
        'Since you bought ...'
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
        self._conn.executescript(SCHEMA)

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

    def count(self) -> int:
        """Number of cached pitches."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM pitches").fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
