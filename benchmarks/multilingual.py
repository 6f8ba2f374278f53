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
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "benchmarks") not in sys.path:  # also when imported by path (the smoke test)
    sys.path.insert(0, str(ROOT / "benchmarks"))

from recall import (  # noqa: E402
    SEED,
    OurModels,
    Ranker,
    make_split,
    metrics_of,
)

from recsys.config import TextConfig, TrainConfig  # noqa: E402
from recsys.datasets import load_dataset  # noqa: E402
from recsys.datasets.zh_shop import START_TS, zh_catalog, zh_shop, zh_translations  # noqa: E402
from recsys.evaluation import cold_split, history_of, temporal_split  # noqa: E402
from recsys.text import MINILM, MULTILINGUAL, TextEncoder, item_text  # noqa: E402
from recsys.training import build_bundle  # noqa: E402

MODELS = {"minilm": MINILM, "multilingual": MULTILINGUAL}
LABELS = {
    "minilm": "MiniLM (all-MiniLM-L6-v2)",
    "multilingual": "multilingual (USE-m3)",
    "bigram": "char 1-2-gram TF-IDF (no model)",
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


def _bigram_vectors(texts: list[str], fit_on: list[str] | None = None) -> np.ndarray:
    """Character 1-2-gram TF-IDF, unit rows (fitted on the distinct texts of ``fit_on``)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2))
    vectorizer.fit(sorted(set(fit_on if fit_on is not None else texts)))
    dense = vectorizer.transform(texts).toarray().astype(np.float32)
    return dense / np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)


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
    """Same-category neighbours and translation partners on the bilingual catalog.

    The category name and the product noun are left out of the same-category probes (the text
    the engine embeds says ``Category: 运动鞋``: any method would find the category in it).
    """
    catalog = zh_catalog(seed=7)
    trans = zh_translations(seed=7).join(catalog, on="item_id", how="left")
    kinds = [json.loads(a)["product_type"] for a in catalog["attributes"].to_list()]
    titles = catalog["title"].to_list()
    probes = {
        "title + description": [
            item_text(t, "", d) for t, d in catalog.select("title", "description").iter_rows()
        ],
        "title": titles,
        "title without the product noun": [
            t.replace(k, "") for t, k in zip(titles, kinds, strict=True)
        ],
    }
    # translation pairs: the text the engine embeds, minus the (Chinese) attributes
    en = _texts(trans, "title_en", "category_en", "description_en", attributes=False)
    zh_all = _texts(catalog, "title", "category", "description", attributes=False)
    zh_trans = _texts(trans, "title", "category", "description", attributes=False)
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

        def encode(texts: list[str], fit: list[str] | None = None, model: str = model) -> Any:
            if model == "bigram":
                return _bigram_vectors(texts, fit)
            return TextEncoder(TextConfig(model=model)).encode(texts)

        row = {
            f"precision@10 ({name})": precision_at_10(encode(texts), cats)
            for name, texts in probes.items()
        }
        vocabulary = en + zh_all  # TF-IDF: one vocabulary for both sides
        en_vec, zh_vec = encode(en, vocabulary), encode(zh_all, vocabulary)
        row["English → its Chinese partner in top 3"] = pair_top3(en_vec, zh_vec, partner)
        row["Chinese → its English partner in top 3"] = pair_top3(
            encode(zh_trans, vocabulary), en_vec, np.arange(len(en))
        )
        out["rows"][model] = row
        print(f"[catalog] {LABELS[model]:34s} {row}", flush=True)
    return out


# --------------------------------------------------------------------------- cold part
def _category_scores(split: Any, train: pl.DataFrame, catalog: pl.DataFrame) -> np.ndarray:
    """Each user's share of training events in each item's category (a text-free baseline)."""
    category = dict(catalog.select("item_id", "category").iter_rows())
    names = sorted(set(category.values()))
    col = {c: k for k, c in enumerate(names)}
    counts = np.zeros((len(split.users), len(names)))
    for user, item in train.select("user_id", "item_id").iter_rows():
        counts[split.users.index(user), col[category[item]]] += 1.0
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    item_col = np.asarray([col.get(category.get(i, ""), -1) for i in split.items.ids()])
    scores = np.where(item_col >= 0, shares[:, np.maximum(item_col, 0)], 0.0)
    return scores


def _ours(
    train: pl.DataFrame,
    test: pl.DataFrame,
    catalog: pl.DataFrame,
    allowed: set[str] | None,
    config: TrainConfig,
    baselines: bool = False,
) -> dict[str, Any]:
    """Hybrid and text-only rows of one text model on one split (recall.py's machinery).

    With ``baselines``: also random, the user's category shares, and the same text profile
    over character 1-2-gram TF-IDF vectors instead of the model's (what string overlap gets).
    """
    item_ids = catalog["item_id"].to_list()
    split = make_split(train, test, item_ids, allowed, exclude_seen=True)
    ranker = Ranker(split)
    counts = np.asarray(split.binary.sum(axis=0)).ravel()
    popularity = dict(zip(split.items.ids(), counts.tolist(), strict=True))
    t = time.perf_counter()
    bundle, _ = build_bundle(train, catalog, config)
    train_s = time.perf_counter() - t
    ours = OurModels(bundle, split, history_of(train), ranker, train)
    rows: dict[str, Any] = {}
    if baselines:
        rng = np.random.default_rng(SEED)
        rows["random"] = metrics_of(ranker.lists(rng.random(split.binary.shape)), split, popularity)
        rows["category shares (no text)"] = metrics_of(
            ranker.lists(_category_scores(split, train, catalog)), split, popularity
        )
    rows["hybrid, default config"] = metrics_of(ours.hybrid(config), split, popularity)
    rows["text only"] = metrics_of(ours.text(), split, popularity)
    if baselines and bundle.text_vectors is not None:
        embedded = dict(
            zip(item_ids, _texts(catalog, "title", "category", "description"), strict=True)
        )
        texts = [embedded.get(i, "") for i in bundle.items.ids()]
        saved = bundle.text_vectors
        bundle.text_vectors = _bigram_vectors(texts)
        rows["text only, char 1-2-gram TF-IDF instead"] = metrics_of(ours.text(), split, popularity)
        bundle.text_vectors = saved
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


COLD_USERS = 5_000  # simulated shoppers in the cold part (1,500 in the demo)


def cold_part(models: list[str], shoppers: int = COLD_USERS) -> dict[str, Any]:
    """Cold items on zh-shop: the products launched inside the period are the only candidates."""
    events, catalog = zh_shop(seed=7, n_users=shoppers)
    new = catalog.filter(pl.col("updated_at") >= START_TS)  # launched inside the period
    split_ts = float(new["updated_at"].min())
    train = events.filter(pl.col("ts") < split_ts)
    test = events.filter((pl.col("ts") >= split_ts) & pl.col("item_id").is_in(new["item_id"]))
    cold = set(new["item_id"].to_list())
    assert not cold & set(train["item_id"].unique().to_list()), "a new item has a training event"
    out: dict[str, Any] = {
        "shoppers": shoppers,
        "split_at": split_ts,
        "train_events": train.height,
        "test_events": test.height,
        "cold_items": len(cold),
        "models": {},
    }
    for k, model in enumerate([*models, "auto"]):
        res = _ours(train, test, catalog, cold, _config(model), baselines=k == 0)
        out["models"][model] = res
        _print("cold zh-shop", model, res)
    return out


def _print(part: str, model: str, res: dict[str, Any]) -> None:
    for label, r in res["rows"].items():
        print(
            f"[{part}] {model:12s} ({res['model']}) {label:40s} recall@10 "
            f"{r['recall@10']['mean']:.4f}  recall@20 {r['recall@20']['mean']:.4f} ± "
            f"{r['recall@20']['ci95']:.4f}  users {res['users']}",
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
            f"{p['shoppers']:,} simulated shoppers. Split at the first launch of a new product: "
            f"{p['train_events']:,} training events, {p['test_events']:,} test events on the "
            f"{p['cold_items']} products launched after it (the only candidates).",
            "",
            "| `[text] model` | model used | users | row | recall@10 | recall@20 | NDCG@20 |",
            "|---|---|---|---|---|---|---|",
        ]
        for model, res in p["models"].items():
            for label, r in res["rows"].items():
                lines.append(
                    f"| {model} | {res['model']} | {res['users']} | {label} | "
                    f"{_cell(r['recall@10'])} | {_cell(r['recall@20'])} | {_cell(r['ndcg@20'])} |"
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
    parser.add_argument(
        "--cold-shoppers", type=int, default=COLD_USERS, help="simulated shoppers (cold part)"
    )
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
    for part in parts:
        if part == "catalog":
            out["parts"][part] = catalog_part(models)
        elif part == "cold":
            out["parts"][part] = cold_part(models, args.cold_shoppers)
        else:
            out["parts"][part] = ml100k_part(models)
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
