"""How many candidates per source the hybrid needs: recall/NDCG@k and CPU per user vs count.

Runs our default config on ML-100K (warm temporal split) and on the Instacart sample (next
basket, grocery config: re-buying allowed, no text) with ``hybrid.candidates`` in ``--counts``,
everything else fixed. This is what chose the default of 100 (was 300).

Usage::

    .venv/bin/python benchmarks/candidates.py   # -> benchmarks/results/candidates.{json,md}
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from recall import last_order_split  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from recsys.config import TrainConfig  # noqa: E402
from recsys.datasets.demo import load_instacart, load_ml100k  # noqa: E402
from recsys.evaluation import evaluate_ranker, history_of, temporal_split, truth_of  # noqa: E402
from recsys.serving import HybridRecommender  # noqa: E402
from recsys.text import TextEncoder  # noqa: E402
from recsys.training import build_bundle  # noqa: E402

N = 20


def run(dataset: str, counts: list[int]) -> list[dict]:
    """Train once on the split's training part, then evaluate each candidate count."""
    if dataset == "ml-100k":
        events, catalog = load_ml100k()
        train, test = temporal_split(events)
        config = TrainConfig()
    else:
        events, catalog = load_instacart()
        train, test = last_order_split(events)
        config = TrainConfig.from_dict(
            {
                "text": {"enabled": False},
                "hybrid": {"exclude_seen": False, "exclude_purchased": False},
            }
        )
    encoder = TextEncoder(config.text) if config.text.enabled else None
    with threadpool_limits(1):
        bundle, _ = build_bundle(train, catalog, config, encoder=encoder)
    truth, hist = truth_of(test), history_of(train)
    rows = []
    for count in counts:
        rec = HybridRecommender(bundle, dataclasses.replace(config.hybrid, candidates=count))
        cpu = time.process_time()

        def rank(user: str, rec: HybridRecommender = rec) -> list[str]:
            answer = rec.recommend_user(user, hist.get(user, []), n=N, explain=False)
            return [item.item_id for item in answer.items]

        res = evaluate_ranker(rank, truth, ks=(10, 20))
        ms = (time.process_time() - cpu) / max(1, res["users"]) * 1000
        row = {
            "dataset": dataset,
            "candidates": count,
            "users": res["users"],
            "cpu_ms_per_user": round(ms, 3),
        }
        for key in ("recall@10", "ndcg@10", "recall@20", "ndcg@20"):
            row[key] = round(res[key]["mean"], 4)
            row[key + " ci95"] = round(res[key]["ci95"], 4)
        print(row, flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["ml-100k", "instacart"])
    parser.add_argument("--counts", type=int, nargs="+", default=[300, 150, 100, 60])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "candidates")
    args = parser.parse_args()
    load = os.getloadavg()
    rows = [row for d in args.datasets for row in run(d, args.counts)]
    out = {"n": N, "loadavg_before": [round(x, 2) for x in load], "rows": rows}
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    lines = [
        f"Candidates per source vs quality (n = {N}); load average before {out['loadavg_before']}.",
        "",
        "| dataset | candidates | users | recall@10 | NDCG@10 | recall@20 (± 95% CI) | NDCG@20 "
        "| CPU ms/user |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['candidates']} | {r['users']} | {r['recall@10']:.4f} | "
            f"{r['ndcg@10']:.4f} | {r['recall@20']:.4f} ± {r['recall@20 ci95']:.4f} | "
            f"{r['ndcg@20']:.4f} | {r['cpu_ms_per_user']} |"
        )
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
