"""The data home: where the database, caches and model bundles live.

Resolved from an explicit path, else the ``RECSYS_HOME`` environment variable, else ``./var``.
Two parts may live elsewhere, for several API hosts serving one shop (``docs/deployment.md``):
the store (``RECSYS_STORE``: a ``postgresql://`` URL every host shares; unset, the SQLite file
in the home) and the bundles (``RECSYS_ARTIFACTS``: a folder every host reads, e.g. on a shared
filesystem; unset, ``artifacts/`` in the home). Caches stay in each host's home.
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
    store: str | None = None  # the store's URL (postgresql://...); None: the SQLite file db_path
    shared_artifacts: Path | None = None  # the bundle folder when not ``root / "artifacts"``

    @classmethod
    def resolve(
        cls,
        root: str | Path | None = None,
        store: str | None = None,
        artifacts: str | Path | None = None,
    ) -> Home:
        """Return the home at ``root``, else ``$RECSYS_HOME``, else ``./var`` (not created).

        ``store`` and ``artifacts`` default to ``$RECSYS_STORE`` and ``$RECSYS_ARTIFACTS``
        (empty or unset: the SQLite file and the bundle folder inside the home).
        """
        chosen = root if root is not None else os.environ.get("RECSYS_HOME") or "var"
        url = store if store is not None else os.environ.get("RECSYS_STORE") or None
        folder = artifacts if artifacts is not None else os.environ.get("RECSYS_ARTIFACTS")
        return cls(
            Path(chosen).expanduser().absolute(),
            url or None,
            Path(folder).expanduser().absolute() if folder else None,
        )

    def environ(self) -> dict[str, str]:
        """The environment variables that resolve to this home (for child processes)."""
        env = {"RECSYS_HOME": str(self.root)}
        if self.store:
            env["RECSYS_STORE"] = self.store
        if self.shared_artifacts is not None:
            env["RECSYS_ARTIFACTS"] = str(self.shared_artifacts)
        return env

    @property
    def db_path(self) -> Path:
        """SQLite database with events and catalog (when :attr:`store` is None)."""
        return self.root / "recsys.sqlite3"

    @property
    def artifacts(self) -> Path:
        """Folder of versioned model bundles and the ``CURRENT`` pointer."""
        if self.shared_artifacts is not None:
            return self.shared_artifacts
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
