"""Browsing shoppers: recall and CPU of live answers from small pools vs a full catalog ranking.

A shopper with events since training is ranked live. Two ways (``recsys.serving.pool``): over
the whole catalog (every source gathers its candidates: fold-ins scored over every item, index
searches), or over a small pool: the user's precomputed list plus the precomputed similar items
of their newest ``live_pool_items`` distinct items, scored by the same sources. This script
says what the pool costs in quality and saves in CPU.

Protocol: train on the split's training part (ML-100K: last 20% of each user's events held out;
Instacart sample: the last order held out), precompute the user lists and similar items as
training does. Then, for each user with a list, move the first ``m`` held-out events (by time)
into the history: the events "since training". Truth: the user's other held-out items. Each
user is ranked three ways, with ``n = 20``: ``full`` (today's live ranking), ``pool``, and
``stale`` (the precomputed list, ignoring the new events: what serving would give if it did not
rank live). Reported: recall@20 and NDCG@20 with 95% CIs, the paired difference pool - full
with its 95% CI, and CPU ms per answer (median of the per-user times).

Usage::

    .venv/bin/python benchmarks/live_pool.py   # -> benchmarks/results/live_pool.{json,md}
    .venv/bin/python benchmarks/live_pool.py --datasets ml-100k --moved 1 --pool-items 3 5 10
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]

from recall import last_order_split  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from recsys.config import TrainConfig  # noqa: E402
from recsys.datasets.demo import load_instacart, load_ml100k  # noqa: E402
from recsys.evaluation import history_of, ranking_metrics, summarize, temporal_split  # noqa: E402
from recsys.serving import FrameEvents, HybridRecommender  # noqa: E402
from recsys.serving.pool import user_pool  # noqa: E402
from recsys.serving.precompute import rank_every_user  # noqa: E402
from recsys.text import TextEncoder  # noqa: E402
from recsys.training import build_bundle, precompute_similar  # noqa: E402

N = 20


def _data(dataset: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, TrainConfig]:
    if dataset == "ml-100k":
        events, catalog = load_ml100k()
        train, test = temporal_split(events)
        return train, test, catalog, TrainConfig()
    events, catalog = load_instacart()
    train, test = last_order_split(events)
    config = TrainConfig.from_dict(
        {"text": {"enabled": False}, "hybrid": {"exclude_seen": False, "exclude_purchased": False}}
    )
    return train, test, catalog, config


def run(
    dataset: str, moved: list[int], pool_items: list[int], max_users: int
) -> list[dict[str, Any]]:
    """Train once, then compare full, pooled and stale answers for each ``m`` and pool size."""
    train, test, catalog, config = _data(dataset)
    encoder = TextEncoder(config.text) if config.text.enabled else None
    with threadpool_limits(1):
        bundle, _ = build_bundle(train, catalog, config, encoder=encoder)
        rec = HybridRecommender(bundle, events=FrameEvents(train))
        bundle.precomputed = rank_every_user(rec, train, 0)
        bundle.similar = precompute_similar(bundle)
    assert bundle.precomputed is not None and bundle.similar is not None
    hist = history_of(train)
    held = history_of(test)  # newest first
    users = [
        u
        for u in sorted(held)
        if bundle.precomputed.get(bundle.users.index(u)) is not None and len(held[u]) > 1
    ][:max_users]
    rows = []
    for m in moved:
        cases = []
        for u in users:
            since = list(reversed(held[u]))[:m]  # the first m held-out events, oldest first
            truth = {e.item_id for e in held[u]} - {e.item_id for e in since}
            if truth:
                history = [*reversed(since), *hist.get(u, [])]
                cases.append((u, history, truth))
        for size in pool_items:
            pooled = rec.with_config(dataclasses.replace(rec.config, live_pool_items=size))
            res: dict[str, list[dict[str, float]]] = {"full": [], "pool": [], "stale": []}
            cpu: dict[str, list[float]] = {"full": [], "pool": []}
            pool_sizes = []
            with threadpool_limits(1):
                for u, history, truth in cases:
                    ranked = bundle.precomputed.get(bundle.users.index(u))
                    assert ranked is not None
                    t0 = time.process_time()
                    full = rec.recommend_user(u, history, n=N, explain=False)
                    t1 = time.process_time()
                    pool = user_pool(bundle, ranked, bundle.similar, history, size)
                    ans = pooled.recommend_user(u, history, n=N, explain=False, pool=pool)
                    t2 = time.process_time()
                    cpu["full"].append(t1 - t0)
                    cpu["pool"].append(t2 - t1)
                    pool_sizes.append(pool.size)
                    stale = bundle.items.ids(ranked.items[ranked.items >= 0][:N])
                    for name, ids in (
                        ("full", [i.item_id for i in full.items]),
                        ("pool", [i.item_id for i in ans.items]),
                        ("stale", list(stale)),
                    ):
                        res[name].append(ranking_metrics(ids, truth, (N,)))
            row: dict[str, Any] = {
                "dataset": dataset,
                "moved_events": m,
                "pool_items": size,
                "users": len(cases),
                "median_pool_size": int(np.median(pool_sizes)) if pool_sizes else 0,
            }
            for name, metrics in res.items():
                s = summarize(metrics)
                for key in (f"recall@{N}", f"ndcg@{N}"):
                    row[f"{name} {key}"] = round(s[key]["mean"], 4)
                    row[f"{name} {key} ci95"] = round(s[key]["ci95"], 4)
            diff = np.asarray(
                [
                    p[f"recall@{N}"] - f[f"recall@{N}"]
                    for p, f in zip(res["pool"], res["full"], strict=True)
                ]
            )
            row["pool - full recall diff"] = round(float(diff.mean()), 4)
            row["pool - full recall diff ci95"] = round(
                float(1.96 * diff.std(ddof=1) / np.sqrt(diff.size)), 4
            )
            for name, times in cpu.items():
                row[f"{name} cpu ms"] = round(float(np.median(times)) * 1000, 3)
            print(row, flush=True)
            rows.append(row)
    return rows


def markdown(out: dict[str, Any]) -> str:
    lines = [
        f"Live answers for users with events since training (n = {N}); load average before "
        f"{out['loadavg_before']}, after {out['loadavg_after']}.",
        "",
        "| dataset | moved | pool items | users | pool size | full recall@20 | pool recall@20 | "
        "pool - full (95% CI) | stale recall@20 | full CPU ms | pool CPU ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in out["rows"]:
        lines.append(
            f"| {r['dataset']} | {r['moved_events']} | {r['pool_items']} | {r['users']} | "
            f"{r['median_pool_size']} | {r['full recall@20']:.4f} ± {r['full recall@20 ci95']:.4f} "
            f"| {r['pool recall@20']:.4f} ± {r['pool recall@20 ci95']:.4f} | "
            f"{r['pool - full recall diff']:+.4f} ± {r['pool - full recall diff ci95']:.4f} | "
            f"{r['stale recall@20']:.4f} | {r['full cpu ms']} | {r['pool cpu ms']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["ml-100k", "instacart"])
    parser.add_argument("--moved", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--pool-items", type=int, nargs="+", default=[5])
    parser.add_argument("--max-users", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "live_pool")
    args = parser.parse_args()
    out: dict[str, Any] = {"n": N, "loadavg_before": [round(x, 2) for x in os.getloadavg()]}
    out["rows"] = [
        row for d in args.datasets for row in run(d, args.moved, args.pool_items, args.max_users)
    ]
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(out), encoding="utf-8")
    print(markdown(out))


if __name__ == "__main__":
    main()
