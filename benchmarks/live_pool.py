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
with its 95% CI, and CPU ms per answer (median of the per-user times). ``pool`` is asked through
``HybridRecommender.recommend_pooled``, the service's door: the fused, compiled pass
(``recsys.serving.pooled``) where it applies, else the stages, as a server answers.

``--fused W ...`` adds a fourth way that scores no source at all (:func:`fused_list`): the
precomputed list fused with the precomputed similar items of the newest items since training,
with weight ``W`` on the latter. It asks what a live answer would lose if it cost a few dozen
microseconds. The weights are tried on the data they are reported on: an optimistic reading.

Usage::

    .venv/bin/python benchmarks/live_pool.py   # -> benchmarks/results/live_pool.{json,md}
    .venv/bin/python benchmarks/live_pool.py --datasets ml-100k --moved 1 --pool-items 3 5 10
    # how many of each newest item's similar items join the pool (live_pool_similar)
    .venv/bin/python benchmarks/live_pool.py --pool-similar 50 30 20 10 --out results/live_similar
    .venv/bin/python benchmarks/live_pool.py --fused 0.3 0.5 --out benchmarks/results/live_fused
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # recall.py, when imported by path

from recall import last_order_split  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from recsys.bundle import Bundle  # noqa: E402
from recsys.config import TrainConfig  # noqa: E402
from recsys.datasets.demo import load_instacart, load_ml100k  # noqa: E402
from recsys.evaluation import history_of, ranking_metrics, summarize, temporal_split  # noqa: E402
from recsys.serving import FrameEvents, HybridRecommender  # noqa: E402
from recsys.serving.pool import newest_distinct, user_pool  # noqa: E402
from recsys.serving.precompute import rank_every_user  # noqa: E402
from recsys.text import TextEncoder  # noqa: E402
from recsys.training import build_bundle, precompute_similar  # noqa: E402
from recsys.types import RankedList, UserEvent  # noqa: E402

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


def _scaled(scores: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """``scores`` mapped onto [0, 1] (all ones when they are equal)."""
    s = scores.astype(np.float64)
    lo, hi = float(s.min()), float(s.max())
    return (s - lo) / (hi - lo) if hi > lo else np.ones_like(s)


def fused_list(
    bundle: Bundle,
    ranked: RankedList,
    since: list[UserEvent],
    owned: set[int],
    weight: float,
    newest_items: int = 5,
) -> list[str]:
    """The top ``N`` of the precomputed list fused with the similar items of the newest items.

    No source is scored. Each list's scores are scaled to [0, 1]. An item scores ``1 - weight``
    times its scaled score in the user's list, plus ``weight`` times the sum, over the newest
    ``newest_items`` distinct items since training (newest first, each worth half the one
    before), of its scaled score in that item's ``hybrid`` similar list. ``owned`` items are
    left out.

    Args:
        bundle: the bundle with its precomputed lists and similar items.
        ranked: the user's precomputed list.
        since: the user's events since training, newest first.
        owned: item indices the answer must leave out.
        weight: the share of the new items' similar lists in the score.
        newest_items: how many newest distinct items bring their similar lists.
    """
    similar = bundle.similar
    assert similar is not None
    mode = similar.modes.index("hybrid")
    keep = ranked.items >= 0
    score: dict[int, float] = dict(
        zip(
            ranked.items[keep].tolist(),
            ((1 - weight) * _scaled(ranked.scores[keep])).tolist(),
            strict=True,
        )
    )
    newest = newest_distinct(bundle, since, newest_items, similar.n_items)
    for step, idx in enumerate(newest):
        row = similar.items[mode, idx]
        stored = row >= 0
        if not stored.any():
            continue
        scaled = weight * 0.5**step * _scaled(similar.scores[mode, idx][stored])
        for item, value in zip(row[stored].tolist(), scaled.tolist(), strict=True):
            score[item] = score.get(item, 0.0) + value
    best = sorted((i for i in score if i not in owned), key=score.__getitem__, reverse=True)
    return list(bundle.items.ids(np.asarray(best[:N], dtype=np.int64)))


def run(
    dataset: str,
    moved: list[int],
    pool_items: list[int],
    max_users: int,
    fused: list[float] | None = None,
    pool_similar: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Train once, then compare full, pooled, stale (and fused) answers per ``m`` and pool size.

    Pool sizes are every ``(pool_items, pool_similar)`` pair (``live_pool_items``,
    ``live_pool_similar``); each pool after the first of an ``m`` is also compared, user by
    user, with that first one.
    """
    fused = fused or []
    train, test, catalog, config = _data(dataset)
    pool_similar = pool_similar or [config.hybrid.live_pool_similar]
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
        first: tuple[str, list[dict[str, float]]] | None = None
        for size, similar_items in itertools.product(pool_items, pool_similar):
            pooled = rec.with_config(
                dataclasses.replace(
                    rec.config, live_pool_items=size, live_pool_similar=similar_items
                )
            )
            ways = ["full", "pool", "stale", *(f"fused {w:g}" for w in fused)]
            res: dict[str, list[dict[str, float]]] = {way: [] for way in ways}
            cpu: dict[str, list[float]] = {way: [] for way in ways if way != "stale"}
            pool_sizes = []
            with threadpool_limits(1):
                for u, history, truth in cases:
                    ranked = bundle.precomputed.get(bundle.users.index(u))
                    assert ranked is not None
                    t0 = time.process_time()
                    full = rec.recommend_user(u, history, n=N, explain=False)
                    t1 = time.process_time()
                    # the service's door: the fused, compiled pass where it applies (the
                    # stages' answer), else the stages over user_pool(...)
                    ans = pooled.recommend_pooled(
                        u, history, ranked, bundle.similar, size, n=N, explain=False
                    )
                    t2 = time.process_time()
                    cpu["full"].append(t1 - t0)
                    cpu["pool"].append(t2 - t1)
                    pool = user_pool(bundle, ranked, bundle.similar, history, size, similar_items)
                    pool_sizes.append(pool.size)
                    stale = bundle.items.ids(ranked.items[ranked.items >= 0][:N])
                    if fused:
                        since = history[: len(history) - len(hist.get(u, []))]  # newest first
                        owned = (
                            {bundle.items.index(e.item_id) for e in history}
                            if config.hybrid.exclude_seen
                            else set()
                        )
                    for w in fused:
                        t3 = time.process_time()
                        fused_ids = fused_list(bundle, ranked, since, owned, w)
                        cpu[f"fused {w:g}"].append(time.process_time() - t3)
                        res[f"fused {w:g}"].append(ranking_metrics(fused_ids, truth, (N,)))
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
                "pool_similar": similar_items,
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
            if first is None:
                first = (f"{size} x {similar_items}", res["pool"])
            else:
                gap = np.asarray(
                    [
                        p[f"recall@{N}"] - f[f"recall@{N}"]
                        for p, f in zip(res["pool"], first[1], strict=True)
                    ]
                )
                row["vs pool"] = first[0]
                row["pool - first pool recall diff"] = round(float(gap.mean()), 4)
                row["pool - first pool recall diff ci95"] = round(
                    float(1.96 * gap.std(ddof=1) / np.sqrt(gap.size)), 4
                )
            full_recall = np.asarray([f[f"recall@{N}"] for f in res["full"]])
            for w in fused:
                gap = np.asarray([r[f"recall@{N}"] for r in res[f"fused {w:g}"]]) - full_recall
                row[f"fused {w:g} - full recall diff"] = round(float(gap.mean()), 4)
                row[f"fused {w:g} - full recall diff ci95"] = round(
                    float(1.96 * gap.std(ddof=1) / np.sqrt(gap.size)), 4
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
        "| dataset | moved | pool items | similar each | users | pool size | full recall@20 | "
        "pool recall@20 | pool - full (95% CI) | pool - first pool (95% CI) | stale recall@20 | "
        "full CPU ms | pool CPU ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in out["rows"]:
        versus = (
            f"{r['pool - first pool recall diff']:+.4f} ± "
            f"{r['pool - first pool recall diff ci95']:.4f} (vs {r['vs pool']})"
            if "vs pool" in r
            else ""
        )
        lines.append(
            f"| {r['dataset']} | {r['moved_events']} | {r['pool_items']} | "
            f"{r.get('pool_similar', '')} | {r['users']} | "
            f"{r['median_pool_size']} | {r['full recall@20']:.4f} ± {r['full recall@20 ci95']:.4f} "
            f"| {r['pool recall@20']:.4f} ± {r['pool recall@20 ci95']:.4f} | "
            f"{r['pool - full recall diff']:+.4f} ± {r['pool - full recall diff ci95']:.4f} | "
            f"{versus} | {r['stale recall@20']:.4f} | {r['full cpu ms']} | {r['pool cpu ms']} |"
        )
    fused = sorted({k.split()[1] for r in out["rows"] for k in r if k.startswith("fused ")})
    if fused:
        lines += [
            "",
            "Fused lists (no source scored; weights tried on the data they are reported on):",
            "",
            "| dataset | moved | users | stale recall@20 | full recall@20 | way | recall@20 | "
            "way - full (95% CI) | CPU ms |",
            "|---|---:|---:|---:|---:|---|---:|---:|---:|",
        ]
        for r in out["rows"]:
            for w in fused:
                way = f"fused {w}"
                lines.append(
                    f"| {r['dataset']} | {r['moved_events']} | {r['users']} | "
                    f"{r['stale recall@20']:.4f} | {r['full recall@20']:.4f} | {way} | "
                    f"{r[f'{way} recall@20']:.4f} ± {r[f'{way} recall@20 ci95']:.4f} | "
                    f"{r[f'{way} - full recall diff']:+.4f} ± "
                    f"{r[f'{way} - full recall diff ci95']:.4f} | {r[f'{way} cpu ms']} |"
                )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["ml-100k", "instacart"])
    parser.add_argument("--moved", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--pool-items", type=int, nargs="+", default=[5])
    parser.add_argument(
        "--pool-similar",
        type=int,
        nargs="+",
        default=None,
        help="similar items each newest item brings (default: the config's live_pool_similar)",
    )
    parser.add_argument("--max-users", type=int, default=100_000)
    parser.add_argument(
        "--fused", type=float, nargs="*", default=[], help="weights of fused lists to add"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "live_pool")
    args = parser.parse_args()
    from recsys.serving.pooled import compile_kernel

    compile_kernel()  # before the first answer, as a server's warm-up does
    out: dict[str, Any] = {"n": N, "loadavg_before": [round(x, 2) for x in os.getloadavg()]}
    out["rows"] = [
        row
        for d in args.datasets
        for row in run(
            d, args.moved, args.pool_items, args.max_users, args.fused, args.pool_similar
        )
    ]
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(out), encoding="utf-8")
    print(markdown(out))


if __name__ == "__main__":
    main()
