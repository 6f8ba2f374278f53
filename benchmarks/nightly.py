"""Wall time per step of the nightly job: a full first run, then an incremental second run.

Usage:
    python benchmarks/nightly.py --dataset ml-100k [--out benchmarks/results]
    python benchmarks/nightly.py --dataset synthetic --events 5000000 [--users 100000 --items 10000]

Protocol, for each data set (all in a temp data home):
1. Load the data into the SQLite store, holding back the most recent 5% of events.
2. Run 1: ``run_nightly`` (default config, pitches off) on the 95%. Every catalog text is embedded.
3. Drop the held-back events (one file) and a catalog file with 1% of the items' descriptions
   changed into ``<home>/inbox/``.
4. Run 2: ``run_nightly`` imports the inbox and retrains. Its embedding step must embed only the
   changed items (``embedding.*.embedded`` in the report); the gate compares with run 1's bundle.
Each run is a fresh ``run_nightly`` call that loads its own text model (as a cron run would).
Writes ``<out>/nightly_<dataset>.json`` and ``.md`` (the Markdown table it prints). Run it under
``flock /tmp/recsys-bench.lock`` so timings are not shared with other benchmarks.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]

from jobs.nightly import NightlyConfig, run_nightly  # noqa: E402
from recsys.home import Home  # noqa: E402
from recsys.store import SQLiteStore  # noqa: E402

SEED = 2026
HOLD_BACK = 0.05
CHANGED_ITEMS = 0.01
TYPES = np.array(["view", "click", "add_to_cart", "purchase"])
TYPE_P = np.array([0.70, 0.20, 0.07, 0.03])
ADJ = [
    "red",
    "light",
    "compact",
    "classic",
    "organic",
    "durable",
    "soft",
    "smart",
    "vintage",
    "pro",
]
NOUN = ["shoes", "jacket", "lamp", "kettle", "backpack", "mug", "chair", "speaker", "tent", "scarf"]


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def synthetic(n_events: int, n_users: int, n_items: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Users with a favourite category; Zipf popularity inside categories; 90 days of events."""
    rng = np.random.default_rng(SEED)
    n_cat = 50
    item_cat = np.arange(n_items) % n_cat
    user_cat = rng.integers(0, n_cat, n_users)
    users = rng.integers(0, n_users, n_events)
    own = rng.random(n_events) < 0.8
    zipf = np.minimum(rng.zipf(1.3, n_events) - 1, n_items // n_cat - 1)
    cats = np.where(own, user_cat[users], rng.integers(0, n_cat, n_events))
    items = cats + n_cat * (zipf % (n_items // n_cat))  # item i has category i % n_cat
    start = 1_767_225_600.0  # 2026-01-01
    ts = np.sort(start + rng.random(n_events) * 90 * 86_400.0)
    events = pl.DataFrame(
        {
            "user_id": pl.Series(users).cast(pl.String),
            "item_id": pl.Series(items).cast(pl.String),
            "type": TYPES[rng.choice(4, n_events, p=TYPE_P)],
            "ts": ts.round(3),
            "session_id": "",
        }
    )
    catalog = pl.DataFrame(
        {
            "item_id": [str(i) for i in range(n_items)],
            "title": [f"{ADJ[i % 10].title()} {NOUN[(i // 10) % 10]} {i}" for i in range(n_items)],
            "description": [
                f"A {ADJ[(i * 7) % 10]} {NOUN[(i // 10) % 10]} from line {item_cat[i]}."
                for i in range(n_items)
            ],
            "category": [f"cat-{c}" for c in item_cat],
            "price": (rng.random(n_items) * 100).round(2),
            "currency": "EUR",
            "in_stock": True,
            "attributes": "{}",
            "updated_at": 0.0,
        }
    )
    return events, catalog


def load(name: str, args: argparse.Namespace) -> tuple[pl.DataFrame, pl.DataFrame]:
    if name == "synthetic":
        return synthetic(args.events, args.users, args.items)
    from recsys.datasets import load_dataset

    return load_dataset(name)


def one_run(home: Home, config: NightlyConfig, label: str) -> dict:
    before = loadavg()
    start = time.perf_counter()
    result = run_nightly(home, config, pitches=False)
    wall = time.perf_counter() - start
    r = result.report
    print(f"{label}: {result.decision} (exit {result.exit_code}) in {wall:.1f}s", flush=True)
    return {
        "decision": result.decision,
        "exit_code": result.exit_code,
        "reason": result.reason,
        "wall_s": round(wall, 2),
        "timings_s": r["timings_s"],
        "build_timings_s": r["build_timings_s"],
        "embedding": r["embedding"],
        "inbox": r["inbox"],
        "data": {k: v for k, v in r["data"].items() if k != "fingerprint"},
        "holdout": r["holdout"],
        "metrics": {
            k: (
                {m: v[m] for m in ("users", "recall@20", "ndcg@20") if m in v}
                if isinstance(v, dict)
                else v
            )
            for k, v in r["metrics"].items()
        },
        "loadavg_before": before,
        "loadavg_after": loadavg(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=["ml-100k", "synthetic"], default="ml-100k")
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--keep-home", action="store_true", help="Do not delete the temp home.")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="recsys-nightly-bench-"))
    home = Home(tmp / "home").ensure()
    out: dict = {
        "dataset": args.dataset,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "loadavg_start": loadavg(),
    }
    try:
        t0 = time.perf_counter()
        events, catalog = load(args.dataset, args)
        out["prepare_s"] = round(time.perf_counter() - t0, 2)
        events = events.sort("ts", maintain_order=True)
        cut = int(events.height * (1 - HOLD_BACK))
        first, later = events.head(cut), events.tail(events.height - cut)
        t0 = time.perf_counter()
        with SQLiteStore(home.db_path) as store:
            store.upsert_items(catalog)
            stored = store.add_events(first)
        out["store_load_s"] = round(time.perf_counter() - t0, 2)
        out["events_total"] = events.height
        out["events_first_run"] = stored
        out["catalog_items"] = catalog.height
        print(f"loaded {stored} events, {catalog.height} items in {out['store_load_s']}s")

        config = NightlyConfig(min_events=1000)
        out["run1"] = one_run(home, config, "run 1 (full)")

        rng = np.random.default_rng(SEED)
        n_changed = max(1, int(catalog.height * CHANGED_ITEMS))
        changed = sorted(rng.choice(catalog.height, n_changed, replace=False).tolist())
        edited = catalog[changed].with_columns(
            (pl.col("description") + " Now in a new edition.").alias("description")
        )
        inbox = home.root / "inbox"
        inbox.mkdir()
        edited.write_parquet(inbox / "catalog-changes.parquet")
        later.write_parquet(inbox / "events-new.parquet")
        out["changed_items"] = n_changed
        out["new_events"] = later.height
        out["run2"] = one_run(home, config, "run 2 (incremental)")
    finally:
        out["loadavg_end"] = loadavg()
        if args.keep_home:
            print(f"home kept at {home.root}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"nightly_{args.dataset}.json"
    if args.dataset == "synthetic":
        path = args.out / f"nightly_synthetic_{args.events // 1000}k.json"
    path.write_text(json.dumps(out, indent=2), encoding="utf-8")
    path.with_suffix(".md").write_text(markdown(out) + "\n", encoding="utf-8")
    print(markdown(out))
    print(f"wrote {path}")


def markdown(out: dict) -> str:
    steps = []
    for run in ("run1", "run2"):
        for k in out[run]["timings_s"]:
            if k not in steps:
                steps.append(k)
    lines = [
        f"### {out['dataset']}: {out['events_total']:,} events, {out['catalog_items']:,} items",
        "",
        "| step | run 1 (full) s | run 2 (incremental) s |",
        "|---|---:|---:|",
    ]
    for k in steps:
        a = out["run1"]["timings_s"].get(k)
        b = out["run2"]["timings_s"].get(k)
        lines.append(
            f"| {k} | {'' if a is None else f'{a:.2f}'} | {'' if b is None else f'{b:.2f}'} |"
        )
    lines.append(f"| **wall** | {out['run1']['wall_s']:.2f} | {out['run2']['wall_s']:.2f} |")
    for run in ("run1", "run2"):
        emb = out[run]["embedding"]
        text = "; ".join(
            f"{k}: {v['embedded']} embedded, {v['cached']} cached" for k, v in emb.items()
        )
        lines.append(f"\n{run}: {out[run]['decision']} — embeddings {text}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
