"""The data home: where the database, caches and model bundles live.

Resolved from an explicit path, else the ``RECSYS_HOME`` environment variable, else ``./var``.
:func:`process_alive` tells whether the writer a file in the home names (a bundle writer, a lock
holder) still runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Home:
    """Paths under one data home folder.

    Example:
        >>> Home(Path("/srv/recsys")).db_path
        PosixPath('/srv/recsys/recsys.sqlite3')
    """

    root: Path

    @classmethod
    def resolve(cls, root: str | Path | None = None) -> Home:
        """Return the home at ``root``, else ``$RECSYS_HOME``, else ``./var`` (not created)."""
        chosen = root if root is not None else os.environ.get("RECSYS_HOME") or "var"
        return cls(Path(chosen).expanduser().absolute())

    @property
    def db_path(self) -> Path:
        """SQLite database with events and catalog."""
        return self.root / "recsys.sqlite3"

    @property
    def artifacts(self) -> Path:
        """Folder of versioned model bundles and the ``CURRENT`` pointer."""
        return self.root / "artifacts"

    @property
    def cache(self) -> Path:
        """Folder of caches (text embeddings, converted models)."""
        return self.root / "cache"

    @property
    def embedding_cache_path(self) -> Path:
        """SQLite file of text embeddings keyed by content hash."""
        return self.cache / "embeddings.sqlite3"

    @property
    def pitch_cache_path(self) -> Path:
        """SQLite file of written pitches (see :mod:`recsys.pitch.cache`)."""
        return self.cache / "pitches.sqlite3"

    def ensure(self) -> Home:
        """Create the folders if needed and return self."""
        for path in (self.root, self.artifacts, self.cache):
            path.mkdir(parents=True, exist_ok=True)
        return self


def process_alive(pid: int) -> bool:
    """Return whether a process with ``pid`` exists on this host (signal 0 probe)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True
