"""Durable event and catalog storage, and validated bulk import.

:class:`Store` is the contract (:mod:`recsys.store.contract`); two backends keep it:
:class:`~recsys.store.sqlite.SQLiteStore` (one file in the data home, the default) and
:class:`~recsys.store.postgres.PostgresStore` (a PostgreSQL database several API hosts share;
the ``[postgres]`` extra). :func:`open_store` opens the one a :class:`~recsys.home.Home` names.
"""

from __future__ import annotations

from recsys.errors import ConfigError
from recsys.home import Home
from recsys.store.contract import SCHEMA_VERSION, Store
from recsys.store.importing import ImportResult, RowError, import_catalog_file, import_events_file
from recsys.store.sqlite import SQLiteStore

__all__ = [
    "SCHEMA_VERSION",
    "ImportResult",
    "RowError",
    "SQLiteStore",
    "Store",
    "import_catalog_file",
    "import_events_file",
    "open_store",
    "store_kind",
]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def store_kind(home: Home) -> str:
    """``"sqlite"`` or ``"postgresql"``: which backend :func:`open_store` opens for ``home``.

    Raises:
        ConfigError: the store setting is not a URL this version knows.
    """
    url = home.store
    if url is None:
        return "sqlite"
    if url.startswith(POSTGRES_SCHEMES):
        return "postgresql"
    shown = url.split("://", 1)[0] + "://..." if "://" in url else repr(url)
    raise ConfigError(
        f"RECSYS_STORE={shown} is not allowed: must be a postgresql:// URL "
        "(unset: the SQLite file in the data home)"
    )


def open_store(home: Home) -> Store:
    """Open the store ``home`` names: its PostgreSQL URL, else the SQLite file in the home.

    Raises:
        ConfigError: the store URL is not one this version knows.
        StoreSchemaError: a PostgreSQL store's tables are missing or old (``recsys db migrate``).
        ImportError: a PostgreSQL store without the ``[postgres]`` extra installed.
    """
    if store_kind(home) == "postgresql":
        from recsys.store.postgres import PostgresStore

        assert home.store is not None
        return PostgresStore(home.store)
    return SQLiteStore(home.db_path)
