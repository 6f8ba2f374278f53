"""Durable event and catalog storage (SQLite in WAL mode) and validated bulk import."""

from recsys.store.importing import ImportResult, RowError, import_catalog_file, import_events_file
from recsys.store.sqlite import Store

__all__ = ["ImportResult", "RowError", "Store", "import_catalog_file", "import_events_file"]
