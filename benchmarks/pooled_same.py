"""Browsing shoppers: the fused, compiled pooled answer against the stages, on a whole home.

``tests/serving/test_pooled.py`` compares the two on a test shop. This script compares them on
a benchmark home, for every trained user with a list: on a copy of the home, ``api_latency.py``'s
``user_recs_live`` setup (one view event since training per user), the request read as the
service reads it (the newest events, the pairs since training, the training row), then
``FusedRanker.answer`` (None: the stages would answer) against ``recommend_user`` over
``user_pool(...)`` with bare reasons, for ``n`` = 20, 5 and 50.

Reports how many requests the fused pass answered, how many of those had the same items in
the same order with the same reasons, the largest score difference, and why the rest went to
the stages (``pool_kernel.STATUS_NAMES``; "not fused" when the kernel was not asked).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pooled_same.py --home var/api-bench
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pooled_same.py --home var/api-bench-synth
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from recsys.bundle import load_bundle  # noqa: E402
from recsys.home import Home  # noqa: E402
from recsys.serving import HybridRecommender  # noqa: E402
from recsys.serving import pool_kernel as kernel  # noqa: E402
from recsys.serving.pool import user_pool  # noqa: E402
from recsys.serving.pooled import compile_kernel  # noqa: E402
from recsys.store import SQLiteStore  # noqa: E402

NS = (20, 5, 50)


def compare(home: Path, max_users: int) -> dict[str, object]:
    """Compare the fused answers with the stages' on a copy of ``home`` (see the module doc)."""
    from api_cpu import home_copy
    from api_latency import add_live_events, bundle_ids

    compile_kernel()
    statuses: Counter[str] = Counter()
    rank_pool = kernel.rank_pool

    def counting(*args: object) -> object:
        out = rank_pool(*args)
        statuses[kernel.STATUS_NAMES[int(out[0])]] += 1
        return out

    kernel.rank_pool = counting
    try:
        with home_copy(home, "pooled-same-") as copy:
            users, items, owned = bundle_ids(copy)
            chosen = list(users)
            random.Random(3).shuffle(chosen)
            chosen = chosen[:max_users]
            add_live_events(copy, chosen, users, items, owned)
            bundle = load_bundle(Home(copy).artifacts)
            assert bundle.precomputed is not None and bundle.similar is not None
            rec = HybridRecommender(bundle)
            newest = rec.config.live_pool_items
            asked = fused = same = 0
            diffs: list[float] = []
            matrix = bundle.user_items
            with SQLiteStore(Home(copy).db_path) as store:
                for user_id in chosen:
                    user_idx = bundle.users.index(user_id)
                    ranked = bundle.precomputed.get(user_idx)
                    if ranked is None:
                        continue
                    events, since = store.user_events_since(
                        user_id, 40, bundle.precomputed.watermark
                    )
                    start, end = matrix.indptr[user_idx], matrix.indptr[user_idx + 1]
                    row = matrix.indices[start:end].astype(np.int64)
                    if rec._strategy(user_id, events)[0] != "hybrid":
                        continue
                    pool = user_pool(
                        bundle, ranked, bundle.similar, events, newest, rec.config.live_pool_similar
                    )
                    for n in NS:
                        asked += 1
                        got = rec.fused_ranker().answer(
                            user_idx, events, n, since, ranked, bundle.similar, newest, row
                        )
                        if got is None:
                            continue
                        fused += 1
                        want = rec.recommend_user(
                            user_id, events, n=n, explain=False, item_types=since, pool=pool,
                            owned=row,
                        )  # fmt: skip
                        if [(i.item_id, i.reason) for i in got.items] == [
                            (i.item_id, i.reason) for i in want.items
                        ]:
                            same += 1
                            pairs = zip(got.items, want.items, strict=True)
                            diffs.append(max(abs(a.score - b.score) for a, b in pairs))
    finally:
        kernel.rank_pool = rank_pool
    statuses["not fused"] = asked - sum(statuses.values())
    return {
        "requests": asked,
        "fused": fused,
        "same items, order and reasons": same,
        "largest score difference": max(diffs, default=0.0),
        "kernel statuses": dict(statuses),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--home", type=Path, default=ROOT / "var" / "api-bench")
    parser.add_argument("--max-users", type=int, default=2000)
    args = parser.parse_args()
    result = compare(args.home, args.max_users)
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
