"""Small event sets for the Spark tests, seeded, with every rule of the matrix exercised."""

from __future__ import annotations

import numpy as np
import polars as pl

SCHEMA = {
    "user_id": pl.String,
    "item_id": pl.String,
    "type": pl.String,
    "ts": pl.Float64,
    "session_id": pl.String,
}


def random_events(
    n_users: int = 60, n_items: int = 40, per_user: int = 12, seed: int = 7
) -> pl.DataFrame:
    """Events of every type over ~30 days, in store order.

    Users repeat items (cells sum several events) and timestamps tie within a user; a test
    config gives ``click`` weight 0 so that rule is exercised too.
    """
    rng = np.random.default_rng(seed)
    types = ["view", "add_to_cart", "purchase", "view", "click"]
    rows = []
    for u in range(n_users):
        base = 1_700_000_000.0 + float(rng.integers(0, 20 * 86_400))
        for k in range(per_user):
            item = f"i{int(rng.zipf(1.6)) % n_items}"
            kind = types[int(rng.integers(len(types)))]
            ts = base + float(rng.integers(0, 10 * 86_400)) if k % 5 else base  # ties at base
            rows.append((f"u{u}", item, kind, ts, ""))
    frame = pl.DataFrame(rows, schema=SCHEMA, orient="row")
    # as stored: equal rows on the store's natural key are one event
    return frame.unique(subset=list(SCHEMA), keep="first", maintain_order=True)
