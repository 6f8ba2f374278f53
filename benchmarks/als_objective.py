"""ALS confidence before and after issue 16: ``c = alpha·w`` (raw) against ``c = 1 + alpha·w``.

Usage:
    python benchmarks/als_objective.py                         # validation grid + test table
    python benchmarks/als_objective.py --alphas none           # test table only
    python benchmarks/als_objective.py --skip-test             # validation grid only
    python benchmarks/als_objective.py --datasets ml-100k --alphas 1,2 --regs 0.5

Until issue 16 our ALS adapter handed implicit the raw event weights with implicit's ``alpha``, so
implicit trained the confidence ``c = alpha·w`` (``raw``), while the docs said ``1 + alpha·w``
(``documented``, Hu et al. 2008 and Spark). Both objectives are trained here in one process, on
the same splits as ``benchmarks/recall.py`` (ML-100K warm temporal, Instacart next basket), by
swapping the ALS class that :func:`recsys.models.make_model` builds.

1. **Validation grid** (never the test split): on the validation split carved from training (the
   last 20% of each user's training events; for next basket the last training order), every
   ``alpha x regularization`` of the grid, for each objective: recall@20 of the behavior model
   alone and of the default hybrid, over every validation user.
2. **Test**: trained on the full training part, scored on test: ``before`` = the raw objective
   with main's previous defaults (alpha 1, regularization 0.5), ``documented, old defaults`` (the
   objective changed, nothing re-chosen) and ``after`` = the documented objective with the
   current :class:`recsys.config.BehaviorConfig` defaults. Mean ± 95% CI over test users and the
   paired difference to ``before`` (mean ± 1.96·sd/√users of the per-user differences).

Writes ``<out>/<name>.{json,md,png}`` (``--name``, default ``als_objective``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]

from recall import (  # noqa: E402
    SEED,
    OurModels,
    Ranker,
    Split,
    dataset_config,
    last_order_split,
    make_split,
)

from recsys.config import TrainConfig  # noqa: E402
from recsys.datasets import load_dataset  # noqa: E402
from recsys.evaluation import history_of, ranking_metrics, temporal_split  # noqa: E402
from recsys.models import MODELS, ALSModel  # noqa: E402
from recsys.text import EmbeddingCache, TextEncoder  # noqa: E402
from recsys.training import build_bundle  # noqa: E402

K = 20
OBJECTIVES = {"raw": 0.0, "documented": 1.0}  # name -> ALSModel.confidence_offset
BEFORE = {"alpha": 1.0, "regularization": 0.5}  # main's ALS defaults before issue 16
ALPHAS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
REGS = (0.1, 0.5, 2.0, 8.0, 16.0, 32.0, 64.0)


@contextmanager
def objective(offset: float) -> Iterator[None]:
    """Inside the block, ``make_model`` builds ALS with ``c = offset + alpha·w``."""
    cls = type(f"ALSModelOffset{offset:g}", (ALSModel,), {"confidence_offset": offset})
    saved = MODELS["als"]
    MODELS["als"] = cls
    try:
        yield
    finally:
        MODELS["als"] = saved


def per_user(lists: dict[str, list[str]], truth: dict[str, set[str]]) -> dict[str, np.ndarray]:
    """recall@K and NDCG@K per user (users in sorted order, empty truths skipped)."""
    rows = [ranking_metrics(lists.get(u, []), truth[u], (K,)) for u in sorted(truth) if truth[u]]
    return {key: np.asarray([r[key] for r in rows]) for key in (f"recall@{K}", f"ndcg@{K}")}


def mean_ci(values: np.ndarray) -> dict[str, float]:
    """Mean and 95% half-width ``1.96·sd/√n`` (as ``recsys.evaluation.summarize``)."""
    ci = 1.96 * values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else 0.0
    return {"mean": round(float(values.mean()), 4), "ci95": round(float(ci), 4)}


def evaluate(
    train: pl.DataFrame,
    split: Split,
    catalog: pl.DataFrame,
    config: TrainConfig,
    offset: float,
    encoder: TextEncoder | None,
    cache: EmbeddingCache | None,
) -> tuple[dict[str, dict[str, np.ndarray]], float]:
    """Train one bundle with the given objective; per-user metrics of behavior alone and hybrid."""
    start = time.perf_counter()
    with objective(offset):
        bundle, _ = build_bundle(train, catalog, config, encoder=encoder, cache=cache)
    ours = OurModels(bundle, split, history_of(train), Ranker(split))
    metrics = {
        "behavior": per_user(ours.behavior(), split.truth),
        "hybrid": per_user(ours.hybrid(config), split.truth),
    }
    return metrics, time.perf_counter() - start


def with_behavior(config: TrainConfig, **params: float) -> TrainConfig:
    return replace(config, behavior=replace(config.behavior, **params))


def run_dataset(
    dataset: str, args: argparse.Namespace, cache: EmbeddingCache | None
) -> dict[str, Any]:
    events, catalog = load_dataset(dataset)
    if args.max_users:
        keep = sorted(events["user_id"].unique().to_list())[: args.max_users]
        events = events.filter(pl.col("user_id").is_in(keep))
    config = dataset_config(dataset)
    encoder = TextEncoder(config.text) if config.text.enabled else None
    split_fn = temporal_split if dataset == "ml-100k" else last_order_split
    train, test = split_fn(events)
    inner, val = split_fn(train)
    item_ids = catalog["item_id"].to_list()
    exclude = config.hybrid.exclude_seen
    out: dict[str, Any] = {"protocol": "warm temporal" if dataset == "ml-100k" else "next basket"}

    # 1. validation grid; every row also as a paired difference to `before` on the same users
    vsplit = make_split(inner, val, item_ids, None, exclude)
    grid = []
    per_config: dict[tuple[str, float, float], dict[str, dict[str, np.ndarray]]] = {}
    points = [(n, a, r) for n in OBJECTIVES for a in args.alphas for r in args.regs]
    reference = ("raw", BEFORE["alpha"], BEFORE["regularization"])
    if points and reference not in points:
        points.insert(0, reference)
    for point in sorted(points, key=lambda x: x != reference):  # the reference first
        name, alpha, reg = point
        cfg = with_behavior(config, alpha=alpha, regularization=reg)
        offset = OBJECTIVES[name]
        per_config[point], seconds = evaluate(inner, vsplit, catalog, cfg, offset, encoder, cache)
        row: dict[str, Any] = {"objective": name, "alpha": alpha, "regularization": reg}
        for part in ("behavior", "hybrid"):
            values = per_config[point][part][f"recall@{K}"]
            row[part] = mean_ci(values)
            row[f"{part} minus before"] = mean_ci(
                values - per_config[reference][part][f"recall@{K}"]
            )
        row["users"] = int(per_config[point]["hybrid"][f"recall@{K}"].size)
        row["seconds"] = round(seconds, 1)
        grid.append(row)
        print(
            f"[{dataset} validation] {name:10s} alpha {alpha:<4g} reg {reg:<4g} "
            f"behavior {row['behavior']['mean']:.4f}  hybrid {row['hybrid']['mean']:.4f} "
            f"(Δ {row['hybrid minus before']['mean']:+.4f} ± "
            f"{row['hybrid minus before']['ci95']:.4f})  ({seconds:.1f}s)",
            flush=True,
        )
    out["validation"] = {"users": len(vsplit.truth), "grid": grid}
    if grid:
        # every row against the best hybrid row too: which configs tie with it (paired, 95% CI)
        best = max(grid, key=lambda g: g["hybrid"]["mean"])
        top = per_config[(best["objective"], best["alpha"], best["regularization"])]["hybrid"]
        for g, point in zip(grid, sorted(points, key=lambda x: x != reference), strict=True):
            values = per_config[point]["hybrid"][f"recall@{K}"]
            g["hybrid minus best"] = mean_ci(values - top[f"recall@{K}"])
        out["validation"]["best"] = {
            f"{name} {part}": max(
                (g for g in grid if g["objective"] == name), key=lambda g: g[part]["mean"]
            )
            for name in OBJECTIVES
            for part in ("behavior", "hybrid")
        }

    # 2. test: before / documented with old defaults / after, same split, one run
    if args.skip_test:
        return out
    split = make_split(train, test, item_ids, None, exclude)
    variants = {
        "before: c = alpha·w, alpha 1, reg 0.5": (with_behavior(config, **BEFORE), 0.0),
        "documented c = 1 + alpha·w, alpha 1, reg 0.5": (with_behavior(config, **BEFORE), 1.0),
        (
            f"after: c = 1 + alpha·w, alpha {config.behavior.alpha:g}, "
            f"reg {config.behavior.regularization:g}"
        ): (config, 1.0),
    }
    measured: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    rows: dict[str, Any] = {}
    for label, (cfg, offset) in variants.items():
        measured[label], seconds = evaluate(train, split, catalog, cfg, offset, encoder, cache)
        base = measured[next(iter(variants))]
        row: dict[str, Any] = {"seconds": round(seconds, 1), "behavior": cfg.behavior.__dict__}
        for part in ("behavior", "hybrid"):
            for metric in (f"recall@{K}", f"ndcg@{K}"):
                values = measured[label][part][metric]
                row[f"{part} {metric}"] = mean_ci(values)
                row[f"{part} {metric} minus before"] = mean_ci(values - base[part][metric])
        rows[label] = row
        print(
            f"[{dataset} test] {label:46s} behavior {row[f'behavior recall@{K}']['mean']:.4f} ± "
            f"{row[f'behavior recall@{K}']['ci95']:.4f}  hybrid "
            f"{row[f'hybrid recall@{K}']['mean']:.4f} ± {row[f'hybrid recall@{K}']['ci95']:.4f}"
            f"  ({seconds:.1f}s)",
            flush=True,
        )
    out["test"] = {
        "users": int(next(iter(measured.values()))["hybrid"][f"recall@{K}"].size),
        "train_events": train.height,
        "test_events": test.height,
        "rows": rows,
    }
    return out


def markdown(out: dict[str, Any]) -> str:
    lines: list[str] = []
    for dataset, res in out["datasets"].items():
        test = res.get("test")
        if test is not None:
            lines += [
                f"**{dataset}, {res['protocol']}** — test, {test['users']} users; "
                f"Δ = paired difference to `before` (mean ± 95% CI over the same users).",
                "",
                f"| ALS objective | behavior recall@{K} | Δ | hybrid recall@{K} | Δ "
                f"| hybrid NDCG@{K} | Δ |",
                "|---|---|---|---|---|---|---|",
            ]
            for label, r in test["rows"].items():
                cells = []
                for key in (f"behavior recall@{K}", f"hybrid recall@{K}", f"hybrid ndcg@{K}"):
                    v, d = r[key], r[f"{key} minus before"]
                    cells += [
                        f"{v['mean']:.4f} ± {v['ci95']:.4f}",
                        f"{d['mean']:+.4f} ± {d['ci95']:.4f}",
                    ]
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
            lines.append("")
        grid = res["validation"]["grid"]
        if grid:
            regs = sorted({g["regularization"] for g in grid})
            lines += [
                f"{dataset} validation ({res['validation']['users']} users): recall@{K} of "
                "behavior alone / hybrid (hybrid's paired Δ to `before` ± 95% CI), per alpha "
                "(rows) and regularization (columns).",
                "",
                "| objective | alpha | " + " | ".join(f"reg {r:g}" for r in regs) + " |",
                "|---|---|" + "---|" * len(regs),
            ]
            for name in OBJECTIVES:
                for alpha in sorted({g["alpha"] for g in grid if g["objective"] == name}):
                    cells = []
                    for reg in regs:
                        g = next(
                            (
                                g
                                for g in grid
                                if g["objective"] == name
                                and g["alpha"] == alpha
                                and g["regularization"] == reg
                            ),
                            None,
                        )
                        d = None if g is None else g["hybrid minus before"]
                        cells.append(
                            ""
                            if g is None or d is None
                            else f"{g['behavior']['mean']:.4f} / {g['hybrid']['mean']:.4f} "
                            f"({d['mean']:+.4f} ± {d['ci95']:.4f})"
                        )
                    lines.append(f"| {name} | {alpha:g} | " + " | ".join(cells) + " |")
            lines.append("")
            best = max(grid, key=lambda g: g["hybrid"]["mean"])
            ties = [
                g
                for g in grid
                if g is not best
                and g["hybrid minus best"]["mean"] + g["hybrid minus best"]["ci95"] >= 0
            ]
            lines.append(
                f"Best hybrid on validation: {best['objective']}, alpha {best['alpha']:g}, reg "
                f"{best['regularization']:g} ({best['hybrid']['mean']:.4f}); tied with it (paired "
                "Δ to the best within its 95% CI): "
                + (
                    "; ".join(
                        f"{g['objective']} {g['alpha']:g}/{g['regularization']:g} "
                        f"({g['hybrid minus best']['mean']:+.4f} ± "
                        f"{g['hybrid minus best']['ci95']:.4f})"
                        for g in sorted(ties, key=lambda g: -g["hybrid"]["mean"])
                    )
                    or "none"
                )
                + "."
            )
            lines.append("")
    return "\n".join(lines)


def plot(out: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = [(d, r) for d, r in out["datasets"].items() if r["validation"]["grid"]]
    if not datasets:
        return
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4.5), squeeze=False)
    for ax, (dataset, res) in zip(axes[0], datasets, strict=True):
        grid = res["validation"]["grid"]
        for name, style in (("raw", "--o"), ("documented", "-o")):
            for reg in sorted({g["regularization"] for g in grid}):
                pts = sorted(
                    (g["alpha"], g["hybrid"]["mean"])
                    for g in grid
                    if g["objective"] == name and g["regularization"] == reg
                )
                if pts:
                    xs, ys = zip(*pts, strict=True)
                    ax.plot(xs, ys, style, label=f"{name}, reg {reg:g}")
        ax.set_xscale("log")
        ax.set_title(f"{dataset}: validation, default hybrid")
        ax.set_xlabel("alpha")
        ax.set_ylabel(f"recall@{K}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _floats(text: str) -> tuple[float, ...]:
    return () if text == "none" else tuple(float(x) for x in text.split(","))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="ml-100k,instacart")
    parser.add_argument("--alphas", type=_floats, default=ALPHAS, help="comma list, or none")
    parser.add_argument("--regs", type=_floats, default=REGS, help="comma list")
    parser.add_argument("--max-users", type=int, default=None, help="subsample users (smoke runs)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "bench-cache")
    parser.add_argument("--name", default="als_objective", help="stem of the result files")
    parser.add_argument("--skip-test", action="store_true", help="validation grid only")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    args.cache.mkdir(parents=True, exist_ok=True)
    cache = EmbeddingCache(args.cache / "embeddings.sqlite3")
    out: dict[str, Any] = {
        "seed": SEED,
        "k": K,
        "command": " ".join(["python", "benchmarks/als_objective.py", *(argv or sys.argv[1:])]),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        },
        "defaults": TrainConfig().behavior.__dict__,
        "datasets": {},
    }
    for dataset in args.datasets.split(","):
        t = time.perf_counter()
        out["datasets"][dataset] = run_dataset(dataset, args, cache)
        out["datasets"][dataset]["wall_s"] = round(time.perf_counter() - t, 1)
    cache.close()
    out["wall_s"] = round(time.perf_counter() - started, 1)
    out["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / args.name
    stem.with_suffix(".json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    md = markdown(out)
    stem.with_suffix(".md").write_text(md, encoding="utf-8")
    plot(out, stem.with_suffix(".png"))
    print(md)
    print(f"wrote {stem}.json/.md/.png in {out['wall_s']} s")
    return out


if __name__ == "__main__":
    main()
