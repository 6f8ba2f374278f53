"""The read step: the store's events and catalog (windowed), and their fingerprint.

The fingerprint tells the job whether anything changed since the current bundle was built: a run
whose fingerprint equals the one in the current bundle's manifest stops with ``up_to_date``.
"""

from __future__ import annotations

import hashlib
from importlib import metadata

import numpy as np
import polars as pl

from jobs.nightly.run_report import DataSummary, iso
from recsys.nightly.config import NightlyConfig
from recsys.store.contract import Store
from recsys.store.sqlite import CATALOG_COLUMNS
from recsys.training import TrainingData, read_training_data, trained_config

FINGERPRINT_ITEM_COLUMNS = CATALOG_COLUMNS


def data_fingerprint(events: pl.DataFrame, catalog: pl.DataFrame, config: NightlyConfig) -> str:
    """SHA-256 of the event set, the catalog facts and the training config (order-independent).

    Equal fingerprints mean training would see exactly the same data with the same config.
    ``updated_at`` is left out, so re-importing an unchanged catalog changes nothing. The
    config is the one training would record (``[text] model = "auto"`` decided), so ``auto``
    and the model it picks count as the same config.
    """
    h = hashlib.sha256()
    h.update(trained_config(catalog, config.train).config_hash().encode())
    h.update(metadata.version("polars").encode())  # row hashes are stable within one version
    frames = (
        events.select("user_id", "item_id", "type", "ts", "session_id"),
        catalog.select(FINGERPRINT_ITEM_COLUMNS),
    )
    for frame in frames:
        h.update(str(frame.height).encode())
        if frame.height:
            rows = frame.hash_rows(seed=0).to_numpy()
            h.update(np.sort(rows).tobytes())
    return h.hexdigest()


def read_data(store: Store, config: NightlyConfig) -> tuple[TrainingData, DataSummary]:
    """The store's data (the newest ``window_days`` of events) and its summary for the report."""
    data = read_training_data(store, config.window_days)
    events = data.events
    windowed = config.window_days is not None and data.stored_events.height > 0
    summary = DataSummary(
        events=events.height,
        users=events["user_id"].n_unique() if events.height else 0,
        items_with_events=events["item_id"].n_unique() if events.height else 0,
        catalog_items=data.catalog.height,
        window=f"last {config.window_days:g} days" if windowed else "all events",
        fingerprint=data_fingerprint(events, data.catalog, config),
        first_event=iso(float(events["ts"].min())) if events.height else None,  # type: ignore[arg-type]
        last_event=iso(float(events["ts"].max())) if events.height else None,  # type: ignore[arg-type]
    )
    return data, summary
