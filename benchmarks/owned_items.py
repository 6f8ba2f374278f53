"""Owned items in answers, and the cost of excluding the whole history (issue 16, section 1).

A request reads the newest ``HISTORY_LIMIT`` (500) events of a user for taste. Before the fix the
same 500 events were all it excluded, so shoppers with longer histories were recommended items
they already had. Now ``Store.user_history`` adds the whole history's distinct (item, type) pairs
for those users (one more indexed query), and the precomputed lists are ranked the same way.

On MovieLens-100K (real data; ratings as events, as ``recsys load-demo`` maps them) this script:

1. trains a home with the default config;
2. for every user with at least ``HISTORY_LIMIT`` events, counts recommended items (n=10 and
   n=50, live ranking) that the user already has, ranked the old way (newest 500 events only)
   and the new way (``Store.user_history``), and checks the precomputed lists;
3. times the service's live path both ways, alternating in one process, for those heavy users
   and for a sample of ordinary users (where the new way is the same single query), and the
   precomputed path; medians over ``--repeat`` rounds.

Usage:
    .venv/bin/python benchmarks/owned_items.py --repeat 5  # writes benchmarks/results/
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from recsys.bundle import load_bundle
from recsys.datasets.demo import load_dataset
from recsys.home import Home
from recsys.service import RecommendationService
from recsys.serving import HybridRecommender
from recsys.store import SQLiteStore, Store
from recsys.training import train
from recsys.types import HISTORY_LIMIT


def owned_counts(rec: HybridRecommender, store: Store, users: list[str], n: int) -> dict[str, int]:
    """Recommended slots holding an owned item, ranked live the old way and the new way."""
    old = new = slots = 0
    for user in users:
        whole = store.user_history(user, HISTORY_LIMIT)
        owned = {item for item, _ in whole.item_types or []} | {e.item_id for e in whole.events}
        before = rec.recommend_user(user, whole.events, n=n, explain=False)
        after = rec.recommend_user(
            user, whole.events, n=n, explain=False, item_types=whole.item_types
        )
        old += sum(i.item_id in owned for i in before.items)
        new += sum(i.item_id in owned for i in after.items)
        slots += len(after.items)
    return {"slots": slots, "owned_before": old, "owned_after": new}


def time_paths(service: RecommendationService, users: list[str], repeat: int) -> dict[str, float]:
    """Median per-request milliseconds: old live path, new live path, precomputed path."""
    rec, store = service.recommender, service.store

    def old(user: str) -> None:  # what the service did before: newest 500 events only
        rec.recommend_user(user, store.user_events(user, limit=HISTORY_LIMIT), n=20, explain=False)

    def new(user: str) -> None:  # what it does now (minus the erasure check, as in `old`)
        h = store.user_history(user, HISTORY_LIMIT)
        rec.recommend_user(user, h.events, n=20, explain=False, item_types=h.item_types)

    def pre(user: str) -> None:
        service.recommend_user(user, n=20, reasons=False)

    rounds: dict[str, list[float]] = {"live_before": [], "live_after": [], "precomputed": []}
    for user in users[:3]:  # warm caches and lazy state
        old(user), new(user), pre(user)
    for _ in range(repeat):
        for name, fn in (("live_before", old), ("live_after", new), ("precomputed", pre)):
            start = time.perf_counter()
            for user in users:
                fn(user)
            rounds[name].append((time.perf_counter() - start) * 1000 / len(users))
    return {k: round(statistics.median(v), 3) for k, v in rounds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ordinary", type=int, default=200, help="ordinary users timed")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/owned_items.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Home(Path(tmp) / "home").ensure()
        events, catalog = load_dataset("ml-100k")
        with SQLiteStore(home.db_path) as store:
            store.upsert_items(catalog)
            store.add_events(events)
            report = train(home, store=store)
        print(f"trained {report.version}: toplists {report.timings.get('toplists', 0):.1f} s")
        sizes = events.group_by("user_id").len()
        heavy = sorted(sizes.filter(sizes["len"] >= HISTORY_LIMIT)["user_id"].to_list())
        rng = np.random.default_rng(0)
        small = sizes.filter(sizes["len"] < HISTORY_LIMIT)["user_id"].to_list()
        ordinary = sorted(rng.choice(small, size=min(args.ordinary, len(small)), replace=False))
        print(f"{len(heavy)} users with >= {HISTORY_LIMIT} events: {heavy}")
        bundle = load_bundle(home.artifacts)
        rec = HybridRecommender(bundle)
        result: dict[str, Any] = {"heavy_users": heavy, "history_limit": HISTORY_LIMIT}
        with SQLiteStore(home.db_path) as store:
            for n in (10, 50):
                result[f"owned_at_{n}"] = owned_counts(rec, store, heavy, n)
                print(f"n={n}: {result[f'owned_at_{n}']}")
            listed_owned = 0
            assert bundle.precomputed is not None
            for user in heavy:
                ranked = bundle.precomputed.get(bundle.users.index(user))
                if ranked is None:
                    continue
                owned = {i for i, _ in store.user_item_types(user)}
                listed_owned += len(set(bundle.items.ids(ranked.items[ranked.items >= 0])) & owned)
            result["owned_in_precomputed_lists"] = listed_owned
            print(f"owned items in the heavy users' precomputed lists: {listed_owned}")
        service = RecommendationService(home, live_catalog=False)
        try:
            result["ms_heavy"] = time_paths(service, heavy, args.repeat)
            result["ms_ordinary"] = time_paths(service, ordinary, args.repeat)
        finally:
            service.close()
        print(f"heavy users, ms per request (median of {args.repeat}): {result['ms_heavy']}")
        print(f"{len(ordinary)} ordinary users, ms per request: {result['ms_ordinary']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
