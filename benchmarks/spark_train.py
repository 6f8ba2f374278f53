"""The Spark engine against the local trainer: quality of the bundle, and time and memory per step.

Usage::

    # quality: recall@20 of a Spark-trained and a local bundle on the same split (one run)
    python benchmarks/spark_train.py quality --dataset ml-100k      # warm temporal split
    python benchmarks/spark_train.py quality --dataset instacart    # next basket
    # speed and scaling: synthetic events (benchmarks/train_speed.py's generator) as Parquet,
    # trained by local implicit, Spark local[2], and a standalone master + 2 workers (1 core each)
    python benchmarks/spark_train.py speed --sizes 1000000 3000000 10000000 [--lists-up-to 3000000]

**Quality.** Both bundles are built from the same training frame with the dataset's config
(``benchmarks/recall.py``'s ``dataset_config``; lists off, they do not change live answers) and
evaluated by ``recall.py``'s own code (its split, ``OurModels``, ``metrics_of``): behavior only and
the default hybrid. Also the paired difference (Spark − local) per user with its 95% CI, which is
tighter than comparing two CIs.

**Speed.** Each (size, mode) runs in a fresh subprocess; peak memory is the largest sum of RSS
over the subprocess's tree and, for the cluster, the master's and workers' trees (executor JVMs,
Python workers), sampled every 0.2 s. Steps: ``export`` (Spark reads the Parquet; local: polars
reads it), ``matrix``, ``behavior`` (ALS), ``embed`` (``--texts`` synthetic catalog texts with the
packaged MiniLM; local: one process, Spark: executors), ``toplists`` (every user's list). Text is
embedded with an empty cache. Lists are ranked only up to ``--lists-up-to`` events (the step is
linear in users, ~2.5 ms of CPU each: 400k users at 10M events would take the machine's hour); the
table marks the sizes without them.

Writes ``<out>/spark_quality_<dataset>.{json,md}`` or ``<out>/spark_speed.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
MODES = ("local", "spark-local", "spark-cluster")
STEPS = ("export", "matrix", "behavior", "embed", "toplists")


# ---------------------------------------------------------------------------------- quality
def paired_diff(a: dict[str, list[str]], b: dict[str, list[str]], truth: dict) -> dict[str, float]:
    """Mean per-user recall@20 difference ``a - b`` with a normal 95% CI (paired)."""
    diffs = []
    for user, items in truth.items():
        k = min(20, len(items))
        if k == 0:
            continue
        ra = len(set(a.get(user, [])[:20]) & items) / k
        rb = len(set(b.get(user, [])[:20]) & items) / k
        diffs.append(ra - rb)
    d = np.asarray(diffs)
    ci = 1.96 * float(d.std(ddof=1)) / np.sqrt(d.size) if d.size > 1 else 0.0
    return {"mean": round(float(d.mean()), 4), "ci95": round(ci, 4), "users": int(d.size)}


def quality(args: argparse.Namespace) -> dict[str, Any]:
    """One split, two bundles, recall.py's evaluation."""
    from dataclasses import replace

    import recall

    from recsys.datasets import load_dataset
    from recsys.spark.engine import SparkEngine
    from recsys.spark.session import SparkSettings
    from recsys.text import EmbeddingCache, TextEncoder
    from recsys.training import TrainingData, build_bundle

    events, catalog = load_dataset(args.dataset)
    if args.dataset == "ml-100k":
        train, test = recall.temporal_split(events)
        protocol = "warm temporal"
    else:
        train, test = recall.last_order_split(events)
        protocol = "next basket"
    config = recall.dataset_config(args.dataset)
    config = replace(
        config, hybrid=replace(config.hybrid, precomputed_items=0, precomputed_similar=0)
    )
    args.cache.mkdir(parents=True, exist_ok=True)
    cache = EmbeddingCache(args.cache / "embeddings.sqlite3")
    encoder = TextEncoder(config.text) if config.text.enabled else None
    timings: dict[str, dict[str, float]] = {"local": {}, "spark": {}}
    t = time.perf_counter()
    local, _ = build_bundle(
        train, catalog, config, encoder=encoder, cache=cache, timings=timings["local"]
    )
    wall = {"local": time.perf_counter() - t}
    data = TrainingData(train, train, catalog, 0, time.time())
    engine = SparkEngine(SparkSettings(master=args.master))
    t = time.perf_counter()
    built = engine.build_frames(data, config, cache=cache, timings=timings["spark"])
    wall["spark"] = time.perf_counter() - t
    cache.close()
    split = recall.make_split(
        train, test, catalog["item_id"].to_list(), None, config.hybrid.exclude_seen
    )
    ranker = recall.Ranker(split)
    counts = np.asarray(split.binary.sum(axis=0)).ravel()
    popularity = dict(zip(split.items.ids(), counts.tolist(), strict=True))
    hist = recall.history_of(train)
    rows: dict[str, Any] = {}
    lists: dict[str, dict[str, dict[str, list[str]]]] = {}
    for name, bundle in (("local", local), ("spark", built.bundle)):
        ours = recall.OurModels(bundle, split, hist, ranker, train)
        lists[name] = {"behavior": ours.behavior(), "hybrid": ours.hybrid(config)}
        for model, got in lists[name].items():
            rows[f"{name} {model}"] = recall.metrics_of(got, split, popularity)
    out: dict[str, Any] = {
        "dataset": args.dataset,
        "protocol": protocol,
        "master": args.master,
        "machine": machine(),
        "users_evaluated": len(split.truth),
        "wall_s": {k: round(v, 1) for k, v in wall.items()},
        "timings_s": timings,
        "spark_engine": built.engine,
        "models": {},
        "paired": {},
        "verdict": {},
    }
    for model in ("behavior", "hybrid"):
        a, b = rows[f"spark {model}"]["recall@20"], rows[f"local {model}"]["recall@20"]
        out["models"][model] = {"spark": a, "local": b}
        within = abs(a["mean"] - b["mean"]) <= min(a["ci95"], b["ci95"])
        out["paired"][model] = paired_diff(
            lists["spark"][model], lists["local"][model], split.truth
        )
        out["verdict"][model] = "within each other's CI" if within else "NOT within"
        print(
            f"[{args.dataset}] {model:8s} recall@20 spark {a['mean']:.4f} ± {a['ci95']:.4f}  "
            f"local {b['mean']:.4f} ± {b['ci95']:.4f}  paired diff "
            f"{out['paired'][model]['mean']:+.4f} ± {out['paired'][model]['ci95']:.4f}  "
            f"-> {out['verdict'][model]}",
            flush=True,
        )
    stem = args.out / f"spark_quality_{args.dataset}"
    stem.with_suffix(".json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    stem.with_suffix(".md").write_text(quality_markdown(out), encoding="utf-8")
    print(quality_markdown(out))
    return out


def quality_markdown(out: dict[str, Any]) -> str:
    lines = [
        f"# Spark vs local bundle: {out['dataset']} ({out['protocol']}), recall@20",
        "",
        f"Same training frame, same config, {out['users_evaluated']} users; Spark master "
        f"`{out['master']}`; ALS regParam {out['spark_engine']['als']['reg_param']:.5f} "
        f"(= regularization {out['spark_engine']['als']['regularization']} / "
        f"{out['spark_engine']['als']['mean_items_per_user']} cells per user). "
        f"Train wall: local {out['wall_s']['local']} s, Spark {out['wall_s']['spark']} s.",
        "",
        "| model | Spark | local | paired diff (Spark − local) | verdict |",
        "|---|---|---|---|---|",
    ]
    for model, m in out["models"].items():
        p = out["paired"][model]
        lines.append(
            f"| {model} | {m['spark']['mean']:.4f} ± {m['spark']['ci95']:.4f} | "
            f"{m['local']['mean']:.4f} ± {m['local']['ci95']:.4f} | "
            f"{p['mean']:+.4f} ± {p['ci95']:.4f} | {out['verdict'][model]} |"
        )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ speed
def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


class PeakRss:
    """Largest summed RSS of some process trees, sampled in a thread."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for root in self.roots:
                try:
                    proc = psutil.Process(root)
                    for p in [proc, *proc.children(recursive=True)]:
                        total += p.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            self._stop.wait(0.2)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def write_events(n_events: int, folder: Path) -> Path:
    """``train_speed.synthetic`` events as a Parquet file in the import-events columns."""
    import train_speed

    data = train_speed.synthetic(n_events, 1.0, train_speed.SEED)
    path = folder / f"events_{n_events}.parquet"
    pl.DataFrame(
        {
            "user_id": pl.Series(data["user"]).cast(pl.String),
            "item_id": pl.Series(data["item"]).cast(pl.String),
            "type": train_speed.TYPES[data["type"]],
            "ts": data["ts"],
        }
    ).write_parquet(path)
    return path


def write_catalog(n_texts: int, events: Path, folder: Path) -> Path:
    """A catalog of ``n_texts`` items (the most frequent ids) with seeded synthetic texts."""
    rng = np.random.default_rng(7)
    words = [
        "red",
        "blue",
        "light",
        "warm",
        "soft",
        "running",
        "trail",
        "kitchen",
        "steel",
        "cotton",
        "wool",
        "linen",
    ]
    ids = (
        pl.scan_parquet(events).group_by("item_id").len().sort("len", descending=True)
        .head(n_texts).collect()["item_id"].to_list()
    )  # fmt: skip
    titles = [" ".join(rng.choice(words, size=4)) for _ in ids]
    path = folder / f"catalog_{n_texts}.parquet"
    pl.DataFrame(
        {
            "item_id": ids,
            "title": titles,
            "description": [f"{t}, made to last. " * 3 for t in titles],
            "category": [str(rng.choice(words)) for _ in ids],
        }
    ).write_parquet(path)
    return path


def child(args: argparse.Namespace) -> None:
    """One (size, mode) run: train, print the timings as JSON on the last line."""
    from recsys.config import TrainConfig
    from recsys.home import Home
    from recsys.training import train

    lists = args.events_n <= args.lists_up_to
    settings = {"hybrid": {"precomputed_similar": 0, **({} if lists else {"precomputed_items": 0})}}
    config = TrainConfig.from_dict(settings)
    home = Home(Path(args.home)).ensure()
    t = time.perf_counter()
    if args.mode == "local":
        from recsys.spark.engine import read_catalog
        from recsys.store import SQLiteStore
        from recsys.training import TrainingData

        events = pl.read_parquet(args.events).with_columns(pl.lit("").alias("session_id"))
        catalog = read_catalog(args.catalog)
        export_s = time.perf_counter() - t
        data = TrainingData(events, events, catalog, 0, time.time())
        with SQLiteStore(home.db_path) as store:
            report = train(home, config, store=store, data=data)
        report.timings["export"] = round(export_s, 3)
    else:
        from recsys.spark.engine import SparkEngine
        from recsys.spark.session import SparkSettings

        engine = SparkEngine(
            SparkSettings(master=args.master, conf={"spark.driver.memory": "6g"}),
            events_path=args.events,
            catalog_path=args.catalog,
        )
        report = train(home, config, engine=engine)
    print(
        json.dumps(
            {
                "timings": report.timings,
                "wall_s": round(time.perf_counter() - t, 2),
                "users": report.n_users,
                "items": report.n_items,
                "cells": report.n_interactions,
                "embedded": report.n_embedded,
                "lists": lists,
            }
        )
    )


def speed(args: argparse.Namespace) -> dict[str, Any]:
    from recsys.spark.cluster import LocalCluster

    out: dict[str, Any] = {"machine": machine(), "runs": [], "args": vars(args).copy()}
    out["args"]["out"] = str(args.out)
    out["args"]["cache"] = str(args.cache)
    with tempfile.TemporaryDirectory(prefix="spark-speed-") as tmp:
        folder = Path(tmp)
        for n in args.sizes:
            events = write_events(n, folder)
            catalog = write_catalog(args.texts, events, folder)
            for mode in args.modes:
                cluster = None
                if mode == "spark-cluster":
                    cluster = LocalCluster(workers=2, cores=1, memory="4g", log_dir=folder / "logs")
                    cluster.start()
                master = {"local": "-", "spark-local": "local[2]"}.get(mode) or cluster.url  # type: ignore[union-attr]
                home = folder / f"home-{n}-{mode}"
                cmd = [
                    sys.executable, __file__, "child", "--mode", mode, "--events", str(events),
                    "--catalog", str(catalog), "--home", str(home), "--master", master,
                    "--events-n", str(n), "--lists-up-to", str(args.lists_up_to),
                ]  # fmt: skip
                env = {**os.environ, "OMP_NUM_THREADS": "1"}
                try:
                    proc = subprocess.Popen(
                        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
                    )
                    roots = [proc.pid, *(cluster.pids if cluster else [])]
                    with PeakRss(roots) as rss:
                        stdout, stderr = proc.communicate()
                    if proc.returncode != 0:
                        raise RuntimeError(f"{mode} {n} failed:\n{stderr[-4000:]}")
                    run = json.loads(stdout.strip().splitlines()[-1])
                finally:
                    if cluster is not None:
                        cluster.stop()
                run.update({"events": n, "mode": mode, "peak_rss_mb": round(rss.peak / 2**20)})
                out["runs"].append(run)
                steps = " ".join(f"{s} {run['timings'].get(s, 0):.1f}" for s in STEPS)
                print(
                    f"{n:>10,} {mode:14s} wall {run['wall_s']:7.1f}s  {steps}  "
                    f"peak {run['peak_rss_mb']} MB",
                    flush=True,
                )
                stem = args.out / "spark_speed"
                stem.with_suffix(".json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    stem = args.out / "spark_speed"
    stem.with_suffix(".md").write_text(speed_markdown(out), encoding="utf-8")
    speed_plot(out, stem.with_suffix(".png"))
    print(speed_markdown(out))
    return out


def speed_markdown(out: dict[str, Any]) -> str:
    a = out["args"]
    lines = [
        "# Training time and memory per step: local implicit vs Spark",
        "",
        f"Synthetic events (train_speed.py's generator, seed {2026}), {a['texts']} catalog texts "
        f"embedded from an empty cache, every user's list ranked up to {a['lists_up_to']:,} "
        "events (`-` above); "
        "modes: `local` (one process, implicit), `spark-local` (`local[2]`), `spark-cluster` "
        "(standalone master + 2 workers x 1 core, 4g, on this machine). Seconds per step; peak "
        "= largest summed RSS of every process involved.",
        "",
        "| events | mode | users | items | export | matrix | ALS | embed | lists | total | "
        "peak MB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in out["runs"]:
        t = r["timings"]
        lines.append(
            f"| {r['events']:,} | {r['mode']} | {r['users']:,} | {r['items']:,} | "
            + " | ".join(
                "-" if s == "toplists" and not r.get("lists", True) else f"{t.get(s, 0.0):.1f}"
                for s in STEPS
            )
            + f" | {r['wall_s']:.1f} | {r['peak_rss_mb']:,} |"
        )
    return "\n".join(lines) + "\n"


def speed_plot(out: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = out["runs"]
    sizes = sorted({r["events"] for r in runs})
    fig, axes = plt.subplots(1, len(sizes), figsize=(5 * len(sizes), 4), squeeze=False)
    for ax, n in zip(axes[0], sizes, strict=True):
        bottom = np.zeros(len(MODES))
        for step in STEPS:
            vals = np.array(
                [
                    next((r["timings"].get(step, 0.0) for r in runs if r["events"] == n
                          and r["mode"] == m), 0.0)
                    for m in MODES
                ]
            )  # fmt: skip
            ax.bar(MODES, vals, bottom=bottom, label=step)
            bottom += vals
        ax.set_title(f"{n:,} events")
        ax.set_ylabel("seconds")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--dataset", choices=["ml-100k", "instacart"], default="ml-100k")
    q.add_argument("--master", default="local[2]")
    s = sub.add_parser("speed")
    s.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    s.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    s.add_argument("--texts", type=int, default=2000)
    s.add_argument("--lists-up-to", type=int, default=3_000_000, help="events; lists off above")
    c = sub.add_parser("child")
    c.add_argument("--mode", choices=MODES, required=True)
    c.add_argument("--events", required=True)
    c.add_argument("--catalog", required=True)
    c.add_argument("--home", required=True)
    c.add_argument("--master", required=True)
    c.add_argument("--events-n", type=int, required=True)
    c.add_argument("--lists-up-to", type=int, required=True)
    for p in (q, s):
        p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
        p.add_argument("--cache", type=Path, default=ROOT / "var" / "bench-cache")
    args = parser.parse_args(argv)
    if args.command == "child":
        child(args)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    if args.command == "quality":
        quality(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
