"""Text models for Chinese and English shops: MiniLM vs the multilingual model, one run.

Usage:
    python benchmarks/multilingual.py                       # every part (about 10 min here)
    python benchmarks/multilingual.py --parts catalog,cold  # some parts

Parts (issue 23):

* ``catalog`` — the synthetic bilingual catalog (``recsys.datasets.zh_shop``: 360 Chinese
  products in 15 categories, 120 with an English translation). Content-similar precision@10:
  for every product, the share of its 10 nearest other products (cosine of the text vectors)
  in its own category. Two texts: the text the engine embeds (title, "Category: ...",
  description, attributes) and the title alone (harder: the category name is not given away).
  Translation pairs: for every translated product, whether its English text (title, category,
  description; no attributes, which are Chinese) finds its Chinese partner among the 3 nearest
  of the 360 Chinese products (and Chinese → the 120 English texts).
  A character-bigram TF-IDF row (no model) shows what plain string overlap gets.
* ``cold`` — cold items on the zh-shop demo (``load-demo --dataset zh-shop``; synthetic
  shoppers). Time split at the first launch of a new product: training is every event before
  it; the test set is, per shopper with training events, the products they interacted with after
  it that had no event before (cold items), and only cold items are candidates. recall@20 of the
  hybrid ranker (default config, so behaviour cannot help: text carries it) and of text alone.
* ``ml100k`` — MovieLens-100K's English titles: the warm temporal and cold-item protocols of
  ``benchmarks/recall.py`` (same splits and seeds), the hybrid and text-only rows with
  ``[text] model`` = minilm, multilingual and auto; plus embedding throughput (items/s) of both
  models on ML-100K's and the zh catalog's texts, cold cache, median of 3.

Results: ``<out>/multilingual.{json,md}``. recall@k means and 95% CIs as in recall.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
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
    make_split,
    metrics_of,
)

from recsys.config import TextConfig, TrainConfig  # noqa: E402
from recsys.datasets import load_dataset  # noqa: E402
from recsys.datasets.zh_shop import zh_catalog, zh_shop, zh_translations  # noqa: E402
from recsys.evaluation import cold_split, history_of, temporal_split  # noqa: E402
from recsys.text import MINILM, MULTILINGUAL, TextEncoder, item_text  # noqa: E402
from recsys.training import build_bundle  # noqa: E402

MODELS = {"minilm": MINILM, "multilingual": MULTILINGUAL}
LABELS = {
    "minilm": "MiniLM (all-MiniLM-L6-v2)",
    "multilingual": "multilingual (USE-m3)",
    "bigram": "char-bigram TF-IDF (no model)",
}


# ------------------------------------------------------------------------ catalog part
def _texts(
    frame: pl.DataFrame, title: str, category: str, description: str, attributes: bool = True
) -> list[str]:
    """The text the engine embeds; ``attributes=False`` for the English side of a pair (the
    catalog's attributes are Chinese: they would leak the answer into an English query)."""
    return [
        item_text(t, c, d, a if attributes else None)
        for t, c, d, a in frame.select(title, category, description, "attributes").iter_rows()
    ]


def _bigram_vectors(texts: list[str]) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer(analyzer="char", ngram_range=(1, 2)).fit_transform(texts)
    dense = matrix.toarray().astype(np.float32)
    return dense / np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)


def _vectors(model: str, texts: list[str]) -> np.ndarray:
    if model == "bigram":
        return _bigram_vectors(texts)
    return TextEncoder(TextConfig(model=model)).encode(texts)


def precision_at_10(vectors: np.ndarray, categories: list[str]) -> dict[str, float]:
    """Mean share of each item's 10 nearest other items in its category, with a 95% CI."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    cats = np.asarray(categories)
    top = np.argsort(-sims, axis=1, kind="stable")[:, :10]
    per_item = (cats[top] == cats[:, None]).mean(axis=1)
    return _mean_ci(per_item)


def pair_top3(queries: np.ndarray, targets: np.ndarray, partner: np.ndarray) -> dict[str, float]:
    """Share of queries whose partner (an index into ``targets``) is among the 3 nearest."""
    sims = queries @ targets.T
    top = np.argsort(-sims, axis=1, kind="stable")[:, :3]
    hits = (top == partner[:, None]).any(axis=1).astype(float)
    return _mean_ci(hits)


def _mean_ci(values: np.ndarray) -> dict[str, float]:
    n = len(values)
    sd = float(values.std(ddof=1)) if n > 1 else 0.0
    return {"mean": round(float(values.mean()), 4), "ci95": round(1.96 * sd / n**0.5, 4), "n": n}


def catalog_part(models: list[str]) -> dict[str, Any]:
    catalog = zh_catalog(seed=7)
    trans = zh_translations(seed=7).join(catalog, on="item_id", how="left")
    full = _texts(catalog, "title", "category", "description")
    titles = catalog["title"].to_list()
    en_full = _texts(trans, "title_en", "category_en", "description_en", attributes=False)
    zh_of_trans = _texts(trans, "title", "category", "description")
    ids = catalog["item_id"].to_list()
    partner = np.asarray([ids.index(i) for i in trans["item_id"].to_list()])
    cats = catalog["category"].to_list()
    out: dict[str, Any] = {
        "products": catalog.height,
        "categories": catalog["category"].n_unique(),
        "translated": trans.height,
        "rows": {},
    }
    for model in [*models, "bigram"]:
        # the TF-IDF baseline is fitted on all texts together (one vocabulary)
        if model == "bigram":
            both = _bigram_vectors(full + en_full + zh_of_trans)
            zh_vec = both[: len(full)]
            en_vec = both[len(full) : len(full) + len(en_full)]
            zh_trans_vec = both[len(full) + len(en_full) :]
            title_vec = _bigram_vectors(titles)
        else:
            zh_vec = _vectors(model, full)
            en_vec = _vectors(model, en_full)
            zh_trans_vec = _vectors(model, zh_of_trans)
            title_vec = _vectors(model, titles)
        out["rows"][model] = {
            "precision@10 (embedded text)": precision_at_10(zh_vec, cats),
            "precision@10 (title only)": precision_at_10(title_vec, cats),
            "English → its Chinese partner in top 3": pair_top3(en_vec, zh_vec, partner),
            "Chinese → its English partner in top 3": pair_top3(
                zh_trans_vec, en_vec, np.arange(len(en_full))
            ),
        }
        print(f"[catalog] {LABELS[model]:32s} {out['rows'][model]}", flush=True)
    return out


# --------------------------------------------------------------------------- cold part
def _ours(
    train: pl.DataFrame,
    test: pl.DataFrame,
    catalog: pl.DataFrame,
    allowed: set[str] | None,
    config: TrainConfig,
) -> dict[str, Any]:
    """Hybrid and text-only rows of one text model on one split (recall.py's machinery)."""
    item_ids = catalog["item_id"].to_list()
    split = make_split(train, test, item_ids, allowed, exclude_seen=True)
    ranker = Ranker(split)
    counts = np.asarray(split.binary.sum(axis=0)).ravel()
    popularity = dict(zip(split.items.ids(), counts.tolist(), strict=True))
    t = time.perf_counter()
    bundle, _ = build_bundle(train, catalog, config)
    train_s = time.perf_counter() - t
    ours = OurModels(bundle, split, history_of(train), ranker, train)
    rng = np.random.default_rng(SEED)
    rows = {
        "random (for scale)": metrics_of(
            ranker.lists(rng.random(split.binary.shape)), split, popularity
        ),
        "hybrid, default config": metrics_of(ours.hybrid(config), split, popularity),
        "text only": metrics_of(ours.text(), split, popularity),
    }
    return {
        "model": bundle.config.text.model,
        "text_model": bundle.manifest.get("text_model"),
        "users": len(split.truth),
        "train_s": round(train_s, 1),
        "rows": rows,
    }


def _config(model: str) -> TrainConfig:
    base = TrainConfig()
    return replace(base, text=replace(base.text, model=model))


def cold_part(models: list[str]) -> dict[str, Any]:
    events, catalog = zh_shop(seed=7)
    new = catalog.filter(pl.col("updated_at") > events["ts"].min())
    split_ts = float(new["updated_at"].min())
    train = events.filter(pl.col("ts") < split_ts)
    seen = set(train["item_id"].unique().to_list())
    later = events.filter(pl.col("ts") >= split_ts)
    cold = set(later["item_id"].unique().to_list()) - seen
    test = later.filter(pl.col("item_id").is_in(sorted(cold)))
    out: dict[str, Any] = {
        "split_at": split_ts,
        "train_events": train.height,
        "test_events": test.height,
        "cold_items": len(cold),
        "models": {},
    }
    for model in [*models, "auto"]:
        res = _ours(train, test, catalog, cold, _config(model))
        out["models"][model] = res
        _print("cold zh-shop", model, res)
    return out


def _print(part: str, model: str, res: dict[str, Any]) -> None:
    for label, r in res["rows"].items():
        print(
            f"[{part}] {model:12s} ({res['model']}) {label:24s} recall@20 "
            f"{r['recall@20']['mean']:.4f} ± {r['recall@20']['ci95']:.4f}  users {res['users']}",
            flush=True,
        )


# ------------------------------------------------------------------------- ML-100K part
def throughput(models: list[str], repeats: int = 3) -> dict[str, Any]:
    """Items/s of each model on two catalogs' texts (nothing cached), median of ``repeats``."""
    _, ml = load_dataset("ml-100k")
    texts = {
        "ml-100k (1,682 English titles)": _texts(ml, "title", "category", "description"),
        "zh catalog (360 Chinese products)": _texts(
            zh_catalog(seed=7), "title", "category", "description"
        ),
    }
    out: dict[str, Any] = {}
    for model in models:
        encoder = TextEncoder(TextConfig(model=model))
        encoder.encode(["warm up"])
        for name, batch in texts.items():
            rates = []
            for _ in range(repeats):
                t = time.perf_counter()
                encoder.encode(batch)
                rates.append(len(batch) / (time.perf_counter() - t))
            out.setdefault(model, {})[name] = round(statistics.median(rates), 1)
            print(f"[throughput] {model:12s} {name:34s} {out[model][name]:8.1f} items/s")
    return out


def ml100k_part(models: list[str]) -> dict[str, Any]:
    events, catalog = load_dataset("ml-100k")
    protocols: dict[str, tuple[pl.DataFrame, pl.DataFrame, set[str] | None]] = {}
    train, test = temporal_split(events)
    protocols["warm temporal"] = (train, test, None)
    ctrain, ctest, cold = cold_split(events)
    protocols["cold items"] = (ctrain, ctest, cold)
    out: dict[str, Any] = {"protocols": {}, "throughput": throughput(models)}
    for name, (tr, te, allowed) in protocols.items():
        out["protocols"][name] = {}
        for model in [*models, "auto"]:
            res = _ours(tr, te, catalog, allowed, _config(model))
            out["protocols"][name][model] = res
            _print(f"ml-100k {name}", model, res)
    return out


# ------------------------------------------------------------------------------ report
def _cell(r: dict[str, Any]) -> str:
    return f"{r['mean']:.3f} ± {r['ci95']:.3f}"


def markdown(out: dict[str, Any]) -> str:
    lines = [
        "# Text models: MiniLM vs multilingual (issue 23)",
        "",
        f"{out['machine']['platform']}, {out['machine']['cpus']} CPUs, "
        f"wall {out['wall_s']} s. `python benchmarks/multilingual.py`",
        "",
    ]
    if "catalog" in out["parts"]:
        c = out["parts"]["catalog"]
        lines += [
            f"## Bilingual catalog (synthetic: {c['products']} Chinese products, "
            f"{c['categories']} categories, {c['translated']} translated)",
            "",
        ]
        metrics = list(next(iter(c["rows"].values())))
        lines += ["| text model | " + " | ".join(metrics) + " |"]
        lines += ["|---|" + "---|" * len(metrics)]
        for model, row in c["rows"].items():
            cells = " | ".join(_cell(row[m]) for m in metrics)
            lines.append(f"| {LABELS[model]} | {cells} |")
        lines.append("")
    for part, title in (("cold", "zh-shop cold items (synthetic shoppers)"),):
        if part not in out["parts"]:
            continue
        p = out["parts"][part]
        lines += [
            f"## {title}",
            "",
            f"Split at the first launch: {p['train_events']:,} training events, "
            f"{p['test_events']:,} test events on {p['cold_items']} cold items "
            "(only cold items are candidates).",
            "",
            "| `[text] model` | model used | users | row | recall@20 | NDCG@20 |",
            "|---|---|---|---|---|---|",
        ]
        for model, res in p["models"].items():
            for label, r in res["rows"].items():
                lines.append(
                    f"| {model} | {res['model']} | {res['users']} | {label} | "
                    f"{_cell(r['recall@20'])} | {_cell(r['ndcg@20'])} |"
                )
        lines.append("")
    if "ml100k" in out["parts"]:
        p = out["parts"]["ml100k"]
        lines += ["## MovieLens-100K (English)", ""]
        lines += ["| protocol | `[text] model` | model used | row | recall@20 | NDCG@20 |"]
        lines += ["|---|---|---|---|---|---|"]
        for proto, by_model in p["protocols"].items():
            for model, res in by_model.items():
                for label, r in res["rows"].items():
                    lines.append(
                        f"| {proto} | {model} | {res['model']} | {label} | "
                        f"{_cell(r['recall@20'])} | {_cell(r['ndcg@20'])} |"
                    )
        lines += ["", "Embedding throughput (items/s, nothing cached, median of 3):", ""]
        names = list(next(iter(p["throughput"].values())))
        lines += ["| model | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for model, row in p["throughput"].items():
            lines.append(
                f"| {LABELS[model]} | " + " | ".join(f"{row[n]:,.0f}" for n in names) + " |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="catalog,cold,ml100k")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - {"catalog", "cold", "ml100k"}
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}")
    started = time.perf_counter()
    models = list(MODELS)
    out: dict[str, Any] = {
        "seed": SEED,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        },
        "parts": {},
    }
    runners = {"catalog": catalog_part, "cold": cold_part, "ml100k": ml100k_part}
    for part in parts:
        out["parts"][part] = runners[part](models)
    out["wall_s"] = round(time.perf_counter() - started, 1)
    out["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / "multilingual"
    stem.with_suffix(".json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    md = markdown(out)
    stem.with_suffix(".md").write_text(md, encoding="utf-8")
    print(md)
    print(f"wrote {stem}.json/.md in {out['wall_s']} s")
    return out


if __name__ == "__main__":
    main()
