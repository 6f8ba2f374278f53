"""Versioned model bundles: the format of one version folder, and which version is published.

* :mod:`recsys.bundle.format` — :class:`Bundle`, :class:`ItemTable`, :func:`write_bundle`,
  :func:`load_bundle`: what a version folder holds, written completely or not at all.
* :mod:`recsys.bundle.versions` — :func:`publish` (atomically replace ``CURRENT``),
  :func:`list_versions`, :func:`prune`, :func:`cleanup_stale`, :func:`rollback`.

Every public name is re-exported here: ``from recsys.bundle import load_bundle``.
"""

from recsys.bundle.format import (
    CURRENT,
    FORMAT_VERSION,
    LIBRARIES,
    TMP_PREFIX,
    WRITER_FILE,
    Bundle,
    ItemRow,
    ItemTable,
    current_version,
    fsync_dir,
    library_versions,
    load_bundle,
    new_version,
    write_bundle,
)
from recsys.bundle.versions import (
    cleanup_stale,
    cleanup_tmp,
    list_versions,
    prune,
    publish,
    rollback,
)

__all__ = [
    "CURRENT",
    "FORMAT_VERSION",
    "LIBRARIES",
    "TMP_PREFIX",
    "WRITER_FILE",
    "Bundle",
    "ItemRow",
    "ItemTable",
    "cleanup_stale",
    "cleanup_tmp",
    "current_version",
    "fsync_dir",
    "library_versions",
    "list_versions",
    "load_bundle",
    "new_version",
    "prune",
    "publish",
    "rollback",
    "write_bundle",
]
