"""Every exception and warning the library raises, in one place.

All errors derive from :class:`RecsysError`, so callers (CLI, API) can catch expected failures
with one ``except`` and show their message without a traceback.
"""

from __future__ import annotations


class RecsysError(Exception):
    """Base class of every expected error raised by recsys."""


class ConfigError(RecsysError, ValueError):
    """A configuration value is out of range, of the wrong type, or conflicts with another."""


class InvalidInputError(RecsysError, ValueError):
    """A caller passed a value that is not allowed (wrong type, out of range, unknown option)."""


class UnknownItemError(RecsysError, KeyError):
    """An item id is not known to the catalog or the model bundle."""

    def __init__(self, item_id: str) -> None:
        super().__init__(item_id)
        self.item_id = item_id

    def __str__(self) -> str:
        return f"unknown item id {self.item_id!r}: it is neither in the catalog nor in the model"


class NotFittedError(RecsysError, RuntimeError):
    """A model was used before ``fit`` was called."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is not fitted yet: call fit(...) first")


class ImportRejectedError(RecsysError):
    """A bulk import file could not be read at all (missing, unsupported format, no id column)."""


class DatasetUnavailableError(RecsysError):
    """A demo dataset's package is not installed."""


class BundleError(RecsysError):
    """A model bundle is missing, incomplete, or of an unsupported format."""


class NoBundleError(BundleError):
    """No model bundle has been published yet."""


class EmptyDataError(RecsysError):
    """There is not enough data to train (no events, or no items)."""


class StoreBusyError(RecsysError):
    """The store could not take its write lock in time (another writer, e.g. a bulk import).

    Nothing was written; the caller may retry (the API answers 503 with ``Retry-After``).
    """

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreUnavailableError(RecsysError):
    """The store's database server cannot be reached (a shared PostgreSQL store is down).

    Nothing was written; the caller may retry after ``retry_after_s`` (the API answers writes
    with 503 and ``Retry-After``, and reads from the bundle alone).
    """

    def __init__(self, message: str, retry_after_s: float = 2.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreSchemaError(RecsysError):
    """The store's tables are missing, or of another schema version (``recsys db migrate``)."""


class SparkClusterError(RecsysError, RuntimeError):
    """A local Spark cluster (``recsys.spark.cluster``) did not start, or is not running."""


class LockedError(RecsysError):
    """Another run holds the job lock (the message names its pid, host and start time)."""


class PitchModelError(RecsysError):
    """The pitch language model is unavailable or failed (missing package, HTTP error, timeout)."""
