"""Recall@k / NDCG@k on real data: warm temporal split and cold-item split.

Usage:
    python benchmarks/recall.py --dataset ml-100k [--out benchmarks/results] [--quick]

Protocols (see shared BENCHMARKS.md):
* warm: per user, the last 20% of interactions by time are the test set; every item the user did
  not interact with in training is a candidate.
* cold: 10% of items (seeded) are removed from training entirely; only those items are candidates;
  a user's test set is their interactions with them. Popularity is computed on training data only.

Hybrid blend weights are tuned on a validation split carved from training (the last 20% of each
user's training interactions), never on the test split; the chosen weights are then used on test.

recall@k = |top-k ∩ test| / |test|; NDCG@k with binary gains, ideal DCG over min(k, |test|).
Results: mean and 95% CI (1.96 · sd / sqrt(users)). Writes ``<out>/recall_<dataset>.json`` and
prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recsys.bundle import Bundle  # noqa: E402
from recsys.config import TrainConfig  # noqa: E402
from recsys.data import load_dataset  # noqa: E402
from recsys.hybrid import Filters, HybridRecommender  # noqa: E402
from recsys.models import ItemKNNModel  # noqa: E402
from recsys.pipeline import build_bundle  # noqa: E402
from recsys.store.sqlite import UserEvent  # noqa: E402
from recsys.evaluation import (  # noqa: E402
    cold_split,
    evaluate_ranker,
    history_of,
    temporal_split,
    truth_of,
)
from recsys.text import EmbeddingCache, TextEncoder  # noqa: E402

KS = (10, 20, 50)
SEED = 2026
RankFn = Callable[[str], list[int]]


def evaluate(rank: Callable[[str], list[str]], truth: dict[str, set[str]]) -> dict:
    return evaluate_ranker(rank, truth, KS)


class Evaluator:
    """Rankers over one trained bundle; ``allowed`` restricts candidates (cold protocol)."""

    def __init__(self, bundle: Bundle, histories: dict[str, list[UserEvent]], allowed: set[str] | None):
        self.b = bundle
        self.hist = histories
        self.rec = HybridRecommender(bundle)
        mask = np.ones(len(bundle.items), dtype=bool)
        if allowed is not None:
            mask[:] = False
            idx = bundle.items.indices(sorted(allowed))
            mask[idx[idx >= 0]] = True
        self.mask = mask
        self.excluded = frozenset(bundle.items.ids(np.flatnonzero(~mask)))
        # ties (e.g. zero popularity for every cold item) are broken by a seeded random order,
        # not by catalog order, which would leak the dataset's id order into the baselines
        self.tiebreak = np.random.default_rng(SEED).permutation(len(bundle.items))

    def _finish(self, user: str, scores: np.ndarray) -> list[str]:
        s = scores.astype(np.float64).copy()
        s[~self.mask] = -np.inf
        row = self.rec.history_row(self.hist.get(user, []))
        s[row.indices] = -np.inf
        finite = np.flatnonzero(np.isfinite(s))
        order = finite[np.lexsort((self.tiebreak[finite], -s[finite]))][: max(KS)]
        return self.b.items.ids(order)

    def popularity(self, user: str) -> list[str]:
        return self._finish(user, self.b.popularity)

    def behavior(self, user: str) -> list[str]:
        u = self.b.users.index(user)
        row = self.rec.history_row(self.hist.get(user, []))
        return self._finish(user, self.b.behavior.score_items(u, row))

    def text(self, user: str) -> list[str]:
        profile = self.rec._text_profile(self.hist.get(user, []))
        if profile is None or self.b.text_vectors is None:
            return self._finish(user, np.full(len(self.b.items), -np.inf))
        s = np.where(self.b.text_mask, self.b.text_vectors @ profile, -np.inf)
        return self._finish(user, s)

    def random(self, user: str) -> list[str]:
        rng = np.random.default_rng(abs(hash(user)) % 2**32)
        return self._finish(user, rng.random(len(self.b.items)))

    def hybrid(self, user: str, rec: HybridRecommender | None = None) -> list[str]:
        rec = rec or self.rec
        answer = rec.recommend_user(
            user, self.hist.get(user, []), n=max(KS), filters=Filters(exclude=self.excluded)
        )
        return [i.item_id for i in answer.items]


# ------------------------------------------------------------------------------------ tuning
GRID_TEXT = (0.0, 0.05, 0.1, 0.2, 0.4)
GRID_POP = (0.0, 0.1, 0.3)
GRID_CONTENT_TEXT = (0.25, 0.5, 1.0, 2.0, 4.0)


def tune_hybrid(ev: Evaluator, truth: dict[str, set[str]], cold: bool) -> tuple[dict, list[dict]]:
    """Pick blend weights maximizing validation recall@20."""
    base = ev.b.config.hybrid
    trials = []
    if cold:
        grid = [{"text_weight": t, "content_text_weight": t} for t in GRID_CONTENT_TEXT]
    else:
        grid = [{"text_weight": t, "popularity_weight": p} for t in GRID_TEXT for p in GRID_POP]
    for params in grid:
        rec = ev.rec.with_config(replace(base, **params))
        res = evaluate(lambda u, r=rec: ev.hybrid(u, r), truth)
        trials.append({**params, "recall@20": res["recall@20"]["mean"]})
    best = max(trials, key=lambda t: t["recall@20"])
    return {k: v for k, v in best.items() if k != "recall@20"}, trials


# -------------------------------------------------------------------------------------- main
def run_protocol(
    name: str,
    train: pl.DataFrame,
    test: pl.DataFrame,
    catalog: pl.DataFrame,
    config: TrainConfig,
    encoder: TextEncoder,
    cache: EmbeddingCache,
    allowed: set[str] | None,
) -> dict:
    # validation split carved from training only
    inner, val = temporal_split(train)
    if allowed is not None:  # cold: validate on a second set of held-out items inside training
        inner, val, val_cold = cold_split(train, seed=SEED + 1)
        val_allowed: set[str] | None = val_cold
    else:
        val_allowed = None
    vb, _ = build_bundle(inner, catalog, config, encoder=encoder, cache=cache)
    vev = Evaluator(vb, history_of(inner), val_allowed)
    vtruth = truth_of(val, set(vb.users.ids()))
    best, trials = tune_hybrid(vev, vtruth, cold=allowed is not None)
    print(f"[{name}] tuned on validation: {best}", flush=True)

    t0 = time.perf_counter()
    bundle, _ = build_bundle(train, catalog, config, encoder=encoder, cache=cache)
    train_s = time.perf_counter() - t0
    hist = history_of(train)
    ev = Evaluator(bundle, hist, allowed)
    truth = truth_of(test, set(bundle.users.ids()))
    tuned = ev.rec.with_config(replace(bundle.config.hybrid, **best))
    knn = ItemKNNModel(replace(config.behavior, algorithm="itemknn")).fit(bundle.user_items)
    knn_bundle = replace(bundle, behavior=knn, behavior_index=None)
    knn_ev = Evaluator(knn_bundle, hist, allowed)
    models: dict[str, Callable[[str], list[str]]] = {
        "random": ev.random,
        "popularity": ev.popularity,
        f"als ({config.behavior.factors}f, behavior only)": ev.behavior,
        f"item-kNN (K={config.behavior.neighbors})": knn_ev.behavior,
        "text only (MiniLM)": ev.text,
        "hybrid (default weights)": ev.hybrid,
        "hybrid (tuned on validation)": lambda u: ev.hybrid(u, tuned),
    }
    results = {}
    for label, fn in models.items():
        t = time.perf_counter()
        results[label] = evaluate(fn, truth)
        results[label]["eval_s"] = round(time.perf_counter() - t, 2)
        r = results[label]
        print(
            f"[{name}] {label:36s} recall@20 {r['recall@20']['mean']:.4f} ± {r['recall@20']['ci95']:.4f}"
            f"  ndcg@20 {r['ndcg@20']['mean']:.4f}",
            flush=True,
        )
    return {
        "users": len(truth),
        "train_events": train.height,
        "test_events": test.height,
        "candidates": "cold items only" if allowed is not None else "all items not in training",
        "train_s": round(train_s, 2),
        "tuned_weights": best,
        "tuning_trials": trials,
        "models": results,
    }


def markdown(dataset: str, out: dict) -> str:
    lines = [f"### {dataset}", ""]
    for proto, res in out["protocols"].items():
        lines += [
            f"**{proto}** — {res['users']} test users, candidates: {res['candidates']}, "
            f"tuned weights {res['tuned_weights']}",
            "",
            "| model | recall@10 | recall@20 | recall@50 | NDCG@10 | NDCG@20 | NDCG@50 |",
            "|---|---|---|---|---|---|---|",
        ]
        for label, r in res["models"].items():
            cells = [f"{r[f'recall@{k}']['mean']:.4f} ± {r[f'recall@{k}']['ci95']:.3f}" for k in KS]
            cells += [f"{r[f'ndcg@{k}']['mean']:.4f}" for k in KS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="ml-100k", choices=["ml-100k"])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "bench-cache")
    parser.add_argument("--max-users", type=int, default=None, help="subsample users (smoke runs)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    events, catalog = load_dataset(args.dataset)
    if args.max_users:
        keep = sorted(events["user_id"].unique().to_list())[: args.max_users]
        events = events.filter(pl.col("user_id").is_in(keep))
    config = TrainConfig()
    encoder = TextEncoder(config.text)
    args.cache.mkdir(parents=True, exist_ok=True)
    cache = EmbeddingCache(args.cache / "embeddings.sqlite3")
    out: dict = {
        "dataset": args.dataset,
        "seed": SEED,
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": __import__("os").cpu_count()},
        "config": config.to_dict(),
        "protocols": {},
    }
    train, test = temporal_split(events)
    out["protocols"]["warm temporal"] = run_protocol(
        "warm", train, test, catalog, config, encoder, cache, allowed=None
    )
    ctrain, ctest, cold = cold_split(events)
    out["protocols"]["cold items"] = run_protocol(
        "cold", ctrain, ctest, catalog, config, encoder, cache, allowed=cold
    )
    out["wall_s"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"recall_{args.dataset}.json"
    path.write_text(json.dumps(out, indent=2), encoding="utf-8")
    md = markdown(args.dataset, out)
    (args.out / f"recall_{args.dataset}.md").write_text(md, encoding="utf-8")
    print(md)
    print(f"wrote {path} in {out['wall_s']} s")
    cache.close()
    return out


if __name__ == "__main__":
    main()
